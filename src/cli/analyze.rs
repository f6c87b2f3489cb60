//! `analyze`: the full report, written as `report.json` and CSV tables into
//! a folder.

use super::input::InputArgs;
use super::CliResult;
use behavior_lens::analysis::text::TextModel;
use behavior_lens::model::LoadLimits;
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
    /// A behavior model saved by `train` (GGUF). Without it, a model is
    /// trained on the log first.
    #[arg(long, conflicts_with = "no_model")]
    pub model: Option<PathBuf>,
    /// Leave out the behavior model and the sections that need it.
    #[arg(long)]
    pub no_model: bool,
    /// Most training epochs when training here.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of the training run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Items recommended per user.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Recommend items a user already bought (default: detected from the log).
    #[arg(long)]
    pub repeat_purchases: Option<bool>,
    /// Number of customer segments (default: chosen by silhouette).
    #[arg(long)]
    pub segments: Option<usize>,
    /// A text GPT-2 (GGUF, or a Hugging Face folder) that reads each user's
    /// behavior sentence: user similarity, segments and next-step odds.
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Most active users the text model reads (default: 200, or 50 for a
    /// model of more than 20 million parameters).
    #[arg(long, requires = "text_model")]
    pub text_users: Option<usize>,
    /// Language of the text model's sentences: zh, en or auto (detected
    /// from its tokenizer).
    #[arg(long, default_value = "auto", requires = "text_model")]
    pub text_lang: String,
}

/// Largest text model loaded, in bytes after loading: GPT-2 medium in f32
/// fits.
const TEXT_MODEL_MEMORY_LIMIT: u64 = 4 << 30;

pub fn run(args: AnalyzeArgs) -> CliResult {
    let outputs = [
        "report.json",
        "funnel.csv",
        "cohorts.csv",
        "rfm.csv",
        "segments.csv",
        "recommendations.csv",
        "next-steps.csv",
    ];
    for name in outputs {
        super::input::reject_overwrite(&args.input.file, &args.out.join(name))?;
    }
    if args.model.is_some() && (args.epochs.is_some() || args.seed.is_some()) {
        eprintln!("note: --epochs and --seed apply to training, and --model skips training");
    }
    let bytes = args.input.read_bytes()?;
    let name = args.input.display_name();
    let mut options = args.input.options(Some(&args.lang));
    options.skip_model = args.no_model;
    options.epochs = args.epochs;
    options.seed = args.seed;
    options.recommendations = Some(args.k);
    options.repeat_purchases = args.repeat_purchases;
    options.segments = args.segments;
    options.text_users = args.text_users;
    options.text_lang = Some(args.text_lang.clone());
    let resolved = options.resolve()?;
    let text = match &args.text_model {
        Some(path) => Some(TextModel::from_path(
            path,
            &LoadLimits::max_bytes(TEXT_MODEL_MEMORY_LIMIT),
            resolved.text_lang,
        )?),
        None => None,
    };
    let model = match &args.model {
        Some(path) => Some(
            std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?,
        ),
        None => None,
    };
    if model.is_none() && !args.no_model {
        eprintln!("no --model given: training a behavior model on {name} first");
    }
    let mut last_train = -1.0;
    let report = pipeline::analyze(&name, &bytes, &options, model.as_deref(), text.as_ref(), &mut |step, share| {
        if step == "train" && share - last_train >= 0.1 {
            eprintln!("training: {:.0}%", share * 100.0);
            last_train = share;
        }
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
    if let Some(note) = &report.model_note {
        eprintln!("{note}");
    }
    if let Some(note) = &report.text_model_note {
        eprintln!("no text model section: {note}");
    }
    Ok(())
}
