//! `watch [SERVICE…]`: converge (unless `--no-up`), then run the `develop.watch` dev loop until
//! Ctrl-C; the containers keep running afterwards.

use std::process::ExitCode;

use clap::Args;

use crate::cli::context::{ctrl_c, runtime};
use crate::cli::{CliError, GlobalArgs};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Hide build output
    #[arg(long)]
    pub quiet: bool,
    /// Prune dangling images on rebuild
    #[arg(long)]
    pub prune: bool,
    pub service: Vec<String>,
}

pub fn watch(g: &GlobalArgs, a: &WatchArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(&a.service, false)?;
    // The rules are checked before anything is started.
    crate::watch::rules::compile(&loaded.project, &a.service).map_err(CliError::msg)?;
    if !a.no_up {
        super::lifecycle::up(g, &super::lifecycle::UpArgs::detached(a.service.clone()), false)?;
    }
    let opts = crate::watch::WatchOptions {
        quiet: a.quiet,
        prune: a.prune,
        environment: loaded.environment.clone(),
        report: g.report(),
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        crate::watch::run(&engine, &loaded.project, &a.service, &opts, ctrl_c()).await.map_err(CliError::msg)?;
        Ok(ExitCode::SUCCESS)
    })
}
