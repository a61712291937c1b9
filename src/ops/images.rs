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

/// One image `pull` pulls, and whether a service that wants it can build it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToPull {
    pub image: String,
    /// The first selected service that wants it.
    pub service: String,
    pub buildable: bool,
    /// The service's `pull_policy` says to pull only when the image is not present.
    pub if_missing: bool,
}

/// The images `pull` pulls, as compose: every selected service with an `image:` (a build-only
/// service has nothing to pull), except `pull_policy: never` or `build`, and buildable ones
/// under `--ignore-buildable`; once each.
pub fn to_pull(project: &Project, req: &PullRequest) -> Result<Vec<ToPull>, Error> {
    use crate::build::registry::Policy;
    let services = selection(project, &req.services, req.include_deps)?;
    let mut out: Vec<ToPull> = Vec::new();
    for s in &services {
        let svc = &project.services[s];
        let Some(image) = &svc.image else { continue };
        let policy = svc.pull_policy.as_deref().and_then(|p| Policy::parse(p).ok());
        if matches!(policy, Some(Policy::Never | Policy::Build)) {
            continue;
        }
        let buildable = svc.build.is_some();
        if buildable && req.ignore_buildable {
            continue;
        }
        if out.iter().any(|p| &p.image == image) {
            continue;
        }
        let if_missing = req.only_missing || matches!(policy, Some(Policy::Missing));
        out.push(ToPull { image: image.clone(), service: s.clone(), buildable, if_missing });
    }
    Ok(out)
}

/// `pull`: every image at once. An image a service could build that cannot be pulled fails
/// too, and is named in a warning that says to build it, as compose does.
pub async fn pull<E: Engine>(engine: &E, project: &Project, req: &PullRequest) -> Result<Transfers, Error> {
    // One lookup per image that is pulled only when missing.
    let wanted = futures::future::try_join_all(to_pull(project, req)?.into_iter().map(|p| async move {
        let missing = !p.if_missing || engine.image_id(&p.image).await?.is_none();
        Ok::<_, EngineError>(missing.then_some(p))
    }))
    .await?;
    let wanted: Vec<ToPull> = wanted.into_iter().flatten().collect();
    let results =
        futures::future::join_all(wanted.iter().map(|p| registry::pull(engine, &p.image, req.quiet, &req.report)))
            .await;
    let mut must_build = Vec::new();
    let mut out = Vec::new();
    for (p, r) in wanted.into_iter().zip(results) {
        if r.is_err() && p.buildable {
            must_build.push(p.service);
        }
        out.push((p.image, r));
    }
    if !must_build.is_empty() {
        req.report.warning(&format!(
            "Some service image(s) must be built from source by running: wharf build {}",
            must_build.join(" ")
        ));
    }
    Ok(out)
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
