//! The verbs that act on existing containers: `start`, `stop`, `restart`, `kill`, `pause`,
//! `unpause`, `rm`. Each picks the project's containers of the named services (all when none is
//! named), and works in dependency waves where order matters: dependencies first on the way up,
//! dependents first on the way down. Within a wave, every container at once.

use std::future::Future;

use tokio::task::JoinSet;

use super::RunError;
use super::readiness::Readiness;
use crate::engine::{ContainerInfo, Engine, EngineError, State};
use crate::model::Project;
use crate::model::labels::SERVICE;
use crate::progress::Report;

pub use crate::plan::select::{replica, targets};

/// `containers` grouped in dependency waves: dependencies first, or dependents first when
/// `dependents_first`. Containers of services not in the project form a wave of their own, first.
pub fn waves(project: &Project, containers: Vec<ContainerInfo>, dependents_first: bool) -> Vec<Vec<ContainerInfo>> {
    let depth = crate::graph::Graph::new(project).depths();
    let max = depth.values().copied().max().unwrap_or(0);
    let mut waves: Vec<Vec<ContainerInfo>> = vec![Vec::new(); max + 2];
    for c in containers {
        let wave = match c.label(SERVICE).and_then(|s| depth.get(s)) {
            Some(&d) if dependents_first => max - d + 1,
            Some(&d) => d + 1,
            None => 0,
        };
        waves[wave].push(c);
    }
    waves.retain(|w| !w.is_empty());
    waves
}

/// Runs `op` on every container of a wave at once, wave after wave. The first error is returned
/// after the wave it happened in has finished (nothing is left half-way).
async fn each<E, F, Fut>(e: &E, r: &Report, waves: Vec<Vec<ContainerInfo>>, op: F) -> Result<(), RunError>
where
    E: Engine,
    F: Fn(E, Report, ContainerInfo) -> Fut,
    Fut: Future<Output = Result<(), EngineError>> + Send + 'static,
{
    for wave in waves {
        let mut set = JoinSet::new();
        for c in wave {
            let service = c.label(SERVICE).unwrap_or("").to_string();
            let fut = op(e.clone(), r.clone(), c);
            set.spawn(async move { fut.await.map_err(|error| RunError::InService { service, error }) });
        }
        super::join_all(set).await?;
    }
    Ok(())
}

fn is_up(c: &ContainerInfo) -> bool {
    matches!(c.state, State::Running | State::Paused | State::Restarting)
}

/// Stops `containers`, dependents first. `timeout`: seconds, else each service's grace period.
pub async fn stop<E: Engine>(
    e: &E,
    project: &Project,
    containers: Vec<ContainerInfo>,
    timeout: Option<i64>,
    r: &Report,
) -> Result<(), RunError> {
    let running: Vec<ContainerInfo> = containers.into_iter().filter(is_up).collect();
    each(e, r, waves(project, running, true), |e, r, c| {
        let t = timeout.or_else(|| grace(project, &c));
        let hooks =
            project.services.get(c.label(SERVICE).unwrap_or("")).map(|s| s.pre_stop.clone()).unwrap_or_default();
        async move {
            r.state("Container", &c.name, "Stopping");
            super::stop_gracefully(&e, &c.id, &c.name, t, &hooks, &r).await.or_else(gone)?;
            r.state("Container", &c.name, "Stopped");
            Ok(())
        }
    })
    .await
}

/// Starts `containers` that are not running, dependencies first; a service starts once its
/// dependencies meet their `depends_on` conditions.
pub async fn start<E: Engine>(
    e: &E,
    project: &Project,
    containers: Vec<ContainerInfo>,
    r: &Report,
) -> Result<(), RunError> {
    let all = containers.clone();
    let ready = Readiness::subscribe(e, &project.name, r);
    for wave in waves(project, containers, false) {
        // Conditions first (for every service in this wave).
        let mut services: Vec<&str> = wave.iter().filter_map(|c| c.label(SERVICE)).collect();
        services.dedup();
        for svc in services {
            let Some(s) = project.services.get(svc) else { continue };
            for (dep, cond) in &s.depends_on {
                let ids: Vec<String> =
                    all.iter().filter(|c| c.label(SERVICE) == Some(dep)).map(|c| c.id.clone()).collect();
                if let Err(reason) = ready.wait(e, dep, &ids, cond.condition).await
                    && cond.required
                {
                    return Err(RunError::Service { service: svc.to_string(), reason });
                }
            }
        }
        let stopped: Vec<ContainerInfo> = wave.into_iter().filter(|c| !is_up(c)).collect();
        each(e, r, vec![stopped], |e, r, c| async move {
            r.state("Container", &c.name, "Starting");
            e.start_container(&c.id).await?;
            r.state("Container", &c.name, "Started");
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Sends `signal` to every running container at once.
pub async fn kill<E: Engine>(e: &E, containers: Vec<ContainerInfo>, signal: &str, r: &Report) -> Result<(), RunError> {
    let running: Vec<ContainerInfo> = containers.into_iter().filter(|c| c.state == State::Running).collect();
    let signal = signal.to_string();
    each(e, r, vec![running], |e, r, c| {
        let signal = signal.clone();
        async move {
            e.kill_container(&c.id, &signal).await.or_else(gone)?;
            r.state("Container", &c.name, "Killed");
            Ok(())
        }
    })
    .await
}

/// Pauses the running containers (`pause: true`) or unpauses the paused ones.
pub async fn pause<E: Engine>(e: &E, containers: Vec<ContainerInfo>, pause: bool, r: &Report) -> Result<(), RunError> {
    let want = if pause { State::Running } else { State::Paused };
    let matching: Vec<ContainerInfo> = containers.into_iter().filter(|c| c.state == want).collect();
    each(e, r, vec![matching], |e, r, c| async move {
        if pause {
            e.pause_container(&c.id).await?;
            r.state("Container", &c.name, "Paused");
        } else {
            e.unpause_container(&c.id).await?;
            r.state("Container", &c.name, "Unpaused");
        }
        Ok(())
    })
    .await
}

/// Removes the stopped containers among `containers` (`volumes`: their anonymous volumes too).
pub async fn remove<E: Engine>(
    e: &E,
    containers: Vec<ContainerInfo>,
    volumes: bool,
    r: &Report,
) -> Result<(), RunError> {
    let stopped: Vec<ContainerInfo> = containers.into_iter().filter(|c| !is_up(c)).collect();
    each(e, r, vec![stopped], |e, r, c| async move {
        e.remove_container(&c.id, false, volumes).await.or_else(gone)?;
        r.state("Container", &c.name, "Removed");
        Ok(())
    })
    .await
}

fn grace(project: &Project, c: &ContainerInfo) -> Option<i64> {
    project.services.get(c.label(SERVICE).unwrap_or("")).and_then(crate::plan::spec::stop_timeout)
}

/// A container that vanished meanwhile needs nothing more.
fn gone(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}
