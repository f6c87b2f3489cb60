//! GPT-2 language model on candle: the transformer, GGUF storage with
//! quantized weights, and the byte-level BPE tokenizer.
//!
//! Everything here builds for the host and for `wasm32-unknown-unknown`, so
//! model loading takes byte slices or readers rather than file paths (the
//! native-only helpers that read files are marked as such).

pub mod gguf;
pub mod gpt2;
pub mod tokenizer;

pub use gguf::{GgufModel, LoadLimits, TokenizerStorage, WeightFormat, WriteReport};
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
