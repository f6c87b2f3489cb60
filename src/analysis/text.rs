//! A text GPT-2 reading behavior sentences: a language model such as
//! Hugging Face `gpt2`, `distilgpt2` or a Chinese GPT-2, converted to GGUF,
//! reads each user's timeline written as a sentence in the model's language.
//! Its mean-pooled states embed users for segments and similar users, set
//! beside the behavior model's, and its likelihood of each possible next
//! step ranks what a user may do next.

use super::segments::{self, Embeddings, SegmentOptions, Segments};
use crate::behavior::rng::now_seconds;
use crate::events::{EventKind, EventLog, NONE};
use crate::model::{Config, GgufModel, Gpt2Model, LoadLimits, Pooling, TextTokenizer};
use crate::timeline::sentence::{self, Lang, SentenceOptions};
use crate::timeline::Timelines;
use candle_core::Device;
use serde::Serialize;

/// GGUF metadata key that marks a behavior model.
const BEHAVIOR_KIND_KEY: &str = "behavior_lens.model_kind";
/// Chinese text whose token count shows whether a tokenizer has whole
/// tokens for Chinese characters.
const CHINESE_PROBE: &str = "浏览商品加入购物车购买";
/// Users embedded per forward pass.
const EMBED_BATCH: usize = 8;
/// Events of a timeline written into its sentence.
const SENTENCE_EVENTS: usize = 32;
/// Most recent distinct items offered as next-step candidates.
const RECENT_ITEMS: usize = 3;
/// Most viewed items of the log offered as "view" candidates.
const POPULAR_ITEMS: usize = 3;
/// Users listed with their nearest neighbors.
const SIMILAR_USERS_LISTED: usize = 20;
/// Neighbors per listed user.
const NEIGHBORS: usize = 5;

/// Settings for [`analyze`].
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Most active users embedded.
    pub users: usize,
    /// Users whose next step is forecast from their whole timeline (the
    /// most active of those embedded).
    pub forecast_users: usize,
    /// Users whose last event is held out to check the forecasts (the
    /// most active of those embedded).
    pub backtest_users: usize,
    /// Maximum tokens of a sentence fed to the model. Older steps are cut
    /// first.
    pub max_tokens: usize,
    /// Segments (`None`: chosen by silhouette).
    pub segments: Option<usize>,
    pub seed: u64,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            users: 200,
            forecast_users: 30,
            backtest_users: 100,
            max_tokens: 96,
            segments: None,
            seed: 42,
        }
    }
}

impl TextOptions {
    /// Returns these options with fewer users, for a model too large to
    /// read hundreds of sentences in reasonable time.
    pub fn for_large_model(self) -> Self {
        TextOptions {
            users: self.users.min(50),
            forecast_users: self.forecast_users.min(20),
            backtest_users: self.backtest_users.min(30),
            ..self
        }
    }
}

/// Facts about the loaded text model.
#[derive(Clone, Debug, Serialize)]
pub struct TextModelFacts {
    /// File or folder name it was loaded from.
    pub name: String,
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
    pub vocab_size: usize,
    pub context: usize,
    pub parameters: u64,
    /// Storage type of the linear weights (`f32`, `q8_0`, ...).
    pub weight_type: String,
    /// Language the sentences are written in for this model.
    pub lang: Lang,
    /// Reason for that language.
    pub lang_reason: String,
}

/// A text GPT-2 with its tokenizer.
pub struct TextModel {
    model: Gpt2Model,
    tokenizer: TextTokenizer,
    facts: TextModelFacts,
}

impl TextModel {
    /// Loads a GGUF text model from bytes. `lang` overrides the language
    /// detected from the tokenizer.
    pub fn from_gguf(name: &str, bytes: &[u8], limits: &LoadLimits, lang: Option<Lang>) -> Result<Self, String> {
        let loaded = GgufModel::from_bytes(bytes, &Device::Cpu, limits).map_err(|error| format!("{name}: {error}"))?;
        if loaded.extra.get(BEHAVIOR_KIND_KEY).is_some() {
            return Err(format!(
                "{name} is a behavior model (saved by Behavior Lens), not a text model; load it as the behavior model"
            ));
        }
        Self::new(name, loaded.model, loaded.tokenizer, loaded.weight_type, lang)
    }

    /// Loads a text model from a GGUF file or a Hugging Face folder.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path, limits: &LoadLimits, lang: Option<Lang>) -> Result<Self, String> {
        let name = path.display().to_string();
        if path.is_dir() {
            let (model, tokenizer) =
                crate::model::load_model_path(path, &Device::Cpu, limits).map_err(|error| format!("{name}: {error}"))?;
            let weight_type = if model.is_quantized() { "quantized" } else { "f32" }.to_string();
            return Self::new(&name, model, tokenizer, weight_type, lang);
        }
        let bytes = std::fs::read(path).map_err(|error| format!("cannot read the text model {name}: {error}"))?;
        Self::from_gguf(&name, &bytes, limits, lang)
    }

    fn new(
        name: &str,
        model: Gpt2Model,
        tokenizer: Option<TextTokenizer>,
        weight_type: String,
        lang: Option<Lang>,
    ) -> Result<Self, String> {
        let config = model.config().clone();
        let tokenizer = match tokenizer {
            Some(tokenizer) => tokenizer,
            None if config.vocab_size == 50257 => TextTokenizer::gpt2().map_err(|error| error.to_string())?,
            None => {
                return Err(format!(
                    "{name} carries no tokenizer and its vocabulary ({} tokens) is not GPT-2's 50,257; \
                     convert it again with its tokenizer.json beside the weights",
                    config.vocab_size
                ))
            }
        };
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(format!(
                "{name}: the tokenizer has {} tokens but the model only {}; they do not belong together",
                tokenizer.vocab_size(),
                config.vocab_size
            ));
        }
        // A tokenizer far smaller than the embedding table cannot have been
        // trained with it; padded vocabularies differ by a few rows only.
        if tokenizer.vocab_size() * 2 < config.vocab_size {
            return Err(format!(
                "{name}: the tokenizer has {} tokens but the model has {} embedding rows; \
                 they do not belong together",
                tokenizer.vocab_size(),
                config.vocab_size
            ));
        }
        let detected = detect_lang(&tokenizer)?;
        let (lang, lang_reason) = match lang {
            Some(lang) if lang == detected.0 => (lang, "chosen in the options".to_string()),
            Some(lang) => (
                lang,
                format!("chosen in the options, although {}", detected.1),
            ),
            None => detected,
        };
        let facts = TextModelFacts {
            name: name.to_string(),
            layers: config.n_layer,
            width: config.n_embd,
            heads: config.n_head,
            vocab_size: config.vocab_size,
            context: config.n_positions,
            parameters: config.parameter_count(),
            weight_type,
            lang,
            lang_reason,
        };
        Ok(TextModel { model, tokenizer, facts })
    }

    pub fn facts(&self) -> &TextModelFacts {
        &self.facts
    }

    fn config(&self) -> &Config {
        self.model.config()
    }

    /// Token ids of `text`, after the start token when the model has one.
    fn encode_prefix(&self, text: &str, room: usize) -> Result<Vec<u32>, String> {
        let mut ids = self.tokenizer.encode(text).map_err(|error| error.to_string())?;
        let start = self.config().bos_token_id;
        let keep = room.saturating_sub(usize::from(start.is_some())).max(1);
        if ids.len() > keep {
            // The sentence's most recent steps matter most: cut from the front.
            ids.drain(..ids.len() - keep);
        }
        if let Some(start) = start {
            ids.insert(0, start);
        }
        Ok(ids)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer.encode(text).map_err(|error| error.to_string())
    }

    /// Token ids of a possible next step, cut to a quarter of the context
    /// so that a very long item name still leaves room for the sentence.
    fn encode_step(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids = self.encode(text)?;
        ids.truncate(self.max_step_tokens());
        Ok(ids)
    }

    fn max_step_tokens(&self) -> usize {
        (self.config().n_positions / 4).max(1)
    }
}

fn not_finite(name: &str) -> String {
    format!(
        "{name} computed values that are not finite numbers (NaN or infinity); its weights are \
         probably corrupt, so convert the checkpoint again"
    )
}

/// Chinese when the tokenizer has whole tokens for Chinese characters (a
/// Chinese GPT-2), English when it splits them into bytes (GPT-2's own).
fn detect_lang(tokenizer: &TextTokenizer) -> Result<(Lang, String), String> {
    let ids = tokenizer.encode(CHINESE_PROBE).map_err(|error| error.to_string())?;
    let characters = CHINESE_PROBE.chars().count();
    let decoded: String = tokenizer
        .decode(&ids)
        .map_err(|error| error.to_string())?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if ids.len() <= characters && decoded == CHINESE_PROBE {
        Ok((
            Lang::Zh,
            format!("its tokenizer writes {characters} Chinese characters as {} tokens", ids.len()),
        ))
    } else {
        Ok((
            Lang::En,
            format!(
                "its tokenizer needs {} tokens for {characters} Chinese characters, so it reads English better",
                ids.len()
            ),
        ))
    }
}

/// One possible next step and its share among the candidates.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// The step as written in the sentence, such as `view item 42`.
    pub action: String,
    pub kind: EventKind,
    /// Item name, or null for a step without one.
    pub item: Option<String>,
    /// Softmax of the candidates' log-likelihoods.
    pub probability: f64,
}

/// The chance that the next step is of one event type.
#[derive(Clone, Debug, Serialize)]
pub struct KindShare {
    pub kind: EventKind,
    pub probability: f64,
}

/// Ranked next steps of one user.
#[derive(Clone, Debug, Serialize)]
pub struct Forecast {
    pub user: String,
    /// The last steps of the user's sentence.
    pub recent: String,
    /// Event types of the log by the chance that the next step starts
    /// with their verb, normalised over those types.
    pub kinds: Vec<KindShare>,
    /// Offered steps, most likely first (at most 10).
    pub candidates: Vec<Candidate>,
}

/// A user and a similarity.
#[derive(Clone, Debug, Serialize)]
pub struct Neighbor {
    pub user: String,
    pub similarity: f64,
}

/// The nearest users of one user by each model's embedding.
#[derive(Clone, Debug, Serialize)]
pub struct SimilarUsers {
    pub user: String,
    pub text: Vec<Neighbor>,
    /// By the behavior model, when there is one.
    pub behavior: Vec<Neighbor>,
}

/// How far the text model's view of users agrees with the behavior model's.
#[derive(Clone, Debug, Serialize)]
pub struct Agreement {
    /// Users embedded by both models.
    pub users: usize,
    /// Mean share of a user's 5 nearest users that both models name.
    pub neighbor_overlap: f64,
    /// The same share for neighbors picked at random.
    pub neighbor_overlap_by_chance: f64,
    /// Adjusted Rand index of the two segmentations (0 = chance, 1 = same).
    pub segments_adjusted_rand: Option<f64>,
}

/// Accuracy of the predicted kind of each user's held-out last event.
#[derive(Clone, Debug, Serialize)]
pub struct ActionBacktest {
    pub users: usize,
    /// The kind whose verb the model finds most likely next.
    pub text_model: f64,
    /// The kind that most often follows the user's previous kind.
    pub markov: f64,
    /// The most frequent kind of the log.
    pub most_frequent: f64,
    /// Share of held-out events whose exact step was a candidate.
    pub step_offered: f64,
    /// Among those, share ranked in the top 3.
    pub step_top_3: f64,
}

/// The text model's section of the report.
#[derive(Clone, Debug, Serialize)]
pub struct TextReport {
    pub model: TextModelFacts,
    /// Users embedded.
    pub users: usize,
    /// Tokens the model ran, over all passes.
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub segments: Segments,
    pub agreement: Option<Agreement>,
    pub similar_users: Vec<SimilarUsers>,
    pub forecasts: Vec<Forecast>,
    pub backtest: Option<ActionBacktest>,
    pub note: Option<String>,
}

/// The behavior model's embeddings and their segments, to compare with.
pub struct BehaviorView<'a> {
    pub embeddings: &'a Embeddings,
    /// Segment of each row of `embeddings`, when segments were found.
    pub segment_of: Option<&'a [usize]>,
}

/// Runs the text model over the log's most active users.
pub fn analyze(
    text: &TextModel,
    log: &EventLog,
    timelines: &Timelines,
    behavior: Option<BehaviorView<'_>>,
    options: &TextOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<TextReport, String> {
    let started = now_seconds();
    let lang = text.facts.lang;
    let wanted = options.users.max(options.forecast_users).max(options.backtest_users);
    let users: Vec<u32> = super::recommend::listed_users(timelines, wanted)
        .into_iter()
        .map(|user| user as u32)
        .collect();
    let mut tokens = 0usize;
    let context = text.config().n_positions;
    let room = options.max_tokens.min(context.saturating_sub(longest_candidate(text, log, lang)? + 1)).max(2);

    let embedded: Vec<u32> = {
        let mut chosen: Vec<u32> = users.iter().copied().take(options.users).collect();
        chosen.sort_unstable();
        chosen
    };
    let mut data = Vec::with_capacity(embedded.len() * text.config().n_embd);
    let work = (embedded.len() + options.forecast_users.min(users.len()) + options.backtest_users.min(users.len())).max(1);
    let mut done = 0usize;
    for chunk in embedded.chunks(EMBED_BATCH) {
        let mut sequences = Vec::with_capacity(chunk.len());
        for &user in chunk {
            let sentence = user_sentence(log, timelines.of_user(user as usize), user, lang);
            sequences.push(text.encode_prefix(&sentence, room)?);
        }
        tokens += sequences.iter().map(Vec::len).sum::<usize>();
        let pooled = text.model.embed(&sequences, Pooling::Mean).map_err(|error| error.to_string())?;
        let rows: Vec<f32> = pooled.flatten_all().and_then(|t| t.to_vec1()).map_err(|error| error.to_string())?;
        if rows.iter().any(|value| !value.is_finite()) {
            return Err(not_finite(&text.facts.name));
        }
        data.extend(rows);
        done += chunk.len();
        progress(done as f64 / work as f64);
    }
    let embeddings = Embeddings {
        users: embedded,
        dim: text.config().n_embd,
        data,
    };
    let segment_options = SegmentOptions {
        k: options.segments,
        seed: options.seed,
        ..SegmentOptions::default()
    };
    let segments = segments::segment(log, timelines, &embeddings, &segment_options, lang);

    let popular = popular_items(log, POPULAR_ITEMS);
    let kinds = kinds_in_log(log);
    let mut forecasts = Vec::new();
    for &user in users.iter().take(options.forecast_users) {
        let history = timelines.of_user(user as usize);
        let (forecast, used) = forecast(text, log, user, history, &kinds, &popular, room, lang)?;
        tokens += used;
        forecasts.push(forecast);
        done += 1;
        progress(done as f64 / work as f64);
    }
    let (backtest, used) = backtest_actions(text, log, timelines, &users, options.backtest_users, &kinds, &popular, room, lang, &mut |count| {
        progress((done + count) as f64 / work as f64)
    })?;
    tokens += used;

    let similar_users = similar_users(log, timelines, &embeddings, behavior.as_ref());
    let agreement = behavior
        .as_ref()
        .and_then(|view| agreement(&embeddings, segments.available.then_some(&segments.segment_of[..]), view));
    let seconds = now_seconds() - started;
    let note = (embeddings.users.len() < 2 * segment_options.k_min).then(|| {
        format!("only {} users have events, too few to compare users", embeddings.users.len())
    });
    progress(1.0);
    Ok(TextReport {
        model: text.facts.clone(),
        users: embeddings.users.len(),
        tokens,
        seconds,
        tokens_per_second: if seconds > 0.0 { tokens as f64 / seconds } else { 0.0 },
        segments,
        agreement,
        similar_users,
        forecasts,
        backtest,
        note,
    })
}

/// Renders the user's sentence, ending with the arrow before a next step.
fn user_sentence(log: &EventLog, history: &[u32], user: u32, lang: Lang) -> String {
    let options = SentenceOptions {
        lang,
        max_events: SENTENCE_EVENTS,
        ..SentenceOptions::default()
    };
    let mut sentence = sentence::render(log, log.users.name(user), history, &options);
    sentence.push_str(" ->");
    sentence
}

/// Kinds that occur in the log and can follow as a step, most frequent first.
fn kinds_in_log(log: &EventLog) -> Vec<(EventKind, usize)> {
    let mut counts = [0usize; 8];
    for event in &log.events {
        counts[event.kind as usize] += 1;
    }
    let mut kinds: Vec<(EventKind, usize)> = EventKind::ALL
        .iter()
        .map(|&kind| (kind, counts[kind as usize]))
        .filter(|&(kind, count)| count > 0 && kind != EventKind::Other)
        .collect();
    kinds.sort_by_key(|&(kind, count)| (std::cmp::Reverse(count), kind as usize));
    kinds
}

/// Returns the most viewed items of the log, or the items with the most
/// events when nothing is viewed.
fn popular_items(log: &EventLog, count: usize) -> Vec<u32> {
    let mut views = vec![0usize; log.items.len()];
    let mut any = vec![0usize; log.items.len()];
    for event in log.events.iter().filter(|event| event.item != NONE) {
        any[event.item as usize] += 1;
        if event.kind == EventKind::View {
            views[event.item as usize] += 1;
        }
    }
    let counts = if views.iter().any(|&count| count > 0) { views } else { any };
    let mut items: Vec<u32> = (0..counts.len() as u32).filter(|&item| counts[item as usize] > 0).collect();
    items.sort_by_key(|&item| (std::cmp::Reverse(counts[item as usize]), item));
    items.truncate(count);
    items
}

/// Tokens of the longest candidate any user can get, to leave room for it.
fn longest_candidate(text: &TextModel, log: &EventLog, lang: Lang) -> Result<usize, String> {
    let longest_item = (0..log.items.len() as u32)
        .max_by_key(|&item| log.items.name(item).len())
        .unwrap_or(NONE);
    let mut longest = 1;
    for kind in [EventKind::RemoveFromCart, EventKind::Favorite, EventKind::Purchase] {
        let step = sentence::render_action(log, kind, longest_item, NONE, lang);
        longest = longest.max(text.encode(&format!(" {step} ->"))?.len());
    }
    Ok(longest.min(text.max_step_tokens()))
}

struct Step {
    kind: EventKind,
    item: u32,
}

/// Next steps offered for a history: each kind of the log on the last few
/// distinct items, a view of the log's most viewed items, and checkout.
/// Only event types that occur in the log are offered.
fn candidate_steps(log: &EventLog, history: &[u32], kinds: &[(EventKind, usize)], popular: &[u32]) -> Vec<Step> {
    let mut recent: Vec<u32> = Vec::new();
    for &index in history.iter().rev() {
        let item = log.events[index as usize].item;
        if item != NONE && !recent.contains(&item) {
            recent.push(item);
            if recent.len() == RECENT_ITEMS {
                break;
            }
        }
    }
    let mut steps = Vec::new();
    for &item in &recent {
        for &(kind, _) in kinds.iter().filter(|(kind, _)| *kind != EventKind::Checkout) {
            steps.push(Step { kind, item });
        }
    }
    // Popular items are offered as views, or in a log without views as its
    // most frequent event type that names an item.
    let popular_kind = kinds
        .iter()
        .map(|&(kind, _)| kind)
        .find(|&kind| kind == EventKind::View)
        .or_else(|| kinds.iter().map(|&(kind, _)| kind).find(|&kind| kind != EventKind::Checkout));
    if let Some(kind) = popular_kind {
        for &item in popular.iter().filter(|item| !recent.contains(item)) {
            steps.push(Step { kind, item });
        }
    }
    if kinds.iter().any(|(kind, _)| *kind == EventKind::Checkout) {
        steps.push(Step {
            kind: EventKind::Checkout,
            item: NONE,
        });
    }
    steps
}

/// Model scores of a user's next step: the chance of each event type and
/// of each offered step.
struct Scored {
    kinds: Vec<KindShare>,
    /// In the order of the offered steps.
    candidates: Vec<Candidate>,
    tokens: usize,
}

/// Softmax of log-likelihoods.
fn shares(log_likelihoods: &[f32]) -> Vec<f64> {
    let largest = log_likelihoods.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = log_likelihoods.iter().map(|&total| f64::from(total - largest).exp()).collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|weight| weight / sum).collect()
}

/// Scores what may follow `history` with one pass over the sentence. Each
/// kind's verb is scored alone, because a verb covers every item and so
/// compares the kinds fairly. Each offered step is scored with the step
/// separator after it, so "add to cart" does not also count "add to cart
/// item B".
#[allow(clippy::too_many_arguments)]
fn score_steps(
    text: &TextModel,
    log: &EventLog,
    user: u32,
    history: &[u32],
    kinds: &[(EventKind, usize)],
    steps: &[Step],
    room: usize,
    lang: Lang,
) -> Result<Scored, String> {
    let previous_item = history
        .iter()
        .rev()
        .map(|&index| log.events[index as usize].item)
        .find(|&item| item != NONE)
        .unwrap_or(NONE);
    let prefix = text.encode_prefix(&user_sentence(log, history, user, lang), room)?;
    let mut continuations = Vec::with_capacity(kinds.len() + steps.len());
    for &(kind, _) in kinds {
        let verb = sentence::render_action(log, kind, NONE, NONE, lang);
        continuations.push(text.encode_step(&format!(" {verb}"))?);
    }
    let mut actions = Vec::with_capacity(steps.len());
    for step in steps {
        let action = sentence::render_action(log, step.kind, step.item, previous_item, lang);
        continuations.push(text.encode_step(&format!(" {action} ->"))?);
        actions.push(action);
    }
    let scores = text
        .model
        .continuation_scores(&prefix, &continuations)
        .map_err(|error| error.to_string())?;

    let totals: Vec<f32> = scores.iter().map(|score| score.total).collect();
    if totals.iter().any(|total| !total.is_finite()) {
        return Err(not_finite(&text.facts.name));
    }
    let tokens = prefix.len() + continuations.iter().map(Vec::len).sum::<usize>();
    let kind_shares = shares(&totals[..kinds.len()]);
    let step_shares = shares(&totals[kinds.len()..]);
    let mut kind_list: Vec<KindShare> = kinds
        .iter()
        .zip(kind_shares)
        .map(|(&(kind, _), probability)| KindShare { kind, probability })
        .collect();
    kind_list.sort_by(|a, b| b.probability.total_cmp(&a.probability).then((a.kind as usize).cmp(&(b.kind as usize))));
    let candidates = steps
        .iter()
        .zip(actions)
        .zip(step_shares)
        .map(|((step, action), probability)| Candidate {
            action,
            kind: step.kind,
            item: (step.item != NONE).then(|| log.items.name(step.item).to_string()),
            probability,
        })
        .collect();
    Ok(Scored {
        kinds: kind_list,
        candidates,
        tokens,
    })
}

#[allow(clippy::too_many_arguments)]
fn forecast(
    text: &TextModel,
    log: &EventLog,
    user: u32,
    history: &[u32],
    kinds: &[(EventKind, usize)],
    popular: &[u32],
    room: usize,
    lang: Lang,
) -> Result<(Forecast, usize), String> {
    let steps = candidate_steps(log, history, kinds, popular);
    let scored = score_steps(text, log, user, history, kinds, &steps, room, lang)?;
    let mut candidates = scored.candidates;
    candidates.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    candidates.truncate(10);
    let recent_start = history.len().saturating_sub(3);
    let recent = history[recent_start..]
        .iter()
        .map(|&index| sentence::render_step(log, index, lang))
        .collect::<Vec<_>>()
        .join(" -> ");
    Ok((
        Forecast {
            user: crate::events::display_name(log.users.name(user)).to_string(),
            recent,
            kinds: scored.kinds,
            candidates,
        },
        scored.tokens,
    ))
}

/// Holds out the last event of the most active users with two or more
/// events and checks the predicted kind against two baselines fitted on the
/// remaining events.
#[allow(clippy::too_many_arguments)]
fn backtest_actions(
    text: &TextModel,
    log: &EventLog,
    timelines: &Timelines,
    users: &[u32],
    count: usize,
    kinds: &[(EventKind, usize)],
    popular: &[u32],
    room: usize,
    lang: Lang,
    progress: &mut dyn FnMut(usize),
) -> Result<(Option<ActionBacktest>, usize), String> {
    let tested: Vec<u32> = users
        .iter()
        .copied()
        .filter(|&user| timelines.of_user(user as usize).len() >= 2)
        .take(count)
        .collect();
    if tested.is_empty() {
        return Ok((None, 0));
    }
    // Baselines see every event except the held-out ones.
    let mut held_out = vec![false; log.events.len()];
    for &user in &tested {
        if let Some(&last) = timelines.of_user(user as usize).last() {
            held_out[last as usize] = true;
        }
    }
    let mut overall = [0usize; 8];
    let mut after = [[0usize; 8]; 8];
    for user in 0..timelines.users() {
        let mut previous: Option<EventKind> = None;
        for &index in timelines.of_user(user) {
            if held_out[index as usize] {
                continue;
            }
            let kind = log.events[index as usize].kind;
            overall[kind as usize] += 1;
            if let Some(previous) = previous {
                after[previous as usize][kind as usize] += 1;
            }
            previous = Some(kind);
        }
    }
    let argmax = |counts: &[usize; 8]| (0..8).max_by_key(|&kind| (counts[kind], std::cmp::Reverse(kind))).unwrap_or(0);
    let most_frequent = argmax(&overall);

    let (mut text_hits, mut markov_hits, mut frequent_hits, mut offered, mut top_3, mut tokens) = (0, 0, 0, 0, 0, 0);
    for (done, &user) in tested.iter().enumerate() {
        let timeline = timelines.of_user(user as usize);
        let (history, last) = timeline.split_at(timeline.len() - 1);
        let truth = &log.events[last[0] as usize];
        let steps = candidate_steps(log, history, kinds, popular);
        let scored = score_steps(text, log, user, history, kinds, &steps, room, lang)?;
        tokens += scored.tokens;
        let candidates = scored.candidates;
        let predicted = scored.kinds.first().map(|share| share.kind);
        text_hits += usize::from(predicted == Some(truth.kind));
        let previous = log.events[history[history.len() - 1] as usize].kind as usize;
        let markov = if after[previous].iter().any(|&count| count > 0) { argmax(&after[previous]) } else { most_frequent };
        markov_hits += usize::from(markov == truth.kind as usize);
        frequent_hits += usize::from(most_frequent == truth.kind as usize);
        let truth_item = if truth.kind == EventKind::Checkout { NONE } else { truth.item };
        if let Some(position) = steps.iter().position(|step| step.kind == truth.kind && step.item == truth_item) {
            offered += 1;
            let better = candidates
                .iter()
                .filter(|candidate| candidate.probability > candidates[position].probability)
                .count();
            top_3 += usize::from(better < 3);
        }
        progress(done + 1);
    }
    let share = |hits: usize, of: usize| if of == 0 { 0.0 } else { hits as f64 / of as f64 };
    Ok((
        Some(ActionBacktest {
            users: tested.len(),
            text_model: share(text_hits, tested.len()),
            markov: share(markov_hits, tested.len()),
            most_frequent: share(frequent_hits, tested.len()),
            step_offered: share(offered, tested.len()),
            step_top_3: share(top_3, offered),
        }),
        tokens,
    ))
}

/// Rows of `embeddings` scaled to unit length.
fn unit_rows(embeddings: &Embeddings) -> Vec<Vec<f32>> {
    embeddings
        .data
        .chunks(embeddings.dim.max(1))
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter().map(|v| if norm > 0.0 { v / norm } else { 0.0 }).collect()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

/// Finds the `count` rows nearest to row `of` by cosine, among `candidates`.
fn nearest(rows: &[Vec<f32>], of: usize, candidates: &[usize], count: usize) -> Vec<(usize, f64)> {
    let mut scored: Vec<(usize, f64)> = candidates
        .iter()
        .filter(|&&row| row != of)
        .map(|&row| (row, dot(&rows[of], &rows[row]).clamp(-1.0, 1.0)))
        .collect();
    // Similarities are compared to 1e-4, so users with the same timeline
    // rank by row in both the native and wasm builds despite rounding.
    let key = |similarity: f64| (similarity * 1e4).round();
    scored.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0)));
    scored.truncate(count);
    scored
}

fn similar_users(
    log: &EventLog,
    timelines: &Timelines,
    text: &Embeddings,
    behavior: Option<&BehaviorView<'_>>,
) -> Vec<SimilarUsers> {
    let text_rows = unit_rows(text);
    let behavior_rows = behavior.map(|view| unit_rows(view.embeddings));
    let all_text: Vec<usize> = (0..text.users.len()).collect();
    let name = |user: u32| crate::events::display_name(log.users.name(user)).to_string();
    let mut listed: Vec<usize> = all_text.clone();
    listed.sort_by_key(|&row| (std::cmp::Reverse(timelines.of_user(text.users[row] as usize).len()), text.users[row]));
    listed.truncate(SIMILAR_USERS_LISTED);
    listed
        .into_iter()
        .map(|row| {
            let user = text.users[row];
            let text_neighbors = nearest(&text_rows, row, &all_text, NEIGHBORS)
                .into_iter()
                .map(|(other, similarity)| Neighbor {
                    user: name(text.users[other]),
                    similarity,
                })
                .collect();
            let behavior_neighbors = match (behavior, &behavior_rows) {
                (Some(view), Some(rows)) => match view.embeddings.users.binary_search(&user) {
                    Ok(own) => {
                        let all: Vec<usize> = (0..view.embeddings.users.len()).collect();
                        nearest(rows, own, &all, NEIGHBORS)
                            .into_iter()
                            .map(|(other, similarity)| Neighbor {
                                user: name(view.embeddings.users[other]),
                                similarity,
                            })
                            .collect()
                    }
                    Err(_) => Vec::new(),
                },
                _ => Vec::new(),
            };
            SimilarUsers {
                user: name(user),
                text: text_neighbors,
                behavior: behavior_neighbors,
            }
        })
        .collect()
}

/// Compares neighbors and segments of the users both models embedded.
fn agreement(text: &Embeddings, text_segments: Option<&[usize]>, behavior: &BehaviorView<'_>) -> Option<Agreement> {
    let mut text_rows_of = Vec::new();
    let mut behavior_rows_of = Vec::new();
    for (row, user) in text.users.iter().enumerate() {
        if let Ok(other) = behavior.embeddings.users.binary_search(user) {
            text_rows_of.push(row);
            behavior_rows_of.push(other);
        }
    }
    let users = text_rows_of.len();
    if users < NEIGHBORS + 2 {
        return None;
    }
    let text_rows = unit_rows(text);
    let behavior_rows = unit_rows(behavior.embeddings);
    let mut overlap = 0.0;
    for position in 0..users {
        let by_text: Vec<usize> = nearest(&text_rows, text_rows_of[position], &text_rows_of, NEIGHBORS)
            .into_iter()
            .map(|(row, _)| row)
            .collect();
        let by_behavior = nearest(&behavior_rows, behavior_rows_of[position], &behavior_rows_of, NEIGHBORS);
        let shared = by_behavior
            .iter()
            .filter(|(row, _)| {
                let common = behavior_rows_of.iter().position(|r| r == row).map(|p| text_rows_of[p]);
                common.is_some_and(|text_row| by_text.contains(&text_row))
            })
            .count();
        overlap += shared as f64 / NEIGHBORS as f64;
    }
    let segments_adjusted_rand = match (text_segments, behavior.segment_of) {
        (Some(text_labels), Some(behavior_labels)) => {
            let a: Vec<usize> = text_rows_of.iter().map(|&row| text_labels[row]).collect();
            let b: Vec<usize> = behavior_rows_of.iter().map(|&row| behavior_labels[row]).collect();
            Some(adjusted_rand_index(&a, &b))
        }
        _ => None,
    };
    Some(Agreement {
        users,
        neighbor_overlap: overlap / users as f64,
        neighbor_overlap_by_chance: NEIGHBORS as f64 / (users - 1) as f64,
        segments_adjusted_rand,
    })
}

/// Adjusted Rand index of two labelings of the same items.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    let rows = a.iter().max().map_or(0, |&m| m + 1);
    let cols = b.iter().max().map_or(0, |&m| m + 1);
    let mut table = vec![0u64; rows * cols];
    for (&x, &y) in a.iter().zip(b) {
        table[x * cols + y] += 1;
    }
    let pairs = |count: u64| (count * count.saturating_sub(1) / 2) as f64;
    let index: f64 = table.iter().map(|&count| pairs(count)).sum();
    let row_sums: f64 = (0..rows).map(|r| pairs(table[r * cols..(r + 1) * cols].iter().sum())).sum();
    let col_sums: f64 = (0..cols).map(|c| pairs((0..rows).map(|r| table[r * cols + c]).sum())).sum();
    let total = pairs(n as u64);
    if total == 0.0 {
        return 0.0;
    }
    let expected = row_sums * col_sums / total;
    let maximum = (row_sums + col_sums) / 2.0;
    if (maximum - expected).abs() < f64::EPSILON {
        return if (index - expected).abs() < f64::EPSILON { 1.0 } else { 0.0 };
    }
    (index - expected) / (maximum - expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ingest, IngestOptions};
    use crate::timeline::DEFAULT_SESSION_GAP_MS;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn log(csv: &str) -> (EventLog, Timelines) {
        let log = ingest("steps.csv", csv.as_bytes(), &IngestOptions::default()).expect("reads");
        let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
        (log, timelines)
    }

    #[test]
    fn rand_index_of_renamed_and_crossed_labels() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1, 2], &[2, 2, 0, 0, 1]), 1.0);
        // Each pair of the first labeling is split by the second: worse than chance.
        let crossed = adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]);
        assert!((crossed + 0.5).abs() < 1e-12, "{crossed}");
    }

    #[test]
    fn candidate_steps_without_views() {
        let (log, timelines) = log(
            "user,item,event,time\n\
             u1,A,purchase,2024-01-01 10:00\n\
             u1,B,purchase,2024-01-02 10:00\n\
             u2,C,purchase,2024-01-01 11:00\n\
             u2,C,purchase,2024-01-03 11:00\n",
        );
        let kinds = kinds_in_log(&log);
        let popular = popular_items(&log, 3);
        let user = (0..log.users.len() as u32).find(|&u| log.users.name(u) == "u1").unwrap();
        let steps = candidate_steps(&log, timelines.of_user(user as usize), &kinds, &popular);

        assert!(steps.iter().all(|step| step.kind == EventKind::Purchase));
        let items: Vec<&str> = steps.iter().map(|step| log.items.name(step.item)).collect();
        assert_eq!(items, ["B", "A", "C"]);
    }

    #[test]
    fn candidate_steps_of_small_log() {
        let (log, timelines) = log(
            "user,item,event,time\n\
             u1,A,view,2024-01-01 10:00\n\
             u1,B,view,2024-01-01 10:01\n\
             u1,B,cart,2024-01-01 10:02\n\
             u2,C,view,2024-01-01 11:00\n\
             u2,C,view,2024-01-01 11:05\n\
             u2,C,purchase,2024-01-01 11:06\n\
             u3,,checkout,2024-01-01 12:00\n",
        );

        let kinds = kinds_in_log(&log);
        assert_eq!(
            kinds.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
            [EventKind::View, EventKind::Cart, EventKind::Checkout, EventKind::Purchase]
        );

        let popular = popular_items(&log, 3);
        let names: Vec<&str> = popular.iter().map(|&item| log.items.name(item)).collect();
        assert_eq!(names, ["C", "A", "B"]);

        let user = (0..log.users.len() as u32).find(|&u| log.users.name(u) == "u1").unwrap();
        let history = timelines.of_user(user as usize);
        let steps = candidate_steps(&log, history, &kinds, &popular);
        let previous = log.events[*history.last().unwrap() as usize].item;
        let actions: Vec<String> = steps
            .iter()
            .map(|step| sentence::render_action(&log, step.kind, step.item, previous, Lang::En))
            .collect();
        assert_eq!(
            actions,
            [
                "view item B",
                "add to cart",
                "purchase item B",
                "view item A",
                "add to cart item A",
                "purchase item A",
                "view item C",
                "checkout",
            ]
        );
    }

    #[test]
    fn gpt2_tokenizer_reads_english() {
        let tokenizer = TextTokenizer::gpt2().expect("bundled tokenizer");
        let (lang, reason) = detect_lang(&tokenizer).expect("detects");
        assert_eq!(lang, Lang::En);
        assert!(reason.contains("11 Chinese characters"), "{reason}");
    }

    #[test]
    fn tokenizer_with_chinese_characters_reads_chinese() {
        let mut vocab = serde_json::Map::new();
        for (id, token) in ["[UNK]"].into_iter().map(str::to_string).chain(CHINESE_PROBE.chars().map(String::from)).enumerate() {
            vocab.insert(token, id.into());
        }
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": null,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
        });
        let tokenizer = TextTokenizer::from_json_bytes(json.to_string().as_bytes()).expect("valid tokenizer");
        let (lang, reason) = detect_lang(&tokenizer).expect("detects");
        assert_eq!(lang, Lang::Zh, "{reason}");
    }
}
