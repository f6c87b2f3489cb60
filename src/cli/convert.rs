//! `convert`: write a GPT-2 model (Hugging Face folder or GGUF file) as a
//! GGUF file with f32, f16 or quantized linear weights and the tokenizer.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use behavior_lens::model::gguf::{
    gguf_tensors_from_gguf, gguf_tensors_from_safetensors, write_gguf, GgufTensors,
};
use behavior_lens::model::{is_gguf_file, Config, TextTokenizer, TokenizerStorage, WeightFormat};
use candle_core::Device;
use clap::Args;

#[derive(Args)]
pub struct ConvertArgs {
    /// Source model: a Hugging Face folder (config.json, model.safetensors
    /// and optionally tokenizer.json) or a GGUF file.
    #[arg(long)]
    pub from: PathBuf,
    /// GGUF file to write.
    #[arg(long)]
    pub to: PathBuf,
    /// Storage format of the linear weights: f32, f16, q8_0, q4_0 or q4k.
    /// Embeddings, norms and biases stay f32.
    #[arg(long, default_value = "f32")]
    pub dtype: WeightFormat,
    /// tokenizer.json to store instead of the source model's tokenizer.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Also store the complete tokenizer JSON under behavior_lens.tokenizer_json.
    #[arg(long)]
    pub tokenizer_json: bool,
}

fn io_error(path: &Path, error: std::io::Error) -> String {
    format!("failed to access {}: {error}", path.display())
}

fn read_source(
    path: &Path,
    device: &Device,
) -> Result<(Config, Option<TextTokenizer>, GgufTensors), Box<dyn std::error::Error>> {
    if path.is_dir() {
        let config_path = path.join("config.json");
        let config_json =
            std::fs::read_to_string(&config_path).map_err(|e| io_error(&config_path, e))?;
        let config = Config::from_json(&config_json)?;
        let weights_path = path.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|e| io_error(&weights_path, e))?;
        let tensors = gguf_tensors_from_safetensors(&bytes, device)?;
        let tokenizer_path = path.join("tokenizer.json");
        let tokenizer = if tokenizer_path.is_file() {
            Some(TextTokenizer::from_file(&tokenizer_path)?)
        } else {
            None
        };
        return Ok((config, tokenizer, tensors));
    }
    if !is_gguf_file(path)? {
        return Err(format!(
            "{} is neither a folder with config.json and model.safetensors nor a GGUF file",
            path.display()
        )
        .into());
    }
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    Ok(gguf_tensors_from_gguf(&mut BufReader::new(file), device)?)
}

pub fn run(args: ConvertArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::Cpu;
    let (config, source_tokenizer, tensors) = read_source(&args.from, &device)?;
    let tokenizer = match &args.tokenizer {
        Some(path) => Some(TextTokenizer::from_file(path)?),
        None => source_tokenizer,
    };
    let storage = match (&tokenizer, args.tokenizer_json) {
        (None, _) => TokenizerStorage::None,
        (Some(tokenizer), false) => TokenizerStorage::Auto(tokenizer),
        (Some(tokenizer), true) => TokenizerStorage::WithJson(tokenizer),
    };
    if tokenizer.is_none() {
        eprintln!(
            "note: {} has no tokenizer, so none is stored",
            args.from.display()
        );
    }

    let file = File::create(&args.to).map_err(|e| io_error(&args.to, e))?;
    let mut writer = BufWriter::new(file);
    let report = write_gguf(&mut writer, &config, &tensors, args.dtype, storage)?;
    writer.flush().map_err(|e| io_error(&args.to, e))?;
    let size = std::fs::metadata(&args.to)
        .map_err(|e| io_error(&args.to, e))?
        .len();

    println!(
        "wrote {} ({size} bytes): {} tensors, {} linear weights as {}",
        args.to.display(),
        report.tensor_count,
        report.converted.len(),
        args.dtype
    );
    if !report.kept_f32.is_empty() {
        println!(
            "kept {} linear weights in f32 because their rows do not fit {} blocks: {}",
            report.kept_f32.len(),
            args.dtype,
            report.kept_f32.join(", ")
        );
    }
    Ok(())
}
