//! `down`: stop and remove the project's containers (dependents before their dependencies),
//! then its networks and — with `-v` — its named volumes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::graph::Order;
use tokio::task::JoinSet;

use super::RunError;
use crate::engine::{ContainerInfo, Engine, EngineError, State};
use crate::model::Project;
use crate::model::labels::{ONEOFF, SERVICE};
use crate::progress::Report;

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<i64>,
    /// `--rmi`: remove the images of the services too.
    pub rmi: Option<Rmi>,
}

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rmi {
    /// Images without a custom tag: those compose names after the service (built, no `image:`).
    Local,
    /// Every image a service uses.
    All,
}

/// A network or volume `down` removes, once no container of the project uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Resource {
    Network(String),
    Volume(String),
}

/// Removes network `name`, waiting out an endpoint the engine holds for a moment after its
/// container went (about 8 s at most).
pub(crate) async fn remove_network<E: Engine>(e: &E, name: &str, r: &Report) -> Result<(), EngineError> {
    for attempt in 0..100 {
        match e.remove_network(name).await {
            Ok(()) | Err(EngineError::NotFound { .. }) => {
                r.state("Network", name, "Removed");
                return Ok(());
            }
            Err(EngineError::NetworkInUse { .. }) | Err(EngineError::Api { .. }) => {
                tokio::time::sleep(Duration::from_millis(if attempt < 20 { 25 } else { 100 })).await;
            }
            Err(err) => return Err(err),
        }
    }
    Err(EngineError::NetworkInUse { network: format!("network `{name}`") })
}

impl Resource {
    async fn remove<E: Engine>(self, e: E, r: Report) -> Result<(), EngineError> {
        match self {
            Resource::Network(name) => remove_network(&e, &name, &r).await,
            Resource::Volume(name) => match e.remove_volume(&name).await {
                Ok(()) | Err(EngineError::NotFound { .. }) => {
                    r.state("Volume", &name, "Removed");
                    Ok(())
                }
                Err(err) => Err(err),
            },
        }
    }
}

pub async fn down<E: Engine>(e: &E, project: &Project, opts: &DownOptions, r: &Report) -> Result<(), RunError> {
    let (containers, networks, volumes) =
        tokio::try_join!(e.list_containers(&project.name), e.list_networks(&project.name), async {
            match opts.volumes {
                true => e.list_volumes(&project.name).await,
                false => Ok(Vec::new()),
            }
        })?;
    let (containers, kept): (Vec<_>, Vec<_>) = containers.into_iter().partition(|c| {
        let known = project.services.contains_key(c.label(SERVICE).unwrap_or(""));
        known || opts.remove_orphans || c.label(ONEOFF) == Some("True")
    });
    let mut resources: HashSet<Resource> = HashSet::new();
    for n in networks {
        resources.insert(Resource::Network(n.name));
    }
    for v in volumes {
        let external =
            project.volumes.values().any(|d| d.external == Some(true) && d.name.as_deref() == Some(v.name.as_str()));
        if !external {
            resources.insert(Resource::Volume(v.name));
        }
    }
    let uses = |c: &ContainerInfo| -> Vec<Resource> {
        let mut r: Vec<Resource> = c.networks.iter().map(|n| Resource::Network(n.clone())).collect();
        r.extend(c.mounts.iter().filter_map(|m| m.name.clone()).map(Resource::Volume));
        r
    };
    // What orphans (kept without --remove-orphans) use stays.
    for c in &kept {
        for res in uses(c) {
            if resources.remove(&res) {
                let what = match &res {
                    Resource::Network(n) => format!("network {n}"),
                    Resource::Volume(v) => format!("volume {v}"),
                };
                r.warning(&format!("{what} is kept: orphan container {} still uses it (see --remove-orphans)", c.name));
            }
        }
    }
    // A failed `pre_stop` hook does not stop the down: it is returned once everything is gone.
    let hook_failed = match remove_in_order(e, project, containers, opts.timeout, opts.volumes, r).await {
        Err(hook @ RunError::Hook { .. }) => Some(hook),
        other => other.map(|()| None)?,
    };
    // Networks and volumes once every container is gone. (Removing a network while other
    // containers are still being removed gained nothing measurable at 50 services.)
    let mut set = JoinSet::new();
    for res in resources {
        let (e, r) = (e.clone(), r.clone());
        set.spawn(async move { res.remove(e, r).await.map_err(RunError::from) });
    }
    super::join_all(set).await?;
    if let Some(rmi) = opts.rmi {
        let mut images: Vec<String> = project
            .services
            .iter()
            .filter(|(_, svc)| rmi == Rmi::All || svc.image.is_none())
            .map(|(name, svc)| crate::plan::spec::image_name(&project.name, name, svc))
            .collect();
        images.sort();
        images.dedup();
        for image in images {
            match e.remove_image(&image).await {
                Ok(()) => r.state("Image", &image, "Removed"),
                Err(EngineError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    hook_failed.map_or(Ok(()), Err)
}

/// Stops and removes `containers` (with their anonymous volumes when `anonymous_volumes`), each
/// service's as soon as every service that depends on it is gone (no waves: a fast branch of
/// the graph does not wait for a slow one). Containers of services outside the project
/// (orphans, one-offs) go at once.
pub async fn remove_in_order<E: Engine>(
    e: &E,
    project: &Project,
    containers: Vec<ContainerInfo>,
    timeout: Option<i64>,
    anonymous_volumes: bool,
    r: &Report,
) -> Result<(), RunError> {
    let mut by_service: HashMap<String, Vec<ContainerInfo>> = HashMap::new();
    for c in containers {
        by_service.entry(c.label(SERVICE).unwrap_or("").to_string()).or_default().push(c);
    }
    // A service with no container is gone already.
    let graph = crate::graph::Graph::new(project);
    let mut walk = graph.walk(Order::DependentsFirst, |name| (!by_service.contains_key(name)).then_some(()));
    let mut set = JoinSet::new();
    for (svc, list) in by_service {
        let (waits, turn) = walk.turn(&svc);
        let (t, hooks) = super::stopping(project, &svc, timeout);
        let (e, r) = (e.clone(), r.clone());
        set.spawn(async move {
            for mut dependent in waits {
                // A dependent that failed gives up its turn: go on regardless.
                dependent.outcome().await;
            }
            // Dependencies may stop once this service's containers have stopped; removing them
            // runs alongside.
            let stopped = futures::future::try_join_all(list.iter().map(|c| stop(&e, &svc, c, t, &hooks, &r))).await;
            if let Some(turn) = turn {
                turn.done(());
            }
            let removed = match stopped {
                Ok(hooks) => futures::future::try_join_all(list.iter().map(|c| remove(&e, c, anonymous_volumes, &r)))
                    .await
                    .map(|_| hooks),
                Err(err) => Err(err),
            };
            match removed
                .map_err(|error| RunError::InService { service: svc.clone(), error })?
                .into_iter()
                .flatten()
                .next()
            {
                Some(error) => Err(RunError::Hook { service: svc.clone(), error: Box::new(error) }),
                None => Ok(()),
            }
        });
    }
    drop(walk);
    super::join_all(set).await
}

/// Stops `c` (of `service`) if it is up; a `pre_stop` hook that failed is returned.
async fn stop<E: Engine>(
    e: &E,
    service: &str,
    c: &ContainerInfo,
    t: Option<i64>,
    hooks: &[crate::model::Hook],
    r: &Report,
) -> Result<Option<super::HookError>, EngineError> {
    let mut failed = None;
    if matches!(c.state, State::Running | State::Paused | State::Restarting) {
        r.state("Container", &c.name, "Stopping");
        let short = crate::logs::short_name(c);
        match super::stop_gracefully(e, &c.id, (service, &c.name, &short), t, hooks, r).await {
            Ok(hook) => failed = hook,
            Err(EngineError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
        r.state("Container", &c.name, "Stopped");
    }
    Ok(failed)
}

async fn remove<E: Engine>(e: &E, c: &ContainerInfo, volumes: bool, r: &Report) -> Result<(), EngineError> {
    super::remove_stopped(e, &c.id, volumes).await?;
    r.state("Container", &c.name, "Removed");
    Ok(())
}

/// Removes everything labelled with project `name` — containers (forced, with their anonymous
/// volumes), then networks and volumes — without its compose file. For the reaper and `gc`.
pub async fn purge<E: Engine>(e: &E, name: &str, r: &Report) -> Result<(), EngineError> {
    let containers = e.list_containers(name).await?;
    futures::future::join_all(containers.iter().map(|c| e.remove_container(&c.id, true, true))).await;
    let (networks, volumes) = tokio::try_join!(e.list_networks(name), e.list_volumes(name))?;
    let mut set = JoinSet::new();
    for n in networks {
        set.spawn(Resource::Network(n.name).remove(e.clone(), r.clone()));
    }
    for v in volumes {
        set.spawn(Resource::Volume(v.name).remove(e.clone(), r.clone()));
    }
    let mut first = Ok(());
    while let Some(r) = set.join_next().await {
        if let Ok(Err(err)) = r
            && first.is_ok()
        {
            first = Err(err);
        }
    }
    first
}
