//! Backtest evaluation on small logs with results worked out by hand, and
//! on real logs with user counts checked by an independent script.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::analysis::baselines::{self, evaluate_baselines, ItemKnn, Markov, Popularity};
use behavior_lens::analysis::evaluation::{
    binary_labels, binary_metrics, evaluate, split, Backtest, BacktestOptions, BinaryTarget,
    Evaluation, ItemScorer, MethodScores, SplitKind, Task,
};
use behavior_lens::events::{ingest, EventLog, IngestOptions};
use behavior_lens::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};

/// 25 events a minute apart from 10:00. The default cut-off is the time of
/// the 21st event (10:20), so the first 20 events form the histories.
/// Before it: u1, u2, u3 and u5 are active. After it: u1 views without an
/// item, then buys C and A again. u2 views E, an item never seen before,
/// and u4 appears for the first time. u3 and u5 churn.
const SMALL_LOG: &str = "user,item,event,time
u1,A,view,2024-03-01 10:00:00
u1,B,view,2024-03-01 10:01:00
u2,A,view,2024-03-01 10:02:00
u2,A,purchase,2024-03-01 10:03:00
u3,C,view,2024-03-01 10:04:00
u1,A,cart,2024-03-01 10:05:00
u1,A,purchase,2024-03-01 10:06:00
u2,B,view,2024-03-01 10:07:00
u3,B,cart,2024-03-01 10:08:00
u5,D,view,2024-03-01 10:09:00
u3,C,purchase,2024-03-01 10:10:00
u1,C,view,2024-03-01 10:11:00
u2,B,cart,2024-03-01 10:12:00
u5,A,view,2024-03-01 10:13:00
u3,A,view,2024-03-01 10:14:00
u1,B,view,2024-03-01 10:15:00
u2,C,view,2024-03-01 10:16:00
u3,B,purchase,2024-03-01 10:17:00
u2,B,purchase,2024-03-01 10:18:00
u5,D,cart,2024-03-01 10:19:00
u1,,view,2024-03-01 10:20:00
u1,C,purchase,2024-03-01 10:21:00
u1,A,purchase,2024-03-01 10:22:00
u2,E,view,2024-03-01 10:23:00
u4,A,view,2024-03-01 10:24:00
";

/// 10:20 on 2024-03-01 in Unix ms.
const SMALL_CUTOFF_MS: i64 = 1_709_288_400_000;
const MINUTE_DAYS: f64 = 1.0 / 1440.0;

fn read(name: &str, bytes: &[u8]) -> (EventLog, Timelines) {
    let log = ingest(name, bytes, &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    (log, timelines)
}

fn item(log: &EventLog, name: &str) -> u32 {
    log.items.get(name).expect("item in the log")
}

fn user(log: &EventLog, name: &str) -> usize {
    log.users.get(name).expect("user in the log") as usize
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

/// Gives every user the same score per item name.
struct FixedScorer {
    row: Vec<f32>,
}

impl FixedScorer {
    fn new(log: &EventLog, scores: &[(&str, f32)]) -> FixedScorer {
        let mut row = vec![0.0; log.items.len()];
        for &(name, score) in scores {
            row[item(log, name) as usize] = score;
        }
        FixedScorer { row }
    }
}

impl ItemScorer for FixedScorer {
    fn method(&self) -> &str {
        "fixed"
    }

    fn score(
        &mut self,
        _task: Task,
        histories: &[&[u32]],
        scores: &mut [f32],
    ) -> Result<(), String> {
        assert_eq!(scores.len(), histories.len() * self.row.len());
        for row in scores.chunks_exact_mut(self.row.len()) {
            row.copy_from_slice(&self.row);
        }
        Ok(())
    }
}

/// Ranks B, C, D, E, A: C and D tie at 0.5 and C has the lower id.
const FIXED_SCORES: [(&str, f32); 5] = [("A", 0.1), ("B", 0.9), ("C", 0.5), ("D", 0.5), ("E", 0.2)];

fn evaluate_fixed(repeat_purchases: bool) -> Evaluation {
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let options = BacktestOptions {
        repeat_purchases: Some(repeat_purchases),
        bootstrap_samples: 200,
        ..BacktestOptions::default()
    };
    let backtest = split(&log, &timelines, &options).expect("splits");
    let mut scorer = FixedScorer::new(&log, &FIXED_SCORES);
    evaluate(&log, &timelines, &backtest, &mut [&mut scorer], &options)
}

#[test]
fn split_small_log_by_hand() {
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let backtest = split(&log, &timelines, &BacktestOptions::default()).expect("splits");
    assert_eq!(backtest.split, SplitKind::GlobalTime);
    assert_eq!(backtest.cutoff_ms, SMALL_CUTOFF_MS);
    let expected = [("u1", 6), ("u2", 6), ("u3", 5), ("u4", 0), ("u5", 3)];
    for (name, length) in expected {
        assert_eq!(backtest.train_len[user(&log, name)], length, "{name}");
    }
    assert_eq!(backtest.users_before, 4);
    assert_eq!(backtest.users_after, 2);
    // Buyers with two or more purchases: u1 (A twice), u2 and u3, so one
    // in three bought an item again.
    assert!(backtest.repeat_purchases_detected);
    assert!(backtest.repeat_purchases);
    assert!(backtest
        .notes
        .iter()
        .any(|note| note.contains("1 of 3 buyers")));

    let forced = BacktestOptions {
        repeat_purchases: Some(false),
        ..BacktestOptions::default()
    };
    let backtest = split(&log, &timelines, &forced).expect("splits");
    assert!(!backtest.repeat_purchases);
    assert!(backtest.repeat_purchases_detected);
}

#[test]
fn next_item_metrics_by_hand() {
    let evaluation = evaluate_fixed(false);
    assert!(evaluation.available);
    assert_eq!(evaluation.cutoff.as_deref(), Some("2024-03-01T10:20:00Z"));
    assert_eq!(evaluation.users_before, 4);
    assert_eq!(evaluation.users_after, 2);
    let row = &evaluation.next_item[0];
    assert_eq!(row.method, "fixed");
    // u1's next item is C (the view without an item is skipped), ranked
    // 2nd, and u2's is E, ranked 4th.
    assert_eq!(row.users, 2);
    let metrics = &row.metrics;
    assert_eq!(metrics.hit_rate_at_5, 1.0);
    assert!(close(metrics.mrr, (0.5 + 0.25) / 2.0));
    let ndcg = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / 2.0;
    assert!(close(metrics.ndcg_at_5, ndcg));
    assert!(close(metrics.ndcg_at_20, ndcg));
    assert!(close(metrics.precision_at_5, 0.2));
    assert!(close(metrics.precision_at_10, 0.1));
    assert!(close(metrics.precision_at_20, 0.05));
    assert_eq!(metrics.recall_at_5, 1.0);
    // F1 of P 0.2 and R 1: 0.4 / 1.2.
    assert!(close(metrics.f1_at_5, 1.0 / 3.0));

    // Both users get all five items in their top 10. A, the most viewed
    // item before the cut-off (7 events, tied with B, lower id), fills one
    // slot in five.
    let coverage = &evaluation.coverage[0];
    assert_eq!(coverage.catalog_coverage, 1.0);
    assert!(close(coverage.popular_share, 0.2));
    assert_eq!(evaluation.best_baseline.next_item, None);
}

#[test]
fn purchase_excludes_earlier_buys() {
    let evaluation = evaluate_fixed(false);
    // Only u1 buys after the cut-off: C and A, but A was bought before, so
    // A leaves the target and the ranking B, C, D, E.
    let row = &evaluation.purchase[0];
    assert_eq!(row.users, 1);
    assert_eq!(row.metrics.mrr, 0.5);
    assert!(close(row.metrics.ndcg_at_5, 1.0 / 3f64.log2()));
    assert!(close(row.metrics.precision_at_5, 0.2));
    assert_eq!(row.metrics.recall_at_5, 1.0);
}

#[test]
fn purchase_repeat_mode_two_relevant() {
    let evaluation = evaluate_fixed(true);
    assert!(evaluation.repeat_purchases);
    // Target {A, C} at ranks 5 and 2 of B, C, D, E, A.
    let metrics = &evaluation.purchase[0].metrics;
    let dcg = 1.0 / 3f64.log2() + 1.0 / 6f64.log2();
    let ideal = 1.0 + 1.0 / 3f64.log2();
    assert!(close(metrics.ndcg_at_5, dcg / ideal));
    assert_eq!(metrics.mrr, 0.5);
    assert!(close(metrics.precision_at_5, 0.4));
    assert_eq!(metrics.recall_at_5, 1.0);
    // F1 of P 0.4 and R 1: 0.8 / 1.4.
    assert!(close(metrics.f1_at_5, 0.8 / 1.4));
    assert!(close(metrics.precision_at_10, 0.2));
}

#[test]
fn intervals_contain_hand_values() {
    let evaluation = evaluate_fixed(false);
    let intervals = evaluation.next_item[0]
        .intervals
        .as_ref()
        .expect("bootstrap samples");
    // Every resample of u1 (MRR 1/2) and u2 (MRR 1/4) has a mean between
    // those two, and 200 resamples of two users include both extremes.
    assert_eq!(intervals.mrr, [0.25, 0.5]);
    assert_eq!(intervals.hit_rate_at_5, [1.0, 1.0]);
}

#[test]
fn binary_metrics_with_ties() {
    let labels = [true, false, true, false, false];
    let scores = [0.9, 0.9, 0.5, 0.3, 0.5];
    let result = binary_metrics(&labels, &scores);
    assert_eq!(result.users, 5);
    assert_eq!(result.positives, 2);
    // Positive 0.9 against negatives 0.9, 0.3, 0.5: 0.5 + 1 + 1. Positive
    // 0.5 against them: 0 + 1 + 0.5. Total 4 of 6 pairs.
    assert!(close(result.auc.expect("both classes"), 4.0 / 6.0));
    // Threshold 0.5 predicts four users with both positives: F1 4/6.
    assert!(close(result.f1, 4.0 / 6.0));
    assert_eq!(result.threshold, Some(0.5));

    let one_class = binary_metrics(&[false, false], &[0.1, 0.2]);
    assert_eq!(one_class.auc, None);
    assert_eq!(one_class.f1, 0.0);
    assert_eq!(one_class.threshold, None);
}

#[test]
fn binary_baselines_by_hand() {
    let evaluation = evaluate_fixed(false);
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let backtest = split(&log, &timelines, &BacktestOptions::default()).expect("splits");
    let labels = binary_labels(&log, &timelines, &backtest);
    let names: Vec<&str> = labels.users.iter().map(|&u| log.users.name(u)).collect();
    assert_eq!(names, ["u1", "u2", "u3", "u5"]);
    assert_eq!(labels.buys_after, [true, false, false, false]);
    assert_eq!(labels.churned, [false, false, true, true]);

    // Carts and purchases before the cut-off: u1 2, u2 3, u3 3, u5 1. A
    // few minutes of age barely lowers the weights, and u3's are younger
    // than u2's. u1 ranks third: AUC 1/3, best F1 at the top three, 2/4.
    let propensity = baselines::propensity_scores(&log, &timelines, &backtest, &labels.users);
    assert!(propensity[2] > propensity[1]);
    assert!(propensity[1] > propensity[0]);
    let weight = |minutes: f64| 0.5f64.powf(minutes / (7.0 * 1440.0));
    let u1_score = weight(15.0) + weight(14.0);
    assert!((f64::from(propensity[0]) - u1_score).abs() < 1e-6);
    let row = &evaluation.propensity[0];
    assert_eq!(row.method, "recency_frequency");
    assert_eq!(row.scores.users, 4);
    assert_eq!(row.scores.positives, 1);
    assert!(close(row.scores.auc.unwrap(), 1.0 / 3.0));
    assert!(close(row.scores.f1, 0.5));

    // Days since the last event: u1 5, u2 2, u3 3, u5 1 minutes. Churned
    // u3 beats u2 only: AUC 1/4. All four predicted churned: F1 4/6.
    let churn = baselines::churn_scores(&log, &timelines, &backtest, &labels.users);
    let minutes: Vec<i64> = churn
        .iter()
        .map(|&days| (f64::from(days) / MINUTE_DAYS).round() as i64)
        .collect();
    assert_eq!(minutes, [5, 2, 3, 1]);
    let row = &evaluation.churn[0];
    assert_eq!(row.method, "recency");
    assert_eq!(row.scores.positives, 2);
    assert!(close(row.scores.auc.unwrap(), 0.25));
    assert!(close(row.scores.f1, 4.0 / 6.0));
    let threshold = row.scores.threshold.unwrap();
    assert!((threshold - MINUTE_DAYS).abs() < 1e-6);
}

#[test]
fn binary_rows_from_other_methods() {
    let mut evaluation = evaluate_fixed(false);
    let scores = binary_metrics(&[true, false], &[0.8, 0.2]);
    evaluation.add_binary(BinaryTarget::Churn, "behavior_model", scores);
    assert_eq!(evaluation.churn.len(), 2);
    assert_eq!(evaluation.churn[1].method, "behavior_model");
    assert_eq!(evaluation.churn[1].scores.auc, Some(1.0));
}

fn small_backtest() -> (EventLog, Timelines, Backtest) {
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let backtest = split(&log, &timelines, &BacktestOptions::default()).expect("splits");
    (log, timelines, backtest)
}

#[test]
fn popularity_counts_history_only() {
    let (log, timelines, backtest) = small_backtest();
    let popularity = Popularity::fit(&log, &timelines, &backtest);
    let next: Vec<f32> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|name| popularity.scores(Task::NextItem)[item(&log, name) as usize])
        .collect();
    // C is viewed after the cut-off and E only there, and neither counts.
    assert_eq!(next, [7.0, 7.0, 4.0, 2.0, 0.0]);
    // Purchases before: A 2, B 2, C 1. A beats B on its lower id.
    let purchase: Vec<f32> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|name| popularity.scores(Task::Purchase)[item(&log, name) as usize])
        .collect();
    assert_eq!(purchase, [4.0, 3.0, 2.0, 1.0, 0.0]);
}

#[test]
fn item_knn_by_hand() {
    let (log, timelines, backtest) = small_backtest();
    let mut knn = ItemKnn::fit(&log, &timelines, &backtest);
    // History item sets: u1, u2 and u3 {A, B, C}, u5 {A, D}. Users per
    // item: A 4, B 3, C 3, D 1.
    let sim_ab = 3.0 / 12f32.sqrt();
    let neighbors: Vec<(u32, f32)> = knn.neighbors(item(&log, "A")).collect();
    assert_eq!(
        neighbors,
        [
            (item(&log, "B"), sim_ab),
            (item(&log, "C"), sim_ab),
            (item(&log, "D"), 0.5)
        ]
    );
    assert_eq!(knn.neighbors(item(&log, "E")).count(), 0);

    // u2's recent distinct items: B (weight 1), C (0.8), A (0.64).
    let history = backtest.history(&timelines, user(&log, "u2"));
    let mut row = vec![0.0f32; log.items.len()];
    knn.score(Task::NextItem, &[history], &mut row)
        .expect("scores");
    let expected = [
        ("A", sim_ab + 0.8 * sim_ab),
        ("B", 0.8 + 0.64 * sim_ab),
        ("C", 1.0 + 0.64 * sim_ab),
        ("D", 0.64 * 0.5),
        ("E", 0.0),
    ];
    for (name, score) in expected {
        let actual = row[item(&log, name) as usize];
        assert!((actual - score).abs() < 1e-6, "{name}: {actual} != {score}");
    }
}

#[test]
fn markov_counts_history_only() {
    let (log, timelines, backtest) = small_backtest();
    let mut markov = Markov::fit(&log, &timelines, &backtest);
    let (a, b, c, e) = (
        item(&log, "A"),
        item(&log, "B"),
        item(&log, "C"),
        item(&log, "E"),
    );
    // C then A: u3 before the cut-off. u1's C then A comes after it.
    assert_eq!(markov.transitions(c, a), 1);
    // C then B: u1, u2 and u3.
    assert_eq!(markov.transitions(c, b), 3);
    // u2's B before the cut-off and E after it are no transition.
    assert_eq!(markov.transitions(b, e), 0);
    assert_eq!(markov.transitions(a, a), 2);

    // u2's last item is B. B to A once (u1), B to B once (u2), B to C
    // twice (u2 and u3).
    let history = backtest.history(&timelines, user(&log, "u2"));
    let mut row = vec![0.0f32; log.items.len()];
    markov
        .score(Task::NextItem, &[history], &mut row)
        .expect("scores");
    // Backoff: 0.5 * events / 7.
    let expected = [
        ("A", 1.0 + 0.5),
        ("B", 1.0 + 0.5),
        ("C", 2.0 + 0.5 * 4.0 / 7.0),
        ("D", 0.5 * 2.0 / 7.0),
        ("E", 0.0),
    ];
    for (name, score) in expected {
        let actual = row[item(&log, name) as usize];
        assert!((actual - score).abs() < 1e-6, "{name}: {actual} != {score}");
    }
}

#[test]
fn baselines_never_score_later_items() {
    let (log, timelines, backtest) = small_backtest();
    let e = item(&log, "E") as usize;
    let items = log.items.len();
    let histories: Vec<&[u32]> = (0..timelines.users())
        .map(|user| backtest.history(&timelines, user))
        .filter(|history| !history.is_empty())
        .collect();
    let mut popularity = Popularity::fit(&log, &timelines, &backtest);
    let mut knn = ItemKnn::fit(&log, &timelines, &backtest);
    let mut markov = Markov::fit(&log, &timelines, &backtest);
    let scorers: [&mut dyn ItemScorer; 3] = [&mut popularity, &mut knn, &mut markov];
    for scorer in scorers {
        for task in [Task::NextItem, Task::Purchase] {
            let mut scores = vec![0.0f32; histories.len() * items];
            scorer.score(task, &histories, &mut scores).expect("scores");
            for row in scores.chunks_exact(items) {
                assert_eq!(row[e], 0.0, "{} scored E on {task:?}", scorer.method());
            }
            assert!(
                scores.iter().any(|&score| score > 0.0),
                "{} scored nothing on {task:?}",
                scorer.method()
            );
        }
    }
}

#[test]
fn baselines_on_small_log() {
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let evaluation = evaluate_baselines(&log, &timelines, &BacktestOptions::default());
    assert!(evaluation.available);
    let methods: Vec<&str> = evaluation
        .next_item
        .iter()
        .map(|row| row.method.as_str())
        .collect();
    assert_eq!(methods, baselines::METHODS);
    assert_eq!(evaluation.coverage.len(), 3);
    assert!(evaluation.best_baseline.next_item.is_some());
    assert!(evaluation.best_baseline.purchase.is_some());
    let json = serde_json::to_value(&evaluation).expect("serializes");
    assert_eq!(json["split"], "global_time");
    assert_eq!(json["repeat_purchases_detected"], true);
    let row = &json["next_item"][0];
    assert!(row["hit_rate_at_10"].is_f64());
    assert!(row["intervals"]["f1_at_20"][1].is_f64());
    assert!(json["propensity"][0]["auc"].is_f64());
    assert!(json["best_baseline"]["next_item"].is_string());
}

#[test]
fn cutoff_before_all_events_is_unavailable() {
    let (log, timelines) = read("small.csv", SMALL_LOG.as_bytes());
    let options = BacktestOptions {
        cutoff_ms: Some(0),
        ..BacktestOptions::default()
    };
    let evaluation = evaluate_baselines(&log, &timelines, &options);
    assert!(!evaluation.available);
    assert_eq!(evaluation.users_before, 0);
    let note = evaluation.note.expect("a reason");
    assert!(note.contains("no user has events both before"), "{note}");
    assert!(note.contains("2024-03-01T10:00:00Z"), "{note}");
    assert!(evaluation.next_item.is_empty());
}

#[test]
fn sentences_split_per_user() {
    let text = "u1: view item A -> view item B -> add to cart -> purchase item B -> view item C\n\
                u2: view item A -> view item C\n";
    let (log, timelines) = read("steps.txt", text.as_bytes());
    let backtest = split(&log, &timelines, &BacktestOptions::default()).expect("splits");
    assert_eq!(backtest.split, SplitKind::PerUserLast);
    // Five steps hold out one (20%), two steps hold out one (at least one).
    assert_eq!(backtest.train_len[user(&log, "u1")], 4);
    assert_eq!(backtest.train_len[user(&log, "u2")], 1);

    let evaluation = evaluate_baselines(&log, &timelines, &BacktestOptions::default());
    assert!(evaluation.available);
    assert_eq!(evaluation.split, Some(SplitKind::PerUserLast));
    assert_eq!(evaluation.cutoff, None);
    assert_eq!(evaluation.next_item[0].users, 2);
    assert!(evaluation.churn.is_empty());
    let note = evaluation.note.expect("notes");
    assert!(note.contains("behavior sentences carry no times"), "{note}");

    let explicit = BacktestOptions {
        cutoff_ms: Some(1000),
        ..BacktestOptions::default()
    };
    let error = split(&log, &timelines, &explicit).expect_err("no times to cut");
    assert!(error.contains("leave the cut-off unset"), "{error}");
}

#[test]
fn cdnow_without_items_is_unavailable() {
    let (log, timelines) = read(
        "CDNOW_master.txt",
        include_bytes!("data/cdnow/CDNOW_master.txt"),
    );
    let evaluation = evaluate_baselines(&log, &timelines, &BacktestOptions::default());
    assert!(!evaluation.available);
    let note = evaluation.note.expect("a reason");
    assert!(note.contains("names no items"), "{note}");
    assert!(evaluation.next_item.is_empty());
    assert!(evaluation.coverage.is_empty());
}

/// Checks that every metric and interval bound lies in [0, 1] and every
/// interval contains its value.
fn assert_metrics_bounded(rows: &[MethodScores]) {
    for row in rows {
        let values = row.metrics.to_array();
        let intervals = row.intervals.as_ref().expect("intervals").to_array();
        for (index, (value, [low, high])) in values.iter().zip(intervals).enumerate() {
            let method = &row.method;
            assert!(
                (0.0..=1.0).contains(value),
                "{method} metric {index}: {value}"
            );
            assert!(
                (0.0..=1.0).contains(&low),
                "{method} metric {index}: low {low}"
            );
            assert!(
                (0.0..=1.0).contains(&high),
                "{method} metric {index}: high {high}"
            );
            assert!(low <= *value, "{method} metric {index}: {low} > {value}");
            assert!(*value <= high, "{method} metric {index}: {value} > {high}");
        }
    }
}

/// Expected counts for a real log. They come from a separate Python script
/// (csv module) that applies the same rules to the raw file: exact
/// duplicate rows dropped, cut-off at the event at position ceil(0.8 n)
/// in time order, targets and repeat rule as documented.
struct Expected {
    events: usize,
    cutoff: &'static str,
    repeat_purchases: bool,
    users_before: usize,
    users_after: usize,
    next_item_users: usize,
    purchase_users: usize,
    propensity_positives: usize,
    churn_positives: usize,
}

fn check_real_log(log: &EventLog, timelines: &Timelines, expected: &Expected) {
    assert_eq!(log.events.len(), expected.events);
    let evaluation = evaluate_baselines(log, timelines, &BacktestOptions::default());
    assert!(evaluation.available, "{:?}", evaluation.note);
    assert_eq!(evaluation.cutoff.as_deref(), Some(expected.cutoff));
    assert_eq!(evaluation.repeat_purchases, expected.repeat_purchases);
    assert_eq!(evaluation.users_before, expected.users_before);
    assert_eq!(evaluation.users_after, expected.users_after);
    assert_eq!(evaluation.next_item.len(), 3);
    assert_eq!(evaluation.purchase.len(), 3);
    for row in &evaluation.next_item {
        assert_eq!(row.users, expected.next_item_users);
    }
    for row in &evaluation.purchase {
        assert_eq!(row.users, expected.purchase_users);
    }
    assert_metrics_bounded(&evaluation.next_item);
    assert_metrics_bounded(&evaluation.purchase);

    assert_eq!(evaluation.propensity[0].scores.users, expected.users_before);
    assert_eq!(
        evaluation.propensity[0].scores.positives,
        expected.propensity_positives
    );
    assert_eq!(
        evaluation.churn[0].scores.positives,
        expected.churn_positives
    );
    for row in evaluation.propensity.iter().chain(&evaluation.churn) {
        let auc = row.scores.auc.expect("both classes");
        assert!((0.0..=1.0).contains(&auc), "{}: AUC {auc}", row.method);
        assert!((0.0..=1.0).contains(&row.scores.f1));
    }
    for coverage in &evaluation.coverage {
        assert!(coverage.catalog_coverage > 0.0);
        assert!(coverage.catalog_coverage <= 1.0);
        assert!((0.0..=1.0).contains(&coverage.popular_share));
    }
    // Popularity recommends the same ten items to everyone.
    let popularity = &evaluation.coverage[0];
    assert!((popularity.catalog_coverage - 10.0 / log.items.len() as f64).abs() < 1e-12);
    assert!(evaluation.best_baseline.next_item.is_some());
}

#[test]
fn rees46_end_to_end() {
    let (log, timelines) = read(
        "2019-Oct.csv",
        include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv"),
    );
    check_real_log(
        &log,
        &timelines,
        &Expected {
            events: 17_429,
            cutoff: "2019-10-01T02:44:06Z",
            // 6 of 19 buyers with two or more purchases bought an item again.
            repeat_purchases: true,
            users_before: 3_748,
            users_after: 471,
            next_item_users: 471,
            purchase_users: 41,
            propensity_positives: 41,
            churn_positives: 3_277,
        },
    );
}

#[test]
fn rees46_popularity_by_script() {
    let (log, timelines) = read(
        "2019-Oct.csv",
        include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv"),
    );
    let options = BacktestOptions {
        bootstrap_samples: 0,
        ..BacktestOptions::default()
    };
    let backtest = split(&log, &timelines, &options).expect("splits");
    let mut popularity = Popularity::fit(&log, &timelines, &backtest);
    let evaluation = evaluate(
        &log,
        &timelines,
        &backtest,
        &mut [&mut popularity],
        &options,
    );
    // The script ranks items by events before the cut-off, ties by first
    // appearance in the file: 25 of 471 next items are in the top 10.
    let row = &evaluation.next_item[0];
    assert!(close(row.metrics.hit_rate_at_10, 25.0 / 471.0));
    assert!(close(row.metrics.mrr, 0.028_891_335_626_566_806));
    assert!(row.intervals.is_none());
}

#[test]
fn taobao_split_by_script() {
    let (log, timelines) = read(
        "UserBehavior.csv",
        include_bytes!("data/taobao-userbehavior-sample/UserBehavior.csv"),
    );
    let backtest = split(&log, &timelines, &BacktestOptions::default()).expect("splits");
    assert_eq!(
        behavior_lens::events::time::format_iso(backtest.cutoff_ms),
        "2017-11-26T02:46:38Z"
    );
    // 6 of 82 buyers with two or more purchases bought an item again.
    assert!(!backtest.repeat_purchases_detected);
    assert_eq!(backtest.users_before, 54_339);
    assert_eq!(backtest.users_after, 4_086);
    let labels = binary_labels(&log, &timelines, &backtest);
    assert_eq!(labels.buys_after.iter().filter(|&&buys| buys).count(), 130);
    assert_eq!(labels.churned.iter().filter(|&&gone| gone).count(), 50_253);

    // 84,793 items keep at most 50 neighbors each, most similar first.
    let knn = ItemKnn::fit(&log, &timelines, &backtest);
    for item in 0..log.items.len() as u32 {
        let similarities: Vec<f32> = knn
            .neighbors(item)
            .map(|(_, similarity)| similarity)
            .collect();
        assert!(similarities.len() <= 50);
        assert!(similarities.windows(2).all(|pair| pair[0] >= pair[1]));
        assert!(similarities.iter().all(|&similarity| similarity > 0.0));
        assert!(similarities
            .iter()
            .all(|&similarity| similarity <= 1.0 + 1e-6));
    }
}

#[test]
fn instacart_end_to_end() {
    let (log, timelines) = read(
        "df_sample.csv",
        include_bytes!("data/instacart-sample/df_sample.csv"),
    );
    check_real_log(
        &log,
        &timelines,
        &Expected {
            events: 150_000,
            // Relative days: 227 days after the 2017-01-01 anchor.
            cutoff: "2017-08-16T14:00:09Z",
            // Every one of the 593 users reorders a product.
            repeat_purchases: true,
            users_before: 593,
            users_after: 294,
            next_item_users: 294,
            purchase_users: 294,
            propensity_positives: 294,
            churn_positives: 299,
        },
    );
}
