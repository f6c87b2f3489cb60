//! The model pass split into shards and merged gives the same report, to
//! the bit, as the single pass of `pipeline::complete`. Native only: three
//! passes over the REES46 sample take minutes in a debug wasm build, and
//! the browser tests compare the page's pooled and single-worker reports.

#![cfg(not(target_arch = "wasm32"))]

use behavior_lens::analysis::shard::Shard;
use behavior_lens::behavior::BehaviorModel;
use behavior_lens::model::LoadLimits;
use behavior_lens::pipeline::{self, AnalyzeError, AnalyzeOptions, Parsed, Resolved, ShardResult};
use behavior_lens::report::Report;

const REES46: &[u8] = include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv");
const MODEL: &[u8] = include_bytes!("../www/models/sample.gguf");

fn rees46() -> (Parsed, Resolved) {
    let resolved = AnalyzeOptions::default().resolve().expect("default options");
    let parsed = pipeline::parse("2019-Oct.csv", REES46, &resolved, &mut |_, _| {}).expect("the log parses");
    (parsed, resolved)
}

fn model() -> BehaviorModel {
    BehaviorModel::from_gguf(MODEL, &LoadLimits::unlimited()).expect("the sample model loads")
}

fn basic(parsed: &Parsed, resolved: &Resolved) -> Report {
    pipeline::basic_report(parsed, resolved, &mut |_, _| {})
}

fn run_shards(parsed: &Parsed, resolved: &Resolved, model: &BehaviorModel, count: usize) -> Vec<ShardResult> {
    (0..count)
        .map(|index| {
            let shard = Shard::new(index, count).expect("valid shard");
            pipeline::run_shard(parsed, resolved, model, shard, &mut |_, _| {}).expect("the shard runs")
        })
        .collect()
}

fn to_text(report: &Report) -> String {
    serde_json::to_string(report).expect("the report serializes")
}

#[test]
fn sharded_pass_equals_single_pass() {
    let (parsed, resolved) = rees46();
    let model = model();
    let mut single = basic(&parsed, &resolved);
    pipeline::complete(&parsed, &resolved, &model, &mut single, &mut |_, _| {}).expect("the single pass runs");

    // The comparison means something only when every model section is
    // filled and spans several batches.
    let evaluation = single.evaluation.as_ref().expect("evaluation");
    assert!(evaluation.available, "evaluation: {:?}", evaluation.note);
    assert_eq!(evaluation.next_item[0].method, "behavior_gpt");
    assert!(evaluation.next_item[0].users > 3 * 64, "{} next-item users", evaluation.next_item[0].users);
    assert_eq!(evaluation.propensity.last().map(|row| row.method.as_str()), Some("behavior_gpt"));
    assert_eq!(single.interest.as_ref().expect("interest").users.len(), 300);
    assert!(single.segments.is_some(), "no segments");
    let expected = to_text(&single);

    for count in [2, 3] {
        let mut shards = run_shards(&parsed, &resolved, &model, count);
        // Results may arrive in any order.
        shards.reverse();
        let mut merged = basic(&parsed, &resolved);
        pipeline::merge_shards(&parsed, &resolved, &model, shards, &mut merged, &mut |_, _| {})
            .expect("the shards merge");
        assert!(to_text(&merged) == expected, "the report merged from {count} shards differs from the single pass");
    }
}

#[test]
fn merge_rejects_missing_shard() {
    let (parsed, resolved) = rees46();
    let model = model();
    let mut shards = run_shards(&parsed, &resolved, &model, 3);
    shards.remove(1);
    let mut report = basic(&parsed, &resolved);
    let error = pipeline::merge_shards(&parsed, &resolved, &model, shards, &mut report, &mut |_, _| {})
        .expect_err("two of three shards merged");
    assert!(matches!(error, AnalyzeError::Shards(_)), "{error}");
    assert_eq!(error.to_string(), "model pass: received 2 shard results, but one is shard 0 of 3");
}

#[test]
fn merge_rejects_repeated_shard() {
    let (parsed, resolved) = rees46();
    let model = model();
    let shard = Shard::new(0, 2).expect("valid shard");
    let first = pipeline::run_shard(&parsed, &resolved, &model, shard, &mut |_, _| {}).expect("the shard runs");
    let mut report = basic(&parsed, &resolved);
    let error = pipeline::merge_shards(&parsed, &resolved, &model, vec![first.clone(), first], &mut report, &mut |_, _| {})
        .expect_err("one shard merged twice");
    assert_eq!(error.to_string(), "model pass: received shard 0 of 2 twice");
}

#[test]
fn workers_option_is_checked() {
    for workers in [0, 17] {
        let options = AnalyzeOptions {
            workers: Some(workers),
            ..AnalyzeOptions::default()
        };
        let error = options.resolve().err().expect("an invalid worker count resolved");
        assert_eq!(error.to_string(), format!("invalid option: {workers} workers; expected 1 to 16"));
    }
    let options = AnalyzeOptions {
        workers: Some(4),
        ..AnalyzeOptions::default()
    };
    assert!(options.resolve().is_ok());
}
