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
    crate::watch::rules::compile(&loaded.project, &a.service)?;
    let opts = crate::ops::watch::WatchOptions {
        quiet: a.quiet,
        prune: a.prune,
        environment: loaded.environment.clone(),
        report: g.report(),
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        if !a.no_up {
            // Converged as `up -d SERVICE…` would.
            let env = |k: &str| loaded.environment.get(k).is_some_and(|v| crate::load::truthy(v));
            let req = crate::ops::up::UpRequest {
                options: crate::plan::UpOptions {
                    services: a.service.clone(),
                    ignore_orphans: env("COMPOSE_IGNORE_ORPHANS"),
                    ..Default::default()
                },
                images: crate::build::ensure::ImageFlags { skip_unchanged: true, ..Default::default() },
                ensure_images: !g.dry_run,
                environment: loaded.environment.clone(),
                parallel: g.parallel(),
                lock: (!g.dry_run).then(crate::lock::default_endpoint),
                report: g.report(),
                wait: None,
            };
            if let Some(prepared) = super::lifecycle::prepare_shown(g, &engine, &loaded.project, &req).await? {
                crate::ops::up::apply(&engine, &loaded.project, prepared, &req).await?;
            }
        }
        crate::ops::watch::run(&engine, &loaded.project, &a.service, &opts, ctrl_c()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
