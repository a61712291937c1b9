//! What a converge needs first: each selected service's image, built or pulled according to
//! its `pull_policy` (or `--pull`) and `--build`/`--no-build`. Used by `up`, `create`, `run`,
//! `wharf test` and the library's [`crate::stack::Stack`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;

use super::registry::{self, Need, Policy};
use super::{BuildError, BuildOptions, fail};
use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::progress::Report;

/// What `up`, `create` and `run` were told about images (`--build`, `--no-build`, `--pull`).
#[derive(Debug, Clone, Default)]
pub struct ImageFlags {
    pub build: bool,
    pub no_build: bool,
    /// `--pull always|missing|never|build`: overrides every service's `pull_policy`.
    pub pull: Option<String>,
    pub quiet: bool,
    /// Skip builds whose inputs did not change since the image was built (the CLI does).
    pub skip_unchanged: bool,
}

/// The services named (all when none), with their dependencies when asked.
pub fn selection(project: &Project, named: &[String], deps: bool) -> Result<Vec<String>, BuildError> {
    for s in named {
        if !project.services.contains_key(s) {
            return Err(fail(s, "no such service".into(), None));
        }
    }
    Ok(match (named.is_empty(), deps) {
        (true, _) => project.services.keys().cloned().collect(),
        (false, true) => crate::graph::Graph::new(project).with_dependencies(named).into_iter().collect(),
        (false, false) => named.to_vec(),
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Builds and pulls what `services` need before a converge, by policy; images already there
/// and not due are left alone (one inspect per image, concurrently).
pub async fn images<E: Engine>(
    e: &E,
    project: &Project,
    env: &IndexMap<String, String>,
    services: &[String],
    flags: &ImageFlags,
    parallel: usize,
    r: &Report,
) -> Result<(), BuildError> {
    let forced = flags.pull.as_deref().map(Policy::parse).transpose().map_err(|m| BuildError {
        subject: "--pull".into(),
        message: m.to_string(),
        hint: None,
    })?;
    let selected = selection(project, services, true)?;
    let image_of = |name: &String| crate::plan::spec::image_name(&project.name, name, &project.services[name]);
    // One inspect per image, however many services share it.
    let mut images: Vec<String> = selected.iter().map(image_of).collect();
    images.sort();
    images.dedup();
    let found = futures::future::try_join_all(images.iter().map(|i| e.image_info(i)))
        .await
        .map_err(|e| BuildError { subject: "images".into(), message: e.to_string(), hint: e.hint() })?;
    let infos: std::collections::HashMap<&String, Option<crate::engine::ImageInfo>> =
        images.iter().zip(found).collect();
    let mut to_build = Vec::new();
    // The images to pull, with the services that need each (for the message if a pull fails).
    let mut to_pull: IndexMap<String, Vec<String>> = IndexMap::new();
    for name in selected {
        let image = image_of(&name);
        let info = infos.get(&image).cloned().flatten();
        let svc = &project.services[&name];
        let policy = match forced {
            Some(p) => p,
            None => Policy::of(svc).map_err(|m| fail(&name, m.to_string(), None))?,
        };
        let age = info.map(|i| Duration::from_secs(now().saturating_sub(i.tagged.max(0) as u64)));
        match registry::decide(policy, svc.build.is_some(), age, flags.build, flags.no_build) {
            Need::Nothing => {}
            Need::Build => to_build.push(name),
            Need::Pull => to_pull.entry(image).or_default().push(name),
            Need::Missing(why) => {
                return Err(fail(
                    &name,
                    format!("image `{image}` is missing: {why}"),
                    Some("build or pull it first (`wharf build`, `wharf pull`), or change the policy".into()),
                ));
            }
        }
    }
    // An image another service builds is not pulled: the build makes it (two services sharing
    // one built image, as compose).
    let built: std::collections::HashSet<String> = to_build.iter().map(image_of).collect();
    to_pull.retain(|image, _| !built.contains(image));
    let pulls = futures::future::join_all(to_pull.keys().map(|image| registry::pull(e, image, flags.quiet, r)));
    let opts = BuildOptions { parallel, skip_unchanged: flags.skip_unchanged, ..BuildOptions::default() };
    let builds = crate::build::build_services(e, project, &to_build, env, &opts, r);
    let (pulled, built) = futures::future::join(pulls, builds).await;
    built?;
    for ((image, services), result) in to_pull.iter().zip(pulled) {
        result.map_err(|err| {
            let mut e = pull_error(image, err);
            let services = services.join("`, `");
            e.subject = format!("service `{services}` needs image `{image}`");
            e.message = e.message.replacen("cannot pull: ", "it is not present and cannot be pulled: ", 1);
            e
        })?;
    }
    Ok(())
}

/// A failed pull: the image, the registry's answer, and what to do.
pub fn pull_error(image: &str, e: EngineError) -> BuildError {
    let text = e.to_string();
    let unreachable =
        ["connection refused", "no such host", "i/o timeout", "dial tcp"].iter().any(|s| text.contains(s));
    let hint = if unreachable {
        format!(
            "no registry answers at `{}`: start it, or build or load the image locally",
            crate::engine::reference::registry(image)
        )
    } else {
        "check the image name and tag, and your login (`docker login`) for that registry".into()
    };
    BuildError { subject: format!("image `{image}`"), message: format!("cannot pull: {text}"), hint: Some(hint) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;

    fn project(yaml: &str) -> (Project, tempfile::TempDir) {
        crate::build::tests::project(yaml, &[("app/Dockerfile", "FROM scratch\n")])
    }

    fn ops(e: &FakeEngine) -> Vec<String> {
        e.calls().into_iter().filter(|c| c.starts_with("build_image") || c.starts_with("pull_image")).collect()
    }

    #[tokio::test]
    async fn missing_images_are_built_or_pulled_and_present_ones_left_alone() {
        let (p, _dir) = project(
            "services:\n  web: {build: ./app}\n  db: {image: 'reg.example:5000/db:1'}\n  cache: {image: 'here:1'}\n",
        );
        let e = FakeEngine::new().with_image("here:1").with_registry_image("reg.example:5000/db:1");
        let env = IndexMap::new();
        images(&e, &p, &env, &[], &ImageFlags::default(), 2, &Report::silent()).await.unwrap();
        assert_eq!(ops(&e), ["pull_image reg.example:5000/db:1", "build_image p-web"]);
        // Now all present: nothing is fetched; `--build` rebuilds only what can be built.
        images(&e, &p, &env, &[], &ImageFlags::default(), 2, &Report::silent()).await.unwrap();
        assert_eq!(ops(&e).len(), 2);
        images(&e, &p, &env, &[], &ImageFlags { build: true, ..Default::default() }, 2, &Report::silent())
            .await
            .unwrap();
        assert_eq!(ops(&e)[2..], ["build_image p-web"]);
        // `--pull always` pulls again.
        let always = ImageFlags { pull: Some("always".into()), ..Default::default() };
        images(&e, &p, &env, &["db".to_string()], &always, 2, &Report::silent()).await.unwrap();
        assert_eq!(ops(&e)[3..], ["pull_image reg.example:5000/db:1"]);
    }

    #[tokio::test]
    async fn a_failed_pull_names_the_image_and_what_to_do() {
        let (p, _dir) = project("services:\n  db: {image: 'reg.example:5000/none:1'}\n");
        let e = FakeEngine::new();
        let err =
            images(&e, &p, &IndexMap::new(), &[], &ImageFlags::default(), 2, &Report::silent()).await.unwrap_err();
        assert_eq!(err.subject, "service `db` needs image `reg.example:5000/none:1`");
        assert!(err.message.starts_with("it is not present and cannot be pulled: "), "{err}");
        assert!(err.message.contains("manifest unknown"), "{err}");
        assert!(err.hint.unwrap().contains("docker login"));
    }
}
