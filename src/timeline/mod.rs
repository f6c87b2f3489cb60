//! Timelines: each user's events in time order, split into sessions.

pub mod sentence;

use crate::events::{EventLog, SessionSource};
use rustc_hash::FxHashMap;

/// Default inactivity gap that ends a session.
pub const DEFAULT_SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// Per-user timelines over an [`EventLog`], stored as event indices.
#[derive(Clone, Debug)]
pub struct Timelines {
    /// Event indices grouped by user id and, within a user, sorted by time;
    /// events with equal times keep their file order.
    pub order: Vec<u32>,
    /// `order[starts[u]..starts[u + 1]]` is user `u`'s timeline.
    pub starts: Vec<usize>,
    /// Session number of each position in `order`, counted from 0 per log.
    pub session_of: Vec<u32>,
    /// Total sessions.
    pub sessions: usize,
}

impl Timelines {
    /// Groups events by user with a counting sort, then sorts each user's
    /// events by time (stable), then assigns sessions.
    ///
    /// The counting sort copies each event's time next to its index, so the
    /// later steps read times in order instead of from random places in
    /// the event list, which for millions of users is far larger than the
    /// CPU cache.
    pub fn build(log: &EventLog, session_gap_ms: i64) -> Timelines {
        let users = log.users.len();
        let mut starts = vec![0usize; users + 1];
        for event in &log.events {
            starts[event.user as usize + 1] += 1;
        }
        for user in 0..users {
            starts[user + 1] += starts[user];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; log.events.len()];
        let mut times = vec![0i64; log.events.len()];
        for (index, event) in log.events.iter().enumerate() {
            let slot = &mut next[event.user as usize];
            order[*slot] = index as u32;
            times[*slot] = event.time;
            *slot += 1;
        }
        drop(next);
        sort_each_by_time(&starts, &mut order, &mut times);
        let mut timelines = Timelines {
            order,
            starts,
            session_of: Vec::new(),
            sessions: 0,
        };
        timelines.assign_sessions(log, &times, session_gap_ms);
        timelines
    }

    pub fn users(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Event indices of one user, in time order.
    pub fn of_user(&self, user: usize) -> &[u32] {
        &self.order[self.starts[user]..self.starts[user + 1]]
    }

    /// Numbers sessions. `times[position]` is the time of the event at
    /// `order[position]`.
    fn assign_sessions(&mut self, log: &EventLog, times: &[i64], gap_ms: i64) {
        let mut session_of = vec![0u32; self.order.len()];
        let mut next_session = 0u32;
        for user in 0..self.users() {
            let range = self.starts[user]..self.starts[user + 1];
            match log.session_source {
                SessionSource::InactivityGap => {
                    let mut last_time: Option<i64> = None;
                    for position in range.clone() {
                        let time = times[position];
                        if last_time.is_some_and(|last| time - last > gap_ms) {
                            next_session += 1;
                        }
                        session_of[position] = next_session;
                        last_time = Some(time);
                    }
                    if !range.is_empty() {
                        next_session += 1;
                    }
                }
                SessionSource::SessionColumn | SessionSource::OrderColumn => {
                    let key = |position: usize| {
                        let event = &log.events[self.order[position] as usize];
                        if log.session_source == SessionSource::SessionColumn {
                            event.session
                        } else {
                            event.order
                        }
                    };
                    let mut seen: FxHashMap<u32, u32> = FxHashMap::default();
                    for position in range {
                        let session = *seen.entry(key(position)).or_insert_with(|| {
                            next_session += 1;
                            next_session - 1
                        });
                        session_of[position] = session;
                    }
                }
            }
        }
        self.session_of = session_of;
        self.sessions = next_session as usize;
    }
}

/// Sorts each user's slice of `order` and `times` by time. Within a slice,
/// indices start in file order, and sorting by (time, index) keeps that
/// order among equal times. Slices already in time order, as in logs
/// written as events happen, are left as they are.
fn sort_each_by_time(starts: &[usize], order: &mut [u32], times: &mut [i64]) {
    let mut scratch: Vec<(i64, u32)> = Vec::new();
    for range in starts.windows(2).map(|pair| pair[0]..pair[1]) {
        if times[range.clone()].is_sorted() {
            continue;
        }
        scratch.clear();
        scratch.extend(
            times[range.clone()]
                .iter()
                .copied()
                .zip(order[range.clone()].iter().copied()),
        );
        scratch.sort_unstable();
        for (position, (time, index)) in range.zip(scratch.iter().copied()) {
            times[position] = time;
            order[position] = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ingest, IngestOptions};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn timelines_sort_ties_and_sessions() {
        let text = "user_id,item_id,event_type,timestamp\n\
                    u1,a,view,2024-01-01 10:40:00\n\
                    u2,b,view,2024-01-01 09:00:00\n\
                    u1,b,view,2024-01-01 10:00:00\n\
                    u1,c,cart,2024-01-01 10:00:00\n\
                    u2,c,view,2024-01-01 09:20:00\n\
                    u1,d,view,2024-01-01 09:00:00\n";
        let log = ingest("small.csv", text.as_bytes(), &IngestOptions::default())
            .expect("the small log reads");
        assert_eq!(log.events.len(), 6);
        let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
        let u1 = log.users.get("u1").expect("user u1") as usize;
        let u2 = log.users.get("u2").expect("user u2") as usize;
        // Rows 2 and 3 share a time and keep their file order.
        assert_eq!(timelines.of_user(u1), [5, 2, 3, 0]);
        assert_eq!(timelines.of_user(u2), [1, 4]);
        // u1: 09:00, then 60 and 40 minutes of silence start new sessions.
        // u2: 20 minutes apart, one session.
        assert_eq!(timelines.session_of, [0, 1, 1, 2, 3, 3]);
        assert_eq!(timelines.sessions, 4);
    }
}
