//! `lm`: run a GPT-2 model on one input and print the final hidden state and
//! next-token logits at its last position.

use std::path::PathBuf;

use behavior_lens::model::tokenizer::GPT2_END_OF_TEXT;
use behavior_lens::model::{load_model_path, LoadLimits, TextTokenizer};
use candle_core::Device;
use clap::Args;

/// Vocabulary size of GPT-2's byte-level BPE, used to pick the bundled
/// tokenizer for models that ship without one.
const GPT2_VOCAB_SIZE: usize = GPT2_END_OF_TEXT as usize + 1;

/// Number of most likely next tokens printed without `--json`.
const TOP_TOKENS: usize = 5;

#[derive(Args)]
pub struct LmArgs {
    /// Model: a Hugging Face folder (config.json, model.safetensors and
    /// optionally tokenizer.json) or a GGUF file.
    #[arg(long)]
    pub model: PathBuf,
    /// tokenizer.json to use instead of the tokenizer stored with the model.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Text to tokenize (no special tokens are added).
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    pub text: Option<String>,
    /// Comma-separated token ids, for example 1,2,3.
    #[arg(long, value_delimiter = ',')]
    pub ids: Option<Vec<u32>>,
    /// Print {"ids", "hidden_last", "logits_last"} as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Refuse to load a model whose weights need more memory than this, in MiB.
    #[arg(long)]
    pub max_memory_mib: Option<u64>,
}

#[derive(serde::Serialize)]
struct LmOutput<'a> {
    ids: &'a [u32],
    hidden_last: Vec<f32>,
    logits_last: Vec<f32>,
}

pub fn run(args: LmArgs) -> Result<(), Box<dyn std::error::Error>> {
    let limits = match args.max_memory_mib {
        Some(mib) => LoadLimits::max_bytes(mib.saturating_mul(1024 * 1024)),
        None => LoadLimits::unlimited(),
    };
    let device = Device::Cpu;
    let (model, stored_tokenizer) = load_model_path(&args.model, &device, &limits)?;
    let tokenizer = match &args.tokenizer {
        Some(path) => Some(TextTokenizer::from_file(path)?),
        None => stored_tokenizer,
    };

    let ids = match (&args.ids, &args.text) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => {
            let tokenizer = match &tokenizer {
                Some(tokenizer) => tokenizer.clone(),
                None if model.config().vocab_size == GPT2_VOCAB_SIZE => {
                    log::info!(
                        "{} has no tokenizer; using the bundled GPT-2 tokenizer",
                        args.model.display()
                    );
                    TextTokenizer::gpt2()?
                }
                None => {
                    return Err(format!(
                        "{} has no tokenizer; pass --tokenizer PATH or give token ids with --ids",
                        args.model.display()
                    )
                    .into())
                }
            };
            tokenizer.encode(text)?
        }
        (None, None) => return Err("give the input with --text or --ids".into()),
    };
    if ids.is_empty() {
        return Err("the input has no tokens; give a non-empty --text or --ids".into());
    }

    let input = candle_core::Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?;
    let hidden = model.hidden_states(&input, None)?;
    let hidden_last = hidden.narrow(1, ids.len() - 1, 1)?;
    let logits_last: Vec<f32> = model.logits(&hidden_last)?.flatten_all()?.to_vec1()?;
    let hidden_last: Vec<f32> = hidden_last.flatten_all()?.to_vec1()?;

    if args.json {
        let output = LmOutput {
            ids: &ids,
            hidden_last,
            logits_last,
        };
        println!("{}", serde_json::to_string(&output)?);
        return Ok(());
    }

    println!("model       {}", args.model.display());
    println!("tokens      {} {:?}", ids.len(), ids);
    let mut ranked: Vec<(usize, f32)> = logits_last.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("next token  top {TOP_TOKENS} by logit:");
    for (id, logit) in ranked.into_iter().take(TOP_TOKENS) {
        let text = match &tokenizer {
            Some(tokenizer) => format!("{:?}", tokenizer.decode(&[id as u32])?),
            None => String::new(),
        };
        println!("  {id:>8}  {logit:>10.4}  {text}");
    }
    Ok(())
}
