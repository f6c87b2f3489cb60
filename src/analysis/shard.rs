//! Sharding of per-user model work: each pass cuts its users into the
//! same batches whatever the number of shards, and a shard runs every
//! batch whose index is congruent to its own index modulo the shard count.
//! Because a batch is always scored as a whole, every user's numbers are
//! the same in a sharded run as in a single one.

use serde::{Deserialize, Serialize};

/// One of `count` parts of the per-user work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole work in one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Checks that `index` lies below `count` and `count` is at least 1.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "invalid shard {index} of {count}; expected an index from 0 to the shard count minus 1"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Returns whether this shard runs batch `batch`.
    pub fn owns(self, batch: usize) -> bool {
        batch % self.count == self.index
    }
}

/// Per-user results of the batches that one shard ran, each list tagged
/// with its batch index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batches<T> {
    pub batches: Vec<(usize, Vec<T>)>,
}

impl<T> Default for Batches<T> {
    fn default() -> Self {
        Batches {
            batches: Vec::new(),
        }
    }
}

impl<T> Batches<T> {
    pub fn push(&mut self, batch: usize, rows: Vec<T>) {
        self.batches.push((batch, rows));
    }

    /// Joins the batches of all shards in batch order. Fails unless every
    /// batch from 0 to `expected - 1` appears exactly once.
    pub fn merge(parts: impl IntoIterator<Item = Batches<T>>, expected: usize) -> Result<Vec<T>, String> {
        let mut slots: Vec<Option<Vec<T>>> = (0..expected).map(|_| None).collect();
        for part in parts {
            for (batch, rows) in part.batches {
                let slot = slots.get_mut(batch).ok_or_else(|| {
                    format!("shard results contain batch {batch}, but the pass has only {expected} batches")
                })?;
                if slot.replace(rows).is_some() {
                    return Err(format!("shard results contain batch {batch} twice"));
                }
            }
        }
        let mut joined = Vec::new();
        for (batch, slot) in slots.into_iter().enumerate() {
            let rows = slot.ok_or_else(|| format!("shard results are missing batch {batch} of {expected}"))?;
            joined.extend(rows);
        }
        Ok(joined)
    }
}

/// Number of batches of at most `batch_size` that `users` users form.
pub fn batch_count(users: usize, batch_size: usize) -> usize {
    users.div_ceil(batch_size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn shard_rejects_index_past_count() {
        assert!(Shard::new(2, 2).is_err());
        assert!(Shard::new(0, 0).is_err());
        assert_eq!(Shard::new(1, 3), Ok(Shard { index: 1, count: 3 }));
    }

    #[test]
    fn shards_own_each_batch_once() {
        for count in 1..5 {
            for batch in 0..20 {
                let owners = (0..count).filter(|&index| Shard { index, count }.owns(batch)).count();
                assert_eq!(owners, 1, "batch {batch} with {count} shards");
            }
        }
    }

    #[test]
    fn merge_orders_batches_across_shards() {
        let first = Batches {
            batches: vec![(0, vec![1, 2]), (2, vec![5])],
        };
        let second = Batches {
            batches: vec![(1, vec![3, 4])],
        };
        assert_eq!(Batches::merge([second, first], 3), Ok(vec![1, 2, 3, 4, 5]));
    }

    #[test]
    fn merge_rejects_missing_batch() {
        let part = Batches {
            batches: vec![(0, vec![1])],
        };
        let error = Batches::merge([part], 2).unwrap_err();
        assert_eq!(error, "shard results are missing batch 1 of 2");
    }

    #[test]
    fn merge_rejects_duplicate_batch() {
        let part = || Batches {
            batches: vec![(0, vec![1])],
        };
        let error = Batches::merge([part(), part()], 1).unwrap_err();
        assert_eq!(error, "shard results contain batch 0 twice");
    }

    #[test]
    fn merge_rejects_batch_past_end() {
        let part = Batches {
            batches: vec![(3, vec![1])],
        };
        assert!(Batches::merge([part], 1).is_err());
    }
}
