//! Logs at the edges of what a behavior model can learn from: only
//! purchases, only views, one user, and no events at all. Each gives a
//! report with plain notes for what it cannot show, or a clear error.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::pipeline::{analyze, AnalyzeOptions};
use behavior_lens::report::Report;

const HEADER: &str = "user_id,item_id,behavior_type,timestamp\n";

fn report_of(name: &str, rows: &str) -> Report {
    let text = format!("{HEADER}{rows}");
    analyze(name, text.as_bytes(), &AnalyzeOptions::default(), None, None, &mut |_, _| {})
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn purchases_only_train_but_cannot_backtest() {
    let report = report_of(
        "purchases.csv",
        "1,A,buy,1511544070\n2,B,buy,1511547070\n1,B,buy,1511644070\n3,A,buy,1511744070\n",
    );
    let model = report.model.as_ref().expect("a model");
    assert!(model.steps > 0);
    let evaluation = report.evaluation.as_ref().expect("an evaluation section");
    assert!(!evaluation.available);
    assert!(evaluation.note.as_deref().unwrap_or("").contains("cut-off"));
    let segments = report.segments.as_ref().expect("a segments section");
    assert!(!segments.available);
    assert!(segments.note.as_deref().unwrap_or("").contains("at least 4 users"));
    assert_eq!(report.recommendations.as_ref().expect("recommendations").users.len(), 3);
}

#[test]
fn views_only_recommend_without_purchases() {
    let report = report_of(
        "views.csv",
        "1,A,pv,1511544070\n2,B,pv,1511547070\n1,B,pv,1511644070\n3,A,pv,1511744070\n",
    );
    let interest = report.interest.as_ref().expect("interest");
    assert_eq!(interest.users.len(), 3);
    for user in &interest.users {
        let total: f64 = user.next_event.iter().map(|entry| entry.probability).sum();
        assert!(total <= 1.0 + 1e-6, "{total}");
    }
}

#[test]
fn one_user_gets_a_report_with_notes() {
    let report = report_of(
        "single.csv",
        "1,A,pv,1511544070\n1,B,cart,1511547070\n1,B,buy,1511644070\n1,C,pv,1511744070\n",
    );
    assert_eq!(report.summary.users, 1);
    let evaluation = report.evaluation.as_ref().expect("an evaluation section");
    assert!(evaluation.note.as_deref().unwrap_or("").contains("purchase table is empty"));
    assert!(!report.segments.as_ref().expect("segments").available);
}

#[test]
fn empty_log_names_the_file() {
    let error = analyze("empty.csv", HEADER.as_bytes(), &AnalyzeOptions::default(), None, None, &mut |_, _| {})
        .err()
        .expect("an error");
    assert!(error.to_string().contains("empty.csv"), "{error}");
}
