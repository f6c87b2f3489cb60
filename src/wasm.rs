//! The page's boundary: converts JavaScript values, forwards to the
//! pipeline, and returns JSON text. No analysis logic lives here.

use crate::events::{self, EncodingChoice};
use crate::pipeline::{self, AnalyzeOptions};
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
    /// `progress(step, share)` is called as steps advance.
    pub fn analyze(
        &self,
        name: &str,
        options: JsValue,
        progress: Option<js_sys::Function>,
    ) -> Result<String, JsError> {
        let options: AnalyzeOptions = if options.is_undefined() || options.is_null() {
            AnalyzeOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options)
                .map_err(|error| JsError::new(&format!("invalid options: {error}")))?
        };
        let mut report_progress = |step: &str, share: f64| {
            if let Some(callback) = &progress {
                if let Err(error) =
                    callback.call2(&JsValue::NULL, &JsValue::from_str(step), &share.into())
                {
                    log::warn!("progress callback failed: {error:?}");
                }
            }
        };
        let report = pipeline::analyze(name, &self.bytes, &options, &mut report_progress)
            .map_err(|error| JsError::new(&error.to_string()))?;
        serde_json::to_string(&report)
            .map_err(|error| JsError::new(&format!("cannot serialize the report: {error}")))
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
