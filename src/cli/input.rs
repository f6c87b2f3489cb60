//! Arguments shared by every subcommand that reads a log.

use behavior_lens::pipeline::AnalyzeOptions;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct InputArgs {
    /// The event log: CSV, TSV, whitespace table, JSON Lines or behavior sentences.
    pub file: PathBuf,
    /// Read as this format instead of detecting it (taobao-userbehavior, rees46,
    /// tianchi-mobile, retailrocket, online-retail, instacart, cdnow,
    /// google-analytics, table, jsonl, sentences).
    #[arg(long)]
    pub format: Option<String>,
    /// Map columns to fields: user=COL,item=COL,event=COL,time=COL,category=COL,
    /// brand=COL,price=COL,quantity=COL,session=COL,order=COL (COL is a header
    /// name or a 1-based column number).
    #[arg(long)]
    pub map: Option<String>,
    /// Text encoding: auto, utf-8 or gb18030.
    #[arg(long, default_value = "auto")]
    pub encoding: String,
    /// Zone for times written without an offset (IANA name such as
    /// Asia/Shanghai, or an offset such as +08:00).
    #[arg(long, default_value = "UTC", allow_hyphen_values = true)]
    pub timezone: String,
    /// Read slash dates as D/M/YYYY instead of M/D/YYYY.
    #[arg(long)]
    pub day_first: bool,
    /// Keep rows that repeat an earlier row exactly instead of dropping them.
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Inactivity that ends a session, in minutes, when the log has no
    /// session or order column.
    #[arg(long, default_value_t = 30.0, allow_hyphen_values = true)]
    pub session_gap: f64,
}

impl InputArgs {
    pub fn options(&self, lang: Option<&str>) -> AnalyzeOptions {
        AnalyzeOptions {
            format: self.format.clone(),
            mapping: self.map.clone(),
            encoding: Some(self.encoding.clone()),
            timezone: Some(self.timezone.clone()),
            day_first: self.day_first,
            keep_duplicates: self.keep_duplicates,
            session_gap_minutes: Some(self.session_gap),
            lang: lang.map(str::to_string),
            ..AnalyzeOptions::default()
        }
    }

    /// Returns the file name shown in messages: the path as given.
    pub fn display_name(&self) -> String {
        self.file.display().to_string()
    }

    /// Reads the whole file, naming it in the error.
    pub fn read_bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.file)
            .map_err(|error| format!("cannot read {}: {error}", self.file.display()))
    }
}

/// Rejects an output path that is the input file itself.
pub fn reject_overwrite(input: &std::path::Path, output: &std::path::Path) -> Result<(), String> {
    let same = match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        (Ok(input), Ok(output)) => input == output,
        _ => false,
    };
    if same {
        return Err(format!(
            "{} is the input log; choose another output path",
            output.display()
        ));
    }
    Ok(())
}
