//! String interning for ids, so that each event stores small integers.

use super::number_map::NumberMap;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Marks an absent id (no item, no category, ...).
pub const NONE: u32 = u32::MAX;

/// Maps distinct strings to dense `u32` ids. All strings live in one
/// buffer, so each distinct string costs its bytes plus 8 bytes of offset
/// and a table entry.
///
/// Most shop ids are decimal numbers. Those without a leading zero are
/// looked up by their numeric value, which skips the string comparison and
/// saves two memory reads per lookup in large tables.
#[derive(Clone)]
pub struct Interner {
    buffer: String,
    /// `buffer[ends[id - 1]..ends[id]]` is string `id` (from 0 for id 0).
    ends: Vec<usize>,
    table: HashTable<u32>,
    numeric: NumberMap,
    hasher: DefaultHashBuilder,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            buffer: String::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            numeric: NumberMap::default(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

/// Maximum id length shown in reports and sentences, in characters.
pub const MAX_DISPLAY_CHARS: usize = 80;

/// Returns `name` cut to [`MAX_DISPLAY_CHARS`] characters, ending in `…`
/// when cut, so one pathological id cannot bloat a report.
pub fn display_name(name: &str) -> String {
    match name.char_indices().nth(MAX_DISPLAY_CHARS) {
        None => name.to_string(),
        Some((cut, _)) => format!("{}…", &name[..cut]),
    }
}

/// Returns the value of a decimal id that prints back to the same text:
/// 1 to 19 digits with no leading zero (or exactly `0`).
#[inline]
pub(super) fn canonical_number(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    super::time::parse_u64(bytes)
}

/// Appends a new string and returns its id, or the last id once four
/// billion strings exist.
fn push_name(buffer: &mut String, ends: &mut Vec<usize>, name: &str) -> u32 {
    match u32::try_from(ends.len()) {
        Ok(id) if id < NONE - 1 => {
            buffer.push_str(name);
            ends.push(buffer.len());
            id
        }
        _ => NONE - 1,
    }
}

/// Writes `number` in decimal at the end of `digits` and returns the text.
fn format_decimal(mut number: u64, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[start..]).expect("ASCII digits are UTF-8")
}

/// Returns the string of `id` inside `buffer`.
#[inline]
fn text_of<'a>(buffer: &'a str, ends: &[usize], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] };
    &buffer[start..ends[id]]
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.ends.len())
            .finish()
    }
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the id of `name`, adding it on first sight. Ids stay below
    /// `u32::MAX`, which marks [`NONE`]; past four billion distinct strings
    /// the last id is reused (a log that large does not fit in memory).
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(number) = canonical_number(name) {
            let (buffer, ends) = (&mut self.buffer, &mut self.ends);
            return self
                .numeric
                .get_or_insert_with(number, || push_name(buffer, ends, name));
        }
        let hash = self.hasher.hash_one(name);
        let (buffer, ends) = (&self.buffer, &self.ends);
        if let Some(&id) = self
            .table
            .find(hash, |&id| text_of(buffer, ends, id) == name)
        {
            return id;
        }
        let id = push_name(&mut self.buffer, &mut self.ends, name);
        let (buffer, ends, hasher) = (&self.buffer, &self.ends, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(text_of(buffer, ends, id)));
        id
    }

    /// Interns decimal ids given by value, as [`canonical_number`] returns
    /// them, and calls `store(position, id)` for each in order. Ids are the
    /// same as interning the ids' text one by one. The lookups of the whole
    /// batch start before the first one finishes, which hides most of the
    /// memory latency when the table is far larger than the CPU cache.
    pub(super) fn intern_numbers(&mut self, numbers: &[u64], mut store: impl FnMut(usize, u32)) {
        self.numeric.reserve(numbers.len());
        let mut touched = 0u32;
        for &number in numbers {
            touched ^= self.numeric.touch(number);
        }
        std::hint::black_box(touched);
        let mut digits = [0u8; 20];
        for (position, &number) in numbers.iter().enumerate() {
            let (buffer, ends) = (&mut self.buffer, &mut self.ends);
            let id = self.numeric.get_or_insert_with(number, || {
                push_name(buffer, ends, format_decimal(number, &mut digits))
            });
            store(position, id);
        }
    }

    /// Starts loading the table entry for a decimal id that
    /// [`Interner::intern_numbers`] will look up soon.
    pub(super) fn prefetch_number(&self, number: u64) {
        self.numeric.prefetch(number);
    }

    /// Returns the id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        if let Some(number) = canonical_number(name) {
            return self.numeric.get(number);
        }
        let hash = self.hasher.hash_one(name);
        self.table.find(hash, |&id| self.name(id) == name).copied()
    }

    /// Returns the string for `id`; empty for [`NONE`] or an unknown id.
    pub fn name(&self, id: u32) -> &str {
        if (id as usize) < self.ends.len() {
            text_of(&self.buffer, &self.ends, id)
        } else {
            ""
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Approximate heap bytes held, for memory reports.
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.numeric.heap_bytes()
    }

    /// Releases spare capacity once reading is done.
    pub fn shrink_to_fit(&mut self) {
        self.buffer.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn interner_assigns_dense_ids() {
        let mut interner = Interner::new();
        assert_eq!(interner.intern("a"), 0);
        assert_eq!(interner.intern("b"), 1);
        assert_eq!(interner.intern("a"), 0);
        assert_eq!(interner.intern(""), 2);
        assert_eq!(interner.len(), 3);
        assert_eq!(interner.name(1), "b");
        assert_eq!(interner.get("b"), Some(1));
        assert_eq!(interner.get("c"), None);
        assert_eq!(interner.name(NONE), "");
    }

    #[test]
    fn long_names_are_cut_for_display() {
        assert_eq!(display_name("short"), "short");
        let long = "长".repeat(100);
        let displayed = display_name(&long);
        assert_eq!(displayed.chars().count(), MAX_DISPLAY_CHARS + 1);
        assert!(displayed.ends_with('…'));
    }

    #[test]
    fn numeric_ids_keep_their_text() {
        let mut interner = Interner::new();
        let plain = interner.intern("12345");
        let padded = interner.intern("012345");
        assert_ne!(plain, padded);
        assert_eq!(interner.name(plain), "12345");
        assert_eq!(interner.name(padded), "012345");
        assert_eq!(interner.intern("12345"), plain);
        assert_eq!(interner.get("012345"), Some(padded));
        assert_eq!(interner.get("0"), None);
        let zero = interner.intern("0");
        assert_eq!(interner.get("0"), Some(zero));
        let long = "98765432109876543210";
        let id = interner.intern(long);
        assert_eq!(interner.name(id), long);
    }

    #[test]
    fn number_batches_match_text_interning() {
        let texts = ["7", "u1", "0", "9999999999999999999", "7", "1000", "0"];
        let mut by_text = Interner::new();
        let expected: Vec<u32> = texts.iter().map(|text| by_text.intern(text)).collect();
        assert_eq!(expected, [0, 1, 2, 3, 0, 4, 2]);

        // Interleave batches with text interning, as the event builder does
        // when a column mixes decimal ids and other ids.
        let mut batched = Interner::new();
        let mut ids = Vec::new();
        batched.intern_numbers(&[7], |_, id| ids.push(id));
        ids.push(batched.intern("u1"));
        let numbers = [0, 9_999_999_999_999_999_999, 7, 1000, 0];
        batched.intern_numbers(&numbers, |position, id| {
            assert_eq!(position, ids.len() - 2);
            ids.push(id);
        });
        assert_eq!(ids, expected);
        for (id, text) in [(0, "7"), (2, "0"), (3, "9999999999999999999"), (4, "1000")] {
            assert_eq!(batched.name(id), text);
            assert_eq!(batched.get(text), Some(id));
        }
        assert_eq!(batched.len(), 5);
    }
}
