//! Compares the GPT-2 model with Hugging Face `transformers` outputs stored
//! by `scripts/make_gpt2_fixtures.py`, and checks padding, the KV cache,
//! continuation scoring, pooling, GGUF round trips and training.
//!
//! Fixtures are embedded with `include_bytes!` so this file also runs when
//! compiled to wasm32.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::HashMap;
use std::io::Cursor;

use behavior_lens::model::gguf::{
    gguf_tensors_from_gguf, gguf_tensors_from_hf, gguf_tensors_from_safetensors, write_gguf,
};
use behavior_lens::model::gpt2::pad_batch;
use behavior_lens::model::{
    Config, Error, GgufModel, Gpt2Model, LoadLimits, Pooling, TextTokenizer, TokenizerStorage,
    WeightFormat,
};
use candle_core::{DType, Device, IndexOp, Tensor, D};

/// Maximum absolute difference allowed against `transformers` in f32.
const PARITY_TOLERANCE: f32 = 1e-4;

struct Fixture {
    name: &'static str,
    config: &'static str,
    weights: &'static [u8],
    expected: &'static [u8],
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            config: include_str!(concat!("data/gpt2/fixtures/", $name, "/config.json")),
            weights: include_bytes!(concat!("data/gpt2/fixtures/", $name, "/model.safetensors")),
            expected: include_bytes!(concat!(
                "data/gpt2/fixtures/",
                $name,
                "/expected.safetensors"
            )),
        }
    };
}

const FIXTURES: [Fixture; 4] = [
    fixture!("tiny_lmhead"),
    fixture!("odd_heads_base"),
    fixture!("tiny_f16"),
    fixture!("quant_lmhead"),
];

/// The fixture whose linear layers have rows of 64 and 256 values, so q8_0,
/// q4_0 and q4k can encode them.
const QUANT_FIXTURE: usize = 3;

impl Fixture {
    fn config(&self) -> Config {
        Config::from_json(self.config).expect("fixture config should parse")
    }

    fn model(&self) -> Gpt2Model {
        Gpt2Model::from_safetensors_bytes(
            &self.config(),
            self.weights,
            &Device::Cpu,
            &LoadLimits::unlimited(),
        )
        .expect("fixture weights should load")
    }

    fn expected(&self) -> HashMap<String, Tensor> {
        candle_core::safetensors::load_buffer(self.expected, &Device::Cpu)
            .expect("expected outputs should load")
    }

    fn gguf_bytes(&self, format: WeightFormat) -> Vec<u8> {
        let tensors = gguf_tensors_from_safetensors(self.weights, &Device::Cpu)
            .expect("conversion should succeed");
        let mut out = Cursor::new(Vec::new());
        write_gguf(
            &mut out,
            &self.config(),
            &tensors,
            format,
            TokenizerStorage::None,
        )
        .expect("GGUF write should succeed");
        out.into_inner()
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "compared tensors differ in shape");
    let diff = (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap()).unwrap();
    diff.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn cosine(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
    let b = b.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
    let dot = (&a * &b)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let norm_a = a
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
        .sqrt();
    let norm_b = b
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
        .sqrt();
    (dot / (norm_a * norm_b)) as f32
}

fn real_length(mask: &Tensor, row: usize) -> usize {
    let values: Vec<i64> = mask.i(row).unwrap().to_vec1().unwrap();
    values.iter().filter(|&&value| value == 1).count()
}

/// Deterministic pseudo-random token ids in `1..vocab_size`.
fn token_sequence(seed: u64, len: usize, vocab_size: usize) -> Vec<u32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1 + ((state >> 33) % (vocab_size as u64 - 1)) as u32
        })
        .collect()
}

#[test]
fn config_default_n_inner() {
    let config = FIXTURES[0].config();
    assert_eq!(config.n_inner, None);
    assert_eq!(config.inner_size(), 4 * config.n_embd);
    let odd = FIXTURES[1].config();
    assert_eq!(odd.inner_size(), 50);
}

#[test]
fn hf_parity_single_sequence() {
    for fixture in &FIXTURES {
        let model = fixture.model();
        let expected = fixture.expected();
        let ids = &expected["single_ids"];
        let hidden = model.hidden_states(ids, None).unwrap();
        let logits = model.logits(&hidden).unwrap();
        let hidden_diff = max_abs_diff(&hidden, &expected["single_hidden"]);
        let logits_diff = max_abs_diff(&logits, &expected["single_logits"]);
        println!(
            "{}: single hidden max abs diff {hidden_diff:.2e}, logits {logits_diff:.2e}",
            fixture.name
        );
        assert!(
            hidden_diff <= PARITY_TOLERANCE,
            "{}: hidden diff {hidden_diff}",
            fixture.name
        );
        assert!(
            logits_diff <= PARITY_TOLERANCE,
            "{}: logits diff {logits_diff}",
            fixture.name
        );
    }
}

#[test]
fn hf_parity_right_padded_batch() {
    for fixture in &FIXTURES {
        let model = fixture.model();
        let expected = fixture.expected();
        let ids = &expected["batch_ids"];
        let mask = &expected["batch_mask"];
        let hidden = model.hidden_states(ids, Some(mask)).unwrap();
        let logits = model.logits(&hidden).unwrap();
        for row in 0..ids.dim(0).unwrap() {
            let len = real_length(mask, row);
            let real = |t: &Tensor| t.i(row).unwrap().narrow(0, 0, len).unwrap();
            let hidden_diff = max_abs_diff(&real(&hidden), &real(&expected["batch_hidden"]));
            let logits_diff = max_abs_diff(&real(&logits), &real(&expected["batch_logits"]));
            println!(
                "{} row {row}: batch hidden max abs diff {hidden_diff:.2e}, logits {logits_diff:.2e}",
                fixture.name
            );
            assert!(
                hidden_diff <= PARITY_TOLERANCE,
                "{} row {row}: hidden diff {hidden_diff}",
                fixture.name
            );
            assert!(
                logits_diff <= PARITY_TOLERANCE,
                "{} row {row}: logits diff {logits_diff}",
                fixture.name
            );
        }
    }
}

#[test]
fn padding_leaves_real_positions_unchanged() {
    let fixture = &FIXTURES[1];
    let model = fixture.model();
    let vocab = model.config().vocab_size;
    let sequences: Vec<Vec<u32>> = [9, 3, 6, 1]
        .iter()
        .enumerate()
        .map(|(i, &len)| token_sequence(i as u64, len, vocab))
        .collect();
    let (ids, mask) = pad_batch(&sequences, 5, &Device::Cpu).unwrap();
    let batched = model.hidden_states(&ids, Some(&mask)).unwrap();
    for (row, sequence) in sequences.iter().enumerate() {
        let alone_ids = Tensor::new(sequence.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let alone = model.hidden_states(&alone_ids, None).unwrap().i(0).unwrap();
        let padded = batched
            .i(row)
            .unwrap()
            .narrow(0, 0, sequence.len())
            .unwrap();
        let diff = max_abs_diff(&padded, &alone);
        assert!(diff <= 1e-5, "row {row}: padded vs unpadded diff {diff}");
    }
}

#[test]
fn left_padding_matches_unpadded() {
    let model = FIXTURES[0].model();
    let sequence = token_sequence(7, 5, model.config().vocab_size);
    let mut padded = vec![0u32, 0, 0];
    padded.extend_from_slice(&sequence);
    let ids = Tensor::new(padded.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mask = Tensor::new(&[[0f32, 0., 0., 1., 1., 1., 1., 1.]], &Device::Cpu).unwrap();
    let left = model
        .hidden_states(&ids, Some(&mask))
        .unwrap()
        .i(0)
        .unwrap()
        .narrow(0, 3, 5)
        .unwrap();
    let alone_ids = Tensor::new(sequence.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let alone = model.hidden_states(&alone_ids, None).unwrap().i(0).unwrap();
    let diff = max_abs_diff(&left, &alone);
    assert!(diff <= 1e-5, "left-padded vs unpadded diff {diff}");
}

#[test]
fn kv_cache_matches_full_forward() {
    for fixture in &FIXTURES {
        let model = fixture.model();
        let ids = token_sequence(11, 10, model.config().vocab_size);
        let full_ids = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let full = model.hidden_states(&full_ids, None).unwrap();

        let mut cache = model.new_cache(1);
        let prefill = Tensor::new(&ids[..4], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let mut pieces = vec![model
            .forward_with_cache(&prefill, None, &mut cache)
            .unwrap()];
        for &id in &ids[4..] {
            let step = Tensor::new(&[[id]], &Device::Cpu).unwrap();
            pieces.push(model.forward_with_cache(&step, None, &mut cache).unwrap());
        }
        let incremental = Tensor::cat(&pieces, 1).unwrap();
        let diff = max_abs_diff(&incremental, &full);
        assert!(
            diff <= PARITY_TOLERANCE,
            "{}: incremental vs full diff {diff}",
            fixture.name
        );
        assert_eq!(cache.seq_len(), ids.len());
        assert_eq!(cache.real_lengths(), [ids.len()]);
    }
}

#[test]
fn kv_cache_continues_padded_batch() {
    let model = FIXTURES[1].model();
    let vocab = model.config().vocab_size;
    let sequences: Vec<Vec<u32>> = [6, 2, 4]
        .iter()
        .enumerate()
        .map(|(i, &len)| token_sequence(20 + i as u64, len, vocab))
        .collect();
    let next_tokens = [3u32, 17, 42];
    let (ids, mask) = pad_batch(&sequences, 0, &Device::Cpu).unwrap();
    let mut cache = model.new_cache(sequences.len());
    model
        .forward_with_cache(&ids, Some(&mask), &mut cache)
        .unwrap();
    let step = Tensor::new(&next_tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(1)
        .unwrap();
    let stepped = model.forward_with_cache(&step, None, &mut cache).unwrap();
    for (row, sequence) in sequences.iter().enumerate() {
        let mut extended = sequence.clone();
        extended.push(next_tokens[row]);
        let alone_ids = Tensor::new(extended.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let alone = model.hidden_states(&alone_ids, None).unwrap();
        let expected = alone.i((0, extended.len() - 1)).unwrap();
        let diff = max_abs_diff(&stepped.i((row, 0)).unwrap(), &expected);
        assert!(diff <= 1e-5, "row {row}: cached step vs full diff {diff}");
    }
}

#[test]
fn continuation_scores_match_full_forward() {
    let model = FIXTURES[0].model();
    let vocab = model.config().vocab_size;
    let prefix = token_sequence(30, 5, vocab);
    let continuations: Vec<Vec<u32>> = (0..20)
        .map(|i| token_sequence(40 + i as u64, 1 + (i % 4), vocab))
        .collect();
    let scores = model.continuation_scores(&prefix, &continuations).unwrap();
    assert_eq!(scores.len(), continuations.len());
    for (continuation, score) in continuations.iter().zip(&scores) {
        let mut ids = prefix.clone();
        ids.extend_from_slice(continuation);
        let input = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = model.forward(&input, None).unwrap().i(0).unwrap();
        let log_probs: Vec<Vec<f32>> = candle_nn::ops::log_softmax(&logits, D::Minus1)
            .unwrap()
            .to_vec2()
            .unwrap();
        let expected: Vec<f32> = continuation
            .iter()
            .enumerate()
            .map(|(k, &token)| log_probs[prefix.len() + k - 1][token as usize])
            .collect();
        assert_eq!(score.token_log_probs.len(), continuation.len());
        for (actual, wanted) in score.token_log_probs.iter().zip(&expected) {
            assert!(
                (actual - wanted).abs() <= 1e-4,
                "log prob {actual} vs full forward {wanted}"
            );
        }
        let total: f32 = expected.iter().sum();
        assert!(
            (score.total - total).abs() <= 1e-4,
            "total {} vs {total}",
            score.total
        );
    }
}

#[test]
fn continuation_scores_reject_empty_prefix() {
    let model = FIXTURES[0].model();
    let result = model.continuation_scores(&[], &[vec![1]]);
    assert!(
        matches!(result, Err(Error::InvalidInput(_))),
        "got {result:?}"
    );
}

#[test]
fn embeddings_pool_real_tokens() {
    let model = FIXTURES[1].model();
    let vocab = model.config().vocab_size;
    let sequences: Vec<Vec<u32>> = [5, 2, 8]
        .iter()
        .enumerate()
        .map(|(i, &len)| token_sequence(50 + i as u64, len, vocab))
        .collect();
    let mean = model.embed(&sequences, Pooling::Mean).unwrap();
    let last = model.embed(&sequences, Pooling::LastToken).unwrap();
    assert_eq!(mean.dims(), [3, model.config().n_embd]);
    for (row, sequence) in sequences.iter().enumerate() {
        let ids = Tensor::new(sequence.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let hidden = model.hidden_states(&ids, None).unwrap().i(0).unwrap();
        let expected_mean = hidden.mean(0).unwrap();
        let expected_last = hidden.i(sequence.len() - 1).unwrap();
        let mean_diff = max_abs_diff(&mean.i(row).unwrap(), &expected_mean);
        let last_diff = max_abs_diff(&last.i(row).unwrap(), &expected_last);
        assert!(
            mean_diff <= 1e-5,
            "row {row}: mean pooling diff {mean_diff}"
        );
        assert!(
            last_diff <= 1e-5,
            "row {row}: last-token pooling diff {last_diff}"
        );
    }
}

#[test]
fn out_of_range_token_is_rejected() {
    let model = FIXTURES[0].model();
    let ids = Tensor::new(&[[1u32, 97]], &Device::Cpu).unwrap();
    let result = model.hidden_states(&ids, None);
    assert!(
        matches!(result, Err(Error::InvalidInput(_))),
        "got {result:?}"
    );
}

#[test]
fn too_long_sequence_is_rejected() {
    let model = FIXTURES[2].model();
    let ids = token_sequence(1, model.config().n_positions + 1, model.config().vocab_size);
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let result = model.hidden_states(&input, None);
    assert!(
        matches!(result, Err(Error::InvalidInput(_))),
        "got {result:?}"
    );
}

#[test]
fn gguf_f32_round_trip_matches_safetensors() {
    for fixture in &FIXTURES {
        let bytes = fixture.gguf_bytes(WeightFormat::F32);
        let loaded = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::unlimited()).unwrap();
        assert!(loaded.tokenizer.is_none());
        assert!(!loaded.model.is_quantized());
        assert_eq!(
            loaded.model.config().inner_size(),
            fixture.config().inner_size()
        );
        let expected = fixture.expected();
        let logits = loaded.model.forward(&expected["single_ids"], None).unwrap();
        let diff = max_abs_diff(&logits, &expected["single_logits"]);
        println!(
            "{}: GGUF f32 logits max abs diff vs transformers {diff:.2e}",
            fixture.name
        );
        assert!(
            diff <= PARITY_TOLERANCE,
            "{}: GGUF f32 logits diff {diff}",
            fixture.name
        );
    }
}

/// Input shapes `(batch, seq_len)` for quantized comparisons: the first has
/// enough rows for the dense-matmul path of quantized layers, the second is
/// small enough for candle's quantized kernels.
const QUANTIZED_INPUTS: [(usize, usize); 2] = [(6, 64), (1, 16)];

/// Returns (top-1 agreement, logits cosine) of a GGUF model against the f32
/// model over `batch` pseudo-random sequences of `seq_len` tokens.
fn compare_quantized(format: WeightFormat, batch: usize, seq_len: usize) -> (f32, f32) {
    let fixture = &FIXTURES[QUANT_FIXTURE];
    let reference = fixture.model();
    let bytes = fixture.gguf_bytes(format);
    let quantized = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::unlimited())
        .unwrap()
        .model;
    assert!(
        quantized.is_quantized(),
        "{format}: expected quantized linear layers"
    );

    let config = reference.config();
    let sequences: Vec<Vec<u32>> = (0..batch as u64)
        .map(|i| token_sequence(60 + i, seq_len, config.vocab_size))
        .collect();
    let (ids, _) = pad_batch(&sequences, 0, &Device::Cpu).unwrap();
    let expected = reference.forward(&ids, None).unwrap();
    let actual = quantized.forward(&ids, None).unwrap();

    let expected_top: Vec<Vec<u32>> = expected.argmax(D::Minus1).unwrap().to_vec2().unwrap();
    let actual_top: Vec<Vec<u32>> = actual.argmax(D::Minus1).unwrap().to_vec2().unwrap();
    let positions = expected_top.iter().map(Vec::len).sum::<usize>();
    let agreeing = expected_top
        .iter()
        .flatten()
        .zip(actual_top.iter().flatten())
        .filter(|(a, b)| a == b)
        .count();
    (
        agreeing as f32 / positions as f32,
        cosine(&expected, &actual),
    )
}

#[test]
fn gguf_q8_0_keeps_top1_and_logits() {
    for (batch, seq_len) in QUANTIZED_INPUTS {
        let (agreement, cosine) = compare_quantized(WeightFormat::Q8_0, batch, seq_len);
        println!(
            "q8_0 {batch}x{seq_len}: top-1 agreement {agreement:.4}, logits cosine {cosine:.6}"
        );
        assert!(
            agreement >= 0.99,
            "q8_0 {batch}x{seq_len}: top-1 agreement {agreement}"
        );
        assert!(
            cosine >= 0.999,
            "q8_0 {batch}x{seq_len}: logits cosine {cosine}"
        );
    }
}

#[test]
fn gguf_q4_formats_stay_close() {
    for format in [WeightFormat::Q4_0, WeightFormat::Q4K] {
        for (batch, seq_len) in QUANTIZED_INPUTS {
            let (agreement, cosine) = compare_quantized(format, batch, seq_len);
            println!(
                "{format} {batch}x{seq_len}: top-1 agreement {agreement:.4}, logits cosine {cosine:.6}"
            );
            assert!(
                cosine >= 0.95,
                "{format} {batch}x{seq_len}: logits cosine {cosine}"
            );
        }
    }
}

#[test]
fn gguf_reports_rows_kept_in_f32() {
    let fixture = &FIXTURES[1];
    let tensors = gguf_tensors_from_safetensors(fixture.weights, &Device::Cpu).unwrap();
    let mut out = Cursor::new(Vec::new());
    let report = write_gguf(
        &mut out,
        &fixture.config(),
        &tensors,
        WeightFormat::Q8_0,
        TokenizerStorage::None,
    )
    .unwrap();
    // Rows of 36 and 50 values do not fit the 32-value q8_0 blocks.
    assert!(
        report.converted.is_empty(),
        "converted {:?}",
        report.converted
    );
    assert_eq!(report.kept_f32.len(), 4 * fixture.config().n_layer);
}

#[test]
fn gguf_requantizes_gguf_input() {
    let fixture = &FIXTURES[QUANT_FIXTURE];
    let f32_bytes = fixture.gguf_bytes(WeightFormat::F32);
    let (config, tokenizer, tensors) =
        gguf_tensors_from_gguf(&mut Cursor::new(&f32_bytes), &Device::Cpu).unwrap();
    assert!(tokenizer.is_none());
    let mut out = Cursor::new(Vec::new());
    let report = write_gguf(
        &mut out,
        &config,
        &tensors,
        WeightFormat::Q8_0,
        TokenizerStorage::None,
    )
    .unwrap();
    assert_eq!(report.converted.len(), 4 * config.n_layer);
    let model = GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited())
        .unwrap()
        .model;
    assert!(model.is_quantized());
}

#[test]
fn gguf_quantizes_large_token_embeddings() {
    let fixture = &FIXTURES[QUANT_FIXTURE];
    let f32_bytes = fixture.gguf_bytes(WeightFormat::F32);
    let (mut config, _, mut tensors) =
        gguf_tensors_from_gguf(&mut Cursor::new(&f32_bytes), &Device::Cpu).unwrap();
    // Grow the vocabulary to the size from which embeddings are quantized.
    let rows = behavior_lens::model::gguf::QUANTIZED_EMBEDDING_MIN_ROWS;
    for (name, tensor) in tensors.iter_mut() {
        if name == "token_embd.weight" {
            let extra = Tensor::randn(0f32, 0.02, (rows - config.vocab_size, config.n_embd), &Device::Cpu).unwrap();
            *tensor = Tensor::cat(&[&*tensor, &extra], 0).unwrap();
        }
    }
    let small_vocab = config.vocab_size;
    config.vocab_size = rows;
    let mut out = Cursor::new(Vec::new());
    let report = write_gguf(&mut out, &config, &tensors, WeightFormat::Q8_0, TokenizerStorage::None).unwrap();
    assert!(report.converted.contains(&"token_embd.weight".to_string()), "{:?}", report.converted);

    let quantized = GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited()).unwrap();
    assert_eq!(quantized.model.config().vocab_size, rows);
    let ids = token_sequence(7, 16, small_vocab);
    let dense = Gpt2Model::from_gguf(&mut Cursor::new(&f32_bytes), &Device::Cpu, &LoadLimits::unlimited())
        .unwrap()
        .0;
    let expected = dense.next_token_logits(&ids).unwrap();
    let actual = quantized.model.next_token_logits(&ids).unwrap();
    let (a, b) = (Tensor::new(&actual[..small_vocab], &Device::Cpu).unwrap(), Tensor::new(&expected[..], &Device::Cpu).unwrap());
    assert!(cosine(&a, &b) > 0.999, "cosine {}", cosine(&a, &b));
    assert!(out.get_ref().len() < f32_bytes.len() + rows * config.n_embd * 4 / 2, "{} bytes", out.get_ref().len());
}

#[test]
fn gguf_memory_limit_is_enforced() {
    let bytes = FIXTURES[0].gguf_bytes(WeightFormat::F32);
    let result = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::max_bytes(10_000));
    assert!(
        matches!(
            result,
            Err(Error::MemoryLimitExceeded {
                limit_bytes: 10_000,
                ..
            })
        ),
        "got {result:?}"
    );
    let generous = GgufModel::from_bytes(&bytes, &Device::Cpu, &LoadLimits::max_bytes(10_000_000));
    assert!(generous.is_ok(), "got {generous:?}");
}

#[test]
fn gguf_rejects_non_gguf_bytes() {
    let result = GgufModel::from_bytes(
        b"not a gguf file at all",
        &Device::Cpu,
        &LoadLimits::unlimited(),
    );
    assert!(
        matches!(result, Err(Error::InvalidGguf(_))),
        "got {result:?}"
    );
}

#[test]
fn gguf_embeds_gpt2_tokenizer() {
    let fixture = &FIXTURES[0];
    let tokenizer = TextTokenizer::gpt2().unwrap();
    let tensors = gguf_tensors_from_safetensors(fixture.weights, &Device::Cpu).unwrap();
    let mut out = Cursor::new(Vec::new());
    write_gguf(
        &mut out,
        &fixture.config(),
        &tensors,
        WeightFormat::F32,
        TokenizerStorage::Auto(&tokenizer),
    )
    .unwrap();
    let loaded =
        GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited()).unwrap();
    let restored = loaded
        .tokenizer
        .expect("tokenizer should be rebuilt from tokenizer.ggml.*");
    assert_eq!(restored.vocab_size(), 50257);
    for text in ["Hello world", " 你好 🙂 12345", "a  \n\n\tb<|endoftext|>"] {
        assert_eq!(
            restored.encode(text).unwrap(),
            tokenizer.encode(text).unwrap(),
            "encoding of {text:?}"
        );
    }
}

#[test]
fn gguf_embeds_word_level_tokenizer_json() {
    let json = r#"{
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "view": 1, "cart": 2, "buy": 3}, "unk_token": "[UNK]"}
    }"#;
    let tokenizer = TextTokenizer::from_json_bytes(json.as_bytes()).unwrap();
    let fixture = &FIXTURES[0];
    let tensors = gguf_tensors_from_safetensors(fixture.weights, &Device::Cpu).unwrap();
    let mut out = Cursor::new(Vec::new());
    write_gguf(
        &mut out,
        &fixture.config(),
        &tensors,
        WeightFormat::F32,
        TokenizerStorage::Auto(&tokenizer),
    )
    .unwrap();
    let loaded =
        GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited()).unwrap();
    let restored = loaded
        .tokenizer
        .expect("tokenizer should be rebuilt from the stored JSON");
    assert_eq!(
        restored.encode("view cart buy search").unwrap(),
        [1, 2, 3, 0]
    );
}

#[test]
fn varmap_model_trains_with_adamw() {
    use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
    let config = FIXTURES[1].config();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Gpt2Model::new(&config, vb).unwrap();
    assert_eq!(varmap.all_vars().len(), 4 + 12 * config.n_layer);
    let sequence = token_sequence(70, 9, config.vocab_size);
    let inputs = Tensor::new(&sequence[..8], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let targets = Tensor::new(&sequence[1..], &Device::Cpu).unwrap();
    let params = ParamsAdamW {
        lr: 1e-2,
        ..Default::default()
    };

    let logits = model.forward(&inputs, None).unwrap().squeeze(0).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &targets).unwrap();
    let gradients = loss.backward().unwrap();
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter() {
        assert!(
            gradients.get(var.as_tensor()).is_some(),
            "no gradient for {name}"
        );
    }
    drop(data);

    let mut optimizer = AdamW::new(varmap.all_vars(), params).unwrap();
    let mut losses = Vec::new();
    for _ in 0..10 {
        let logits = model.forward(&inputs, None).unwrap().squeeze(0).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &targets).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        optimizer.backward_step(&loss).unwrap();
    }
    let first = losses[0];
    let last = losses[losses.len() - 1];
    assert!(
        last < 0.5 * first,
        "loss went from {first} to {last}: {losses:?}"
    );
}

#[test]
fn varmap_weights_export_to_gguf() {
    use candle_nn::{VarBuilder, VarMap};
    let config = FIXTURES[1].config();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Gpt2Model::new(&config, vb).unwrap();
    let hf_tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();

    let tensors = gguf_tensors_from_hf(&hf_tensors).unwrap();
    let mut out = Cursor::new(Vec::new());
    write_gguf(
        &mut out,
        &config,
        &tensors,
        WeightFormat::F32,
        TokenizerStorage::None,
    )
    .unwrap();
    let loaded =
        GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited()).unwrap();

    let ids = Tensor::new(
        token_sequence(80, 12, config.vocab_size).as_slice(),
        &Device::Cpu,
    )
    .unwrap()
    .unsqueeze(0)
    .unwrap();
    let expected = model.forward(&ids, None).unwrap();
    let actual = loaded.model.forward(&ids, None).unwrap();
    let diff = max_abs_diff(&actual, &expected);
    assert!(diff <= 1e-5, "exported GGUF logits diff {diff}");
}

#[test]
fn gguf_f16_round_trip_is_close() {
    let fixture = &FIXTURES[1];
    let tensors = gguf_tensors_from_safetensors(fixture.weights, &Device::Cpu).unwrap();
    let mut out = Cursor::new(Vec::new());
    let report = write_gguf(
        &mut out,
        &fixture.config(),
        &tensors,
        WeightFormat::F16,
        TokenizerStorage::None,
    )
    .unwrap();
    // f16 has a block size of 1, so every linear weight converts.
    assert_eq!(report.converted.len(), 4 * fixture.config().n_layer);
    assert!(report.kept_f32.is_empty());

    let loaded =
        GgufModel::from_bytes(out.get_ref(), &Device::Cpu, &LoadLimits::unlimited()).unwrap();
    let expected = fixture.expected();
    let logits = loaded.model.forward(&expected["single_ids"], None).unwrap();
    let similarity = cosine(&logits, &expected["single_logits"]);
    let diff = max_abs_diff(&logits, &expected["single_logits"]);
    println!("f16 GGUF: logits cosine {similarity:.7}, max abs diff {diff:.2e}");
    assert!(similarity >= 0.99999, "f16 logits cosine {similarity}");
    assert!(diff <= 1e-2, "f16 logits diff {diff}");
}

#[test]
fn safetensors_memory_limit_is_enforced() {
    let fixture = &FIXTURES[0];
    let result = Gpt2Model::from_safetensors_bytes(
        &fixture.config(),
        fixture.weights,
        &Device::Cpu,
        &LoadLimits::max_bytes(10_000),
    );
    assert!(
        matches!(
            result,
            Err(Error::MemoryLimitExceeded {
                limit_bytes: 10_000,
                ..
            })
        ),
        "got {result:?}"
    );
}
