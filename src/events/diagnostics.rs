//! Ingestion findings: rejected rows by reason, with examples, and warnings
//! about data damage.

use serde::Serialize;

/// How many rejected rows are kept in full as examples.
const MAX_EXAMPLES: usize = 20;

/// Reason a row was rejected, without its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectKind {
    MissingUser,
    MissingTime,
    InvalidTime,
    MissingEvent,
    InvalidNumber,
    TooFewFields,
    TooManyFields,
    UnclosedQuote,
    Truncated,
    InvalidJson,
    NotAnObject,
    InvalidStep,
    MissingItem,
}

impl RejectKind {
    fn describe(self) -> &'static str {
        match self {
            RejectKind::MissingUser => "missing user id",
            RejectKind::MissingTime => "missing time",
            RejectKind::InvalidTime => "invalid time",
            RejectKind::MissingEvent => "missing event type",
            RejectKind::InvalidNumber => "invalid number",
            RejectKind::TooFewFields => "too few fields",
            RejectKind::TooManyFields => "too many fields",
            RejectKind::UnclosedQuote => "quoted field runs across lines",
            RejectKind::Truncated => "truncated row",
            RejectKind::InvalidJson => "invalid JSON",
            RejectKind::NotAnObject => "JSON value is not an object",
            RejectKind::InvalidStep => "unreadable behavior step",
            RejectKind::MissingItem => "missing item id",
        }
    }
}

/// One rejected row, kept as an example.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    /// 1-based line where the row starts.
    pub line: usize,
    /// 1-based column (field number, or character for JSON and sentences);
    /// 0 when the whole row is at fault.
    pub column: usize,
    /// Header name of the column, or the JSON key, when known.
    pub column_name: String,
    /// The offending value, cut to 120 characters.
    pub value: String,
    pub reason: String,
    pub expected: String,
}

/// Count of rejected rows for one reason.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReasonCount {
    pub reason: String,
    pub count: usize,
    pub first_line: usize,
}

/// Rejections and warnings gathered while reading one file.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    /// Data rows read, header excluded.
    pub rows: usize,
    pub rejected: usize,
    /// Exact duplicate rows that were dropped.
    pub duplicates: usize,
    reasons: Vec<(RejectKind, String, ReasonCount)>,
    pub examples: Vec<Rejection>,
    pub warnings: Vec<String>,
}

impl Diagnostics {
    /// Records a rejected row.
    pub fn reject(
        &mut self,
        kind: RejectKind,
        line: usize,
        column: usize,
        column_name: &str,
        value: &str,
        expected: &str,
    ) {
        self.rejected += 1;
        let position = self
            .reasons
            .iter()
            .position(|(known, name, _)| *known == kind && name == column_name);
        match position {
            Some(index) => self.reasons[index].2.count += 1,
            None => {
                let reason = if column_name.is_empty() {
                    kind.describe().to_string()
                } else {
                    format!("{} in column '{}'", kind.describe(), column_name)
                };
                self.reasons.push((
                    kind,
                    column_name.to_string(),
                    ReasonCount {
                        reason,
                        count: 1,
                        first_line: line,
                    },
                ));
            }
        }
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(Rejection {
                line,
                column,
                column_name: column_name.to_string(),
                value: value.chars().take(120).collect(),
                reason: kind.describe().to_string(),
                expected: expected.to_string(),
            });
        }
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Rejection counts per reason, in order of first appearance.
    pub fn reasons(&self) -> Vec<ReasonCount> {
        self.reasons
            .iter()
            .map(|(_, _, count)| count.clone())
            .collect()
    }
}

impl Rejection {
    /// Formats the rejection as `FILE:LINE:COLUMN: reason ...` for terminals.
    pub fn render(&self, file: &str) -> String {
        let column = if self.column_name.is_empty() {
            format!("{}", self.column)
        } else {
            format!("{} ({})", self.column, self.column_name)
        };
        format!(
            "{file}:{}:{column}: {}: value {:?}; expected {}",
            self.line, self.reason, self.value, self.expected
        )
    }
}
