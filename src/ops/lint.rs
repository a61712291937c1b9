//! `wharf lint`'s facts from the outside world: which of the files the project names git
//! tracks, and the config and history of the project's local images. The rules themselves are
//! pure ([`crate::lint`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::engine::{Engine, EngineError};
use crate::lint::{Facts, Finding, ImageFacts, Source};
use crate::model::Project;

/// What `lint` found, and what it could not look at.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// `images not checked: …`, `git not found: …`.
    pub notes: Vec<String>,
}

/// The project's files as written (with what they include and extend).
pub fn sources(project: &Project) -> Vec<Source> {
    crate::lint::sources::read(&project.config_files, &project.working_dir)
}

/// Every rule. `engine` is `None` when there is none to ask (images are then not checked).
pub async fn lint<E: Engine>(project: &Project, engine: Option<&E>) -> Outcome {
    let sources = sources(project);
    let mut notes = Vec::new();
    let mut candidates: Vec<PathBuf> = crate::lint::rules::env_files(&sources).into_iter().map(|(f, _, _)| f).collect();
    candidates.extend(project.secrets.values().filter_map(|s| s.file.as_ref().map(PathBuf::from)));
    let tracked = tracked(&candidates);
    if tracked.is_none() && !candidates.is_empty() {
        notes.push("env files and secret files not checked against git: git is not installed".into());
    }
    let images = match engine {
        Some(e) => image_facts(e, project).await.unwrap_or_else(|err| {
            notes.push(format!("images not checked: {err}"));
            Vec::new()
        }),
        None => Vec::new(),
    };
    let facts = Facts { tracked, images, contexts: true };
    Outcome { findings: crate::lint::check(project, &sources, &facts), notes }
}

/// The secret rules that need only the files (what `up` runs before it starts anything).
pub fn quick(project: &Project) -> Vec<Finding> {
    crate::lint::quick(&sources(project))
}

/// Which of `files` git tracks; `None` when git is not installed. A file outside any work
/// tree is not tracked.
pub fn tracked(files: &[PathBuf]) -> Option<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    for f in files.iter().filter(|f| f.is_file()) {
        let (Some(dir), Some(name)) = (f.parent(), f.file_name()) else { continue };
        let listed = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["ls-files", "-z", "--"])
            .arg(name)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if listed.status.success() && !listed.stdout.is_empty() {
            out.insert(f.clone());
        }
    }
    Some(out)
}

/// The local image of each service: config for all, history for those the project builds.
pub async fn image_facts<E: Engine>(engine: &E, project: &Project) -> Result<Vec<ImageFacts>, EngineError> {
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        let image = crate::plan::spec::image_name(&project.name, name, svc);
        let Some(info) = engine.image_info(&image).await? else { continue };
        let built = svc.build.is_some();
        let history = if built { engine.image_history(&image).await? } else { Vec::new() };
        out.push(ImageFacts {
            service: name.clone(),
            image,
            built,
            env: info.env,
            labels: info.labels.into_iter().collect(),
            history,
            healthcheck: info.healthcheck,
        });
    }
    Ok(out)
}
