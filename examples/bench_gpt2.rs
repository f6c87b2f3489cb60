//! Throughput of a GPT-2-124M-shaped model with random weights on the CPU.
//!
//! Prints prefill tokens/s for a batch of 8 x 128 tokens and incremental
//! decoding tokens/s (batch 1, after a 128-token prefix) for f32, q8_0 and
//! q4k weights, next to the GFLOP/s of a large f32 matmul as a roof. The
//! measurements live in `behavior_lens::model::bench`, which the wasm
//! benchmark (`scripts/bench-gpt2.mjs`) runs too.
//!
//! Run with optimizations, for example:
//! `cargo run --release --example bench_gpt2`
//! Pass `--json` to print the report as one JSON object.

use std::sync::OnceLock;
use std::time::Instant;

use behavior_lens::model::bench;

fn now_milliseconds() -> f64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--json") => true,
        Some(other) => return Err(format!("unknown argument {other:?}; expected --json").into()),
    };
    let report = bench::run(now_milliseconds)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "GPT-2-124M shape with random weights, {} threads",
        report.threads
    );
    let size = bench::MATMUL_SIZE;
    println!(
        "f32 matmul {size}x{size}x{size}: {:.1} GFLOP/s",
        report.roof_gflops
    );
    println!("one block at {}x{} tokens:", bench::PREFILL_BATCH, bench::PREFILL_LEN);
    for step in &report.block_steps {
        println!("  {:<40} {:>9.2} ms", step.step, step.milliseconds);
    }
    println!(
        "{:<6} {:>12} {:>22} {:>12} {:>14}",
        "format", "file bytes", "prefill 8x128 tok/s", "% of roof", "decode tok/s"
    );
    for format in &report.formats {
        let prefill = format.prefill_tokens_per_second;
        let share = prefill * report.prefill_flops_per_token / (report.roof_gflops * 1e9);
        println!(
            "{:<6} {:>12} {prefill:>22.1} {:>12.1} {:>14.1}",
            format.format,
            format.file_bytes,
            100.0 * share,
            format.decode_tokens_per_second
        );
    }
    Ok(())
}
