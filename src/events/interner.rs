//! String interning for ids, so that each event stores small integers.

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use rustc_hash::FxBuildHasher;
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
    numeric: HashMap<u64, u32, FxBuildHasher>,
    hasher: DefaultHashBuilder,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            buffer: String::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            numeric: HashMap::default(),
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
fn canonical_number(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    super::time::parse_u64(bytes)
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
            if let Some(&id) = self.numeric.get(&number) {
                return id;
            }
            let id = self.push_name(name);
            self.numeric.insert(number, id);
            return id;
        }
        let hash = self.hasher.hash_one(name);
        let (buffer, ends) = (&self.buffer, &self.ends);
        if let Some(&id) = self
            .table
            .find(hash, |&id| text_of(buffer, ends, id) == name)
        {
            return id;
        }
        let id = self.push_name(name);
        let (buffer, ends, hasher) = (&self.buffer, &self.ends, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(text_of(buffer, ends, id)));
        id
    }

    /// Appends a new string and returns its id, or the last id once four
    /// billion strings exist.
    fn push_name(&mut self, name: &str) -> u32 {
        match u32::try_from(self.ends.len()) {
            Ok(id) if id < NONE - 1 => {
                self.buffer.push_str(name);
                self.ends.push(self.buffer.len());
                id
            }
            _ => NONE - 1,
        }
    }

    /// Returns the id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        if let Some(number) = canonical_number(name) {
            return self.numeric.get(&number).copied();
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
            + self.numeric.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
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
}
