//! The committed default model (`www/models/sample.gguf`) is the one that
//! `scripts/make-sample-model.sh` trains on the page's sample log: same
//! vocabulary, size, seed, cut-off and training run.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::behavior::{BehaviorModel, VocabOptions, Vocabulary};
use behavior_lens::events::time::format_iso;
use behavior_lens::model::LoadLimits;
use behavior_lens::pipeline::{self, AnalyzeOptions, Parsed, Resolved};

const SAMPLE: &[u8] = include_bytes!("../www/samples/rees46-2019-oct-head.csv");
const MODEL: &[u8] = include_bytes!("../www/models/sample.gguf");

fn sample() -> (Parsed, Resolved) {
    let resolved = AnalyzeOptions::default().resolve().expect("default options");
    let parsed = pipeline::parse("rees46-2019-oct-head.csv", SAMPLE, &resolved, &mut |_, _| {})
        .expect("the sample parses");
    (parsed, resolved)
}

fn model() -> BehaviorModel {
    BehaviorModel::from_gguf(MODEL, &LoadLimits::unlimited()).expect("the sample model loads")
}

#[test]
fn vocabulary_matches_the_sample() {
    let (parsed, resolved) = sample();
    let backtest = pipeline::backtest(&parsed, &resolved).expect("the sample splits");
    let expected = Vocabulary::build(
        &parsed.log,
        &parsed.timelines,
        Some(&backtest.train_len),
        &VocabOptions::default(),
    );
    let model = model();
    assert_eq!(model.vocab().len(), expected.len());
    for id in 0..expected.len() as u32 {
        assert_eq!(model.vocab().token(id), expected.token(id), "token {id}");
    }
}

#[test]
fn training_facts_match_the_script() {
    let (parsed, resolved) = sample();
    let backtest = pipeline::backtest(&parsed, &resolved).expect("the sample splits");
    let model = model();
    let report = model.report();
    assert_eq!(report.seed, 42);
    assert_eq!(report.dtype, "q8_0");
    assert_eq!(report.source, "loaded");
    assert_eq!(report.trained_before.as_deref(), Some(format_iso(backtest.cutoff_ms).as_str()));
    let perplexity = report.perplexity.as_ref().expect("validation perplexity");
    assert!(perplexity.model < perplexity.unigram, "{perplexity:?}");
}

/// Re-runs the first steps of the script's training and compares the loss
/// with the one stored in the file. Float sums may differ in the last bits
/// between CPUs, hence the tolerance.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn first_steps_repeat_the_stored_run() {
    let (parsed, resolved) = sample();
    let model = model();
    let stored = &model.report().loss_curve[0];
    let mut trainer = pipeline::trainer(&parsed, &resolved, false).expect("training starts");
    let (fresh, stored_config) = (trainer.config(), model.gpt2().config());
    assert_eq!(fresh.vocab_size, stored_config.vocab_size);
    assert_eq!(fresh.n_positions, stored_config.n_positions);
    assert_eq!(fresh.n_embd, stored_config.n_embd);
    assert_eq!(fresh.n_layer, stored_config.n_layer);
    assert_eq!(fresh.n_head, stored_config.n_head);
    assert_eq!(fresh.inner_size(), stored_config.inner_size());
    let mut loss = f64::NAN;
    for _ in 0..stored.step {
        loss = trainer.step().expect("a training step").loss;
    }
    assert!((loss - stored.loss).abs() < 1e-3 * stored.loss, "{loss} vs {}", stored.loss);
}
