//! Hostile and broken inputs: each gets a clear error or a counted
//! rejection, never a panic.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::events::{ingest, IngestError, IngestOptions};

fn read(bytes: &[u8]) -> Result<behavior_lens::events::EventLog, IngestError> {
    ingest("hostile.csv", bytes, &IngestOptions::default())
}

fn error_text(bytes: &[u8]) -> String {
    match read(bytes) {
        Ok(log) => panic!("expected an error, got {} events", log.events.len()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn empty_file_named_in_error() {
    let message = error_text(b"");
    assert!(message.starts_with("hostile.csv is empty"), "{message}");
    let message = error_text(b"\n\n  \r\n");
    assert!(message.contains("is empty"), "{message}");
}

#[test]
fn binary_file_rejected() {
    let mut bytes = b"user,item\n".to_vec();
    bytes.extend_from_slice(&[0, 159, 146, 150, 0, 1, 2]);
    let message = error_text(&bytes);
    assert!(message.contains("NUL byte at offset 10"), "{message}");
}

#[test]
fn archives_and_documents_named() {
    assert!(error_text(b"PK\x03\x04rest").contains("Excel workbook"));
    assert!(error_text(&[0x1f, 0x8b, 8, 0]).contains("gzip"));
    assert!(error_text(b"%PDF-1.7\n").contains("PDF"));
}

#[test]
fn header_only_file() {
    let message = error_text(b"user_id,item_id,event_type,event_time\n");
    assert!(
        message.contains("has a header but no data rows"),
        "{message}"
    );
}

#[test]
fn single_ten_megabyte_line() {
    let bytes = vec![b'x'; 10 * 1024 * 1024];
    let message = error_text(&bytes);
    assert!(
        message.contains("cannot tell how fields are separated"),
        "{message}"
    );
}

#[test]
fn ten_megabyte_field_is_rejected_row() {
    let mut bytes = b"user,item,event,time\nu1,A,view,1569888000\nu2,".to_vec();
    bytes.extend(std::iter::repeat_n(b'y', 10 * 1024 * 1024));
    bytes.extend_from_slice(b",view,notatime\n");
    let log = read(&bytes).expect("one good row");
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.diagnostics.rejected, 1);
    assert!(log.diagnostics.examples[0].value.chars().count() <= 120);
}

#[test]
fn mixed_encodings_read_line_by_line() {
    let mut bytes = "用户,商品,行为,时间\n张三,手机,浏览,2024-03-01 10:00\n"
        .as_bytes()
        .to_vec();
    let (gbk, _, _) = encoding_rs::GB18030.encode("李四,耳机,购买,2024-03-01 11:00\n");
    bytes.extend_from_slice(&gbk);
    let log = read(&bytes).expect("mixed file reads");
    assert_eq!(log.encoding, "mixed (utf-8, gb18030)");
    assert_eq!(log.users.name(log.events[1].user), "李四");
}

#[test]
fn wrong_delimiter_gives_missing_column() {
    let message = error_text(b"a|b\nfoo|bar\nbaz|qux\n");
    assert!(
        message.contains("no column looks like a user id"),
        "{message}"
    );
    assert!(message.contains("--map user=COLUMN"), "{message}");
}

#[test]
fn explicit_mapping_rescues_unknown_headers() {
    let bytes = b"buyer|sku|what|when\nb1|s1|view|1569888000\nb1|s1|buy|1569888060\n";
    let options = IngestOptions {
        mapping: behavior_lens::events::parse_mapping_spec(
            "user=buyer,item=sku,event=what,time=when",
        )
        .expect("valid mapping"),
        ..IngestOptions::default()
    };
    let log = ingest("mapped.psv", bytes, &options).expect("mapped file reads");
    assert_eq!(log.events.len(), 2);
    assert!(!log.mapping_unsure);
    let bad = IngestOptions {
        mapping: vec![(behavior_lens::events::Field::User, "nobody".into())],
        ..IngestOptions::default()
    };
    let message = ingest("mapped.psv", bytes, &bad)
        .expect_err("unknown column")
        .to_string();
    assert!(message.contains("\"nobody\""), "{message}");
}

#[test]
fn all_rows_rejected_names_the_first() {
    let message = error_text(b"user,item,event,time\nu1,A,view,yesterday\nu2,B,view,never\n");
    assert!(message.contains("all 2 rows were rejected"), "{message}");
    assert!(message.contains("hostile.csv:2:4 (time)"), "{message}");
}

#[test]
fn lone_cr_line_ends_name_the_line() {
    let text = "user,item,event,time\ru1,A,view,1569888000\ru2,B,view,never\ru3,C,view,1569888000\r";
    let log = read(text.as_bytes()).expect("a file with classic Mac line ends reads");
    assert_eq!(log.events.len(), 2);
    assert_eq!(log.diagnostics.rejected, 1);
    let example = &log.diagnostics.examples[0];
    assert_eq!(example.line, 3);
    assert_eq!(example.column, 4);
}

#[test]
fn unclosed_quote_names_swallowed_lines() {
    let mut text = String::from("user,item,event,time\n");
    for row in 0..10 {
        if row == 4 {
            text.push_str("u4,\"A,view,1569888000\n");
        } else {
            text.push_str(&format!("u{row},A,view,1569888000\n"));
        }
    }
    let log = read(text.as_bytes()).expect("the rows before the quote read");
    assert_eq!(log.events.len(), 4);
    assert_eq!(log.diagnostics.rejected, 1);
    let example = &log.diagnostics.examples[0];
    assert_eq!(example.line, 6);
    assert_eq!(example.reason, "quoted field runs across lines");
    let warning = log
        .diagnostics
        .warnings
        .iter()
        .find(|w| w.contains("read as one row"))
        .expect("a warning about the swallowed lines");
    assert!(
        warning.starts_with("lines 6 to 11 were read as one row"),
        "{warning}"
    );
}

#[test]
fn unterminated_quote_does_not_panic() {
    let result = read(b"user,item,event,time\nu1,\"A,view,1569888000\nu2,B,view,1569888000\n");
    if let Ok(log) = result {
        assert_eq!(
            log.events.len() + log.diagnostics.rejected,
            log.diagnostics.rows
        );
    }
}

#[test]
fn spreadsheet_scientific_ids_warned() {
    let log =
        read(b"user,item,event,time\n2.82E+18,A,view,1569888000\n2.82E+18,B,view,1569888001\n")
            .expect("reads");
    let warning = log
        .diagnostics
        .warnings
        .iter()
        .find(|w| w.contains("scientific notation"))
        .expect("scientific notation warning");
    assert!(warning.contains("2.82E+18"), "{warning}");
}

#[test]
fn markup_in_fields_is_kept_as_text() {
    let log = read(b"user,item,event,time\n<script>alert(1)</script>,<img src=x onerror=alert(1)>,view,1569888000\n")
        .expect("reads");
    assert_eq!(
        log.users.name(log.events[0].user),
        "<script>alert(1)</script>"
    );
}

#[test]
fn random_bytes_never_panic() {
    // A fixed linear congruential sequence, so failures reproduce.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for round in 0..200 {
        let length = (round * 37) % 600 + 1;
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let byte = (state >> 56) as u8;
                // Bias toward the characters the readers care about.
                match byte % 8 {
                    0 => b',',
                    1 => b'\n',
                    2 => b'"',
                    3 => b'1',
                    _ => byte,
                }
            })
            .collect();
        if let Ok(log) = read(&bytes) {
            if log.format == behavior_lens::events::Format::Sentences {
                continue;
            }
            let diagnostics = &log.diagnostics;
            assert_eq!(
                log.events.len() + diagnostics.rejected + diagnostics.duplicates,
                diagnostics.rows
            );
        }
    }
}

#[test]
fn extreme_times_rejected_not_overflowed() {
    let bytes = b"{\"user\": \"u1\", \"event\": \"view\", \"time\": 9e18}\n{\"user\": \"u1\", \"event\": \"view\", \"time\": -9e18}\n{\"user\": \"u1\", \"event\": \"view\", \"time\": 1569888000}\n";
    let log = ingest("times.jsonl", bytes, &IngestOptions::default()).expect("one good line");
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.diagnostics.rejected, 2);
    let log = read(b"user,item,event,time\nu1,A,view,99999999999999\nu1,A,view,00000101\nu1,A,view,1569888000\n")
        .expect("one good row");
    assert_eq!(log.events.len(), 2);
    let sentences = "user1: view item A -> [+1e300w] view item B\nuser2: view item A -> [+99999999h] buy item A\nuser3: view item A -> [+2h] buy item A\n";
    let log = ingest("gaps.txt", sentences.as_bytes(), &IngestOptions::default()).expect("reads");
    assert_eq!(log.events.len(), 2);
    assert_eq!(log.diagnostics.rejected, 2);
}

#[test]
fn huge_id_stays_out_of_report() {
    let mut bytes = b"user,item,event,time\nu1,".to_vec();
    bytes.extend(std::iter::repeat_n(b'A', 1_000_000));
    bytes.extend_from_slice(b",view,1569888000\nu1,B,purchase,1569888060\n");
    let report = behavior_lens::pipeline::analyze(
        "huge-id.csv",
        &bytes,
        &behavior_lens::pipeline::AnalyzeOptions::default(),
        None,
        None,
        &mut |_, _| {},
    )
    .expect("analyzes");
    let json = serde_json::to_string(&report).expect("serializes");
    assert!(json.len() < 20_000, "report is {} bytes", json.len());
    assert!(report.sentences[0].contains('…'));
}

#[test]
fn inexact_json_number_ids_rejected() {
    let bytes = b"{\"user\": 18446744073709551617, \"event\": \"view\", \"time\": 1569888000}\n{\"user\": 18446744073709551618, \"event\": \"view\", \"time\": 1569888000}\n{\"user\": 12, \"event\": \"view\", \"time\": 1569888000}\n{\"user\": 1.5, \"event\": \"view\", \"time\": 1569888000}\n";
    let log = ingest("ids.jsonl", bytes, &IngestOptions::default()).expect("one good line");
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.users.name(log.events[0].user), "12");
    assert_eq!(log.diagnostics.rejected, 3);
    assert_eq!(log.diagnostics.examples[0].column_name, "user");
}
