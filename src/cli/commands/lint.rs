//! `wharf lint`: secrets written where they can be read, and common mistakes, at file:line:col.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::lint::{Severity, report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Output format (`sarif` for code scanning, e.g. GitHub's)
    #[arg(long, value_enum, default_value = "text")]
    pub format: LintFormat,
    /// Exit non-zero when a finding at or above this severity is present
    #[arg(long, value_enum, default_value = "error")]
    pub severity: Severity,
    /// Don't ask the engine about the project's images
    #[arg(long)]
    pub no_images: bool,
}

/// How long the engine may take to describe the project's images before they are skipped.
const IMAGES_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

pub fn run(g: &GlobalArgs, a: &LintArgs) -> Result<ExitCode, CliError> {
    // The loader's warnings (unset variables, obsolete keys) are `config`'s to print.
    let project = crate::load::load(&g.load_options(&[], false)).map_err(CliError::Load)?.project;
    let mut notes = Vec::new();
    let outcome = runtime()?.block_on(async {
        let engine = if a.no_images {
            None
        } else {
            match tokio::time::timeout(IMAGES_DEADLINE, g.engine()).await {
                Ok(Ok(e)) => Some(e),
                Ok(Err(e)) => {
                    notes.push(format!("images not checked: {}", e.render().trim().trim_start_matches("error: ")));
                    None
                }
                Err(_) => {
                    notes.push("images not checked: the engine did not answer".to_string());
                    None
                }
            }
        };
        match tokio::time::timeout(IMAGES_DEADLINE, crate::ops::lint::lint(&project, engine.as_ref())).await {
            Ok(o) => o,
            // The files alone, then: a wedged engine does not hold up the rules that need none.
            Err(_) => {
                notes.push("images not checked: the engine did not answer in time".to_string());
                crate::ops::lint::lint::<crate::cli::context::CliEngine>(&project, None).await
            }
        }
    });
    notes.extend(outcome.notes.iter().cloned());
    for n in &notes {
        eprintln!("note: {n}");
    }
    match a.format {
        LintFormat::Text => print!("{}", report::text(&outcome.findings, g.color())),
        LintFormat::Json => print!("{}", report::json(&outcome.findings)),
        LintFormat::Sarif => print!("{}", report::sarif(&outcome.findings)),
    }
    let failing = outcome.findings.iter().any(|f| f.rule.severity >= a.severity);
    Ok(if failing { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
