//! Accumulates accepted events, drops exact duplicates, and collects the
//! data-damage warnings shared by every input format.

use super::detect::Format;
use super::diagnostics::Diagnostics;
use super::interner::{Interner, NONE};
use super::kind::{EventCodes, EventKind};
use super::mapping::Mapping;
use super::pending::PendingIds;
use super::{Event, EventLog, SessionSource, TimeBasis};
use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;

/// One event's fields as text, before interning.
#[derive(Default)]
pub(super) struct Draft<'a> {
    pub user: &'a str,
    pub item: &'a str,
    pub category: &'a str,
    pub brand: &'a str,
    pub session: &'a str,
    pub order: &'a str,
    pub label: &'a str,
    /// The kind when the format fixes it; otherwise `codes` classifies the
    /// label.
    pub kind: Option<EventKind>,
    pub codes: Option<EventCodes>,
    pub time: i64,
    pub price: f32,
    pub quantity: f32,
}

/// Counts of one kind of damage, with the first line that showed it.
#[derive(Default, Clone, Copy)]
struct Tally {
    count: usize,
    first_line: usize,
    first_value_len: usize,
}

impl Tally {
    fn add(&mut self, line: usize) {
        if self.count == 0 {
            self.first_line = line;
        }
        self.count += 1;
    }
}

pub(super) struct Builder {
    pub log: EventLog,
    /// Hash of each accepted event's row text, parallel to `log.events`,
    /// for dropping exact duplicates in `finish`.
    row_hashes: Vec<u64>,
    /// Hash of the row being read, set by `note_row`.
    pending_hash: u64,
    /// Decimal user and item ids not yet interned. Until
    /// [`Builder::resolve_pending`] runs, the events they belong to contain
    /// [`NONE`] there.
    pending_users: PendingIds,
    pending_items: PendingIds,
    /// Canonical kind of each label id, filled on first sight.
    kind_of_label: Vec<Option<Option<EventKind>>>,
    hasher: DefaultHashBuilder,
    keep_duplicates: bool,
    scientific_users: Tally,
    scientific_items: Tally,
    scientific_example: String,
    users_from_sessions: Tally,
    in_order: usize,
    out_of_order: Tally,
    last_time: Option<i64>,
    other_labels: Vec<usize>,
}

impl Builder {
    pub fn new(file: &str, format: Format, format_name: String, keep_duplicates: bool) -> Builder {
        Builder {
            log: EventLog {
                file_name: file.to_string(),
                format,
                format_name,
                encoding: String::new(),
                detection_reason: String::new(),
                columns: Vec::new(),
                mapping: Mapping::default(),
                mapping_unsure: false,
                events: Vec::new(),
                users: Interner::new(),
                items: Interner::new(),
                categories: Interner::new(),
                brands: Interner::new(),
                sessions: Interner::new(),
                orders: Interner::new(),
                labels: Interner::new(),
                time_basis: TimeBasis::Absolute,
                session_source: SessionSource::InactivityGap,
                diagnostics: Diagnostics::default(),
            },
            row_hashes: Vec::new(),
            pending_hash: 0,
            pending_users: PendingIds::new(|event| &mut event.user),
            pending_items: PendingIds::new(|event| &mut event.item),
            kind_of_label: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            keep_duplicates,
            scientific_users: Tally::default(),
            scientific_items: Tally::default(),
            scientific_example: String::new(),
            users_from_sessions: Tally::default(),
            in_order: 0,
            out_of_order: Tally::default(),
            last_time: None,
            other_labels: Vec::new(),
        }
    }

    /// Reserves room for about `rows` events, so that large files do not
    /// pay for repeated growth of the event list and the duplicate table.
    pub fn reserve(&mut self, rows: usize) {
        self.log.events.reserve(rows);
        if !self.keep_duplicates {
            self.row_hashes.reserve(rows);
        }
    }

    pub fn diagnostics(&mut self) -> &mut Diagnostics {
        &mut self.log.diagnostics
    }

    /// Remembers the text of the row being read, so that an event pushed
    /// from it can later be matched against exact duplicates.
    pub fn note_row(&mut self, raw: &str) {
        if !self.keep_duplicates {
            self.pending_hash = self.hasher.hash_one(raw);
        }
    }

    /// Interns and stores one accepted event. A missing user falls back to
    /// the session id, which the caller has already checked exists.
    pub fn push(&mut self, line: usize, draft: Draft) {
        let log = &mut self.log;
        let position = log.events.len();
        let user = if draft.user.is_empty() {
            self.users_from_sessions.add(line);
            let mut key = String::with_capacity(draft.session.len() + 8);
            key.push_str("session:");
            key.push_str(draft.session);
            self.pending_users
                .intern_or_queue(&mut log.users, &mut log.events, &key, position)
        } else {
            if looks_scientific(draft.user) {
                if self.scientific_users.count == 0 && self.scientific_example.is_empty() {
                    self.scientific_example = draft.user.to_string();
                }
                self.scientific_users.add(line);
                self.scientific_users.first_value_len = draft.user.len();
            }
            self.pending_users.intern_or_queue(
                &mut log.users,
                &mut log.events,
                draft.user,
                position,
            )
        };
        if looks_scientific(draft.item) {
            if self.scientific_example.is_empty() {
                self.scientific_example = draft.item.to_string();
            }
            self.scientific_items.add(line);
        }
        let label = log.labels.intern(draft.label);
        let kind = match (draft.kind, draft.codes) {
            (Some(kind), _) => kind,
            (None, Some(codes)) => {
                let index = label as usize;
                if self.kind_of_label.len() <= index {
                    self.kind_of_label.resize(index + 1, None);
                }
                let cached = &mut self.kind_of_label[index];
                cached
                    .get_or_insert_with(|| codes.classify(draft.label))
                    .unwrap_or(EventKind::Other)
            }
            (None, None) => EventKind::Other,
        };
        let item = if draft.item.is_empty() {
            NONE
        } else {
            self.pending_items.intern_or_queue(
                &mut log.items,
                &mut log.events,
                draft.item,
                position,
            )
        };
        let event = Event {
            time: draft.time,
            user,
            item,
            category: intern_optional(&mut log.categories, draft.category),
            brand: intern_optional(&mut log.brands, draft.brand),
            session: intern_optional(&mut log.sessions, draft.session),
            order: intern_optional(&mut log.orders, draft.order),
            label,
            price: draft.price,
            quantity: draft.quantity,
            kind,
        };
        match self.last_time {
            Some(last) if draft.time < last => self.out_of_order.add(line),
            _ => self.in_order += 1,
        }
        self.last_time = Some(draft.time);
        log.events.push(event);
        if !self.keep_duplicates {
            self.row_hashes.push(self.pending_hash);
        }
        self.pending_users
            .resolve_if_full(&mut log.users, &mut log.events);
        self.pending_items
            .resolve_if_full(&mut log.items, &mut log.events);
    }

    /// Interns the queued user and item ids, so that every event contains
    /// its final ids. Anything that reads those ids before [`Builder::finish`]
    /// calls this first.
    pub fn resolve_pending(&mut self) {
        let log = &mut self.log;
        self.pending_users.resolve(&mut log.users, &mut log.events);
        self.pending_items.resolve(&mut log.items, &mut log.events);
    }

    /// Adds the file-wide warnings and picks the session source.
    pub fn finish(mut self) -> EventLog {
        self.resolve_pending();
        self.drop_duplicates();
        self.warn_duplicates();
        self.warn_scientific();
        if self.users_from_sessions.count > 0 {
            let tally = self.users_from_sessions;
            self.log.diagnostics.warn(format!(
                "{} rows have no user id (first at line {}); their session id stands in for the \
                 user, so one person may count as several users",
                tally.count, tally.first_line
            ));
        }
        self.warn_out_of_order();
        self.warn_other_labels();
        self.warn_dominant_user();
        self.warn_long_span();
        self.log.session_source = pick_session_source(&self.log);
        self.log.events.shrink_to_fit();
        for interner in [
            &mut self.log.users,
            &mut self.log.items,
            &mut self.log.categories,
            &mut self.log.brands,
            &mut self.log.sessions,
            &mut self.log.orders,
            &mut self.log.labels,
        ] {
            interner.shrink_to_fit();
        }
        self.log
    }

    /// Drops events whose row repeats an earlier row exactly. Identical
    /// rows share user and time, so rows are compared within each user's
    /// events sorted by (time, row hash), which keeps the work cache-local.
    /// Row texts are compared by a 64-bit hash; at ten million rows the
    /// chance of any false match is about one in 300,000.
    fn drop_duplicates(&mut self) {
        if self.keep_duplicates || self.row_hashes.len() != self.log.events.len() {
            return;
        }
        let events = &self.log.events;
        let hashes = &self.row_hashes;
        let users = self.log.users.len();
        let mut starts = vec![0usize; users + 1];
        for event in events {
            starts[event.user as usize + 1] += 1;
        }
        for user in 0..users {
            starts[user + 1] += starts[user];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; events.len()];
        for (index, event) in events.iter().enumerate() {
            let slot = &mut next[event.user as usize];
            order[*slot] = index as u32;
            *slot += 1;
        }
        let mut keep = vec![true; events.len()];
        let mut dropped = 0usize;
        // Each user's (time, row hash, index) triples are copied out once,
        // so sorting them does not read scattered events again and again.
        let mut rows: Vec<(i64, u64, u32)> = Vec::new();
        for user in 0..users {
            let slice = &order[starts[user]..starts[user + 1]];
            if slice.len() < 2 {
                continue;
            }
            rows.clear();
            rows.extend(slice.iter().map(|&index| {
                let index_usize = index as usize;
                (events[index_usize].time, hashes[index_usize], index)
            }));
            // The original index breaks ties, so the first row in the file
            // is the one kept.
            rows.sort_unstable();
            for pair in rows.windows(2) {
                let ((time, hash, _), (later_time, later_hash, later)) = (pair[0], pair[1]);
                if time == later_time && hash == later_hash {
                    keep[later as usize] = false;
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            let mut index = 0;
            self.log.events.retain(|_| {
                index += 1;
                keep[index - 1]
            });
        }
        self.log.diagnostics.duplicates += dropped;
        self.row_hashes = Vec::new();
    }

    fn warn_duplicates(&mut self) {
        let duplicates = self.log.diagnostics.duplicates;
        if duplicates > 0 {
            self.log.diagnostics.warn(format!(
                "{duplicates} exact duplicate rows were dropped (a row identical to an earlier \
                 one in every field); keep them with --keep-duplicates"
            ));
        }
    }

    fn warn_scientific(&mut self) {
        for (tally, what) in [
            (self.scientific_users, "user"),
            (self.scientific_items, "item"),
        ] {
            if tally.count > 0 {
                self.log.diagnostics.warn(format!(
                    "{} {what} ids look like numbers a spreadsheet rewrote in scientific \
                     notation (first at line {}: {}); the original ids are lost and different \
                     {what}s may now share one id; export the column as text",
                    tally.count, tally.first_line, self.scientific_example
                ));
            }
        }
    }

    fn warn_out_of_order(&mut self) {
        let out = self.out_of_order;
        let total = self.in_order + out.count;
        // Rows out of place in a mostly sorted file point to damage or
        // concatenation. A file in no order at all is just unsorted.
        if out.count > 0 && total > 0 && self.in_order * 10 >= total * 9 {
            self.log.diagnostics.warn(format!(
                "{} rows are earlier than the row before them (first at line {}) in a file \
                 otherwise sorted by time; timelines are sorted by time",
                out.count, out.first_line
            ));
        }
    }

    fn warn_other_labels(&mut self) {
        for event in &self.log.events {
            if event.kind == EventKind::Other {
                let index = event.label as usize;
                if self.other_labels.len() <= index {
                    self.other_labels.resize(index + 1, 0);
                }
                self.other_labels[index] += 1;
            }
        }
        let mut others: Vec<(usize, u32)> = self
            .other_labels
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(label, &count)| (count, label as u32))
            .collect();
        if others.is_empty() {
            return;
        }
        others.sort_unstable_by_key(|&(count, _)| std::cmp::Reverse(count));
        let total: usize = others.iter().map(|(count, _)| count).sum();
        let listed: Vec<String> = others
            .iter()
            .take(5)
            .map(|(count, label)| format!("{:?} x{count}", self.log.labels.name(*label)))
            .collect();
        self.log.diagnostics.warn(format!(
            "{total} events have labels outside the canonical types and count as 'other': {}",
            listed.join(", ")
        ));
    }

    /// Flags a log whose times span more than 50 years, because a shop's
    /// export that long usually has mistyped or zero timestamps.
    fn warn_long_span(&mut self) {
        if self.log.time_basis != TimeBasis::Absolute {
            return;
        }
        let times = self.log.events.iter().map(|event| event.time);
        let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
            return;
        };
        let years = (last - first) as f64 / (365.25 * 86_400_000.0);
        if years > 50.0 {
            self.log.diagnostics.warn(format!(
                "times span {years:.0} years, from {} to {}; check the log for wrong or \
                 placeholder timestamps",
                super::time::format_date(first),
                super::time::format_date(last)
            ));
        }
    }

    fn warn_dominant_user(&mut self) {
        let events = &self.log.events;
        if events.len() < 1000 || self.log.users.len() < 10 {
            return;
        }
        let mut counts = vec![0usize; self.log.users.len()];
        for event in events {
            counts[event.user as usize] += 1;
        }
        let Some((user, &count)) = counts.iter().enumerate().max_by_key(|(_, &count)| count) else {
            return;
        };
        if count * 5 > events.len() {
            let share = count as f64 * 100.0 / events.len() as f64;
            self.log.diagnostics.warn(format!(
                "user {} has {share:.1}% of all events ({count}); it may be a crawler, a test \
                 account or a shared placeholder id",
                self.log.users.name(user as u32)
            ));
        }
    }
}

fn intern_optional(interner: &mut Interner, value: &str) -> u32 {
    if value.is_empty() {
        NONE
    } else {
        interner.intern(value)
    }
}

/// Sessions come from a session column when one is mapped, from an order
/// column when every event has an order, and from inactivity gaps otherwise.
fn pick_session_source(log: &EventLog) -> SessionSource {
    let events = &log.events;
    if !events.is_empty() && events.iter().all(|event| event.session != NONE) {
        return SessionSource::SessionColumn;
    }
    if !events.is_empty() && events.iter().all(|event| event.order != NONE) {
        return SessionSource::OrderColumn;
    }
    SessionSource::InactivityGap
}

/// True for values such as `2.82E+18` that a spreadsheet made of a long id.
pub(super) fn looks_scientific(value: &str) -> bool {
    let bytes = value.as_bytes();
    let Some(e) = bytes.iter().position(|&b| b == b'E' || b == b'e') else {
        return false;
    };
    let (mantissa, exponent) = (&bytes[..e], &bytes[e + 1..]);
    let exponent = exponent.strip_prefix(b"+").unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa[0].is_ascii_digit()
        && mantissa.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && mantissa.iter().filter(|&&b| b == b'.').count() <= 1
        && !exponent.is_empty()
        && exponent.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn exact_duplicates_dropped_after_first() {
        let text = "user_id,item_id,event_type,timestamp\n\
                    u1,a,view,2024-01-01 10:00:00\n\
                    u2,a,view,2024-01-01 10:00:00\n\
                    u1,a,view,2024-01-01 10:00:00\n\
                    u1,b,view,2024-01-01 10:00:00\n\
                    u1,a,view,2024-01-01 10:00:00\n\
                    u1,a,view,2024-01-01 09:00:00\n";
        let log = crate::events::ingest("dup.csv", text.as_bytes(), &Default::default())
            .expect("the small log reads");
        assert_eq!(log.diagnostics.duplicates, 2);
        let rows: Vec<(&str, &str)> = log
            .events
            .iter()
            .map(|event| (log.users.name(event.user), log.items.name(event.item)))
            .collect();
        assert_eq!(rows, [("u1", "a"), ("u2", "a"), ("u1", "b"), ("u1", "a")]);
        assert_eq!(log.events[3].time + 3_600_000, log.events[0].time);
    }

    #[test]
    fn scientific_ids_spotted() {
        assert!(looks_scientific("2.82E+18"));
        assert!(looks_scientific("5e10"));
        assert!(!looks_scientific("E12"));
        assert!(!looks_scientific("12345"));
        assert!(!looks_scientific("shoe-e5"));
    }
}
