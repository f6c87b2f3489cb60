//! RFM: recency, frequency and monetary value of each buying customer, as
//! quintile scores and the usual named segments.
//!
//! Frequency counts orders: distinct order ids when every purchase has one,
//! otherwise distinct sessions with a purchase. Monetary value is purchase
//! revenue minus refunds. Segments come from the recency and frequency
//! scores alone, so they exist even when the log has no prices.

use crate::events::{display_name, EventKind, EventLog, TimeBasis, NONE};
use crate::timeline::Timelines;
use serde::Serialize;

const DAY_MS: f64 = 86_400_000.0;
/// Customers listed in the report, the most valuable first; the segment
/// totals and the grid count all of them.
pub const MAX_LISTED: usize = 5_000;

/// Named RFM segments, from the recency (R) and frequency (F) scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// R 4-5, F 4-5.
    Champions,
    /// R 3, F 4-5.
    Loyal,
    /// R 4-5, F 2-3.
    PotentialLoyalist,
    /// R 5, F 1.
    NewCustomers,
    /// R 4, F 1.
    Promising,
    /// R 3, F 2-3.
    NeedAttention,
    /// R 3, F 1.
    AboutToSleep,
    /// R 1-2, F 3-4.
    AtRisk,
    /// R 1-2, F 5.
    CantLoseThem,
    /// R 2, F 1-2.
    Hibernating,
    /// R 1, F 1-2.
    Lost,
}

impl Segment {
    const ALL: [Segment; 11] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::PotentialLoyalist,
        Segment::NewCustomers,
        Segment::Promising,
        Segment::NeedAttention,
        Segment::AboutToSleep,
        Segment::AtRisk,
        Segment::CantLoseThem,
        Segment::Hibernating,
        Segment::Lost,
    ];

    /// Maps recency and frequency scores (1 to 5) to a segment.
    pub fn from_scores(recency: u8, frequency: u8) -> Segment {
        match (recency, frequency) {
            (4..=5, 4..=5) => Segment::Champions,
            (3, 4..=5) => Segment::Loyal,
            (4..=5, 2..=3) => Segment::PotentialLoyalist,
            (5, _) => Segment::NewCustomers,
            (4, _) => Segment::Promising,
            (3, 2..=3) => Segment::NeedAttention,
            (3, _) => Segment::AboutToSleep,
            (1..=2, 5) => Segment::CantLoseThem,
            (1..=2, 3..=4) => Segment::AtRisk,
            (2, _) => Segment::Hibernating,
            _ => Segment::Lost,
        }
    }
}

/// Totals for one segment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SegmentSummary {
    pub segment: Segment,
    pub customers: usize,
    pub share: f64,
    pub mean_recency_days: f64,
    pub mean_orders: f64,
    /// Null when the log has no prices.
    pub mean_monetary: Option<f64>,
}

/// One customer's values and scores.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CustomerRfm {
    pub user: String,
    pub recency_days: f64,
    pub orders: usize,
    pub monetary: Option<f64>,
    pub r: u8,
    pub f: u8,
    pub m: Option<u8>,
    pub segment: Segment,
}

/// RFM report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Rfm {
    /// Users with at least one purchase.
    pub customers: usize,
    pub has_monetary: bool,
    /// Reason RFM is missing or partial; null when complete.
    pub note: Option<String>,
    pub segments: Vec<SegmentSummary>,
    /// Customers per (R, F) cell: `grid[r - 1][f - 1]`.
    pub grid: Vec<Vec<usize>>,
    /// Customers' scores, highest monetary value (then orders) first, at
    /// most [`MAX_LISTED`].
    pub customers_list: Vec<CustomerRfm>,
}

struct Values {
    user: usize,
    recency_ms: i64,
    orders: usize,
    monetary: Option<f64>,
}

/// Computes RFM for every user with a purchase.
pub fn compute(log: &EventLog, timelines: &Timelines) -> Rfm {
    let empty = |note: &str| Rfm {
        customers: 0,
        has_monetary: false,
        note: Some(note.to_string()),
        segments: Vec::new(),
        grid: vec![vec![0; 5]; 5],
        customers_list: Vec::new(),
    };
    if log.time_basis == TimeBasis::SequenceOnly {
        return empty("behavior sentences carry no dates, so recency cannot be measured");
    }
    let Some(end) = log.events.iter().map(|event| event.time).max() else {
        return empty("the log has no events");
    };
    let (values, priced) = customer_values(log, timelines, end);
    if values.is_empty() {
        return empty("no user has a purchase, so there are no customers to score");
    }
    // Lower recency is better, so it is scored on its negation.
    let r = quintiles(
        &values
            .iter()
            .map(|v| -(v.recency_ms as f64))
            .collect::<Vec<_>>(),
    );
    let f = quintiles(&values.iter().map(|v| v.orders as f64).collect::<Vec<_>>());
    let m = priced.then(|| {
        quintiles(
            &values
                .iter()
                .map(|v| v.monetary.unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )
    });
    let mut grid = vec![vec![0usize; 5]; 5];
    let mut customers_list = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let segment = Segment::from_scores(r[index], f[index]);
        grid[r[index] as usize - 1][f[index] as usize - 1] += 1;
        customers_list.push(CustomerRfm {
            user: display_name(log.users.name(value.user as u32)),
            recency_days: value.recency_ms as f64 / DAY_MS,
            orders: value.orders,
            monetary: value.monetary,
            r: r[index],
            f: f[index],
            m: m.as_ref().map(|scores| scores[index]),
            segment,
        });
    }
    let segments = summarize(&customers_list, priced);
    customers_list.sort_by(|a, b| {
        let value = |c: &CustomerRfm| c.monetary.unwrap_or(0.0);
        value(b)
            .total_cmp(&value(a))
            .then(b.orders.cmp(&a.orders))
            .then(a.user.cmp(&b.user))
    });
    customers_list.truncate(MAX_LISTED);
    let mut note = None;
    if !priced {
        note = Some("the log has no prices or amounts, so monetary value is not scored".into());
    } else if log.time_basis == TimeBasis::RelativeDays {
        note = Some(
            "times count days from each user's first order, so recency compares users on \
             different clocks"
                .into(),
        );
    }
    Rfm {
        customers: values.len(),
        has_monetary: priced,
        note,
        segments,
        grid,
        customers_list,
    }
}

/// Collects recency, orders and revenue of every user with a purchase, and
/// whether any purchase or refund had a price.
fn customer_values(log: &EventLog, timelines: &Timelines, end: i64) -> (Vec<Values>, bool) {
    let purchases_have_orders = log
        .events
        .iter()
        .filter(|event| event.kind == EventKind::Purchase)
        .all(|event| event.order != NONE);
    let mut values = Vec::new();
    let mut priced = false;
    for user in 0..timelines.users() {
        let start = timelines.starts[user];
        let mut last_purchase = None;
        let mut orders: Vec<u32> = Vec::new();
        let mut revenue = 0.0f64;
        let mut user_priced = false;
        for (offset, &index) in timelines.of_user(user).iter().enumerate() {
            let event = &log.events[index as usize];
            let amount = f64::from(event.amount());
            match event.kind {
                EventKind::Purchase => {
                    last_purchase = Some(event.time);
                    let order = if purchases_have_orders {
                        event.order
                    } else {
                        timelines.session_of[start + offset]
                    };
                    orders.push(order);
                    if amount.is_finite() {
                        revenue += amount;
                        user_priced = true;
                    }
                }
                EventKind::Refund if amount.is_finite() => {
                    revenue -= amount.abs();
                    user_priced = true;
                }
                _ => {}
            }
        }
        let Some(last) = last_purchase else { continue };
        orders.sort_unstable();
        orders.dedup();
        priced |= user_priced;
        values.push(Values {
            user,
            recency_ms: end - last,
            orders: orders.len(),
            monetary: user_priced.then_some(revenue),
        });
    }
    (values, priced)
}

/// Scores values 1 to 5 by rank: the lowest fifth gets 1. Equal values get
/// the score of their first rank, so ties never split.
fn quintiles(values: &[f64]) -> Vec<u8> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![1u8; values.len()];
    let n = values.len();
    let mut rank = 0;
    while rank < n {
        let value = values[order[rank]];
        let score = (1 + rank * 5 / n).min(5) as u8;
        let mut next = rank;
        while next < n && values[order[next]] == value {
            scores[order[next]] = score;
            next += 1;
        }
        rank = next;
    }
    scores
}

fn summarize(customers: &[CustomerRfm], priced: bool) -> Vec<SegmentSummary> {
    let total = customers.len().max(1) as f64;
    Segment::ALL
        .into_iter()
        .filter_map(|segment| {
            let members: Vec<&CustomerRfm> =
                customers.iter().filter(|c| c.segment == segment).collect();
            if members.is_empty() {
                return None;
            }
            let count = members.len() as f64;
            Some(SegmentSummary {
                segment,
                customers: members.len(),
                share: count / total,
                mean_recency_days: members.iter().map(|c| c.recency_days).sum::<f64>() / count,
                mean_orders: members.iter().map(|c| c.orders as f64).sum::<f64>() / count,
                mean_monetary: priced.then(|| {
                    members
                        .iter()
                        .map(|c| c.monetary.unwrap_or(0.0))
                        .sum::<f64>()
                        / count
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn quintiles_rank_and_keep_ties() {
        assert_eq!(quintiles(&[10.0, 20.0, 30.0, 40.0, 50.0]), [1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[1.0, 1.0, 1.0, 9.0]), [1, 1, 1, 4]);
        let ten: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(quintiles(&ten), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    }

    #[test]
    fn every_score_pair_has_a_segment() {
        assert_eq!(Segment::from_scores(5, 5), Segment::Champions);
        assert_eq!(Segment::from_scores(5, 1), Segment::NewCustomers);
        assert_eq!(Segment::from_scores(1, 5), Segment::CantLoseThem);
        assert_eq!(Segment::from_scores(1, 1), Segment::Lost);
        assert_eq!(Segment::from_scores(2, 2), Segment::Hibernating);
        assert_eq!(Segment::from_scores(2, 4), Segment::AtRisk);
        assert_eq!(Segment::from_scores(3, 2), Segment::NeedAttention);
    }
}
