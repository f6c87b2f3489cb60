//! Ingestion benchmark: events per second and bytes per event for the
//! Taobao sample and for a synthetic log made by repeating its rows with new
//! user ids. Prints one line per input; run with
//! `cargo run --release --example bench_ingest -- [EVENTS]`.

use behavior_lens::events::{ingest, IngestOptions};
use behavior_lens::timeline::{Timelines, DEFAULT_SESSION_GAP_MS};
use std::time::Instant;

const SAMPLE: &[u8] = include_bytes!("../tests/data/taobao-userbehavior-sample/UserBehavior.csv");

/// Repeats the sample's rows with user ids shifted per copy until `events`
/// rows exist, so no copy duplicates another.
fn synthetic(events: usize) -> Vec<u8> {
    let text = std::str::from_utf8(SAMPLE).expect("the sample is UTF-8");
    let rows: Vec<(u64, &str)> = text
        .lines()
        .map(|row| {
            let (user, rest) = row.split_once(',').expect("five columns");
            (user.parse().expect("numeric user id"), rest)
        })
        .collect();
    let mut out = Vec::with_capacity(events * 40);
    for index in 0..events {
        let (user, rest) = rows[index % rows.len()];
        let copy = (index / rows.len()) as u64;
        out.extend_from_slice(format!("{},{rest}\n", user + copy * 10_000_000).as_bytes());
    }
    out
}

/// Peak resident memory of this process in bytes, from /proc (Linux only).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user and system) this process has used, from /proc (Linux
/// only). On a shared machine this shows how much of a wall-clock figure was
/// spent waiting for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may contain spaces, so fields
    // are counted after it. utime and stime are the 14th and 15th fields of
    // the whole line, in clock ticks of 1/100 s (USER_HZ on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn measure(name: &str, bytes: &[u8]) {
    let options = IngestOptions::default();
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let log = ingest(name, bytes, &options).expect("the benchmark input reads");
    let parsed = start.elapsed().as_secs_f64();
    let timelines = Timelines::build(&log, DEFAULT_SESSION_GAP_MS);
    let seconds = start.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(before), Some(after)) => format!("{:.2} s", after - before),
        _ => "unknown".to_string(),
    };
    let events = log.events.len() as f64;
    println!(
        "native  {name:<28} {:>10} events  parse+timelines {:>8.3} s  {:>6.2} M events/s  {:>5.1} bytes/event  {} sessions",
        log.events.len(),
        seconds,
        events / seconds / 1e6,
        log.heap_bytes() as f64 / events,
        timelines.sessions,
    );
    println!(
        "native  {name:<28} parse {parsed:.3} s  timelines {:.3} s  CPU time {cpu}",
        seconds - parsed,
    );
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("EVENTS is a whole number"))
        .unwrap_or(10_000_000);
    measure("taobao sample", SAMPLE);
    let bytes = synthetic(events);
    measure(&format!("synthetic {events}"), &bytes);
    drop(bytes);
    if let Some(peak) = peak_rss_bytes() {
        println!("native  peak resident memory {:.0} MB", peak as f64 / 1e6);
    }
}
