//! Backtest evaluation of recommendations: "had we used these
//! recommendations last week, what would they have caught?"
//!
//! One global cut-off time splits the log. Every method is fitted on the
//! events before it, and each user active on both sides is scored on what
//! they do after it. Behavior sentences, which carry no times, are split
//! per user instead. Items are ranked over the whole catalog, with no
//! sampled negatives. Methods plug in through [`ItemScorer`], and the
//! baselines are in [`super::baselines`].

use super::baselines;
use super::shard::{batch_count, Batches, Shard};
use crate::events::time::format_iso;
use crate::events::{display_name, EventKind, EventLog, TimeBasis, NONE};
use crate::timeline::Timelines;
use serde::{Deserialize, Serialize};

/// Ranking cut-offs of the top-k metrics.
pub const KS: [usize; 3] = [5, 10, 20];
/// Length of the ranked lists kept per user: the largest of [`KS`].
const MAX_K: usize = 20;
/// Length of the lists that coverage is measured on.
const COVERAGE_K: usize = 10;
/// Maximum users per [`ItemScorer::score`] call.
pub const MAX_BATCH_USERS: usize = 64;
/// Maximum floats in one batch of score rows (32 MiB). Catalogs of more
/// than 131,072 items get batches of fewer than 64 users.
const MAX_BATCH_SCORES: usize = 8 << 20;
/// Share of events that the default cut-off puts before it.
const TRAIN_SHARE_PERCENT: usize = 80;
/// Share of buyers with two or more purchases who must have bought an item
/// again for repeat-purchase mode to switch on by itself.
const REPEAT_BUYER_PERCENT: usize = 20;
/// Share of items, by pre-cut-off event count, that counts as "most
/// popular" for the popularity-bias figure.
const POPULAR_ITEM_PERCENT: usize = 1;

/// Settings of a backtest.
#[derive(Clone, Debug)]
pub struct BacktestOptions {
    /// Cut-off as Unix ms. `None` picks the time of the event at position
    /// ceil(0.8 n) in time order, so 80% of events lie before it (fewer
    /// when several events share that time). Must be `None` for behavior
    /// sentences, which are split per user.
    pub cutoff_ms: Option<i64>,
    /// Count an item bought before the cut-off as a hit again
    /// (repeat-purchase mode). `None` uses the detected value, see
    /// [`Backtest::repeat_purchases_detected`].
    pub repeat_purchases: Option<bool>,
    /// Bootstrap resamples of the evaluated users for the 95% intervals.
    /// With 0 the intervals are left out.
    pub bootstrap_samples: usize,
    /// Seed of the bootstrap resampling.
    pub seed: u64,
}

impl Default for BacktestOptions {
    fn default() -> Self {
        BacktestOptions {
            cutoff_ms: None,
            repeat_purchases: None,
            bootstrap_samples: 1000,
            seed: 0,
        }
    }
}

/// Rule that separates each user's history from their held-out events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// One cut-off time for all users.
    GlobalTime,
    /// Each user's last 20% of events (at least one) are held out. Used for
    /// behavior sentences, whose times only order one user's steps.
    PerUserLast,
}

/// The split of a log into per-user histories and held-out events.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    /// Cut-off as Unix ms: events at or after it are held out. Set to
    /// `i64::MAX` for [`SplitKind::PerUserLast`], where `train_len` alone
    /// defines the split.
    pub cutoff_ms: i64,
    pub split: SplitKind,
    /// For every user (index = user id), how many events of their timeline
    /// lie before the cut-off (form the history, for a per-user split):
    /// `timelines.of_user(u)[..train_len[u]]` is the user's training history.
    pub train_len: Vec<u32>,
    /// Whether items bought before the cut-off still count as hits.
    pub repeat_purchases: bool,
    /// Result of the repeat-purchase rule on the whole log, whatever the
    /// options chose: true when at least 20% of the users with two or more
    /// purchase events (with an item) have two purchase events of the same
    /// item.
    pub repeat_purchases_detected: bool,
    /// Users with at least one event before the cut-off.
    pub users_before: usize,
    /// Users with events both before and after the cut-off.
    pub users_after: usize,
    /// Plain-language caveats about the split, shown with the results.
    pub notes: Vec<String>,
}

impl Backtest {
    /// Returns the training history of `user`: event indices in time order.
    pub fn history<'t>(&self, timelines: &'t Timelines, user: usize) -> &'t [u32] {
        &timelines.of_user(user)[..self.train_len[user] as usize]
    }

    /// Returns the held-out events of `user`: event indices in time order.
    pub fn held_out<'t>(&self, timelines: &'t Timelines, user: usize) -> &'t [u32] {
        &timelines.of_user(user)[self.train_len[user] as usize..]
    }

    /// Returns the time from which recency is measured for `user`: the cut-off, or for
    /// a per-user split the time of the user's first held-out event (the
    /// history's last time when nothing is held out).
    pub fn reference_time(&self, log: &EventLog, timelines: &Timelines, user: usize) -> i64 {
        if self.split == SplitKind::GlobalTime {
            return self.cutoff_ms;
        }
        let events = timelines.of_user(user);
        let position = (self.train_len[user] as usize).min(events.len().saturating_sub(1));
        events
            .get(position)
            .map_or(0, |&index| log.events[index as usize].time)
    }
}

/// Splits a log at one cut-off time, or per user for behavior sentences,
/// and decides the repeat-purchase mode.
///
/// Fails on a log without events and on an explicit cut-off for behavior
/// sentences. A cut-off that leaves no user on both sides is not an error
/// here: [`evaluate`] then reports the evaluation as unavailable.
pub fn split(
    log: &EventLog,
    timelines: &Timelines,
    options: &BacktestOptions,
) -> Result<Backtest, String> {
    if log.events.is_empty() {
        return Err("the log has no events, so there is nothing to split".into());
    }
    let mut notes = Vec::new();
    let (split, cutoff_ms, train_len) = if log.time_basis == TimeBasis::SequenceOnly {
        if let Some(cutoff) = options.cutoff_ms {
            return Err(format!(
                "a cut-off time ({cutoff} ms) was given, but behavior sentences carry no times, \
                 so leave the cut-off unset to hold out each user's last 20% of steps"
            ));
        }
        notes.push(
            "behavior sentences carry no times, so each user's last 20% of steps (at least one) \
             are held out instead of the events after one cut-off time"
                .to_string(),
        );
        (SplitKind::PerUserLast, i64::MAX, per_user_split(timelines))
    } else {
        let cutoff = options.cutoff_ms.unwrap_or_else(|| default_cutoff(log));
        if log.time_basis == TimeBasis::RelativeDays {
            notes.push(
                "the orders carry no dates, so the cut-off counts days since each user's first \
                 order, and only users whose orders span more days than that have held-out orders"
                    .to_string(),
            );
        }
        let train_len = (0..timelines.users())
            .map(|user| {
                timelines
                    .of_user(user)
                    .partition_point(|&index| log.events[index as usize].time < cutoff)
                    as u32
            })
            .collect();
        (SplitKind::GlobalTime, cutoff, train_len)
    };

    let repeat = detect_repeat_purchases(log, timelines);
    let repeat_purchases = options.repeat_purchases.unwrap_or(repeat.detected());
    if options.repeat_purchases.is_none() && repeat_purchases {
        notes.push(format!(
            "repeat-purchase mode is on because {} of {} buyers with two or more purchases bought \
             the same item again (the rule needs {REPEAT_BUYER_PERCENT}%), so items bought before \
             the cut-off count as hits again",
            repeat.repeaters, repeat.buyers
        ));
    }

    let mut backtest = Backtest {
        cutoff_ms,
        split,
        train_len,
        repeat_purchases,
        repeat_purchases_detected: repeat.detected(),
        users_before: 0,
        users_after: 0,
        notes,
    };
    for user in 0..timelines.users() {
        if backtest.train_len[user] > 0 {
            backtest.users_before += 1;
            if !backtest.held_out(timelines, user).is_empty() {
                backtest.users_after += 1;
            }
        }
    }
    Ok(backtest)
}

/// Returns the time of the event at position ceil(0.8 n) in time order (the last event
/// for a log of one event).
fn default_cutoff(log: &EventLog) -> i64 {
    let mut times: Vec<i64> = log.events.iter().map(|event| event.time).collect();
    let count = times.len();
    let position = ((count * TRAIN_SHARE_PERCENT).div_ceil(100)).min(count - 1);
    *times.select_nth_unstable(position).1
}

/// Returns training lengths that hold out floor(20%) of each user's events, and at
/// least one, so the history keeps at least 80% as the global split does.
fn per_user_split(timelines: &Timelines) -> Vec<u32> {
    (0..timelines.users())
        .map(|user| {
            let count = timelines.of_user(user).len();
            let held_out = (count * (100 - TRAIN_SHARE_PERCENT) / 100).max(1);
            count.saturating_sub(held_out) as u32
        })
        .collect()
}

/// Counts behind the repeat-purchase rule.
struct RepeatBuyers {
    /// Users with two or more purchase events that name an item.
    buyers: usize,
    /// Those of them with two purchase events of the same item.
    repeaters: usize,
}

impl RepeatBuyers {
    fn detected(&self) -> bool {
        self.buyers > 0 && self.repeaters * 100 >= self.buyers * REPEAT_BUYER_PERCENT
    }
}

/// Applies the repeat-purchase rule to the whole log. Two purchase rows of
/// one item count as a repeat even within one order.
fn detect_repeat_purchases(log: &EventLog, timelines: &Timelines) -> RepeatBuyers {
    let mut counts = RepeatBuyers {
        buyers: 0,
        repeaters: 0,
    };
    let mut bought = Vec::new();
    for user in 0..timelines.users() {
        bought.clear();
        bought.extend(
            timelines
                .of_user(user)
                .iter()
                .map(|&index| &log.events[index as usize])
                .filter(|event| event.kind == EventKind::Purchase && event.item != NONE)
                .map(|event| event.item),
        );
        if bought.len() < 2 {
            continue;
        }
        counts.buyers += 1;
        bought.sort_unstable();
        if bought.windows(2).any(|pair| pair[0] == pair[1]) {
            counts.repeaters += 1;
        }
    }
    counts
}

/// Target that a ranking is scored against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The item of the user's first held-out event that names one.
    NextItem,
    /// The distinct items the user purchases after the cut-off. Outside
    /// repeat-purchase mode, items they bought before are removed from the
    /// target and from the ranking.
    Purchase,
}

/// A recommendation method under evaluation. The baselines implement it,
/// and other methods, such as a behavior model, plug in the same way.
pub trait ItemScorer {
    /// Short method name for the table, e.g. "popularity", "item_knn", "markov".
    fn method(&self) -> &str;
    /// Scores every item for each history. `histories[i]` contains event
    /// indices into `log.events` (time order, all before the cut-off).
    /// `scores` has `histories.len() * log.items.len()` entries, row-major
    /// with one row per history, and arrives filled with zeros. Entry
    /// `[i * items + item]` is the score of item id `item`, and higher ranks
    /// first. NaN is rejected. Called in batches of up to 64 users.
    fn score(&mut self, task: Task, histories: &[&[u32]], scores: &mut [f32])
        -> Result<(), String>;
}

/// Top-k ranking metrics, one field per metric. `Metrics<f64>` contains
/// averages over users, and `Metrics<[f64; 2]>` their 95% intervals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics<T> {
    pub hit_rate_at_5: T,
    pub hit_rate_at_10: T,
    pub hit_rate_at_20: T,
    /// Binary relevance, with an ideal DCG of min(|target|, k) hits first.
    pub ndcg_at_5: T,
    pub ndcg_at_10: T,
    pub ndcg_at_20: T,
    /// Reciprocal rank of the first relevant item in the full ranking.
    pub mrr: T,
    pub precision_at_5: T,
    pub precision_at_10: T,
    pub precision_at_20: T,
    pub recall_at_5: T,
    pub recall_at_10: T,
    pub recall_at_20: T,
    /// F1 of each user's precision and recall, averaged over users.
    pub f1_at_5: T,
    pub f1_at_10: T,
    pub f1_at_20: T,
}

/// Number of fields in [`Metrics`].
pub const METRIC_COUNT: usize = 16;
/// Positions in a per-user metric array, in the field order of [`Metrics`].
/// Each top-k family has one entry per value of [`KS`].
const HIT_RATE: usize = 0;
const NDCG: usize = 3;
const MRR: usize = 6;
const PRECISION: usize = 7;
const RECALL: usize = 10;
const F1: usize = 13;

impl<T: Copy> Metrics<T> {
    fn from_array(values: [T; METRIC_COUNT]) -> Metrics<T> {
        Metrics {
            hit_rate_at_5: values[HIT_RATE],
            hit_rate_at_10: values[HIT_RATE + 1],
            hit_rate_at_20: values[HIT_RATE + 2],
            ndcg_at_5: values[NDCG],
            ndcg_at_10: values[NDCG + 1],
            ndcg_at_20: values[NDCG + 2],
            mrr: values[MRR],
            precision_at_5: values[PRECISION],
            precision_at_10: values[PRECISION + 1],
            precision_at_20: values[PRECISION + 2],
            recall_at_5: values[RECALL],
            recall_at_10: values[RECALL + 1],
            recall_at_20: values[RECALL + 2],
            f1_at_5: values[F1],
            f1_at_10: values[F1 + 1],
            f1_at_20: values[F1 + 2],
        }
    }

    /// Returns all values in field order.
    pub fn to_array(&self) -> [T; METRIC_COUNT] {
        [
            self.hit_rate_at_5,
            self.hit_rate_at_10,
            self.hit_rate_at_20,
            self.ndcg_at_5,
            self.ndcg_at_10,
            self.ndcg_at_20,
            self.mrr,
            self.precision_at_5,
            self.precision_at_10,
            self.precision_at_20,
            self.recall_at_5,
            self.recall_at_10,
            self.recall_at_20,
            self.f1_at_5,
            self.f1_at_10,
            self.f1_at_20,
        ]
    }
}

/// Ranking results of one method on one task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodScores {
    pub method: String,
    /// Evaluated users: the same for every method of a task.
    pub users: usize,
    #[serde(flatten)]
    pub metrics: Metrics<f64>,
    /// Percentile-bootstrap 95% intervals over users, or null when
    /// `bootstrap_samples` is 0.
    pub intervals: Option<Metrics<[f64; 2]>>,
}

/// Ranking quality of a binary score (propensity to buy, churn risk).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BinaryScores {
    pub users: usize,
    pub positives: usize,
    /// ROC AUC with tied scores counted half, or null when all labels agree.
    pub auc: Option<f64>,
    /// Best F1 over all thresholds, or 0 without positives.
    pub f1: f64,
    /// Score at which the best F1 is reached, predicting positive for
    /// scores at or above it. Null without positives.
    pub threshold: Option<f64>,
}

/// [`BinaryScores`] of one method.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BinaryRow {
    pub method: String,
    #[serde(flatten)]
    pub scores: BinaryScores,
}

/// Binary table that a [`BinaryRow`] goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryTarget {
    Propensity,
    Churn,
}

/// Diversity of one method's top-10 next-item lists.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coverage {
    pub method: String,
    /// Distinct recommended items over the items in the log.
    pub catalog_coverage: f64,
    /// Share of recommended slots that go to the most popular 1% of items
    /// (by event count before the cut-off).
    pub popular_share: f64,
}

/// Baseline with the highest hit rate at 10 per task, or null without
/// baseline rows. Ties go to the earlier row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BestBaseline {
    pub next_item: Option<String>,
    pub purchase: Option<String>,
}

/// Backtest results, serialized as the report's evaluation section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub available: bool,
    /// Caveats, or why the evaluation is unavailable.
    pub note: Option<String>,
    /// Null when the log could not be split.
    pub split: Option<SplitKind>,
    /// Cut-off in ISO 8601 UTC, or null for a per-user split.
    pub cutoff: Option<String>,
    pub repeat_purchases: bool,
    pub repeat_purchases_detected: bool,
    pub users_before: usize,
    pub users_after: usize,
    pub next_item: Vec<MethodScores>,
    pub purchase: Vec<MethodScores>,
    /// Label: buys anything after the cut-off. Users: active before it.
    pub propensity: Vec<BinaryRow>,
    /// Label: no event after the cut-off. Users: active before it. Empty for
    /// a per-user split, where every user has held-out events.
    pub churn: Vec<BinaryRow>,
    pub coverage: Vec<Coverage>,
    pub best_baseline: BestBaseline,
}

impl Evaluation {
    /// Builds an unavailable evaluation that only carries `note`, e.g. from
    /// the error of [`split`].
    pub fn unavailable(note: impl Into<String>) -> Evaluation {
        Evaluation {
            available: false,
            note: Some(note.into()),
            split: None,
            cutoff: None,
            repeat_purchases: false,
            repeat_purchases_detected: false,
            users_before: 0,
            users_after: 0,
            next_item: Vec::new(),
            purchase: Vec::new(),
            propensity: Vec::new(),
            churn: Vec::new(),
            coverage: Vec::new(),
            best_baseline: BestBaseline::default(),
        }
    }

    /// Appends another method's binary scores, e.g. the behavior model's.
    pub fn add_binary(&mut self, target: BinaryTarget, method: &str, scores: BinaryScores) {
        let row = BinaryRow {
            method: method.to_string(),
            scores,
        };
        match target {
            BinaryTarget::Propensity => self.propensity.push(row),
            BinaryTarget::Churn => self.churn.push(row),
        }
    }

    fn describe(backtest: &Backtest) -> Evaluation {
        Evaluation {
            available: true,
            note: None,
            split: Some(backtest.split),
            cutoff: (backtest.split == SplitKind::GlobalTime)
                .then(|| format_iso(backtest.cutoff_ms)),
            repeat_purchases: backtest.repeat_purchases,
            repeat_purchases_detected: backtest.repeat_purchases_detected,
            users_before: backtest.users_before,
            users_after: backtest.users_after,
            ..Evaluation::unavailable("")
        }
    }
}

/// Users evaluated on one task, with what they are scored against.
struct TaskTargets {
    task: Task,
    users: Vec<u32>,
    /// Sorted distinct relevant items, one list per user.
    targets: Vec<Vec<u32>>,
    /// Items removed from each user's ranking, one list per user.
    excluded: Vec<Vec<u32>>,
}

fn next_item_targets(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> TaskTargets {
    let mut targets = TaskTargets {
        task: Task::NextItem,
        users: Vec::new(),
        targets: Vec::new(),
        excluded: Vec::new(),
    };
    for user in 0..timelines.users() {
        if backtest.train_len[user] == 0 {
            continue;
        }
        let next = backtest
            .held_out(timelines, user)
            .iter()
            .map(|&index| log.events[index as usize].item)
            .find(|&item| item != NONE);
        if let Some(item) = next {
            targets.users.push(user as u32);
            targets.targets.push(vec![item]);
            targets.excluded.push(Vec::new());
        }
    }
    targets
}

fn purchase_targets(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> TaskTargets {
    let purchased = |events: &[u32]| -> Vec<u32> {
        let mut items: Vec<u32> = events
            .iter()
            .map(|&index| &log.events[index as usize])
            .filter(|event| event.kind == EventKind::Purchase && event.item != NONE)
            .map(|event| event.item)
            .collect();
        items.sort_unstable();
        items.dedup();
        items
    };
    let mut targets = TaskTargets {
        task: Task::Purchase,
        users: Vec::new(),
        targets: Vec::new(),
        excluded: Vec::new(),
    };
    for user in 0..timelines.users() {
        if backtest.train_len[user] == 0 {
            continue;
        }
        let mut target = purchased(backtest.held_out(timelines, user));
        let excluded = if backtest.repeat_purchases {
            Vec::new()
        } else {
            let before = purchased(backtest.history(timelines, user));
            target.retain(|item| before.binary_search(item).is_err());
            before
        };
        if !target.is_empty() {
            targets.users.push(user as u32);
            targets.targets.push(target);
            targets.excluded.push(excluded);
        }
    }
    targets
}

/// Labels of the binary tasks for every user with a history.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryLabels {
    /// Users with at least one event before the cut-off, ascending.
    pub users: Vec<u32>,
    /// Whether each user purchases anything after the cut-off.
    pub buys_after: Vec<bool>,
    /// Whether each user has no event after the cut-off.
    pub churned: Vec<bool>,
}

/// Labels the users that [`evaluate`] scores for propensity and churn, so a
/// caller can score the same users with another method.
pub fn binary_labels(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> BinaryLabels {
    let mut labels = BinaryLabels {
        users: Vec::new(),
        buys_after: Vec::new(),
        churned: Vec::new(),
    };
    for user in 0..timelines.users() {
        if backtest.train_len[user] == 0 {
            continue;
        }
        let held_out = backtest.held_out(timelines, user);
        labels.users.push(user as u32);
        labels.buys_after.push(
            held_out
                .iter()
                .any(|&index| log.events[index as usize].kind == EventKind::Purchase),
        );
        labels.churned.push(held_out.is_empty());
    }
    labels
}

/// Scores every method on both tasks, the propensity and churn baselines,
/// and the coverage of each method's top-10 next-item lists.
///
/// A log without item ids or without any user who has a history and a
/// held-out event with an item gives an unavailable evaluation with a note.
/// A scorer that fails is left out of the tables, and the note names it
/// with its error.
pub fn evaluate(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    scorers: &mut [&mut dyn ItemScorer],
    options: &BacktestOptions,
) -> Evaluation {
    evaluate_with_shards(log, timelines, backtest, Vec::new(), scorers, options)
}

/// Does what [`evaluate`] does, with the first methods already scored in
/// shards by [`score_shard`]: each entry of `sharded` contains every shard
/// of one method. Their rows come before those of `scorers`.
pub fn evaluate_with_shards(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    sharded: Vec<Vec<MethodShard>>,
    scorers: &mut [&mut dyn ItemScorer],
    options: &BacktestOptions,
) -> Evaluation {
    let mut evaluation = Evaluation::describe(backtest);
    let mut notes = backtest.notes.clone();
    let unavailable = |mut evaluation: Evaluation, mut notes: Vec<String>, reason: String| {
        notes.insert(0, reason);
        evaluation.available = false;
        evaluation.note = join_notes(&notes);
        evaluation
    };
    if log.events.iter().all(|event| event.item == NONE) {
        return unavailable(
            evaluation,
            notes,
            "the log names no items (no event has an item id), so there is nothing to recommend"
                .into(),
        );
    }
    let next_item = next_item_targets(log, timelines, backtest);
    if next_item.users.is_empty() {
        return unavailable(evaluation, notes, describe_no_users(log, backtest));
    }
    let purchase = purchase_targets(log, timelines, backtest);
    if purchase.users.is_empty() {
        notes.push(
            "no evaluated user purchased an item after the cut-off that counts as new, so the \
             purchase table is empty"
                .into(),
        );
    }

    let popular = popular_items(log, timelines, backtest);
    let batch_users = batch_users(log.items.len());
    let mut results = Vec::with_capacity(sharded.len() + scorers.len());
    for parts in sharded {
        let method = parts.first().map_or_else(String::new, |part| part.method.clone());
        let (next_parts, purchase_parts): (Vec<TaskShard>, Vec<TaskShard>) = parts
            .into_iter()
            .map(|part| (part.next_item, part.purchase))
            .unzip();
        results.push((
            method,
            merge_task(next_parts, batch_count(next_item.users.len(), batch_users)),
            merge_task(purchase_parts, batch_count(purchase.users.len(), batch_users)),
        ));
    }
    let mut buffer = Vec::new();
    for scorer in scorers.iter_mut() {
        let method = scorer.method().to_string();
        let whole = score_method(log, timelines, backtest, &mut **scorer, &next_item, &purchase, Shard::WHOLE, &mut buffer);
        results.push((
            method,
            merge_task(vec![whole.next_item], batch_count(next_item.users.len(), batch_users)),
            merge_task(vec![whole.purchase], batch_count(purchase.users.len(), batch_users)),
        ));
    }

    for (method, next_rows, purchase_rows) in results {
        match next_rows {
            Ok(rows) => {
                let mut tally = CoverageTally::new(log.items.len());
                for row in &rows {
                    tally.add(&row.top[..row.top.len().min(COVERAGE_K)], &popular);
                }
                let per_user: Vec<[f64; METRIC_COUNT]> = rows.iter().map(|row| row.metrics).collect();
                evaluation
                    .next_item
                    .push(summarize(&method, &per_user, options, Task::NextItem));
                evaluation.coverage.push(tally.finish(&method));
            }
            Err(error) => notes.push(format!("{method} failed on the next-item task: {error}")),
        }
        if purchase.users.is_empty() {
            continue;
        }
        match purchase_rows {
            Ok(rows) => {
                let per_user: Vec<[f64; METRIC_COUNT]> = rows.iter().map(|row| row.metrics).collect();
                evaluation
                    .purchase
                    .push(summarize(&method, &per_user, options, Task::Purchase))
            }
            Err(error) => notes.push(format!("{method} failed on the purchase task: {error}")),
        }
    }

    add_binary_baselines(&mut evaluation, &mut notes, log, timelines, backtest);
    evaluation.best_baseline = BestBaseline {
        next_item: best_baseline(&evaluation.next_item),
        purchase: best_baseline(&evaluation.purchase),
    };
    evaluation.note = join_notes(&notes);
    evaluation
}

/// Returns whether [`evaluate`] can score any user, so that it will run
/// its scorers: the log names items and some user has a history and a
/// held-out event with an item.
pub fn has_evaluated_users(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> bool {
    log.events.iter().any(|event| event.item != NONE)
        && !next_item_targets(log, timelines, backtest).users.is_empty()
}

/// One user's ranking results: the metrics in the field order of
/// [`Metrics`] and the first items of the top list, for coverage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRanking {
    pub metrics: [f64; METRIC_COUNT],
    /// Up to 10 item ids, best first.
    pub top: Vec<u32>,
}

/// The users of one ranking task that one shard scored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskShard {
    pub users: Batches<UserRanking>,
    /// The shard's first failed batch and its error. The shard runs no
    /// batch of the task after it.
    pub failed: Option<(usize, String)>,
}

/// One method's ranking results on both tasks for the batches of one
/// shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodShard {
    pub method: String,
    pub next_item: TaskShard,
    pub purchase: TaskShard,
}

/// Scores the users of both ranking tasks in the batches that `shard`
/// owns, as [`evaluate`] does for the whole log. Returns empty tasks when
/// [`has_evaluated_users`] is false.
pub fn score_shard(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    scorer: &mut dyn ItemScorer,
    shard: Shard,
) -> MethodShard {
    if !has_evaluated_users(log, timelines, backtest) {
        return MethodShard {
            method: scorer.method().to_string(),
            next_item: TaskShard::default(),
            purchase: TaskShard::default(),
        };
    }
    let next_item = next_item_targets(log, timelines, backtest);
    let purchase = purchase_targets(log, timelines, backtest);
    score_method(log, timelines, backtest, scorer, &next_item, &purchase, shard, &mut Vec::new())
}

#[allow(clippy::too_many_arguments)]
fn score_method(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    scorer: &mut dyn ItemScorer,
    next_item: &TaskTargets,
    purchase: &TaskTargets,
    shard: Shard,
    buffer: &mut Vec<f32>,
) -> MethodShard {
    MethodShard {
        method: scorer.method().to_string(),
        next_item: score_task(log, timelines, backtest, scorer, next_item, shard, buffer),
        purchase: score_task(log, timelines, backtest, scorer, purchase, shard, buffer),
    }
}

/// Joins the shards of one task, or returns the error of the earliest
/// failed batch, which is the error a single pass would have stopped at.
fn merge_task(parts: Vec<TaskShard>, batches: usize) -> Result<Vec<UserRanking>, String> {
    let first_failure = parts
        .iter()
        .filter_map(|part| part.failed.as_ref())
        .min_by_key(|(batch, _)| *batch);
    if let Some((_, error)) = first_failure {
        return Err(error.clone());
    }
    Batches::merge(parts.into_iter().map(|part| part.users), batches)
}

/// Users per [`ItemScorer::score`] call for a catalog of `items` items.
fn batch_users(items: usize) -> usize {
    (MAX_BATCH_SCORES / items.max(1)).clamp(1, MAX_BATCH_USERS)
}

/// Joins notes, which contain no semicolons, into one text.
fn join_notes(notes: &[String]) -> Option<String> {
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Explains why no user can be evaluated.
fn describe_no_users(log: &EventLog, backtest: &Backtest) -> String {
    if backtest.split == SplitKind::PerUserLast {
        return "no user has both a history and a held-out step with an item, so nothing can be \
                scored"
            .into();
    }
    let first = log.events.iter().map(|event| event.time).min().unwrap_or(0);
    let last = log.events.iter().map(|event| event.time).max().unwrap_or(0);
    format!(
        "no user has events both before the cut-off {} and, with an item, after it, so choose a \
         cut-off between the log's first event ({}) and its last ({})",
        format_iso(backtest.cutoff_ms),
        format_iso(first),
        format_iso(last)
    )
}

fn add_binary_baselines(
    evaluation: &mut Evaluation,
    notes: &mut Vec<String>,
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
) {
    let labels = binary_labels(log, timelines, backtest);
    let propensity = baselines::propensity_scores(log, timelines, backtest, &labels.users);
    evaluation.add_binary(
        BinaryTarget::Propensity,
        baselines::PROPENSITY_METHOD,
        binary_metrics(&labels.buys_after, &propensity),
    );
    if backtest.split == SplitKind::PerUserLast {
        notes.push(
            "churn is not measured, because a per-user split holds out events of every user".into(),
        );
        return;
    }
    let churn = baselines::churn_scores(log, timelines, backtest, &labels.users);
    evaluation.add_binary(
        BinaryTarget::Churn,
        baselines::CHURN_METHOD,
        binary_metrics(&labels.churned, &churn),
    );
}

fn best_baseline(rows: &[MethodScores]) -> Option<String> {
    let mut best: Option<&MethodScores> = None;
    for row in rows {
        if !baselines::METHODS.contains(&row.method.as_str()) {
            continue;
        }
        if best.is_none_or(|current| row.metrics.hit_rate_at_10 > current.metrics.hit_rate_at_10) {
            best = Some(row);
        }
    }
    best.map(|row| row.method.clone())
}

/// Runs one scorer over the users of a task in the batches that `shard`
/// owns and returns each user's metrics and top list. Stops at the first
/// batch that fails.
fn score_task(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    scorer: &mut dyn ItemScorer,
    targets: &TaskTargets,
    shard: Shard,
    buffer: &mut Vec<f32>,
) -> TaskShard {
    let items = log.items.len();
    let batch_users = batch_users(items);
    let mut result = TaskShard::default();
    let mut histories: Vec<&[u32]> = Vec::with_capacity(batch_users);
    for (batch, users) in targets.users.chunks(batch_users).enumerate() {
        if !shard.owns(batch) {
            continue;
        }
        histories.clear();
        histories.extend(
            users
                .iter()
                .map(|&user| backtest.history(timelines, user as usize)),
        );
        match score_batch(log, scorer, targets, batch * batch_users, &histories, buffer) {
            Ok(rows) => result.users.push(batch, rows),
            Err(error) => {
                result.failed = Some((batch, error));
                break;
            }
        }
    }
    result
}

/// Scores one batch of a task's users, whose first user is at position
/// `first` of `targets`.
fn score_batch(
    log: &EventLog,
    scorer: &mut dyn ItemScorer,
    targets: &TaskTargets,
    first: usize,
    histories: &[&[u32]],
    buffer: &mut Vec<f32>,
) -> Result<Vec<UserRanking>, String> {
    let items = log.items.len();
    buffer.clear();
    buffer.resize(histories.len() * items, 0.0);
    scorer.score(targets.task, histories, buffer)?;
    let mut rows = Vec::with_capacity(histories.len());
    for (offset, row) in buffer.chunks_exact_mut(items.max(1)).enumerate() {
        let slot = first + offset;
        let ranking = rank_items(row, &targets.targets[slot], &targets.excluded[slot])
            .map_err(|item| {
                format!(
                    "NaN score for item {} of user {}",
                    display_name(log.items.name(item)),
                    display_name(log.users.name(targets.users[slot]))
                )
            })?;
        let metrics = user_metrics(&ranking.top, &targets.targets[slot], ranking.first_relevant_rank);
        let mut top = ranking.top;
        top.truncate(COVERAGE_K);
        rows.push(UserRanking { metrics, top });
    }
    Ok(rows)
}

/// A user's top list and where their first relevant item ranks.
#[derive(Debug, PartialEq)]
struct Ranking {
    /// Up to 20 item ids, best first, without excluded items.
    top: Vec<u32>,
    /// 1-based rank of the best-ranked relevant item over all items.
    first_relevant_rank: usize,
}

/// Ranks all items of one score row: score descending, ties by item id
/// ascending. Excluded items get -inf first, and items scored -inf are
/// left out of the top list. `target` must not be empty. Fails with the id
/// of an item whose score is NaN.
///
/// Each step is a plain pass over the row that the compiler can vectorize,
/// and the top 20 come from a partial selection, not a sort.
fn rank_items(row: &mut [f32], target: &[u32], excluded: &[u32]) -> Result<Ranking, u32> {
    if row
        .iter()
        .fold(false, |found, score| found | score.is_nan())
    {
        let item = row.iter().position(|score| score.is_nan());
        return Err(item.unwrap_or_default() as u32);
    }
    for &item in excluded {
        row[item as usize] = f32::NEG_INFINITY;
    }
    let mut best = (f32::NEG_INFINITY, u32::MAX);
    for &item in target {
        let score = row[item as usize];
        if score > best.0 || (score == best.0 && item < best.1) {
            best = (score, item);
        }
    }
    // Items ranked above the best relevant item: higher scores anywhere,
    // equal scores only at lower ids.
    let higher = row.iter().filter(|&&score| score > best.0).count();
    let tied_before = row[..best.1 as usize]
        .iter()
        .filter(|&&score| score == best.0)
        .count();
    Ok(Ranking {
        top: select_top(row),
        first_relevant_rank: higher + tied_before + 1,
    })
}

/// Returns the ids of the 20 best items of a row (fewer when fewer score above -inf),
/// best first, ties by id.
fn select_top(row: &[f32]) -> Vec<u32> {
    const BLOCK: usize = 16;
    let mut top: Vec<(f32, u32)> = Vec::with_capacity(MAX_K + 1);
    // Score an item must exceed to enter the list: -inf until the list is
    // full, then the score of its last entry. An item that only ties it has
    // a larger id, so it ranks below.
    let mut floor = f32::NEG_INFINITY;
    for (block, scores) in row.chunks(BLOCK).enumerate() {
        let block_max =
            scores.iter().fold(
                f32::NEG_INFINITY,
                |max, &score| if score > max { score } else { max },
            );
        if block_max <= floor {
            continue;
        }
        for (offset, &score) in scores.iter().enumerate() {
            if score <= floor {
                continue;
            }
            let position = top.partition_point(|&(kept, _)| kept >= score);
            top.insert(position, (score, (block * BLOCK + offset) as u32));
            top.truncate(MAX_K);
            if top.len() == MAX_K {
                floor = top[MAX_K - 1].0;
            }
        }
    }
    top.into_iter().map(|(_, item)| item).collect()
}

/// Computes the metrics of one user, in the field order of [`Metrics`]. `target` is
/// sorted and not empty.
fn user_metrics(top: &[u32], target: &[u32], first_relevant_rank: usize) -> [f64; METRIC_COUNT] {
    let discount = |position: usize| 1.0 / ((position + 2) as f64).log2();
    let mut values = [0.0; METRIC_COUNT];
    for (slot, &k) in KS.iter().enumerate() {
        let list = &top[..k.min(top.len())];
        let mut hits = 0usize;
        let mut dcg = 0.0;
        for (position, item) in list.iter().enumerate() {
            if target.binary_search(item).is_ok() {
                hits += 1;
                dcg += discount(position);
            }
        }
        let ideal: f64 = (0..target.len().min(k)).map(discount).sum();
        let precision = hits as f64 / k as f64;
        let recall = hits as f64 / target.len() as f64;
        values[HIT_RATE + slot] = if hits > 0 { 1.0 } else { 0.0 };
        values[NDCG + slot] = dcg / ideal;
        values[PRECISION + slot] = precision;
        values[RECALL + slot] = recall;
        values[F1 + slot] = if hits > 0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
    }
    values[MRR] = 1.0 / first_relevant_rank as f64;
    values
}

/// Averages per-user metrics and adds bootstrap intervals. Every method of
/// a task resamples the same users (the seed depends only on the task), so
/// their intervals are paired.
fn summarize(
    method: &str,
    per_user: &[[f64; METRIC_COUNT]],
    options: &BacktestOptions,
    task: Task,
) -> MethodScores {
    let seed = options.seed ^ (task as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    MethodScores {
        method: method.to_string(),
        users: per_user.len(),
        metrics: Metrics::from_array(mean_rows(per_user.iter())),
        intervals: bootstrap_intervals(per_user, options.bootstrap_samples, seed),
    }
}

fn mean_rows<'a>(
    rows: impl ExactSizeIterator<Item = &'a [f64; METRIC_COUNT]>,
) -> [f64; METRIC_COUNT] {
    let count = rows.len();
    let mut sums = [0.0; METRIC_COUNT];
    for row in rows {
        for (sum, value) in sums.iter_mut().zip(row) {
            *sum += value;
        }
    }
    sums.map(|sum| if count == 0 { 0.0 } else { sum / count as f64 })
}

/// Percentile-bootstrap 95% intervals: `samples` resamples of the users
/// with replacement, then the 2.5th and 97.5th percentiles of the resampled
/// means (linear interpolation between order statistics, as
/// `numpy.percentile` does by default).
fn bootstrap_intervals(
    per_user: &[[f64; METRIC_COUNT]],
    samples: usize,
    seed: u64,
) -> Option<Metrics<[f64; 2]>> {
    if samples == 0 || per_user.is_empty() {
        return None;
    }
    let mut random = SplitMix64(seed);
    let users = per_user.len();
    let means: Vec<[f64; METRIC_COUNT]> = (0..samples)
        .map(|_| {
            let draws = (0..users).map(|_| &per_user[random.below(users)]);
            mean_rows(draws)
        })
        .collect();
    let mut column = vec![0.0; samples];
    let intervals = std::array::from_fn(|metric| {
        for (value, mean) in column.iter_mut().zip(&means) {
            *value = mean[metric];
        }
        column.sort_unstable_by(f64::total_cmp);
        [percentile(&column, 0.025), percentile(&column, 0.975)]
    });
    Some(Metrics::from_array(intervals))
}

/// Returns percentile `share` (0 to 1) of sorted, non-empty `values`.
fn percentile(values: &[f64], share: f64) -> f64 {
    let position = share * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    values[below] + (position - below as f64) * (values[above] - values[below])
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small, seedable generator,
/// enough for bootstrap resampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// Uniform index below `bound` by multiply-shift, with a bias below
    /// `bound / 2^64`.
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// Marks the items in the most popular 1% (at least one) by event count in the
/// training histories, ties by item id. Items never seen before the
/// cut-off are not counted as popular.
fn popular_items(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> Vec<bool> {
    let counts = baselines::item_event_counts(log, timelines, backtest);
    let mut seen: Vec<u32> = (0..counts.len() as u32)
        .filter(|&item| counts[item as usize] > 0)
        .collect();
    let keep = (counts.len() * POPULAR_ITEM_PERCENT)
        .div_ceil(100)
        .max(1)
        .min(seen.len());
    let mut popular = vec![false; counts.len()];
    if keep == 0 {
        return popular;
    }
    seen.select_nth_unstable_by(keep - 1, |&a, &b| {
        counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b))
    });
    for &item in &seen[..keep] {
        popular[item as usize] = true;
    }
    popular
}

/// Counts for [`Coverage`] over the top lists of one method.
struct CoverageTally {
    recommended: Vec<bool>,
    distinct: usize,
    slots: usize,
    popular_slots: usize,
}

impl CoverageTally {
    fn new(items: usize) -> CoverageTally {
        CoverageTally {
            recommended: vec![false; items],
            distinct: 0,
            slots: 0,
            popular_slots: 0,
        }
    }

    fn add(&mut self, list: &[u32], popular: &[bool]) {
        for &item in list {
            let seen = &mut self.recommended[item as usize];
            if !*seen {
                *seen = true;
                self.distinct += 1;
            }
            self.slots += 1;
            if popular[item as usize] {
                self.popular_slots += 1;
            }
        }
    }

    fn finish(&self, method: &str) -> Coverage {
        let share = |part: usize, whole: usize| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        Coverage {
            method: method.to_string(),
            catalog_coverage: share(self.distinct, self.recommended.len()),
            popular_share: share(self.popular_slots, self.slots),
        }
    }
}

/// Computes the ROC AUC and the best F1 of a binary score. Tied scores count half in the
/// AUC and fall on the same side of every threshold. NaN scores rank like
/// -inf. Panics when `labels` and `scores` differ in length.
pub fn binary_metrics(labels: &[bool], scores: &[f32]) -> BinaryScores {
    assert_eq!(
        labels.len(),
        scores.len(),
        "binary_metrics needs one score per label"
    );
    let key = |index: usize| {
        let score = scores[index];
        if score.is_nan() {
            f32::NEG_INFINITY
        } else {
            score
        }
    };
    let users = labels.len();
    let positives = labels.iter().filter(|&&label| label).count();
    let negatives = users - positives;
    let mut order: Vec<usize> = (0..users).collect();
    order.sort_unstable_by(|&a, &b| key(b).total_cmp(&key(a)));

    // Walk the groups of tied scores from the highest down. Positives in a
    // group outrank every negative in lower groups and tie with the
    // negatives of their own group.
    let mut winning_pairs = 0.0f64;
    let mut negatives_above = 0usize;
    let mut true_positives = 0usize;
    let mut predicted = 0usize;
    let mut best_f1 = 0.0f64;
    let mut threshold = None;
    let mut start = 0;
    while start < users {
        let score = key(order[start]);
        let end = start + order[start..].partition_point(|&index| key(index) == score);
        let group_positives = order[start..end].iter().filter(|&&i| labels[i]).count();
        let group_negatives = end - start - group_positives;
        let negatives_below = negatives - negatives_above - group_negatives;
        winning_pairs +=
            group_positives as f64 * (negatives_below as f64 + 0.5 * group_negatives as f64);
        negatives_above += group_negatives;
        true_positives += group_positives;
        predicted += end - start;
        if positives > 0 {
            let f1 = 2.0 * true_positives as f64 / (predicted + positives) as f64;
            if f1 > best_f1 {
                best_f1 = f1;
                threshold = Some(f64::from(score));
            }
        }
        start = end;
    }
    let auc = (positives > 0 && negatives > 0)
        .then(|| winning_pairs / (positives as f64 * negatives as f64));
    BinaryScores {
        users,
        positives,
        auc,
        f1: best_f1,
        threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ranking_breaks_ties_by_item_id() {
        // Items 1, 3 and 4 tie at 2.0, item 0 is best, and item 2 is
        // excluded.
        let mut row = vec![5.0, 2.0, 9.0, 2.0, 2.0, 1.0];
        let ranking = rank_items(&mut row, &[4], &[2]).expect("no NaN");
        assert_eq!(ranking.top, [0, 1, 3, 4, 5]);
        assert_eq!(ranking.first_relevant_rank, 4);
        assert_eq!(row[2], f32::NEG_INFINITY);
    }

    #[test]
    fn ranking_keeps_top_twenty_of_many() {
        // Scores repeat every 7 items, so ties are everywhere.
        let mut row: Vec<f32> = (0..1000).map(|item| (item % 7) as f32).collect();
        let ranking = rank_items(&mut row, &[999], &[]).expect("no NaN");
        let mut expected: Vec<u32> = (0..1000).collect();
        expected.sort_by(|&a, &b| (b % 7).cmp(&(a % 7)).then(a.cmp(&b)));
        assert_eq!(ranking.top, expected[..20]);
        let position = expected.iter().position(|&item| item == 999).unwrap();
        assert_eq!(ranking.first_relevant_rank, position + 1);
    }

    #[test]
    fn ranking_rejects_nan() {
        let mut row = vec![1.0, f32::NAN, 0.5];
        assert_eq!(rank_items(&mut row, &[0], &[]), Err(1));
    }

    #[test]
    fn user_metrics_two_relevant_items() {
        // Relevant items 7 and 9 sit at ranks 2 and 6.
        let top = [1, 7, 2, 3, 4, 9, 5, 6];
        let values = user_metrics(&top, &[7, 9], 2);
        let ideal = 1.0 + 1.0 / 3f64.log2();
        let at_5 = 1.0 / 3f64.log2();
        let at_10 = at_5 + 1.0 / 7f64.log2();
        assert_eq!(values[HIT_RATE], 1.0);
        assert!((values[NDCG] - at_5 / ideal).abs() < 1e-12);
        assert!((values[NDCG + 1] - at_10 / ideal).abs() < 1e-12);
        assert_eq!(values[PRECISION], 0.2);
        assert_eq!(values[PRECISION + 1], 0.2);
        assert_eq!(values[PRECISION + 2], 0.1);
        assert_eq!(values[RECALL], 0.5);
        assert_eq!(values[RECALL + 1], 1.0);
        // F1@5 of P 0.2 and R 0.5: 0.2 / 0.7.
        assert!((values[F1] - 0.2 / 0.7).abs() < 1e-12);
        assert!((values[F1 + 1] - 0.4 / 1.2).abs() < 1e-12);
        assert_eq!(values[MRR], 0.5);
    }

    #[test]
    fn percentile_interpolates() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 0.5), 3.0);
        assert_eq!(percentile(&values, 0.975), 4.9);
        assert_eq!(percentile(&[2.0], 0.025), 2.0);
    }

    #[test]
    fn bootstrap_of_equal_users_is_a_point() {
        let per_user = vec![[0.25; METRIC_COUNT]; 30];
        let intervals = bootstrap_intervals(&per_user, 50, 7).expect("samples");
        assert_eq!(intervals.mrr, [0.25, 0.25]);
        assert!(bootstrap_intervals(&per_user, 0, 7).is_none());
    }

    #[test]
    fn random_index_stays_below_bound() {
        let mut random = SplitMix64(1);
        let mut seen = [0usize; 3];
        for _ in 0..3000 {
            seen[random.below(3)] += 1;
        }
        assert!(seen.iter().all(|&count| (900..1100).contains(&count)));
    }
}
