//! Customer segments and viewed/bought-together lists, on small logs with
//! results worked out by hand and on the real logs for consistency.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::analysis::segments::{
    segment, ChosenBy, Embeddings, NamedCount, SegmentOptions, Segments,
};
use behavior_lens::analysis::together::{
    together, ItemCompanions, TogetherOptions, MAX_BASKET_ITEMS,
};
use behavior_lens::events::{ingest, EventKind, EventLog, IngestOptions};
use behavior_lens::timeline::sentence::Lang;
use behavior_lens::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};

fn read(name: &str, text: &[u8]) -> (EventLog, Timelines) {
    let log = ingest(name, text, &IngestOptions::default()).expect("reads");
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    (log, timelines)
}

/// Builds embeddings from `(user name, vector)` pairs.
fn embeddings(log: &EventLog, rows: &[(&str, &[f32])]) -> Embeddings {
    let dim = rows[0].1.len();
    Embeddings {
        users: rows
            .iter()
            .map(|(name, _)| log.users.get(name).expect("user in log"))
            .collect(),
        dim,
        data: rows
            .iter()
            .flat_map(|(_, vector)| vector.iter().copied())
            .collect(),
    }
}

fn named_counts(list: &[NamedCount]) -> Vec<(&str, usize)> {
    list.iter()
        .map(|entry| (entry.name.as_str(), entry.count))
        .collect()
}

fn user_k(k: usize) -> SegmentOptions {
    SegmentOptions {
        k: Some(k),
        ..SegmentOptions::default()
    }
}

/// u1 buys A (100) and B (20) in orders o1 and o2. u2 views and carts A and
/// buys C (50) in o3. u3 views B twice and D, and u4 views D once.
const PROFILE_LOG: &str = "user,item,event,time,category,price,order
u1,A,view,2024-03-01 10:00,phones,,
u1,A,purchase,2024-03-01 10:05,phones,100,o1
u1,B,purchase,2024-03-02 10:00,shoes,20,o2
u2,A,view,2024-03-01 11:00,phones,,
u2,A,cart,2024-03-01 11:02,phones,,
u2,C,purchase,2024-03-01 11:10,phones,50,o3
u3,B,view,2024-03-01 12:00,shoes,,
u3,B,view,2024-03-01 12:01,shoes,,
u3,D,view,2024-03-01 12:02,shoes,,
u4,D,view,2024-03-01 13:00,shoes,,
";

/// Embeddings that put u1 and u2 on one axis and u3 and u4 on the other.
/// The lengths differ, but the L2 normalisation removes them.
const PROFILE_VECTORS: [(&str, &[f32]); 4] = [
    ("u1", &[1.0, 0.0]),
    ("u2", &[3.0, 0.0]),
    ("u3", &[0.0, 1.0]),
    ("u4", &[0.0, 2.0]),
];

#[test]
fn profile_small_log_by_hand() {
    let (log, timelines) = read("profile.csv", PROFILE_LOG.as_bytes());
    let vectors = embeddings(&log, &PROFILE_VECTORS);
    let result = segment(&log, &timelines, &vectors, &user_k(2), Lang::En);
    assert!(result.available, "{:?}", result.note);
    assert_eq!(result.note, None);
    assert_eq!(result.k, 2);
    assert_eq!(result.chosen_by, ChosenBy::User);
    assert_eq!((result.users, result.dim), (4, 2));
    assert_eq!(result.segment_of, [0, 0, 1, 1]);
    // Normalised, each segment's users coincide: a = 0 and b = sqrt(2).
    assert_eq!(result.silhouette.len(), 1);
    assert_eq!(result.silhouette[0].k, 2);
    assert!((result.silhouette[0].score - 1.0).abs() < 1e-9);

    let buyers = &result.segments[0];
    assert_eq!(buyers.id, 0);
    assert_eq!(buyers.size, 2);
    assert_eq!(buyers.share, 0.5);
    assert_eq!(buyers.conversion, 1.0);
    // u1 spent 100 + 20, u2 spent 50.
    assert_eq!(buyers.order_value, Some(85.0));
    assert_eq!(buyers.events_per_user, 3.0);
    assert_eq!(
        named_counts(&buyers.top_items),
        [("A", 4), ("B", 1), ("C", 1)]
    );
    assert_eq!(
        named_counts(&buyers.top_categories),
        [("phones", 5), ("shoes", 1)]
    );
    // u1 has two orders and u2 one: half of the buyers repeat.
    assert_eq!(buyers.name, "Loyal repeat buyers");
    // u1 and u2 are equally near the centroid, so the first row wins.
    assert_eq!(
        buyers.typical_sentence,
        "useru1: view item A -> purchase item A -> purchase item B"
    );

    let browsers = &result.segments[1];
    assert_eq!(browsers.conversion, 0.0);
    assert_eq!(browsers.order_value, None);
    assert_eq!(browsers.events_per_user, 2.0);
    assert_eq!(named_counts(&browsers.top_items), [("B", 2), ("D", 2)]);
    assert_eq!(browsers.name, "Browsers");

    // All variance lies on the line between the two directions.
    assert!((result.explained_variance[0] - 1.0).abs() < 1e-9);
    assert!(result.explained_variance[1].abs() < 1e-9);
    assert_eq!(result.points.len(), 4);
    let x = |user: &str| {
        result
            .points
            .iter()
            .find(|point| point.user == user)
            .unwrap_or_else(|| panic!("point of {user}"))
            .x
    };
    assert!((x("u1").abs() - 0.5f64.sqrt()).abs() < 1e-6);
    assert!((x("u1") + x("u3")).abs() < 1e-6);
}

#[test]
fn profile_names_in_chinese() {
    let (log, timelines) = read("profile.csv", PROFILE_LOG.as_bytes());
    let vectors = embeddings(&log, &PROFILE_VECTORS);
    let result = segment(&log, &timelines, &vectors, &user_k(2), Lang::Zh);
    assert_eq!(result.segments[0].name, "忠实复购");
    assert_eq!(result.segments[1].name, "浏览者");
    assert!(result.segments[0]
        .typical_sentence
        .starts_with("用户u1: 浏览商品A"));
}

#[test]
fn segment_names_are_unique() {
    // Four pairs of users that only view, so every segment is "Light
    // browsers". Three pairs view phones. Of those, u5 and u6 make 1.5
    // events per user and the other two pairs 1.0, so those two pairs also
    // get their segment ids.
    let text = "user,item,event,time,category
u1,A,view,2024-03-01 10:00,phones
u2,A,view,2024-03-01 10:01,phones
u3,B,view,2024-03-01 10:02,shoes
u4,B,view,2024-03-01 10:03,shoes
u5,C,view,2024-03-01 10:04,phones
u5,C,view,2024-03-01 10:05,phones
u6,C,view,2024-03-01 10:06,phones
u7,D,view,2024-03-01 10:07,phones
u8,D,view,2024-03-01 10:08,phones
";
    let (log, timelines) = read("names.csv", text.as_bytes());
    let vectors = embeddings(
        &log,
        &[
            ("u1", &[1.0, 0.0, 0.0, 0.0]),
            ("u2", &[1.0, 0.0, 0.0, 0.0]),
            ("u3", &[0.0, 1.0, 0.0, 0.0]),
            ("u4", &[0.0, 1.0, 0.0, 0.0]),
            ("u5", &[0.0, 0.0, 1.0, 0.0]),
            ("u6", &[0.0, 0.0, 1.0, 0.0]),
            ("u7", &[0.0, 0.0, 0.0, 1.0]),
            ("u8", &[0.0, 0.0, 0.0, 1.0]),
        ],
    );
    let result = segment(&log, &timelines, &vectors, &user_k(4), Lang::En);
    let names: Vec<&str> = result.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Light browsers (phones, 1.0 events per user, segment 0)",
            "Light browsers (shoes)",
            "Light browsers (phones, 1.5 events per user)",
            "Light browsers (phones, 1.0 events per user, segment 3)",
        ]
    );
    let result = segment(&log, &timelines, &vectors, &user_k(4), Lang::Zh);
    assert_eq!(result.segments[1].name, "浅度浏览（shoes）");
    assert_eq!(result.segments[2].name, "浅度浏览（phones，人均1.5次行为）");
}

#[test]
fn segment_rejects_bad_input_with_notes() {
    let (log, timelines) = read("profile.csv", PROFILE_LOG.as_bytes());
    let good = embeddings(&log, &PROFILE_VECTORS);
    let note_for = |vectors: &Embeddings, options: &SegmentOptions| {
        let result = segment(&log, &timelines, vectors, options, Lang::En);
        assert!(!result.available);
        assert!(result.segments.is_empty());
        result.note.expect("a note explains why")
    };
    let defaults = SegmentOptions::default();

    let note = note_for(&good, &user_k(3));
    assert!(note.contains("need at least 6 users"), "{note}");
    let three = Embeddings {
        users: good.users[..3].to_vec(),
        dim: 2,
        data: good.data[..6].to_vec(),
    };
    let note = note_for(&three, &defaults);
    assert!(note.contains("need at least 4 users"), "{note}");
    assert!(note.contains("the log has 3"), "{note}");

    let mut short = good.clone();
    short.data.pop();
    let note = note_for(&short, &defaults);
    assert!(note.contains("contain 7 values"), "{note}");

    let mut unknown = good.clone();
    unknown.users[2] = 99;
    let note = note_for(&unknown, &defaults);
    assert!(note.contains("user id 99"), "{note}");

    let mut twice = good.clone();
    twice.users[3] = twice.users[0];
    let note = note_for(&twice, &defaults);
    assert!(
        note.contains("user u1 has two embeddings (rows 0 and 3)"),
        "{note}"
    );

    let mut not_finite = good.clone();
    not_finite.data[3] = f32::NAN;
    let note = note_for(&not_finite, &defaults);
    assert!(note.contains("user u2 (row 1) contains NaN"), "{note}");

    let mut zero = good.clone();
    zero.data[4] = 0.0;
    zero.data[5] = 0.0;
    let note = note_for(&zero, &defaults);
    assert!(note.contains("user u3 (row 2) is all zeros"), "{note}");

    let bad_range = SegmentOptions {
        k_min: 3,
        k_max: 2,
        ..SegmentOptions::default()
    };
    let note = note_for(&good, &bad_range);
    assert!(note.contains("k_max (2) is below k_min (3)"), "{note}");
    let note = note_for(&good, &user_k(1));
    assert!(note.contains("k is 1"), "{note}");
}

#[test]
fn segment_notes_users_without_embeddings() {
    let (log, timelines) = read("profile.csv", PROFILE_LOG.as_bytes());
    // The log has five users, and the four with embeddings allow k up to 2
    // only, at two users per segment.
    let text = format!("{PROFILE_LOG}u5,E,view,2024-03-01 14:00,toys,,\n");
    let (log_five, timelines_five) = read("five.csv", text.as_bytes());
    let vectors = embeddings(&log_five, &PROFILE_VECTORS);
    let result = segment(
        &log_five,
        &timelines_five,
        &vectors,
        &SegmentOptions::default(),
        Lang::En,
    );
    assert!(result.available);
    let note = result.note.expect("partial results are noted");
    assert!(
        note.contains("1 of the log's 5 users have no embedding"),
        "{note}"
    );
    assert!(note.contains("searched up to 2, not 8"), "{note}");
    assert_eq!(result.silhouette.len(), 1);
    assert_eq!(result.chosen_by, ChosenBy::Silhouette);

    // The same four users without the fifth: nothing to note about users.
    let vectors = embeddings(&log, &PROFILE_VECTORS);
    let result = segment(
        &log,
        &timelines,
        &vectors,
        &SegmentOptions::default(),
        Lang::En,
    );
    let note = result.note.expect("the k search was narrowed");
    assert!(!note.contains("no embedding"), "{note}");
}

/// Embeddings from per-user features: the share of each event type, and
/// the logarithms of the event, item and session counts.
fn feature_embeddings(log: &EventLog, timelines: &Timelines) -> Embeddings {
    let mut data = Vec::new();
    for user in 0..timelines.users() {
        let events = timelines.of_user(user);
        let start = timelines.starts[user];
        let mut kinds = [0f32; EventKind::ALL.len()];
        let mut items: Vec<u32> = Vec::new();
        for &index in events {
            let event = &log.events[index as usize];
            kinds[event.kind.index()] += 1.0;
            items.push(event.item);
        }
        items.sort_unstable();
        items.dedup();
        let mut sessions = timelines.session_of[start..start + events.len()].to_vec();
        sessions.dedup();
        let total = events.len() as f32;
        data.extend(kinds.iter().map(|count| count / total));
        data.push((1.0 + total).ln());
        data.push((1.0 + items.len() as f32).ln());
        data.push((1.0 + sessions.len() as f32).ln());
    }
    Embeddings {
        users: (0..timelines.users() as u32).collect(),
        dim: EventKind::ALL.len() + 3,
        data,
    }
}

fn check_consistent(result: &Segments, users: usize) {
    assert!(result.available, "{:?}", result.note);
    assert_eq!(result.users, users);
    assert_eq!(result.segment_of.len(), users);
    assert_eq!(result.segments.len(), result.k);
    let mut sizes = vec![0usize; result.k];
    for &segment in &result.segment_of {
        assert!(segment < result.k, "segment {segment} of {}", result.k);
        sizes[segment] += 1;
    }
    let listed: Vec<usize> = result.segments.iter().map(|s| s.size).collect();
    assert_eq!(listed, sizes);
    assert_eq!(sizes.iter().sum::<usize>(), users);
    assert!(sizes.windows(2).all(|pair| pair[0] >= pair[1]), "{sizes:?}");
    assert!(sizes.iter().all(|&size| size > 0), "{sizes:?}");
    let shares: f64 = result.segments.iter().map(|s| s.share).sum();
    assert!((shares - 1.0).abs() < 1e-9);

    let tried: Vec<usize> = result.silhouette.iter().map(|s| s.k).collect();
    assert_eq!(tried, (2..=8).collect::<Vec<_>>());
    for score in &result.silhouette {
        assert!(
            (-1.0..=1.0).contains(&score.score),
            "k {}: {}",
            score.k,
            score.score
        );
    }
    let best = result
        .silhouette
        .iter()
        .fold(&result.silhouette[0], |best, s| {
            if s.score > best.score {
                s
            } else {
                best
            }
        });
    assert_eq!(result.k, best.k);

    assert!(result.points.len() <= 2000);
    for segment in 0..result.k {
        assert!(
            result.points.iter().any(|point| point.segment == segment),
            "segment {segment} is missing from the scatter"
        );
    }
    let explained: f64 = result.explained_variance.iter().sum();
    assert!(result.explained_variance[0] >= result.explained_variance[1]);
    assert!(explained <= 1.0 + 1e-9, "{explained}");
    assert!(explained > 0.0, "{explained}");

    let mut names: Vec<&str> = result.segments.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), result.k);
    for profile in &result.segments {
        assert!((0.0..=1.0).contains(&profile.conversion));
        assert!(profile.top_items.len() <= 5);
        assert!(!profile.typical_sentence.is_empty());
    }
}

#[test]
fn segments_rees46_are_consistent() {
    let (log, timelines) = read(
        "2019-Oct.csv",
        include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv"),
    );
    let vectors = feature_embeddings(&log, &timelines);
    let options = SegmentOptions::default();
    let result = segment(&log, &timelines, &vectors, &options, Lang::En);
    check_consistent(&result, log.users.len());
    assert_eq!(result.note, None);
    // REES46 has prices, so every segment with a buyer has an order value.
    for profile in &result.segments {
        assert_eq!(profile.order_value.is_some(), profile.conversion > 0.0);
    }

    let again = segment(&log, &timelines, &vectors, &options, Lang::En);
    assert_eq!(result, again);
    assert_eq!(result.segment_of, again.segment_of);
    let json = serde_json::to_value(&result).expect("serializes");
    let keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "available",
        "note",
        "k",
        "chosen_by",
        "silhouette",
        "users",
        "dim",
        "explained_variance",
        "points",
        "segments",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(json["chosen_by"], "silhouette");
    assert!(json["points"][0]["user"].is_string());
}

#[test]
fn segments_taobao_are_consistent() {
    let (log, timelines) = read(
        "UserBehavior.csv",
        include_bytes!("data/taobao-userbehavior-sample/UserBehavior.csv"),
    );
    let vectors = feature_embeddings(&log, &timelines);
    let options = SegmentOptions {
        seed: 7,
        max_points: 500,
        ..SegmentOptions::default()
    };
    let result = segment(&log, &timelines, &vectors, &options, Lang::Zh);
    check_consistent(&result, log.users.len());
    assert_eq!(result.points.len(), 500);
    // Taobao's sample has no prices.
    assert!(result.segments.iter().all(|s| s.order_value.is_none()));
}

/// Sessions: s1 views A, B, A, B, C, and the repeated A-B pair counts once.
/// s2 views A and B, s3 views D alone, and s4 views A and C. Purchases:
/// order o1 contains A and B. Orders o2 (A) and o3 (C) share session s2
/// but not a basket. B and C are bought without an order in session s4, so
/// they share that session's basket.
const TOGETHER_LOG: &str = "user,item,event,time,session,order
u1,A,view,2024-03-01 10:00,s1,
u1,B,view,2024-03-01 10:01,s1,
u1,A,view,2024-03-01 10:02,s1,
u1,B,view,2024-03-01 10:03,s1,
u1,C,view,2024-03-01 10:04,s1,
u1,A,purchase,2024-03-01 10:05,s1,o1
u1,B,purchase,2024-03-01 10:06,s1,o1
u2,A,view,2024-03-01 11:00,s2,
u2,B,view,2024-03-01 11:01,s2,
u2,A,purchase,2024-03-01 11:02,s2,o2
u2,C,purchase,2024-03-01 11:03,s2,o3
u2,D,view,2024-03-01 12:00,s3,
u3,A,view,2024-03-01 13:00,s4,
u3,C,view,2024-03-01 13:01,s4,
u3,B,purchase,2024-03-01 13:02,s4,
u3,C,purchase,2024-03-01 13:03,s4,
";

/// Flattens lists into `(item, companion, count, score)` rows.
fn rows(lists: &[ItemCompanions]) -> Vec<(&str, &str, usize, f64)> {
    lists
        .iter()
        .flat_map(|list| {
            list.with
                .iter()
                .map(|c| (list.item.as_str(), c.item.as_str(), c.count, c.score))
        })
        .collect()
}

#[test]
fn together_small_log_by_hand() {
    let (log, timelines) = read("together.csv", TOGETHER_LOG.as_bytes());
    let result = together(&log, &timelines, &TogetherOptions::default());
    assert_eq!(result.sessions_truncated, 0);

    // Viewed: A-B in s1 and s2, A-C in s1 and s4, B-C in s1. A is in three
    // sessions, B and C in two, so the cosine of A-B and A-C is
    // 2 / sqrt(3 * 2) and that of B-C is 1 / sqrt(2 * 2).
    let ab = 2.0 / 6f64.sqrt();
    let order: Vec<&str> = result.viewed.iter().map(|l| l.item.as_str()).collect();
    assert_eq!(order, ["A", "B", "C"]);
    let expected = [
        ("A", "B", 2, ab),
        ("A", "C", 2, ab),
        ("B", "A", 2, ab),
        ("B", "C", 1, 0.5),
        ("C", "A", 2, ab),
        ("C", "B", 1, 0.5),
    ];
    let viewed = rows(&result.viewed);
    assert_eq!(viewed.len(), expected.len());
    for (got, want) in viewed.iter().zip(expected) {
        assert_eq!((got.0, got.1, got.2), (want.0, want.1, want.2));
        assert!((got.3 - want.3).abs() < 1e-12, "{got:?}");
    }

    // Bought: o1 pairs A-B, o2 and o3 are separate orders, and the session
    // s4 basket pairs B-C. Each item is in two baskets: cosine 1 / 2.
    let bought: Vec<(&str, &str, usize, f64)> = rows(&result.bought);
    assert_eq!(
        bought,
        [
            ("A", "B", 1, 0.5),
            ("B", "A", 1, 0.5),
            ("B", "C", 1, 0.5),
            ("C", "B", 1, 0.5),
        ]
    );

    let limited = together(
        &log,
        &timelines,
        &TogetherOptions {
            per_item: 1,
            max_items: 2,
        },
    );
    let viewed = rows(&limited.viewed);
    let pairs: Vec<(&str, &str)> = viewed.iter().map(|row| (row.0, row.1)).collect();
    assert_eq!(pairs, [("A", "B"), ("B", "A")]);
}

#[test]
fn together_truncates_large_sessions() {
    // One session views items 0 to 200 (201 distinct items). Another views
    // items 200 and 0, so item 200 still has a companion.
    let mut text = String::from("user,item,event,time,session\n");
    for item in 0..=MAX_BASKET_ITEMS {
        text.push_str(&format!(
            "u1,i{item},view,2024-03-01 10:{:02}:{:02},big\n",
            item / 60,
            item % 60
        ));
    }
    text.push_str("u2,i200,view,2024-03-01 12:00,small\nu2,i0,view,2024-03-01 12:01,small\n");
    let (log, timelines) = read("big.csv", text.as_bytes());
    let result = together(&log, &timelines, &TogetherOptions::default());
    assert_eq!(result.sessions_truncated, 1);

    let last = result
        .viewed
        .iter()
        .find(|list| list.item == "i200")
        .expect("i200 is listed");
    // i200 counts only in the small session, whose other item is i0.
    let companions: Vec<(&str, usize)> = last
        .with
        .iter()
        .map(|c| (c.item.as_str(), c.count))
        .collect();
    assert_eq!(companions, [("i0", 1)]);
    // i0 is in both sessions and i200 in one: 1 / sqrt(2 * 1).
    assert!((last.with[0].score - 0.5f64.sqrt()).abs() < 1e-12);
    assert_eq!(result.viewed[0].item, "i0");
    assert_eq!(result.viewed.len(), MAX_BASKET_ITEMS + 1);
    assert!(result.viewed.iter().all(|list| list.with.len() <= 10));
}

fn check_sorted(lists: &[ItemCompanions], max_items: usize) {
    assert!(lists.len() <= max_items);
    for list in lists {
        assert!(!list.with.is_empty());
        assert!(list.with.len() <= 10);
        for pair in list.with.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                a.count > b.count || (a.count == b.count && a.score >= b.score),
                "{} lists {} before {}",
                list.item,
                a.item,
                b.item
            );
        }
        for companion in &list.with {
            assert_ne!(companion.item, list.item);
            assert!(companion.count >= 1);
            assert!(companion.score > 0.0, "{companion:?}");
            assert!(companion.score <= 1.0 + 1e-12, "{companion:?}");
        }
    }
}

#[test]
fn together_real_logs() {
    let (log, timelines) = read(
        "UserBehavior.csv",
        include_bytes!("data/taobao-userbehavior-sample/UserBehavior.csv"),
    );
    let options = TogetherOptions::default();
    let result = together(&log, &timelines, &options);
    check_sorted(&result.viewed, 500);
    check_sorted(&result.bought, 500);
    assert_eq!(result.viewed.len(), 500);
    assert_eq!(result, together(&log, &timelines, &options));

    let (log, timelines) = read(
        "df_sample.csv",
        include_bytes!("data/instacart-sample/df_sample.csv"),
    );
    let result = together(&log, &timelines, &options);
    check_sorted(&result.bought, 500);
    assert_eq!(result.bought.len(), 500);
    // A product bought in an order is listed with the others of that
    // order, so the most bought product has a full list.
    assert_eq!(result.bought[0].with.len(), 10);
}
