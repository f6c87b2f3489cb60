//! `behavior-lens`: the native command line for offline batch work. On
//! wasm32 the binary is empty: the page uses the library through `wasm.rs`.

#![cfg_attr(target_arch = "wasm32", allow(unused))]

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
use clap::{Parser, Subcommand};
#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
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

#[cfg(not(target_arch = "wasm32"))]
#[derive(Subcommand)]
enum Command {
    /// Read a log and print its format, counts, rejected rows and warnings.
    Inspect(cli::inspect::InspectArgs),
    /// Print behavior sentences, one user (or session) per line.
    Sequences(cli::sequences::SequencesArgs),
    /// Run the full analysis and write report.json to a folder.
    Analyze(cli::analyze::AnalyzeArgs),
    /// Run a GPT-2 model on one input and print the last hidden state and logits.
    Lm(cli::lm::LmArgs),
    /// Train a behavior model (GPT-2) on a log and save it as GGUF.
    Train(cli::train::TrainArgs),
    /// Convert a Hugging Face GPT-2 folder or a GGUF file to GGUF (f32, f16, q8_0, q4_0, q4k).
    Convert(cli::convert::ConvertArgs),
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Sequences(args) => cli::sequences::run(args),
        Command::Analyze(args) => cli::analyze::run(args),
        Command::Lm(args) => cli::lm::run(args),
        Command::Convert(args) => cli::convert::run(args),
        Command::Train(args) => cli::train::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader such as `head` closed the pipe after reading what it
        // needed, so the command succeeded.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
