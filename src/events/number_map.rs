//! Hash map from decimal id values to interned ids, laid out so that one
//! lookup usually reads one cache line.
//!
//! Logs with millions of distinct user ids make the id table far larger
//! than the CPU cache, so each lookup costs a memory read. A general hash
//! map keeps its control bytes and its entries in separate arrays, which
//! costs two reads. Here each 64-byte bucket stores five keys and their
//! ids side by side, and a full bucket spills into the next one (linear
//! probing by bucket).

use super::interner::NONE;

/// Keys per bucket: five 8-byte keys and five 4-byte ids fill 60 of the 64
/// bytes.
const SLOTS: usize = 5;

/// Multiplier for Fibonacci hashing (2^64 divided by the golden ratio).
/// The top bits of `key * FIBONACCI` pick the bucket.
///
/// NOTE: the hash has no random seed, so a log crafted to put many ids in
/// one bucket makes lookups scan long runs of buckets. The reading stays
/// correct, only slower.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// Buckets in a table's first allocation.
const MIN_BUCKETS: usize = 16;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    keys: [u64; SLOTS],
    /// [`NONE`] marks an empty slot. Slots fill from the front and are
    /// never removed, so the first empty slot ends a search.
    ids: [u32; SLOTS],
}

const EMPTY_BUCKET: Bucket = Bucket {
    keys: [0; SLOTS],
    ids: [NONE; SLOTS],
};

/// Outcome of a lookup: the id found, or the bucket and slot where the
/// key would go.
enum Probe {
    Found(u32),
    Vacant(usize, usize),
}

/// Map from `u64` keys to `u32` ids that never removes entries.
#[derive(Clone, Default)]
pub(super) struct NumberMap {
    /// A power-of-two number of buckets, or none before the first insert.
    buckets: Vec<Bucket>,
    len: usize,
    /// `64 - log2(buckets.len())`: the shift that turns a hash into a
    /// bucket index.
    shift: u32,
}

impl NumberMap {
    /// Returns the id stored for `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        match self.probe(key) {
            Probe::Found(id) => Some(id),
            Probe::Vacant(..) => None,
        }
    }

    /// Returns the id stored for `key`, or stores the id that `new_id`
    /// returns and returns that.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: u64, new_id: impl FnOnce() -> u32) -> u32 {
        self.reserve(1);
        match self.probe(key) {
            Probe::Found(id) => id,
            Probe::Vacant(bucket, slot) => {
                let id = new_id();
                let bucket = &mut self.buckets[bucket];
                bucket.keys[slot] = key;
                bucket.ids[slot] = id;
                self.len += 1;
                id
            }
        }
    }

    /// Grows the table now, if needed, so that `additional` more keys fit
    /// without moving any bucket. Tables stay at most 7/8 full, which keeps
    /// spills into the next bucket rare and guarantees that every probe
    /// meets an empty slot.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        while (self.len + additional) * 8 > self.buckets.len() * SLOTS * 7 {
            self.grow();
        }
    }

    /// Asks the CPU to start loading the bucket where a search for `key`
    /// begins, without waiting for it. Only x86-64 has a stable prefetch
    /// instruction in Rust, so elsewhere this does nothing.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        if !self.buckets.is_empty() {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let bucket = &self.buckets[self.home_bucket(key)];
            // SAFETY: a prefetch never faults and has no visible effect,
            // and the pointer comes from a live reference.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((bucket as *const Bucket).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// Reads the bucket where a search for `key` begins and returns a value
    /// from it. Reading the buckets of a whole batch first lets the CPU
    /// wait for all of them at once. The caller passes the result to
    /// [`std::hint::black_box`] so that the reads are not optimized away.
    #[inline]
    pub fn touch(&self, key: u64) -> u32 {
        if self.buckets.is_empty() {
            return 0;
        }
        self.buckets[self.home_bucket(key)].ids[0]
    }

    /// Heap bytes held by the buckets.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// Returns the first bucket to search for `key`. Only valid once
    /// buckets exist.
    #[inline]
    fn home_bucket(&self, key: u64) -> usize {
        (key.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    #[inline]
    fn probe(&self, key: u64) -> Probe {
        if self.buckets.is_empty() {
            return Probe::Vacant(0, 0);
        }
        let mask = self.buckets.len() - 1;
        let mut index = self.home_bucket(key);
        loop {
            let bucket = &self.buckets[index];
            for slot in 0..SLOTS {
                if bucket.ids[slot] == NONE {
                    return Probe::Vacant(index, slot);
                }
                if bucket.keys[slot] == key {
                    return Probe::Found(bucket.ids[slot]);
                }
            }
            index = (index + 1) & mask;
        }
    }

    /// Doubles the bucket count. The bucket index is the top bits of the
    /// hash, so the keys of old bucket `i` move to new buckets `2i` and
    /// `2i + 1`, or just after them when those are full. Rehashing thus
    /// reads and writes memory almost in order.
    #[cold]
    fn grow(&mut self) {
        let count = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY_BUCKET; count]);
        self.shift = 64 - count.trailing_zeros();
        for bucket in &old {
            for slot in 0..SLOTS {
                let id = bucket.ids[slot];
                if id == NONE {
                    break;
                }
                let key = bucket.keys[slot];
                if let Probe::Vacant(index, free) = self.probe(key) {
                    self.buckets[index].keys[free] = key;
                    self.buckets[index].ids[free] = id;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn number_map_stores_and_finds() {
        let mut map = NumberMap::default();
        assert_eq!(map.get(7), None);
        assert_eq!(map.get_or_insert_with(7, || 0), 0);
        assert_eq!(map.get_or_insert_with(0, || 1), 1);
        assert_eq!(map.get_or_insert_with(7, || 99), 0);
        assert_eq!(map.get(0), Some(1));
        assert_eq!(map.get(u64::MAX), None);
        assert_eq!(map.len, 2);
    }

    #[test]
    fn number_map_survives_growth() {
        let mut map = NumberMap::default();
        // Keys that share their low bits, and keys that share their high
        // bits, both have to spread over the buckets.
        let keys: Vec<u64> = (0..20_000u64)
            .map(|n| {
                if n % 2 == 0 {
                    n << 40
                } else {
                    n * 10_000_000 + 3
                }
            })
            .collect();
        for (id, &key) in keys.iter().enumerate() {
            assert_eq!(map.get_or_insert_with(key, || id as u32), id as u32);
        }
        assert_eq!(map.len, keys.len());
        for (id, &key) in keys.iter().enumerate() {
            assert_eq!(map.get(key), Some(id as u32), "key {key}");
        }
        assert_eq!(map.get(1), None);
        // 4,096 buckets of five slots take at most 17,920 keys at 7/8 full,
        // so 20,000 keys need 8,192.
        assert_eq!(map.buckets.len(), 8192);
        assert_eq!(map.heap_bytes(), 8192 * 64);
    }

    #[test]
    fn full_bucket_spills_into_next() {
        let mut map = NumberMap::default();
        map.get_or_insert_with(1, || 0);
        // Find keys that land in the last bucket, so the spill wraps to
        // bucket 0.
        let last = map.buckets.len() - 1;
        let crowded: Vec<u64> = (0..u64::MAX)
            .filter(|&key| map.home_bucket(key) == last)
            .take(SLOTS + 2)
            .collect();
        for (offset, &key) in crowded.iter().enumerate() {
            map.get_or_insert_with(key, || 10 + offset as u32);
        }
        for (offset, &key) in crowded.iter().enumerate() {
            assert_eq!(map.get(key), Some(10 + offset as u32));
        }
        assert!(map.buckets[0].ids.iter().filter(|&&id| id != NONE).count() >= 2);
    }
}
