//! GGUF storage of GPT-2 models with the tensor and metadata names of
//! llama.cpp's GPT-2 converter, so one file contains the weights (optionally
//! quantized), the hyperparameters and the tokenizer.
//!
//! Linear weights are stored in ggml order: candle reads them as
//! `[out, in]`, the transpose of Hugging Face's Conv1D `[in, out]`.

use std::collections::HashMap;
use std::io::{SeekFrom, Cursor, Read, Seek, Write};
use std::str::FromStr;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde_json::json;

use super::gpt2::{
    Activation, BlockWeights, Config, Gpt2Model, LayerNorm, Linear, ModelWeights, TokenEmbedding,
};
use super::tokenizer::TextTokenizer;
use super::{Error, Result};

const ARCHITECTURE: &str = "gpt2";
/// Metadata key holding a complete `tokenizers` JSON document, used for
/// vocabularies that `tokenizer.ggml.*` cannot describe (for example
/// word-level ones) and whenever a caller requests it.
pub const TOKENIZER_JSON_KEY: &str = "behavior_lens.tokenizer_json";

/// Prefix of this product's own metadata keys.
pub const EXTRA_KEY_PREFIX: &str = "behavior_lens.";
/// Metadata key for a feed-forward activation other than GPT-2's `gelu_new`.
pub const ACTIVATION_KEY: &str = "behavior_lens.activation_function";

/// ggml token types, as used in `tokenizer.ggml.token_type`.
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Upper bound on the memory a loaded model may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadLimits {
    /// Maximum estimated resident size of the weights in bytes. `None`
    /// means no limit.
    pub max_bytes: Option<u64>,
}

impl LoadLimits {
    pub const fn unlimited() -> Self {
        Self { max_bytes: None }
    }

    pub const fn max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes: Some(max_bytes),
        }
    }

    /// Raises [`Error::MemoryLimitExceeded`] when `required_bytes` is over the limit.
    pub fn check(&self, required_bytes: u64) -> Result<()> {
        match self.max_bytes {
            Some(limit_bytes) if required_bytes > limit_bytes => Err(Error::MemoryLimitExceeded {
                required_bytes,
                limit_bytes,
            }),
            _ => Ok(()),
        }
    }
}

/// Storage format of the linear-layer weights in a written GGUF file.
/// Norms, biases and position embeddings stay f32, and so do token
/// embeddings of fewer than [`QUANTIZED_EMBEDDING_MIN_ROWS`] rows unless
/// [`GgufWriteOptions::quantize_token_embeddings`] is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4K,
}

impl WeightFormat {
    pub fn ggml_dtype(self) -> GgmlDType {
        match self {
            WeightFormat::F32 => GgmlDType::F32,
            WeightFormat::F16 => GgmlDType::F16,
            WeightFormat::Q8_0 => GgmlDType::Q8_0,
            WeightFormat::Q4_0 => GgmlDType::Q4_0,
            WeightFormat::Q4K => GgmlDType::Q4K,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::Q8_0 => "q8_0",
            WeightFormat::Q4_0 => "q4_0",
            WeightFormat::Q4K => "q4k",
        }
    }
}

impl FromStr for WeightFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "f32" => Ok(WeightFormat::F32),
            "f16" => Ok(WeightFormat::F16),
            "q8_0" => Ok(WeightFormat::Q8_0),
            "q4_0" => Ok(WeightFormat::Q4_0),
            "q4k" | "q4_k" => Ok(WeightFormat::Q4K),
            _ => Err(Error::InvalidInput(format!(
                "unknown weight format {text:?}; use f32, f16, q8_0, q4_0 or q4k"
            ))),
        }
    }
}

impl std::fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tokenizer storage mode of a written GGUF file.
#[derive(Debug, Clone, Copy)]
pub enum TokenizerStorage<'a> {
    /// No tokenizer metadata.
    None,
    /// `tokenizer.ggml.*` with model `gpt2` for a byte-level BPE. Any other
    /// tokenizer is stored with model `none`, its token list, and the full
    /// JSON under [`TOKENIZER_JSON_KEY`].
    Auto(&'a TextTokenizer),
    /// Like `Auto`, and the full JSON under [`TOKENIZER_JSON_KEY`] in every case.
    WithJson(&'a TextTokenizer),
}

/// Summary of a written GGUF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Weights stored in the requested format.
    pub converted: Vec<String>,
    /// Linear weights kept in f32 because their row size is not a multiple
    /// of the format's block size.
    pub kept_f32: Vec<String>,
    pub tensor_count: usize,
}

/// A model loaded from GGUF, with the tokenizer rebuilt from its metadata.
#[derive(Debug, Clone)]
pub struct GgufModel {
    pub model: Gpt2Model,
    pub tokenizer: Option<TextTokenizer>,
    /// String metadata under [`EXTRA_KEY_PREFIX`], except the tokenizer.
    pub extra: HashMap<String, String>,
    /// Storage type of the first linear weight (`f32`, `q8_0`, ...).
    pub weight_type: String,
}

impl GgufModel {
    /// Loads a model from GGUF bytes, for example a browser `ArrayBuffer`
    /// view. Each tensor is copied once, from the slice into its storage.
    pub fn from_bytes(bytes: &[u8], device: &Device, limits: &LoadLimits) -> Result<Self> {
        Self::from_reader(&mut Cursor::new(bytes), device, limits)
    }

    /// Loads a model from a GGUF file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path, device: &Device, limits: &LoadLimits) -> Result<Self> {
        let io_error = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io_error)?);
        Self::from_reader(&mut file, device, limits)
    }

    /// Loads a model from any GGUF reader.
    pub fn from_reader<R: Read + Seek>(
        reader: &mut R,
        device: &Device,
        limits: &LoadLimits,
    ) -> Result<Self> {
        let content = read_content(reader)?;
        check_tensor_extents(&content, reader)?;
        let config = config_from_metadata(&content)?;
        limits.check(estimate_resident_bytes(&content))?;
        let model = load_model(&content, reader, &config, device)?;
        let tokenizer = tokenizer_from_metadata(&content.metadata)?;
        let extra = content
            .metadata
            .iter()
            .filter(|(key, _)| key.starts_with(EXTRA_KEY_PREFIX) && key.as_str() != TOKENIZER_JSON_KEY)
            .filter_map(|(key, value)| Some((key.clone(), value.to_string().ok()?.clone())))
            .collect();
        let weight_type = content
            .tensor_infos
            .get("blk.0.attn_qkv.weight")
            .map(|info| format!("{:?}", info.ggml_dtype).to_ascii_lowercase())
            .unwrap_or_else(|| "f32".to_string());
        Ok(Self {
            model,
            tokenizer,
            extra,
            weight_type,
        })
    }
}

impl Gpt2Model {
    /// Loads a model and its stored tokenizer from GGUF, like
    /// [`GgufModel::from_reader`].
    pub fn from_gguf<R: Read + Seek>(
        reader: &mut R,
        device: &Device,
        limits: &LoadLimits,
    ) -> Result<(Self, Option<TextTokenizer>)> {
        let loaded = GgufModel::from_reader(reader, device, limits)?;
        Ok((loaded.model, loaded.tokenizer))
    }
}

fn read_content<R: Read + Seek>(reader: &mut R) -> Result<gguf_file::Content> {
    let start = reader.stream_position().map_err(header_error)?;
    check_header(reader)?;
    reader.seek(SeekFrom::Start(start)).map_err(header_error)?;
    gguf_file::Content::read(reader)
        .map_err(|e| Error::InvalidGguf(format!("failed to read the GGUF header: {e}")))
}

fn header_error(error: std::io::Error) -> Error {
    Error::InvalidGguf(format!("failed to read the GGUF header: {error}"))
}

/// Walks the GGUF header and checks every count and length against the
/// bytes left in the file before anything is allocated from them, so a
/// corrupt header is an error rather than a failed huge allocation.
fn check_header<R: Read + Seek>(reader: &mut R) -> Result<()> {
    let start = reader.stream_position().map_err(header_error)?;
    let end = reader.seek(SeekFrom::End(0)).map_err(header_error)?;
    reader.seek(SeekFrom::Start(start)).map_err(header_error)?;
    let mut walker = HeaderWalker { reader, end };
    let mut magic = [0u8; 4];
    walker.read_exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(Error::InvalidGguf("the file does not start with GGUF".to_string()));
    }
    let version = walker.u32()?;
    if version < 2 {
        // Version 1 used 32-bit counts, which candle's reader trusts and
        // allocates from, so a corrupt file could ask for gigabytes.
        return Err(Error::InvalidGguf(format!(
            "GGUF version {version} is not supported; expected version 2 or 3, as written by \
             behavior-lens convert or a current llama.cpp"
        )));
    }
    let tensors = walker.u64()?;
    let entries = walker.u64()?;
    // Each metadata entry takes at least 13 bytes and each tensor entry 28.
    if entries.saturating_mul(13) > walker.left()? || tensors.saturating_mul(28) > walker.left()? {
        return Err(Error::InvalidGguf(format!(
            "the header declares {entries} metadata entries and {tensors} tensors, more than the \
             file's {end} bytes can hold"
        )));
    }
    for _ in 0..entries {
        walker.string()?;
        let kind = walker.u32()?;
        walker.value(kind, 0)?;
    }
    for _ in 0..tensors {
        walker.string()?;
        let dims = walker.u32()?;
        if dims > 4 {
            return Err(Error::InvalidGguf(format!("a tensor declares {dims} dimensions; GGUF allows 4")));
        }
        walker.skip(8 * u64::from(dims) + 4 + 8)?;
    }
    Ok(())
}

struct HeaderWalker<'a, R> {
    reader: &'a mut R,
    end: u64,
}

impl<R: Read + Seek> HeaderWalker<'_, R> {
    fn left(&mut self) -> Result<u64> {
        let position = self.reader.stream_position().map_err(header_error)?;
        Ok(self.end.saturating_sub(position))
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buffer).map_err(header_error)
    }

    fn u32(&mut self) -> Result<u32> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut bytes = [0u8; 8];
        self.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn skip(&mut self, bytes: u64) -> Result<()> {
        if bytes > self.left()? {
            return Err(Error::InvalidGguf(format!(
                "the header declares {bytes} bytes where the file has {} left",
                self.left()?
            )));
        }
        self.reader
            .seek(SeekFrom::Current(bytes as i64))
            .map_err(header_error)?;
        Ok(())
    }

    fn string(&mut self) -> Result<()> {
        let length = self.u64()?;
        self.skip(length)
    }

    /// Skips one metadata value of GGUF type `kind`.
    fn value(&mut self, kind: u32, depth: usize) -> Result<()> {
        match kind {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => self.string(),
            9 if depth == 0 => {
                let item = self.u32()?;
                let count = self.u64()?;
                let smallest = match item {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    _ => 8,
                };
                if count.saturating_mul(smallest) > self.left()? {
                    return Err(Error::InvalidGguf(format!(
                        "a metadata array declares {count} items, more than the file can hold"
                    )));
                }
                for _ in 0..count {
                    self.value(item, depth + 1)?;
                }
                Ok(())
            }
            other => Err(Error::InvalidGguf(format!("unknown or nested metadata value type {other}"))),
        }
    }
}

fn metadata<'a>(content: &'a gguf_file::Content, key: &str) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| Error::InvalidGguf(format!("metadata key {key} is missing")))
}

fn metadata_usize(content: &gguf_file::Content, key: &str) -> Result<usize> {
    let value = metadata(content, key)?;
    let number = match value {
        Value::U8(v) => u64::from(*v),
        Value::U16(v) => u64::from(*v),
        Value::U32(v) => u64::from(*v),
        Value::U64(v) => *v,
        Value::I32(v) if *v >= 0 => *v as u64,
        Value::I64(v) if *v >= 0 => *v as u64,
        other => {
            return Err(Error::InvalidGguf(format!(
                "metadata key {key} should be a non-negative integer, found {other:?}"
            )))
        }
    };
    usize::try_from(number)
        .map_err(|_| Error::InvalidGguf(format!("metadata key {key} = {number} is too large")))
}

fn metadata_u32_opt(content: &gguf_file::Content, key: &str) -> Option<u32> {
    content
        .metadata
        .get(key)
        .and_then(|value| value.to_u32().ok())
}

/// Reads the model hyperparameters from `gpt2.*` metadata and the shape of
/// `token_embd.weight`.
pub fn config_from_metadata(content: &gguf_file::Content) -> Result<Config> {
    let architecture = metadata(content, "general.architecture")?
        .to_string()
        .map_err(|e| Error::InvalidGguf(format!("general.architecture is not a string: {e}")))?;
    if architecture != ARCHITECTURE {
        return Err(Error::InvalidGguf(format!(
            "general.architecture is {architecture:?}, but only {ARCHITECTURE:?} models are supported"
        )));
    }
    let token_embd = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| Error::InvalidGguf("tensor token_embd.weight is missing".to_string()))?;
    let (vocab_size, _) = token_embd.shape.dims2().map_err(|_| {
        Error::InvalidGguf(format!(
            "token_embd.weight should be 2-D, found {:?}",
            token_embd.shape
        ))
    })?;
    let epsilon = metadata(content, "gpt2.attention.layer_norm_epsilon")?
        .to_f32()
        .map_err(|e| {
            Error::InvalidGguf(format!(
                "gpt2.attention.layer_norm_epsilon is not an f32: {e}"
            ))
        })?;
    let activation = match content.metadata.get(ACTIVATION_KEY) {
        Some(value) => {
            let name = value.to_string().map_err(|e| {
                Error::InvalidGguf(format!("{ACTIVATION_KEY} is not a string: {e}"))
            })?;
            serde_json::from_value::<Activation>(json!(name)).map_err(|_| {
                Error::InvalidGguf(format!(
                    "{ACTIVATION_KEY} = {name:?} is not a supported activation"
                ))
            })?
        }
        None => Activation::GeluTanh,
    };
    let config = Config {
        vocab_size,
        n_positions: metadata_usize(content, "gpt2.context_length")?,
        n_embd: metadata_usize(content, "gpt2.embedding_length")?,
        n_layer: metadata_usize(content, "gpt2.block_count")?,
        n_head: metadata_usize(content, "gpt2.attention.head_count")?,
        n_inner: Some(metadata_usize(content, "gpt2.feed_forward_length")?),
        layer_norm_epsilon: f64::from(epsilon),
        activation_function: activation,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        bos_token_id: metadata_u32_opt(content, "tokenizer.ggml.bos_token_id"),
        eos_token_id: metadata_u32_opt(content, "tokenizer.ggml.eos_token_id"),
    };
    config.validate()?;
    Ok(config)
}

fn is_linear_weight(name: &str) -> bool {
    name == "output.weight"
        || [
            "attn_qkv.weight",
            "attn_output.weight",
            "ffn_up.weight",
            "ffn_down.weight",
        ]
        .iter()
        .any(|suffix| name.starts_with("blk.") && name.ends_with(suffix))
}

/// Token embeddings with at least this many rows are stored in the
/// requested format too, because a text vocabulary such as GPT-2's 50,257
/// tokens makes the embedding most of the file. A behavior vocabulary of a
/// few thousand tokens is small, so it stays exact.
pub const QUANTIZED_EMBEDDING_MIN_ROWS: usize = 8192;

fn is_large_embedding(name: &str, tensor: &Tensor) -> bool {
    name == "token_embd.weight"
        && tensor.dims().first().is_some_and(|&rows| rows >= QUANTIZED_EMBEDDING_MIN_ROWS)
}

pub(crate) fn is_float(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// Rejects a tensor whose element count does not fill whole blocks of its
/// type or whose bytes would end past the end of the file, before any
/// storage is allocated for it.
fn check_tensor_extents<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R) -> Result<()> {
    let position = reader.stream_position().map_err(header_error)?;
    let file_bytes = reader.seek(SeekFrom::End(0)).map_err(header_error)?;
    reader.seek(SeekFrom::Start(position)).map_err(header_error)?;
    for (name, info) in &content.tensor_infos {
        let elements = info.shape.elem_count() as u64;
        let block_size = info.ggml_dtype.block_size() as u64;
        if elements % block_size != 0 {
            return Err(Error::InvalidGguf(format!(
                "tensor {name} has {elements} elements, not a multiple of the {block_size}-element blocks of {:?}",
                info.ggml_dtype
            )));
        }
        let bytes = (elements / block_size).checked_mul(info.ggml_dtype.type_size() as u64);
        let end = bytes
            .and_then(|bytes| content.tensor_data_offset.checked_add(info.offset)?.checked_add(bytes));
        match end {
            Some(end) if end <= file_bytes => {}
            _ => {
                return Err(Error::InvalidGguf(format!(
                    "tensor {name} (shape {:?}, {:?}) ends past the end of the {file_bytes}-byte file; \
                     the file is truncated or corrupt",
                    info.shape.dims(),
                    info.ggml_dtype
                )))
            }
        }
    }
    Ok(())
}

/// Estimates the resident size after loading: quantized linear weights and
/// a quantized `token_embd.weight` keep their storage size, and everything
/// else is expanded to f32.
pub fn estimate_resident_bytes(content: &gguf_file::Content) -> u64 {
    content
        .tensor_infos
        .iter()
        .map(|(name, info)| {
            let elements = info.shape.elem_count() as u64;
            let block_size = info.ggml_dtype.block_size() as u64;
            let stored = elements / block_size * info.ggml_dtype.type_size() as u64;
            let expanded = elements * 4;
            if is_float(info.ggml_dtype) {
                expanded
            } else if is_linear_weight(name) || name == "token_embd.weight" {
                stored
            } else {
                expanded
            }
        })
        .sum()
}

struct TensorLoader<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
}

impl<R: Read + Seek> TensorLoader<'_, R> {
    fn qtensor(&mut self, name: &str) -> Result<QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(Error::InvalidGguf(format!("tensor {name} is missing")));
        }
        self.content
            .tensor(self.reader, name, self.device)
            .map_err(|e| Error::InvalidGguf(format!("failed to read tensor {name}: {e}")))
    }

    fn dense(&mut self, name: &str) -> Result<Tensor> {
        let tensor = self.qtensor(name)?;
        Ok(tensor.dequantize(self.device)?)
    }

    fn layer_norm(&mut self, prefix: &str, eps: f64) -> Result<LayerNorm> {
        let weight = self.dense(&format!("{prefix}.weight"))?;
        let bias = self.dense(&format!("{prefix}.bias"))?;
        LayerNorm::new(weight, bias, eps)
    }

    fn linear(&mut self, prefix: &str) -> Result<Linear> {
        let weight = self.qtensor(&format!("{prefix}.weight"))?;
        if weight.rank() != 2 {
            return Err(Error::InvalidGguf(format!(
                "{prefix}.weight should be 2-D, found shape {:?}",
                weight.shape()
            )));
        }
        let bias = self.dense(&format!("{prefix}.bias"))?;
        Linear::from_qtensor(Arc::new(weight), Some(bias))
    }
}

fn load_model<R: Read + Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    config: &Config,
    device: &Device,
) -> Result<Gpt2Model> {
    let eps = config.layer_norm_epsilon;
    let mut loader = TensorLoader {
        content,
        reader,
        device,
    };
    let token_embd = Arc::new(loader.qtensor("token_embd.weight")?);
    let wte = if is_float(token_embd.dtype()) {
        TokenEmbedding::Dense(token_embd.dequantize(device)?)
    } else {
        // The model also ties its head to this quantized table.
        TokenEmbedding::Quantized(token_embd)
    };
    let wpe = loader.dense("position_embd.weight")?;
    let mut blocks = Vec::with_capacity(config.n_layer);
    for index in 0..config.n_layer {
        let prefix = format!("blk.{index}");
        blocks.push(BlockWeights {
            ln_1: loader.layer_norm(&format!("{prefix}.attn_norm"), eps)?,
            c_attn: loader.linear(&format!("{prefix}.attn_qkv"))?,
            attn_c_proj: loader.linear(&format!("{prefix}.attn_output"))?,
            ln_2: loader.layer_norm(&format!("{prefix}.ffn_norm"), eps)?,
            c_fc: loader.linear(&format!("{prefix}.ffn_up"))?,
            mlp_c_proj: loader.linear(&format!("{prefix}.ffn_down"))?,
        });
    }
    let ln_f = loader.layer_norm("output_norm", eps)?;
    let lm_head = if content.tensor_infos.contains_key("output.weight") {
        Some(Linear::from_qtensor(
            Arc::new(loader.qtensor("output.weight")?),
            None,
        )?)
    } else {
        None
    };
    Gpt2Model::from_weights(
        config,
        ModelWeights {
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
        },
    )
}

fn string_array(content: &HashMap<String, Value>, key: &str) -> Result<Option<Vec<String>>> {
    let Some(value) = content.get(key) else {
        return Ok(None);
    };
    let items = value
        .to_vec()
        .map_err(|e| Error::InvalidGguf(format!("{key} is not an array: {e}")))?;
    items
        .iter()
        .map(|item| {
            item.to_string()
                .cloned()
                .map_err(|e| Error::InvalidGguf(format!("{key} contains a non-string value: {e}")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Rebuilds the tokenizer stored in GGUF metadata: the JSON under
/// [`TOKENIZER_JSON_KEY`] if present, otherwise a byte-level BPE from
/// `tokenizer.ggml.*` with model `gpt2`. Returns `None` for files without
/// either.
pub fn tokenizer_from_metadata(metadata: &HashMap<String, Value>) -> Result<Option<TextTokenizer>> {
    if let Some(value) = metadata.get(TOKENIZER_JSON_KEY) {
        let json = value.to_string().map_err(|e| {
            Error::InvalidGguf(format!("{TOKENIZER_JSON_KEY} is not a string: {e}"))
        })?;
        return TextTokenizer::from_json_bytes(json.as_bytes()).map(Some);
    }
    let model = match metadata.get("tokenizer.ggml.model") {
        Some(value) => value.to_string().map_err(|e| {
            Error::InvalidGguf(format!("tokenizer.ggml.model is not a string: {e}"))
        })?,
        None => return Ok(None),
    };
    if model != "gpt2" {
        return Ok(None);
    }
    let tokens = string_array(metadata, "tokenizer.ggml.tokens")?
        .ok_or_else(|| Error::InvalidGguf("tokenizer.ggml.tokens is missing".to_string()))?;
    let merges = string_array(metadata, "tokenizer.ggml.merges")?
        .ok_or_else(|| Error::InvalidGguf("tokenizer.ggml.merges is missing".to_string()))?;
    let token_types: Vec<i32> = match metadata.get("tokenizer.ggml.token_type") {
        Some(value) => value
            .to_vec()
            .map_err(|e| {
                Error::InvalidGguf(format!("tokenizer.ggml.token_type is not an array: {e}"))
            })?
            .iter()
            .map(|item| item.to_i32().unwrap_or(TOKEN_TYPE_NORMAL))
            .collect(),
        None => vec![TOKEN_TYPE_NORMAL; tokens.len()],
    };
    let json = byte_level_bpe_json(&tokens, &merges, &token_types);
    TextTokenizer::from_json_bytes(json.to_string().as_bytes()).map(Some)
}

/// Builds a `tokenizers` document for a GPT-2 style byte-level BPE.
fn byte_level_bpe_json(
    tokens: &[String],
    merges: &[String],
    token_types: &[i32],
) -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), json!(id)))
        .collect();
    let added_tokens: Vec<serde_json::Value> = tokens
        .iter()
        .zip(token_types)
        .enumerate()
        .filter(|(_, (_, &kind))| kind == TOKEN_TYPE_CONTROL || kind == TOKEN_TYPE_USER_DEFINED)
        .map(|(id, (token, &kind))| {
            json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": kind != TOKEN_TYPE_CONTROL,
                "special": kind == TOKEN_TYPE_CONTROL,
            })
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges,
        }
    })
}

/// Token list, token types and (for byte-level BPE) merges of a tokenizer.
struct TokenizerTables {
    tokens: Vec<String>,
    token_types: Vec<i32>,
    merges: Option<Vec<String>>,
}

fn tokenizer_tables(tokenizer: &TextTokenizer) -> Result<(TokenizerTables, String)> {
    let json_text = tokenizer.to_json()?;
    let document: serde_json::Value = serde_json::from_str(&json_text)?;
    let model = &document["model"];
    let size = tokenizer.vocab_size();
    let mut tokens: Vec<Option<String>> = vec![None; size];
    let mut token_types = vec![TOKEN_TYPE_NORMAL; size];
    let mut place = |token: &str, id: u64, kind: i32| -> Result<()> {
        let slot = usize::try_from(id)
            .ok()
            .filter(|&index| index < size)
            .ok_or_else(|| {
                Error::Tokenizer(format!(
                    "token {token:?} has id {id}, outside the vocabulary of {size}"
                ))
            })?;
        tokens[slot] = Some(token.to_string());
        token_types[slot] = kind;
        Ok(())
    };
    if let Some(vocab) = model["vocab"].as_object() {
        for (token, id) in vocab {
            place(token, id.as_u64().unwrap_or(u64::MAX), TOKEN_TYPE_NORMAL)?;
        }
    }
    for added in document["added_tokens"].as_array().into_iter().flatten() {
        let token = added["content"].as_str().unwrap_or_default();
        let kind = if added["special"].as_bool().unwrap_or(false) {
            TOKEN_TYPE_CONTROL
        } else {
            TOKEN_TYPE_USER_DEFINED
        };
        place(token, added["id"].as_u64().unwrap_or(u64::MAX), kind)?;
    }
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(id, token)| {
            token.ok_or_else(|| {
                Error::Tokenizer(format!("no token has id {id}; GGUF needs contiguous ids"))
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let is_byte_level_bpe =
        model["type"] == "BPE" && document["pre_tokenizer"]["type"] == "ByteLevel";
    let merges = if is_byte_level_bpe {
        let merges = model["merges"]
            .as_array()
            .ok_or_else(|| Error::Tokenizer("BPE tokenizer JSON has no merges list".to_string()))?
            .iter()
            .map(|merge| match merge {
                serde_json::Value::String(text) => Ok(text.clone()),
                serde_json::Value::Array(pair) if pair.len() == 2 => Ok(format!(
                    "{} {}",
                    pair[0].as_str().unwrap_or_default(),
                    pair[1].as_str().unwrap_or_default()
                )),
                other => Err(Error::Tokenizer(format!(
                    "unexpected BPE merge entry {other}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        Some(merges)
    } else {
        None
    };
    Ok((
        TokenizerTables {
            tokens,
            token_types,
            merges,
        },
        json_text,
    ))
}

fn tokenizer_metadata(
    storage: TokenizerStorage<'_>,
    config: &Config,
) -> Result<Vec<(String, Value)>> {
    let (tokenizer, force_json) = match storage {
        TokenizerStorage::None => return Ok(Vec::new()),
        TokenizerStorage::Auto(tokenizer) => (tokenizer, false),
        TokenizerStorage::WithJson(tokenizer) => (tokenizer, true),
    };
    let (tables, json_text) = tokenizer_tables(tokenizer)?;
    let strings = |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
    let mut entries = Vec::new();
    let model_name = if tables.merges.is_some() {
        "gpt2"
    } else {
        "none"
    };
    entries.push((
        "tokenizer.ggml.model".to_string(),
        Value::String(model_name.to_string()),
    ));
    entries.push(("tokenizer.ggml.tokens".to_string(), strings(tables.tokens)));
    entries.push((
        "tokenizer.ggml.token_type".to_string(),
        Value::Array(tables.token_types.into_iter().map(Value::I32).collect()),
    ));
    let has_merges = tables.merges.is_some();
    if let Some(merges) = tables.merges {
        entries.push(("tokenizer.ggml.merges".to_string(), strings(merges)));
        // llama.cpp selects GPT-2's pre-tokenizer regex by this name.
        entries.push((
            "tokenizer.ggml.pre".to_string(),
            Value::String("gpt-2".to_string()),
        ));
    }
    if let Some(id) = config.bos_token_id {
        entries.push(("tokenizer.ggml.bos_token_id".to_string(), Value::U32(id)));
    }
    if let Some(id) = config.eos_token_id {
        entries.push(("tokenizer.ggml.eos_token_id".to_string(), Value::U32(id)));
    }
    if force_json || !has_merges {
        entries.push((TOKENIZER_JSON_KEY.to_string(), Value::String(json_text)));
    }
    Ok(entries)
}

fn u32_value(name: &str, value: usize) -> Result<Value> {
    u32::try_from(value).map(Value::U32).map_err(|_| {
        Error::InvalidConfig(format!("{name} = {value} does not fit the GGUF u32 field"))
    })
}

fn config_metadata(config: &Config) -> Result<Vec<(String, Value)>> {
    let mut entries = vec![
        (
            "general.architecture".to_string(),
            Value::String(ARCHITECTURE.to_string()),
        ),
        (
            "gpt2.context_length".to_string(),
            u32_value("n_positions", config.n_positions)?,
        ),
        (
            "gpt2.embedding_length".to_string(),
            u32_value("n_embd", config.n_embd)?,
        ),
        (
            "gpt2.feed_forward_length".to_string(),
            u32_value("n_inner", config.inner_size())?,
        ),
        (
            "gpt2.block_count".to_string(),
            u32_value("n_layer", config.n_layer)?,
        ),
        (
            "gpt2.attention.head_count".to_string(),
            u32_value("n_head", config.n_head)?,
        ),
        (
            "gpt2.attention.layer_norm_epsilon".to_string(),
            Value::F32(config.layer_norm_epsilon as f32),
        ),
    ];
    if config.activation_function != Activation::GeluTanh {
        let name = serde_json::to_value(config.activation_function)?;
        let name = name.as_str().unwrap_or_default().to_string();
        entries.push((ACTIVATION_KEY.to_string(), Value::String(name)));
    }
    if !config.scale_attn_weights || config.scale_attn_by_inverse_layer_idx {
        return Err(Error::InvalidConfig(
            "GGUF export supports only the standard attention scaling (scale_attn_weights = true, \
             scale_attn_by_inverse_layer_idx = false)"
                .to_string(),
        ));
    }
    Ok(entries)
}

/// Maps a Hugging Face GPT-2 tensor name (either naming scheme) to its GGUF
/// name. Returns the name and whether the tensor is a Conv1D weight that
/// must be transposed, or `None` for buffers that are not weights.
fn gguf_name(hf_name: &str) -> Option<(String, bool)> {
    let name = hf_name.strip_prefix("transformer.").unwrap_or(hf_name);
    let simple = match name {
        "wte.weight" => Some("token_embd.weight"),
        "wpe.weight" => Some("position_embd.weight"),
        "ln_f.weight" => Some("output_norm.weight"),
        "ln_f.bias" => Some("output_norm.bias"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(mapped) = simple {
        return Some((mapped.to_string(), false));
    }
    let rest = name.strip_prefix("h.")?;
    let (index, part) = rest.split_once('.')?;
    index.parse::<usize>().ok()?;
    let (mapped, transpose) = match part {
        "ln_1.weight" => ("attn_norm.weight", false),
        "ln_1.bias" => ("attn_norm.bias", false),
        "attn.c_attn.weight" => ("attn_qkv.weight", true),
        "attn.c_attn.bias" => ("attn_qkv.bias", false),
        "attn.c_proj.weight" => ("attn_output.weight", true),
        "attn.c_proj.bias" => ("attn_output.bias", false),
        "ln_2.weight" => ("ffn_norm.weight", false),
        "ln_2.bias" => ("ffn_norm.bias", false),
        "mlp.c_fc.weight" => ("ffn_up.weight", true),
        "mlp.c_fc.bias" => ("ffn_up.bias", false),
        "mlp.c_proj.weight" => ("ffn_down.weight", true),
        "mlp.c_proj.bias" => ("ffn_down.bias", false),
        _ => return None,
    };
    Some((format!("blk.{index}.{mapped}"), transpose))
}

/// Named f32 tensors in GGUF naming and candle shape (`[out, in]` for
/// linear weights), ready to be written by [`write_gguf`].
pub type GgufTensors = Vec<(String, Tensor)>;

/// Converts Hugging Face safetensors bytes to GGUF-named tensors. A
/// `lm_head.weight` equal to `wte.weight` is dropped because the head is tied.
pub fn gguf_tensors_from_safetensors(bytes: &[u8], device: &Device) -> Result<GgufTensors> {
    let loaded = candle_core::safetensors::load_buffer(bytes, device)?;
    gguf_tensors_from_hf(&loaded)
}

/// Converts tensors with Hugging Face GPT-2 names (either naming scheme, for
/// example the variables of a trained `VarMap`) to GGUF-named f32 tensors.
/// A `lm_head.weight` equal to `wte.weight` is dropped because the head is tied.
pub fn gguf_tensors_from_hf(hf_tensors: &HashMap<String, Tensor>) -> Result<GgufTensors> {
    let mut names: Vec<&String> = hf_tensors.keys().collect();
    names.sort();
    let mut tensors = Vec::new();
    for hf_name in names {
        let Some((name, transpose)) = gguf_name(hf_name) else {
            log::debug!("skipping tensor {hf_name}: not a GPT-2 weight");
            continue;
        };
        let mut tensor = hf_tensors[hf_name].to_dtype(DType::F32)?;
        if transpose {
            tensor = tensor.t()?.contiguous()?;
        }
        if name == "output.weight" && is_tied_head(hf_tensors, &tensor)? {
            continue;
        }
        tensors.push((name, tensor));
    }
    Ok(tensors)
}

fn is_tied_head(hf_tensors: &HashMap<String, Tensor>, head: &Tensor) -> Result<bool> {
    let Some(wte) = hf_tensors
        .get("transformer.wte.weight")
        .or_else(|| hf_tensors.get("wte.weight"))
    else {
        return Ok(false);
    };
    if wte.dims() != head.dims() {
        return Ok(false);
    }
    let difference = (wte.to_dtype(DType::F32)? - head)?.abs()?.max_all()?;
    Ok(difference.to_scalar::<f32>()? == 0.0)
}

/// Reads every tensor of a GGUF file expanded to f32, for re-encoding.
pub fn gguf_tensors_from_gguf<R: Read + Seek>(
    reader: &mut R,
    device: &Device,
) -> Result<(Config, Option<TextTokenizer>, GgufTensors)> {
    let content = read_content(reader)?;
    let config = config_from_metadata(&content)?;
    let tokenizer = tokenizer_from_metadata(&content.metadata)?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content
            .tensor(reader, name, device)
            .map_err(|e| Error::InvalidGguf(format!("failed to read tensor {name}: {e}")))?;
        tensors.push((name.clone(), tensor.dequantize(device)?));
    }
    Ok((config, tokenizer, tensors))
}

/// Writes a GGUF file: `config` as `gpt2.*` metadata, linear weights in
/// `format` (f32 where a row does not fit the format's block size), all
/// other tensors in f32, and the tokenizer as `storage` requests.
pub fn write_gguf<W: Write + Seek>(
    writer: &mut W,
    config: &Config,
    tensors: &[(String, Tensor)],
    format: WeightFormat,
    storage: TokenizerStorage<'_>,
) -> Result<WriteReport> {
    write_gguf_with_metadata(writer, config, tensors, format, storage, &[])
}

/// Like [`write_gguf`], with extra string metadata. Keys must start with
/// [`EXTRA_KEY_PREFIX`]; they read back into [`GgufModel::extra`].
pub fn write_gguf_with_metadata<W: Write + Seek>(
    writer: &mut W,
    config: &Config,
    tensors: &[(String, Tensor)],
    format: WeightFormat,
    storage: TokenizerStorage<'_>,
    extra: &[(String, String)],
) -> Result<WriteReport> {
    let options = GgufWriteOptions {
        format,
        tokenizer: storage,
        extra,
        quantize_token_embeddings: false,
    };
    write_gguf_with_options(writer, config, tensors, &options)
}

/// Settings of [`write_gguf_with_options`].
#[derive(Debug, Clone, Copy)]
pub struct GgufWriteOptions<'a> {
    /// Storage format of the linear weights.
    pub format: WeightFormat,
    pub tokenizer: TokenizerStorage<'a>,
    /// Extra string metadata, as in [`write_gguf_with_metadata`].
    pub extra: &'a [(String, String)],
    /// Also store `token_embd.weight` in `format`. A model loaded from such a
    /// file expands only the looked-up rows, and its tied head runs on the
    /// quantized table.
    pub quantize_token_embeddings: bool,
}

/// Writes a GGUF file like [`write_gguf_with_metadata`], with every setting
/// in `options`.
pub fn write_gguf_with_options<W: Write + Seek>(
    writer: &mut W,
    config: &Config,
    tensors: &[(String, Tensor)],
    options: &GgufWriteOptions<'_>,
) -> Result<WriteReport> {
    let GgufWriteOptions {
        format,
        tokenizer: storage,
        extra,
        quantize_token_embeddings,
    } = *options;
    config.validate()?;
    let mut entries = config_metadata(config)?;
    entries.extend(tokenizer_metadata(storage, config)?);
    for (key, value) in extra {
        if !key.starts_with(EXTRA_KEY_PREFIX) || key == TOKENIZER_JSON_KEY {
            return Err(Error::InvalidInput(format!(
                "extra metadata key {key:?} must start with {EXTRA_KEY_PREFIX} and not be the tokenizer key"
            )));
        }
        entries.push((key.clone(), Value::String(value.clone())));
    }

    let mut report = WriteReport::default();
    let mut encoded = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let tensor = tensor.to_dtype(DType::F32)?.contiguous()?;
        let mut dtype = GgmlDType::F32;
        let quantize_embeddings =
            name == "token_embd.weight" && (quantize_token_embeddings || is_large_embedding(name, &tensor));
        if is_linear_weight(name) || quantize_embeddings {
            let row_size = tensor.dims().last().copied().unwrap_or(0);
            let target = format.ggml_dtype();
            if row_size % target.block_size() == 0 {
                dtype = target;
                report.converted.push(name.clone());
            } else {
                log::warn!(
                    "{name}: row size {row_size} is not a multiple of the {format} block size {}, keeping f32",
                    target.block_size()
                );
                report.kept_f32.push(name.clone());
            }
        }
        let quantized = QTensor::quantize(&tensor, dtype).map_err(|e| {
            Error::InvalidWeights(format!("failed to encode {name} as {dtype:?}: {e}"))
        })?;
        encoded.push((name.as_str(), quantized));
    }
    report.tensor_count = encoded.len();

    let metadata: Vec<(&str, &Value)> = entries
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = encoded
        .iter()
        .map(|(name, tensor)| (*name, tensor))
        .collect();
    gguf_file::write(writer, &metadata, &tensor_refs)
        .map_err(|e| Error::InvalidGguf(format!("failed to write GGUF data: {e}")))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::model::bench::{gguf_bytes, random_gguf_tensors};

    #[test]
    fn version_1_header_is_rejected() {
        // Version 1 counts are 32-bit: one tensor and a huge metadata count.
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.resize(100, 0);
        let error = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::unlimited()).unwrap_err();
        assert!(error.to_string().contains("GGUF version 1 is not supported"), "{error}");
    }

    #[test]
    fn truncated_tensor_data_is_rejected_before_loading() {
        let config = tiny_config();
        let tensors = random_gguf_tensors(&config, &Device::Cpu).unwrap();
        let mut bytes = gguf_bytes(&config, &tensors, WeightFormat::F32).unwrap();
        bytes.truncate(bytes.len() - 64);

        let error = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::unlimited()).unwrap_err();

        let message = error.to_string();
        assert!(message.contains("ends past the end of the"), "{message}");
        assert!(message.contains("truncated or corrupt"), "{message}");
    }

    #[test]
    fn start_token_outside_vocabulary_is_rejected() {
        let config = Config {
            bos_token_id: Some(96),
            ..tiny_config()
        };
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("bos_token_id = 96 is outside the vocabulary of 96 tokens"), "{error}");
    }

    fn tiny_config() -> Config {
        Config {
            vocab_size: 96,
            n_positions: 16,
            n_embd: 64,
            n_layer: 2,
            n_head: 2,
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: Activation::GeluTanh,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            bos_token_id: None,
            eos_token_id: None,
        }
    }

    #[test]
    fn quantized_lookup_matches_expanded_table() {
        let table = Tensor::randn(0f32, 0.02, (96, 64), &Device::Cpu).unwrap();
        let quantized = Arc::new(QTensor::quantize(&table, GgmlDType::Q8_0).unwrap());
        let expanded = quantized.dequantize(&Device::Cpu).unwrap();
        let ids = Tensor::new(&[5u32, 0, 95, 5], &Device::Cpu).unwrap();

        let rows = TokenEmbedding::Quantized(quantized).lookup(&ids).unwrap();

        let expected: Vec<Vec<f32>> = expanded.index_select(&ids, 0).unwrap().to_vec2().unwrap();
        assert_eq!(rows.to_vec2::<f32>().unwrap(), expected);
    }

    #[test]
    fn quantized_token_embeddings_round_trip() {
        let config = tiny_config();
        let tensors = random_gguf_tensors(&config, &Device::Cpu).unwrap();
        let dense_bytes = gguf_bytes(&config, &tensors, WeightFormat::F32).unwrap();
        let q8_bytes = gguf_bytes(&config, &tensors, WeightFormat::Q8_0).unwrap();
        let content = read_content(&mut Cursor::new(&q8_bytes)).unwrap();
        let limits = LoadLimits::unlimited();
        let dense = GgufModel::from_bytes(&dense_bytes, &Device::Cpu, &limits).unwrap();
        let q8 = GgufModel::from_bytes(&q8_bytes, &Device::Cpu, &limits).unwrap();
        let ids = Tensor::new(&[[3u32, 17, 95, 0, 42]], &Device::Cpu).unwrap();

        let dense_logits = dense.model.forward(&ids, None).unwrap();
        let q8_logits = q8.model.forward(&ids, None).unwrap();

        let token_embd = &content.tensor_infos["token_embd.weight"];
        assert_eq!(token_embd.ggml_dtype, GgmlDType::Q8_0);
        // 96 rows of two 34-byte q8_0 blocks each.
        let head_and_table = 96 * 2 * 34;
        let wpe = 16 * 64 * 4;
        let layers: u64 = content
            .tensor_infos
            .keys()
            .filter(|name| name.starts_with("blk."))
            .map(|name| {
                let info = &content.tensor_infos[name];
                let elements = info.shape.elem_count() as u64;
                if is_linear_weight(name) { elements / 32 * 34 } else { elements * 4 }
            })
            .sum();
        let norms = 2 * 64 * 4;
        assert_eq!(
            estimate_resident_bytes(&content),
            head_and_table + wpe + layers + norms
        );
        let difference: f32 = (&dense_logits - q8_logits)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        let scale: f32 = dense_logits.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        assert!(difference > 0.0, "the q8_0 model gave the f32 logits exactly");
        // q8_0 rounds each weight to 1 of 255 levels of its block's scale,
        // and every layer and the head add their rounding.
        assert!(difference < 0.02 * scale, "q8_0 logits differ by {difference} of {scale}");
    }
}
