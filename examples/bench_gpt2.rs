//! Throughput of a GPT-2-124M-shaped model with random weights on the CPU.
//!
//! Prints prefill tokens/s for a batch of 8 x 128 tokens and incremental
//! decoding tokens/s (batch 1, after a 128-token prefix) for f32, q8_0 and
//! q4k linear weights, next to the GFLOP/s of a large f32 matmul as a roof.
//!
//! Run with optimizations, for example:
//! `cargo run --release --example bench_gpt2`

use std::collections::HashMap;
use std::io::Cursor;
use std::time::Instant;

use behavior_lens::model::gguf::{gguf_tensors_from_hf, write_gguf};
use behavior_lens::model::{
    Config, GgufModel, Gpt2Model, LoadLimits, TokenizerStorage, WeightFormat,
};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

const PREFILL_BATCH: usize = 8;
const PREFILL_LEN: usize = 128;
const DECODE_PREFIX_LEN: usize = 128;
const DECODE_STEPS: usize = 32;
const MATMUL_SIZE: usize = 2048;
/// Timed repetitions of each measurement. The fastest is reported because
/// other processes may share the CPU.
const REPEATS: usize = 3;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn gpt2_small_config() -> Config {
    Config {
        vocab_size: 50257,
        n_positions: 1024,
        n_embd: 768,
        n_layer: 12,
        n_head: 12,
        n_inner: None,
        layer_norm_epsilon: 1e-5,
        activation_function: behavior_lens::model::Activation::GeluTanh,
        scale_attn_weights: true,
        scale_attn_by_inverse_layer_idx: false,
        bos_token_id: Some(50256),
        eos_token_id: Some(50256),
    }
}

/// Creates random weights with `GPT2Model` names, normal(0, 0.02) for
/// matrices and ones/zeros for LayerNorm.
fn random_weights(config: &Config, device: &Device) -> BenchResult<HashMap<String, Tensor>> {
    let embd = config.n_embd;
    let inner = config.inner_size();
    let mut tensors = HashMap::new();
    let mut matrix = |name: String, rows: usize, cols: usize| -> BenchResult<()> {
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
    let mut vector = |name: String, size: usize, value: f32| -> BenchResult<()> {
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

fn token_ids(batch: usize, len: usize, vocab_size: usize, device: &Device) -> BenchResult<Tensor> {
    let ids: Vec<u32> = (0..batch * len)
        .map(|i| ((i as u64 * 2654435761) % vocab_size as u64) as u32)
        .collect();
    Ok(Tensor::from_vec(ids, (batch, len), device)?)
}

/// Returns the shortest wall time in seconds of `REPEATS` runs of `run`,
/// after one untimed warm-up run.
fn best_seconds(mut run: impl FnMut() -> BenchResult<()>) -> BenchResult<f64> {
    run()?;
    let mut best = f64::INFINITY;
    for _ in 0..REPEATS {
        let start = Instant::now();
        run()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Measures prefill tokens/s: hidden states for the whole batch and logits
/// at each row's last position.
fn prefill_tokens_per_second(model: &Gpt2Model, device: &Device) -> BenchResult<f64> {
    let ids = token_ids(
        PREFILL_BATCH,
        PREFILL_LEN,
        model.config().vocab_size,
        device,
    )?;
    let seconds = best_seconds(|| {
        let hidden = model.hidden_states(&ids, None)?;
        let logits = model.logits(&hidden.narrow(1, PREFILL_LEN - 1, 1)?)?;
        logits.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    Ok((PREFILL_BATCH * PREFILL_LEN) as f64 / seconds)
}

/// Measures incremental decoding tokens/s with the KV cache, batch 1,
/// greedy, after a `DECODE_PREFIX_LEN`-token prefix.
fn decode_tokens_per_second(model: &Gpt2Model, device: &Device) -> BenchResult<f64> {
    let prefix = token_ids(1, DECODE_PREFIX_LEN, model.config().vocab_size, device)?;
    let mut prefix_cache = model.new_cache(1);
    model.forward_with_cache(&prefix, None, &mut prefix_cache)?;
    let seconds = best_seconds(|| {
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

fn matmul_gflops(device: &Device) -> BenchResult<f64> {
    let a = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), device)?;
    let b = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), device)?;
    let seconds = best_seconds(|| {
        a.matmul(&b)?.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    let flops = 2.0 * (MATMUL_SIZE as f64).powi(3);
    Ok(flops / seconds / 1e9)
}

fn main() -> BenchResult<()> {
    let device = Device::Cpu;
    let config = gpt2_small_config();
    println!(
        "GPT-2-124M shape with random weights, {} threads",
        candle_core::utils::get_num_threads()
    );
    println!(
        "f32 matmul {MATMUL_SIZE}x{MATMUL_SIZE}x{MATMUL_SIZE}: {:.1} GFLOP/s",
        matmul_gflops(&device)?
    );

    let hf_tensors = random_weights(&config, &device)?;
    let gguf_tensors = gguf_tensors_from_hf(&hf_tensors)?;
    println!(
        "{:<6} {:>12} {:>22} {:>22}",
        "format", "file bytes", "prefill 8x128 tok/s", "decode tok/s"
    );
    for format in [WeightFormat::F32, WeightFormat::Q8_0, WeightFormat::Q4K] {
        let model = if format == WeightFormat::F32 {
            let vb = VarBuilder::from_tensors(hf_tensors.clone(), DType::F32, &device);
            (Gpt2Model::new(&config, vb)?, 0)
        } else {
            let mut bytes = Cursor::new(Vec::new());
            write_gguf(
                &mut bytes,
                &config,
                &gguf_tensors,
                format,
                TokenizerStorage::None,
            )?;
            let bytes = bytes.into_inner();
            let loaded = GgufModel::from_bytes(&bytes, &device, &LoadLimits::unlimited())?;
            (loaded.model, bytes.len())
        };
        let (model, file_bytes) = model;
        let prefill = prefill_tokens_per_second(&model, &device)?;
        let decode = decode_tokens_per_second(&model, &device)?;
        println!(
            "{:<6} {file_bytes:>12} {prefill:>22.1} {decode:>22.1}",
            format.name()
        );
    }
    Ok(())
}
