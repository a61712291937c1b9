//! `build`, `pull`, `push`, and what `up`/`create`/`run` do about images before converging:
//! build the missing or asked-for ones, pull by each service's `pull_policy`.

use std::process::ExitCode;

use clap::Args;

use super::lifecycle::{engine_err, runtime};
use crate::build::ensure::{pull_error, selection};
use crate::build::registry;
use crate::build::{BuildError, BuildOptions};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::Engine;
use crate::engine::docker::DockerEngine;

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

pub(crate) fn build_err(e: BuildError) -> CliError {
    CliError::Message { message: e.to_string(), hint: e.hint, code: 1 }
}

fn parallel(g: &GlobalArgs) -> usize {
    if g.parallel > 0 { g.parallel as usize } else { 4 }
}

fn quiet() -> bool {
    crate::progress::mode() == crate::progress::Mode::Quiet
}

pub fn build(g: &GlobalArgs, a: &BuildArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(&a.service, false)?;
    let project = loaded.project;
    let services = selection(&project, &a.service, a.with_dependencies).map_err(build_err)?;
    if g.dry_run {
        for s in services.iter().filter(|s| project.services[*s].build.is_some()) {
            println!("build {}", crate::plan::spec::image_name(&project.name, s, &project.services[s]));
        }
        if a.push {
            pushed(&project, &services).iter().for_each(|i| println!("push {i}"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = BuildOptions {
        no_cache: a.no_cache,
        pull: a.pull,
        args: a.build_arg.clone(),
        show_output: !a.quiet && crate::progress::mode() != crate::progress::Mode::Quiet,
        parallel: parallel(g),
        skip_unchanged: true,
        ..BuildOptions::default()
    };
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        crate::build::build_services(&engine, &project, &services, &loaded.environment, &opts)
            .await
            .map_err(build_err)?;
        if a.push {
            return push_all(&engine, &pushed(&project, &services), quiet(), false).await;
        }
        crate::progress::finish();
        Ok(ExitCode::SUCCESS)
    })
}

pub fn pull(g: &GlobalArgs, a: &PullArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let services = selection(&project, &a.service, a.include_deps).map_err(build_err)?;
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
    if g.dry_run {
        images.iter().for_each(|i| println!("pull {i}"));
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        let wanted = futures::future::try_join_all(images.iter().map(|i| {
            let e = &engine;
            async move {
                let missing = a.policy.as_deref() != Some("missing") || e.image_id(i).await?.is_none();
                Ok::<_, crate::engine::EngineError>(missing.then(|| i.clone()))
            }
        }))
        .await
        .map_err(engine_err)?;
        let wanted: Vec<String> = wanted.into_iter().flatten().collect();
        let results =
            futures::future::join_all(wanted.iter().map(|i| registry::pull(&engine, i, a.quiet || quiet()))).await;
        crate::progress::finish();
        transfer_outcome(&wanted, results, a.ignore_pull_failures, "pull")
    })
}

pub fn push(g: &GlobalArgs, a: &PushArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let services = selection(&project, &a.service, a.include_deps).map_err(build_err)?;
    let images = pushed(&project, &services);
    if g.dry_run {
        images.iter().for_each(|i| println!("push {i}"));
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        push_all(&engine, &images, a.quiet || quiet(), a.ignore_push_failures).await
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

async fn push_all(e: &DockerEngine, images: &[String], quiet: bool, ignore: bool) -> Result<ExitCode, CliError> {
    let results = futures::future::join_all(images.iter().map(|i| registry::push(e, i, quiet))).await;
    crate::progress::finish();
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
                    build_err(pull_error(image, e))
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
