//! `down`: stop and remove the project's containers (dependents before their dependencies),
//! then its networks, then — with `-v` — its named volumes.

use std::time::Duration;

use tokio::task::JoinSet;

use super::{RunError, report};
use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::plan::labels::{ONEOFF, SERVICE};

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<i64>,
}

pub async fn down<E: Engine>(e: &E, project: &Project, opts: &DownOptions) -> Result<(), RunError> {
    let containers = e.list_containers(&project.name).await?;
    // Waves: a service is stopped only after everything that depends on it.
    let depth = crate::graph::Graph::new(project).depths();
    let max = depth.values().copied().max().unwrap_or(0);
    let mut waves: Vec<Vec<_>> = vec![Vec::new(); max + 2];
    for c in containers {
        let svc = c.label(SERVICE).unwrap_or("").to_string();
        let known = project.services.contains_key(&svc);
        let oneoff = c.label(ONEOFF) == Some("True");
        if !known && !opts.remove_orphans && !oneoff {
            continue;
        }
        // Orphans and one-offs go first.
        let wave = if known { max - depth.get(&svc).copied().unwrap_or(0) + 1 } else { 0 };
        waves[wave].push(c);
    }
    for wave in waves {
        let mut set = JoinSet::new();
        for c in wave {
            let e = e.clone();
            let t = opts.timeout.or_else(|| {
                project.services.get(c.label(SERVICE).unwrap_or("")).and_then(crate::plan::spec::stop_timeout)
            });
            set.spawn(async move {
                if c.state == crate::engine::State::Running
                    || c.state == crate::engine::State::Paused
                    || c.state == crate::engine::State::Restarting
                {
                    report("Container", &c.name, "Stopping");
                    match e.stop_container(&c.id, t).await {
                        Ok(()) | Err(EngineError::NotFound { .. }) => {}
                        Err(err) => return Err(err),
                    }
                    report("Container", &c.name, "Stopped");
                }
                match e.remove_container(&c.id, true, false).await {
                    Ok(()) | Err(EngineError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
                report("Container", &c.name, "Removed");
                Ok(())
            });
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|x| RunError::Service { service: "down".into(), reason: x.to_string() })??;
        }
    }
    let mut set = JoinSet::new();
    for n in e.list_networks(&project.name).await? {
        let e = e.clone();
        set.spawn(async move {
            // The engine may hold an endpoint for a moment after a container is removed.
            for attempt in 0..50 {
                match e.remove_network(&n.name).await {
                    Ok(()) | Err(EngineError::NotFound { .. }) => {
                        report("Network", &n.name, "Removed");
                        return Ok(());
                    }
                    Err(EngineError::NetworkInUse { .. }) | Err(EngineError::Api { .. }) if attempt < 49 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(err) => return Err(err),
                }
            }
            Err(EngineError::NetworkInUse { network: n.name.clone() })
        });
    }
    if opts.volumes {
        for v in e.list_volumes(&project.name).await? {
            let external = project
                .volumes
                .values()
                .any(|d| d.external == Some(true) && d.name.as_deref() == Some(v.name.as_str()));
            if external {
                continue;
            }
            let e = e.clone();
            set.spawn(async move {
                match e.remove_volume(&v.name).await {
                    Ok(()) | Err(EngineError::NotFound { .. }) => {
                        report("Volume", &v.name, "Removed");
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            });
        }
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|x| RunError::Service { service: "down".into(), reason: x.to_string() })??;
    }
    Ok(())
}
