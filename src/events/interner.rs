//! String interning for ids, so that each event stores small integers.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Marks an absent id (no item, no category, ...).
pub const NONE: u32 = u32::MAX;

/// Maps distinct strings to dense `u32` ids. All strings live in one
/// buffer, so each distinct string costs its bytes plus 8 bytes of offset
/// and about 5 bytes of table.
#[derive(Clone)]
pub struct Interner {
    buffer: String,
    /// `buffer[ends[id - 1]..ends[id]]` is string `id` (from 0 for id 0).
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            buffer: String::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
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
        let hash = self.hasher.hash_one(name);
        let (buffer, ends) = (&self.buffer, &self.ends);
        if let Some(&id) = self
            .table
            .find(hash, |&id| text_of(buffer, ends, id) == name)
        {
            return id;
        }
        let Ok(id) = u32::try_from(self.ends.len()) else {
            return NONE - 1;
        };
        if id == NONE {
            return NONE - 1;
        }
        self.buffer.push_str(name);
        self.ends.push(self.buffer.len());
        let (buffer, ends, hasher) = (&self.buffer, &self.ends, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(text_of(buffer, ends, id)));
        id
    }

    /// Returns the id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
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
}
