//! The main job, shared by the command line and the page: options in,
//! report out.

use crate::events::{
    self, parse_mapping_spec, EncodingChoice, EventLog, Format, IngestError, IngestOptions, Zone,
};
use crate::report::{self, Report};
use crate::timeline::sentence::Lang;
use crate::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};
use serde::Deserialize;
use thiserror::Error;

/// Options as the page sends them (JSON) and the command line builds them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AnalyzeOptions {
    /// Format name, or empty to detect.
    pub format: Option<String>,
    /// `user=COL,item=COL,...`.
    pub mapping: Option<String>,
    /// `auto`, `utf-8` or `gb18030`.
    pub encoding: Option<String>,
    /// IANA zone or offset for times without one; UTC when absent.
    pub timezone: Option<String>,
    pub day_first: bool,
    pub keep_duplicates: bool,
    pub session_gap_minutes: Option<f64>,
    /// `zh` or `en`.
    pub lang: Option<String>,
}

/// A problem with the options themselves, or an unusable log.
#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Options resolved into the types each layer takes.
pub struct Resolved {
    pub ingest: IngestOptions,
    pub lang: Lang,
    pub session_gap_ms: i64,
}

impl AnalyzeOptions {
    pub fn resolve(&self) -> Result<Resolved, AnalyzeError> {
        let invalid = AnalyzeError::InvalidOption;
        let format = match self.format.as_deref().map(str::trim) {
            None | Some("") | Some("auto") => None,
            Some(name) => Some(Format::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                invalid(format!(
                    "unknown format {name:?}; expected one of {}",
                    names.join(", ")
                ))
            })?),
        };
        let mapping = match self.mapping.as_deref() {
            None => Vec::new(),
            Some(spec) => parse_mapping_spec(spec).map_err(invalid)?,
        };
        let encoding = match self.encoding.as_deref() {
            None | Some("") => EncodingChoice::Auto,
            Some(name) => EncodingChoice::parse(name).ok_or_else(|| {
                invalid(format!(
                    "unknown encoding {name:?}; expected auto, utf-8 or gb18030"
                ))
            })?,
        };
        let zone = match self.timezone.as_deref() {
            None | Some("") => Zone::default(),
            Some(name) => Zone::parse(name).map_err(invalid)?,
        }
        .with_day_first(self.day_first);
        let lang = match self.lang.as_deref() {
            None | Some("") => Lang::Zh,
            Some(name) => Lang::parse(name)
                .ok_or_else(|| invalid(format!("unknown language {name:?}; expected zh or en")))?,
        };
        let session_gap_ms = match self.session_gap_minutes {
            None => DEFAULT_SESSION_GAP_MS,
            Some(minutes) if minutes.is_finite() && minutes > 0.0 => {
                (minutes * 60_000.0).round() as i64
            }
            Some(minutes) => {
                return Err(invalid(format!(
                    "session gap {minutes} minutes; expected a positive number"
                )))
            }
        };
        Ok(Resolved {
            ingest: IngestOptions {
                format,
                mapping,
                encoding,
                zone,
                keep_duplicates: self.keep_duplicates,
            },
            lang,
            session_gap_ms,
        })
    }
}

/// A parsed log with its timelines.
pub struct Parsed {
    pub log: EventLog,
    pub timelines: Timelines,
}

/// Reads a log and builds its timelines.
pub fn parse(
    file: &str,
    bytes: &[u8],
    resolved: &Resolved,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Parsed, AnalyzeError> {
    let log = events::ingest_with_progress(file, bytes, &resolved.ingest, &mut |share| {
        progress("parse", share)
    })?;
    progress("timelines", 0.0);
    let timelines = Timelines::build(&log, resolved.session_gap_ms);
    progress("timelines", 1.0);
    Ok(Parsed { log, timelines })
}

/// Runs the whole job on one file. `progress` receives a step name and the
/// share of that step done.
pub fn analyze(
    file: &str,
    bytes: &[u8],
    options: &AnalyzeOptions,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Report, AnalyzeError> {
    let resolved = options.resolve()?;
    let parsed = parse(file, bytes, &resolved, progress)?;
    progress("report", 0.0);
    let report = report::build(
        &parsed.log,
        &parsed.timelines,
        resolved.lang,
        resolved.session_gap_ms,
    );
    progress("report", 1.0);
    Ok(report)
}
