//! The operations on a project's existing containers that are more than one scheduler call:
//! `down` (the whole project, or only some services' containers), `wait` (until containers
//! exit; optionally then `down`), and which services `restart` touches.

use std::collections::HashSet;

use futures::StreamExt;

use super::Error;
use crate::engine::{Engine, EventKind, State};
use crate::model::Project;
use crate::model::labels::SERVICE;
use crate::progress::Report;
use crate::scheduler::{DownOptions, Rmi};

/// `down [SERVICE…]`, resolved.
#[derive(Debug, Clone, Default)]
pub struct DownRequest {
    /// Only these services' containers (networks and volumes are kept); all when empty.
    pub services: Vec<String>,
    /// `-v`: named and anonymous volumes too.
    pub volumes: bool,
    pub remove_orphans: bool,
    /// Stop timeout in seconds (else each service's grace period).
    pub timeout: Option<i64>,
    pub rmi: Option<Rmi>,
    /// Take the project's lock for this endpoint.
    pub lock: Option<String>,
    pub report: Report,
}

fn known(project: &Project, services: &[String]) -> Result<(), Error> {
    match services.iter().find(|s| !project.services.contains_key(*s)) {
        Some(s) => Err(Error::NoSuchService { service: s.clone() }),
        None => Ok(()),
    }
}

/// Stops and removes the project (or the named services' containers), dependents first.
pub async fn down<E: Engine>(engine: &E, project: &Project, req: &DownRequest) -> Result<(), Error> {
    known(project, &req.services)?;
    let _lock = super::lock(project, &req.lock)?;
    if !req.services.is_empty() {
        let list = engine.list_containers(&project.name).await?;
        let list = crate::plan::select::targets(project, list, &req.services);
        crate::scheduler::remove_in_order(engine, project, list, req.timeout, req.volumes, &req.report).await?;
        return Ok(());
    }
    let opts =
        DownOptions { volumes: req.volumes, remove_orphans: req.remove_orphans, timeout: req.timeout, rmi: req.rmi };
    Ok(crate::scheduler::down(engine, project, &opts, &req.report).await?)
}

/// A container `wait` saw end, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    pub id: String,
    pub code: i64,
}

/// `wait SERVICE…`: blocks until the services' containers (their one-offs too, as compose)
/// have exited; with `down_project`, until the first one has, then takes the project down.
/// The containers in the order they ended; the caller's exit code is the last one's, as
/// compose's. Unlike compose, a container that had already exited counts (compose refuses when
/// none is running, which makes `up -d` followed by `wait` a race for a short job).
pub async fn wait<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
    down_project: Option<&DownRequest>,
) -> Result<Vec<Exited>, Error> {
    let mut events = engine.events(&project.name);
    let list: Vec<_> = engine
        .list_containers(&project.name)
        .await?
        .into_iter()
        .filter(|c| services.iter().any(|s| c.label(SERVICE) == Some(s.as_str())))
        .collect();
    if list.is_empty() {
        return Err(Error::NoContainer { project: project.name.clone(), services: services.to_vec() });
    }
    let mut ended = Vec::new();
    let mut running = HashSet::new();
    for c in &list {
        let d = engine.inspect_container(&c.id).await?;
        match d.state {
            State::Running | State::Restarting | State::Paused | State::Created => {
                running.insert(c.id.clone());
            }
            _ => ended.push(Exited { id: c.id.clone(), code: d.exit_code.unwrap_or(0) }),
        }
    }
    // With `down_project`, the first exit is enough.
    while !running.is_empty() && (down_project.is_none() || ended.is_empty()) {
        match events.next().await {
            Some(Ok(ev)) if matches!(ev.kind, EventKind::Die { .. }) && running.remove(&ev.id) => {
                ended.push(Exited { code: ev.exit_code().unwrap_or(-1), id: ev.id });
            }
            Some(_) => {}
            None => return Err(Error::EventsEnded { project: project.name.clone() }),
        }
    }
    if let Some(req) = down_project {
        down(engine, project, req).await?;
    }
    Ok(ended)
}

/// The services `restart SERVICE…` restarts: the named ones and, unless `no_deps`, the
/// services that depend on them with `restart: true`, and theirs in turn (compose v2 does the
/// same; a plain `depends_on` is left running). Empty: all.
pub fn restart_set(project: &Project, services: &[String], no_deps: bool) -> Vec<String> {
    let mut out = services.to_vec();
    if no_deps || out.is_empty() {
        return out;
    }
    let graph = crate::graph::Graph::new(project);
    let mut i = 0;
    while i < out.len() {
        for d in graph.dependents(&out[i]) {
            let restarts = graph.dependencies(&d).iter().any(|(dep, edge)| {
                dep == &out[i] && matches!(edge, crate::graph::Edge::DependsOn { restart: true, .. })
            });
            if restarts && !out.contains(&d) {
                out.push(d);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_takes_the_dependents_along_unless_no_deps() {
        let yaml = "services:\n  db: {image: i}\n  api: {image: i, depends_on: {db: {condition: service_started, restart: true}}}\n  web: {image: i, depends_on: {api: {condition: service_started, restart: true}}}\n  plain: {image: i, depends_on: [db]}\n  other: {image: i}\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts =
            crate::LoadOptions { cwd: dir.path().to_path_buf(), project_name: Some("r".into()), ..Default::default() };
        let p = crate::load(&opts).unwrap().project;
        assert_eq!(restart_set(&p, &["db".into()], false), ["db", "api", "web"], "plain is not restart: true");
        assert_eq!(restart_set(&p, &["db".into()], true), ["db"]);
        assert!(restart_set(&p, &[], false).is_empty());
    }
}
