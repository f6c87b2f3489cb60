//! Training a GPT-2 on the log's behavior sequences: AdamW, causal
//! next-token cross-entropy, warm-up and cosine decay, gradient clipping,
//! early stopping on a validation share of users, and a fixed seed.
//!
//! [`Trainer::step`] runs one optimizer step, so the page's worker can
//! report progress and stop between steps.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::loss::MaskedNll;
use super::rng::{now_seconds, SplitMix};
use super::vocab::{VocabOptions, Vocabulary, END, PAD};
use super::{BehaviorModel, Error, Result};
use crate::events::{EventLog, NONE};
use crate::model::{Activation, Config, Gpt2Model};
use crate::timeline::Timelines;

/// Training options; `None` sizes a value from the data.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub layers: Option<usize>,
    pub width: Option<usize>,
    pub heads: Option<usize>,
    /// Context length in tokens.
    pub context: Option<usize>,
    /// Maximum number of passes over the training users. The default of 6
    /// keeps training time in proportion to the log's size, because on small
    /// logs early stopping ends training after 4 to 6 epochs anyway.
    pub epochs: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// Tokens per optimizer step (rows times padded length).
    pub batch_tokens: usize,
    pub learning_rate: f64,
    /// Share of all steps spent warming the learning rate up.
    pub warmup_share: f64,
    pub weight_decay: f64,
    /// Largest global gradient norm; larger gradients are scaled down.
    pub clip_norm: f64,
    pub seed: u64,
    /// Share of users held out to decide when to stop.
    pub validation_share: f64,
    pub vocab: VocabOptions,
    /// Refuse configurations estimated to need more memory than this.
    pub max_memory_bytes: u64,
    /// Fewer epochs for large logs: at most about this many training tokens
    /// in all, and at least one epoch.
    pub max_training_tokens: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            layers: None,
            width: None,
            heads: None,
            context: None,
            epochs: 6,
            patience: 2,
            batch_tokens: 2048,
            learning_rate: 3e-3,
            warmup_share: 0.05,
            weight_decay: 0.01,
            clip_norm: 1.0,
            seed: 42,
            validation_share: 0.1,
            vocab: VocabOptions::default(),
            max_memory_bytes: 1 << 30,
            max_training_tokens: 2_000_000,
        }
    }
}

/// One point of the loss curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LossPoint {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub validation_loss: Option<f64>,
}

/// Perplexity of the model and of two count baselines on the same
/// validation tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Perplexity {
    pub model: f64,
    pub unigram: f64,
    pub bigram: f64,
}

/// Reason training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The validation loss stopped improving.
    Converged,
    /// All epochs ran.
    MaxEpochs,
    /// Stopped by the user; the best model so far was kept.
    Cancelled,
}

/// Facts about a trained or loaded behavior model, as the report shows them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingReport {
    /// `trained` or `loaded`.
    pub source: String,
    pub parameters: u64,
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
    pub context: usize,
    pub vocab_size: usize,
    pub item_tokens: usize,
    pub category_tokens: usize,
    /// Share of training events with an item whose item has its own token.
    pub coverage: f64,
    pub training_users: usize,
    pub validation_users: usize,
    pub training_tokens: usize,
    pub validation_tokens: usize,
    pub epochs: usize,
    pub steps: usize,
    pub stopped: Option<Stopped>,
    pub best_epoch: usize,
    pub train_loss: Option<f64>,
    pub validation_loss: Option<f64>,
    pub perplexity: Option<Perplexity>,
    /// Whether the model was trained again on all events after the
    /// evaluation cut-off. It is not: the model shown saw only events
    /// before the cut-off.
    pub refit_on_all_events: bool,
    /// Events before this time were used for training (ISO UTC), or null
    /// when every event was.
    pub trained_before: Option<String>,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub loss_curve: Vec<LossPoint>,
    /// Weight format of the model in use (`f32` right after training).
    pub dtype: String,
    pub seed: u64,
}

/// Progress after one step.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub loss: f64,
    pub validation_loss: Option<f64>,
    pub tokens_per_second: f64,
    pub done: bool,
}

/// Token sequences of training and validation users.
struct Corpus {
    train: Vec<Vec<u32>>,
    validation: Vec<Vec<u32>>,
    training_users: usize,
    validation_users: usize,
    coverage: f64,
}

fn build_corpus(
    log: &EventLog,
    timelines: &Timelines,
    train_len: Option<&[u32]>,
    vocab: &Vocabulary,
    context: usize,
    options: &TrainOptions,
) -> Corpus {
    let tokens = vocab.map_log(log);
    let end = vocab.special(END);
    let mut rng = SplitMix::new(options.seed ^ 0x5EED_0F_05E85);
    let mut corpus = Corpus {
        train: Vec::new(),
        validation: Vec::new(),
        training_users: 0,
        validation_users: 0,
        coverage: 0.0,
    };
    let (mut with_item, mut covered) = (0usize, 0usize);
    let mut sequence = Vec::new();
    for user in 0..timelines.users() {
        let events = timelines.of_user(user);
        let limit = train_len.map_or(events.len(), |lengths| lengths[user] as usize);
        let held_out = rng.next_f64() < options.validation_share;
        if limit == 0 {
            continue;
        }
        let events = &events[..limit];
        for &index in events {
            let item = log.events[index as usize].item;
            if item != NONE {
                with_item += 1;
                covered += usize::from(tokens.own[item as usize]);
            }
        }
        sequence.clear();
        tokens.encode(vocab, log, events, &mut sequence, None);
        sequence.push(end);
        let target = if held_out {
            corpus.validation_users += 1;
            &mut corpus.validation
        } else {
            corpus.training_users += 1;
            &mut corpus.train
        };
        // Windows of context + 1 tokens: inputs are all but the last token,
        // targets all but the first. Consecutive windows share one token.
        let mut start = 0;
        while start + 1 < sequence.len() {
            let stop = (start + context + 1).min(sequence.len());
            target.push(sequence[start..stop].to_vec());
            start += context;
        }
    }
    // With very few users, the draw can leave one side empty.
    if corpus.train.is_empty() && !corpus.validation.is_empty() {
        std::mem::swap(&mut corpus.train, &mut corpus.validation);
        std::mem::swap(&mut corpus.training_users, &mut corpus.validation_users);
    }
    corpus.coverage = if with_item == 0 {
        0.0
    } else {
        covered as f64 / with_item as f64
    };
    corpus
}

fn token_count(windows: &[Vec<u32>]) -> usize {
    windows.iter().map(|window| window.len() - 1).sum()
}

/// Model size from the number of training tokens: a few hundred thousand
/// parameters for a small shop, more for larger logs.
fn size_for(tokens: usize, options: &TrainOptions) -> (usize, usize, usize, usize) {
    let (layers, width, context) = if tokens < 1_000_000 {
        (2, 64, 64)
    } else if tokens < 5_000_000 {
        (3, 96, 96)
    } else {
        (4, 128, 128)
    };
    let width = options.width.unwrap_or(width);
    let heads = options.heads.unwrap_or(if width % 4 == 0 { 4 } else { 1 });
    (
        options.layers.unwrap_or(layers),
        width,
        heads,
        options.context.unwrap_or(context),
    )
}

/// Estimated peak bytes of one training step: weights, gradients and two
/// AdamW moments, plus activations kept for the backward pass.
fn estimate_bytes(config: &Config, batch_tokens: usize) -> u64 {
    let parameters = config.parameter_count();
    let per_token = config.n_layer * (24 * config.n_embd + 3 * config.n_head * config.n_positions)
        + 4 * config.vocab_size;
    16 * parameters + 8 * (batch_tokens * per_token) as u64
}

/// Rows of `windows` padded into an input tensor and mask, with the
/// flattened targets and target mask.
fn batch_tensors(
    windows: &[&Vec<u32>],
    pad: u32,
    device: &Device,
) -> Result<(Tensor, Tensor, Vec<u32>, Vec<f32>, usize)> {
    let length = windows.iter().map(|w| w.len() - 1).max().unwrap_or(1);
    let rows = windows.len();
    let mut inputs = Vec::with_capacity(rows * length);
    let mut targets = Vec::with_capacity(rows * length);
    let mut input_mask = Vec::with_capacity(rows * length);
    let mut real = 0;
    for window in windows {
        let used = window.len() - 1;
        real += used;
        for position in 0..length {
            if position < used {
                inputs.push(window[position]);
                targets.push(window[position + 1]);
                input_mask.push(1f32);
            } else {
                inputs.push(pad);
                targets.push(pad);
                input_mask.push(0f32);
            }
        }
    }
    let target_mask = input_mask.clone();
    Ok((
        Tensor::from_vec(inputs, (rows, length), device)?,
        Tensor::from_vec(input_mask, (rows, length), device)?,
        targets,
        target_mask,
        real,
    ))
}

/// Summed negative log-likelihood of the targets and its token count.
fn batch_loss(
    model: &Gpt2Model,
    windows: &[&Vec<u32>],
    pad: u32,
    device: &Device,
) -> Result<(Tensor, usize)> {
    let (inputs, input_mask, targets, target_mask, real) = batch_tensors(windows, pad, device)?;
    let hidden = model.hidden_states(&inputs, Some(&input_mask))?;
    let (rows, length, width) = hidden.dims3()?;
    let logits = model.logits(&hidden.reshape((rows * length, width))?)?;
    let total = MaskedNll::new(targets, target_mask).apply(&logits)?;
    Ok((total, real))
}

/// Groups windows of similar length into batches of about `batch_tokens`
/// tokens, in an order drawn from `rng`.
fn plan_batches(windows: &[Vec<u32>], batch_tokens: usize, rng: &mut SplitMix) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    rng.shuffle(&mut order);
    order.sort_by_key(|&index| windows[index].len().div_ceil(8));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for index in order {
        let length = windows[index].len() - 1;
        let wider = longest.max(length);
        if !current.is_empty() && wider * (current.len() + 1) > batch_tokens {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(length);
        current.push(index);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    rng.shuffle(&mut batches);
    batches
}

/// Fills every variable with GPT-2's initialisation from a seeded stream:
/// normal(0, 0.02) weights, unit LayerNorm scales, zero biases.
fn initialise(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| Error::Training("variable map is poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = SplitMix::new(seed);
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let count = shape.elem_count();
        let is_norm = name.contains("ln_");
        let values: Vec<f32> = if name.ends_with("bias") {
            vec![0.0; count]
        } else if is_norm {
            vec![1.0; count]
        } else {
            (0..count).map(|_| (rng.normal() * 0.02) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap.data().lock().map_err(|_| Error::Training("variable map is poisoned".into()))?;
    data.iter()
        .map(|(name, var)| Ok((name.clone(), var.as_tensor().copy()?)))
        .collect()
}

/// Builds a model over fixed (untracked) weights, for evaluation and inference.
fn frozen_model(config: &Config, weights: &HashMap<String, Tensor>, device: &Device) -> Result<Gpt2Model> {
    let detached: HashMap<String, Tensor> = weights
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.detach()))
        .collect();
    let vb = VarBuilder::from_tensors(detached, DType::F32, device);
    Ok(Gpt2Model::new(config, vb)?)
}

/// Unigram and bigram perplexities with Witten-Bell interpolation, fitted
/// on the training windows and measured on the validation targets.
fn count_perplexities(train: &[Vec<u32>], validation: &[Vec<u32>], vocab_size: usize) -> (f64, f64) {
    let mut unigram = vec![0u64; vocab_size];
    let mut bigram: HashMap<(u32, u32), u64> = HashMap::new();
    let mut followers = vec![0u64; vocab_size];
    let mut distinct = vec![0u64; vocab_size];
    for window in train {
        for pair in window.windows(2) {
            unigram[pair[1] as usize] += 1;
            followers[pair[0] as usize] += 1;
            let count = bigram.entry((pair[0], pair[1])).or_insert(0);
            if *count == 0 {
                distinct[pair[0] as usize] += 1;
            }
            *count += 1;
        }
    }
    let total: u64 = unigram.iter().sum();
    let unigram_p = |token: u32| (unigram[token as usize] as f64 + 1.0) / (total as f64 + vocab_size as f64);
    let (mut uni_nll, mut bi_nll, mut count) = (0.0, 0.0, 0usize);
    for window in validation {
        for pair in window.windows(2) {
            let (previous, next) = (pair[0], pair[1]);
            let p_uni = unigram_p(next);
            let seen = followers[previous as usize] as f64;
            let kinds = distinct[previous as usize] as f64;
            let p_bi = if seen == 0.0 {
                p_uni
            } else {
                let pair_count = bigram.get(&(previous, next)).copied().unwrap_or(0) as f64;
                (pair_count + kinds * p_uni) / (seen + kinds)
            };
            uni_nll -= p_uni.ln();
            bi_nll -= p_bi.ln();
            count += 1;
        }
    }
    if count == 0 {
        return (f64::NAN, f64::NAN);
    }
    ((uni_nll / count as f64).exp(), (bi_nll / count as f64).exp())
}

/// Training in progress. Create it with [`Trainer::new`], call
/// [`Trainer::step`] until it reports `done` (or stop early), then
/// [`Trainer::finish`].
pub struct Trainer {
    config: Config,
    vocab: Vocabulary,
    device: Device,
    varmap: VarMap,
    model: Gpt2Model,
    optimizer: AdamW,
    vars: Vec<Var>,
    corpus: Corpus,
    options: TrainOptions,
    batch_tokens: usize,
    rng: SplitMix,
    batches: Vec<Vec<usize>>,
    next_batch: usize,
    epoch: usize,
    step: usize,
    total_steps: usize,
    epoch_loss: (f64, usize),
    best: Option<(f64, usize, HashMap<String, Tensor>)>,
    last_train_loss: Option<f64>,
    epochs_without_gain: usize,
    curve: Vec<LossPoint>,
    stopped: Option<Stopped>,
    started: f64,
    busy_seconds: f64,
    tokens_seen: usize,
    trained_before: Option<String>,
}

impl Trainer {
    /// Prepares the vocabulary, corpus and model. `train_len[user]` limits
    /// each user's training events to the first ones of the timeline (the
    /// events before the evaluation cut-off); `None` trains on everything.
    pub fn new(
        log: &EventLog,
        timelines: &Timelines,
        train_len: Option<&[u32]>,
        trained_before: Option<String>,
        options: &TrainOptions,
    ) -> Result<Trainer> {
        let started = now_seconds();
        let device = Device::Cpu;
        let vocab = Vocabulary::build(log, timelines, train_len, &options.vocab);
        let rough_tokens = train_len.map_or(log.events.len(), |lengths| {
            lengths.iter().map(|&n| n as usize).sum()
        }) * 2;
        let (layers, width, heads, context) = size_for(rough_tokens, options);
        if width == 0 || heads == 0 || width % heads != 0 {
            return Err(Error::Training(format!(
                "width {width} must be a positive multiple of heads {heads}"
            )));
        }
        if !(super::MIN_CONTEXT..=4096).contains(&context) {
            return Err(Error::Training(format!(
                "context {context} tokens; expected {} to 4096",
                super::MIN_CONTEXT
            )));
        }
        if !(options.learning_rate.is_finite() && options.learning_rate > 0.0) {
            return Err(Error::Training(format!(
                "learning rate {}; expected a positive number",
                options.learning_rate
            )));
        }
        let corpus = build_corpus(log, timelines, train_len, &vocab, context, options);
        if corpus.train.is_empty() {
            return Err(Error::Training(
                "the log has no events to train on before the cut-off; a behavior model needs at \
                 least one user with events"
                    .to_string(),
            ));
        }
        let config = Config {
            vocab_size: vocab.len(),
            n_positions: context,
            n_embd: width,
            n_layer: layers,
            n_head: heads,
            n_inner: None,
            activation_function: Activation::GeluTanh,
            layer_norm_epsilon: 1e-5,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            bos_token_id: Some(vocab.special(super::vocab::USER)),
            eos_token_id: Some(vocab.special(END)),
        };
        let mut batch_tokens = options.batch_tokens.max(context);
        while estimate_bytes(&config, batch_tokens) > options.max_memory_bytes && batch_tokens > context {
            batch_tokens /= 2;
        }
        let needed = estimate_bytes(&config, batch_tokens.max(context));
        if needed > options.max_memory_bytes {
            return Err(Error::Training(format!(
                "training this model needs about {} MB but the limit is {} MB; lower --width, \
                 --layers, --context or the item vocabulary (--max-items)",
                needed >> 20,
                options.max_memory_bytes >> 20
            )));
        }
        let varmap = VarMap::new();
        let model = Gpt2Model::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
        initialise(&varmap, options.seed)?;
        let vars = varmap.all_vars();
        let optimizer = AdamW::new(
            vars.clone(),
            ParamsAdamW {
                lr: options.learning_rate,
                weight_decay: options.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        let mut rng = SplitMix::new(options.seed.wrapping_add(1));
        let batches = plan_batches(&corpus.train, batch_tokens, &mut rng);
        let steps_per_epoch = batches.len();
        let epoch_tokens = token_count(&corpus.train).max(1);
        let epochs = options
            .epochs
            .min(options.max_training_tokens / epoch_tokens)
            .max(1);
        Ok(Trainer {
            config,
            vocab,
            device,
            varmap,
            model,
            optimizer,
            vars,
            corpus,
            options: TrainOptions {
                epochs,
                ..options.clone()
            },
            batch_tokens,
            rng,
            batches,
            next_batch: 0,
            epoch: 0,
            step: 0,
            total_steps: steps_per_epoch * epochs,
            epoch_loss: (0.0, 0),
            best: None,
            last_train_loss: None,
            epochs_without_gain: 0,
            curve: Vec::new(),
            stopped: None,
            started,
            busy_seconds: 0.0,
            tokens_seen: 0,
            trained_before,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    pub fn is_done(&self) -> bool {
        self.stopped.is_some()
    }

    fn learning_rate(&self) -> f64 {
        let peak = self.options.learning_rate;
        let warmup = ((self.total_steps as f64 * self.options.warmup_share).ceil() as usize).max(1);
        if self.step < warmup {
            return peak * (self.step + 1) as f64 / warmup as f64;
        }
        let span = (self.total_steps - warmup).max(1) as f64;
        let done = ((self.step - warmup) as f64 / span).min(1.0);
        let floor = 0.1 * peak;
        floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * done).cos())
    }

    fn clip_gradients(&self, grads: &mut candle_core::backprop::GradStore) -> Result<()> {
        let mut squared = 0f64;
        for var in &self.vars {
            if let Some(grad) = grads.get(var.as_tensor()) {
                squared += grad.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = squared.sqrt();
        if !norm.is_finite() {
            return Err(Error::Training(format!(
                "the gradient norm became {norm} at step {}; lower the learning rate",
                self.step
            )));
        }
        if norm > self.options.clip_norm {
            let scale = self.options.clip_norm / norm;
            for var in &self.vars {
                if let Some(grad) = grads.remove(var.as_tensor()) {
                    grads.insert(var.as_tensor(), (grad * scale)?);
                }
            }
        }
        Ok(())
    }

    /// Mean validation loss of the current weights, or `None` without
    /// validation users.
    fn validation_loss(&self) -> Result<Option<f64>> {
        if self.corpus.validation.is_empty() {
            return Ok(None);
        }
        let weights = snapshot(&self.varmap)?;
        let model = frozen_model(&self.config, &weights, &self.device)?;
        Ok(Some(mean_loss(&model, &self.corpus.validation, self.vocab.special(PAD), self.batch_tokens, &self.device)?))
    }

    /// Runs one optimizer step; at the end of an epoch also measures the
    /// validation loss and decides whether to stop.
    pub fn step(&mut self) -> Result<Progress> {
        if self.stopped.is_some() {
            return Ok(self.progress(None, true));
        }
        let begun = now_seconds();
        let pad = self.vocab.special(PAD);
        let batch: Vec<&Vec<u32>> = self.batches[self.next_batch]
            .iter()
            .map(|&index| &self.corpus.train[index])
            .collect();
        let (total, real) = batch_loss(&self.model, &batch, pad, &self.device)?;
        let loss = (total / real as f64)?;
        let value = loss.flatten_all()?.to_vec1::<f32>()?[0] as f64;
        if !value.is_finite() {
            return Err(Error::Training(format!(
                "the loss became {value} at step {}; lower the learning rate",
                self.step
            )));
        }
        let mut grads = loss.backward()?;
        self.clip_gradients(&mut grads)?;
        self.optimizer.set_learning_rate(self.learning_rate());
        self.optimizer.step(&grads)?;
        self.busy_seconds += now_seconds() - begun;
        self.tokens_seen += real;
        self.epoch_loss.0 += value * real as f64;
        self.epoch_loss.1 += real;
        self.step += 1;
        self.next_batch += 1;
        let mut validation = None;
        let epoch_ended = self.next_batch == self.batches.len();
        if epoch_ended {
            validation = self.end_epoch()?;
        } else if self.step % 10 == 0 {
            self.curve.push(LossPoint {
                step: self.step,
                epoch: self.epoch + 1,
                loss: value,
                validation_loss: None,
            });
        }
        Ok(self.progress(validation, epoch_ended).with_loss(value))
    }

    fn end_epoch(&mut self) -> Result<Option<f64>> {
        let train_loss = self.epoch_loss.0 / self.epoch_loss.1.max(1) as f64;
        self.last_train_loss = Some(train_loss);
        self.epoch_loss = (0.0, 0);
        self.epoch += 1;
        let validation = self.validation_loss()?;
        self.curve.push(LossPoint {
            step: self.step,
            epoch: self.epoch,
            loss: train_loss,
            validation_loss: validation,
        });
        // Without validation users the training loss decides.
        let score = validation.unwrap_or(train_loss);
        let improved = self.best.as_ref().is_none_or(|(best, _, _)| score < *best - 1e-4);
        if improved {
            self.best = Some((score, self.epoch, snapshot(&self.varmap)?));
            self.epochs_without_gain = 0;
        } else {
            self.epochs_without_gain += 1;
        }
        if self.epochs_without_gain >= self.options.patience.max(1) {
            self.stopped = Some(Stopped::Converged);
        } else if self.epoch >= self.options.epochs {
            self.stopped = Some(Stopped::MaxEpochs);
        } else {
            self.batches = plan_batches(&self.corpus.train, self.batch_tokens, &mut self.rng);
            self.next_batch = 0;
        }
        Ok(validation)
    }

    /// Describes the trainer after a step. The epoch is the one the step
    /// belongs to, so an epoch's last step and its validation loss carry
    /// that epoch's number rather than the next one's.
    fn progress(&self, validation_loss: Option<f64>, epoch_ended: bool) -> Progress {
        let current = if epoch_ended { self.epoch } else { self.epoch + 1 };
        Progress {
            epoch: current.clamp(1, self.options.epochs),
            epochs: self.options.epochs,
            step: self.step,
            steps: self.total_steps,
            loss: self.last_train_loss.unwrap_or(f64::NAN),
            validation_loss,
            tokens_per_second: self.tokens_seen as f64 / self.busy_seconds.max(1e-9),
            done: self.stopped.is_some(),
        }
    }

    /// Stops at once, keeping the best weights so far.
    pub fn cancel(&mut self) {
        if self.stopped.is_none() {
            self.stopped = Some(Stopped::Cancelled);
        }
    }

    /// Runs all remaining steps, calling `progress` after each.
    pub fn run(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<()> {
        while !self.is_done() {
            let report = self.step()?;
            progress(&report);
        }
        Ok(())
    }

    /// Returns the best model seen, with its training report.
    pub fn finish(mut self) -> Result<BehaviorModel> {
        let (best_loss, best_epoch, weights) = match self.best.take() {
            Some(best) => best,
            // Cancelled before the first epoch ended: keep the current weights.
            None => (f64::NAN, 0, snapshot(&self.varmap)?),
        };
        let model = frozen_model(&self.config, &weights, &self.device)?;
        let pad = self.vocab.special(PAD);
        let validation_loss = if self.corpus.validation.is_empty() {
            None
        } else if best_epoch > 0 && !self.corpus.validation.is_empty() {
            Some(best_loss)
        } else {
            Some(mean_loss(&model, &self.corpus.validation, pad, self.batch_tokens, &self.device)?)
        };
        let perplexity = validation_loss.filter(|loss| loss.is_finite()).map(|loss| {
            let (unigram, bigram) =
                count_perplexities(&self.corpus.train, &self.corpus.validation, self.vocab.len());
            Perplexity {
                model: loss.exp(),
                unigram,
                bigram,
            }
        });
        let report = TrainingReport {
            source: "trained".to_string(),
            parameters: self.config.parameter_count(),
            layers: self.config.n_layer,
            width: self.config.n_embd,
            heads: self.config.n_head,
            context: self.config.n_positions,
            vocab_size: self.vocab.len(),
            item_tokens: self.vocab.item_tokens(),
            category_tokens: self.vocab.category_tokens(),
            coverage: self.corpus.coverage,
            training_users: self.corpus.training_users,
            validation_users: self.corpus.validation_users,
            training_tokens: token_count(&self.corpus.train),
            validation_tokens: token_count(&self.corpus.validation),
            epochs: self.epoch,
            steps: self.step,
            stopped: self.stopped,
            best_epoch,
            train_loss: self.last_train_loss,
            validation_loss,
            perplexity,
            refit_on_all_events: false,
            trained_before: self.trained_before.clone(),
            seconds: now_seconds() - self.started,
            tokens_per_second: self.tokens_seen as f64 / self.busy_seconds.max(1e-9),
            loss_curve: std::mem::take(&mut self.curve),
            dtype: "f32".to_string(),
            seed: self.options.seed,
        };
        Ok(BehaviorModel::new(model, self.vocab, Some(weights), report))
    }
}

impl Progress {
    fn with_loss(mut self, loss: f64) -> Progress {
        if self.validation_loss.is_none() {
            self.loss = loss;
        }
        self
    }
}

/// Mean next-token loss of `model` over `windows`.
fn mean_loss(
    model: &Gpt2Model,
    windows: &[Vec<u32>],
    pad: u32,
    batch_tokens: usize,
    device: &Device,
) -> Result<f64> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&index| windows[index].len());
    let (mut total, mut count) = (0f64, 0usize);
    let mut start = 0;
    while start < order.len() {
        let mut stop = start + 1;
        while stop < order.len() && windows[order[stop]].len() * (stop - start + 1) <= batch_tokens {
            stop += 1;
        }
        let batch: Vec<&Vec<u32>> = order[start..stop].iter().map(|&i| &windows[i]).collect();
        let (sum, real) = batch_loss(model, &batch, pad, device)?;
        total += sum.flatten_all()?.to_vec1::<f32>()?[0] as f64;
        count += real;
        start = stop;
    }
    Ok(total / count.max(1) as f64)
}

/// Trains with default sizing and reports progress; a convenience for the
/// command line and tests.
pub fn train(
    log: &EventLog,
    timelines: &Timelines,
    train_len: Option<&[u32]>,
    trained_before: Option<String>,
    options: &TrainOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<BehaviorModel> {
    let mut trainer = Trainer::new(log, timelines, train_len, trained_before, options)?;
    trainer.run(progress)?;
    trainer.finish()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::events::{ingest, IngestOptions};

    /// Every user views A then B, then buys B: a pattern a model must learn.
    fn patterned_log(users: usize) -> (EventLog, Timelines) {
        let mut csv = String::from("user_id,item_id,category_id,behavior_type,timestamp\n");
        for user in 0..users {
            let t = 1_511_544_070 + user as i64 * 10;
            csv.push_str(&format!("{user},A,c1,pv,{t}\n{user},B,c1,pv,{}\n{user},B,c1,buy,{}\n", t + 1, t + 2));
        }
        let log = ingest("p.csv", csv.as_bytes(), &IngestOptions::default()).unwrap();
        let timelines = Timelines::build(&log, 30 * 60 * 1000);
        (log, timelines)
    }

    fn small_options() -> TrainOptions {
        TrainOptions {
            layers: Some(1),
            width: Some(32),
            heads: Some(2),
            context: Some(16),
            epochs: 30,
            patience: 30,
            batch_tokens: 256,
            learning_rate: 1e-2,
            ..TrainOptions::default()
        }
    }

    #[test]
    fn training_beats_count_baselines() {
        let (log, timelines) = patterned_log(60);
        let model = train(&log, &timelines, None, None, &small_options(), &mut |_| {}).unwrap();
        let report = model.report();
        let perplexity = report.perplexity.as_ref().unwrap();
        // The sequence is deterministic after `<user>`, so a model that
        // learned it approaches perplexity 1; the unigram baseline cannot.
        assert!(perplexity.model < 1.3, "model perplexity {}", perplexity.model);
        assert!(perplexity.unigram > 3.0, "unigram perplexity {}", perplexity.unigram);
        assert!(perplexity.model < perplexity.bigram);
        assert_eq!(report.training_users + report.validation_users, 60);
        assert!(report.validation_users > 0);
        assert_eq!(report.coverage, 1.0);
    }

    #[test]
    fn training_repeats_with_same_seed() {
        let (log, timelines) = patterned_log(12);
        let options = TrainOptions {
            epochs: 2,
            ..small_options()
        };
        let first = train(&log, &timelines, None, None, &options, &mut |_| {}).unwrap();
        let second = train(&log, &timelines, None, None, &options, &mut |_| {}).unwrap();
        assert_eq!(first.report().loss_curve.len(), second.report().loss_curve.len());
        for (a, b) in first.report().loss_curve.iter().zip(&second.report().loss_curve) {
            assert_eq!(a.loss, b.loss);
        }
    }

    #[test]
    fn cancelling_keeps_a_usable_model() {
        let (log, timelines) = patterned_log(12);
        let mut trainer = Trainer::new(&log, &timelines, None, None, &small_options()).unwrap();
        trainer.step().unwrap();
        trainer.cancel();
        assert!(trainer.is_done());
        let model = trainer.finish().unwrap();
        assert_eq!(model.report().stopped, Some(Stopped::Cancelled));
        assert_eq!(model.report().steps, 1);
    }

    #[test]
    fn progress_numbers_epoch_of_its_step() {
        let (log, timelines) = patterned_log(12);
        let options = TrainOptions {
            epochs: 2,
            patience: 5,
            ..small_options()
        };
        let mut trainer = Trainer::new(&log, &timelines, None, None, &options).unwrap();
        let mut messages = Vec::new();
        while !trainer.is_done() {
            messages.push(trainer.step().unwrap());
        }

        let epoch_ends: Vec<usize> = messages
            .iter()
            .filter(|message| message.validation_loss.is_some())
            .map(|message| message.epoch)
            .collect();
        assert_eq!(epoch_ends, [1, 2]);
        assert_eq!(messages[0].epoch, 1);
        assert_eq!(messages.last().unwrap().epoch, 2);
    }

    #[test]
    fn trainer_rejects_low_memory_ceiling() {
        let (log, timelines) = patterned_log(4);
        let options = TrainOptions {
            max_memory_bytes: 1000,
            ..small_options()
        };
        let error = Trainer::new(&log, &timelines, None, None, &options).err().unwrap();
        assert!(error.to_string().contains("limit is 0 MB"), "{error}");
    }

    #[test]
    fn baselines_count_what_they_see() {
        // Training pairs: 1->2, 2->3 twice; validation 1->2, 2->3.
        let train = vec![vec![1, 2, 3], vec![1, 2, 3]];
        let validation = vec![vec![1, 2, 3]];
        let (unigram, bigram) = count_perplexities(&train, &validation, 4);
        // Unigram with add-one: p(2) = p(3) = (2 + 1) / (4 + 4).
        assert!((unigram - 8.0 / 3.0).abs() < 1e-9);
        // Bigram: p(2|1) = (2 + 1 * 3/8) / (2 + 1), the same for p(3|2).
        let p = (2.0 + 3.0 / 8.0) / 3.0;
        assert!((bigram - 1.0 / p).abs() < 1e-9);
    }
}
