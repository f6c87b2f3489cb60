//! Feeds arbitrary bytes to every reader. Any panic is a bug, and the row
//! counts must always add up.

#![no_main]

use behavior_lens::events::{ingest, preview, EncodingChoice, Format, IngestOptions};
use behavior_lens::timeline::{sentence, Timelines, DEFAULT_SESSION_GAP_MS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = preview(bytes, EncodingChoice::Auto);
    for format in [None, Some(Format::Jsonl), Some(Format::Sentences), Some(Format::Cdnow)] {
        let options = IngestOptions {
            format,
            ..IngestOptions::default()
        };
        let Ok(log) = ingest("fuzz.csv", bytes, &options) else {
            continue;
        };
        let diagnostics = &log.diagnostics;
        if log.format == Format::Sentences {
            // A sentence line has many events, so only rejections count rows.
            assert!(diagnostics.rejected <= diagnostics.rows);
        } else {
            assert_eq!(
                log.events.len() + diagnostics.rejected + diagnostics.duplicates,
                diagnostics.rows
            );
        }
        let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
        for user in 0..timelines.users().min(8) {
            let _ = sentence::render_user(&log, &timelines, user, &Default::default());
        }
    }
});
