//! Analyses on small logs with results worked out by hand, and on the real
//! logs for consistency.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::analysis::funnel::{self, FunnelOptions};
use behavior_lens::events::{ingest, EventKind, IngestOptions};
use behavior_lens::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};

/// Four users: u1 views, carts and buys within an hour; u2 views and carts;
/// u3 only views; u4 buys without viewing. u1's purchase happens in a
/// second session (more than 30 minutes after the cart).
const SMALL_LOG: &str = "user,item,event,time,category,brand
u1,A,view,2024-03-01 10:00:00,phones,acme
u1,A,cart,2024-03-01 10:02:00,phones,acme
u1,A,purchase,2024-03-01 10:50:00,phones,acme
u2,B,view,2024-03-01 11:00:00,shoes,zeta
u2,B,cart,2024-03-01 11:04:00,shoes,zeta
u3,A,view,2024-03-01 12:00:00,phones,acme
u4,C,purchase,2024-03-01 13:00:00,phones,acme
";

#[test]
fn funnel_small_log_by_hand() {
    let log = ingest("small.csv", SMALL_LOG.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = funnel::compute(&log, &timelines, &FunnelOptions::default());

    let users: Vec<usize> = result.by_user.steps.iter().map(|step| step.count).collect();
    assert_eq!(users, [3, 2, 1]);
    let drops: Vec<usize> = result
        .by_user
        .steps
        .iter()
        .map(|step| step.drop_off)
        .collect();
    assert_eq!(drops, [0, 1, 1]);
    assert!((result.by_user.steps[2].conversion - 1.0 / 3.0).abs() < 1e-12);
    assert!((result.by_user.steps[2].step_conversion - 0.5).abs() < 1e-12);
    // Cart follows view after 2 and 4 minutes: median 3 minutes.
    assert_eq!(
        result.by_user.steps[1].median_seconds_from_previous,
        Some(180.0)
    );
    assert_eq!(
        result.by_user.steps[2].median_seconds_from_previous,
        Some(2880.0)
    );

    // Sessions: u1 has two (the purchase is 48 minutes after the cart),
    // u2, u3 and u4 one each. Views start sessions for u1, u2 and u3.
    assert_eq!(timelines.sessions, 5);
    let sessions: Vec<usize> = result
        .by_session
        .steps
        .iter()
        .map(|step| step.count)
        .collect();
    assert_eq!(sessions, [3, 2, 0]);

    assert_eq!(result.by_category[0].name, "phones");
    let phones: Vec<usize> = result.by_category[0]
        .steps
        .iter()
        .map(|s| s.count)
        .collect();
    assert_eq!(phones, [2, 1, 1]);
    assert_eq!(result.by_brand.len(), 2);
    assert_eq!(result.by_brand[1].name, "zeta");
}

#[test]
fn funnel_window_cuts_slow_users() {
    let log = ingest("small.csv", SMALL_LOG.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let options = FunnelOptions {
        window_ms: 30 * 60_000,
        ..FunnelOptions::default()
    };
    let result = funnel::compute(&log, &timelines, &options);
    let users: Vec<usize> = result.by_user.steps.iter().map(|step| step.count).collect();
    assert_eq!(users, [3, 2, 0]);
}

#[test]
fn funnel_rees46_is_consistent() {
    let log = ingest(
        "2019-Oct.csv",
        include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv"),
        &IngestOptions::default(),
    )
    .expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = funnel::compute(&log, &timelines, &FunnelOptions::default());
    let steps = &result.by_user.steps;
    assert_eq!(steps[0].step, EventKind::View);
    // Counted independently with Python's csv module: users with a view,
    // then a cart after a view, then a purchase after that cart (the log
    // spans three hours, inside the seven-day window).
    assert_eq!(steps[0].count, 4_504);
    assert_eq!(steps[1].count, 111);
    assert_eq!(steps[2].count, 62);
    for pair in steps.windows(2) {
        assert!(pair[1].count <= pair[0].count);
        assert_eq!(pair[1].drop_off, pair[0].count - pair[1].count);
    }
    assert!(result.by_session.steps[0].count >= steps[0].count);
    assert_eq!(result.by_category.len(), 10);
}

/// u1 comes on Monday 4 March, Tuesday 5 March and Tuesday 12 March. u2
/// comes on 5 and 7 March, and u3 only on 12 March, all at 10:00 UTC.
const RETENTION_LOG: &str = "user,item,event,time
u1,A,view,2024-03-04 10:00
u1,A,view,2024-03-05 10:00
u2,B,view,2024-03-05 10:00
u2,B,purchase,2024-03-07 10:00
u1,A,purchase,2024-03-12 10:00
u3,C,view,2024-03-12 10:00
";

#[test]
fn retention_small_log_by_hand() {
    use behavior_lens::analysis::retention::{self, Period, RetentionOptions};
    let log = ingest("r.csv", RETENTION_LOG.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = retention::compute(&log, &timelines, &RetentionOptions::default());
    assert_eq!(result.span_days, 8.0);

    let daily = &result.cohorts[0];
    assert_eq!(daily.period, Period::Day);
    assert_eq!(daily.note, None);
    assert_eq!(daily.cohorts.len(), 3);
    assert_eq!(daily.cohorts[0].cohort, "2024-03-04");
    assert_eq!(daily.cohorts[0].active, [1, 1, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(daily.cohorts[1].cohort, "2024-03-05");
    assert_eq!(daily.cohorts[1].active, [1, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(daily.cohorts[2].active, [1]);

    let weekly = &result.cohorts[1];
    assert_eq!(weekly.cohorts[0].cohort, "2024-03-04");
    assert_eq!(weekly.cohorts[0].users, 2);
    assert_eq!(weekly.cohorts[0].retention, [1.0, 0.5]);
    assert_eq!(weekly.cohorts[1].cohort, "2024-03-11");

    let monthly = &result.cohorts[2];
    assert!(monthly.cohorts.is_empty());
    assert!(monthly
        .note
        .as_deref()
        .is_some_and(|note| note.contains("within one month")));

    assert_eq!(result.lifecycle_period, Some(Period::Day));
    let rows: Vec<(&str, [usize; 4])> = result
        .lifecycle
        .iter()
        .map(|row| {
            (
                row.period.as_str(),
                [row.new, row.returning, row.resurrecting, row.dormant],
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2024-03-04", [1, 0, 0, 0]),
            ("2024-03-05", [1, 1, 0, 0]),
            ("2024-03-06", [0, 0, 0, 2]),
            ("2024-03-07", [0, 0, 1, 0]),
            ("2024-03-08", [0, 0, 0, 1]),
            ("2024-03-12", [1, 0, 1, 0]),
        ]
    );

    let churn = result.churn.expect("an 8-day log has a churn window");
    assert!((churn.window_days - 8.0 / 3.0).abs() < 1e-9);
    assert_eq!(churn.churned_users, 1);
    assert!((churn.churn_rate - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(churn.at_risk.len(), 1);
    assert_eq!(churn.at_risk[0].user, "u1");
    assert_eq!(churn.at_risk[0].recency_risk, 0.0);
}

#[test]
fn retention_short_and_long_real_logs() {
    use behavior_lens::analysis::retention::{self, Period, RetentionOptions};
    let log = ingest(
        "UserBehavior.csv",
        include_bytes!("data/taobao-userbehavior-sample/UserBehavior.csv"),
        &IngestOptions::default(),
    )
    .expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let short = retention::compute(&log, &timelines, &RetentionOptions::default());
    // Two hours: no table has two columns, and churn is not measurable.
    assert!(short.cohorts.iter().all(|table| table.cohorts.is_empty()));
    assert!(short.cohorts[0]
        .note
        .as_deref()
        .is_some_and(|n| n.contains("2.2 hours")));
    assert!(short.churn.is_none());
    assert!(short.note.is_some());

    let log = ingest(
        "CDNOW_master.txt",
        include_bytes!("data/cdnow/CDNOW_master.txt"),
        &IngestOptions::default(),
    )
    .expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let long = retention::compute(&log, &timelines, &RetentionOptions::default());
    let monthly = &long.cohorts[2];
    assert_eq!(monthly.period, Period::Month);
    // CDNOW customers all made their first purchase in Q1 1997.
    assert_eq!(monthly.cohorts.len(), 3);
    assert_eq!(monthly.cohorts[0].cohort, "1997-01");
    let users: usize = monthly.cohorts.iter().map(|cohort| cohort.users).sum();
    assert_eq!(users, 23_570);
    assert_eq!(monthly.cohorts[0].retention[0], 1.0);
    assert_eq!(monthly.cohorts[0].active.len(), 18);
    let churn = long.churn.expect("18 months of data");
    assert_eq!(churn.window_days, 30.0);
}

/// u1 buys twice (orders o1 and o2, 25.00 in all), last on day 10. u2 buys
/// once for 100.00 on day 1. u3 buys for 1.00 on day 5 and gets it
/// refunded. u4 only views. The log ends on day 10.
const RFM_LOG: &str = "user,item,event,time,order,price,quantity
u2,B,purchase,2024-03-01 12:00,o3,100,1
u3,C,purchase,2024-03-05 12:00,o4,1,1
u3,C,refund,2024-03-06 12:00,o5,1,1
u1,A,purchase,2024-03-09 12:00,o2,5,1
u4,D,view,2024-03-09 13:00,,,
u1,A,purchase,2024-03-10 12:00,o1,10,2
";

#[test]
fn rfm_small_log_by_hand() {
    use behavior_lens::analysis::rfm::{self, Segment};
    let log = ingest("rfm.csv", RFM_LOG.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = rfm::compute(&log, &timelines);
    assert_eq!(result.customers, 3);
    assert!(result.has_monetary);
    assert_eq!(result.note, None);
    let by_user = |name: &str| {
        result
            .customers_list
            .iter()
            .find(|customer| customer.user == name)
            .unwrap_or_else(|| panic!("customer {name}"))
    };
    let u1 = by_user("u1");
    assert_eq!(u1.orders, 2);
    assert_eq!(u1.monetary, Some(25.0));
    assert_eq!(u1.recency_days, 0.0);
    assert_eq!((u1.r, u1.f, u1.m), (4, 4, Some(2)));
    assert_eq!(u1.segment, Segment::Champions);
    let u2 = by_user("u2");
    assert_eq!(u2.recency_days, 9.0);
    assert_eq!((u2.r, u2.f, u2.m), (1, 1, Some(4)));
    assert_eq!(u2.segment, Segment::Lost);
    let u3 = by_user("u3");
    assert_eq!(u3.monetary, Some(0.0));
    assert_eq!((u3.r, u3.f, u3.m), (2, 1, Some(1)));
    assert_eq!(u3.segment, Segment::Hibernating);
    assert_eq!(result.grid[3][3], 1);
    assert_eq!(result.grid[0][0], 1);
    assert_eq!(result.grid[1][0], 1);
    assert_eq!(result.segments.len(), 3);
}

#[test]
fn rfm_real_logs() {
    use behavior_lens::analysis::rfm;
    let log = ingest(
        "CDNOW_master.txt",
        include_bytes!("data/cdnow/CDNOW_master.txt"),
        &IngestOptions::default(),
    )
    .expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = rfm::compute(&log, &timelines);
    assert_eq!(result.customers, 23_570);
    assert!(result.has_monetary);
    let cells: usize = result.grid.iter().flatten().sum();
    assert_eq!(cells, 23_570);
    let shares: f64 = result.segments.iter().map(|segment| segment.share).sum();
    assert!((shares - 1.0).abs() < 1e-9);

    let views_only = "user,item,event,time\nu1,A,view,2024-03-01 10:00\n";
    let log = ingest(
        "views.csv",
        views_only.as_bytes(),
        &IngestOptions::default(),
    )
    .expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = rfm::compute(&log, &timelines);
    assert_eq!(result.customers, 0);
    assert!(result
        .note
        .as_deref()
        .is_some_and(|note| note.contains("no user has a purchase")));
}

#[test]
fn paths_small_log_by_hand() {
    use behavior_lens::analysis::paths;
    use EventKind::*;
    let log = ingest("small.csv", SMALL_LOG.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = paths::compute(&log, &timelines);

    let matrix = &result.event_transitions;
    let at = |from: &str, to: &str| {
        let index = |name: &str| {
            matrix
                .states
                .iter()
                .position(|state| state == name)
                .unwrap_or_else(|| panic!("state {name}"))
        };
        matrix.counts[index(from)][index(to)]
    };
    assert_eq!(at("start", "view"), 3);
    assert_eq!(at("start", "purchase"), 2);
    assert_eq!(at("view", "cart"), 2);
    assert_eq!(at("view", "end"), 1);
    assert_eq!(at("cart", "end"), 2);
    assert_eq!(at("purchase", "end"), 2);
    assert_eq!(at("cart", "purchase"), 0);
    let total: usize = matrix.counts.iter().flatten().sum();
    assert_eq!(total, 12);
    assert!((matrix.probabilities[0][1] - 0.6).abs() < 1e-12);

    let common: Vec<(Vec<EventKind>, usize)> = result
        .common_paths
        .iter()
        .map(|path| (path.path.clone(), path.sessions))
        .collect();
    assert_eq!(
        common,
        [(vec![View, Cart], 2), (vec![Purchase], 2), (vec![View], 1)]
    );
    assert!((result.common_paths[0].share - 0.4).abs() < 1e-12);

    assert_eq!(&result.step_users[..4], [4, 2, 1, 0]);
    assert_eq!(result.step_matrix[0][View.index()], 0.75);
    assert_eq!(result.step_matrix[0][Purchase.index()], 0.25);
    assert_eq!(result.step_matrix[1][Cart.index()], 1.0);

    let categories = result.category_transitions.expect("categories exist");
    assert_eq!(
        categories.states,
        ["start", "phones", "shoes", "other", "end"]
    );
    // phones: u1 view->cart (s1), u1 purchase (s2), u3 view, u4 purchase.
    assert_eq!(categories.counts[1][1], 1);
    assert_eq!(categories.counts[0][1], 4);
    assert_eq!(categories.counts[0][2], 1);
}

#[test]
fn retention_far_apart_dates_stay_small() {
    use behavior_lens::analysis::retention::{self, RetentionOptions};
    let text =
        "user,item,event,time\nu1,A,view,2000-01-01\nu2,A,view,2000-01-02\nu1,A,view,9999-12-31\n";
    let log = ingest("far.csv", text.as_bytes(), &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let result = retention::compute(&log, &timelines, &RetentionOptions::default());
    for table in &result.cohorts {
        assert!(table.cohorts.is_empty(), "{:?}", table.period);
        assert!(table
            .note
            .as_deref()
            .is_some_and(|note| note.contains("wrong timestamps")));
    }
    assert!(result.lifecycle.is_empty());
}
