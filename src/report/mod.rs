//! The report: one serializable result that the command line writes as
//! `report.json` and the page renders.

mod summary;
pub mod tables;

pub use summary::{EventCounts, Summary};

use crate::analysis::funnel::{self, Funnel, FunnelOptions};
use crate::analysis::paths::{self, Paths};
use crate::analysis::evaluation::Evaluation;
use crate::analysis::segments::Segments;
use crate::analysis::text::TextReport;
use crate::analysis::recommend::{Interest, Recommendations};
use crate::behavior::TrainingReport;
use crate::analysis::retention::{self, Retention, RetentionOptions};
use crate::analysis::rfm::{self, Rfm};
use crate::events::{display_name, EventLog, Rejection, SessionSource, TimeBasis};
use crate::timeline::sentence::{self, Lang, SentenceOptions};
use crate::timeline::Timelines;
use serde::Serialize;

/// Sentences shown as examples in the report.
const SAMPLE_SENTENCES: usize = 20;

/// Everything computed for one log.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The `inspect --json` object.
    pub summary: Summary,
    /// Conversion through view, cart and purchase, per user and per session.
    pub funnel: Funnel,
    /// Transitions between event types and categories, common paths and
    /// the step matrix.
    pub paths: Paths,
    /// Cohorts, lifecycle and churn by recency.
    pub retention: Retention,
    /// Recency, frequency and monetary scores of buying customers.
    pub rfm: Rfm,
    /// Reading details: columns, mapping, rejected-row examples.
    pub input: InputDetails,
    /// Behavior sentences of the most active users.
    pub sentences: Vec<String>,
    /// Customer segments from the behavior model's user embeddings.
    pub segments: Option<Segments>,
    /// Items, categories and next events each listed user is expected to
    /// turn to.
    pub interest: Option<Interest>,
    /// Top-k items per listed user with explanations, and items seen or
    /// bought together.
    pub recommendations: Option<Recommendations>,
    /// Backtest of the model and baselines at one cut-off time.
    pub evaluation: Option<Evaluation>,
    /// The behavior model behind the sections above.
    pub model: Option<TrainingReport>,
    /// Reason the model sections are missing, when they are.
    pub model_note: Option<String>,
    /// Findings of a text GPT-2 in the users' sentences, when one is loaded.
    pub text_model: Option<TextReport>,
    /// Reason a given text model could not read the log.
    pub text_model_note: Option<String>,
}

/// Reading details of the input file.
#[derive(Clone, Debug, Serialize)]
pub struct InputDetails {
    pub file: String,
    pub detection_reason: String,
    pub columns: Vec<String>,
    /// Field name to column name.
    pub mapping: Vec<MappedColumn>,
    pub mapping_unsure: bool,
    pub duplicates_dropped: usize,
    pub rejected_examples: Vec<Rejection>,
    pub time_basis: TimeBasis,
    pub session_source: SessionSource,
    pub session_gap_minutes: f64,
}

/// One entry of the column mapping.
#[derive(Clone, Debug, Serialize)]
pub struct MappedColumn {
    pub field: String,
    pub column: String,
}

/// Builds the report for a parsed log.
pub fn build(log: &EventLog, timelines: &Timelines, lang: Lang, session_gap_ms: i64) -> Report {
    let summary = Summary::new(log, timelines);
    let mapping = log
        .mapping
        .describe(&log.columns)
        .into_iter()
        .map(|(field, column)| MappedColumn {
            field: field.as_str().to_string(),
            column: display_name(&column),
        })
        .collect();
    Report {
        summary,
        funnel: funnel::compute(log, timelines, &FunnelOptions::default()),
        paths: paths::compute(log, timelines),
        retention: retention::compute(log, timelines, &RetentionOptions::default()),
        rfm: rfm::compute(log, timelines),
        input: InputDetails {
            file: log.file_name.clone(),
            detection_reason: log.detection_reason.clone(),
            columns: log.columns.iter().map(|name| display_name(name)).collect(),
            mapping,
            mapping_unsure: log.mapping_unsure,
            duplicates_dropped: log.diagnostics.duplicates,
            rejected_examples: log.diagnostics.examples.clone(),
            time_basis: log.time_basis,
            session_source: log.session_source,
            session_gap_minutes: session_gap_ms as f64 / 60_000.0,
        },
        sentences: sample_sentences(log, timelines, lang),
        segments: None,
        interest: None,
        recommendations: None,
        evaluation: None,
        model: None,
        model_note: None,
        text_model: None,
        text_model_note: None,
    }
}

/// Sentences of the users with the most events, ties broken by user id
/// order, so the sample is the same on every run.
fn sample_sentences(log: &EventLog, timelines: &Timelines, lang: Lang) -> Vec<String> {
    let mut users: Vec<usize> = (0..timelines.users()).collect();
    users.sort_by_key(|&user| std::cmp::Reverse(timelines.of_user(user).len()));
    let options = SentenceOptions {
        lang,
        gap_markers: true,
        max_events: 24,
        ..SentenceOptions::default()
    };
    users
        .into_iter()
        .take(SAMPLE_SENTENCES)
        .map(|user| sentence::render_user(log, timelines, user, &options))
        .collect()
}
