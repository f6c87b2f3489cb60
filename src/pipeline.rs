//! The main job, shared by the command line and the page: options in,
//! report out.

use crate::analysis::baselines::{ItemKnn, Markov, Popularity};
use crate::analysis::evaluation::{
    self, Backtest, BacktestOptions, BinaryTarget, Evaluation, MethodShard, SplitKind,
};
use crate::analysis::recommend::{
    self, BehaviorScorer, RecommendOptions, UserInterest, UserRecommendations, MODEL_METHOD,
};
use crate::analysis::segments::{self, Embeddings, SegmentOptions};
use crate::analysis::text::{self, BehaviorView, TextModel, TextOptions};
use crate::analysis::shard::{batch_count, Batches, Shard};
use crate::analysis::together::{self, TogetherOptions};
use crate::behavior::{BehaviorModel, ItemModel, Progress, TrainOptions, Trainer};
use crate::model::LoadLimits;
use crate::events::{
    self, parse_mapping_spec, EncodingChoice, EventLog, Format, IngestError, IngestOptions, Zone,
};
use crate::report::{self, Report};
use crate::timeline::sentence::Lang;
use crate::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};
use serde::{Deserialize, Serialize};
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
    /// Leave out the behavior model and the sections that need it.
    pub skip_model: bool,
    /// Most training epochs.
    pub epochs: Option<usize>,
    /// Seed of the training run.
    pub seed: Option<u64>,
    /// Items recommended per user.
    pub recommendations: Option<usize>,
    /// Recommend items a user already bought (`None`: detect from the log).
    pub repeat_purchases: Option<bool>,
    /// Number of customer segments (`None`: chosen by silhouette).
    pub segments: Option<usize>,
    /// Most active users the text model reads (default 200).
    pub text_users: Option<usize>,
    /// Language of the text model's sentences, `zh` or `en` (`None`:
    /// detected from its tokenizer).
    pub text_lang: Option<String>,
    /// Workers that share the model pass in the page (`None`: chosen from
    /// the device). The command line runs one.
    pub workers: Option<usize>,
}

/// A problem with the options themselves, or an unusable log.
#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("behavior model: {0}")]
    Model(#[from] crate::behavior::Error),
    #[error("text model: {0}")]
    TextModel(String),
    #[error("model pass: {0}")]
    Shards(String),
}

/// Options resolved into the types each layer takes.
pub struct Resolved {
    pub ingest: IngestOptions,
    pub lang: Lang,
    pub session_gap_ms: i64,
    pub skip_model: bool,
    pub train: TrainOptions,
    pub recommendations: usize,
    pub repeat_purchases: Option<bool>,
    pub segments: Option<usize>,
    pub text: TextOptions,
    /// Whether the options set how many users the text model reads.
    pub text_users_chosen: bool,
    /// Language override for the text model.
    pub text_lang: Option<Lang>,
    pub workers: Option<usize>,
}

/// Maximum number of workers that the options may request for the model
/// pass.
pub const MAX_WORKERS: usize = 16;

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
        let mut train = TrainOptions::default();
        if let Some(epochs) = self.epochs {
            if !(1..=1000).contains(&epochs) {
                return Err(invalid(format!("{epochs} epochs; expected 1 to 1000")));
            }
            train.epochs = epochs;
        }
        if let Some(seed) = self.seed {
            train.seed = seed;
        }
        let recommendations = self.recommendations.unwrap_or(10);
        if !(1..=100).contains(&recommendations) {
            return Err(invalid(format!(
                "{recommendations} recommendations per user; expected 1 to 100"
            )));
        }
        if let Some(k) = self.segments {
            if !(2..=20).contains(&k) {
                return Err(invalid(format!("{k} segments; expected 2 to 20")));
            }
        }
        let mut text = TextOptions {
            segments: self.segments,
            seed: train.seed,
            ..TextOptions::default()
        };
        if let Some(users) = self.text_users {
            if !(10..=50_000).contains(&users) {
                return Err(invalid(format!("text model over {users} users; expected 10 to 50000")));
            }
            text.users = users;
            text.forecast_users = text.forecast_users.min(users);
            text.backtest_users = text.backtest_users.min(users);
        }
        let text_lang = match self.text_lang.as_deref() {
            None | Some("") | Some("auto") => None,
            Some(name) => Some(Lang::parse(name).ok_or_else(|| {
                invalid(format!("unknown text model language {name:?}; expected zh, en or auto"))
            })?),
        };
        if let Some(workers) = self.workers {
            if !(1..=MAX_WORKERS).contains(&workers) {
                return Err(invalid(format!("{workers} workers; expected 1 to {MAX_WORKERS}")));
            }
        }
        Ok(Resolved {
            text,
            text_users_chosen: self.text_users.is_some(),
            text_lang,
            skip_model: self.skip_model,
            workers: self.workers,
            train,
            recommendations,
            repeat_purchases: self.repeat_purchases,
            segments: self.segments,
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
/// share of that step done. With `model` (a saved behavior model), the
/// model sections use it; otherwise a model is trained on the log first,
/// unless the options skip it. With `text`, a text model reads the users'
/// sentences last.
pub fn analyze(
    file: &str,
    bytes: &[u8],
    options: &AnalyzeOptions,
    model: Option<&[u8]>,
    text: Option<&TextModel>,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Report, AnalyzeError> {
    let resolved = options.resolve()?;
    let parsed = parse(file, bytes, &resolved, progress)?;
    let mut report = basic_report(&parsed, &resolved, progress);
    let embeddings = behavior_sections(&parsed, &resolved, model, &mut report, progress)?;
    if let Some(text) = text {
        // The other sections stand without the text model, so its failure
        // becomes a note, as in the page.
        if let Err(error) = add_text_model(&parsed, &resolved, text, embeddings.as_ref(), &mut report, progress) {
            log::warn!("{file}: {error}");
            report.text_model_note = Some(error.to_string());
        }
    }
    Ok(report)
}

/// Fills the behavior model's sections, with a saved model or one trained
/// here, and returns the user embeddings; records why they are missing
/// otherwise.
fn behavior_sections(
    parsed: &Parsed,
    resolved: &Resolved,
    model: Option<&[u8]>,
    report: &mut Report,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Option<Embeddings>, AnalyzeError> {
    if resolved.skip_model {
        report.model_note = Some("the behavior model was skipped by request".to_string());
        return Ok(None);
    }
    let model = match model {
        Some(bytes) => {
            progress("model", 0.0);
            BehaviorModel::from_gguf(bytes, &LoadLimits::max_bytes(MODEL_MEMORY_LIMIT))?
        }
        None => {
            let trained = train_model(parsed, resolved, false, &mut |update| {
                progress("train", update.step as f64 / update.steps.max(1) as f64)
            });
            match trained {
                Ok(model) => model,
                Err(error) => {
                    report.model_note = Some(format!("no behavior model: {error}"));
                    return Ok(None);
                }
            }
        }
    };
    complete(parsed, resolved, &model, report, progress).map(Some)
}

/// Fills the text model's section, comparing its users with the behavior
/// model's `embeddings` and segments when there are some.
pub fn add_text_model(
    parsed: &Parsed,
    resolved: &Resolved,
    text: &TextModel,
    embeddings: Option<&Embeddings>,
    report: &mut Report,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<(), AnalyzeError> {
    progress("text", 0.0);

    let behavior = embeddings.map(|embeddings| BehaviorView {
        embeddings,
        segment_of: report
            .segments
            .as_ref()
            .filter(|segments| segments.available)
            .map(|segments| &segments.segment_of[..]),
    });

    let mut options = resolved.text.clone();
    let parameters = text.facts().parameters;
    let reduced = !resolved.text_users_chosen && parameters > LARGE_TEXT_MODEL_PARAMETERS;
    if reduced {
        options = options.for_large_model();
    }
    let mut section = text::analyze(text, &parsed.log, &parsed.timelines, behavior, &options, &mut |share| {
        progress("text", share)
    })
    .map_err(AnalyzeError::TextModel)?;

    if reduced {
        let limit = format!(
            "read the {} most active users, not {}, because the model has {parameters} parameters; \
             set the number of users to read more",
            options.users, resolved.text.users
        );
        append_note(&mut section.note, limit);
    }
    report.text_model = Some(section);
    progress("text", 1.0);
    Ok(())
}

/// Adds `text` to a section's note, after a semicolon when it has one.
fn append_note(note: &mut Option<String>, text: String) {
    *note = Some(match note.take() {
        Some(earlier) => format!("{earlier}; {text}"),
        None => text,
    });
}

/// Text models with more parameters than this read fewer users unless the
/// options set the number: a 124M-parameter GPT-2 runs about 100 to 300
/// tokens/s on one CPU core, and each user costs about 300 tokens.
const LARGE_TEXT_MODEL_PARAMETERS: u64 = 20_000_000;

/// Largest model a log may be analyzed with, in bytes of weights.
const MODEL_MEMORY_LIMIT: u64 = 1 << 30;

/// Builds the report without the model sections.
pub fn basic_report(parsed: &Parsed, resolved: &Resolved, progress: &mut dyn FnMut(&str, f64)) -> Report {
    progress("report", 0.0);
    let report = report::build(
        &parsed.log,
        &parsed.timelines,
        resolved.lang,
        resolved.session_gap_ms,
    );
    progress("report", 1.0);
    report
}

/// Fills the model sections of `report`: model facts, interest and
/// recommendations. It runs the model pass as one shard and merges it, so
/// a page that splits the pass across workers gets the same numbers.
/// Returns the user embeddings behind the segments.
pub fn complete(
    parsed: &Parsed,
    resolved: &Resolved,
    model: &BehaviorModel,
    report: &mut Report,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Embeddings, AnalyzeError> {
    let shard = run_shard(parsed, resolved, model, Shard::WHOLE, progress)?;
    merge_shards(parsed, resolved, model, vec![shard], report, progress)
}

/// Per-user results of one shard of the model pass, which
/// [`merge_shards`] joins into the report. Contains each user's metrics,
/// scores, lists and embedding, but no full item score vectors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardResult {
    pub shard: Shard,
    /// The behavior model's backtest rankings, or `None` when the log
    /// cannot be split or no user can be evaluated.
    ranking: Option<MethodShard>,
    /// Propensity and churn scores of the users with a history.
    binary: Batches<(f32, f32)>,
    recommendations: Batches<(UserInterest, UserRecommendations)>,
    /// Embedding rows of the embedded users, `width` floats per user.
    embeddings: Batches<f32>,
}

/// Users per batch of the propensity and churn scores and of the
/// embeddings: one forward batch of the behavior model.
const MODEL_BATCH_USERS: usize = 64;

/// Runs the model's per-user work of one shard: backtest rankings,
/// propensity and churn scores, interest and recommendations, and user
/// embeddings. Each pass cuts its users into the batches a single pass
/// forms, and `shard` runs its share of them.
pub fn run_shard(
    parsed: &Parsed,
    resolved: &Resolved,
    model: &BehaviorModel,
    shard: Shard,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<ShardResult, AnalyzeError> {
    let (log, timelines) = (&parsed.log, &parsed.timelines);
    let split = backtest(parsed, resolved);
    progress("evaluation", 0.0);
    let (ranking, binary) = match &split {
        Ok(backtest) if evaluation::has_evaluated_users(log, timelines, backtest) => {
            let mut behavior = BehaviorScorer {
                model: ItemModel::new(model, log, timelines, Some(&backtest.train_len)),
            };
            let ranking = evaluation::score_shard(log, timelines, backtest, &mut behavior, shard);
            let binary = binary_shard(&behavior.model, parsed, backtest, shard)?;
            (Some(ranking), binary)
        }
        _ => (None, Batches::default()),
    };
    progress("evaluation", 1.0);

    let scorer = ItemModel::new(model, log, timelines, None);
    let options = recommend_options(resolved, &split);
    let users = recommend::listed_users(timelines, options.max_users);
    let batches = batch_count(users.len(), recommend::USERS_PER_BATCH);
    let mut recommendations = Batches::default();
    progress("recommendations", 0.0);
    for (batch, chunk) in users.chunks(recommend::USERS_PER_BATCH).enumerate() {
        if shard.owns(batch) {
            let rows = recommend::compute_batch(&scorer, log, timelines, chunk, &options)?;
            recommendations.push(batch, rows);
            progress("recommendations", (batch + 1) as f64 / batches as f64);
        }
    }

    progress("segments", 0.0);
    let users = embedded_users(timelines);
    let batches = batch_count(users.len(), MODEL_BATCH_USERS);
    let mut embeddings = Batches::default();
    for (batch, chunk) in users.chunks(MODEL_BATCH_USERS).enumerate() {
        if shard.owns(batch) {
            let histories: Vec<&[u32]> = chunk.iter().map(|&user| timelines.of_user(user as usize)).collect();
            embeddings.push(batch, scorer.embeddings(&histories)?);
            progress("segments", 0.8 * (batch + 1) as f64 / batches as f64);
        }
    }
    Ok(ShardResult {
        shard,
        ranking,
        binary,
        recommendations,
        embeddings,
    })
}

/// Scores propensity and churn for the users of [`evaluation::binary_labels`]
/// in the batches that `shard` owns.
fn binary_shard(
    scorer: &ItemModel,
    parsed: &Parsed,
    backtest: &Backtest,
    shard: Shard,
) -> Result<Batches<(f32, f32)>, AnalyzeError> {
    let (log, timelines) = (&parsed.log, &parsed.timelines);
    let labels = evaluation::binary_labels(log, timelines, backtest);
    let mut scores = Batches::default();
    for (batch, users) in labels.users.chunks(MODEL_BATCH_USERS).enumerate() {
        if !shard.owns(batch) {
            continue;
        }
        let histories: Vec<&[u32]> = users
            .iter()
            .map(|&user| backtest.history(timelines, user as usize))
            .collect();
        let (propensity, churn) = recommend::binary_scores(scorer, &histories)?;
        scores.push(batch, propensity.into_iter().zip(churn).collect());
    }
    Ok(scores)
}

fn recommend_options(resolved: &Resolved, split: &Result<Backtest, String>) -> RecommendOptions {
    let repeat = match split {
        Ok(backtest) => backtest.repeat_purchases,
        Err(_) => resolved.repeat_purchases.unwrap_or(false),
    };
    RecommendOptions {
        k: resolved.recommendations,
        repeat_purchases: repeat,
        lang: resolved.lang,
        ..RecommendOptions::default()
    }
}

/// Fills the model sections of `report` from the results of every shard
/// of one model pass (in any order), as [`complete`] does for one, and
/// returns the user embeddings. Fails when shards are missing, repeated or
/// from passes of different sizes.
pub fn merge_shards(
    parsed: &Parsed,
    resolved: &Resolved,
    model: &BehaviorModel,
    shards: Vec<ShardResult>,
    report: &mut Report,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Embeddings, AnalyzeError> {
    check_shards(&shards)?;
    let (log, timelines) = (&parsed.log, &parsed.timelines);
    let shard_count = shards.len();
    let mut rankings = Vec::with_capacity(shard_count);
    let mut binary = Vec::with_capacity(shard_count);
    let mut recommendations = Vec::with_capacity(shard_count);
    let mut embeddings = Vec::with_capacity(shard_count);
    for shard in shards {
        rankings.extend(shard.ranking);
        binary.push(shard.binary);
        recommendations.push(shard.recommendations);
        embeddings.push(shard.embeddings);
    }

    let split = backtest(parsed, resolved);
    report.evaluation = Some(match &split {
        Ok(backtest) => merge_evaluation(parsed, resolved, model, backtest, rankings, binary, shard_count)?,
        Err(reason) => Evaluation::unavailable(reason.clone()),
    });

    let scorer = ItemModel::new(model, log, timelines, None);
    let options = recommend_options(resolved, &split);
    let listed = recommend::listed_users(timelines, options.max_users).len();
    let rows = Batches::merge(recommendations, batch_count(listed, recommend::USERS_PER_BATCH))
        .map_err(AnalyzeError::Shards)?;
    let (interest, mut recommendations) = recommend::assemble(timelines, &options, rows);
    report.interest = Some(interest);
    recommendations.together = Some(together::together(log, timelines, &TogetherOptions::default()));
    report.recommendations = Some(recommendations);

    let users = embedded_users(timelines);
    let data = Batches::merge(embeddings, batch_count(users.len(), MODEL_BATCH_USERS))
        .map_err(AnalyzeError::Shards)?;
    if data.len() != users.len() * scorer.width() {
        return Err(AnalyzeError::Shards(format!(
            "shard results contain {} embedding values, expected {} users of width {}",
            data.len(),
            users.len(),
            scorer.width()
        )));
    }
    let embeddings = Embeddings {
        users,
        dim: scorer.width(),
        data,
    };
    let options = SegmentOptions {
        k: resolved.segments,
        seed: resolved.train.seed,
        ..SegmentOptions::default()
    };
    report.segments = Some(segments::segment(log, timelines, &embeddings, &options, resolved.lang));
    progress("segments", 1.0);
    let mut facts = model.report().clone();
    if facts.source == "loaded" {
        // A loaded model may come from another log: its coverage is measured here.
        facts.coverage = item_coverage(log, &scorer);
        if facts.coverage < LOW_COVERAGE {
            report.model_note = Some(format!(
                "the model has its own token for the items of only {:.1}% of this log's events; \
                 it was probably trained on another log, so its item predictions mean little here",
                facts.coverage * 100.0
            ));
        }
    }
    report.model = Some(facts);
    Ok(embeddings)
}

/// Checks that `shards` contains each shard of one pass exactly once.
fn check_shards(shards: &[ShardResult]) -> Result<(), AnalyzeError> {
    let count = shards.len();
    let mut seen = vec![false; count];
    for result in shards {
        let Shard { index, count: expected } = result.shard;
        if expected != count || index >= count {
            return Err(AnalyzeError::Shards(format!(
                "received {count} shard results, but one is shard {index} of {expected}"
            )));
        }
        if std::mem::replace(&mut seen[index], true) {
            return Err(AnalyzeError::Shards(format!("received shard {index} of {count} twice")));
        }
    }
    if count == 0 {
        return Err(AnalyzeError::Shards("received no shard results".to_string()));
    }
    Ok(())
}

/// Item coverage below which a loaded model is flagged as trained on
/// another log.
const LOW_COVERAGE: f64 = 0.2;

/// Users embedded for segmentation, most active first.
const MAX_EMBEDDED_USERS: usize = 50_000;

/// Lists the users whose mean-pooled model states feed the segments: the
/// most active ones, in user id order.
fn embedded_users(timelines: &Timelines) -> Vec<u32> {
    let mut users: Vec<u32> = recommend::listed_users(timelines, MAX_EMBEDDED_USERS)
        .into_iter()
        .map(|user| user as u32)
        .collect();
    users.sort_unstable();
    users
}

/// Backtests the model beside the three baselines on the same split, from
/// the model's sharded rankings, and adds its propensity and churn scores.
fn merge_evaluation(
    parsed: &Parsed,
    resolved: &Resolved,
    model: &BehaviorModel,
    backtest: &Backtest,
    rankings: Vec<MethodShard>,
    binary: Vec<Batches<(f32, f32)>>,
    shard_count: usize,
) -> Result<Evaluation, AnalyzeError> {
    let (log, timelines) = (&parsed.log, &parsed.timelines);
    let expected = if evaluation::has_evaluated_users(log, timelines, backtest) {
        shard_count
    } else {
        0
    };
    if rankings.len() != expected {
        return Err(AnalyzeError::Shards(format!(
            "{} of {shard_count} shard results contain backtest rankings, expected {expected}",
            rankings.len()
        )));
    }
    let options = backtest_options(resolved);
    let mut popularity = Popularity::fit(log, timelines, backtest);
    let mut item_knn = ItemKnn::fit(log, timelines, backtest);
    let mut markov = Markov::fit(log, timelines, backtest);
    let sharded = if rankings.is_empty() { Vec::new() } else { vec![rankings] };
    let mut evaluation = evaluation::evaluate_with_shards(
        log,
        timelines,
        backtest,
        sharded,
        &mut [&mut popularity, &mut item_knn, &mut markov],
        &options,
    );
    if !evaluation.available {
        return Ok(evaluation);
    }
    let labels = evaluation::binary_labels(log, timelines, backtest);
    let scores = Batches::merge(binary, batch_count(labels.users.len(), MODEL_BATCH_USERS))
        .map_err(AnalyzeError::Shards)?;
    if scores.len() != labels.users.len() {
        return Err(AnalyzeError::Shards(format!(
            "shard results contain {} propensity scores for {} users",
            scores.len(),
            labels.users.len()
        )));
    }
    let (propensity, churn): (Vec<f32>, Vec<f32>) = scores.into_iter().unzip();
    evaluation.add_binary(
        BinaryTarget::Propensity,
        MODEL_METHOD,
        evaluation::binary_metrics(&labels.buys_after, &propensity),
    );
    if backtest.split == SplitKind::GlobalTime {
        evaluation.add_binary(
            BinaryTarget::Churn,
            MODEL_METHOD,
            evaluation::binary_metrics(&labels.churned, &churn),
        );
    }
    if let Some(warning) = leakage_warning(model, backtest) {
        append_note(&mut evaluation.note, warning);
    }
    Ok(evaluation)
}

/// Warns when a loaded model may have trained on events after the cut-off.
fn leakage_warning(model: &BehaviorModel, backtest: &Backtest) -> Option<String> {
    let trained_before = model.report().trained_before.as_deref();
    let fair = match backtest.split {
        SplitKind::GlobalTime => trained_before
            .and_then(|text| events::time::parse_timestamp(text, &Zone::default()))
            .is_some_and(|time| time <= backtest.cutoff_ms),
        SplitKind::PerUserLast => trained_before == Some(held_out_description(backtest).as_str()),
    };
    (!fair).then(|| {
        format!(
            "the model was trained on events up to {}, which may include events after this \
             backtest's cut-off ({}), so its scores here may have seen the answers",
            trained_before.unwrap_or("the end of its log"),
            held_out_description(backtest),
        )
    })
}

/// Share of the log's events with an item whose item has a token of its
/// own in the model's vocabulary.
fn item_coverage(log: &EventLog, scorer: &ItemModel) -> f64 {
    let own = &scorer.log_tokens().own;
    let (covered, with_item) = log
        .events
        .iter()
        .filter(|event| event.item != events::NONE)
        .fold((0usize, 0usize), |(covered, total), event| {
            (covered + usize::from(own[event.item as usize]), total + 1)
        });
    if with_item == 0 {
        0.0
    } else {
        covered as f64 / with_item as f64
    }
}

/// Splits the log for evaluation. The model trains only on the events
/// before the cut-off, so its backtest is honest.
pub fn backtest(parsed: &Parsed, resolved: &Resolved) -> Result<Backtest, String> {
    evaluation::split(&parsed.log, &parsed.timelines, &backtest_options(resolved))
}

fn backtest_options(resolved: &Resolved) -> BacktestOptions {
    BacktestOptions {
        repeat_purchases: resolved.repeat_purchases,
        ..BacktestOptions::default()
    }
}

/// Prepares training on the events before the evaluation cut-off, or on
/// every event with `all_events` (or when the log cannot be split).
pub fn trainer(
    parsed: &Parsed,
    resolved: &Resolved,
    all_events: bool,
) -> Result<Trainer, AnalyzeError> {
    // A split that leaves nothing to train on (every event at one time, for
    // example) falls back to training on every event.
    let split = if all_events {
        None
    } else {
        backtest(parsed, resolved)
            .ok()
            .filter(|backtest| backtest.train_len.iter().any(|&length| length > 0))
    };
    let (lengths, held_out) = match &split {
        Some(backtest) => (Some(backtest.train_len.as_slice()), Some(held_out_description(backtest))),
        None => (None, None),
    };
    Ok(Trainer::new(&parsed.log, &parsed.timelines, lengths, held_out, &resolved.train)?)
}

/// Describes how the training events were chosen, for the model report.
fn held_out_description(backtest: &Backtest) -> String {
    match backtest.split {
        SplitKind::GlobalTime => events::time::format_iso(backtest.cutoff_ms),
        SplitKind::PerUserLast => "each user's last events".to_string(),
    }
}

/// Trains a behavior model, calling `progress` after every step.
pub fn train_model(
    parsed: &Parsed,
    resolved: &Resolved,
    all_events: bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<BehaviorModel, AnalyzeError> {
    let mut trainer = trainer(parsed, resolved, all_events)?;
    trainer.run(progress)?;
    Ok(trainer.finish()?)
}
