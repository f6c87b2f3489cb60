//! Interest and recommendations from the behavior model: for each listed
//! user, the items and categories the model expects next, the next event
//! type, the chance of buying soon, and top-k items with the past events
//! that raised them most (leave-one-event-out).

use serde::{Deserialize, Serialize};

use crate::analysis::evaluation::{ItemScorer, Task};
use crate::analysis::together::Together;
use crate::behavior::predict::NextEvent;
use crate::behavior::{ItemModel, Result};
use crate::events::{display_name, EventKind, EventLog, NONE};
use crate::timeline::sentence::{self, Lang, SentenceOptions};
use crate::timeline::Timelines;

/// Options for the interest and recommendation lists.
#[derive(Clone, Debug)]
pub struct RecommendOptions {
    /// Items recommended per user.
    pub k: usize,
    /// Users listed, most active first.
    pub max_users: usize,
    /// Recent events tried as explanations for each recommendation.
    pub explain_window: usize,
    /// Explanations kept per recommended item.
    pub explanations: usize,
    /// Recommend items the user already bought.
    pub repeat_purchases: bool,
    pub lang: Lang,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions {
            k: 10,
            max_users: 300,
            explain_window: 6,
            explanations: 3,
            repeat_purchases: false,
            lang: Lang::Zh,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scored {
    pub name: String,
    pub score: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KindProbability {
    pub event: String,
    pub probability: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserInterest {
    pub user: String,
    pub categories: Vec<Scored>,
    pub items: Vec<Scored>,
    pub next_event: Vec<KindProbability>,
    /// Model probability of a purchase within the next two events.
    pub purchase_next_session: f64,
    /// Model probability that the timeline ends after its last event.
    pub churn_risk: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Interest {
    /// Users with events in the log.
    pub users_total: usize,
    pub users: Vec<UserInterest>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reason {
    /// The past event, as a sentence step.
    pub event: String,
    /// Drop in the item's log-probability when the event is left out.
    pub weight: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecommendedItem {
    pub item: String,
    pub category: Option<String>,
    pub score: f64,
    pub because: Vec<Reason>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecommendations {
    pub user: String,
    pub sentence: String,
    pub items: Vec<RecommendedItem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Recommendations {
    pub k: usize,
    pub repeat_purchases: bool,
    pub users: Vec<UserRecommendations>,
    /// Viewed-together and bought-together lists per item, when computed.
    pub together: Option<Together>,
}

/// Indices of the `k` largest finite scores, best first, ties by index.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].is_finite()).collect();
    let by_score = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if ranked.len() > k {
        ranked.select_nth_unstable_by(k, by_score);
        ranked.truncate(k);
    }
    ranked.sort_by(by_score);
    ranked
}

/// Lists the users with the most events, ties by user id.
pub fn listed_users(timelines: &Timelines, max_users: usize) -> Vec<usize> {
    let mut users: Vec<usize> = (0..timelines.users())
        .filter(|&user| !timelines.of_user(user).is_empty())
        .collect();
    users.sort_by_key(|&user| (std::cmp::Reverse(timelines.of_user(user).len()), user));
    users.truncate(max_users);
    users
}

fn interest_of(
    scorer: &ItemModel,
    log: &EventLog,
    user: &str,
    answer: &NextEvent,
    purchase: f32,
    scores: &mut [f32],
) -> UserInterest {
    scorer.item_scores(answer, scores);
    let items = top_k(scores, 10)
        .into_iter()
        .map(|item| Scored {
            name: display_name(log.items.name(item as u32)),
            score: scores[item] as f64,
        })
        .collect();
    let mut by_category = vec![0f64; log.categories.len()];
    let item_category = &scorer.log_tokens().item_category;
    for (item, &score) in scores.iter().enumerate() {
        if item_category[item] != NONE {
            by_category[item_category[item] as usize] += score as f64;
        }
    }
    let category_scores: Vec<f32> = by_category.iter().map(|&s| s as f32).collect();
    let categories = top_k(&category_scores, 5)
        .into_iter()
        .filter(|&category| by_category[category] > 0.0)
        .map(|category| Scored {
            name: display_name(log.categories.name(category as u32)),
            score: by_category[category],
        })
        .collect();
    let mut next_event: Vec<KindProbability> = EventKind::ALL
        .iter()
        .filter(|kind| scorer.vocab().kind(**kind).is_some())
        .map(|kind| KindProbability {
            event: kind.as_str().to_string(),
            probability: answer.kinds[kind.index()] as f64,
        })
        .filter(|entry| entry.probability > 0.0005)
        .collect();
    next_event.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    UserInterest {
        user: display_name(user),
        categories,
        items,
        next_event,
        purchase_next_session: purchase as f64,
        churn_risk: answer.end as f64,
    }
}

/// Users whose interest and recommendations are computed together.
pub const USERS_PER_BATCH: usize = 16;

/// Interest and recommendations for the most active users.
pub fn compute(
    scorer: &ItemModel,
    log: &EventLog,
    timelines: &Timelines,
    options: &RecommendOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<(Interest, Recommendations)> {
    let users = listed_users(timelines, options.max_users);
    let mut rows = Vec::with_capacity(users.len());
    for (done, chunk) in users.chunks(USERS_PER_BATCH).enumerate() {
        rows.extend(compute_batch(scorer, log, timelines, chunk, options)?);
        progress(((done + 1) * USERS_PER_BATCH).min(users.len()) as f64 / users.len().max(1) as f64);
    }
    Ok(assemble(timelines, options, rows))
}

/// Interest and recommendations of one batch of listed users (at most
/// [`USERS_PER_BATCH`]), in the order of `users`.
pub fn compute_batch(
    scorer: &ItemModel,
    log: &EventLog,
    timelines: &Timelines,
    users: &[usize],
    options: &RecommendOptions,
) -> Result<Vec<(UserInterest, UserRecommendations)>> {
    let mut rows = Vec::with_capacity(users.len());
    let mut scores = vec![0f32; log.items.len()];
    let sentence_options = SentenceOptions {
        lang: options.lang,
        gap_markers: true,
        max_events: 24,
        ..SentenceOptions::default()
    };
    let histories: Vec<&[u32]> = users.iter().map(|&user| timelines.of_user(user)).collect();
    let answers = scorer.next_events(&histories, None)?;
    let soon = scorer.purchase_soon(&histories, &answers)?;
    for (row, &user) in users.iter().enumerate() {
        let events = histories[row];
        let name = log.users.name(user as u32);
        let interest = interest_of(scorer, log, name, &answers[row], soon[row], &mut scores);
        scorer.item_scores(&answers[row], &mut scores);
        if !options.repeat_purchases {
            for &index in events {
                let event = &log.events[index as usize];
                if event.kind == EventKind::Purchase && event.item != NONE {
                    scores[event.item as usize] = f32::NEG_INFINITY;
                }
            }
        }
        let top = top_k(&scores, options.k);
        let reasons = scorer.explain(events, &top, options.explain_window)?;
        let items = top
            .iter()
            .zip(reasons)
            .map(|(&item, weights)| {
                let mut because: Vec<Reason> = weights
                    .into_iter()
                    .filter(|&(_, weight)| weight > 0.0)
                    .map(|(index, weight)| Reason {
                        event: sentence::render_step(log, index, options.lang),
                        weight: weight as f64,
                    })
                    .collect();
                // Weights equal to 1e-4 keep event order, so rounding that
                // differs between the native and wasm builds swaps no reasons.
                let key = |weight: f64| (weight * 1e4).round();
                because.sort_by(|a, b| key(b.weight).total_cmp(&key(a.weight)));
                because.truncate(options.explanations);
                let category = scorer.log_tokens().item_category[item];
                RecommendedItem {
                    item: display_name(log.items.name(item as u32)),
                    category: (category != NONE)
                        .then(|| display_name(log.categories.name(category))),
                    score: scores[item] as f64,
                    because,
                }
            })
            .collect();
        let recommended = UserRecommendations {
            user: display_name(name),
            sentence: sentence::render_user(log, timelines, user, &sentence_options),
            items,
        };
        rows.push((interest, recommended));
    }
    Ok(rows)
}

/// Builds the interest and recommendation sections from the rows of all
/// listed users, most active first.
pub fn assemble(
    timelines: &Timelines,
    options: &RecommendOptions,
    rows: Vec<(UserInterest, UserRecommendations)>,
) -> (Interest, Recommendations) {
    let (interest, recommended): (Vec<UserInterest>, Vec<UserRecommendations>) = rows.into_iter().unzip();
    (
        Interest {
            users_total: (0..timelines.users())
                .filter(|&user| !timelines.of_user(user).is_empty())
                .count(),
            users: interest,
        },
        Recommendations {
            k: options.k,
            repeat_purchases: options.repeat_purchases,
            users: recommended,
            together: None,
        },
    )
}

/// The behavior model as a ranking method of the backtest.
pub struct BehaviorScorer<'a> {
    pub model: ItemModel<'a>,
}

/// Method name of the behavior model in evaluation tables.
pub const MODEL_METHOD: &str = "behavior_gpt";

impl ItemScorer for BehaviorScorer<'_> {
    fn method(&self) -> &str {
        MODEL_METHOD
    }

    fn score(&mut self, task: Task, histories: &[&[u32]], scores: &mut [f32]) -> std::result::Result<(), String> {
        let kind = match task {
            Task::NextItem => None,
            Task::Purchase => Some(EventKind::Purchase),
        };
        let answers = self.model.next_events(histories, kind).map_err(|error| error.to_string())?;
        let items = scores.len() / histories.len().max(1);
        for (answer, row) in answers.iter().zip(scores.chunks_exact_mut(items)) {
            self.model.item_scores(answer, row);
        }
        Ok(())
    }
}

/// Model scores of the binary tasks for `histories`: the probability that
/// the next event is a cart, checkout or purchase (propensity) and the
/// probability that the timeline ends (churn).
pub fn binary_scores(model: &ItemModel, histories: &[&[u32]]) -> Result<(Vec<f32>, Vec<f32>)> {
    let (mut propensity, mut churn) = (Vec::with_capacity(histories.len()), Vec::with_capacity(histories.len()));
    for chunk in histories.chunks(256) {
        for answer in model.next_kinds(chunk)? {
            let buying = [EventKind::Cart, EventKind::Checkout, EventKind::Purchase]
                .iter()
                .map(|kind| answer.kinds[kind.index()])
                .sum::<f32>();
            propensity.push(buying * (1.0 - answer.end));
            churn.push(answer.end);
        }
    }
    Ok((propensity, churn))
}
