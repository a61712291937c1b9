//! `build`, `pull` and `push` of a project's images: which images each verb works on (as
//! compose decides it), and the transfers, each image's outcome reported separately.

use super::Error;
use crate::build::ensure::{pull_error, selection};
use crate::build::{BuildOptions, registry};
use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::progress::Report;

/// Builds the images of `services` (all when empty; with `with_dependencies`, theirs too);
/// returns the services built.
pub async fn build<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
    with_dependencies: bool,
    environment: &indexmap::IndexMap<String, String>,
    opts: &BuildOptions,
    report: &Report,
) -> Result<Vec<String>, Error> {
    let services = selection(project, services, with_dependencies)?;
    crate::build::build_services(engine, project, &services, environment, opts, report).await?;
    Ok(services)
}

/// `pull`, resolved.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    pub services: Vec<String>,
    pub include_deps: bool,
    /// `--ignore-buildable`: a named service that builds is not pulled either.
    pub ignore_buildable: bool,
    /// `--policy missing`: only images not present.
    pub only_missing: bool,
    pub quiet: bool,
    pub report: Report,
}

/// Each image's transfer, in order.
pub type Transfers = Vec<(String, Result<(), EngineError>)>;

/// The images `pull` pulls: those of the selected services, except buildable ones unless
/// named (and not `ignore_buildable`), once each.
pub fn to_pull(project: &Project, req: &PullRequest) -> Result<Vec<String>, Error> {
    let services = selection(project, &req.services, req.include_deps)?;
    let mut images: Vec<String> = Vec::new();
    for s in &services {
        let svc = &project.services[s];
        if svc.build.is_some() && (!req.services.contains(s) || req.ignore_buildable) {
            continue;
        }
        let image = crate::plan::spec::image_name(&project.name, s, svc);
        if !images.contains(&image) {
            images.push(image);
        }
    }
    Ok(images)
}

/// `pull`: every image at once.
pub async fn pull<E: Engine>(engine: &E, project: &Project, req: &PullRequest) -> Result<Transfers, Error> {
    // One lookup per image, all at once (`--policy missing` only).
    let wanted = futures::future::try_join_all(to_pull(project, req)?.into_iter().map(|i| async move {
        let missing = !req.only_missing || engine.image_id(&i).await?.is_none();
        Ok::<_, EngineError>(missing.then_some(i))
    }))
    .await?;
    let images: Vec<String> = wanted.into_iter().flatten().collect();
    let results =
        futures::future::join_all(images.iter().map(|i| registry::pull(engine, i, req.quiet, &req.report))).await;
    Ok(images.into_iter().zip(results).collect())
}

/// What `push` pushes, as compose: the images of services with a `build:` section and an
/// `image:` name, plus their `build.tags`, once each.
pub fn to_push(project: &Project, services: &[String]) -> Vec<String> {
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

/// `push` of `services` (all when empty; with `include_deps`, their dependencies' too).
pub async fn push<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
    include_deps: bool,
    quiet: bool,
    report: &Report,
) -> Result<Transfers, Error> {
    let images = to_push(project, &selection(project, services, include_deps)?);
    let results = futures::future::join_all(images.iter().map(|i| registry::push(engine, i, quiet, report))).await;
    Ok(images.into_iter().zip(results).collect())
}

/// A failed transfer as an error that says what to do: a pull's names the registry problem,
/// a push's the login.
pub fn failure(image: &str, verb: &str, error: EngineError) -> Error {
    if verb == "pull" {
        return Error::Build(pull_error(image, error));
    }
    Error::Push { image: image.to_string(), error }
}
