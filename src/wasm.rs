//! The page's boundary: converts JavaScript values, forwards to the
//! pipeline, and returns JSON text. No analysis logic lives here.

use crate::analysis::segments::Embeddings;
use crate::analysis::text::TextModel;
use crate::behavior::{BehaviorModel, Trainer};

use crate::events::{self, EncodingChoice};
use crate::model::{LoadLimits, WeightFormat};
use crate::analysis::shard::Shard;
use crate::pipeline::{self, AnalyzeOptions, ShardResult};
use crate::report::Report;
use wasm_bindgen::prelude::*;

/// Installs the panic hook and the console logger once per worker.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    if log::set_logger(&CONSOLE_LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// The core's version, for the page footer and bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A log file received in chunks (`File.stream()`), held in wasm memory so
/// it is copied only once.
#[wasm_bindgen]
pub struct Upload {
    bytes: Vec<u8>,
}

#[wasm_bindgen]
impl Upload {
    /// Reserves room for `size` bytes; fails cleanly when memory is short.
    #[wasm_bindgen(constructor)]
    pub fn new(size: usize) -> Result<Upload, JsError> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(size).map_err(|_| {
            JsError::new(&format!(
                "not enough memory to load a file of {size} bytes in this browser tab"
            ))
        })?;
        Ok(Upload { bytes })
    }

    /// Appends one chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.bytes
            .try_reserve(chunk.len())
            .map_err(|_| JsError::new("not enough memory to hold the file in this browser tab"))?;
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Returns how the file would be read (columns, detected mapping, first
    /// rows) as JSON text, or `null` when it is not a delimited table.
    pub fn preview(&self, encoding: Option<String>) -> Result<String, JsError> {
        let choice = match encoding.as_deref() {
            None | Some("") => EncodingChoice::Auto,
            Some(name) => EncodingChoice::parse(name)
                .ok_or_else(|| JsError::new(&format!("unknown encoding {name:?}")))?,
        };
        let preview = events::preview(&self.bytes, choice);
        serde_json::to_string(&preview)
            .map_err(|error| JsError::new(&format!("cannot serialize the preview: {error}")))
    }

    /// Parses the file and builds its timelines without the analyses, and
    /// returns `{"events", "heap_bytes"}` as JSON text, for benchmarks.
    pub fn measure_ingest(&self, name: &str) -> Result<String, JsError> {
        let resolved = AnalyzeOptions::default()
            .resolve()
            .map_err(|error| JsError::new(&error.to_string()))?;
        let parsed = pipeline::parse(name, &self.bytes, &resolved, &mut |_, _| {})
            .map_err(|error| JsError::new(&error.to_string()))?;
        Ok(format!(
            "{{\"events\":{},\"heap_bytes\":{}}}",
            parsed.log.events.len(),
            parsed.log.heap_bytes()
        ))
    }

    /// Runs the analysis and returns the report as JSON text (the same text
    /// the command line writes), so both faces share one serializer.
    /// `progress(step, share)` is called as steps advance. `model` contains the
    /// bytes of a saved behavior model; without it one is trained first.
    pub fn analyze(
        &self,
        name: &str,
        options: JsValue,
        progress: Option<js_sys::Function>,
        model: Option<Vec<u8>>,
    ) -> Result<String, JsError> {
        let options = read_options(options)?;
        let mut report_progress = progress_callback(progress);
        let report = pipeline::analyze(name, &self.bytes, &options, model.as_deref(), None, &mut report_progress)
            .map_err(js_error)?;
        to_json(&report)
    }

    /// Parses the file and builds the report without the model sections,
    /// for a page that shows results while a model trains.
    pub fn start(
        &self,
        name: &str,
        options: JsValue,
        progress: Option<js_sys::Function>,
    ) -> Result<Session, JsError> {
        let options = read_options(options)?;
        let resolved = options.resolve().map_err(js_error)?;
        let mut report_progress = progress_callback(progress);
        let parsed = pipeline::parse(name, &self.bytes, &resolved, &mut report_progress).map_err(js_error)?;
        let report = pipeline::basic_report(&parsed, &resolved, &mut report_progress);
        Ok(Session {
            parsed,
            resolved,
            report,
            trainer: None,
            model: None,
            model_bytes: None,
            embeddings: None,
        })
    }
}

/// One analyzed log in the page: the basic report, then a behavior model
/// trained step by step (so the worker can report progress and stop), then
/// the full report.
#[wasm_bindgen]
pub struct Session {
    parsed: pipeline::Parsed,
    resolved: pipeline::Resolved,
    report: Report,
    trainer: Option<Trainer>,
    model: Option<BehaviorModel>,
    /// The file a loaded model came from, returned as it is by "Save model".
    model_bytes: Option<Vec<u8>>,
    /// The behavior model's user embeddings, for the text model to compare with.
    embeddings: Option<Embeddings>,
}

#[wasm_bindgen]
impl Session {
    /// Returns the report so far as JSON text.
    pub fn report(&self) -> Result<String, JsError> {
        to_json(&self.report)
    }

    /// Returns whether the options leave the model out.
    pub fn skips_model(&self) -> bool {
        self.resolved.skip_model
    }

    /// Uses a saved behavior model instead of training one.
    pub fn load_model(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let model = BehaviorModel::from_gguf(bytes, &LoadLimits::max_bytes(1 << 30)).map_err(js_error)?;
        self.model = Some(model);
        self.model_bytes = Some(bytes.to_vec());
        self.trainer = None;
        Ok(())
    }

    /// Prepares training; returns the number of steps planned. A log that
    /// cannot train a model fails here with the reason.
    pub fn start_training(&mut self) -> Result<usize, JsError> {
        let trainer = pipeline::trainer(&self.parsed, &self.resolved, false).map_err(js_error)?;
        let steps = trainer.total_steps();
        self.trainer = Some(trainer);
        Ok(steps)
    }

    /// Runs one training step and returns its progress as JSON text
    /// (`epoch`, `epochs`, `step`, `steps`, `loss`, `validation_loss`,
    /// `tokens_per_second`, `done`).
    pub fn train_step(&mut self) -> Result<String, JsError> {
        let trainer = self
            .trainer
            .as_mut()
            .ok_or_else(|| JsError::new("training has not started"))?;
        let progress = trainer.step().map_err(js_error)?;
        to_json(&progress)
    }

    /// Stops training at once; the best model so far is kept.
    pub fn cancel_training(&mut self) {
        if let Some(trainer) = self.trainer.as_mut() {
            trainer.cancel();
        }
    }

    /// Ends training and keeps the best model so far as the session's model,
    /// so that `model_file` can return it before the report is completed.
    pub fn finish_training(&mut self) -> Result<(), JsError> {
        if let Some(trainer) = self.trainer.take() {
            self.model = Some(trainer.finish().map_err(js_error)?);
            self.model_bytes = None;
        }
        Ok(())
    }

    /// Completes the report with the trained or loaded model and returns it
    /// as JSON text.
    pub fn finish(&mut self, progress: Option<js_sys::Function>) -> Result<String, JsError> {
        self.finish_training()?;
        let model = require_model(&self.model)?;
        let mut report_progress = progress_callback(progress);
        let embeddings = pipeline::complete(&self.parsed, &self.resolved, model, &mut self.report, &mut report_progress)
            .map_err(js_error)?;
        self.embeddings = Some(embeddings);
        to_json(&self.report)
    }

    /// Reads the users' sentences with a text GPT-2 (GGUF bytes) and returns
    /// the report with its `text_model` section, as JSON text. Runs after
    /// `finish` to compare with the behavior model, or on its own.
    pub fn read_with_text_model(
        &mut self,
        name: &str,
        bytes: &[u8],
        progress: Option<js_sys::Function>,
    ) -> Result<String, JsError> {
        let mut report_progress = progress_callback(progress);
        report_progress("text", 0.0);
        let limits = LoadLimits::max_bytes(TEXT_MODEL_MEMORY_LIMIT);
        let text = TextModel::from_gguf(name, bytes, &limits, self.resolved.text_lang).map_err(js_error)?;
        pipeline::add_text_model(
            &self.parsed,
            &self.resolved,
            &text,
            self.embeddings.as_ref(),
            &mut self.report,
            &mut report_progress,
        )
        .map_err(js_error)?;
        to_json(&self.report)
    }

    /// Records why the text model could not read the log and returns the report.
    pub fn text_model_failed(&mut self, reason: &str) -> Result<String, JsError> {
        self.report.text_model_note = Some(reason.to_string());
        to_json(&self.report)
    }

    /// Runs shard `index` of `count` of the model pass with the trained or
    /// loaded model, and returns its result as a JavaScript object for
    /// [`Session::finish_shards`]. The session that merges may live in
    /// another worker, but it must hold the same file, options and model.
    pub fn run_shard(
        &mut self,
        index: usize,
        count: usize,
        progress: Option<js_sys::Function>,
    ) -> Result<JsValue, JsError> {
        let shard = Shard::new(index, count).map_err(|error| JsError::new(&error))?;
        self.finish_training()?;
        let model = require_model(&self.model)?;
        let mut report_progress = progress_callback(progress);
        let result = pipeline::run_shard(&self.parsed, &self.resolved, model, shard, &mut report_progress)
            .map_err(js_error)?;
        serde_wasm_bindgen::to_value(&result)
            .map_err(|error| JsError::new(&format!("cannot convert the result of shard {index} of {count}: {error}")))
    }

    /// Completes the report from the results of every shard of one model
    /// pass (an array of [`Session::run_shard`] results, in any order) and
    /// returns it as JSON text.
    pub fn finish_shards(&mut self, shards: JsValue, progress: Option<js_sys::Function>) -> Result<String, JsError> {
        let shards: Vec<ShardResult> = serde_wasm_bindgen::from_value(shards)
            .map_err(|error| JsError::new(&format!("invalid shard results: {error}")))?;
        self.finish_training()?;
        let model = require_model(&self.model)?;
        let mut report_progress = progress_callback(progress);
        let embeddings =
            pipeline::merge_shards(&self.parsed, &self.resolved, model, shards, &mut self.report, &mut report_progress)
                .map_err(js_error)?;
        self.embeddings = Some(embeddings);
        to_json(&self.report)
    }

    /// Records why the model sections are missing and returns the report.
    pub fn finish_without_model(&mut self, reason: &str) -> Result<String, JsError> {
        self.report.model_note = Some(reason.to_string());
        to_json(&self.report)
    }

    /// Returns the model as a GGUF file (`q8_0` or `f32`), for "Save
    /// model" and for the workers that share the model pass. A loaded model
    /// is returned as the file it was read from.
    pub fn model_file(&self, dtype: Option<String>) -> Result<Vec<u8>, JsError> {
        if let Some(bytes) = &self.model_bytes {
            return Ok(bytes.clone());
        }
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| JsError::new("no trained model to save yet"))?;
        let format: WeightFormat = dtype
            .as_deref()
            .unwrap_or("q8_0")
            .parse()
            .map_err(js_error)?;
        model.to_gguf(format).map_err(js_error)
    }
}

/// Largest text model the page loads, in bytes after loading. A wasm
/// instance has 4 GiB of address space, and the file itself is held too.
const TEXT_MODEL_MEMORY_LIMIT: u64 = 1536 << 20;

fn require_model(model: &Option<BehaviorModel>) -> Result<&BehaviorModel, JsError> {
    model
        .as_ref()
        .ok_or_else(|| JsError::new("no behavior model: train or load one first"))
}

fn js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|error| JsError::new(&format!("cannot serialize: {error}")))
}

fn read_options(options: JsValue) -> Result<AnalyzeOptions, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(AnalyzeOptions::default());
    }
    serde_wasm_bindgen::from_value(options)
        .map_err(|error| JsError::new(&format!("invalid options: {error}")))
}

/// Wraps an optional JavaScript `progress(step, share)` function.
fn progress_callback(progress: Option<js_sys::Function>) -> impl FnMut(&str, f64) {
    move |step: &str, share: f64| {
        if let Some(callback) = &progress {
            if let Err(error) = callback.call2(&JsValue::NULL, &JsValue::from_str(step), &share.into()) {
                log::warn!("progress callback failed: {error:?}");
            }
        }
    }
}

struct ConsoleLogger;

static CONSOLE_LOGGER: ConsoleLogger = ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = JsValue::from_str(&format!("[{}] {}", record.target(), record.args()));
        match record.level() {
            log::Level::Error => web_sys::console::error_1(&text),
            log::Level::Warn => web_sys::console::warn_1(&text),
            _ => web_sys::console::log_1(&text),
        }
    }

    fn flush(&self) {}
}
