//! `train`: fit a behavior model on a log and save it as GGUF.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::input::InputArgs;
use super::CliResult;
use behavior_lens::behavior::{Progress, TrainOptions, VocabOptions};
use behavior_lens::model::WeightFormat;
use behavior_lens::pipeline;
use clap::Args;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output path of the model (GGUF).
    #[arg(long)]
    pub out: PathBuf,
    /// Transformer blocks (default: sized from the log).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Hidden width (default: sized from the log).
    #[arg(long)]
    pub width: Option<usize>,
    /// Attention heads; must divide the width.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Context length in tokens (default: sized from the log).
    #[arg(long)]
    pub context: Option<usize>,
    /// Maximum passes over the training users. Early stopping may end training sooner.
    #[arg(long, default_value_t = 6)]
    pub epochs: usize,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Weight format of the saved file: q8_0 or f32 (also f16, q4_0, q4k).
    #[arg(long, default_value = "q8_0")]
    pub dtype: String,
    /// Items need this many training events for a token of their own.
    #[arg(long, default_value_t = 2)]
    pub min_item_count: usize,
    /// Largest number of item tokens.
    #[arg(long, default_value_t = 4000)]
    pub max_items: usize,
    /// Train on every event instead of only those before the evaluation
    /// cut-off.
    #[arg(long)]
    pub all_events: bool,
    /// Train fewer epochs on large logs: about this many tokens in all.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_tokens: usize,
    /// Refuse to train a configuration estimated to need more memory, in MB.
    #[arg(long, default_value_t = 1024)]
    pub max_memory_mb: u64,
}

pub fn run(args: TrainArgs) -> CliResult {
    let format: WeightFormat = args.dtype.parse()?;
    if !(1..=1000).contains(&args.epochs) {
        return Err(format!("--epochs {}: expected 1 to 1000", args.epochs).into());
    }
    if args.min_item_count == 0 || args.max_tokens == 0 {
        return Err("--min-item-count and --max-tokens must be at least 1".into());
    }
    super::input::reject_overwrite(&args.input.file, &args.out)?;
    let bytes = args.input.read_bytes()?;
    let name = args.input.display_name();
    let mut resolved = args.input.options(None).resolve()?;
    let parsed = pipeline::parse(&name, &bytes, &resolved, &mut |_, _| {})?;
    resolved.train = TrainOptions {
        layers: args.layers,
        width: args.width,
        heads: args.heads,
        context: args.context,
        epochs: args.epochs,
        patience: args.patience,
        learning_rate: args.learning_rate,
        seed: args.seed,
        vocab: VocabOptions {
            min_item_count: args.min_item_count,
            max_items: args.max_items,
            ..VocabOptions::default()
        },
        max_memory_bytes: args.max_memory_mb << 20,
        max_training_tokens: args.max_tokens,
        ..TrainOptions::default()
    };
    let terminal = std::io::stderr().is_terminal();
    let mut last_line = 0.0f64;
    let model = pipeline::train_model(&parsed, &resolved, args.all_events, &mut |progress| {
        show_progress(progress, terminal, &mut last_line)
    })?;
    if terminal {
        eprintln!();
    }
    let file = model.to_gguf(format)?;
    if format != WeightFormat::F32 && model.gpt2().config().n_embd % 256 != 0 && format == WeightFormat::Q4K {
        eprintln!("note: q4k needs rows of 256 values; layers narrower than that stay f32");
    }
    std::fs::write(&args.out, &file)
        .map_err(|error| format!("cannot write {}: {error}", args.out.display()))?;
    let report = model.report();
    eprintln!(
        "wrote {} ({} bytes, {format}): {} parameters, {} tokens in the vocabulary ({} items, \
         coverage {:.1}%), {} epochs, stopped: {}",
        args.out.display(),
        file.len(),
        report.parameters,
        report.vocab_size,
        report.item_tokens,
        report.coverage * 100.0,
        report.epochs,
        report.stopped.map_or("-".to_string(), |stopped| {
            serde_json::to_string(&stopped)
                .unwrap_or_default()
                .trim_matches('"')
                .replace('_', " ")
        }),
    );
    if let Some(perplexity) = &report.perplexity {
        eprintln!(
            "validation perplexity: model {:.2}, bigram {:.2}, unigram {:.2}; {:.0} tokens/s, {:.1} s",
            perplexity.model,
            perplexity.bigram,
            perplexity.unigram,
            report.tokens_per_second,
            report.seconds
        );
    }
    match &report.trained_before {
        Some(held_out) => eprintln!("held out for evaluation: events from {held_out} on"),
        None => eprintln!("trained on every event"),
    }
    Ok(())
}

/// Prints a one-line progress bar on a terminal, else a line per epoch.
fn show_progress(progress: &Progress, terminal: bool, last_line: &mut f64) {
    let share = progress.step as f64 / progress.steps.max(1) as f64;
    let validation = progress
        .validation_loss
        .map_or(String::new(), |loss| format!(", validation {loss:.3}"));
    let text = format!(
        "epoch {}/{} step {}/{} loss {:.3}{validation}, {:.0} tokens/s",
        progress.epoch, progress.epochs, progress.step, progress.steps, progress.loss, progress.tokens_per_second
    );
    if terminal {
        let filled = (share * 30.0).round() as usize;
        eprint!("\r[{}{}] {text}   ", "#".repeat(filled.min(30)), "-".repeat(30 - filled.min(30)));
        let _ = std::io::stderr().flush();
    } else if progress.validation_loss.is_some() || progress.done {
        let now = progress.step as f64;
        if now > *last_line {
            eprintln!("{text}");
            *last_line = now;
        }
    }
}
