//! Paths: how users move between event types and between top categories,
//! the most common session paths, and what users do at each step.

use crate::events::{display_name, EventKind, EventLog, NONE};
use crate::timeline::Timelines;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Categories kept by name in the category transitions; the rest are
/// pooled as `other`.
const TOP_CATEGORIES: usize = 8;
/// Session paths listed.
const TOP_PATHS: usize = 15;
/// Steps in the step matrix.
const STEPS: usize = 10;
/// Maximum steps of a session path; longer paths are cut to their first
/// steps.
const MAX_PATH_STEPS: usize = 8;

/// A square transition matrix with `start` and `end` states.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Transitions {
    /// State names: `start`, the event types or categories, `end`.
    pub states: Vec<String>,
    /// `counts[from][to]`: consecutive pairs within sessions.
    pub counts: Vec<Vec<usize>>,
    /// Each row of `counts` divided by its sum (0 for empty rows).
    pub probabilities: Vec<Vec<f64>>,
}

/// A session path and how often it occurs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CommonPath {
    /// Event types in order, repeats of the same type merged.
    pub path: Vec<EventKind>,
    pub sessions: usize,
    pub share: f64,
}

/// Paths report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Paths {
    pub event_transitions: Transitions,
    pub category_transitions: Option<Transitions>,
    pub common_paths: Vec<CommonPath>,
    pub truncated_paths_longer_than: usize,
    /// `step_matrix[k][kind]`: share of users whose (k+1)-th event has that
    /// type, over users with at least k+1 events.
    pub step_matrix: Vec<Vec<f64>>,
    /// Users with at least k+1 events, per step.
    pub step_users: Vec<usize>,
    /// Event type names, in the column order of `step_matrix`.
    pub step_kinds: Vec<EventKind>,
}

/// Computes transitions, common paths and the step matrix.
pub fn compute(log: &EventLog, timelines: &Timelines) -> Paths {
    let kinds = EventKind::ALL;
    let kind_names: Vec<String> = kinds.iter().map(|kind| kind.as_str().to_string()).collect();
    let event_transitions =
        transitions(log, timelines, kind_names, |event| Some(event.kind.index()));

    let top = top_categories(log);
    let category_transitions = (!top.is_empty()).then(|| {
        let mut names: Vec<String> = top
            .iter()
            .map(|&id| display_name(log.categories.name(id)))
            .collect();
        names.push("other".into());
        let other = top.len();
        transitions(log, timelines, names, |event| {
            if event.category == NONE {
                return None;
            }
            Some(
                top.iter()
                    .position(|&id| id == event.category)
                    .unwrap_or(other),
            )
        })
    });

    let mut path_counts: FxHashMap<Vec<EventKind>, usize> = FxHashMap::default();
    let mut sessions = 0usize;
    for_each_session(timelines, |events| {
        let mut path: Vec<EventKind> = Vec::new();
        for &index in events {
            let kind = log.events[index as usize].kind;
            if path.last() != Some(&kind) {
                path.push(kind);
            }
        }
        path.truncate(MAX_PATH_STEPS);
        *path_counts.entry(path).or_default() += 1;
        sessions += 1;
    });
    let mut common: Vec<(Vec<EventKind>, usize)> = path_counts.into_iter().collect();
    common.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let common_paths = common
        .into_iter()
        .take(TOP_PATHS)
        .map(|(path, count)| CommonPath {
            path,
            sessions: count,
            share: count as f64 / sessions.max(1) as f64,
        })
        .collect();

    let mut step_counts = vec![vec![0usize; kinds.len()]; STEPS];
    let mut step_users = vec![0usize; STEPS];
    for user in 0..timelines.users() {
        for (step, &index) in timelines.of_user(user).iter().take(STEPS).enumerate() {
            step_counts[step][log.events[index as usize].kind.index()] += 1;
            step_users[step] += 1;
        }
    }
    let step_matrix = step_counts
        .iter()
        .zip(&step_users)
        .map(|(row, &users)| shares(row, users))
        .collect();

    Paths {
        event_transitions,
        category_transitions,
        common_paths,
        truncated_paths_longer_than: MAX_PATH_STEPS,
        step_matrix,
        step_users,
        step_kinds: kinds.to_vec(),
    }
}

/// Calls `visit` with each session's event indices in time order.
fn for_each_session(timelines: &Timelines, mut visit: impl FnMut(&[u32])) {
    let mut group: Vec<(u32, usize, u32)> = Vec::new();
    let mut events: Vec<u32> = Vec::new();
    for user in 0..timelines.users() {
        let start = timelines.starts[user];
        group.clear();
        group.extend(
            timelines
                .of_user(user)
                .iter()
                .enumerate()
                .map(|(offset, &index)| (timelines.session_of[start + offset], offset, index)),
        );
        group.sort_unstable();
        for session in group.chunk_by(|a, b| a.0 == b.0) {
            events.clear();
            events.extend(session.iter().map(|&(_, _, index)| index));
            visit(&events);
        }
    }
}

/// Counts consecutive pairs of states within sessions; `state` maps an
/// event to a state index or skips it.
fn transitions(
    log: &EventLog,
    timelines: &Timelines,
    names: Vec<String>,
    state: impl Fn(&crate::events::Event) -> Option<usize>,
) -> Transitions {
    let size = names.len() + 2;
    let (start, end) = (0, size - 1);
    let mut counts = vec![vec![0usize; size]; size];
    for_each_session(timelines, |events| {
        let mut previous = start;
        for &index in events {
            if let Some(current) = state(&log.events[index as usize]) {
                counts[previous][current + 1] += 1;
                previous = current + 1;
            }
        }
        if previous != start {
            counts[previous][end] += 1;
        }
    });
    let probabilities = counts
        .iter()
        .map(|row| shares(row, row.iter().sum()))
        .collect();
    let mut states = Vec::with_capacity(size);
    states.push("start".to_string());
    states.extend(names);
    states.push("end".to_string());
    Transitions {
        states,
        counts,
        probabilities,
    }
}

/// Divides each count by `total`; all zeros when `total` is 0.
fn shares(counts: &[usize], total: usize) -> Vec<f64> {
    counts
        .iter()
        .map(|&count| {
            if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            }
        })
        .collect()
}

/// Returns the categories with the most events, most first.
fn top_categories(log: &EventLog) -> Vec<u32> {
    let mut counts = vec![0usize; log.categories.len()];
    for event in &log.events {
        if event.category != NONE {
            counts[event.category as usize] += 1;
        }
    }
    let mut ranked: Vec<(usize, u32)> = counts
        .iter()
        .enumerate()
        .filter(|(_, &count)| count > 0)
        .map(|(id, &count)| (count, id as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(TOP_CATEGORIES)
        .map(|(_, id)| id)
        .collect()
}
