//! Ingestion: the bytes of a merchant's log become validated events in one
//! canonical model, with every rejected row counted and explained.
//!
//! This layer does not depend on timelines, models or reports.

mod builder;
mod decode;
mod detect;
mod diagnostics;
mod interner;
mod jsonl;
mod kind;
mod mapping;
mod number_map;
mod pending;
mod sentences;
mod table;
pub mod time;

pub use decode::EncodingChoice;
pub use detect::{Delimiter, EventRule, Format};
pub use diagnostics::{Diagnostics, ReasonCount, Rejection};
pub use interner::{display_name, Interner, MAX_DISPLAY_CHARS, NONE};
pub use kind::{classify_word, EventCodes, EventKind};
pub use mapping::{parse_mapping_spec, Field, Mapping};
pub use table::Preview;
pub use time::Zone;

use thiserror::Error;

/// One canonical event. Ids index the interners of its [`EventLog`];
/// [`NONE`] marks an absent value and NaN an absent number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// Unix milliseconds, UTC.
    pub time: i64,
    pub user: u32,
    pub item: u32,
    pub category: u32,
    pub brand: u32,
    /// Session id from a session or order column, or [`NONE`] when sessions
    /// come from inactivity gaps.
    pub session: u32,
    pub order: u32,
    /// The event label as written in the file.
    pub label: u32,
    /// Unit price.
    pub price: f32,
    pub quantity: f32,
    pub kind: EventKind,
}

impl Event {
    /// Line revenue: unit price times quantity (1 when absent); NaN without
    /// a price.
    pub fn amount(&self) -> f32 {
        let quantity = if self.quantity.is_nan() {
            1.0
        } else {
            self.quantity
        };
        self.price * quantity
    }
}

/// Meaning of a log's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    /// Real instants.
    Absolute,
    /// Days counted from each user's first order, placed on an arbitrary
    /// anchor date (order tables without dates).
    RelativeDays,
    /// Only the order of events is known (behavior sentences).
    SequenceOnly,
}

/// Source of session ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionSource {
    SessionColumn,
    OrderColumn,
    InactivityGap,
}

/// Options for reading a log.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Skip detection and read as this format.
    pub format: Option<Format>,
    /// Explicit `field = column` pairs; a column is a header name or a
    /// 1-based number.
    pub mapping: Vec<(Field, String)>,
    pub encoding: EncodingChoice,
    /// Zone for times written without an offset.
    pub zone: Zone,
    /// Keep exact duplicate rows instead of dropping them.
    pub keep_duplicates: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            mapping: Vec::new(),
            encoding: EncodingChoice::Auto,
            zone: Zone::default(),
            keep_duplicates: false,
        }
    }
}

/// A log that cannot be used at all. Row-level problems are not errors:
/// they are counted in [`Diagnostics`].
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{file} is empty; expected an event log (CSV, TSV, JSON Lines or behavior sentences)")]
    Empty { file: String },
    #[error("{file} is not a text log: {detail}")]
    NotText { file: String, detail: String },
    #[error("{file} has a header but no data rows")]
    OnlyHeader { file: String },
    #[error("{file}: cannot tell how fields are separated; expected a comma, tab, semicolon, pipe or whitespace separated table, JSON Lines, or behavior sentences")]
    NoDelimiter { file: String },
    #[error("{file}: no column looks like {what} (columns: {columns}); map one with --map {field}=COLUMN")]
    MissingColumn {
        file: String,
        what: &'static str,
        field: &'static str,
        columns: String,
    },
    #[error(
        "{file}: --map names column {column:?}, which is not in the header (columns: {columns})"
    )]
    UnknownColumn {
        file: String,
        column: String,
        columns: String,
    },
    #[error("{file}: all {rows} rows were rejected; the first: {first}")]
    AllRejected {
        file: String,
        rows: usize,
        first: String,
    },
    #[error("{file}: {detail}")]
    Unusable { file: String, detail: String },
}

/// A parsed log: events in file order plus the id tables they point into.
#[derive(Clone, Debug)]
pub struct EventLog {
    pub file_name: String,
    pub format: Format,
    /// Name shown in reports (`taobao-userbehavior`, `csv`, `tsv`, ...).
    pub format_name: String,
    pub encoding: String,
    /// Reason this format was picked.
    pub detection_reason: String,
    /// Header names (or `column N`).
    pub columns: Vec<String>,
    pub mapping: Mapping,
    /// True when the column mapping was guessed and should be confirmed.
    pub mapping_unsure: bool,
    pub events: Vec<Event>,
    pub users: Interner,
    pub items: Interner,
    pub categories: Interner,
    pub brands: Interner,
    pub sessions: Interner,
    pub orders: Interner,
    pub labels: Interner,
    pub time_basis: TimeBasis,
    pub session_source: SessionSource,
    pub diagnostics: Diagnostics,
}

impl EventLog {
    /// Approximate heap bytes held by the events and id tables.
    pub fn heap_bytes(&self) -> usize {
        self.events.capacity() * std::mem::size_of::<Event>()
            + [
                &self.users,
                &self.items,
                &self.categories,
                &self.brands,
                &self.sessions,
                &self.orders,
                &self.labels,
            ]
            .iter()
            .map(|interner| interner.heap_bytes())
            .sum::<usize>()
    }
}

/// Reads a whole log from memory.
pub fn ingest(file: &str, bytes: &[u8], options: &IngestOptions) -> Result<EventLog, IngestError> {
    ingest_with_progress(file, bytes, options, &mut |_| {})
}

/// Reads a whole log, calling `progress` with the share of bytes read
/// (0 to 1) every few thousand rows.
pub fn ingest_with_progress(
    file: &str,
    bytes: &[u8],
    options: &IngestOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<EventLog, IngestError> {
    log::info!("reading {file} ({} bytes)", bytes.len());
    check_is_text(file, bytes)?;
    let decoded = decode::decode(bytes, options.encoding);
    let text: &str = &decoded.text;
    if text.trim().is_empty() {
        return Err(IngestError::Empty {
            file: file.to_string(),
        });
    }
    let kind = match options.format {
        Some(format @ (Format::Jsonl | Format::Sentences)) => format,
        Some(_) => Format::Table,
        None => detect::sniff_kind(text),
    };
    let mut log = match kind {
        Format::Jsonl => jsonl::read(file, text, options, progress)?,
        Format::Sentences => sentences::read(file, text, progress)?,
        _ => table::read(file, text, options, progress)?,
    };
    log.encoding = decoded.encoding.clone();
    if !decoded.damaged_lines.is_empty() {
        let problem = match options.encoding {
            EncodingChoice::Utf8 => "that are not valid UTF-8 (try --encoding auto or gb18030)",
            EncodingChoice::Gb18030 => "that are not valid GB18030 (try --encoding auto or utf-8)",
            EncodingChoice::Auto => "that are neither UTF-8 nor GB18030",
        };
        log.diagnostics.warn(format!(
            "{} lines have bytes {problem}, first at line {}; those bytes were replaced by U+FFFD, \
             so ids that differ only there now look alike",
            decoded.damaged_lines.len(),
            decoded.damaged_lines[0]
        ));
    }
    if log.events.is_empty() {
        let diagnostics = &log.diagnostics;
        if diagnostics.rows == 0 {
            return Err(IngestError::OnlyHeader {
                file: file.to_string(),
            });
        }
        if diagnostics.rejected == diagnostics.rows {
            let first = diagnostics
                .examples
                .first()
                .map(|rejection| rejection.render(file))
                .unwrap_or_default();
            return Err(IngestError::AllRejected {
                file: file.to_string(),
                rows: diagnostics.rows,
                first,
            });
        }
    }
    log::info!(
        "read {file}: format {}, {} rows, {} events, {} rejected",
        log.format_name,
        log.diagnostics.rows,
        log.events.len(),
        log.diagnostics.rejected
    );
    Ok(log)
}

/// Shows how a table would be read: its columns, the detected mapping and
/// its first rows. `None` for JSON Lines, behavior sentences, binary files
/// and text without a delimiter.
pub fn preview(bytes: &[u8], encoding: EncodingChoice) -> Option<Preview> {
    check_is_text("", bytes).ok()?;
    let decoded = decode::decode(bytes, encoding);
    match detect::sniff_kind(&decoded.text) {
        Format::Table => table::preview(&decoded.text),
        _ => None,
    }
}

/// Rejects binary files early, naming what they look like.
fn check_is_text(file: &str, bytes: &[u8]) -> Result<(), IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty {
            file: file.to_string(),
        });
    }
    let not_text = |detail: &str| IngestError::NotText {
        file: file.to_string(),
        detail: detail.to_string(),
    };
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(not_text(
            "it is a ZIP archive, perhaps an Excel workbook; save the sheet as CSV (UTF-8) or unzip it first",
        ));
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(not_text("it is gzip-compressed; decompress it first"));
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(not_text(
            "it is a legacy Excel (.xls) file; save the sheet as CSV first",
        ));
    }
    if bytes.starts_with(b"%PDF") {
        return Err(not_text("it is a PDF document; export the data as CSV"));
    }
    // UTF-16 text has NUL bytes in every ASCII character.
    let is_utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || decode::sniff_utf16(bytes).is_some();
    let head = &bytes[..bytes.len().min(8192)];
    if !is_utf16 {
        if let Some(offset) = memchr::memchr(0, head) {
            return Err(not_text(&format!(
                "NUL byte at offset {offset}; expected a text log (CSV, TSV, JSON Lines or behavior sentences)"
            )));
        }
    }
    Ok(())
}
