//! `wharf version`.

use std::process::ExitCode;

use clap::Args;

use crate::cli::CliError;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output (pretty|json)
    #[arg(long, default_value = "pretty")]
    pub format: String,
    /// Shows only the version number
    #[arg(long)]
    pub short: bool,
}

pub fn run(a: &VersionArgs) -> Result<ExitCode, CliError> {
    let v = env!("CARGO_PKG_VERSION");
    if a.short {
        println!("{v}");
    } else if a.format == "json" {
        println!("{}", serde_json::json!({ "version": v }));
    } else {
        println!("wharf version {v}");
    }
    Ok(ExitCode::SUCCESS)
}
