//! Predictions of the behavior model for a log's users: the next event
//! type, interest in each item (the probability mass the model puts on it),
//! the chance of buying soon, the chance the timeline ends, user embeddings,
//! and which past events raised an item's score most.
//!
//! Items with a token of their own get that token's probability. Items
//! written as their category's token (or `<unk-item>`) share that token's
//! probability in proportion to their training events, plus one.

use candle_core::{Device, Tensor};

use super::vocab::{LogTokens, TokenRole, Vocabulary, END, PAD, SAME_ITEM, UNKNOWN_ITEM, USER};
use super::{BehaviorModel, Result};
use crate::events::{EventKind, EventLog, NONE};
use crate::model::Pooling;
use crate::timeline::Timelines;

/// Histories scored in one forward pass.
const BATCH_ROWS: usize = 64;
/// Next event types followed when mixing item distributions; the rest of
/// the probability mass is small and is dropped.
const KINDS_FOLLOWED: usize = 3;

/// Next-event prediction for one history.
#[derive(Clone, Debug)]
pub struct NextEvent {
    /// Probability of each [`EventKind`] (index order) as the next event,
    /// renormalised over event types.
    pub kinds: [f32; EventKind::ALL.len()],
    /// Probability of each vocabulary token in the item slot of the next
    /// event, mixed over the likely event types.
    pub slot: Vec<f32>,
    /// Probability that the timeline ends here.
    pub end: f32,
    /// Item of the history's last event with an item, which `<same-item>`
    /// stands for, or [`NONE`].
    pub last_item: u32,
}

/// A behavior model bound to one log: token mapping and item shares.
pub struct ItemModel<'a> {
    model: &'a BehaviorModel,
    log: &'a EventLog,
    tokens: LogTokens,
    /// For each log item, its share of the probability of its token.
    share: Vec<f32>,
    device: Device,
}

impl<'a> ItemModel<'a> {
    /// Binds `model` to `log`. Item shares count the first `train_len[user]`
    /// events of each timeline (all when `None`).
    pub fn new(
        model: &'a BehaviorModel,
        log: &'a EventLog,
        timelines: &Timelines,
        train_len: Option<&[u32]>,
    ) -> ItemModel<'a> {
        let tokens = model.vocab().map_log(log);
        let mut counts = vec![1f64; log.items.len()];
        for user in 0..timelines.users() {
            let events = timelines.of_user(user);
            let limit = train_len.map_or(events.len(), |lengths| lengths[user] as usize);
            for &index in &events[..limit] {
                let item = log.events[index as usize].item;
                if item != NONE {
                    counts[item as usize] += 1.0;
                }
            }
        }
        let mut token_totals = vec![0f64; model.vocab().len()];
        for (item, &count) in counts.iter().enumerate() {
            token_totals[tokens.item[item] as usize] += count;
        }
        let share = counts
            .iter()
            .enumerate()
            .map(|(item, &count)| (count / token_totals[tokens.item[item] as usize]) as f32)
            .collect();
        ItemModel {
            model,
            log,
            tokens,
            share,
            device: Device::Cpu,
        }
    }

    pub fn vocab(&self) -> &Vocabulary {
        self.model.vocab()
    }

    pub fn log_tokens(&self) -> &LogTokens {
        &self.tokens
    }

    /// Tokens of a history, cut to fit the model's context with room for
    /// `reserve` more tokens; the sequence keeps its `<user>` start.
    pub fn encode(&self, events: &[u32], reserve: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(events.len() * 3 + 1);
        self.tokens.encode(self.vocab(), self.log, events, &mut ids, None);
        let room = self.model.gpt2().config().n_positions.saturating_sub(reserve).max(2);
        if ids.len() > room {
            let cut = ids.len() - (room - 1);
            ids.drain(1..cut);
        }
        ids
    }

    /// Softmax over the vocabulary after the last token of each sequence.
    pub fn next_token_probabilities(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(sequences.len());
        for chunk in sequences.chunks(BATCH_ROWS) {
            let (hidden, lengths) = self.hidden(chunk)?;
            let (rows, length, width) = hidden.dims3()?;
            let last: Vec<u32> = lengths
                .iter()
                .enumerate()
                .map(|(row, &len)| (row * length + len - 1) as u32)
                .collect();
            let index = Tensor::from_vec(last, rows, &self.device)?;
            let picked = hidden.reshape((rows * length, width))?.index_select(&index, 0)?;
            let logits = self.model.gpt2().logits(&picked)?;
            let probabilities = candle_nn::ops::softmax_last_dim(&logits)?;
            out.extend(probabilities.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    fn hidden(&self, sequences: &[Vec<u32>]) -> Result<(Tensor, Vec<usize>)> {
        let pad = self.vocab().special(PAD);
        let lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        let (ids, mask) = crate::model::gpt2::pad_batch(sequences, pad, &self.device)?;
        let hidden = self.model.gpt2().hidden_states(&ids, Some(&mask))?;
        Ok((hidden, lengths))
    }

    /// Mean-pooled final hidden states of each history, `[n, width]` rows.
    pub fn embeddings(&self, histories: &[&[u32]]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        let sequences: Vec<Vec<u32>> = histories.iter().map(|events| self.encode(events, 0)).collect();
        for chunk in sequences.chunks(BATCH_ROWS) {
            let pad = self.vocab().special(PAD);
            let (ids, mask) = crate::model::gpt2::pad_batch(chunk, pad, &self.device)?;
            let hidden = self.model.gpt2().hidden_states(&ids, Some(&mask))?;
            let pooled = crate::model::Gpt2Model::pool(&hidden, Some(&mask), Pooling::Mean)?;
            out.extend(pooled.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    pub fn width(&self) -> usize {
        self.model.gpt2().config().n_embd
    }

    /// Event-type and end-of-timeline probabilities after each sequence;
    /// the item slot is filled in later when `with_slot` is set.
    fn first_step(&self, sequences: &[Vec<u32>], with_slot: bool) -> Result<Vec<NextEvent>> {
        let vocab = self.vocab();
        let end = vocab.special(END);
        let first = self.next_token_probabilities(sequences)?;
        Ok(first
            .iter()
            .map(|probabilities| {
                let mut kinds = [0f32; EventKind::ALL.len()];
                for kind in EventKind::ALL {
                    if let Some(token) = vocab.kind(kind) {
                        kinds[kind.index()] = probabilities[token as usize];
                    }
                }
                let total: f32 = kinds.iter().sum();
                if total > 0.0 {
                    kinds.iter_mut().for_each(|p| *p /= total);
                }
                NextEvent {
                    kinds,
                    slot: if with_slot { vec![0.0; vocab.len()] } else { Vec::new() },
                    end: probabilities[end as usize],
                    last_item: NONE,
                }
            })
            .collect())
    }

    /// Event-type and end probabilities only, one forward pass per history,
    /// cheap enough to score every user of a large log.
    pub fn next_kinds(&self, histories: &[&[u32]]) -> Result<Vec<NextEvent>> {
        let sequences: Vec<Vec<u32>> = histories.iter().map(|events| self.encode(events, 0)).collect();
        self.first_step(&sequences, false)
    }

    /// Next-event answers for each history. With `only_kind`, the item slot
    /// is conditioned on that event type alone (for example purchases).
    pub fn next_events(&self, histories: &[&[u32]], only_kind: Option<EventKind>) -> Result<Vec<NextEvent>> {
        let vocab = self.vocab();
        let sequences: Vec<Vec<u32>> = histories.iter().map(|events| self.encode(events, 2)).collect();
        let mut answers = self.first_step(&sequences, true)?;
        for (answer, events) in answers.iter_mut().zip(histories) {
            answer.last_item = self.last_item(events);
        }
        // Follow the likely event types (or the one asked for) one token further.
        let mut extended = Vec::new();
        let mut owners = Vec::new();
        for (row, answer) in answers.iter().enumerate() {
            let followed: Vec<(EventKind, f32)> = match only_kind {
                Some(kind) => vec![(kind, 1.0)],
                None => {
                    let mut ranked: Vec<(EventKind, f32)> = EventKind::ALL
                        .iter()
                        .map(|&kind| (kind, answer.kinds[kind.index()]))
                        .filter(|&(_, p)| p > 0.0)
                        .collect();
                    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    ranked.truncate(KINDS_FOLLOWED);
                    ranked
                }
            };
            for (kind, weight) in followed {
                if let Some(token) = vocab.kind(kind) {
                    let mut sequence = sequences[row].clone();
                    sequence.push(token);
                    extended.push(sequence);
                    owners.push((row, weight));
                }
            }
        }
        let second = self.next_token_probabilities(&extended)?;
        let unknown_item = vocab.special(UNKNOWN_ITEM);
        let same_item = vocab.special(SAME_ITEM);
        for ((row, weight), probabilities) in owners.into_iter().zip(second) {
            let slot = &mut answers[row].slot;
            for (token, p) in probabilities.into_iter().enumerate() {
                let id = token as u32;
                if matches!(vocab.role(id), TokenRole::Item(_) | TokenRole::Category(_))
                    || id == unknown_item
                    || id == same_item
                {
                    slot[token] += weight * p;
                }
            }
        }
        Ok(answers)
    }

    /// Item of the last event with an item in `events`, or [`NONE`].
    fn last_item(&self, events: &[u32]) -> u32 {
        events
            .iter()
            .rev()
            .map(|&index| self.log.events[index as usize].item)
            .find(|&item| item != NONE)
            .unwrap_or(NONE)
    }

    /// Writes a score for every log item from an answer's item-slot
    /// distribution; `<same-item>` adds to the history's last item.
    pub fn item_scores(&self, answer: &NextEvent, scores: &mut [f32]) {
        let slot = &answer.slot;
        for (item, score) in scores.iter_mut().enumerate() {
            *score = slot[self.tokens.item[item] as usize] * self.share[item];
        }
        if answer.last_item != NONE {
            scores[answer.last_item as usize] += slot[self.vocab().special(SAME_ITEM) as usize];
        }
    }

    /// Computes the probability of buying within the next two events: a purchase next,
    /// or a cart or checkout next followed by a purchase.
    /// `answers` are the [`Self::next_events`] predictions for `histories`,
    /// passed in so the caller's forward passes are not repeated.
    pub fn purchase_soon(&self, histories: &[&[u32]], answers: &[NextEvent]) -> Result<Vec<f32>> {
        let vocab = self.vocab();
        let purchase = EventKind::Purchase.index();
        let mut sequences = Vec::new();
        let mut owners = Vec::new();
        for (row, events) in histories.iter().enumerate() {
            for step in [EventKind::Cart, EventKind::Checkout] {
                let (Some(kind), weight) = (vocab.kind(step), answers[row].kinds[step.index()]) else {
                    continue;
                };
                if weight <= 0.0 {
                    continue;
                }
                let mut sequence = self.encode(events, 3);
                sequence.push(kind);
                sequences.push(sequence);
                owners.push((row, weight));
            }
        }
        // After the step's token, the item slot comes first; take its most
        // likely token, then read the event type that follows.
        let slots = self.next_token_probabilities(&sequences)?;
        for (sequence, probabilities) in sequences.iter_mut().zip(&slots) {
            let best = probabilities
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(token, _)| token as u32);
            sequence.push(best);
        }
        let thirds = self.next_token_probabilities(&sequences)?;
        let mut soon: Vec<f32> = answers.iter().map(|answer| answer.kinds[purchase]).collect();
        if let Some(token) = vocab.kind(EventKind::Purchase) {
            for ((row, weight), probabilities) in owners.into_iter().zip(thirds) {
                soon[row] += weight * probabilities[token as usize];
            }
        }
        Ok(soon.into_iter().map(|p| p.clamp(0.0, 1.0)).collect())
    }

    /// For each of `items`, the change in its log-probability when each of
    /// the last `window` events is left out of the history: positive when
    /// the event raised the item's score. Returns `(event index, weight)`
    /// pairs per item, oldest event first.
    pub fn explain(&self, events: &[u32], items: &[usize], window: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        let start = events.len().saturating_sub(window);
        let mut variants: Vec<Vec<u32>> = vec![events.to_vec()];
        for position in start..events.len() {
            let mut variant = events.to_vec();
            variant.remove(position);
            variants.push(variant);
        }
        let refs: Vec<&[u32]> = variants.iter().map(Vec::as_slice).collect();
        let answers = self.next_events(&refs, None)?;
        let mut scores = vec![0f32; self.log.items.len()];
        let log_scores: Vec<Vec<f32>> = answers
            .iter()
            .map(|answer| {
                self.item_scores(answer, &mut scores);
                items.iter().map(|&item| scores[item].max(1e-12).ln()).collect()
            })
            .collect();
        Ok((0..items.len())
            .map(|slot| {
                (start..events.len())
                    .zip(&log_scores[1..])
                    .map(|(position, without)| (events[position], log_scores[0][slot] - without[slot]))
                    .collect()
            })
            .collect())
    }

    /// Returns whether a token sequence starts with `<user>` (for tests).
    pub fn starts_user(&self, ids: &[u32]) -> bool {
        ids.first() == Some(&self.vocab().special(USER))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::behavior::train::{train, TrainOptions};
    use crate::events::{ingest, IngestOptions};

    /// Users view A then buy B; a few view C then buy D.
    fn trained() -> (EventLog, Timelines, BehaviorModel) {
        let mut csv = String::from("user_id,item_id,category_id,behavior_type,timestamp\n");
        for user in 0..48 {
            let t = 1_511_544_070 + user * 10;
            let (seen, bought) = if user % 4 == 0 { ("C", "D") } else { ("A", "B") };
            csv.push_str(&format!("{user},{seen},c1,pv,{t}\n{user},{bought},c2,buy,{}\n", t + 1));
        }
        let log = ingest("p.csv", csv.as_bytes(), &IngestOptions::default()).unwrap();
        let timelines = Timelines::build(&log, 1_800_000);
        let options = TrainOptions {
            layers: Some(1),
            width: Some(32),
            heads: Some(2),
            context: Some(16),
            epochs: 40,
            patience: 40,
            batch_tokens: 256,
            learning_rate: 1e-2,
            ..TrainOptions::default()
        };
        let model = train(&log, &timelines, None, None, &options, &mut |_| {}).unwrap();
        (log, timelines, model)
    }

    #[test]
    fn model_ranks_and_explains_next_item() {
        let (log, timelines, model) = trained();
        let scorer = ItemModel::new(&model, &log, &timelines, None);
        let user_a = log.users.get("1").unwrap() as usize;
        let user_c = log.users.get("0").unwrap() as usize;
        let first = |user: usize| &timelines.of_user(user)[..1];
        let histories = [first(user_a), first(user_c)];
        let answers = scorer.next_events(&histories, Some(EventKind::Purchase)).unwrap();
        let mut scores = vec![0f32; log.items.len()];
        let best = |scores: &[f32]| {
            let index = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            log.items.name(index as u32).to_string()
        };
        scorer.item_scores(&answers[0], &mut scores);
        assert_eq!(best(&scores), "B");
        scorer.item_scores(&answers[1], &mut scores);
        assert_eq!(best(&scores), "D");
        // After a view, the next event is a purchase in every training user.
        let next = scorer.next_events(&histories[..1], None).unwrap();
        assert!(next[0].kinds[EventKind::Purchase.index()] > 0.8, "{:?}", next[0].kinds);
        let soon = scorer.purchase_soon(&histories[..1], &next).unwrap();
        assert!(soon[0] > 0.8);
        // The view of C is what raises D.
        let d = log.items.get("D").unwrap();
        let weights = scorer.explain(first(user_c), &[d as usize], 4).unwrap();
        assert_eq!(weights.len(), 1);
        assert_eq!(weights[0].len(), 1);
        assert!(weights[0][0].1 > 0.5, "{weights:?}");
    }

    #[test]
    fn embeddings_separate_the_two_behaviors() {
        let (log, timelines, model) = trained();
        let scorer = ItemModel::new(&model, &log, &timelines, None);
        let users = ["1", "2", "0", "4"].map(|name| log.users.get(name).unwrap() as usize);
        let histories: Vec<&[u32]> = users.iter().map(|&u| timelines.of_user(u)).collect();
        let data = scorer.embeddings(&histories).unwrap();
        let width = scorer.width();
        let row = |i: usize| &data[i * width..(i + 1) * width];
        let distance = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
        assert!(distance(row(0), row(1)) < 1e-6, "same behavior, same embedding");
        assert!(distance(row(0), row(2)) > distance(row(0), row(1)) + 1e-3);
        assert!(scorer.starts_user(&scorer.encode(timelines.of_user(users[0]), 0)));
    }
}
