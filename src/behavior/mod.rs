//! The behavior model: a GPT-2 trained on the shop's own behavior
//! sequences, saved as GGUF with its vocabulary, and its predictions
//! (next event, item interest, user embeddings, explanations).

mod loss;
pub mod predict;
pub mod rng;
pub mod train;
pub mod vocab;

use std::collections::HashMap;
use std::io::Cursor;

use candle_core::{Device, Tensor};

use crate::model::gguf::{gguf_tensors_from_hf, write_gguf_with_metadata, EXTRA_KEY_PREFIX};
use crate::model::{GgufModel, Gpt2Model, LoadLimits, TokenizerStorage, WeightFormat};
pub use predict::ItemModel;
pub use train::{Progress, TrainOptions, Trainer, TrainingReport};
pub use vocab::{VocabOptions, Vocabulary};

/// Smallest context a behavior model can predict with, because a history,
/// an event type and an item slot need a few tokens.
pub const MIN_CONTEXT: usize = 8;

/// Largest weight magnitude accepted in a loaded model. Trained behavior
/// models stay far below it.
const MAX_WEIGHT: f32 = 1.0e4;

/// Rejects a model file whose weights are not finite or implausibly large,
/// since such a model would rank items by file order without an error.
fn check_finite_weights(bytes: &[u8]) -> Result<()> {
    let (_, _, tensors) =
        crate::model::gguf::gguf_tensors_from_gguf(&mut Cursor::new(bytes), &Device::Cpu)?;
    for (name, tensor) in tensors {
        let values = tensor.flatten_all()?.to_vec1::<f32>()?;
        if let Some(value) = values.iter().find(|value| !value.is_finite() || value.abs() > MAX_WEIGHT) {
            return Err(Error::NotBehaviorModel(format!(
                "invalid weight {value} in tensor {name}; expected finite values below {MAX_WEIGHT}"
            )));
        }
    }
    Ok(())
}

/// Metadata key of the training report stored in a model file.
const TRAINING_KEY: &str = "behavior_lens.training_json";
/// Metadata key that marks a file as a behavior model.
const KIND_KEY: &str = "behavior_lens.model_kind";
const KIND_BEHAVIOR: &str = "behavior";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    #[error("training failed: {0}")]
    Training(String),
    #[error("not a behavior model: {0}")]
    NotBehaviorModel(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A GPT-2 over the behavior vocabulary, ready to answer questions.
pub struct BehaviorModel {
    model: Gpt2Model,
    vocab: Vocabulary,
    /// Trained f32 weights by variable name, kept so a save is lossless
    /// (absent for a model read from a file).
    weights: Option<HashMap<String, Tensor>>,
    report: TrainingReport,
}

impl BehaviorModel {
    pub fn new(
        model: Gpt2Model,
        vocab: Vocabulary,
        weights: Option<HashMap<String, Tensor>>,
        report: TrainingReport,
    ) -> BehaviorModel {
        BehaviorModel {
            model,
            vocab,
            weights,
            report,
        }
    }

    pub fn gpt2(&self) -> &Gpt2Model {
        &self.model
    }

    pub fn vocab(&self) -> &Vocabulary {
        &self.vocab
    }

    pub fn report(&self) -> &TrainingReport {
        &self.report
    }

    /// Writes the model as GGUF: GPT-2 tensor names and config, linear
    /// weights in `format`, the WordLevel vocabulary and the training report.
    pub fn to_gguf(&self, format: WeightFormat) -> Result<Vec<u8>> {
        let weights = self.weights.as_ref().ok_or_else(|| {
            Error::Training(
                "this model was read from a file and is saved only from its trained weights; \
                 copy the original file instead"
                    .to_string(),
            )
        })?;
        let tensors = gguf_tensors_from_hf(weights)?;
        let tokenizer = self.vocab.to_tokenizer().map_err(Error::Training)?;
        let mut report = self.report.clone();
        report.dtype = format.name().to_string();
        let training = serde_json::to_string(&report)
            .map_err(|e| Error::Training(format!("cannot store the training report: {e}")))?;
        let extra = [
            (KIND_KEY.to_string(), KIND_BEHAVIOR.to_string()),
            (TRAINING_KEY.to_string(), training),
        ];
        let mut bytes = Cursor::new(Vec::new());
        write_gguf_with_metadata(
            &mut bytes,
            self.model.config(),
            &tensors,
            format,
            TokenizerStorage::WithJson(&tokenizer),
            &extra,
        )?;
        Ok(bytes.into_inner())
    }

    /// Reads a behavior model saved by [`Self::to_gguf`].
    pub fn from_gguf(bytes: &[u8], limits: &LoadLimits) -> Result<BehaviorModel> {
        let loaded = GgufModel::from_bytes(bytes, &Device::Cpu, limits)?;
        if loaded.extra.get(KIND_KEY).map(String::as_str) != Some(KIND_BEHAVIOR) {
            return Err(Error::NotBehaviorModel(format!(
                "the file has no {KIND_KEY} = {KIND_BEHAVIOR} entry; it may be a text GPT-2 \
                 (use it for sentences) rather than a model trained by `behavior-lens train`"
            )));
        }
        let tokenizer = loaded.tokenizer.as_ref().ok_or_else(|| {
            Error::NotBehaviorModel("the file stores no vocabulary".to_string())
        })?;
        let vocab = Vocabulary::from_tokenizer(tokenizer).map_err(Error::NotBehaviorModel)?;
        if vocab.len() != loaded.model.config().vocab_size {
            return Err(Error::NotBehaviorModel(format!(
                "the vocabulary has {} tokens but the model expects {}",
                vocab.len(),
                loaded.model.config().vocab_size
            )));
        }
        let mut report: TrainingReport = loaded
            .extra
            .get(TRAINING_KEY)
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| {
                Error::NotBehaviorModel(format!("the {TRAINING_KEY} entry is missing or unreadable"))
            })?;
        let config = loaded.model.config();
        if config.n_positions < MIN_CONTEXT {
            return Err(Error::NotBehaviorModel(format!(
                "the model's context is {} tokens; behavior models need at least {MIN_CONTEXT}",
                config.n_positions
            )));
        }
        check_finite_weights(bytes)?;
        report.source = "loaded".to_string();
        report.dtype = loaded.weight_type.clone();
        // Sizes come from the loaded weights, not from the stored report.
        report.layers = config.n_layer;
        report.width = config.n_embd;
        report.heads = config.n_head;
        report.context = config.n_positions;
        report.vocab_size = config.vocab_size;
        report.parameters = config.parameter_count();
        report.item_tokens = vocab.item_tokens();
        report.category_tokens = vocab.category_tokens();
        debug_assert!(TRAINING_KEY.starts_with(EXTRA_KEY_PREFIX));
        Ok(BehaviorModel::new(loaded.model, vocab, None, report))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::events::{ingest, IngestOptions};
    use crate::timeline::Timelines;

    /// Trains one epoch of a one-layer model on `users` users who view A
    /// and then buy B.
    fn tiny_model(users: usize) -> BehaviorModel {
        let mut csv = String::from("user_id,item_id,category_id,behavior_type,timestamp\n");
        for user in 0..users {
            csv.push_str(&format!("{user},A,c1,pv,1511544070\n{user},B,c1,buy,1511544090\n"));
        }
        let log = ingest("s.csv", csv.as_bytes(), &IngestOptions::default()).unwrap();
        let timelines = Timelines::build(&log, 1_800_000);
        let options = TrainOptions {
            layers: Some(1),
            width: Some(32),
            heads: Some(2),
            context: Some(16),
            epochs: 1,
            ..TrainOptions::default()
        };
        train::train(&log, &timelines, None, None, &options, &mut |_| {}).unwrap()
    }

    #[test]
    fn saved_model_loads_back() {
        let model = tiny_model(10);
        for format in [WeightFormat::F32, WeightFormat::Q8_0] {
            let bytes = model.to_gguf(format).unwrap();
            let back = BehaviorModel::from_gguf(&bytes, &LoadLimits::unlimited()).unwrap();
            assert_eq!(back.vocab().len(), model.vocab().len());
            assert_eq!(back.report().source, "loaded");
            assert_eq!(back.report().dtype, format.name());
            assert_eq!(back.report().steps, model.report().steps);
            let ids = vec![1u32, 5, 6];
            let a = model.gpt2().next_token_logits(&ids).unwrap();
            let b = back.gpt2().next_token_logits(&ids).unwrap();
            let tolerance = if format == WeightFormat::F32 { 1e-5 } else { 2e-2 };
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < tolerance, "{format}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn corrupt_header_counts_are_errors() {
        let model = tiny_model(6);
        let bytes = model.to_gguf(WeightFormat::F32).unwrap();
        // Bytes 16..24 hold the number of metadata entries.
        let mut corrupt = bytes.clone();
        corrupt[16..24].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
        let error = BehaviorModel::from_gguf(&corrupt, &LoadLimits::unlimited()).err().unwrap();
        assert!(error.to_string().contains("invalid GGUF file"), "{error}");
    }

    #[test]
    fn text_model_is_rejected() {
        let config = crate::model::Config::from_json(include_str!(
            "../../tests/data/gpt2/fixtures/tiny_lmhead/config.json"
        ))
        .unwrap();
        let weights = include_bytes!("../../tests/data/gpt2/fixtures/tiny_lmhead/model.safetensors");
        let tensors =
            crate::model::gguf::gguf_tensors_from_safetensors(weights, &Device::Cpu).unwrap();
        let mut bytes = Cursor::new(Vec::new());
        crate::model::gguf::write_gguf(
            &mut bytes,
            &config,
            &tensors,
            WeightFormat::F32,
            TokenizerStorage::None,
        )
        .unwrap();
        let error = BehaviorModel::from_gguf(bytes.get_ref(), &LoadLimits::unlimited())
            .err()
            .unwrap();
        assert!(error.to_string().contains("not a behavior model"), "{error}");
    }
}
