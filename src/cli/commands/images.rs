//! `build`, `pull`, `push`: arguments in, [`crate::ops::images`] called, failed transfers
//! reported (as warnings with `--ignore-*-failures`).

use std::process::ExitCode;

use clap::Args;

use crate::build::BuildOptions;
use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::ops::images;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Set build-time variables for services (`KEY=VALUE`, or `KEY` to take it from the environment)
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    pub quiet: bool,
    /// Also build dependencies (transitively)
    #[arg(long)]
    pub with_dependencies: bool,
    /// Push the service images once built (as `push` would)
    #[arg(long)]
    pub push: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Apply pull policy ("missing"|"always")
    #[arg(long, value_parser = ["missing", "always"])]
    pub policy: Option<String>,
    /// Also pull services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Ignore images that can be built (the default unless such a service is named)
    #[arg(long)]
    pub ignore_buildable: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Also push images of services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    pub service: Vec<String>,
}

pub(crate) fn parallel(g: &GlobalArgs) -> usize {
    if g.parallel > 0 { g.parallel as usize } else { 4 }
}

pub fn build(g: &GlobalArgs, a: &BuildArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(&a.service, false)?;
    let opts = BuildOptions {
        no_cache: a.no_cache,
        pull: a.pull,
        args: a.build_arg.clone(),
        show_output: !a.quiet && !g.shown.quiet(),
        parallel: parallel(g),
        // A dry run records no fingerprint, so it skips nothing either.
        skip_unchanged: !g.dry_run,
        ..BuildOptions::default()
    };
    let (project, report) = (&loaded.project, g.report());
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let built =
            images::build(&engine, project, &a.service, a.with_dependencies, &loaded.environment, &opts, &report)
                .await?;
        let pushed = match a.push {
            true => images::push(&engine, project, &built, false, g.shown.quiet(), &report).await?,
            false => Vec::new(),
        };
        g.shown.finish();
        outcome(pushed, false, "push")
    })
}

pub fn pull(g: &GlobalArgs, a: &PullArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let req = images::PullRequest {
        services: a.service.clone(),
        include_deps: a.include_deps,
        ignore_buildable: a.ignore_buildable,
        only_missing: a.policy.as_deref() == Some("missing"),
        quiet: a.quiet || g.shown.quiet(),
        report: g.report(),
    };
    runtime()?.block_on(async {
        let pulled = images::pull(&g.engine().await?, &project, &req).await?;
        g.shown.finish();
        outcome(pulled, a.ignore_pull_failures, "pull")
    })
}

pub fn push(g: &GlobalArgs, a: &PushArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let quiet = a.quiet || g.shown.quiet();
        let pushed = images::push(&engine, &project, &a.service, a.include_deps, quiet, &g.report()).await?;
        g.shown.finish();
        outcome(pushed, a.ignore_push_failures, "push")
    })
}

/// Failed transfers: warnings when `ignore`, else the first one is the error.
pub(crate) fn outcome(transfers: images::Transfers, ignore: bool, verb: &str) -> Result<ExitCode, CliError> {
    let mut first = None;
    for (image, r) in transfers {
        if let Err(e) = r {
            if ignore {
                eprintln!("warning: cannot {verb} `{image}`: {e}");
            } else if first.is_none() {
                first = Some(CliError::from(images::failure(&image, verb, e)));
            }
        }
    }
    first.map_or(Ok(ExitCode::SUCCESS), Err)
}
