//! Conversion funnels: how many users (and sessions) go through ordered
//! steps, such as view, then cart, then purchase, within a window.
//!
//! A user reaches step k when some attempt does: an attempt starts at any
//! event of the first step, and step k's event must follow step k-1's
//! within the window counted from the attempt's start. Among attempts the
//! latest start is kept at each step, because it leaves the most window,
//! so one pass over a timeline finds the furthest step
//! (`O(events x steps)`).

use crate::events::{display_name, EventKind, EventLog, NONE};
use crate::timeline::Timelines;
use serde::Serialize;

/// Funnel settings.
#[derive(Clone, Debug)]
pub struct FunnelOptions {
    pub steps: Vec<EventKind>,
    /// Maximum time from an attempt's first step to its last, in ms.
    pub window_ms: i64,
    /// Categories and brands shown in the breakdowns, most users first.
    pub breakdown_limit: usize,
}

impl Default for FunnelOptions {
    fn default() -> Self {
        FunnelOptions {
            steps: vec![EventKind::View, EventKind::Cart, EventKind::Purchase],
            window_ms: 7 * 86_400_000,
            breakdown_limit: 10,
        }
    }
}

/// One step of a funnel.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FunnelStep {
    pub step: EventKind,
    /// Units (users or sessions) that reached this step.
    pub count: usize,
    /// Share of the first step's count that reached this step.
    pub conversion: f64,
    /// Share of the previous step's count that reached this step.
    pub step_conversion: f64,
    /// Units that reached the previous step but not this one.
    pub drop_off: usize,
    /// Median time from the previous step to this one, in seconds, over
    /// units that reached this step; null for the first step.
    pub median_seconds_from_previous: Option<f64>,
}

/// A funnel for one slice of the log (all of it, one category, one brand).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FunnelTable {
    /// `all`, or the category or brand name.
    pub name: String,
    pub steps: Vec<FunnelStep>,
}

/// Funnels per user and per session, with breakdowns.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Funnel {
    pub steps: Vec<EventKind>,
    pub window_hours: f64,
    pub by_user: FunnelTable,
    pub by_session: FunnelTable,
    /// Per-user funnels restricted to each top category's events.
    pub by_category: Vec<FunnelTable>,
    /// Per-user funnels restricted to each top brand's events.
    pub by_brand: Vec<FunnelTable>,
}

/// Progress of one unit through the steps.
struct Progress {
    /// Furthest step reached, counted from 1; 0 when the first step never
    /// happened.
    reached: usize,
    /// Time from step k-1 to step k for the first attempt that reached k.
    gaps_ms: Vec<Option<i64>>,
}

/// Runs the attempt tracking over events given as (time, kind), in time
/// order. `window_ms` of `None` means no window.
fn track(
    events: impl Iterator<Item = (i64, EventKind)>,
    steps: &[EventKind],
    window_ms: Option<i64>,
) -> Progress {
    // For each step, the attempt that reached it with the latest start:
    // (start time, time this step was reached).
    let mut best: Vec<Option<(i64, i64)>> = vec![None; steps.len()];
    let mut gaps_ms = vec![None; steps.len()];
    let mut reached = 0;
    for (time, kind) in events {
        // Later steps first, so one event does not advance two steps.
        for k in (1..steps.len()).rev() {
            if kind != steps[k] {
                continue;
            }
            let Some((start, previous_at)) = best[k - 1] else {
                continue;
            };
            if window_ms.is_some_and(|window| time - start > window) {
                continue;
            }
            let newer = best[k].is_none_or(|(known_start, _)| start > known_start);
            if newer {
                best[k] = Some((start, time));
            }
            if gaps_ms[k].is_none() {
                gaps_ms[k] = Some(time - previous_at);
            }
            reached = reached.max(k + 1);
        }
        if kind == steps[0] {
            best[0] = Some((time, time));
            reached = reached.max(1);
        }
    }
    Progress { reached, gaps_ms }
}

/// Accumulates progress of many units into a table.
struct Tally {
    counts: Vec<usize>,
    gaps: Vec<Vec<i64>>,
}

impl Tally {
    fn new(steps: usize) -> Tally {
        Tally {
            counts: vec![0; steps],
            gaps: vec![Vec::new(); steps],
        }
    }

    fn add(&mut self, progress: Progress) {
        for k in 0..progress.reached {
            self.counts[k] += 1;
            if let Some(gap) = progress.gaps_ms[k] {
                self.gaps[k].push(gap);
            }
        }
    }

    fn into_table(mut self, name: String, steps: &[EventKind]) -> FunnelTable {
        let first = self.counts.first().copied().unwrap_or(0);
        let rows = steps
            .iter()
            .enumerate()
            .map(|(k, &step)| {
                let count = self.counts[k];
                let previous = if k == 0 { count } else { self.counts[k - 1] };
                FunnelStep {
                    step,
                    count,
                    conversion: ratio(count, first),
                    step_conversion: ratio(count, previous),
                    drop_off: previous - count,
                    median_seconds_from_previous: if k == 0 {
                        None
                    } else {
                        median_ms(&mut self.gaps[k]).map(|ms| ms / 1000.0)
                    },
                }
            })
            .collect();
        FunnelTable { name, steps: rows }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Median of whole milliseconds; the mean of the two middle values for an
/// even count.
fn median_ms(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle] as f64
    } else {
        (values[middle - 1] as f64 + values[middle] as f64) / 2.0
    })
}

/// Computes the funnel report for a log.
pub fn compute(log: &EventLog, timelines: &Timelines, options: &FunnelOptions) -> Funnel {
    let steps = &options.steps;
    let window = Some(options.window_ms);
    let mut by_user = Tally::new(steps.len());
    let mut by_session = Tally::new(steps.len());
    for user in 0..timelines.users() {
        let events = timelines.of_user(user);
        let kinds = events.iter().map(|&index| {
            let event = &log.events[index as usize];
            (event.time, event.kind)
        });
        by_user.add(track(kinds, steps, window));

        // Sessions of one user are contiguous in time order only for gap
        // sessions, so group positions by session number first.
        let start = timelines.starts[user];
        let mut sessions: Vec<(u32, usize)> = (0..events.len())
            .map(|offset| (timelines.session_of[start + offset], offset))
            .collect();
        sessions.sort_by_key(|&(session, offset)| (session, offset));
        for group in sessions.chunk_by(|a, b| a.0 == b.0) {
            let kinds = group.iter().map(|&(_, offset)| {
                let event = &log.events[events[offset] as usize];
                (event.time, event.kind)
            });
            by_session.add(track(kinds, steps, None));
        }
    }
    Funnel {
        steps: steps.clone(),
        window_hours: options.window_ms as f64 / 3_600_000.0,
        by_user: by_user.into_table("all".into(), steps),
        by_session: by_session.into_table("all".into(), steps),
        by_category: breakdown(
            log,
            timelines,
            options,
            |event| event.category,
            |id| display_name(log.categories.name(id)),
        ),
        by_brand: breakdown(
            log,
            timelines,
            options,
            |event| event.brand,
            |id| display_name(log.brands.name(id)),
        ),
    }
}

/// Per-user funnels restricted to the events of each of the most common
/// values of `key` (category or brand), ranked by distinct users.
fn breakdown(
    log: &EventLog,
    timelines: &Timelines,
    options: &FunnelOptions,
    key: impl Fn(&crate::events::Event) -> u32,
    name: impl Fn(u32) -> String,
) -> Vec<FunnelTable> {
    let mut users_per_value: Vec<usize> = Vec::new();
    let mut seen_by_user: Vec<u32> = Vec::new();
    for user in 0..timelines.users() {
        seen_by_user.clear();
        for &index in timelines.of_user(user) {
            let value = key(&log.events[index as usize]);
            if value != NONE && !seen_by_user.contains(&value) {
                seen_by_user.push(value);
                if users_per_value.len() <= value as usize {
                    users_per_value.resize(value as usize + 1, 0);
                }
                users_per_value[value as usize] += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, u32)> = users_per_value
        .iter()
        .enumerate()
        .filter(|(_, &users)| users > 0)
        .map(|(value, &users)| (users, value as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(options.breakdown_limit);
    ranked
        .into_iter()
        .map(|(_, value)| {
            let mut tally = Tally::new(options.steps.len());
            for user in 0..timelines.users() {
                let kinds = timelines
                    .of_user(user)
                    .iter()
                    .map(|&index| &log.events[index as usize])
                    .filter(|event| key(event) == value)
                    .map(|event| (event.time, event.kind));
                tally.add(track(kinds, &options.steps, Some(options.window_ms)));
            }
            tally.into_table(name(value), &options.steps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const STEPS: [EventKind; 3] = [EventKind::View, EventKind::Cart, EventKind::Purchase];
    const HOUR: i64 = 3_600_000;

    fn reached(events: &[(i64, EventKind)], window: Option<i64>) -> usize {
        track(events.iter().copied(), &STEPS, window).reached
    }

    #[test]
    fn steps_must_come_in_order() {
        use EventKind::*;
        assert_eq!(reached(&[(0, View), (1, Cart), (2, Purchase)], None), 3);
        assert_eq!(reached(&[(0, Cart), (1, View), (2, Purchase)], None), 1);
        assert_eq!(reached(&[(0, Purchase)], None), 0);
        assert_eq!(reached(&[(0, View), (5, Purchase)], None), 1);
    }

    #[test]
    fn window_counts_from_attempt_start() {
        use EventKind::*;
        let late = [(0, View), (HOUR, Cart), (30 * HOUR, Purchase)];
        assert_eq!(reached(&late, Some(24 * HOUR)), 2);
        // A second view restarts the attempt, so the purchase now fits.
        let restarted = [
            (0, View),
            (HOUR, Cart),
            (20 * HOUR, View),
            (21 * HOUR, Cart),
            (30 * HOUR, Purchase),
        ];
        assert_eq!(reached(&restarted, Some(24 * HOUR)), 3);
    }

    #[test]
    fn gaps_come_from_first_completion() {
        use EventKind::*;
        let progress = track(
            [(0, View), (10_000, Cart), (70_000, Purchase)].into_iter(),
            &STEPS,
            None,
        );
        assert_eq!(progress.gaps_ms, vec![None, Some(10_000), Some(60_000)]);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median_ms(&mut [3, 1, 2]), Some(2.0));
        assert_eq!(median_ms(&mut [4, 1, 2, 3]), Some(2.5));
        assert_eq!(median_ms(&mut []), None);
    }
}
