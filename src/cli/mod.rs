//! Subcommands of the native binary. Each parses its arguments, calls the
//! library, and prints; none contains analysis logic.

pub mod analyze;
pub mod convert;
pub mod input;
pub mod inspect;
pub mod lm;
pub mod sequences;
pub mod train;

/// Any error a subcommand reports to the terminal.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;
