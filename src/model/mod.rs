//! GPT-2 language model on candle: the transformer, GGUF storage with
//! quantized weights, and the byte-level BPE tokenizer.
//!
//! Everything here builds for the host and for `wasm32-unknown-unknown`, so
//! model loading takes byte slices or readers rather than file paths (the
//! native-only helpers that read files are marked as such).

pub mod bench;
pub mod gemm;
pub mod gguf;
pub mod gpt2;
pub mod ops;
pub mod tokenizer;

pub use gguf::{
    GgufModel, GgufWriteOptions, LoadLimits, TokenizerStorage, WeightFormat, WriteReport,
};
pub use gpt2::{Activation, Config, ContinuationScore, Gpt2Model, KvCache, Linear, Pooling};
pub use tokenizer::TextTokenizer;

/// Errors from loading, converting and running GPT-2 models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid model config: {0}")]
    InvalidConfig(String),

    #[error("failed to parse model config JSON: {0}; expected a Hugging Face GPT-2 config.json")]
    ConfigJson(#[from] serde_json::Error),

    #[error("invalid model input: {0}")]
    InvalidInput(String),

    #[error("invalid or unsupported model weights: {0}")]
    InvalidWeights(String),

    #[error("invalid GGUF file: {0}")]
    InvalidGguf(String),

    #[error(
        "model needs an estimated {required_bytes} bytes of memory but the limit is \
         {limit_bytes} bytes; use a smaller or more strongly quantized model, or raise the limit"
    )]
    MemoryLimitExceeded {
        required_bytes: u64,
        limit_bytes: u64,
    },

    #[error("tokenizer error: {0}")]
    Tokenizer(String),

    #[error("failed to access {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result type of the model module.
pub type Result<T> = std::result::Result<T, Error>;

/// First four bytes of every GGUF file.
#[cfg(not(target_arch = "wasm32"))]
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Loads a model from a path: a GGUF file, or a Hugging Face folder with
/// `config.json`, `model.safetensors` and optionally `tokenizer.json`.
/// Returns the model and the tokenizer stored with it, if any.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_model_path(
    path: &std::path::Path,
    device: &candle_core::Device,
    limits: &LoadLimits,
) -> Result<(Gpt2Model, Option<TextTokenizer>)> {
    if path.is_dir() {
        let model = Gpt2Model::from_hf_dir(path, device, limits)?;
        let tokenizer_path = path.join("tokenizer.json");
        let tokenizer = if tokenizer_path.is_file() {
            Some(TextTokenizer::from_file(&tokenizer_path)?)
        } else {
            None
        };
        return Ok((model, tokenizer));
    }
    if !is_gguf_file(path)? {
        return Err(Error::InvalidInput(format!(
            "{} is neither a folder with config.json and model.safetensors nor a GGUF file",
            path.display()
        )));
    }
    let loaded = GgufModel::from_path(path, device, limits)?;
    Ok((loaded.model, loaded.tokenizer))
}

/// Returns whether the file at `path` starts with the GGUF magic bytes.
#[cfg(not(target_arch = "wasm32"))]
pub fn is_gguf_file(path: &std::path::Path) -> Result<bool> {
    use std::io::Read;
    let io_error = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == GGUF_MAGIC),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(io_error(error)),
    }
}
