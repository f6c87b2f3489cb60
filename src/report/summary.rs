//! The summary of a parsed log: the object `inspect --json` prints.

use crate::events::time::format_iso;
use crate::events::{EventKind, EventLog, ReasonCount, TimeBasis};
use crate::timeline::Timelines;
use serde::Serialize;

/// Counts and warnings for one log. Field order and names are part of the
/// command-line contract.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub format: String,
    pub encoding: String,
    /// Data rows read, header excluded. `events + rejected` equals `rows`
    /// minus the exact duplicates dropped, except for behavior sentences,
    /// where a row is a line of many events.
    pub rows: usize,
    pub events: usize,
    pub rejected: usize,
    pub rejected_reasons: Vec<ReasonCount>,
    pub warnings: Vec<String>,
    pub users: usize,
    pub items: usize,
    pub sessions: usize,
    pub event_counts: EventCounts,
    /// ISO 8601 UTC; null when the log has no real dates.
    pub first_event: Option<String>,
    pub last_event: Option<String>,
}

/// Events per canonical type, every type present even at zero.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EventCounts {
    pub view: usize,
    pub cart: usize,
    pub remove_from_cart: usize,
    pub favorite: usize,
    pub checkout: usize,
    pub purchase: usize,
    pub refund: usize,
    pub other: usize,
}

impl EventCounts {
    fn add(&mut self, kind: EventKind) {
        let slot = match kind {
            EventKind::View => &mut self.view,
            EventKind::Cart => &mut self.cart,
            EventKind::RemoveFromCart => &mut self.remove_from_cart,
            EventKind::Favorite => &mut self.favorite,
            EventKind::Checkout => &mut self.checkout,
            EventKind::Purchase => &mut self.purchase,
            EventKind::Refund => &mut self.refund,
            EventKind::Other => &mut self.other,
        };
        *slot += 1;
    }
}

impl Summary {
    pub fn new(log: &EventLog, timelines: &Timelines) -> Summary {
        let mut counts = EventCounts::default();
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        for event in &log.events {
            counts.add(event.kind);
            first = first.min(event.time);
            last = last.max(event.time);
        }
        let dated = log.time_basis == TimeBasis::Absolute && !log.events.is_empty();
        let diagnostics = &log.diagnostics;
        Summary {
            format: log.format_name.clone(),
            encoding: log.encoding.clone(),
            rows: diagnostics.rows,
            events: log.events.len(),
            rejected: diagnostics.rejected,
            rejected_reasons: diagnostics.reasons(),
            warnings: diagnostics.warnings.clone(),
            users: log.users.len(),
            items: log.items.len(),
            sessions: timelines.sessions,
            event_counts: counts,
            first_event: dated.then(|| format_iso(first)),
            last_event: dated.then(|| format_iso(last)),
        }
    }
}
