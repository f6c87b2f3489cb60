//! `behavior-lens`: the native command line for offline batch work.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "behavior-lens",
    version,
    about = "Analyze e-commerce behavior logs on your own machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a log and print its format, counts, rejected rows and warnings.
    Inspect(cli::inspect::InspectArgs),
    /// Print behavior sentences, one user (or session) per line.
    Sequences(cli::sequences::SequencesArgs),
    /// Run the full analysis and write report.json to a folder.
    Analyze(cli::analyze::AnalyzeArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Sequences(args) => cli::sequences::run(args),
        Command::Analyze(args) => cli::analyze::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
