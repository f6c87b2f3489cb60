//! `analyze`: the full report, written as `report.json` into a folder.

use super::input::InputArgs;
use super::CliResult;
use behavior_lens::pipeline;
use behavior_lens::report::tables;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Folder for report.json and the CSV tables (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Language of behavior sentences: zh or en.
    #[arg(long, default_value = "zh")]
    pub lang: String,
}

pub fn run(args: AnalyzeArgs) -> CliResult {
    let bytes = args.input.read_bytes()?;
    let name = args.input.display_name();
    let options = args.input.options(Some(&args.lang));
    let report = pipeline::analyze(&name, &bytes, &options, &mut |step, share| {
        log::debug!("{step}: {:.0}%", share * 100.0);
    })?;
    std::fs::create_dir_all(&args.out)
        .map_err(|error| format!("cannot create {}: {error}", args.out.display()))?;
    let path = args.out.join("report.json");
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, json)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    for (name, contents) in tables::csv_tables(&report) {
        let table_path = args.out.join(name);
        std::fs::write(&table_path, contents)
            .map_err(|error| format!("cannot write {}: {error}", table_path.display()))?;
    }
    eprintln!(
        "wrote {} ({} events, {} users)",
        path.display(),
        report.summary.events,
        report.summary.users
    );
    Ok(())
}
