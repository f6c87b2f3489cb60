//! Segment profiles: activity totals, top categories and items, a typical
//! behavior sentence, and a short rule-based name.

use crate::events::{display_name, EventKind, EventLog, Interner, NONE};
use crate::timeline::sentence::{self, Lang, SentenceOptions};
use crate::timeline::Timelines;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Categories and items listed per segment.
const TOP_LISTED: usize = 5;
/// Events in a segment's typical behavior sentence (the most recent ones).
const SENTENCE_EVENTS: usize = 16;

/// Name rule thresholds. A segment is a buying segment when at least
/// `BUYER_CONVERSION` of its users bought, or when at least
/// `RELATIVE_BUYER_FLOOR` bought and that is `RELATIVE_BUYER_FACTOR` times
/// the conversion of all segmented users.
const BUYER_CONVERSION: f64 = 0.5;
const RELATIVE_BUYER_FLOOR: f64 = 0.1;
const RELATIVE_BUYER_FACTOR: f64 = 3.0;
/// Share of a buying segment's buyers with two or more orders that makes
/// it a repeat-buyer segment.
const REPEAT_BUYERS: f64 = 0.5;
/// Share of users who added to the cart but did not buy.
const CART_ABANDONERS: f64 = 0.3;
/// Share of users who added an item to their favorites.
const FAVORITERS: f64 = 0.3;
/// Events per user, relative to all segmented users, from which a segment
/// browses heavily.
const HEAVY_FACTOR: f64 = 2.0;
/// A segment browses lightly with at most `LIGHT_EVENTS` events per user,
/// or at most `LIGHT_FACTOR` times the events per user of all segmented
/// users.
const LIGHT_EVENTS: f64 = 1.5;
const LIGHT_FACTOR: f64 = 0.5;

/// A name or id with its event count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedCount {
    pub name: String,
    pub count: usize,
}

/// Activity summary of one segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SegmentProfile {
    pub id: usize,
    /// Short name from the rules below, in the report language, unique
    /// within the report.
    pub name: String,
    /// Users in the segment.
    pub size: usize,
    /// `size` over all users with embeddings.
    pub share: f64,
    /// Share of the users with at least one purchase.
    pub conversion: f64,
    /// Mean total purchase amount of the buying users whose purchases have
    /// prices. Refunds are not subtracted. Null when no purchase of the
    /// segment has a price.
    pub order_value: Option<f64>,
    pub events_per_user: f64,
    /// Categories with the most events of the segment's users, most first.
    pub top_categories: Vec<NamedCount>,
    /// Items with the most events of the segment's users, most first.
    pub top_items: Vec<NamedCount>,
    /// Behavior sentence of the user nearest the segment's centroid, with
    /// at most its last 16 events.
    pub typical_sentence: String,
}

/// Totals of one user's timeline.
#[derive(Clone, Copy, Debug, Default)]
struct Activity {
    events: usize,
    purchased: bool,
    carted: bool,
    favorited: bool,
    orders: usize,
    /// Total purchase amount, when a purchase has a price.
    spent: Option<f64>,
}

/// Sums of the activity of one segment's users.
#[derive(Clone, Debug, Default)]
struct Totals {
    size: usize,
    events: usize,
    buyers: usize,
    repeat_buyers: usize,
    cart_abandoners: usize,
    favoriters: usize,
    priced_buyers: usize,
    spent: f64,
    categories: FxHashMap<u32, usize>,
    items: FxHashMap<u32, usize>,
}

impl Totals {
    fn add(&mut self, activity: &Activity) {
        self.size += 1;
        self.events += activity.events;
        self.buyers += usize::from(activity.purchased);
        self.repeat_buyers += usize::from(activity.orders >= 2);
        self.cart_abandoners += usize::from(activity.carted && !activity.purchased);
        self.favoriters += usize::from(activity.favorited);
        if let Some(spent) = activity.spent {
            self.priced_buyers += 1;
            self.spent += spent;
        }
    }

    fn share(&self, count: usize) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            count as f64 / self.size as f64
        }
    }

    fn conversion(&self) -> f64 {
        self.share(self.buyers)
    }

    fn events_per_user(&self) -> f64 {
        self.share(self.events)
    }
}

/// Builds the profile of each segment. `users[row]` is the user of
/// embedding row `row`, `segment_of[row]` its segment, and `typical[s]` the
/// row whose sentence describes segment `s`.
pub(super) fn describe(
    log: &EventLog,
    timelines: &Timelines,
    users: &[u32],
    segment_of: &[usize],
    typical: &[usize],
    lang: Lang,
) -> Vec<SegmentProfile> {
    let purchases_have_orders = log
        .events
        .iter()
        .filter(|event| event.kind == EventKind::Purchase)
        .all(|event| event.order != NONE);
    let mut totals = vec![Totals::default(); typical.len()];
    let mut all = Totals::default();
    for (&user, &segment) in users.iter().zip(segment_of) {
        let user = user as usize;
        let activity = user_activity(log, timelines, user, purchases_have_orders);
        all.add(&activity);
        let segment_totals = &mut totals[segment];
        segment_totals.add(&activity);
        for &index in timelines.of_user(user) {
            let event = &log.events[index as usize];
            if event.category != NONE {
                *segment_totals.categories.entry(event.category).or_default() += 1;
            }
            if event.item != NONE {
                *segment_totals.items.entry(event.item).or_default() += 1;
            }
        }
    }

    let sentence_options = SentenceOptions {
        lang,
        max_events: SENTENCE_EVENTS,
        ..SentenceOptions::default()
    };
    let mut profiles: Vec<SegmentProfile> = totals
        .iter()
        .enumerate()
        .map(|(id, segment)| SegmentProfile {
            id,
            name: String::new(),
            size: segment.size,
            share: all.share(segment.size),
            conversion: segment.conversion(),
            order_value: (segment.priced_buyers > 0)
                .then(|| segment.spent / segment.priced_buyers as f64),
            events_per_user: segment.events_per_user(),
            top_categories: top_counts(&segment.categories, &log.categories),
            top_items: top_counts(&segment.items, &log.items),
            typical_sentence: sentence::render_user(
                log,
                timelines,
                users[typical[id]] as usize,
                &sentence_options,
            ),
        })
        .collect();
    let rules: Vec<NameRule> = totals
        .iter()
        .map(|segment| NameRule::matching(segment, &all))
        .collect();
    for (profile, name) in profiles
        .iter_mut()
        .zip(unique_names(&rules, &totals, log, lang))
    {
        profile.name = name;
    }
    profiles
}

/// Sums one user's events, purchases, orders and spending. Orders are
/// distinct order ids when every purchase in the log has one, otherwise
/// distinct sessions with a purchase.
fn user_activity(
    log: &EventLog,
    timelines: &Timelines,
    user: usize,
    purchases_have_orders: bool,
) -> Activity {
    let start = timelines.starts[user];
    let mut activity = Activity::default();
    let mut orders: Vec<u32> = Vec::new();
    for (offset, &index) in timelines.of_user(user).iter().enumerate() {
        let event = &log.events[index as usize];
        activity.events += 1;
        match event.kind {
            EventKind::Purchase => {
                activity.purchased = true;
                orders.push(if purchases_have_orders {
                    event.order
                } else {
                    timelines.session_of[start + offset]
                });
                let amount = f64::from(event.amount());
                if amount.is_finite() {
                    *activity.spent.get_or_insert(0.0) += amount;
                }
            }
            EventKind::Cart => activity.carted = true,
            EventKind::Favorite => activity.favorited = true,
            _ => {}
        }
    }
    orders.sort_unstable();
    orders.dedup();
    activity.orders = orders.len();
    activity
}

/// Returns the [`TOP_LISTED`] ids with the highest counts, ties broken by
/// name and then id.
fn top_counts(counts: &FxHashMap<u32, usize>, names: &Interner) -> Vec<NamedCount> {
    let mut ranked: Vec<(u32, usize)> = counts.iter().map(|(&id, &count)| (id, count)).collect();
    ranked.sort_unstable_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| names.name(a.0).cmp(names.name(b.0)))
            .then(a.0.cmp(&b.0))
    });
    ranked
        .into_iter()
        .take(TOP_LISTED)
        .map(|(id, count)| NamedCount {
            name: display_name(names.name(id)),
            count,
        })
        .collect()
}

/// The rule that names a segment. The first rule that matches wins, in
/// the order of the variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameRule {
    /// A buying segment where at least half of the buyers have two or more
    /// orders.
    LoyalRepeatBuyers,
    /// A buying segment (see [`BUYER_CONVERSION`]).
    Buyers,
    /// At least 30% of users added to the cart without buying.
    CartAbandoners,
    /// At least 30% of users added a favorite.
    Favoriters,
    /// Twice the events per user of all segmented users, or more.
    HeavyBrowsers,
    /// At most 1.5 events per user, or at most half the events per user of
    /// all segmented users.
    LightBrowsers,
    Browsers,
}

impl NameRule {
    fn matching(segment: &Totals, all: &Totals) -> NameRule {
        let conversion = segment.conversion();
        let buying = conversion >= BUYER_CONVERSION
            || (conversion >= RELATIVE_BUYER_FLOOR
                && conversion >= RELATIVE_BUYER_FACTOR * all.conversion());
        let events = segment.events_per_user();
        if buying {
            let repeat = segment.repeat_buyers as f64 / segment.buyers.max(1) as f64;
            if repeat >= REPEAT_BUYERS {
                NameRule::LoyalRepeatBuyers
            } else {
                NameRule::Buyers
            }
        } else if segment.share(segment.cart_abandoners) >= CART_ABANDONERS {
            NameRule::CartAbandoners
        } else if segment.share(segment.favoriters) >= FAVORITERS {
            NameRule::Favoriters
        } else if events >= HEAVY_FACTOR * all.events_per_user() {
            NameRule::HeavyBrowsers
        } else if events <= LIGHT_EVENTS.max(LIGHT_FACTOR * all.events_per_user()) {
            NameRule::LightBrowsers
        } else {
            NameRule::Browsers
        }
    }

    fn name(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (NameRule::LoyalRepeatBuyers, Lang::En) => "Loyal repeat buyers",
            (NameRule::LoyalRepeatBuyers, Lang::Zh) => "忠实复购",
            (NameRule::Buyers, Lang::En) => "Buyers",
            (NameRule::Buyers, Lang::Zh) => "购买者",
            (NameRule::CartAbandoners, Lang::En) => "Cart abandoners",
            (NameRule::CartAbandoners, Lang::Zh) => "加购未买",
            (NameRule::Favoriters, Lang::En) => "Favoriters",
            (NameRule::Favoriters, Lang::Zh) => "收藏者",
            (NameRule::HeavyBrowsers, Lang::En) => "Heavy browsers",
            (NameRule::HeavyBrowsers, Lang::Zh) => "深度浏览",
            (NameRule::LightBrowsers, Lang::En) => "Light browsers",
            (NameRule::LightBrowsers, Lang::Zh) => "浅度浏览",
            (NameRule::Browsers, Lang::En) => "Browsers",
            (NameRule::Browsers, Lang::Zh) => "浏览者",
        }
    }
}

/// Names each segment after its rule, adding qualifiers in brackets until
/// names differ. Segments whose names are equal get, in turn, their top
/// category (their top item when they have no category), their events per
/// user to one decimal, and their segment id.
fn unique_names(rules: &[NameRule], totals: &[Totals], log: &EventLog, lang: Lang) -> Vec<String> {
    let render = |id: usize, qualifiers: &[String]| {
        let base = rules[id].name(lang);
        match (qualifiers.is_empty(), lang) {
            (true, _) => base.to_string(),
            (false, Lang::En) => format!("{base} ({})", qualifiers.join(", ")),
            (false, Lang::Zh) => format!("{base}（{}）", qualifiers.join("，")),
        }
    };
    let qualifier = |step: usize, id: usize| -> Option<String> {
        let segment = &totals[id];
        match step {
            0 => top_counts(&segment.categories, &log.categories)
                .into_iter()
                .next()
                .map(|category| category.name)
                .or_else(|| {
                    let item = top_counts(&segment.items, &log.items).into_iter().next()?;
                    Some(match lang {
                        Lang::En => format!("item {}", item.name),
                        Lang::Zh => format!("商品{}", item.name),
                    })
                }),
            1 => Some(match lang {
                Lang::En => format!("{:.1} events per user", segment.events_per_user()),
                Lang::Zh => format!("人均{:.1}次行为", segment.events_per_user()),
            }),
            _ => Some(match lang {
                Lang::En => format!("segment {id}"),
                Lang::Zh => format!("分群{id}"),
            }),
        }
    };
    let mut qualifiers: Vec<Vec<String>> = vec![Vec::new(); rules.len()];
    for step in 0..3 {
        let names: Vec<String> = (0..rules.len())
            .map(|id| render(id, &qualifiers[id]))
            .collect();
        for id in 0..rules.len() {
            let repeated = names.iter().filter(|&name| *name == names[id]).count() > 1;
            if let Some(text) = repeated.then(|| qualifier(step, id)).flatten() {
                qualifiers[id].push(text);
            }
        }
    }
    (0..rules.len())
        .map(|id| render(id, &qualifiers[id]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn totals(size: usize, buyers: usize, repeat: usize, carts: usize, events: usize) -> Totals {
        Totals {
            size,
            events,
            buyers,
            repeat_buyers: repeat,
            cart_abandoners: carts,
            ..Totals::default()
        }
    }

    #[test]
    fn name_rules_follow_thresholds() {
        // All users: 100 users, 5 buyers, 300 events (3 per user).
        let all = totals(100, 5, 0, 0, 300);
        let rule = |segment: Totals| NameRule::matching(&segment, &all);
        assert_eq!(rule(totals(10, 6, 3, 0, 30)), NameRule::LoyalRepeatBuyers);
        assert_eq!(rule(totals(10, 6, 2, 0, 30)), NameRule::Buyers);
        // 20% conversion is four times the overall 5%: a buying segment.
        assert_eq!(rule(totals(10, 2, 0, 0, 30)), NameRule::Buyers);
        assert_eq!(rule(totals(10, 0, 0, 3, 30)), NameRule::CartAbandoners);
        assert_eq!(rule(totals(10, 0, 0, 2, 60)), NameRule::HeavyBrowsers);
        assert_eq!(rule(totals(10, 0, 0, 0, 15)), NameRule::LightBrowsers);
        assert_eq!(rule(totals(10, 0, 0, 0, 30)), NameRule::Browsers);
        // 1.4 events per user is light even when all users make only 2.
        let all = totals(100, 5, 0, 0, 200);
        assert_eq!(
            NameRule::matching(&totals(10, 0, 0, 0, 14), &all),
            NameRule::LightBrowsers
        );
        assert_eq!(NameRule::CartAbandoners.name(Lang::Zh), "加购未买");
    }
}
