//! `inspect`: format, counts, rejected rows and warnings of one log.

use super::input::InputArgs;
use super::CliResult;
use behavior_lens::pipeline;
use behavior_lens::report::Summary;
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print one JSON object instead of a readable summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InspectArgs) -> CliResult {
    let bytes = args.input.read_bytes()?;
    let name = args.input.display_name();
    let resolved = args.input.options(None).resolve()?;
    let parsed = pipeline::parse(&name, &bytes, &resolved, &mut |_, _| {})?;
    let summary = Summary::new(&parsed.log, &parsed.timelines);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    writeln!(out, "file        {name}")?;
    writeln!(
        out,
        "format      {} ({})",
        summary.format, parsed.log.detection_reason
    )?;
    writeln!(out, "encoding    {}", summary.encoding)?;
    writeln!(
        out,
        "rows        {} read, {} events, {} rejected, {} duplicates dropped",
        summary.rows, summary.events, summary.rejected, parsed.log.diagnostics.duplicates
    )?;
    writeln!(
        out,
        "entities    {} users, {} items, {} sessions",
        summary.users, summary.items, summary.sessions
    )?;
    if let (Some(first), Some(last)) = (&summary.first_event, &summary.last_event) {
        writeln!(out, "time span   {first} to {last}")?;
    }
    let counts = serde_json::to_value(&summary.event_counts)?;
    if let Some(counts) = counts.as_object() {
        let listed: Vec<String> = counts
            .iter()
            .filter(|(_, count)| count.as_u64() != Some(0))
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        writeln!(out, "event mix   {}", listed.join(", "))?;
    }
    for reason in &summary.rejected_reasons {
        writeln!(
            out,
            "rejected    {} x{} (first at line {})",
            reason.reason, reason.count, reason.first_line
        )?;
    }
    for example in parsed.log.diagnostics.examples.iter().take(5) {
        writeln!(out, "  {}", example.render(&name))?;
    }
    for warning in &summary.warnings {
        writeln!(out, "warning     {warning}")?;
    }
    Ok(())
}
