//! GPT-2 transformer with Hugging Face parameter names.
//!
//! The layout follows `transformers`' `GPT2Model`: token embeddings `wte`,
//! position embeddings `wpe`, `n_layer` pre-LayerNorm blocks `h.N` with
//! `ln_1`, `attn.c_attn`, `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`,
//! and a final LayerNorm `ln_f`. The language-model head shares its weight
//! with `wte` unless a separate output weight is loaded from GGUF.
//!
//! Every forward step is made of candle tensor ops, so a model built from a
//! `VarBuilder` over a `VarMap` can be trained with candle-nn optimizers.
//! Fused kernels without a backward pass (LayerNorm, softmax) are used only
//! when no input of the op tracks gradients.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::gguf::{is_float, LoadLimits};
use super::{Error, Result};

/// Score added to attention logits of keys a query must not see. It is
/// finite, so a query row without any visible key (a padding row) yields a
/// uniform distribution rather than NaN.
const MASKED_SCORE: f32 = -1.0e30;

/// Minimum number of input rows for which a quantized linear layer expands
/// its weight to f32 and runs a dense matmul instead of quantized kernels.
/// On x86-64 with AVX2 and a 768 x 3072 weight, the two paths break even at
/// about 32 rows for q8_0 and between 32 and 64 rows for q4k.
/// NOTE: without AVX the quantized kernels are slower, so the break-even
/// point is lower there, and it has not been measured for wasm32.
const DENSE_MATMUL_MIN_ROWS: usize = 32;

/// Minimum number of input rows for which a linear layer in inference on
/// wasm32 uses the packed GEMM of `gemm.rs` instead of candle's matmul.
/// Under Node 20 it was faster than candle from 8 rows of a 768 x 3072
/// weight on, and slower for 1 and 4 rows.
const PACKED_MATMUL_MIN_ROWS: usize = 8;

/// Continuations scored in one batched forward pass by
/// [`Gpt2Model::continuation_scores`].
const CONTINUATION_CHUNK: usize = 16;

/// Feed-forward activation, named as in Hugging Face's `activation_function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// GELU with the tanh approximation (GPT-2's own activation).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    /// GELU computed with the error function.
    #[serde(rename = "gelu")]
    GeluErf,
    #[serde(rename = "relu")]
    Relu,
}

impl Activation {
    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        let ys = match self {
            Activation::GeluTanh => super::ops::gelu_tanh(xs)?,
            Activation::GeluErf => xs.gelu_erf()?,
            Activation::Relu => xs.relu()?,
        };
        Ok(ys)
    }
}

fn default_layer_norm_epsilon() -> f64 {
    1e-5
}

fn default_activation() -> Activation {
    Activation::GeluTanh
}

fn default_true() -> bool {
    true
}

/// Model hyperparameters, read from the fields of a Hugging Face GPT-2
/// `config.json`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    /// Maximum sequence length (number of rows of `wpe`).
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// Hidden size of the MLP. `None` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    pub activation_function: Activation,
    /// Divide attention scores by `sqrt(head_dim)`.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Also divide attention scores of layer `i` by `i + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

impl Config {
    /// Parses and validates a Hugging Face `config.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Config = serde_json::from_str(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that the sizes are positive and that heads divide `n_embd`.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.inner_size()),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return Err(Error::InvalidConfig(format!(
                    "{name} must be positive, got 0"
                )));
            }
        }
        let limits = [
            ("vocab_size", self.vocab_size, 10_000_000),
            ("n_positions", self.n_positions, 1 << 20),
            ("n_embd", self.n_embd, 1 << 16),
            ("n_layer", self.n_layer, 1024),
            ("n_head", self.n_head, 1 << 12),
            ("n_inner", self.inner_size(), 1 << 18),
        ];
        for (name, value, limit) in limits {
            if value > limit {
                return Err(Error::InvalidConfig(format!(
                    "{name} = {value} is larger than any supported model (at most {limit})"
                )));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return Err(Error::InvalidConfig(format!(
                "n_embd ({}) must be a multiple of n_head ({})",
                self.n_embd, self.n_head
            )));
        }
        let special = [("bos_token_id", self.bos_token_id), ("eos_token_id", self.eos_token_id)];
        for (name, id) in special {
            if let Some(id) = id.filter(|&id| id as usize >= self.vocab_size) {
                return Err(Error::InvalidConfig(format!(
                    "{name} = {id} is outside the vocabulary of {} tokens",
                    self.vocab_size
                )));
            }
        }
        if !self.layer_norm_epsilon.is_finite() || self.layer_norm_epsilon <= 0.0 {
            return Err(Error::InvalidConfig(format!(
                "layer_norm_epsilon must be positive, got {}",
                self.layer_norm_epsilon
            )));
        }
        Ok(())
    }

    /// Hidden size of the MLP.
    pub fn inner_size(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Number of parameters, counting the tied language-model head once.
    pub fn parameter_count(&self) -> u64 {
        let embd = self.n_embd as u64;
        let inner = self.inner_size() as u64;
        let embeddings = (self.vocab_size as u64 + self.n_positions as u64) * embd;
        let attention = embd * 3 * embd + 3 * embd + embd * embd + embd;
        let mlp = embd * inner + inner + inner * embd + embd;
        let norms = 4 * embd;
        embeddings + self.n_layer as u64 * (attention + mlp + norms) + 2 * embd
    }
}

#[derive(Debug, Clone)]
enum LinearWeight {
    /// Dense weight stored `[in, out]`, as in Hugging Face's Conv1D.
    Dense(Tensor),
    /// Quantized weight stored `[out, in]` (ggml order), applied by candle's
    /// quantized matmul kernels.
    Quantized(QMatMul),
}

/// Affine layer `x @ W + b` whose weight is either a dense f32 tensor or a
/// quantized GGUF tensor.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// Creates a layer from a weight shaped `[in, out]` (Hugging Face Conv1D).
    pub fn from_conv1d(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (in_features, out_features) = weight.dims2()?;
        let weight = weight.to_dtype(DType::F32)?;
        let bias = bias.map(|b| b.to_dtype(DType::F32)).transpose()?;
        Ok(Self {
            weight: LinearWeight::Dense(weight),
            bias,
            in_features,
            out_features,
        })
    }

    /// Creates a layer from a GGUF tensor shaped `[out, in]`. Float tensors
    /// are expanded to dense f32, and quantized ones stay quantized.
    pub fn from_qtensor(weight: Arc<QTensor>, bias: Option<Tensor>) -> Result<Self> {
        let (out_features, in_features) = weight.shape().dims2()?;
        let bias = bias.map(|b| b.to_dtype(DType::F32)).transpose()?;
        let weight = match weight.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                let dense = weight.dequantize(&weight.device())?;
                LinearWeight::Dense(dense.t()?.contiguous()?)
            }
            _ => LinearWeight::Quantized(QMatMul::from_arc(weight)?),
        };
        Ok(Self {
            weight,
            bias,
            in_features,
            out_features,
        })
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Returns whether the weight is stored in a quantized ggml format.
    pub fn is_quantized(&self) -> bool {
        matches!(self.weight, LinearWeight::Quantized(QMatMul::QTensor(_)))
    }

    /// Applies the layer to the last dimension of `xs`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims().to_vec();
        let Some((&last, leading)) = dims.split_last() else {
            return Err(Error::InvalidInput(
                "a linear layer needs at least a 1-D input".to_string(),
            ));
        };
        if last != self.in_features {
            return Err(Error::InvalidInput(format!(
                "linear layer expects {} input features, got shape {:?}",
                self.in_features, dims
            )));
        }
        let rows: usize = leading.iter().product();
        let flat = xs.reshape((rows, last))?;
        let ys = match &self.weight {
            LinearWeight::Dense(weight) => dense_matmul(&flat, weight)?,
            LinearWeight::Quantized(QMatMul::QTensor(weight)) if rows >= DENSE_MATMUL_MIN_ROWS => {
                // Expanding one layer's weight and using the f32 GEMM is much
                // faster for many rows than candle's per-row quantized dot products.
                let dense = weight.dequantize(&weight.device())?;
                dense_matmul(&flat, &dense.t()?)?
            }
            LinearWeight::Quantized(weight) => weight.forward(&flat.contiguous()?)?,
        };
        let ys = match &self.bias {
            Some(bias) if ys.track_op() || bias.track_op() => ys.broadcast_add(bias)?,
            Some(bias) => super::ops::add_bias(&ys, bias)?,
            None => ys,
        };
        let mut out_dims = leading.to_vec();
        out_dims.push(self.out_features);
        Ok(ys.reshape(out_dims)?)
    }
}

/// Computes `xs @ weight` for `xs` `[rows, in]` and `weight` `[in, out]`,
/// which may be a transposed view. On wasm32 with simd128, inference
/// (neither input tracks gradients) on f32 inputs of at least
/// [`PACKED_MATMUL_MIN_ROWS`] rows runs [`super::ops::matmul_inference`],
/// which was faster there than candle's matmul for GPT-2's shapes.
/// Everything else, including native builds, uses candle's matmul.
fn dense_matmul(xs: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let use_packed = cfg!(all(target_arch = "wasm32", target_feature = "simd128"))
        && xs.dim(0)? >= PACKED_MATMUL_MIN_ROWS
        && xs.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && xs.device().is_cpu()
        && !xs.track_op()
        && !weight.track_op();
    let ys = if use_packed {
        super::ops::matmul_inference(xs, weight)?
    } else {
        xs.matmul(weight)?
    };
    Ok(ys)
}

#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub(crate) fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: weight.to_dtype(DType::F32)?,
            bias: bias.to_dtype(DType::F32)?,
            eps,
        })
    }

    fn size(&self) -> Result<usize> {
        Ok(self.weight.dims1()?)
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let eps = self.eps as f32;
        let needs_backward = xs.track_op() || self.weight.track_op() || self.bias.track_op();
        let ys = if needs_backward || !xs.is_contiguous() {
            candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, eps)?
        } else {
            candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, eps)?
        };
        Ok(ys)
    }
}

fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    let ys = if xs.track_op() {
        candle_nn::ops::softmax(xs, D::Minus1)?
    } else {
        candle_nn::ops::softmax_last_dim(xs)?
    };
    Ok(ys)
}

/// Cached keys and values of one layer, each `[batch, n_head, past, head_dim]`.
type LayerCache = Option<(Tensor, Tensor)>;

#[derive(Debug, Clone)]
struct Attention {
    c_attn: Linear,
    c_proj: Linear,
    n_head: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn split_heads(&self, qkv: &Tensor, index: usize) -> Result<Tensor> {
        let (batch, seq_len, _) = qkv.dims3()?;
        let embd = self.n_head * self.head_dim;
        let part = qkv
            .narrow(D::Minus1, index * embd, embd)?
            .reshape((batch, seq_len, self.n_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        Ok(part)
    }

    /// Runs causal self-attention. `bias` is `[batch, 1, seq, past + seq]`
    /// with 0 for visible keys and [`MASKED_SCORE`] otherwise.
    fn forward(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor> {
        let (batch, seq_len, embd) = xs.dims3()?;
        let qkv = self.c_attn.forward(xs)?;
        let query = self.split_heads(&qkv, 0)?;
        let mut key = self.split_heads(&qkv, 1)?;
        let mut value = self.split_heads(&qkv, 2)?;
        if let Some(slot) = cache {
            if let Some((past_key, past_value)) = slot.as_ref() {
                key = Tensor::cat(&[past_key, &key], 2)?;
                value = Tensor::cat(&[past_value, &value], 2)?;
            }
            *slot = Some((key.clone(), value.clone()));
        }
        let scores = query.matmul(&key.t()?)?;
        let probs = if scores.track_op() {
            softmax_last_dim(&(scores * self.scale)?.broadcast_add(bias)?)?
        } else {
            super::ops::scaled_masked_softmax(&scores, bias, self.scale as f32)?
        };
        let context = probs
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((batch, seq_len, embd))?;
        self.c_proj.forward(&context)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
    activation: Activation,
}

impl Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let hidden = self.activation.apply(&self.c_fc.forward(xs)?)?;
        self.c_proj.forward(&hidden)
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn forward(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        cache: Option<&mut LayerCache>,
    ) -> Result<Tensor> {
        let attended = self.attn.forward(&self.ln_1.forward(xs)?, bias, cache)?;
        let xs = (xs + attended)?;
        let transformed = self.mlp.forward(&self.ln_2.forward(&xs)?)?;
        Ok((xs + transformed)?)
    }
}

/// Token embedding table `[vocab_size, n_embd]`.
#[derive(Debug, Clone)]
pub(crate) enum TokenEmbedding {
    Dense(Tensor),
    /// Quantized table from GGUF. Only the rows of the looked-up tokens are
    /// expanded to f32, so the model never stores the full f32 table.
    Quantized(Arc<QTensor>),
}

impl TokenEmbedding {
    fn dims(&self) -> &[usize] {
        match self {
            TokenEmbedding::Dense(table) => table.dims(),
            TokenEmbedding::Quantized(table) => table.shape().dims(),
        }
    }

    /// Returns the embeddings `[n, n_embd]` of the token ids `flat_ids` `[n]`.
    /// The ids must already be checked against the vocabulary size.
    pub(crate) fn lookup(&self, flat_ids: &Tensor) -> Result<Tensor> {
        let table = match self {
            TokenEmbedding::Dense(table) => return Ok(table.index_select(flat_ids, 0)?),
            TokenEmbedding::Quantized(table) => table,
        };
        let (_, embd) = table.shape().dims2()?;
        let dtype = table.dtype();
        let row_bytes = embd / dtype.block_size() * dtype.type_size();
        let data = table.data()?;
        let ids: Vec<u32> = flat_ids.to_vec1()?;
        let mut rows = Vec::with_capacity(ids.len() * row_bytes);
        for &id in &ids {
            let start = id as usize * row_bytes;
            rows.extend_from_slice(&data[start..start + row_bytes]);
        }
        let device = table.device();
        // NOTE: candle 0.9.2 reads an owned Cow after dropping it, so the
        // rows must be lent, not moved.
        let storage = QStorage::from_data(Cow::Borrowed(&rows), &device, dtype)?;
        Ok(QTensor::new(storage, (ids.len(), embd))?.dequantize(&device)?)
    }
}

/// Weights of one transformer block, used to assemble a model from any
/// storage format.
pub(crate) struct BlockWeights {
    pub ln_1: LayerNorm,
    pub c_attn: Linear,
    pub attn_c_proj: Linear,
    pub ln_2: LayerNorm,
    pub c_fc: Linear,
    pub mlp_c_proj: Linear,
}

/// All weights of a model. `lm_head` is `None` when it is tied to `wte`.
pub(crate) struct ModelWeights {
    pub wte: TokenEmbedding,
    pub wpe: Tensor,
    pub blocks: Vec<BlockWeights>,
    pub ln_f: LayerNorm,
    pub lm_head: Option<Linear>,
}

/// Per-sequence state for incremental decoding: cached keys and values of
/// every layer, which cached positions are real tokens, and the position id
/// of each row's next real token.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    key_is_real: Vec<Vec<bool>>,
    next_positions: Vec<usize>,
}

impl KvCache {
    /// Creates an empty cache for `batch_size` sequences.
    pub fn new(n_layer: usize, batch_size: usize) -> Self {
        Self {
            layers: vec![None; n_layer],
            key_is_real: vec![Vec::new(); batch_size],
            next_positions: vec![0; batch_size],
        }
    }

    pub fn batch_size(&self) -> usize {
        self.next_positions.len()
    }

    /// Number of cached positions, padding included.
    pub fn seq_len(&self) -> usize {
        self.key_is_real.first().map_or(0, Vec::len)
    }

    /// Number of real (unpadded) tokens cached for each row.
    pub fn real_lengths(&self) -> &[usize] {
        &self.next_positions
    }

    /// Copies a single-row cache into `rows` rows, for example to score many
    /// continuations of one shared prefix.
    pub fn repeat_rows(&self, rows: usize) -> Result<Self> {
        if self.batch_size() != 1 {
            return Err(Error::InvalidInput(format!(
                "only a cache with batch size 1 can be repeated, this one has {}",
                self.batch_size()
            )));
        }
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Some((key, value)) => {
                    let (_, heads, len, dim) = key.dims4()?;
                    let shape = (rows, heads, len, dim);
                    let key = key.broadcast_as(shape)?.contiguous()?;
                    let value = value.broadcast_as(shape)?.contiguous()?;
                    Ok(Some((key, value)))
                }
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            key_is_real: vec![self.key_is_real[0].clone(); rows],
            next_positions: vec![self.next_positions[0]; rows],
        })
    }
}

/// Pooling rule of [`Gpt2Model::pool`] for turning per-token hidden states into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of the final-LayerNorm outputs over real tokens.
    Mean,
    /// Final-LayerNorm output at the last real token.
    LastToken,
}

/// Log-likelihood of one continuation given a prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuationScore {
    /// Natural-log probability of each continuation token.
    pub token_log_probs: Vec<f32>,
    /// Sum of `token_log_probs`.
    pub total: f32,
}

/// GPT-2 language model.
#[derive(Debug, Clone)]
pub struct Gpt2Model {
    config: Config,
    wte: TokenEmbedding,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    device: Device,
}

fn layer_norm_from_vb(size: usize, eps: f64, vb: &VarBuilder) -> Result<LayerNorm> {
    let weight = vb.get_with_hints(size, "weight", Init::Const(1.0))?;
    let bias = vb.get_with_hints(size, "bias", Init::Const(0.0))?;
    LayerNorm::new(weight, bias, eps)
}

fn conv1d_from_vb(in_features: usize, out_features: usize, vb: &VarBuilder) -> Result<Linear> {
    let init = Init::Randn {
        mean: 0.0,
        stdev: 0.02,
    };
    let weight = vb.get_with_hints((in_features, out_features), "weight", init)?;
    let bias = vb.get_with_hints(out_features, "bias", Init::Const(0.0))?;
    Linear::from_conv1d(weight, Some(bias))
}

impl Gpt2Model {
    /// Builds the model from a `VarBuilder` rooted at the `GPT2Model` names
    /// (`wte.weight`, `h.0.ln_1.weight`, ...). Over a `VarMap` this creates
    /// trainable variables initialised like Hugging Face's GPT-2.
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let embd = config.n_embd;
        let inner = config.inner_size();
        let eps = config.layer_norm_epsilon;
        let embedding_init = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let wte = vb.get_with_hints((config.vocab_size, embd), "wte.weight", embedding_init)?;
        let wpe = vb.get_with_hints((config.n_positions, embd), "wpe.weight", embedding_init)?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for index in 0..config.n_layer {
            let vb = vb.pp(format!("h.{index}"));
            blocks.push(BlockWeights {
                ln_1: layer_norm_from_vb(embd, eps, &vb.pp("ln_1"))?,
                c_attn: conv1d_from_vb(embd, 3 * embd, &vb.pp("attn.c_attn"))?,
                attn_c_proj: conv1d_from_vb(embd, embd, &vb.pp("attn.c_proj"))?,
                ln_2: layer_norm_from_vb(embd, eps, &vb.pp("ln_2"))?,
                c_fc: conv1d_from_vb(embd, inner, &vb.pp("mlp.c_fc"))?,
                mlp_c_proj: conv1d_from_vb(inner, embd, &vb.pp("mlp.c_proj"))?,
            });
        }
        let ln_f = layer_norm_from_vb(embd, eps, &vb.pp("ln_f"))?;
        Self::from_weights(
            config,
            ModelWeights {
                wte: TokenEmbedding::Dense(wte),
                wpe,
                blocks,
                ln_f,
                lm_head: None,
            },
        )
    }

    /// Builds the model from Hugging Face weights saved by either `GPT2Model`
    /// (`wte.weight`) or `GPT2LMHeadModel` (`transformer.wte.weight`).
    pub fn from_hf_varbuilder(config: &Config, vb: VarBuilder) -> Result<Self> {
        if vb.contains_tensor("transformer.wte.weight") {
            Self::new(config, vb.pp("transformer"))
        } else if vb.contains_tensor("wte.weight") {
            Self::new(config, vb)
        } else {
            Err(Error::InvalidWeights(
                "neither wte.weight nor transformer.wte.weight was found; expected a GPT-2 \
                 checkpoint saved by GPT2Model or GPT2LMHeadModel"
                    .to_string(),
            ))
        }
    }

    /// Loads Hugging Face safetensors bytes with f32, f16 or bf16 weights,
    /// computed in f32, without copying the input first.
    pub fn from_safetensors_bytes(
        config: &Config,
        bytes: &[u8],
        device: &Device,
        limits: &LoadLimits,
    ) -> Result<Self> {
        config.validate()?;
        limits.check(config.parameter_count().saturating_mul(4))?;
        let vb = VarBuilder::from_slice_safetensors(bytes, DType::F32, device)?;
        Self::from_hf_varbuilder(config, vb)
    }

    /// Loads a Hugging Face model folder with `config.json` and
    /// `model.safetensors`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_hf_dir(
        dir: &std::path::Path,
        device: &Device,
        limits: &LoadLimits,
    ) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config_json = std::fs::read_to_string(&config_path).map_err(|source| Error::Io {
            path: config_path.display().to_string(),
            source,
        })?;
        let config = Config::from_json(&config_json)?;
        let weights_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|source| Error::Io {
            path: weights_path.display().to_string(),
            source,
        })?;
        Self::from_safetensors_bytes(&config, &bytes, device, limits)
    }

    pub(crate) fn from_weights(config: &Config, weights: ModelWeights) -> Result<Self> {
        config.validate()?;
        check_weight_shapes(config, &weights)?;
        let device = weights.wpe.device().clone();
        let wpe = weights.wpe.to_dtype(DType::F32)?;
        let (wte, lm_head) = match (weights.wte, weights.lm_head) {
            (TokenEmbedding::Dense(table), head) => {
                let table = table.to_dtype(DType::F32)?;
                let head = match head {
                    Some(head) => head,
                    None => Linear::from_conv1d(table.t()?, None)?,
                };
                (TokenEmbedding::Dense(table), head)
            }
            (TokenEmbedding::Quantized(table), Some(head)) => (TokenEmbedding::Quantized(table), head),
            (TokenEmbedding::Quantized(table), None) => {
                // The quantized table is stored [vocab, n_embd], which is the
                // [out, in] order of a quantized linear weight, so the tied
                // head shares its storage.
                let head = Linear::from_qtensor(table.clone(), None)?;
                (TokenEmbedding::Quantized(table), head)
            }
        };
        let head_dim = config.head_dim();
        let blocks = weights
            .blocks
            .into_iter()
            .enumerate()
            .map(|(index, block)| {
                let mut scale = 1.0;
                if config.scale_attn_weights {
                    scale /= (head_dim as f64).sqrt();
                }
                if config.scale_attn_by_inverse_layer_idx {
                    scale /= (index + 1) as f64;
                }
                Block {
                    ln_1: block.ln_1,
                    attn: Attention {
                        c_attn: block.c_attn,
                        c_proj: block.attn_c_proj,
                        n_head: config.n_head,
                        head_dim,
                        scale,
                    },
                    ln_2: block.ln_2,
                    mlp: Mlp {
                        c_fc: block.c_fc,
                        c_proj: block.mlp_c_proj,
                        activation: config.activation_function,
                    },
                }
            })
            .collect();
        Ok(Self {
            config: config.clone(),
            wte,
            wpe,
            blocks,
            ln_f: weights.ln_f,
            lm_head,
            device,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Returns whether any linear layer has quantized weights.
    pub fn is_quantized(&self) -> bool {
        self.lm_head.is_quantized()
            || self.blocks.iter().any(|block| {
                block.attn.c_attn.is_quantized()
                    || block.attn.c_proj.is_quantized()
                    || block.mlp.c_fc.is_quantized()
                    || block.mlp.c_proj.is_quantized()
            })
    }

    /// Creates an empty KV cache for `batch_size` sequences.
    pub fn new_cache(&self, batch_size: usize) -> KvCache {
        KvCache::new(self.config.n_layer, batch_size)
    }

    /// Computes final-LayerNorm hidden states `[batch, seq, n_embd]` for
    /// `input_ids` `[batch, seq]`. `attention_mask` `[batch, seq]` marks real
    /// tokens with 1 and padding with 0. Real tokens never attend to padding,
    /// and position ids count real tokens only, so left and right padding
    /// leave real positions unchanged.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.run(input_ids, attention_mask, None)
    }

    /// Like [`Self::hidden_states`], but attends to and extends `cache`.
    pub fn forward_with_cache(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        self.run(input_ids, attention_mask, Some(cache))
    }

    /// Computes logits `[batch, seq, vocab_size]`.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        self.logits(&self.hidden_states(input_ids, attention_mask)?)
    }

    /// Applies the language-model head to final-LayerNorm hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }

    fn run(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (batch, seq_len) = input_ids.dims2().map_err(|_| {
            Error::InvalidInput(format!(
                "input_ids must be 2-D [batch, seq], got shape {:?}",
                input_ids.dims()
            ))
        })?;
        if batch == 0 || seq_len == 0 {
            return Err(Error::InvalidInput(format!(
                "input_ids must not be empty, got shape [{batch}, {seq_len}]"
            )));
        }
        let token_ids = input_ids.to_dtype(DType::U32)?;
        self.check_token_ids(&token_ids)?;
        let is_real = read_mask(attention_mask, batch, seq_len)?;

        let (past_len, mut key_is_real, mut next_positions) = match cache.as_deref() {
            Some(cache) => {
                if cache.batch_size() != batch || cache.layers.len() != self.blocks.len() {
                    return Err(Error::InvalidInput(format!(
                        "KV cache is for batch size {} and {} layers, but the input has batch \
                         size {batch} and the model {} layers",
                        cache.batch_size(),
                        cache.layers.len(),
                        self.blocks.len()
                    )));
                }
                (
                    cache.seq_len(),
                    cache.key_is_real.clone(),
                    cache.next_positions.clone(),
                )
            }
            None => (0, vec![Vec::new(); batch], vec![0; batch]),
        };

        let positions = self.position_ids(&is_real, &mut next_positions)?;
        for (row, real) in key_is_real.iter_mut().zip(&is_real) {
            row.extend_from_slice(real);
        }
        let bias = attention_bias(&key_is_real, past_len, seq_len, &self.device)?;

        let flat_ids = token_ids.flatten_all()?;
        let position_ids = Tensor::from_vec(positions, batch * seq_len, &self.device)?;
        let token_embeddings = self.wte.lookup(&flat_ids)?;
        let position_embeddings = self.wpe.index_select(&position_ids, 0)?;
        let mut xs = (token_embeddings + position_embeddings)?.reshape((
            batch,
            seq_len,
            self.config.n_embd,
        ))?;

        for (index, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|cache| &mut cache.layers[index]);
            xs = block.forward(&xs, &bias, slot)?;
        }
        let hidden = self.ln_f.forward(&xs)?;

        if let Some(cache) = cache {
            cache.key_is_real = key_is_real;
            cache.next_positions = next_positions;
        }
        Ok(hidden)
    }

    fn check_token_ids(&self, token_ids: &Tensor) -> Result<()> {
        let max_id = token_ids.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max_id as usize >= self.config.vocab_size {
            return Err(Error::InvalidInput(format!(
                "token id {max_id} is out of range for vocab_size {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Assigns position ids that count real tokens per row, continuing from
    /// `next_positions`, and advances it. Padding reuses the next free id.
    fn position_ids(
        &self,
        is_real: &[Vec<bool>],
        next_positions: &mut [usize],
    ) -> Result<Vec<u32>> {
        let max_position = self.config.n_positions;
        let mut positions = Vec::with_capacity(is_real.len() * is_real.first().map_or(0, Vec::len));
        for (row, real) in is_real.iter().enumerate() {
            for &token_is_real in real {
                let position = next_positions[row];
                if token_is_real {
                    if position >= max_position {
                        return Err(Error::InvalidInput(format!(
                            "sequence {row} has more than n_positions = {max_position} real \
                             tokens; shorten the input"
                        )));
                    }
                    next_positions[row] += 1;
                }
                positions.push(position.min(max_position - 1) as u32);
            }
        }
        Ok(positions)
    }

    /// Returns the logits for the token following `ids`.
    pub fn next_token_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(Error::InvalidInput(
                "next_token_logits needs at least one token".to_string(),
            ));
        }
        let input = Tensor::from_slice(ids, (1, ids.len()), &self.device)?;
        let hidden = self.hidden_states(&input, None)?;
        let last = hidden.narrow(1, ids.len() - 1, 1)?;
        Ok(self.logits(&last)?.flatten_all()?.to_vec1()?)
    }

    /// Scores each continuation by its log-likelihood after `prefix`. The
    /// prefix runs once, and its KV cache is shared by all continuations,
    /// which run in right-padded batches of 16.
    pub fn continuation_scores(
        &self,
        prefix: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<ContinuationScore>> {
        if prefix.is_empty() {
            return Err(Error::InvalidInput(
                "the prefix must contain at least one token (for example the end-of-text \
                 token) so the first continuation token has a prediction"
                    .to_string(),
            ));
        }
        let mut prefix_cache = self.new_cache(1);
        let prefix_ids = Tensor::from_slice(prefix, (1, prefix.len()), &self.device)?;
        let prefix_hidden = self.forward_with_cache(&prefix_ids, None, &mut prefix_cache)?;
        let prefix_last = prefix_hidden.narrow(1, prefix.len() - 1, 1)?;
        let first_log_probs: Vec<f32> =
            candle_nn::ops::log_softmax(&self.logits(&prefix_last)?.flatten_all()?, D::Minus1)?
                .to_vec1()?;

        let mut scores = Vec::with_capacity(continuations.len());
        for chunk in continuations.chunks(CONTINUATION_CHUNK) {
            self.score_chunk(chunk, &prefix_cache, &first_log_probs, &mut scores)?;
        }
        Ok(scores)
    }

    fn score_chunk(
        &self,
        chunk: &[Vec<u32>],
        prefix_cache: &KvCache,
        first_log_probs: &[f32],
        scores: &mut Vec<ContinuationScore>,
    ) -> Result<()> {
        let max_len = chunk.iter().map(Vec::len).max().unwrap_or(0);
        let mut later_log_probs: Vec<Vec<f32>> = vec![Vec::new(); chunk.len()];
        if max_len > 1 {
            // Input position k predicts continuation token k + 1, so the last
            // token of each continuation is not fed. A one-token continuation
            // becomes an all-padding row, which still sees the prefix.
            let width = max_len - 1;
            let mut input = Vec::with_capacity(chunk.len() * width);
            let mut mask = Vec::with_capacity(chunk.len() * width);
            for ids in chunk {
                let fed = &ids[..ids.len().saturating_sub(1)];
                input.extend_from_slice(fed);
                input.resize(input.len() + width - fed.len(), 0);
                mask.extend(std::iter::repeat_n(1.0f32, fed.len()));
                mask.extend(std::iter::repeat_n(0.0f32, width - fed.len()));
            }
            let ids = Tensor::from_vec(input, (chunk.len(), width), &self.device)?;
            let mask = Tensor::from_vec(mask, (chunk.len(), width), &self.device)?;
            let mut cache = prefix_cache.repeat_rows(chunk.len())?;
            let hidden = self.forward_with_cache(&ids, Some(&mask), &mut cache)?;
            let log_probs = candle_nn::ops::log_softmax(&self.logits(&hidden)?, D::Minus1)?;
            let targets: Vec<Vec<u32>> = chunk
                .iter()
                .map(|ids| {
                    let mut row: Vec<u32> = ids.iter().skip(1).copied().collect();
                    row.resize(max_len - 1, 0);
                    row
                })
                .collect();
            let targets = Tensor::new(targets, &self.device)?.unsqueeze(2)?;
            let gathered: Vec<Vec<f32>> = log_probs.gather(&targets, 2)?.squeeze(2)?.to_vec2()?;
            later_log_probs = gathered;
        }
        for (row, ids) in chunk.iter().enumerate() {
            let mut token_log_probs = Vec::with_capacity(ids.len());
            if let Some(&first) = ids.first() {
                let log_prob = first_log_probs
                    .get(first as usize)
                    .copied()
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "token id {first} is out of range for vocab_size {}",
                            self.config.vocab_size
                        ))
                    })?;
                token_log_probs.push(log_prob);
                token_log_probs.extend_from_slice(&later_log_probs[row][..ids.len() - 1]);
            }
            let total = token_log_probs.iter().sum();
            scores.push(ContinuationScore {
                token_log_probs,
                total,
            });
        }
        Ok(())
    }

    /// Pools final-LayerNorm hidden states `[batch, seq, n_embd]` into
    /// `[batch, n_embd]` over the real tokens of `attention_mask`.
    pub fn pool(
        hidden: &Tensor,
        attention_mask: Option<&Tensor>,
        pooling: Pooling,
    ) -> Result<Tensor> {
        let (batch, seq_len, _) = hidden.dims3()?;
        let is_real = read_mask(attention_mask, batch, seq_len)?;
        let mut weights = Vec::with_capacity(batch * seq_len);
        for (row, real) in is_real.iter().enumerate() {
            let count = real.iter().filter(|&&r| r).count();
            let Some(last) = real.iter().rposition(|&r| r) else {
                return Err(Error::InvalidInput(format!(
                    "sequence {row} has no real tokens to pool"
                )));
            };
            for (index, &token_is_real) in real.iter().enumerate() {
                let weight = match pooling {
                    Pooling::Mean if token_is_real => 1.0 / count as f32,
                    Pooling::LastToken if index == last => 1.0,
                    _ => 0.0,
                };
                weights.push(weight);
            }
        }
        let weights = Tensor::from_vec(weights, (batch, seq_len, 1), hidden.device())?;
        Ok(hidden.broadcast_mul(&weights)?.sum(1)?)
    }

    /// Embeds token sequences as `[n, n_embd]` with the given pooling.
    pub fn embed(&self, sequences: &[Vec<u32>], pooling: Pooling) -> Result<Tensor> {
        let (ids, mask) = pad_batch(sequences, 0, &self.device)?;
        let hidden = self.hidden_states(&ids, Some(&mask))?;
        Self::pool(&hidden, Some(&mask), pooling)
    }
}

/// Right-pads `sequences` with `pad_id` into `input_ids` `[n, max_len]` (u32)
/// and `attention_mask` `[n, max_len]` (f32, 1 for real tokens).
pub fn pad_batch(sequences: &[Vec<u32>], pad_id: u32, device: &Device) -> Result<(Tensor, Tensor)> {
    let max_len = sequences.iter().map(Vec::len).max().unwrap_or(0);
    if sequences.is_empty() || max_len == 0 {
        return Err(Error::InvalidInput(
            "pad_batch needs at least one non-empty sequence".to_string(),
        ));
    }
    let mut ids = Vec::with_capacity(sequences.len() * max_len);
    let mut mask = Vec::with_capacity(sequences.len() * max_len);
    for sequence in sequences {
        ids.extend_from_slice(sequence);
        ids.resize(ids.len() + max_len - sequence.len(), pad_id);
        mask.extend(std::iter::repeat_n(1.0f32, sequence.len()));
        mask.extend(std::iter::repeat_n(0.0f32, max_len - sequence.len()));
    }
    let shape = (sequences.len(), max_len);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// Reads an attention mask into booleans (`value > 0.5` is a real token).
fn read_mask(
    attention_mask: Option<&Tensor>,
    batch: usize,
    seq_len: usize,
) -> Result<Vec<Vec<bool>>> {
    let Some(mask) = attention_mask else {
        return Ok(vec![vec![true; seq_len]; batch]);
    };
    if mask.dims() != [batch, seq_len] {
        return Err(Error::InvalidInput(format!(
            "attention_mask must have shape [{batch}, {seq_len}] like input_ids, got {:?}",
            mask.dims()
        )));
    }
    let values: Vec<Vec<f32>> = mask.to_dtype(DType::F32)?.to_vec2()?;
    Ok(values
        .into_iter()
        .map(|row| row.into_iter().map(|value| value > 0.5).collect())
        .collect())
}

/// Builds the additive attention bias `[batch, 1, seq_len, past_len + seq_len]`:
/// query `i` sees key `j` when `j <= past_len + i` and key `j` is real.
fn attention_bias(
    key_is_real: &[Vec<bool>],
    past_len: usize,
    seq_len: usize,
    device: &Device,
) -> Result<Tensor> {
    let total = past_len + seq_len;
    let mut bias = Vec::with_capacity(key_is_real.len() * seq_len * total);
    for real in key_is_real {
        for query in 0..seq_len {
            for (key, &key_real) in real.iter().enumerate() {
                let visible = key_real && key <= past_len + query;
                bias.push(if visible { 0.0 } else { MASKED_SCORE });
            }
        }
    }
    Ok(Tensor::from_vec(
        bias,
        (key_is_real.len(), 1, seq_len, total),
        device,
    )?)
}

fn check_weight_shapes(config: &Config, weights: &ModelWeights) -> Result<()> {
    let embd = config.n_embd;
    let inner = config.inner_size();
    let expect = |name: &str, actual: &[usize], expected: &[usize]| -> Result<()> {
        if actual != expected {
            return Err(Error::InvalidWeights(format!(
                "{name} has shape {actual:?} but the config needs {expected:?}"
            )));
        }
        Ok(())
    };
    expect("wte", weights.wte.dims(), &[config.vocab_size, embd])?;
    if let TokenEmbedding::Quantized(table) = &weights.wte {
        if is_float(table.dtype()) || embd % table.dtype().block_size() != 0 {
            return Err(Error::InvalidWeights(format!(
                "a quantized token embedding needs a quantized type whose block size divides \
                 n_embd = {embd}, got {:?}",
                table.dtype()
            )));
        }
    }
    expect("wpe", weights.wpe.dims(), &[config.n_positions, embd])?;
    if weights.blocks.len() != config.n_layer {
        return Err(Error::InvalidWeights(format!(
            "found {} transformer blocks but the config has n_layer = {}",
            weights.blocks.len(),
            config.n_layer
        )));
    }
    let linear_shape = |linear: &Linear| [linear.in_features(), linear.out_features()];
    for (index, block) in weights.blocks.iter().enumerate() {
        let prefix = format!("h.{index}");
        expect(&format!("{prefix}.ln_1"), &[block.ln_1.size()?], &[embd])?;
        expect(&format!("{prefix}.ln_2"), &[block.ln_2.size()?], &[embd])?;
        expect(
            &format!("{prefix}.attn.c_attn [in, out]"),
            &linear_shape(&block.c_attn),
            &[embd, 3 * embd],
        )?;
        expect(
            &format!("{prefix}.attn.c_proj [in, out]"),
            &linear_shape(&block.attn_c_proj),
            &[embd, embd],
        )?;
        expect(
            &format!("{prefix}.mlp.c_fc [in, out]"),
            &linear_shape(&block.c_fc),
            &[embd, inner],
        )?;
        expect(
            &format!("{prefix}.mlp.c_proj [in, out]"),
            &linear_shape(&block.mlp_c_proj),
            &[inner, embd],
        )?;
    }
    expect("ln_f", &[weights.ln_f.size()?], &[embd])?;
    if let Some(head) = &weights.lm_head {
        expect(
            "lm_head [in, out]",
            &linear_shape(head),
            &[embd, config.vocab_size],
        )?;
    }
    Ok(())
}
