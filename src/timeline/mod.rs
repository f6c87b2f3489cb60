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
        for (index, event) in log.events.iter().enumerate() {
            let slot = &mut next[event.user as usize];
            order[*slot] = index as u32;
            *slot += 1;
        }
        for user in 0..users {
            order[starts[user]..starts[user + 1]]
                .sort_by_key(|&index| log.events[index as usize].time);
        }
        let mut timelines = Timelines {
            order,
            starts,
            session_of: Vec::new(),
            sessions: 0,
        };
        timelines.assign_sessions(log, session_gap_ms);
        timelines
    }

    pub fn users(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Event indices of one user, in time order.
    pub fn of_user(&self, user: usize) -> &[u32] {
        &self.order[self.starts[user]..self.starts[user + 1]]
    }

    fn assign_sessions(&mut self, log: &EventLog, gap_ms: i64) {
        let mut session_of = vec![0u32; self.order.len()];
        let mut next_session = 0u32;
        for user in 0..self.users() {
            let range = self.starts[user]..self.starts[user + 1];
            match log.session_source {
                SessionSource::InactivityGap => {
                    let mut last_time: Option<i64> = None;
                    for position in range.clone() {
                        let time = log.events[self.order[position] as usize].time;
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
