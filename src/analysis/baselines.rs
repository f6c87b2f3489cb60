//! Baseline recommenders and binary scores for the backtest in
//! [`super::evaluation`]. Every baseline is fitted on the training
//! histories of a [`Backtest`] alone, so no event at or after the cut-off
//! reaches it.

use super::evaluation::{evaluate, split, Backtest, BacktestOptions, Evaluation, ItemScorer, Task};
use crate::events::{Event, EventKind, EventLog, NONE};
use crate::timeline::Timelines;

/// Method names of the ranking baselines, in table order.
pub const METHODS: [&str; 3] = ["popularity", "item_knn", "markov"];
/// Method name of the propensity baseline.
pub const PROPENSITY_METHOD: &str = "recency_frequency";
/// Method name of the churn baseline.
pub const CHURN_METHOD: &str = "recency";

/// Nearest items kept per item by [`ItemKnn`].
const NEIGHBORS: usize = 50;
/// Most recent distinct items of a history that count towards item-item
/// co-occurrence. Bounds the quadratic cost of very long histories.
const MAX_COOCCURRING_ITEMS: usize = 300;
/// Most recent distinct items of a history that [`ItemKnn`] scores from.
const SCORED_HISTORY_ITEMS: usize = 50;
/// Weight ratio between a history item and the next more recent one in
/// [`ItemKnn`] scores.
const RECENCY_DECAY: f32 = 0.8;
/// Weight of the popularity backoff in [`Markov`] scores. Below 1, so it
/// only orders items with equal transition counts.
const BACKOFF_WEIGHT: f32 = 0.5;
/// Half-life of an event's weight in the propensity score.
const PROPENSITY_HALF_LIFE_DAYS: f64 = 7.0;
const DAY_MS: f64 = 86_400_000.0;

/// Splits the log, fits the three ranking baselines and evaluates them.
/// A log that cannot be split gives an unavailable evaluation whose note
/// is the reason.
pub fn evaluate_baselines(
    log: &EventLog,
    timelines: &Timelines,
    options: &BacktestOptions,
) -> Evaluation {
    let backtest = match split(log, timelines, options) {
        Ok(backtest) => backtest,
        Err(reason) => return Evaluation::unavailable(reason),
    };
    let mut popularity = Popularity::fit(log, timelines, &backtest);
    let mut item_knn = ItemKnn::fit(log, timelines, &backtest);
    let mut markov = Markov::fit(log, timelines, &backtest);
    evaluate(
        log,
        timelines,
        &backtest,
        &mut [&mut popularity, &mut item_knn, &mut markov],
        options,
    )
}

/// Iterates over the events of all training histories, user by user.
fn history_events<'a>(
    log: &'a EventLog,
    timelines: &'a Timelines,
    backtest: &'a Backtest,
) -> impl Iterator<Item = &'a Event> + 'a {
    (0..timelines.users()).flat_map(move |user| {
        backtest
            .history(timelines, user)
            .iter()
            .map(move |&index| &log.events[index as usize])
    })
}

/// Counts events per item id in the training histories.
pub fn item_event_counts(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> Vec<u32> {
    let mut counts = vec![0u32; log.items.len()];
    for event in history_events(log, timelines, backtest) {
        if event.item != NONE {
            counts[event.item as usize] += 1;
        }
    }
    counts
}

/// Ranks items by how often they occur in the training histories.
#[derive(Clone, Debug)]
pub struct Popularity {
    /// Next-item scores: events per item.
    events: Vec<f32>,
    /// Purchase scores: items ordered by purchases, then events, then id,
    /// and scored by their position from the bottom of that order (the
    /// last seen item scores 1), so the order survives f32 rounding.
    /// Items never seen score 0.
    purchases_first: Vec<f32>,
}

impl Popularity {
    /// Counts events and purchases per item in the training histories.
    pub fn fit(log: &EventLog, timelines: &Timelines, backtest: &Backtest) -> Popularity {
        let events = item_event_counts(log, timelines, backtest);
        let mut purchases = vec![0u32; log.items.len()];
        for event in history_events(log, timelines, backtest) {
            if event.item != NONE && event.kind == EventKind::Purchase {
                purchases[event.item as usize] += 1;
            }
        }
        let mut seen: Vec<u32> = (0..events.len() as u32)
            .filter(|&item| events[item as usize] > 0)
            .collect();
        seen.sort_unstable_by(|&a, &b| {
            let (a_index, b_index) = (a as usize, b as usize);
            purchases[b_index]
                .cmp(&purchases[a_index])
                .then(events[b_index].cmp(&events[a_index]))
                .then(a.cmp(&b))
        });
        let mut purchases_first = vec![0.0; events.len()];
        for (position, &item) in seen.iter().enumerate() {
            purchases_first[item as usize] = (seen.len() - position) as f32;
        }
        Popularity {
            events: events.iter().map(|&count| count as f32).collect(),
            purchases_first,
        }
    }

    /// Returns the score of every item id for `task`.
    pub fn scores(&self, task: Task) -> &[f32] {
        match task {
            Task::NextItem => &self.events,
            Task::Purchase => &self.purchases_first,
        }
    }
}

impl ItemScorer for Popularity {
    fn method(&self) -> &str {
        METHODS[0]
    }

    fn score(
        &mut self,
        task: Task,
        _histories: &[&[u32]],
        scores: &mut [f32],
    ) -> Result<(), String> {
        let row = self.scores(task);
        for target in scores.chunks_exact_mut(row.len().max(1)) {
            target.copy_from_slice(row);
        }
        Ok(())
    }
}

/// Item-based nearest neighbors from co-occurrence in training histories.
///
/// Two items co-occur once per user whose history contains both, counting
/// the user's 300 most recent distinct items. Similarity is the cosine of
/// the items' user sets: co-occurrences / sqrt(users of a * users of b).
/// Each item keeps its 50 most similar items. A user's score for an item is
/// the sum of its similarities to the user's 50 most recent distinct items,
/// weighted 1 for the most recent, 0.8 for the next, 0.8^2 and so on. The
/// same scores serve both tasks.
#[derive(Clone, Debug)]
pub struct ItemKnn<'a> {
    log: &'a EventLog,
    /// `neighbors[starts[i]..starts[i + 1]]` are item i's nearest items,
    /// most similar first, with their similarities at the same positions
    /// of `similarities`.
    starts: Vec<usize>,
    neighbors: Vec<u32>,
    similarities: Vec<f32>,
    /// Scratch list of a history's recent items.
    recent: Vec<u32>,
}

impl<'a> ItemKnn<'a> {
    /// Counts co-occurrences in the training histories and keeps each
    /// item's nearest neighbors.
    pub fn fit(log: &'a EventLog, timelines: &Timelines, backtest: &Backtest) -> ItemKnn<'a> {
        let items = log.items.len();
        let (user_starts, user_items) = recent_distinct_items(log, timelines, backtest);
        let users = user_starts.len() - 1;

        // Invert to the users of each item.
        let mut item_starts = vec![0usize; items + 1];
        for &item in &user_items {
            item_starts[item as usize + 1] += 1;
        }
        for item in 0..items {
            item_starts[item + 1] += item_starts[item];
        }
        let mut next_slot = item_starts.clone();
        let mut item_users = vec![0u32; user_items.len()];
        for user in 0..users {
            for &item in &user_items[user_starts[user]..user_starts[user + 1]] {
                item_users[next_slot[item as usize]] = user as u32;
                next_slot[item as usize] += 1;
            }
        }
        let user_count = |item: usize| (item_starts[item + 1] - item_starts[item]) as f32;

        let mut knn = ItemKnn {
            log,
            starts: Vec::with_capacity(items + 1),
            neighbors: Vec::new(),
            similarities: Vec::new(),
            recent: Vec::new(),
        };
        knn.starts.push(0);
        let mut cooccurrences = vec![0u32; items];
        let mut touched: Vec<u32> = Vec::new();
        let mut candidates: Vec<(f32, u32)> = Vec::new();
        for item in 0..items {
            for &user in &item_users[item_starts[item]..item_starts[item + 1]] {
                let user = user as usize;
                for &other in &user_items[user_starts[user]..user_starts[user + 1]] {
                    if other as usize == item {
                        continue;
                    }
                    if cooccurrences[other as usize] == 0 {
                        touched.push(other);
                    }
                    cooccurrences[other as usize] += 1;
                }
            }
            candidates.clear();
            for &other in &touched {
                let shared = std::mem::take(&mut cooccurrences[other as usize]) as f32;
                let similarity = shared / (user_count(item) * user_count(other as usize)).sqrt();
                candidates.push((similarity, other));
            }
            touched.clear();
            keep_most_similar(&mut candidates, NEIGHBORS);
            knn.neighbors
                .extend(candidates.iter().map(|&(_, other)| other));
            knn.similarities
                .extend(candidates.iter().map(|&(similarity, _)| similarity));
            knn.starts.push(knn.neighbors.len());
        }
        knn
    }

    /// Returns the nearest items of `item` with their similarities, most
    /// similar first.
    pub fn neighbors(&self, item: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let range = self.starts[item as usize]..self.starts[item as usize + 1];
        self.neighbors[range.clone()]
            .iter()
            .copied()
            .zip(self.similarities[range].iter().copied())
    }
}

/// Lists the distinct items of each training history, most recent first,
/// at most [`MAX_COOCCURRING_ITEMS`] per user, as a CSR table indexed by
/// user id.
fn recent_distinct_items(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
) -> (Vec<usize>, Vec<u32>) {
    let mut starts = Vec::with_capacity(timelines.users() + 1);
    starts.push(0);
    let mut items = Vec::new();
    // The last user that listed each item, so each user lists it once.
    let mut listed_by = vec![u32::MAX; log.items.len()];
    for user in 0..timelines.users() {
        let first = items.len();
        for &index in backtest.history(timelines, user).iter().rev() {
            let item = log.events[index as usize].item;
            if item == NONE || listed_by[item as usize] == user as u32 {
                continue;
            }
            listed_by[item as usize] = user as u32;
            items.push(item);
            if items.len() - first == MAX_COOCCURRING_ITEMS {
                break;
            }
        }
        starts.push(items.len());
    }
    (starts, items)
}

/// Keeps the `count` most similar candidates, sorted by similarity
/// descending and then item id ascending.
fn keep_most_similar(candidates: &mut Vec<(f32, u32)>, count: usize) {
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if candidates.len() > count {
        candidates.select_nth_unstable_by(count - 1, order);
        candidates.truncate(count);
    }
    candidates.sort_unstable_by(order);
}

impl ItemScorer for ItemKnn<'_> {
    fn method(&self) -> &str {
        METHODS[1]
    }

    fn score(
        &mut self,
        _task: Task,
        histories: &[&[u32]],
        scores: &mut [f32],
    ) -> Result<(), String> {
        let items = self.log.items.len();
        for (history, row) in histories.iter().zip(scores.chunks_exact_mut(items.max(1))) {
            self.recent.clear();
            for &index in history.iter().rev() {
                let item = self.log.events[index as usize].item;
                if item == NONE || self.recent.contains(&item) {
                    continue;
                }
                self.recent.push(item);
                if self.recent.len() == SCORED_HISTORY_ITEMS {
                    break;
                }
            }
            let mut weight = 1.0f32;
            for &item in &self.recent {
                for (other, similarity) in self.neighbors(item) {
                    row[other as usize] += weight * similarity;
                }
                weight *= RECENCY_DECAY;
            }
        }
        Ok(())
    }
}

/// First-order Markov chain over consecutive items in training histories.
///
/// Events without an item are skipped, and an item followed by itself
/// counts as a transition. A user's score for an item is the number of
/// transitions from the user's last item to it, plus 0.5 times the item's
/// [`Popularity`] score for the task divided by the largest such score.
/// The backoff gives every item seen before the cut-off a score and only
/// orders items with equal transition counts.
#[derive(Clone, Debug)]
pub struct Markov<'a> {
    log: &'a EventLog,
    /// Backoff scores for [`Task::NextItem`] and [`Task::Purchase`], scaled
    /// to at most [`BACKOFF_WEIGHT`].
    backoff: [Vec<f32>; 2],
    /// `next_items[starts[a]..starts[a + 1]]` are the items seen right
    /// after item a, ascending, with their counts at the same positions of
    /// `counts`.
    starts: Vec<usize>,
    next_items: Vec<u32>,
    counts: Vec<f32>,
}

impl<'a> Markov<'a> {
    /// Counts the transitions in the training histories.
    pub fn fit(log: &'a EventLog, timelines: &Timelines, backtest: &Backtest) -> Markov<'a> {
        let items = log.items.len();
        let mut transitions: Vec<(u32, u32)> = Vec::new();
        for user in 0..timelines.users() {
            let mut previous = NONE;
            for &index in backtest.history(timelines, user) {
                let item = log.events[index as usize].item;
                if item == NONE {
                    continue;
                }
                if previous != NONE {
                    transitions.push((previous, item));
                }
                previous = item;
            }
        }
        transitions.sort_unstable();
        let mut starts = vec![0usize; items + 1];
        let mut next_items = Vec::new();
        let mut counts = Vec::new();
        for run in transitions.chunk_by(|a, b| a == b) {
            let (from, to) = run[0];
            starts[from as usize + 1] += 1;
            next_items.push(to);
            counts.push(run.len() as f32);
        }
        for item in 0..items {
            starts[item + 1] += starts[item];
        }

        let popularity = Popularity::fit(log, timelines, backtest);
        let scaled = |task: Task| {
            let scores = popularity.scores(task);
            let max = scores.iter().copied().fold(0.0f32, f32::max);
            let scale = if max > 0.0 { BACKOFF_WEIGHT / max } else { 0.0 };
            scores
                .iter()
                .map(|&score| score * scale)
                .collect::<Vec<f32>>()
        };
        Markov {
            log,
            backoff: [scaled(Task::NextItem), scaled(Task::Purchase)],
            starts,
            next_items,
            counts,
        }
    }

    /// Returns the number of transitions from item `from` to item `to` in
    /// the training histories.
    pub fn transitions(&self, from: u32, to: u32) -> u32 {
        let range = self.starts[from as usize]..self.starts[from as usize + 1];
        match self.next_items[range.clone()].binary_search(&to) {
            Ok(position) => self.counts[range.start + position] as u32,
            Err(_) => 0,
        }
    }
}

impl ItemScorer for Markov<'_> {
    fn method(&self) -> &str {
        METHODS[2]
    }

    fn score(
        &mut self,
        task: Task,
        histories: &[&[u32]],
        scores: &mut [f32],
    ) -> Result<(), String> {
        let backoff = match task {
            Task::NextItem => &self.backoff[0],
            Task::Purchase => &self.backoff[1],
        };
        for (history, row) in histories
            .iter()
            .zip(scores.chunks_exact_mut(backoff.len().max(1)))
        {
            row.copy_from_slice(backoff);
            let last = history
                .iter()
                .rev()
                .map(|&index| self.log.events[index as usize].item)
                .find(|&item| item != NONE);
            let Some(last) = last else {
                continue;
            };
            let range = self.starts[last as usize]..self.starts[last as usize + 1];
            for (&next, &count) in self.next_items[range.clone()]
                .iter()
                .zip(&self.counts[range])
            {
                row[next as usize] += count;
            }
        }
        Ok(())
    }
}

/// Scores each of `users` for propensity: the recency-weighted count of
/// cart and purchase events in the user's history. An event counts
/// 0.5^(age / 7 days), its age measured back from
/// [`Backtest::reference_time`].
pub fn propensity_scores(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    users: &[u32],
) -> Vec<f32> {
    users
        .iter()
        .map(|&user| {
            let reference = backtest.reference_time(log, timelines, user as usize);
            let score: f64 = backtest
                .history(timelines, user as usize)
                .iter()
                .map(|&index| &log.events[index as usize])
                .filter(|event| matches!(event.kind, EventKind::Cart | EventKind::Purchase))
                .map(|event| {
                    let age_days = (reference - event.time) as f64 / DAY_MS;
                    0.5f64.powf(age_days / PROPENSITY_HALF_LIFE_DAYS)
                })
                .sum();
            score as f32
        })
        .collect()
}

/// Scores each of `users` for churn: the days from the user's last history
/// event to [`Backtest::reference_time`]. A user without history scores 0.
pub fn churn_scores(
    log: &EventLog,
    timelines: &Timelines,
    backtest: &Backtest,
    users: &[u32],
) -> Vec<f32> {
    users
        .iter()
        .map(|&user| {
            let reference = backtest.reference_time(log, timelines, user as usize);
            backtest
                .history(timelines, user as usize)
                .last()
                .map_or(0.0, |&index| {
                    ((reference - log.events[index as usize].time) as f64 / DAY_MS) as f32
                })
        })
        .collect()
}
