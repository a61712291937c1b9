//! The verbs on a project's existing containers: `start`, `stop`, `restart`, `kill`, `rm`,
//! `pause` and `unpause`. Each takes the project's lock and works on the containers of the
//! named services (all when none is named). Also what `ls`, `port` and `exec` look up: the
//! projects on the engine, a published port, the replica a command runs in.

use std::collections::BTreeMap;

use super::Error;
use crate::engine::{ContainerInfo, Engine, State};
use crate::model::Project;
use crate::model::labels::{CONFIG_FILES, NUMBER, ONEOFF, PROJECT, SERVICE};
use crate::progress::Report;
use crate::scheduler::verbs;

/// Which containers a verb works on, resolved.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The named services; every service when empty.
    pub services: Vec<String>,
    /// Take the project's lock for this endpoint (`None`: a dry run takes none).
    pub lock: Option<String>,
    pub report: Report,
}

/// The project's containers of `services` (with their dependencies' when `dependencies`),
/// under the project's lock.
async fn containers<E: Engine>(
    engine: &E,
    project: &Project,
    sel: &Selection,
    services: &[String],
) -> Result<(Option<crate::lock::ProjectLock>, Vec<ContainerInfo>), Error> {
    let lock = super::lock(project, &sel.lock)?;
    let all = engine.list_containers(&project.name).await?;
    Ok((lock, verbs::targets(project, all, services)))
}

/// `start`: the stopped containers of the services, and of the services they depend on (as
/// compose), dependencies first, each after its dependencies' conditions.
pub async fn start<E: Engine>(engine: &E, project: &Project, sel: &Selection) -> Result<(), Error> {
    let services: Vec<String> = if sel.services.is_empty() {
        Vec::new()
    } else {
        crate::graph::Graph::new(project).with_dependencies(&sel.services).into_iter().collect()
    };
    let (_lock, list) = containers(engine, project, sel, &services).await?;
    if list.is_empty() {
        return Err(Error::NothingToStart { project: project.name.clone() });
    }
    let list: Vec<ContainerInfo> = list.into_iter().filter(|c| c.state != State::Running).collect();
    Ok(verbs::start(engine, project, list, &sel.report).await?)
}

/// `stop`: dependents first; `timeout` in seconds, else each service's grace period.
pub async fn stop<E: Engine>(
    engine: &E,
    project: &Project,
    sel: &Selection,
    timeout: Option<i64>,
) -> Result<(), Error> {
    let (_lock, list) = containers(engine, project, sel, &sel.services).await?;
    Ok(verbs::stop(engine, project, list, timeout, &sel.report).await?)
}

/// `restart`: the services and, unless `no_deps`, those that depend on them with
/// `restart: true` (see [`super::lifecycle::restart_set`]), in dependency order as compose:
/// each service's containers stopped and started again once those before it are back.
pub async fn restart<E: Engine>(
    engine: &E,
    project: &Project,
    sel: &Selection,
    timeout: Option<i64>,
    no_deps: bool,
) -> Result<(), Error> {
    let services = if no_deps || sel.services.is_empty() {
        sel.services.clone()
    } else {
        super::lifecycle::restart_set(project, &sel.services, false)
    };
    let (_lock, list) = containers(engine, project, sel, &services).await?;
    Ok(verbs::restart(engine, project, list, timeout, &sel.report).await?)
}

/// `kill`: `signal` to the running containers; with `remove_orphans`, the containers of
/// services no longer in the project are removed.
pub async fn kill<E: Engine>(
    engine: &E,
    project: &Project,
    sel: &Selection,
    signal: &str,
    remove_orphans: bool,
) -> Result<(), Error> {
    let (_lock, list) = containers(engine, project, sel, &sel.services).await?;
    verbs::kill(engine, list, signal, &sel.report).await?;
    if remove_orphans {
        let all = engine.list_containers(&project.name).await?;
        let orphans: Vec<ContainerInfo> =
            all.into_iter().filter(|c| !project.services.contains_key(c.label(SERVICE).unwrap_or(""))).collect();
        crate::scheduler::remove_in_order(engine, project, orphans, None, false, &sel.report).await?;
    }
    Ok(())
}

/// What `rm` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// No stopped container to remove.
    Nothing,
    /// `confirm` said no.
    Declined,
    /// These containers.
    Containers(Vec<String>),
}

/// `rm`: the stopped containers (with `stop`, all of them, stopped first), once `confirm`
/// agrees to the list of names; `volumes`: their anonymous volumes too.
pub async fn rm<E: Engine>(
    engine: &E,
    project: &Project,
    sel: &Selection,
    stop: bool,
    volumes: bool,
    confirm: impl FnOnce(&[String]) -> bool,
) -> Result<Removed, Error> {
    let (_lock, list) = containers(engine, project, sel, &sel.services).await?;
    let list: Vec<ContainerInfo> = if stop {
        verbs::stop(engine, project, list.clone(), None, &sel.report).await?;
        list.into_iter().map(|c| ContainerInfo { state: State::Exited, ..c }).collect()
    } else {
        list.into_iter().filter(|c| !matches!(c.state, State::Running | State::Paused | State::Restarting)).collect()
    };
    if list.is_empty() {
        return Ok(Removed::Nothing);
    }
    let names: Vec<String> = list.iter().map(|c| c.name.clone()).collect();
    if !confirm(&names) {
        return Ok(Removed::Declined);
    }
    verbs::remove(engine, list, volumes, &sel.report).await?;
    Ok(Removed::Containers(names))
}

/// `pause` (`pause: true`) or `unpause`.
pub async fn pause<E: Engine>(engine: &E, project: &Project, sel: &Selection, pause: bool) -> Result<(), Error> {
    let (_lock, list) = containers(engine, project, sel, &sel.services).await?;
    Ok(verbs::pause(engine, list, pause, &sel.report).await?)
}

/// A project on the engine, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSummary {
    pub name: String,
    /// Containers by state: `running(2), exited(1)`.
    pub status: String,
    pub running: bool,
    /// The compose files it was started from, comma-separated.
    pub config_files: String,
}

/// `ls`: every compose project on the engine, by name.
pub async fn projects<E: Engine>(engine: &E) -> Result<Vec<ProjectSummary>, Error> {
    let mut by_project: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
    for c in engine.list_projects().await? {
        by_project.entry(c.label(PROJECT).unwrap_or("").to_string()).or_default().push(c);
    }
    Ok(by_project
        .into_iter()
        .map(|(name, list)| {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for c in &list {
                *counts.entry(c.state.as_str()).or_default() += 1;
            }
            let mut files: Vec<&str> = list.iter().filter_map(|c| c.label(CONFIG_FILES)).collect();
            files.sort();
            files.dedup();
            ProjectSummary {
                status: counts.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", "),
                running: counts.contains_key("running"),
                config_files: files.join(","),
                name,
            }
        })
        .collect())
}

/// Replica `index` of `service` (not a one-off).
pub async fn replica<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: u32,
) -> Result<ContainerInfo, Error> {
    let list = engine.list_containers(&project.name).await?;
    verbs::replica(verbs::targets(project, list, &[]), service, index)
        .ok_or_else(|| Error::NoReplica { service: service.to_string(), index })
}

/// The running container `exec` runs in, as compose picks it: among the service's running
/// containers, replica `index` when given; else the lowest-numbered replica, or failing that
/// one of its one-offs.
pub async fn running_replica<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: Option<u32>,
) -> Result<ContainerInfo, Error> {
    let list = engine.list_containers(&project.name).await?;
    let number = |c: &ContainerInfo| c.label(NUMBER).and_then(|n| n.parse::<u32>().ok());
    let mut running: Vec<ContainerInfo> = list
        .into_iter()
        .filter(|c| c.label(SERVICE) == Some(service) && c.state == State::Running)
        .filter(|c| index.is_none_or(|i| c.label(ONEOFF) != Some("True") && number(c) == Some(i)))
        .collect();
    running.sort_by_key(|c| (c.label(ONEOFF) == Some("True"), number(c).unwrap_or(u32::MAX), c.created));
    running.into_iter().next().ok_or_else(|| Error::NotRunningService { service: service.to_string(), index })
}

/// `commit SERVICE [REPOSITORY[:TAG]]`: an image of replica `index` as it is now; its ID.
pub async fn commit<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: u32,
    commit: &crate::engine::Commit,
) -> Result<String, Error> {
    let c = replica(engine, project, service, index).await?;
    Ok(engine.commit_container(&c.id, commit).await?)
}

/// `export SERVICE`: replica `index`'s filesystem as a tar stream.
pub async fn export<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: u32,
) -> Result<crate::engine::EngineStream<Vec<u8>>, Error> {
    let c = replica(engine, project, service, index).await?;
    Ok(engine.export_container(&c.id))
}

/// `attach SERVICE`: the running replica `index`'s output goes to `terminal.output` (and
/// `terminal.input` to its stdin) until it exits or the input ends; then its exit code (0
/// while it still runs).
pub async fn attach<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: u32,
    terminal: crate::engine::Terminal,
) -> Result<i64, Error> {
    let c = running_replica(engine, project, service, Some(index)).await?;
    engine.attach_container(&c.id, terminal).await?;
    let d = engine.inspect_container(&c.id).await?;
    Ok(if matches!(d.state, State::Exited | State::Dead) { d.exit_code.unwrap_or(0) } else { 0 })
}

/// `port`: the host address (`0.0.0.0` when the engine gives none) and port that
/// `private`/`protocol` of replica `index` is published on.
pub async fn published_port<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: u32,
    private: u16,
    protocol: &str,
) -> Result<(String, u16), Error> {
    let c = replica(engine, project, service, index).await?;
    c.ports
        .iter()
        .find(|p| p.private == private && p.protocol == protocol && p.public.is_some())
        .map(|p| (p.ip.clone().filter(|i| !i.is_empty()).unwrap_or_else(|| "0.0.0.0".into()), p.public.unwrap_or(0)))
        .ok_or_else(|| Error::NotPublished { service: service.to_string(), port: private, protocol: protocol.into() })
}
