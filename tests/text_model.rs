//! A text GPT-2 reading behavior sentences from the command line: the demo
//! model in `www/models/text-demo.gguf` (GPT-2's real vocabulary, two
//! layers, trained on the sample logs' English sentences) on the REES46
//! sample, and files that are not text models.

#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::process::Command;

const LOG: &str = "www/samples/rees46-2019-oct-head.csv";
const TEXT_MODEL: &str = "www/models/text-demo.gguf";
const BEHAVIOR_MODEL: &str = "www/models/sample.gguf";

fn run(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_behavior-lens"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn analyze(out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["analyze", LOG, "--out", out.to_str().unwrap(), "--lang", "en"];
    args.extend_from_slice(extra);
    let (ok, stderr) = run(&args);
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("JSON")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("behavior-lens-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn text_model_beside_behavior_model() {
    let out = scratch("both");
    let report = analyze(&out, &["--model", BEHAVIOR_MODEL, "--text-model", TEXT_MODEL]);
    let text = &report["text_model"];
    assert_eq!(text["model"]["vocab_size"], 50257);
    assert_eq!(text["model"]["layers"], 2);
    assert_eq!(text["model"]["weight_type"], "q8_0");
    assert_eq!(text["model"]["lang"], "en", "{}", text["model"]["lang_reason"]);
    assert_eq!(text["users"], 200);
    assert!(text["tokens"].as_u64().unwrap() > 200 * 20, "{}", text["tokens"]);

    let forecasts = text["forecasts"].as_array().unwrap();
    assert_eq!(forecasts.len(), 30);
    for forecast in forecasts {
        let candidates = forecast["candidates"].as_array().unwrap();
        assert!(!candidates.is_empty());
        assert!(candidates.len() <= 10);
        let shares: Vec<f64> = candidates.iter().map(|c| c["probability"].as_f64().unwrap()).collect();
        assert!(shares.windows(2).all(|pair| pair[0] >= pair[1]), "not ranked: {shares:?}");
        assert!(shares.iter().sum::<f64>() <= 1.0 + 1e-9);
        assert!(shares[0] > 0.0);
    }

    // The model learned how often each verb follows: on this log, where
    // nearly every event is a view, it predicts the held-out event type as
    // well as always guessing the most common type.
    let backtest = &text["backtest"];
    assert_eq!(backtest["users"], 100);
    let model = backtest["text_model"].as_f64().unwrap();
    let frequent = backtest["most_frequent"].as_f64().unwrap();
    assert!(frequent > 0.9, "most frequent type {frequent}");
    assert!(model >= frequent, "text model {model} vs most frequent type {frequent}");
    let offered = backtest["step_offered"].as_f64().unwrap();
    assert!((0.2..=1.0).contains(&offered), "{backtest}");
    let kinds = forecasts[0]["kinds"].as_array().unwrap();
    assert_eq!(kinds[0]["kind"], "view", "{kinds:?}");
    let total: f64 = kinds.iter().map(|k| k["probability"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "kind shares sum to {total}");

    let agreement = &text["agreement"];
    assert!(agreement["users"].as_u64().unwrap() >= 100, "{agreement}");
    let overlap = agreement["neighbor_overlap"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&overlap));
    assert_eq!(text["similar_users"].as_array().unwrap().len(), 20);
    assert_eq!(text["similar_users"][0]["behavior"].as_array().unwrap().len(), 5);
    assert!(text["segments"]["available"].as_bool().unwrap(), "{}", text["segments"]["note"]);

    let csv = std::fs::read_to_string(out.join("next-steps.csv")).expect("next-steps.csv");
    assert!(csv.starts_with("user,rank,action,kind,item,probability\n"));
    assert_eq!(csv.lines().count(), 1 + forecasts.iter().map(|f| f["candidates"].as_array().unwrap().len()).sum::<usize>());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn text_model_alone_in_chinese() {
    let out = scratch("alone");
    let report = analyze(&out, &["--no-model", "--text-model", TEXT_MODEL, "--text-users", "20", "--text-lang", "zh"]);
    let text = &report["text_model"];
    assert_eq!(text["model"]["lang"], "zh");
    let reason = text["model"]["lang_reason"].as_str().unwrap();
    assert!(reason.starts_with("chosen in the options, although its tokenizer needs"), "{reason}");
    assert_eq!(text["users"], 20);
    assert_eq!(text["forecasts"].as_array().unwrap().len(), 20);
    assert_eq!(text["backtest"]["users"], 20);
    assert!(text["agreement"].is_null());
    assert_eq!(text["similar_users"][0]["behavior"].as_array().unwrap().len(), 0);
    let action = text["forecasts"][0]["candidates"][0]["action"].as_str().unwrap();
    assert!(["浏览", "加入购物车", "购买", "结算"].iter().any(|verb| action.starts_with(verb)), "{action}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn behavior_model_rejected_as_text_model() {
    let out = scratch("refused");
    let (ok, stderr) = run(&["analyze", LOG, "--out", out.to_str().unwrap(), "--no-model", "--text-model", BEHAVIOR_MODEL]);
    assert!(!ok);
    assert!(stderr.contains("sample.gguf is a behavior model"), "{stderr}");
    assert!(!out.join("report.json").exists());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn cut_text_model_names_file() {
    let out = scratch("cut");
    std::fs::create_dir_all(&out).unwrap();
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(TEXT_MODEL)).unwrap();
    let cut = out.join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, stderr) = run(&[
        "analyze",
        LOG,
        "--out",
        out.join("report").to_str().unwrap(),
        "--no-model",
        "--text-model",
        cut.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("cut.gguf"), "{stderr}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn text_options_are_checked() {
    let (ok, stderr) = run(&["analyze", LOG, "--out", "out/unused", "--text-users", "50"]);
    assert!(!ok);
    assert!(stderr.contains("--text-model"), "{stderr}");
    let (ok, stderr) = run(&["analyze", LOG, "--out", "out/unused", "--no-model", "--text-model", TEXT_MODEL, "--text-users", "5"]);
    assert!(!ok);
    assert!(stderr.contains("expected 10 to 50000"), "{stderr}");
    let (ok, stderr) = run(&["analyze", LOG, "--out", "out/unused", "--no-model", "--text-model", TEXT_MODEL, "--text-lang", "fr"]);
    assert!(!ok);
    assert!(stderr.contains("expected zh, en or auto"), "{stderr}");
}

#[test]
fn long_emoji_item_keeps_text_section() {
    let out = scratch("emoji");
    std::fs::create_dir_all(&out).unwrap();
    let item: String = std::iter::repeat_n("👋🎚💔🌱", 20).collect();
    let mut log = String::from("user,item,event,time\n");
    for user in 0..6 {
        log.push_str(&format!("u{user},{item},view,2024-01-0{} 10:00\n", user + 1));
        log.push_str(&format!("u{user},B{user},view,2024-01-0{} 10:05\n", user + 1));
        log.push_str(&format!("u{user},{item},purchase,2024-01-0{} 10:09\n", user + 1));
    }
    let log_path = out.join("emoji.csv");
    std::fs::write(&log_path, log).unwrap();
    let report_dir = out.join("report");
    let (ok, stderr) = run(&[
        "analyze",
        log_path.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
        "--no-model",
        "--text-model",
        TEXT_MODEL,
        "--text-users",
        "10",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap()).unwrap();
    assert!(report["text_model_note"].is_null(), "{}", report["text_model_note"]);
    assert_eq!(report["text_model"]["users"], 6);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn not_finite_weights_leave_a_note() {
    use behavior_lens::model::gguf::{gguf_tensors_from_gguf, write_gguf};
    use behavior_lens::model::{TokenizerStorage, WeightFormat};
    use candle_core::{Device, Tensor};

    let out = scratch("nan");
    std::fs::create_dir_all(&out).unwrap();
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(TEXT_MODEL)).unwrap();
    let (config, tokenizer, mut tensors) =
        gguf_tensors_from_gguf(&mut std::io::Cursor::new(&bytes), &Device::Cpu).unwrap();
    for (name, tensor) in tensors.iter_mut() {
        if name == "output_norm.weight" {
            *tensor = Tensor::full(f32::NAN, tensor.dims(), &Device::Cpu).unwrap();
        }
    }
    let tokenizer = tokenizer.expect("the demo model carries its tokenizer");
    let mut file = std::io::Cursor::new(Vec::new());
    write_gguf(&mut file, &config, &tensors, WeightFormat::Q8_0, TokenizerStorage::Auto(&tokenizer)).unwrap();
    let broken = out.join("nan.gguf");
    std::fs::write(&broken, file.into_inner()).unwrap();

    let report_dir = out.join("report");
    let report = analyze(&report_dir, &["--no-model", "--text-model", broken.to_str().unwrap(), "--text-users", "10"]);
    assert!(report["text_model"].is_null());
    let note = report["text_model_note"].as_str().unwrap();
    assert!(note.contains("nan.gguf computed values that are not finite"), "{note}");
    assert!(report["summary"]["events"].as_u64().unwrap() > 0);
    std::fs::remove_dir_all(&out).ok();
}
