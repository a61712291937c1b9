//! `build`, `pull`, `push`, and what `up`/`create`/`run` do about images before converging:
//! build the missing or asked-for ones, pull by each service's `pull_policy`.

use std::process::ExitCode;

use clap::Args;

use crate::build::BuildOptions;
use crate::build::ensure::{pull_error, selection};
use crate::build::registry;
use crate::cli::context::{CliEngine, runtime};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::Engine;

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

fn parallel(g: &GlobalArgs) -> usize {
    if g.parallel > 0 { g.parallel as usize } else { 4 }
}

pub fn build(g: &GlobalArgs, a: &BuildArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(&a.service, false)?;
    let project = loaded.project;
    let services = selection(&project, &a.service, a.with_dependencies)?;
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
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        crate::build::build_services(&engine, &project, &services, &loaded.environment, &opts, &g.report()).await?;
        if a.push {
            return push_all(&engine, g, &pushed(&project, &services), g.shown.quiet(), false).await;
        }
        g.shown.finish();
        Ok(ExitCode::SUCCESS)
    })
}

pub fn pull(g: &GlobalArgs, a: &PullArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let services = selection(&project, &a.service, a.include_deps)?;
    // Buildable services are pulled only when named (and not told to ignore them).
    let images: Vec<String> = services
        .iter()
        .filter(|s| project.services[*s].build.is_none() || (a.service.contains(s) && !a.ignore_buildable))
        .map(|s| crate::plan::spec::image_name(&project.name, s, &project.services[s]))
        .fold(Vec::new(), |mut v, i| {
            if !v.contains(&i) {
                v.push(i);
            }
            v
        });
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let wanted = futures::future::try_join_all(images.iter().map(|i| {
            let e = &engine;
            async move {
                let missing = a.policy.as_deref() != Some("missing") || e.image_id(i).await?.is_none();
                Ok::<_, crate::engine::EngineError>(missing.then(|| i.clone()))
            }
        }))
        .await?;
        let wanted: Vec<String> = wanted.into_iter().flatten().collect();
        let report = g.report();
        let results = futures::future::join_all(
            wanted.iter().map(|i| registry::pull(&engine, i, a.quiet || g.shown.quiet(), &report)),
        )
        .await;
        g.shown.finish();
        transfer_outcome(&wanted, results, a.ignore_pull_failures, "pull")
    })
}

pub fn push(g: &GlobalArgs, a: &PushArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let services = selection(&project, &a.service, a.include_deps)?;
    let images = pushed(&project, &services);
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        push_all(&engine, g, &images, a.quiet || g.shown.quiet(), a.ignore_push_failures).await
    })
}

/// What `push` pushes, as compose: the images of services with a `build:` section and an
/// `image:` name, plus their `build.tags`.
fn pushed(project: &crate::model::Project, services: &[String]) -> Vec<String> {
    let mut images = Vec::new();
    for s in services {
        let svc = &project.services[s];
        let (Some(b), Some(image)) = (&svc.build, &svc.image) else { continue };
        for i in std::iter::once(image).chain(&b.tags) {
            if !images.contains(i) {
                images.push(i.clone());
            }
        }
    }
    images
}

async fn push_all(
    e: &CliEngine,
    g: &GlobalArgs,
    images: &[String],
    quiet: bool,
    ignore: bool,
) -> Result<ExitCode, CliError> {
    let report = g.report();
    let results = futures::future::join_all(images.iter().map(|i| registry::push(e, i, quiet, &report))).await;
    g.shown.finish();
    transfer_outcome(images, results, ignore, "push")
}

fn transfer_outcome(
    images: &[String],
    results: Vec<Result<(), crate::engine::EngineError>>,
    ignore: bool,
    verb: &str,
) -> Result<ExitCode, CliError> {
    let mut first = None;
    for (image, r) in images.iter().zip(results) {
        if let Err(e) = r {
            if ignore {
                eprintln!("warning: cannot {verb} `{image}`: {e}");
            } else if first.is_none() {
                first = Some(if verb == "pull" {
                    CliError::from(pull_error(image, e))
                } else {
                    CliError::Message {
                        message: format!("cannot push `{image}`: {e}"),
                        hint: Some("check the registry is reachable and your login (`docker login`)".into()),
                        code: 1,
                    }
                });
            }
        }
    }
    first.map_or(Ok(ExitCode::SUCCESS), Err)
}
