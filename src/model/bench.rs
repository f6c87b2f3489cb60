//! Throughput benchmark of a GPT-2-124M-shaped model, shared by the native
//! example `examples/bench_gpt2.rs` and the wasm export in
//! `src/wasm_bench.rs`, so both targets time the same code.
//!
//! The caller passes a [`Clock`] because `std::time::Instant` panics on
//! `wasm32-unknown-unknown`.

use std::collections::HashMap;
use std::io::Cursor;

use candle_core::{Device, Tensor};
use serde::Serialize;

use super::gguf::{gguf_tensors_from_hf, write_gguf_with_options, GgufTensors};
use super::{
    Activation, Config, GgufModel, GgufWriteOptions, Gpt2Model, LoadLimits, Result,
    TokenizerStorage, WeightFormat,
};

/// Rows of the prefill batch.
pub const PREFILL_BATCH: usize = 8;
/// Tokens in each prefill row.
pub const PREFILL_LEN: usize = 128;
/// Tokens cached before incremental decoding is timed.
pub const DECODE_PREFIX_LEN: usize = 128;
/// Decoded tokens per timed run.
pub const DECODE_STEPS: usize = 32;
/// Side of the square f32 matmul that measures the roof.
pub const MATMUL_SIZE: usize = 2048;
/// Timed repetitions of each measurement. The fastest is reported because
/// other processes may share the CPU.
pub const REPEATS: usize = 3;
/// Weight formats in the order they are benchmarked.
pub const FORMATS: [WeightFormat; 3] = [WeightFormat::F32, WeightFormat::Q8_0, WeightFormat::Q4K];

/// Monotonic wall clock in milliseconds from an arbitrary origin.
pub type Clock = fn() -> f64;

/// Measurements of one weight format.
#[derive(Debug, Clone, Serialize)]
pub struct FormatReport {
    pub format: String,
    /// Size of the GGUF file that the model was loaded from.
    pub file_bytes: usize,
    pub prefill_tokens_per_second: f64,
    pub decode_tokens_per_second: f64,
}

/// Measurements of every format next to the matmul roof.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Threads candle may use for matmuls.
    pub threads: usize,
    /// GFLOP/s of one `MATMUL_SIZE`-cubed f32 matmul.
    pub roof_gflops: f64,
    /// Estimated FLOPs per prefill token, see [`prefill_flops_per_token`].
    pub prefill_flops_per_token: f64,
    /// Time of each step of one block at the prefill shape.
    pub block_steps: Vec<StepTime>,
    pub formats: Vec<FormatReport>,
}

/// GPT-2-124M hyperparameters (the `gpt2` checkpoint's config).
pub fn gpt2_small_config() -> Config {
    Config {
        vocab_size: 50257,
        n_positions: 1024,
        n_embd: 768,
        n_layer: 12,
        n_head: 12,
        n_inner: None,
        layer_norm_epsilon: 1e-5,
        activation_function: Activation::GeluTanh,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        bos_token_id: Some(50256),
        eos_token_id: Some(50256),
    }
}

/// Estimates the FLOPs of one prefill token as 2 x the weights of the
/// blocks' linear layers: `2 * n_layer * (3 + 1 + 4 + 4) * n_embd^2` with
/// `n_inner = 4 * n_embd`. Attention scores and the head, which runs on one
/// position per row, add about 2% at 128 tokens and are left out.
pub fn prefill_flops_per_token(config: &Config) -> f64 {
    let embd = config.n_embd as f64;
    let inner = config.inner_size() as f64;
    let per_layer = 3.0 * embd * embd + embd * embd + 2.0 * embd * inner;
    2.0 * config.n_layer as f64 * per_layer
}

/// Creates random weights with `GPT2Model` names: normal(0, 0.02) for
/// matrices and embeddings, ones and zeros for LayerNorm, zero biases.
pub fn random_hf_tensors(config: &Config, device: &Device) -> Result<HashMap<String, Tensor>> {
    let embd = config.n_embd;
    let inner = config.inner_size();
    let mut tensors = HashMap::new();
    let mut matrix = |name: String, rows: usize, cols: usize| -> Result<()> {
        tensors.insert(name, Tensor::randn(0f32, 0.02, (rows, cols), device)?);
        Ok(())
    };
    matrix("wte.weight".to_string(), config.vocab_size, embd)?;
    matrix("wpe.weight".to_string(), config.n_positions, embd)?;
    for layer in 0..config.n_layer {
        matrix(format!("h.{layer}.attn.c_attn.weight"), embd, 3 * embd)?;
        matrix(format!("h.{layer}.attn.c_proj.weight"), embd, embd)?;
        matrix(format!("h.{layer}.mlp.c_fc.weight"), embd, inner)?;
        matrix(format!("h.{layer}.mlp.c_proj.weight"), inner, embd)?;
    }

    let mut vector = |name: String, size: usize, value: f32| -> Result<()> {
        tensors.insert(name, Tensor::full(value, size, device)?);
        Ok(())
    };
    for layer in 0..config.n_layer {
        for norm in ["ln_1", "ln_2"] {
            vector(format!("h.{layer}.{norm}.weight"), embd, 1.0)?;
            vector(format!("h.{layer}.{norm}.bias"), embd, 0.0)?;
        }
        vector(format!("h.{layer}.attn.c_attn.bias"), 3 * embd, 0.0)?;
        vector(format!("h.{layer}.attn.c_proj.bias"), embd, 0.0)?;
        vector(format!("h.{layer}.mlp.c_fc.bias"), inner, 0.0)?;
        vector(format!("h.{layer}.mlp.c_proj.bias"), embd, 0.0)?;
    }
    vector("ln_f.weight".to_string(), embd, 1.0)?;
    vector("ln_f.bias".to_string(), embd, 0.0)?;
    Ok(tensors)
}

/// Creates random weights (see [`random_hf_tensors`]) in GGUF naming.
pub fn random_gguf_tensors(config: &Config, device: &Device) -> Result<GgufTensors> {
    gguf_tensors_from_hf(&random_hf_tensors(config, device)?)
}

/// Encodes `tensors` as a GGUF file with linear weights in `format`. Token
/// embeddings are stored in `format` too, so a quantized file contains no f32
/// copy of the 50,257 x 768 table.
pub fn gguf_bytes(config: &Config, tensors: &GgufTensors, format: WeightFormat) -> Result<Vec<u8>> {
    let options = GgufWriteOptions {
        format,
        tokenizer: TokenizerStorage::None,
        extra: &[],
        quantize_token_embeddings: true,
    };
    let mut bytes = Cursor::new(Vec::new());
    write_gguf_with_options(&mut bytes, config, tensors, &options)?;
    Ok(bytes.into_inner())
}

/// Returns the token ids `[batch, len]` that every run uses: a fixed
/// multiplicative hash of the position, modulo the vocabulary size.
pub fn token_ids(batch: usize, len: usize, vocab_size: usize, device: &Device) -> Result<Tensor> {
    let ids: Vec<u32> = (0..batch * len)
        .map(|i| ((i as u64 * 2654435761) % vocab_size as u64) as u32)
        .collect();
    Ok(Tensor::from_vec(ids, (batch, len), device)?)
}

/// Returns the shortest wall time in seconds of `REPEATS` runs of `run`,
/// after one untimed warm-up run.
fn best_seconds(clock: Clock, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    run()?;
    let mut best = f64::INFINITY;
    for _ in 0..REPEATS {
        let start = clock();
        run()?;
        best = best.min((clock() - start) / 1000.0);
    }
    Ok(best)
}

/// Computes hidden states for the whole batch and logits at each row's last
/// position, which is what one prefill step of batched scoring does.
fn prefill_last_logits(model: &Gpt2Model, ids: &Tensor) -> Result<Tensor> {
    let (_, len) = ids.dims2()?;
    let hidden = model.hidden_states(ids, None)?;
    model.logits(&hidden.narrow(1, len - 1, 1)?)
}

/// Returns the logits `[PREFILL_BATCH, vocab_size]` at each row's last
/// position of the batch that [`prefill_tokens_per_second`] times, flattened row-major.
pub fn benchmark_batch_logits(model: &Gpt2Model) -> Result<Vec<f32>> {
    let ids = token_ids(PREFILL_BATCH, PREFILL_LEN, model.config().vocab_size, model.device())?;
    Ok(prefill_last_logits(model, &ids)?.flatten_all()?.to_vec1()?)
}

/// Measures prefill tokens/s on `PREFILL_BATCH` x `PREFILL_LEN` tokens.
pub fn prefill_tokens_per_second(model: &Gpt2Model, clock: Clock) -> Result<f64> {
    let device = model.device();
    let ids = token_ids(PREFILL_BATCH, PREFILL_LEN, model.config().vocab_size, device)?;
    let seconds = best_seconds(clock, || {
        prefill_last_logits(model, &ids)?.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    Ok((PREFILL_BATCH * PREFILL_LEN) as f64 / seconds)
}

/// Measures incremental decoding tokens/s with the KV cache, batch 1,
/// greedy, after a `DECODE_PREFIX_LEN`-token prefix.
pub fn decode_tokens_per_second(model: &Gpt2Model, clock: Clock) -> Result<f64> {
    let device = model.device();
    let prefix = token_ids(1, DECODE_PREFIX_LEN, model.config().vocab_size, device)?;
    let mut prefix_cache = model.new_cache(1);
    model.forward_with_cache(&prefix, None, &mut prefix_cache)?;
    let seconds = best_seconds(clock, || {
        let mut cache = prefix_cache.clone();
        let mut next = Tensor::new(&[[17u32]], device)?;
        for _ in 0..DECODE_STEPS {
            let hidden = model.forward_with_cache(&next, None, &mut cache)?;
            let logits = model.logits(&hidden)?;
            next = logits.flatten_all()?.argmax(0)?.reshape((1, 1))?;
        }
        Ok(())
    })?;
    Ok(DECODE_STEPS as f64 / seconds)
}

/// Measures the GFLOP/s of one `MATMUL_SIZE`-cubed f32 matmul.
pub fn matmul_gflops(clock: Clock) -> Result<f64> {
    let device = Device::Cpu;
    let a = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), &device)?;
    let b = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), &device)?;
    let seconds = best_seconds(clock, || {
        a.matmul(&b)?.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    let flops = 2.0 * (MATMUL_SIZE as f64).powi(3);
    Ok(flops / seconds / 1e9)
}

/// Milliseconds that one step of a transformer block takes at the prefill
/// shape, timed alone on random inputs.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    pub step: String,
    pub milliseconds: f64,
}

/// Times each step of one GPT-2-124M block at the prefill shape
/// (`PREFILL_BATCH` x `PREFILL_LEN` rows) to show where prefill time goes.
/// The model runs every step `n_layer` times per prefill. Steps marked
/// "fused" are the kernels of `ops.rs` that the model uses for inference,
/// next to the candle ops they replace. Steps marked "packed" run the
/// matmul of `gemm.rs`, which the model uses for inference on wasm32 only.
pub fn profile_block_steps(clock: Clock) -> Result<Vec<StepTime>> {
    let device = Device::Cpu;
    let config = gpt2_small_config();
    let (batch, len, embd) = (PREFILL_BATCH, PREFILL_LEN, config.n_embd);
    let (heads, head_dim, inner) = (config.n_head, config.head_dim(), config.inner_size());
    let rows = batch * len;
    let randn = |shape: &[usize]| Tensor::randn(0f32, 1.0, shape, &device);
    let xs = randn(&[batch, len, embd])?;
    let ones = Tensor::ones(embd, candle_core::DType::F32, &device)?;
    let zeros = Tensor::zeros(embd, candle_core::DType::F32, &device)?;
    let flat = randn(&[rows, embd])?;
    let w_attn = randn(&[embd, 3 * embd])?;
    let w_proj = randn(&[embd, embd])?;
    let w_fc = randn(&[embd, inner])?;
    let w_fc_out = randn(&[inner, embd])?;
    let hidden = randn(&[rows, inner])?;
    let bias_attn = randn(&[3 * embd])?;
    let qkv = randn(&[batch, len, 3 * embd])?;
    let query = randn(&[batch, heads, len, head_dim])?;
    let key = randn(&[batch, heads, len, head_dim])?;
    let scores = randn(&[batch, heads, len, len])?;
    let mask = randn(&[batch, 1, len, len])?;
    let q8_fc = candle_core::quantized::QTensor::quantize(
        &w_fc.t()?.contiguous()?,
        candle_core::quantized::GgmlDType::Q8_0,
    )?;

    let mut steps = Vec::new();
    let mut time = |step: &str, run: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let seconds = best_seconds(clock, run)?;
        steps.push(StepTime {
            step: step.to_string(),
            milliseconds: seconds * 1000.0,
        });
        Ok(())
    };
    time("layer_norm [1024, 768]", &mut || {
        candle_nn::ops::layer_norm(&xs, &ones, &zeros, 1e-5)?;
        Ok(())
    })?;
    time("matmul c_attn 1024x768x2304", &mut || {
        flat.matmul(&w_attn)?;
        Ok(())
    })?;
    time("matmul c_attn, packed", &mut || {
        super::ops::matmul_inference(&flat, &w_attn)?;
        Ok(())
    })?;
    time("bias add [1024, 2304]", &mut || {
        qkv.reshape((rows, 3 * embd))?.broadcast_add(&bias_attn)?;
        Ok(())
    })?;
    time("split q, k, v into heads", &mut || {
        for index in 0..3 {
            qkv.narrow(2, index * embd, embd)?
                .reshape((batch, len, heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
        }
        Ok(())
    })?;
    time("bias add, fused", &mut || {
        super::ops::add_bias(&qkv.reshape((rows, 3 * embd))?, &bias_attn)?;
        Ok(())
    })?;
    time("scores q k^T", &mut || {
        query.matmul(&key.t()?)?;
        Ok(())
    })?;
    time("scale, mask add and softmax", &mut || {
        candle_nn::ops::softmax_last_dim(&(&scores * 0.125)?.broadcast_add(&mask)?)?;
        Ok(())
    })?;
    time("scale, mask add and softmax, fused", &mut || {
        super::ops::scaled_masked_softmax(&scores, &mask, 0.125)?;
        Ok(())
    })?;
    time("probs v and merge heads", &mut || {
        scores
            .matmul(&key)?
            .transpose(1, 2)?
            .reshape((batch, len, embd))?;
        Ok(())
    })?;
    time("matmul attn c_proj 1024x768x768", &mut || {
        flat.matmul(&w_proj)?;
        Ok(())
    })?;
    time("matmul attn c_proj, packed", &mut || {
        super::ops::matmul_inference(&flat, &w_proj)?;
        Ok(())
    })?;
    time("residual add [1024, 768]", &mut || {
        (&xs + &xs)?;
        Ok(())
    })?;
    time("matmul c_fc 1024x768x3072", &mut || {
        flat.matmul(&w_fc)?;
        Ok(())
    })?;
    time("matmul c_fc, packed", &mut || {
        super::ops::matmul_inference(&flat, &w_fc)?;
        Ok(())
    })?;
    time("gelu [1024, 3072]", &mut || {
        hidden.gelu()?;
        Ok(())
    })?;
    time("gelu [1024, 3072], fused", &mut || {
        super::ops::gelu_tanh(&hidden)?;
        Ok(())
    })?;
    time("matmul mlp c_proj 1024x3072x768", &mut || {
        hidden.matmul(&w_fc_out)?;
        Ok(())
    })?;
    time("matmul mlp c_proj, packed", &mut || {
        super::ops::matmul_inference(&hidden, &w_fc_out)?;
        Ok(())
    })?;
    time("q8_0 dequantize 3072x768", &mut || {
        q8_fc.dequantize(&device)?;
        Ok(())
    })?;
    time("matmul c_fc with transposed weight", &mut || {
        let dense = q8_fc.dequantize(&device)?;
        flat.matmul(&dense.t()?)?;
        Ok(())
    })?;
    time("matmul c_fc with transposed weight, packed", &mut || {
        let dense = q8_fc.dequantize(&device)?;
        super::ops::matmul_inference(&flat, &dense.t()?)?;
        Ok(())
    })?;
    Ok(steps)
}

/// Loads a model from GGUF bytes on the CPU without a memory limit.
pub fn load_gguf(bytes: &[u8]) -> Result<Gpt2Model> {
    Ok(GgufModel::from_bytes(bytes, &Device::Cpu, &LoadLimits::unlimited())?.model)
}

/// Runs the whole benchmark: the matmul roof, the block steps, then for
/// each of [`FORMATS`] a random model written to GGUF, loaded back, and timed.
pub fn run(clock: Clock) -> Result<BenchReport> {
    let config = gpt2_small_config();
    let roof_gflops = matmul_gflops(clock)?;
    let block_steps = profile_block_steps(clock)?;
    let tensors = random_gguf_tensors(&config, &Device::Cpu)?;
    let mut formats = Vec::with_capacity(FORMATS.len());
    for format in FORMATS {
        let bytes = gguf_bytes(&config, &tensors, format)?;
        let file_bytes = bytes.len();
        let model = load_gguf(&bytes)?;
        drop(bytes);
        let prefill = prefill_tokens_per_second(&model, clock)?;
        let decode = decode_tokens_per_second(&model, clock)?;
        formats.push(FormatReport {
            format: format.name().to_string(),
            file_bytes,
            prefill_tokens_per_second: prefill,
            decode_tokens_per_second: decode,
        });
    }
    Ok(BenchReport {
        threads: candle_core::utils::get_num_threads(),
        roof_gflops,
        prefill_flops_per_token: prefill_flops_per_token(&config),
        block_steps,
        formats,
    })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn prefill_flops_of_gpt2_small() {
        // 12 layers x 12 x 768^2 weights = 84,934,656; twice that in FLOPs.
        let flops = prefill_flops_per_token(&gpt2_small_config());
        assert_eq!(flops, 169_869_312.0);
    }

    #[test]
    fn token_ids_stay_in_vocabulary() {
        let ids: Vec<Vec<u32>> = token_ids(2, 3, 7, &Device::Cpu).unwrap().to_vec2().unwrap();
        // 2654435761 mod 7 = 5, so id i is 5i mod 7.
        assert_eq!(ids, vec![vec![0, 5, 3], vec![1, 6, 4]]);
    }
}
