//! The verbs that act on existing containers: `start`, `stop`, `restart`, `kill`, `pause`,
//! `unpause`, `rm`. Each picks the project's containers of the named services (all when none is
//! named), and walks the graph where order matters (dependencies first on the way up,
//! dependents first on the way down); a service's containers go at once.

use std::future::Future;

use indexmap::IndexMap;
use tokio::task::JoinSet;

use super::RunError;
use super::readiness::Readiness;
use crate::engine::{ContainerInfo, Engine, EngineError, State};
use crate::graph::Order;
use crate::logs::short_name;
use crate::model::Project;
use crate::model::labels::SERVICE;
use crate::progress::Report;

pub use crate::plan::select::{replica, targets};

/// Runs each service's part on its containers in `order`: `part` makes the (lazy) work of one
/// service, which runs as soon as every service before it has finished. A service after one
/// that failed is left as it is. Containers of services not in the project go at once. The
/// first error is returned once every task has ended (nothing is left half-way).
async fn in_order<F, Fut>(
    project: &Project,
    containers: Vec<ContainerInfo>,
    order: Order,
    mut part: F,
) -> Result<(), RunError>
where
    F: FnMut(&str, Vec<ContainerInfo>) -> Fut,
    Fut: Future<Output = Result<(), RunError>> + Send + 'static,
{
    let mut by_service: IndexMap<String, Vec<ContainerInfo>> = IndexMap::new();
    for c in containers {
        by_service.entry(c.label(SERVICE).unwrap_or("").to_string()).or_default().push(c);
    }
    let graph = crate::graph::Graph::new(project);
    let mut walk = graph.walk(order, |name| (!by_service.contains_key(name)).then_some(true));
    let mut set = JoinSet::new();
    for (service, list) in by_service {
        let (before, turn) = walk.turn(&service);
        let work = part(&service, list);
        set.spawn(async move {
            let mut go = true;
            for mut b in before {
                go &= b.outcome().await == Some(true);
            }
            let result = if go { work.await } else { Ok(()) };
            if let Some(turn) = turn {
                turn.done(go && result.is_ok());
            }
            result
        });
    }
    drop(walk);
    super::join_all(set).await
}

/// Runs `op` on every container at once.
async fn at_once<E, F, Fut>(e: &E, r: &Report, containers: Vec<ContainerInfo>, op: F) -> Result<(), RunError>
where
    E: Engine,
    F: Fn(E, Report, ContainerInfo) -> Fut,
    Fut: Future<Output = Result<(), EngineError>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for c in containers {
        set.spawn(in_service(c.label(SERVICE).unwrap_or("").to_string(), op(e.clone(), r.clone(), c)));
    }
    super::join_all(set).await
}

/// `work` on a container of `service`, its error named after the service.
async fn in_service(service: String, work: impl Future<Output = Result<(), EngineError>>) -> Result<(), RunError> {
    work.await.map_err(|error| RunError::InService { service, error })
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
    in_order(project, containers, Order::DependentsFirst, |service, list| {
        let (t, hooks) = super::stopping(project, service, timeout);
        let (e, r, service) = (e.clone(), r.clone(), service.to_string());
        async move {
            // A container that is not up is reported stopped too, as compose does (its stop is
            // a no-op for the engine, so none is sent).
            let stops = list.iter().map(|c| async {
                r.state("Container", &c.name, "Stopping");
                let mut hook = None;
                if is_up(c) {
                    let site = (service.as_str(), c.name.as_str(), short_name(c));
                    hook = stop_gracefully(&e, c, site, t, &hooks, &r).await?;
                }
                r.state("Container", &c.name, "Stopped");
                Ok(hook)
            });
            hooks_failed(&service, futures::future::try_join_all(stops).await)
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
    let ready = Readiness::subscribe(e, &project.name, r);
    // Each dependency's containers, for its condition.
    let mut ids: IndexMap<String, Vec<String>> = IndexMap::new();
    for c in &containers {
        ids.entry(c.label(SERVICE).unwrap_or("").to_string()).or_default().push(c.id.clone());
    }
    in_order(project, containers, Order::DependenciesFirst, |service, list| {
        let conditions: Vec<(String, Vec<String>, crate::model::DependsOn)> = project
            .services
            .get(service)
            .iter()
            .flat_map(|s| s.depends_on.iter())
            .map(|(dep, d)| (dep.clone(), ids.get(dep).cloned().unwrap_or_default(), d.clone()))
            .collect();
        let (e, r, ready, service) = (e.clone(), r.clone(), ready.clone(), service.to_string());
        async move {
            for (dep, ids, d) in conditions {
                if let Err(error) = ready.wait(&e, &dep, &ids, d.condition).await
                    && d.required
                {
                    return Err(RunError::NotReady { service, error });
                }
            }
            let starts = list.iter().filter(|c| !is_up(c)).map(|c| async {
                r.state("Container", &c.name, "Starting");
                e.start_container(&c.id).await?;
                r.state("Container", &c.name, "Started");
                Ok(())
            });
            in_service(service, async { futures::future::try_join_all(starts).await.map(|_| ()) }).await
        }
    })
    .await
}

/// Restarts `containers`, dependencies first: a service's containers are stopped (after their
/// `pre_stop` hooks) and started again once the services before it are back.
pub async fn restart<E: Engine>(
    e: &E,
    project: &Project,
    containers: Vec<ContainerInfo>,
    timeout: Option<i64>,
    r: &Report,
) -> Result<(), RunError> {
    in_order(project, containers, Order::DependenciesFirst, |service, list| {
        let (t, hooks) = super::stopping(project, service, timeout);
        let (e, r, service) = (e.clone(), r.clone(), service.to_string());
        async move {
            let restarts = list.iter().map(|c| async {
                r.state("Container", &c.name, "Restarting");
                let mut hook = None;
                if is_up(c) {
                    let site = (service.as_str(), c.name.as_str(), short_name(c));
                    hook = stop_gracefully(&e, c, site, t, &hooks, &r).await?;
                }
                e.start_container(&c.id).await?;
                r.state("Container", &c.name, "Started");
                Ok(hook)
            });
            hooks_failed(&service, futures::future::try_join_all(restarts).await)
        }
    })
    .await
}

/// Sends `signal` to every running container at once.
pub async fn kill<E: Engine>(e: &E, containers: Vec<ContainerInfo>, signal: &str, r: &Report) -> Result<(), RunError> {
    let running: Vec<ContainerInfo> = containers.into_iter().filter(|c| c.state == State::Running).collect();
    let signal = signal.to_string();
    at_once(e, r, running, |e, r, c| {
        let signal = signal.clone();
        async move {
            e.kill_container(&c.id, &signal).await.or_else(gone)?;
            r.state("Container", &c.name, "Killed");
            Ok(())
        }
    })
    .await
}

/// Pauses (`pause: true`) or unpauses the containers that are up. As compose, the engine is
/// asked for each of them, so pausing a paused container (or unpausing a running one) fails
/// with the engine's word for it.
pub async fn pause<E: Engine>(e: &E, containers: Vec<ContainerInfo>, pause: bool, r: &Report) -> Result<(), RunError> {
    let matching: Vec<ContainerInfo> = containers.into_iter().filter(is_up).collect();
    at_once(e, r, matching, |e, r, c| async move {
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
    at_once(e, r, stopped, |e, r, c| async move {
        e.remove_container(&c.id, false, volumes).await.or_else(gone)?;
        r.state("Container", &c.name, "Removed");
        Ok(())
    })
    .await
}

/// [`super::stop_gracefully`] on container `c`, one that vanished meanwhile counting as stopped.
async fn stop_gracefully<E: Engine>(
    e: &E,
    c: &ContainerInfo,
    (service, name, short): (&str, &str, String),
    timeout: Option<i64>,
    hooks: &[crate::model::Hook],
    r: &Report,
) -> Result<Option<super::HookError>, EngineError> {
    match super::stop_gracefully(e, &c.id, (service, name, &short), timeout, hooks, r).await {
        Err(EngineError::NotFound { .. }) => Ok(None),
        other => other,
    }
}

/// A service's stops, done: the first engine error, else the first failed hook.
fn hooks_failed(service: &str, done: Result<Vec<Option<super::HookError>>, EngineError>) -> Result<(), RunError> {
    let done = done.map_err(|error| RunError::InService { service: service.to_string(), error })?;
    match done.into_iter().flatten().next() {
        Some(error) => Err(RunError::Hook { service: service.to_string(), error: Box::new(error) }),
        None => Ok(()),
    }
}

/// A container that vanished meanwhile needs nothing more.
fn gone(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}
