//! Ingestion on the real public logs (counts computed independently with
//! Python's csv module) and on every other supported format. The logs are
//! embedded with `include_bytes!`, so this file also runs compiled to wasm.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::events::{ingest, EventKind, Format, IngestOptions, TimeBasis};
use behavior_lens::report::Summary;
use behavior_lens::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};

fn summarize(name: &str, bytes: &[u8]) -> Summary {
    summarize_with(name, bytes, &IngestOptions::default())
}

fn summarize_with(name: &str, bytes: &[u8], options: &IngestOptions) -> Summary {
    let log = ingest(name, bytes, options).unwrap_or_else(|error| panic!("{name}: {error}"));
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    Summary::new(&log, &timelines)
}

#[test]
fn taobao_sample_counts() {
    let summary = summarize(
        "UserBehavior.csv",
        include_bytes!("data/taobao-userbehavior-sample/UserBehavior.csv"),
    );
    assert_eq!(summary.format, "taobao-userbehavior");
    assert_eq!(summary.rows, 110_300);
    assert_eq!(summary.events, 110_300);
    assert_eq!(summary.rejected, 0);
    assert_eq!(summary.users, 66_454);
    assert_eq!(summary.items, 84_793);
    assert_eq!(summary.sessions, 70_977);
    assert_eq!(summary.event_counts.view, 98_361);
    assert_eq!(summary.event_counts.cart, 6_063);
    assert_eq!(summary.event_counts.favorite, 3_383);
    assert_eq!(summary.event_counts.purchase, 2_493);
    assert_eq!(summary.first_event.as_deref(), Some("2017-11-26T01:00:00Z"));
    assert_eq!(summary.last_event.as_deref(), Some("2017-11-26T03:10:11Z"));
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
}

#[test]
fn rees46_sample_counts_and_cut_line() {
    let summary = summarize(
        "2019-Oct.csv",
        include_bytes!("data/rees46-2019-oct-head/2019-Oct.csv"),
    );
    assert_eq!(summary.format, "rees46");
    assert_eq!(summary.rows, 17_435);
    assert_eq!(summary.events, 17_429);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.events + summary.rejected, summary.rows - 5);
    assert_eq!(summary.rejected_reasons.len(), 1);
    assert_eq!(summary.rejected_reasons[0].reason, "truncated row");
    assert_eq!(summary.rejected_reasons[0].first_line, 17_436);
    assert_eq!(summary.users, 4_504);
    assert_eq!(summary.items, 6_493);
    assert_eq!(summary.sessions, 5_067);
    assert_eq!(summary.event_counts.view, 17_051);
    assert_eq!(summary.event_counts.cart, 164);
    assert_eq!(summary.event_counts.purchase, 214);
    assert_eq!(summary.first_event.as_deref(), Some("2019-10-01T00:00:00Z"));
    assert_eq!(summary.last_event.as_deref(), Some("2019-10-01T02:50:00Z"));
    assert!(summary.warnings.iter().any(|w| w.contains("looks cut off")));
    assert!(summary
        .warnings
        .iter()
        .any(|w| w.starts_with("5 exact duplicate rows")));
}

#[test]
fn tianchi_sample_counts() {
    let summary = summarize(
        "sample_user_behavior.csv",
        include_bytes!("data/tianchi-mobile-sample/sample_user_behavior.csv"),
    );
    assert_eq!(summary.format, "tianchi-mobile");
    assert_eq!(summary.rows, 1_999);
    assert_eq!(summary.events, 1_895);
    assert_eq!(summary.users, 34);
    assert_eq!(summary.items, 1_689);
    assert_eq!(summary.sessions, 858);
    assert_eq!(summary.event_counts.view, 1_773);
    assert_eq!(summary.event_counts.favorite, 18);
    assert_eq!(summary.event_counts.cart, 70);
    assert_eq!(summary.event_counts.purchase, 34);
    assert_eq!(summary.first_event.as_deref(), Some("2014-11-18T10:00:00Z"));
    assert_eq!(summary.last_event.as_deref(), Some("2014-12-18T23:00:00Z"));
}

#[test]
fn tianchi_duplicates_kept_on_request() {
    let options = IngestOptions {
        keep_duplicates: true,
        ..IngestOptions::default()
    };
    let summary = summarize_with(
        "sample_user_behavior.csv",
        include_bytes!("data/tianchi-mobile-sample/sample_user_behavior.csv"),
        &options,
    );
    assert_eq!(summary.events, 1_999);
    assert_eq!(summary.event_counts.view, 1_876);
    assert_eq!(summary.event_counts.purchase, 35);
}

#[test]
fn cdnow_ledger_counts() {
    let summary = summarize(
        "CDNOW_master.txt",
        include_bytes!("data/cdnow/CDNOW_master.txt"),
    );
    assert_eq!(summary.format, "cdnow");
    assert_eq!(summary.rows, 69_659);
    assert_eq!(summary.events, 69_404);
    assert_eq!(summary.users, 23_570);
    assert_eq!(summary.items, 0);
    assert_eq!(summary.sessions, 67_591);
    assert_eq!(summary.event_counts.purchase, 69_404);
    assert_eq!(summary.first_event.as_deref(), Some("1997-01-01T00:00:00Z"));
    assert_eq!(summary.last_event.as_deref(), Some("1998-06-30T00:00:00Z"));
}

#[test]
fn cdnow_unit_price_from_line_total() {
    let log = ingest(
        "CDNOW_master.txt",
        include_bytes!("data/cdnow/CDNOW_master.txt"),
        &IngestOptions::default(),
    )
    .expect("cdnow reads");
    // Line 4 is customer 00002 buying 5 CDs for 77.00.
    let event = log.events[2];
    assert_eq!(log.users.name(event.user), "00002");
    assert_eq!(event.quantity, 5.0);
    assert!((event.price - 15.4).abs() < 1e-4);
    assert!((event.amount() - 77.0).abs() < 1e-3);
}

#[test]
fn instacart_counts_and_relative_time() {
    let log = ingest(
        "df_sample.csv",
        include_bytes!("data/instacart-sample/df_sample.csv"),
        &IngestOptions::default(),
    )
    .expect("instacart reads");
    assert_eq!(log.format, Format::Instacart);
    assert_eq!(log.time_basis, TimeBasis::RelativeDays);
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let summary = Summary::new(&log, &timelines);
    assert_eq!(summary.rows, 150_000);
    assert_eq!(summary.events, 150_000);
    assert_eq!(summary.users, 593);
    assert_eq!(summary.items, 14_190);
    assert_eq!(summary.sessions, 15_183);
    assert_eq!(summary.event_counts.purchase, 150_000);
    assert_eq!(summary.first_event, None);
    // User 1's second order comes 15 days after the first, at 07:00.
    let user = log.users.get("1").expect("user 1") as usize;
    let first_of_second_order = timelines
        .of_user(user)
        .iter()
        .map(|&index| log.events[index as usize])
        .find(|event| log.orders.name(event.order) == "2398795")
        .expect("order 2398795");
    let day_ms = 86_400_000;
    let anchor = 1_483_228_800_000;
    assert_eq!((first_of_second_order.time - anchor) / day_ms, 15);
}

#[test]
fn retailrocket_format_reads() {
    let log = ingest(
        "events.csv",
        include_bytes!("data/formats/retailrocket-events.csv"),
        &IngestOptions::default(),
    )
    .expect("retailrocket reads");
    assert_eq!(log.format, Format::Retailrocket);
    assert_eq!(log.events.len(), 6);
    assert_eq!(log.events[0].time, 1_433_221_332_117);
    assert_eq!(log.events[3].kind, EventKind::Cart);
    assert_eq!(log.events[4].kind, EventKind::Purchase);
    assert_eq!(log.orders.name(log.events[4].order), "4000");
}

#[test]
fn online_retail_cancellations_are_refunds() {
    let log = ingest(
        "online-retail.csv",
        include_bytes!("data/formats/online-retail.csv"),
        &IngestOptions::default(),
    )
    .expect("online retail reads");
    assert_eq!(log.format, Format::OnlineRetail);
    assert_eq!(log.events.len(), 5);
    assert_eq!(log.events[0].kind, EventKind::Purchase);
    assert_eq!(log.events[0].time, 1_291_191_960_000); // 2010-12-01 08:26 UTC
    assert_eq!(log.events[3].kind, EventKind::Refund);
    assert_eq!(log.events[0].price, 2.55);
    // The quoted description with a comma did not shift the columns.
    assert_eq!(log.items.name(log.events[2].item), "22633");
    // A line without a customer id counts as the invoice's own user.
    assert_eq!(log.users.name(log.events[4].user), "session:536414");
    assert!(log
        .diagnostics
        .warnings
        .iter()
        .any(|w| w.contains("no user id")));
}

#[test]
fn google_analytics_action_codes() {
    let log = ingest(
        "ga.csv",
        include_bytes!("data/formats/google-analytics.csv"),
        &IngestOptions::default(),
    )
    .expect("ga reads");
    assert_eq!(log.format, Format::GoogleAnalytics);
    let kinds: Vec<EventKind> = log.events.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::View,
            EventKind::Cart,
            EventKind::Purchase,
            EventKind::View
        ]
    );
    assert_eq!(log.items.name(log.events[0].item), "GGOEGAAX0104");
    assert_eq!(log.users.len(), 2);
}

#[test]
fn json_lines_with_bad_lines() {
    let log = ingest(
        "events.jsonl",
        include_bytes!("data/formats/events.jsonl"),
        &IngestOptions::default(),
    )
    .expect("jsonl reads");
    assert_eq!(log.format, Format::Jsonl);
    assert_eq!(log.diagnostics.rows, 5);
    assert_eq!(log.events.len(), 3);
    assert_eq!(log.diagnostics.rejected, 2);
    assert_eq!(log.events[1].time, 1_569_888_300_000);
    assert_eq!(log.events[2].time, 1_569_888_600_000);
    assert_eq!(log.events[2].price, 9.9);
    let invalid = &log.diagnostics.examples[0];
    assert_eq!(invalid.line, 5);
    assert_eq!(invalid.reason, "invalid JSON");
    assert_eq!(log.diagnostics.examples[1].line, 6);
}

#[test]
fn chinese_sentences_resolve_cart_item() {
    let log = ingest(
        "sentences-zh.txt",
        include_bytes!("data/formats/sentences-zh.txt"),
        &IngestOptions::default(),
    )
    .expect("sentences read");
    assert_eq!(log.format, Format::Sentences);
    assert_eq!(log.events.len(), 6);
    let cart = log.events[1];
    assert_eq!(cart.kind, EventKind::Cart);
    assert_eq!(log.items.name(cart.item), "A");
    assert_eq!(log.users.name(cart.user), "1");
    // The gap marker puts the purchase two hours after the favorite.
    assert_eq!(log.events[5].time - log.events[4].time, 7_200_000);
}

#[test]
fn english_sentences_reject_unknown_step() {
    let log = ingest(
        "sentences-en.txt",
        include_bytes!("data/formats/sentences-en.txt"),
        &IngestOptions::default(),
    )
    .expect("sentences read");
    assert_eq!(log.events.len(), 4);
    assert_eq!(log.diagnostics.rejected, 1);
    let rejection = &log.diagnostics.examples[0];
    assert_eq!(rejection.line, 2);
    assert_eq!(rejection.value, "teleport item C");
    assert_eq!(rejection.column, 23);
    assert_eq!(log.items.name(log.events[1].item), "A");
}

#[test]
fn semicolon_file_with_decimal_commas() {
    let log = ingest(
        "semicolon.csv",
        include_bytes!("data/formats/semicolon.csv"),
        &IngestOptions::default(),
    )
    .expect("semicolon reads");
    assert_eq!(log.format_name, "semicolon");
    assert_eq!(log.events.len(), 2);
    assert_eq!(log.events[0].price, 12.5);
    assert_eq!(log.events[1].kind, EventKind::Purchase);
}

#[test]
fn tab_file_with_offsets() {
    let log = ingest(
        "tabs.tsv",
        include_bytes!("data/formats/tabs.tsv"),
        &IngestOptions::default(),
    )
    .expect("tsv reads");
    assert_eq!(log.format_name, "tsv");
    assert_eq!(log.events[0].time, 1_709_258_400_000); // 2024-03-01T02:00:00Z
}

#[test]
fn gbk_chinese_headers_map() {
    let log = ingest(
        "gbk.csv",
        include_bytes!("data/formats/gbk-chinese.csv"),
        &IngestOptions::default(),
    )
    .expect("gbk reads");
    assert_eq!(log.encoding, "gb18030");
    assert_eq!(log.events.len(), 3);
    assert_eq!(log.users.name(log.events[0].user), "张三");
    assert_eq!(log.items.name(log.events[2].item), "耳机, 无线");
    assert_eq!(log.events[1].kind, EventKind::Cart);
    assert_eq!(log.categories.name(log.events[0].category), "数码");
    assert!(!log.mapping_unsure);
}

#[test]
fn bom_and_quoted_newlines() {
    let log = ingest(
        "bom.csv",
        include_bytes!("data/formats/bom-quoted.csv"),
        &IngestOptions::default(),
    )
    .expect("bom file reads");
    assert_eq!(log.encoding, "utf-8-bom");
    assert_eq!(log.events.len(), 2);
    assert_eq!(log.diagnostics.rows, 2);
    assert_eq!(log.events[1].kind, EventKind::Purchase);
}
