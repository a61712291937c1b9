//! `cp`: arguments in, [`crate::ops::copy`] called, a dry run's host write printed.

use std::process::ExitCode;

use clap::Args;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::ops::copy::{CopyRequest, Place};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Index of the container if service has multiple replicas (default: every replica when
    /// copying into the service, the first when copying from it)
    #[arg(long)]
    pub index: Option<u32>,
    /// `SERVICE:SRC_PATH` or a host path
    pub source: String,
    /// `SERVICE:DEST_PATH` or a host path
    pub destination: String,
}

pub fn cp(g: &GlobalArgs, a: &CpArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&[], false)?.project;
    let req = CopyRequest {
        from: Place::parse(&project, &a.source),
        to: Place::parse(&project, &a.destination),
        index: a.index,
        archive: a.archive,
        dry_run: g.dry_run,
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let copied = crate::ops::copy::copy(&engine, &project, &req).await.map_err(|e| CliError::Message {
            hint: e.hint(),
            message: e.to_string(),
            code: 1,
        })?;
        if let (crate::ops::copy::Copied::ToHost { container }, true, Place::Service { path, .. }) =
            (copied, g.dry_run, &req.from)
        {
            // The one write that is not the engine's: the host's files.
            let what = format!("copy from container {container} to host {}", a.destination);
            println!("{what:<48} (dry run: {path})");
        }
        Ok(ExitCode::SUCCESS)
    })
}
