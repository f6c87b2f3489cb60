//! Items viewed together and bought together.
//!
//! A basket is the set of distinct items of one relation in one group of
//! events. For "viewed" a basket is the items viewed in one session. For
//! "bought" it is the items purchased in one order, and a purchase without
//! an order id joins the basket of its session. Each pair of distinct items
//! counts once per basket, however often either item appears in it.

use crate::events::{display_name, Event, EventKind, EventLog, NONE};
use crate::timeline::Timelines;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Maximum distinct items of a basket that form pairs. A larger basket
/// contributes only its first items in time order, and it is counted in
/// [`Together::sessions_truncated`]. This bounds the pairs per basket to
/// 200 * 199 / 2.
pub const MAX_BASKET_ITEMS: usize = 200;

/// Settings for [`together`].
#[derive(Clone, Debug)]
pub struct TogetherOptions {
    /// Companions listed per item. With 0 no items are listed at all.
    pub per_item: usize,
    /// Items listed, those in the most baskets first. With 0 none are
    /// listed.
    pub max_items: usize,
}

impl Default for TogetherOptions {
    fn default() -> Self {
        TogetherOptions {
            per_item: 10,
            max_items: 500,
        }
    }
}

/// An item that shares baskets with the listed item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Companion {
    pub item: String,
    /// Baskets that contain both items.
    pub count: usize,
    /// Cosine similarity of the two items' basket sets:
    /// `count / sqrt(baskets of this item * baskets of the listed item)`,
    /// in (0, 1].
    pub score: f64,
}

/// One item and its companions, highest count first, then highest score,
/// then item id.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemCompanions {
    pub item: String,
    pub with: Vec<Companion>,
}

/// Viewed-together and bought-together lists.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Together {
    /// Items with at least one companion, those in the most sessions first
    /// (ties by item id).
    pub viewed: Vec<ItemCompanions>,
    /// Items with at least one companion, those in the most orders first
    /// (ties by item id).
    pub bought: Vec<ItemCompanions>,
    /// Sessions and orders with more than [`MAX_BASKET_ITEMS`] distinct
    /// items, in either list.
    pub sessions_truncated: usize,
}

/// Counts item pairs in sessions and orders and lists each item's most
/// frequent companions.
pub fn together(log: &EventLog, timelines: &Timelines, options: &TogetherOptions) -> Together {
    let sessions = timelines.sessions as u64;
    let viewed = count_pairs(
        log,
        group_events(log, timelines, |event, session| {
            (event.kind == EventKind::View).then_some(u64::from(session))
        }),
    );
    let bought = count_pairs(
        log,
        group_events(log, timelines, |event, session| {
            if event.kind != EventKind::Purchase {
                None
            } else if event.order != NONE {
                Some(sessions + u64::from(event.order))
            } else {
                Some(u64::from(session))
            }
        }),
    );
    Together {
        viewed: list_companions(log, &viewed, options),
        bought: list_companions(log, &bought, options),
        sessions_truncated: viewed.truncated + bought.truncated,
    }
}

/// Returns `(basket key, item)` for every event with an item that `basket`
/// assigns to a basket, grouped by key and in time order within a key.
/// `basket` gets the event and its session number.
fn group_events(
    log: &EventLog,
    timelines: &Timelines,
    basket: impl Fn(&Event, u32) -> Option<u64>,
) -> Vec<(u64, u32)> {
    let mut keyed = Vec::new();
    for user in 0..timelines.users() {
        let start = timelines.starts[user];
        for (offset, &index) in timelines.of_user(user).iter().enumerate() {
            let event = &log.events[index as usize];
            if event.item == NONE {
                continue;
            }
            if let Some(key) = basket(event, timelines.session_of[start + offset]) {
                keyed.push((key, event.item));
            }
        }
    }
    // A stable sort keeps time order within each user's basket.
    keyed.sort_by_key(|&(key, _)| key);
    keyed
}

/// Pair counts of one relation.
struct PairCounts {
    /// `(smaller item << 32) | larger item` to baskets with both.
    pairs: FxHashMap<u64, u32>,
    /// Baskets that contain each item, indexed by item id.
    baskets: Vec<u32>,
    truncated: usize,
}

fn count_pairs(log: &EventLog, keyed: Vec<(u64, u32)>) -> PairCounts {
    let mut counts = PairCounts {
        pairs: FxHashMap::default(),
        baskets: vec![0; log.items.len()],
        truncated: 0,
    };
    // `last_basket[item]` is the number of the last basket the item was
    // seen in, which removes repeats within a basket in O(1).
    let mut last_basket = vec![u32::MAX; log.items.len()];
    let mut items: Vec<u32> = Vec::with_capacity(MAX_BASKET_ITEMS);
    for (number, group) in keyed.chunk_by(|a, b| a.0 == b.0).enumerate() {
        let number = number as u32;
        items.clear();
        for &(_, item) in group {
            if last_basket[item as usize] == number {
                continue;
            }
            last_basket[item as usize] = number;
            if items.len() == MAX_BASKET_ITEMS {
                counts.truncated += 1;
                break;
            }
            items.push(item);
        }
        for (position, &first) in items.iter().enumerate() {
            counts.baskets[first as usize] += 1;
            for &second in &items[position + 1..] {
                let (low, high) = (first.min(second), first.max(second));
                *counts
                    .pairs
                    .entry((u64::from(low) << 32) | u64::from(high))
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// Lists the companions of the items in the most baskets.
fn list_companions(
    log: &EventLog,
    counts: &PairCounts,
    options: &TogetherOptions,
) -> Vec<ItemCompanions> {
    if options.per_item == 0 {
        return Vec::new();
    }
    let mut has_companion = vec![false; log.items.len()];
    for &pair in counts.pairs.keys() {
        has_companion[(pair >> 32) as usize] = true;
        has_companion[(pair & 0xFFFF_FFFF) as usize] = true;
    }
    let mut listed: Vec<u32> = (0..log.items.len() as u32)
        .filter(|&item| has_companion[item as usize])
        .collect();
    listed.sort_unstable_by(|&a, &b| {
        counts.baskets[b as usize]
            .cmp(&counts.baskets[a as usize])
            .then_with(|| log.items.name(a).cmp(log.items.name(b)))
            .then(a.cmp(&b))
    });
    listed.truncate(options.max_items);

    let mut slot = vec![usize::MAX; log.items.len()];
    for (position, &item) in listed.iter().enumerate() {
        slot[item as usize] = position;
    }
    let mut partners: Vec<Vec<(u32, u32)>> = vec![Vec::new(); listed.len()];
    for (&pair, &count) in &counts.pairs {
        let (low, high) = ((pair >> 32) as u32, (pair & 0xFFFF_FFFF) as u32);
        if let Some(list) = partners.get_mut(slot[low as usize]) {
            list.push((high, count));
        }
        if let Some(list) = partners.get_mut(slot[high as usize]) {
            list.push((low, count));
        }
    }

    let cosine = |a: u32, b: u32, count: u32| {
        let baskets = |item: u32| f64::from(counts.baskets[item as usize]);
        f64::from(count) / (baskets(a) * baskets(b)).sqrt()
    };
    listed
        .iter()
        .zip(partners)
        .map(|(&item, list)| {
            let mut scored: Vec<(u32, u32, f64)> = list
                .into_iter()
                .map(|(other, count)| (other, count, cosine(item, other, count)))
                .collect();
            scored.sort_unstable_by(|a, b| {
                b.1.cmp(&a.1)
                    .then(b.2.total_cmp(&a.2))
                    .then_with(|| log.items.name(a.0).cmp(log.items.name(b.0)))
                    .then(a.0.cmp(&b.0))
            });
            ItemCompanions {
                item: display_name(log.items.name(item)),
                with: scored
                    .into_iter()
                    .take(options.per_item)
                    .map(|(other, count, score)| Companion {
                        item: display_name(log.items.name(other)),
                        count: count as usize,
                        score,
                    })
                    .collect(),
            }
        })
        .collect()
}
