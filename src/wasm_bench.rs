//! WebAssembly face of the GPT-2 throughput benchmark in
//! [`crate::model::bench`], called by `scripts/bench-gpt2.mjs`. It is built
//! only with the `bench` feature, so the page's module does not carry it.
#![cfg(feature = "bench")]

use wasm_bindgen::prelude::*;

use crate::model::bench;
use crate::model::{Config, Gpt2Model, LoadLimits, WeightFormat};

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, available in workers, pages and Node.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

fn to_js_error(error: crate::model::Error) -> JsError {
    JsError::new(&error.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|error| JsError::new(&error.to_string()))
}

/// Runs the whole benchmark (roof, block steps and every format) and
/// returns the report as JSON text.
#[wasm_bindgen(js_name = benchGpt2)]
pub fn bench_gpt2() -> Result<String, JsError> {
    let report = bench::run(performance_now).map_err(to_js_error)?;
    to_json(&report)
}

/// Returns a GPT-2-124M with random weights encoded as GGUF in `format`
/// (`f32`, `q8_0`, `q4k`, ...).
#[wasm_bindgen(js_name = benchGpt2Gguf)]
pub fn bench_gpt2_gguf(format: &str) -> Result<Vec<u8>, JsError> {
    let format: WeightFormat = format.parse().map_err(to_js_error)?;
    let config = bench::gpt2_small_config();
    let tensors =
        bench::random_gguf_tensors(&config, &candle_core::Device::Cpu).map_err(to_js_error)?;
    bench::gguf_bytes(&config, &tensors, format).map_err(to_js_error)
}

/// A loaded model whose prefill can be timed.
#[wasm_bindgen]
pub struct BenchModel {
    model: Gpt2Model,
}

#[wasm_bindgen]
impl BenchModel {
    /// Loads a model from GGUF bytes.
    #[wasm_bindgen(js_name = fromGguf)]
    pub fn from_gguf(bytes: &[u8]) -> Result<BenchModel, JsError> {
        let model = bench::load_gguf(bytes).map_err(to_js_error)?;
        Ok(BenchModel { model })
    }

    /// Loads a model from a Hugging Face `config.json` text and
    /// `model.safetensors` bytes.
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(config_json: &str, bytes: &[u8]) -> Result<BenchModel, JsError> {
        let config = Config::from_json(config_json).map_err(to_js_error)?;
        let device = candle_core::Device::Cpu;
        let model = Gpt2Model::from_safetensors_bytes(&config, bytes, &device, &LoadLimits::unlimited())
            .map_err(to_js_error)?;
        Ok(BenchModel { model })
    }

    /// Returns the logits `[PREFILL_BATCH, vocab_size]` at each row's last
    /// position of the benchmark batch, computed once without timing.
    #[wasm_bindgen(js_name = lastLogits)]
    pub fn last_logits(&self) -> Result<Vec<f32>, JsError> {
        bench::benchmark_batch_logits(&self.model).map_err(to_js_error)
    }

    /// Times prefill of the benchmark batch and returns tokens/s.
    #[wasm_bindgen(js_name = prefillTokensPerSecond)]
    pub fn prefill_tokens_per_second(&self) -> Result<f64, JsError> {
        bench::prefill_tokens_per_second(&self.model, performance_now).map_err(to_js_error)
    }
}
