//! The native command line: output contracts and error reporting.

#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_behavior-lens"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn inspect_json_has_exact_keys() {
    let (ok, stdout, stderr) = run(&[
        "inspect",
        "tests/data/rees46-2019-oct-head/2019-Oct.csv",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "encoding",
            "event_counts",
            "events",
            "first_event",
            "format",
            "items",
            "last_event",
            "rejected",
            "rejected_reasons",
            "rows",
            "sessions",
            "users",
            "warnings"
        ]
    );
    assert_eq!(value["rows"], 17_435);
    assert_eq!(value["events"], 17_429);
    assert_eq!(value["rejected_reasons"][0]["first_line"], 17_436);
    assert_eq!(value["event_counts"]["purchase"], 214);
}

#[test]
fn inspect_text_names_rejected_position() {
    let (ok, stdout, _) = run(&["inspect", "tests/data/formats/sentences-en.txt"]);
    assert!(ok);
    assert!(
        stdout.contains("tests/data/formats/sentences-en.txt:2:23: unreadable behavior step"),
        "{stdout}"
    );
}

#[test]
fn sequences_in_both_languages() {
    let (ok, stdout, stderr) = run(&[
        "sequences",
        "tests/data/formats/sentences-zh.txt",
        "--lang",
        "zh",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "用户1: 浏览商品A -> 加入购物车 -> 浏览商品B -> 购买商品A"
    );
    let (ok, stdout, _) = run(&[
        "sequences",
        "tests/data/formats/sentences-zh.txt",
        "--lang",
        "en",
        "--gaps",
    ]);
    assert!(ok);
    assert_eq!(
        stdout.lines().nth(1),
        Some("user2: favorite item C -> [+2h] purchase item C")
    );
}

#[test]
fn sequences_by_session_and_limit() {
    let (ok, stdout, _) = run(&[
        "sequences",
        "tests/data/rees46-2019-oct-head/2019-Oct.csv",
        "--by",
        "session",
        "--limit",
        "7",
        "--lang",
        "en",
        "--attributes",
    ]);
    assert!(ok);
    assert_eq!(stdout.lines().count(), 7);
    assert!(stdout.contains("(category "), "{stdout}");
}

#[test]
fn rendered_sentences_read_back() {
    let dir = std::env::temp_dir().join(format!("behavior-lens-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("tianchi-sentences.txt");
    let (ok, stdout, _) = run(&[
        "sequences",
        "tests/data/tianchi-mobile-sample/sample_user_behavior.csv",
        "--lang",
        "zh",
        "--max-events",
        "100000",
    ]);
    assert!(ok);
    std::fs::write(&path, &stdout).expect("write sentences");
    let path_text = path.to_string_lossy().into_owned();
    let (ok, json, stderr) = run(&["inspect", &path_text, "--json"]);
    assert!(ok, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["format"], "sentences");
    assert_eq!(value["users"], 34);
    assert_eq!(value["events"], 1_895);
    assert_eq!(value["rejected"], 0);
    assert_eq!(value["event_counts"]["purchase"], 34);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn analyze_writes_report() {
    let dir = std::env::temp_dir().join(format!("behavior-lens-report-{}", std::process::id()));
    let dir_text = dir.to_string_lossy().into_owned();
    let (ok, _, stderr) = run(&[
        "analyze",
        "tests/data/tianchi-mobile-sample/sample_user_behavior.csv",
        "--out",
        &dir_text,
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
            .expect("JSON");
    assert_eq!(report["summary"]["events"], 1_895);
    assert_eq!(report["input"]["duplicates_dropped"], 104);
    assert!(report["sentences"][0]
        .as_str()
        .is_some_and(|s| s.starts_with("用户")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_name_file_and_fix() {
    let (ok, _, stderr) = run(&[
        "inspect",
        "tests/data/tianchi-mobile-sample/sample_item_info.csv",
    ]);
    assert!(!ok);
    assert!(stderr.starts_with("error: tests/data/tianchi-mobile-sample/sample_item_info.csv"));
    assert!(stderr.contains("--map user=COLUMN"), "{stderr}");
    let (ok, _, stderr) = run(&["inspect", "tests/data/no-such-file.csv"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read tests/data/no-such-file.csv"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&[
        "inspect",
        "tests/data/formats/tabs.tsv",
        "--timezone",
        "Mars/Base",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown time zone \"Mars/Base\""),
        "{stderr}"
    );
}

#[test]
fn explicit_map_by_column_number() {
    let (ok, stdout, stderr) = run(&[
        "inspect",
        "tests/data/tianchi-mobile-sample/sample_item_info.csv",
        "--map",
        "user=1,item=1,event=2,time=3",
        "--json",
    ]);
    // Category numbers are not times, so every row is rejected with a
    // clear reason.
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("all 1999 rows were rejected"), "{stderr}");
    assert!(
        stderr.contains(":2:3 (item_category): invalid time"),
        "{stderr}"
    );
}

fn lm_json(model: &str) -> serde_json::Value {
    let (ok, stdout, stderr) = run(&["lm", "--model", model, "--ids", "5,17,3,90", "--json"]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

fn floats(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|number| number.as_f64().expect("a number"))
        .collect()
}

#[test]
fn lm_and_convert_round_trip() {
    let reference = lm_json("tests/data/gpt2/fixtures/tiny_lmhead");
    assert_eq!(reference["ids"], serde_json::json!([5, 17, 3, 90]));
    let hidden = floats(&reference["hidden_last"]);
    let logits = floats(&reference["logits_last"]);
    assert_eq!(hidden.len(), 32);
    assert_eq!(logits.len(), 97);

    let dir = std::env::temp_dir().join(format!("behavior-lens-lm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (dtype, min_cosine) in [("f32", 0.999_999), ("q8_0", 0.999)] {
        let out = dir.join(format!("tiny-{dtype}.gguf"));
        let out_text = out.to_string_lossy().into_owned();
        let (ok, _, stderr) = run(&[
            "convert",
            "--from",
            "tests/data/gpt2/fixtures/tiny_lmhead",
            "--to",
            &out_text,
            "--dtype",
            dtype,
        ]);
        assert!(ok, "{stderr}");
        let converted = floats(&lm_json(&out_text)["logits_last"]);
        let dot: f64 = converted.iter().zip(&logits).map(|(a, b)| a * b).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot / (norm(&converted) * norm(&logits));
        assert!(cosine >= min_cosine, "{dtype}: cosine {cosine}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lm_rejects_missing_model() {
    let (ok, _, stderr) = run(&[
        "lm",
        "--model",
        "tests/data/no-model",
        "--ids",
        "1",
        "--json",
    ]);
    assert!(!ok);
    assert!(stderr.contains("tests/data/no-model"), "{stderr}");
}
