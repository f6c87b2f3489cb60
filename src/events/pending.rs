//! Decimal ids queued for interning in batches.
//!
//! With millions of distinct users the user table is far larger than the
//! CPU cache, and looking ids up one row at a time waits for memory on
//! every row. Queuing the decimal ids of a few dozen rows lets their table
//! entries load while the next rows are parsed (on CPUs with a prefetch
//! instruction), and lets [`Interner::intern_numbers`] wait for the rest
//! of them at once.

use super::interner::{canonical_number, Interner, NONE};
use super::Event;

/// Rows whose ids are looked up together. Enough to keep the memory system
/// busy (a core tracks about 10 to 20 outstanding cache misses) while the
/// queue stays in the L1 cache.
const BATCH: usize = 32;

/// Decimal ids of one event field that wait to be interned, with the
/// positions of the events that get them.
pub(super) struct PendingIds {
    numbers: Vec<u64>,
    events: Vec<usize>,
    /// The event field the ids go to.
    field: fn(&mut Event) -> &mut u32,
}

impl PendingIds {
    pub fn new(field: fn(&mut Event) -> &mut u32) -> PendingIds {
        PendingIds {
            numbers: Vec::with_capacity(BATCH),
            events: Vec::with_capacity(BATCH),
            field,
        }
    }

    /// Returns the id of `text` for the event that will be pushed at
    /// position `event`. A decimal id is queued instead and [`NONE`] is
    /// returned. The caller pushes the event and then calls
    /// [`PendingIds::resolve_if_full`]. Any other text is interned at once,
    /// after the queue, so ids keep their first-seen order.
    pub fn intern_or_queue(
        &mut self,
        interner: &mut Interner,
        events: &mut [Event],
        text: &str,
        event: usize,
    ) -> u32 {
        match canonical_number(text) {
            Some(number) => {
                interner.prefetch_number(number);
                self.numbers.push(number);
                self.events.push(event);
                NONE
            }
            None => {
                self.resolve(interner, events);
                interner.intern(text)
            }
        }
    }

    /// Interns the queue once it is a full batch.
    pub fn resolve_if_full(&mut self, interner: &mut Interner, events: &mut [Event]) {
        if self.numbers.len() >= BATCH {
            self.resolve(interner, events);
        }
    }

    /// Interns every queued id and writes it into its event.
    pub fn resolve(&mut self, interner: &mut Interner, events: &mut [Event]) {
        if self.numbers.is_empty() {
            return;
        }
        let (positions, field) = (&self.events, self.field);
        interner.intern_numbers(&self.numbers, |index, id| {
            *field(&mut events[positions[index]]) = id;
        });
        self.numbers.clear();
        self.events.clear();
    }
}
