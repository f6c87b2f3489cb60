//! `sequences`: behavior sentences, one user or session per line.

use super::input::InputArgs;
use super::CliResult;
use behavior_lens::pipeline;
use behavior_lens::timeline::sentence::{self, Lang, SentenceOptions};
use clap::{Args, ValueEnum};
use std::io::Write;

#[derive(Clone, Copy, ValueEnum)]
pub enum Unit {
    User,
    Session,
}

#[derive(Args)]
pub struct SequencesArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Language of the sentences: zh or en.
    #[arg(long, default_value = "zh")]
    pub lang: String,
    /// One sentence per user or per session.
    #[arg(long, value_enum, default_value = "user")]
    pub by: Unit,
    /// Print at most this many sentences.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Keep only the most recent events of each timeline.
    #[arg(long, default_value_t = 64)]
    pub max_events: usize,
    /// Mark gaps of a minute or more, such as [+2h].
    #[arg(long)]
    pub gaps: bool,
    /// Add each item's category and brand.
    #[arg(long)]
    pub attributes: bool,
}

pub fn run(args: SequencesArgs) -> CliResult {
    let bytes = args.input.read_bytes()?;
    let name = args.input.display_name();
    let resolved = args.input.options(Some(&args.lang)).resolve()?;
    let lang: Lang = resolved.lang;
    let parsed = pipeline::parse(&name, &bytes, &resolved, &mut |_, _| {})?;
    let options = SentenceOptions {
        lang,
        gap_markers: args.gaps,
        attributes: args.attributes,
        max_events: args.max_events.max(1),
    };
    let limit = args.limit.unwrap_or(usize::MAX);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0usize;
    for user in 0..parsed.timelines.users() {
        if printed >= limit {
            break;
        }
        let lines = match args.by {
            Unit::User => vec![sentence::render_user(
                &parsed.log,
                &parsed.timelines,
                user,
                &options,
            )],
            Unit::Session => {
                sentence::render_user_sessions(&parsed.log, &parsed.timelines, user, &options)
            }
        };
        for line in lines.into_iter().take(limit - printed) {
            writeln!(out, "{line}")?;
            printed += 1;
        }
    }
    out.flush()?;
    Ok(())
}
