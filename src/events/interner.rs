//! String interning for ids, so that each event stores small integers.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Marks an absent id (no item, no category, ...).
pub const NONE: u32 = u32::MAX;

/// Maps distinct strings to dense `u32` ids. Each string is stored once.
#[derive(Default, Clone)]
pub struct Interner {
    names: Vec<Box<str>>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("len", &self.names.len())
            .finish()
    }
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the id of `name`, adding it on first sight.
    pub fn intern(&mut self, name: &str) -> u32 {
        let hash = self.hasher.hash_one(name);
        let names = &self.names;
        if let Some(&id) = self.table.find(hash, |&id| &*names[id as usize] == name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(NONE - 1);
        self.names.push(name.into());
        let names = &self.names;
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(&*names[id as usize]));
        id
    }

    /// Returns the id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&id| &*self.names[id as usize] == name)
            .copied()
    }

    /// Returns the string for `id`; empty for [`NONE`] or an unknown id.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |name| name)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Approximate heap bytes held, for memory reports.
    pub fn heap_bytes(&self) -> usize {
        let strings: usize = self.names.iter().map(|name| name.len()).sum();
        strings
            + self.names.capacity() * std::mem::size_of::<Box<str>>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_assigns_dense_ids() {
        let mut interner = Interner::new();
        assert_eq!(interner.intern("a"), 0);
        assert_eq!(interner.intern("b"), 1);
        assert_eq!(interner.intern("a"), 0);
        assert_eq!(interner.len(), 2);
        assert_eq!(interner.name(1), "b");
        assert_eq!(interner.get("b"), Some(1));
        assert_eq!(interner.get("c"), None);
        assert_eq!(interner.name(NONE), "");
    }
}
