//! Executing plans on the engine. Networks and volumes first; then every service in its own
//! task: its containers are created at once (creation waits for nobody), and only the start
//! waits for the `depends_on` conditions of its dependencies. Engine calls run concurrently
//! within `--parallel`.

mod down;
pub use down::{DownOptions, down};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::engine::{Engine, EngineError, State};
use crate::model::{Condition, Project};
use crate::plan::{Action, Plan};

/// Where a service is on its way up, as its dependents see it.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Pending,
    /// Started (or left running); the container IDs.
    Up(Vec<String>),
    Failed(String),
}

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("service `{service}`: {reason}")]
    Service { service: String, reason: String },
}

/// Prints one line per state change to stderr (the `plain` rendering).
pub fn report(kind: &str, name: &str, state: &str) {
    eprintln!(" {kind} {name}  {state}");
}

/// Runs `plan` for `project`. `parallel` bounds the engine calls in flight (None: unbounded).
pub async fn execute<E: Engine>(
    engine: &E,
    project: &Project,
    plan: Plan,
    parallel: Option<usize>,
    no_start: bool,
) -> Result<(), RunError> {
    let sem = Arc::new(Semaphore::new(parallel.unwrap_or(Semaphore::MAX_PERMITS).max(1)));
    let mut by_service: HashMap<String, Vec<Action>> = HashMap::new();
    let mut resources = JoinSet::new();
    for step in plan.steps {
        match step.action {
            Action::CreateNetwork(spec) => {
                let (e, sem) = (engine.clone(), sem.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    report("Network", &spec.name, "Creating");
                    match e.create_network(&spec).await {
                        // Another `up` may have created it in the meantime.
                        Ok(_) | Err(EngineError::Conflict { .. }) => {
                            report("Network", &spec.name, "Created");
                            Ok(())
                        }
                        Err(err) => Err(err),
                    }
                });
            }
            Action::CreateVolume(spec) => {
                let (e, sem) = (engine.clone(), sem.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    e.create_volume(&spec).await?;
                    report("Volume", &spec.name, "Created");
                    Ok(())
                });
            }
            other => {
                let service = other.service().unwrap_or_default().to_string();
                by_service.entry(service).or_default().push(other);
            }
        }
    }
    // External networks must exist already.
    for (key, n) in &project.networks {
        if n.external == Some(true) {
            let name = project.network_name(key);
            if project.services.values().any(|s| s.networks.contains_key(key)) && !engine.network_exists(&name).await? {
                return Err(RunError::Service {
                    service: key.clone(),
                    reason: format!(
                        "external network `{name}` does not exist (create it with `docker network create {name}`)"
                    ),
                });
            }
        }
    }
    while let Some(r) = resources.join_next().await {
        r.map_err(|e| RunError::Service { service: "network/volume".into(), reason: e.to_string() })??;
    }

    // One status channel per service; services with nothing to do are up already.
    let mut senders = HashMap::new();
    let mut receivers = HashMap::new();
    for name in project.services.keys() {
        let initial = if by_service.contains_key(name) { Status::Pending } else { Status::Up(Vec::new()) };
        let (tx, rx) = watch::channel(initial);
        senders.insert(name.clone(), tx);
        receivers.insert(name.clone(), rx);
    }
    let mut tasks = JoinSet::new();
    for (name, actions) in by_service {
        // An orphan's removal belongs to a service no longer in the project: it waits for
        // nothing, and nothing waits for it.
        let svc = project.services.get(&name);
        let deps: Vec<(String, Condition, bool, watch::Receiver<Status>)> = svc
            .iter()
            .flat_map(|s| s.depends_on.iter())
            .filter_map(|(d, c)| receivers.get(d).map(|rx| (d.clone(), c.condition, c.required, rx.clone())))
            .collect();
        let stop_timeout = svc.and_then(crate::plan::spec::stop_timeout);
        let tx = senders.remove(&name);
        let (e, sem) = (engine.clone(), sem.clone());
        tasks.spawn(async move {
            let r = run_service(&e, &sem, &name, actions, deps, stop_timeout, no_start).await;
            if let Some(tx) = tx {
                let _ = tx.send(match &r {
                    Ok(ids) => Status::Up(ids.clone()),
                    Err(err) => Status::Failed(err.to_string()),
                });
            }
            r.map(|_| ()).map_err(|err| match err {
                RunError::Engine(e) => RunError::Service { service: name.clone(), reason: e.to_string() },
                other => other,
            })
        });
    }
    drop(senders);
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        let r = r.map_err(|e| RunError::Service { service: "task".into(), reason: e.to_string() }).and_then(|x| x);
        if let Err(e) = r
            && first_err.is_none()
        {
            first_err = Some(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn run_service<E: Engine>(
    e: &E,
    sem: &Arc<Semaphore>,
    name: &str,
    actions: Vec<Action>,
    deps: Vec<(String, Condition, bool, watch::Receiver<Status>)>,
    stop_timeout: Option<i64>,
    no_start: bool,
) -> Result<Vec<String>, RunError> {
    // 1. Everything that does not depend on other services: creates and removals.
    let mut to_start: Vec<(String, String)> = Vec::new();
    let mut swaps: Vec<(String, String, String, String)> = Vec::new(); // (new id, tmp name, old id, old name)
    for a in actions {
        let _permit = sem.acquire().await;
        match a {
            Action::CreateContainer { spec, .. } => {
                report("Container", &spec.name, "Creating");
                let id = match e.create_container(&spec).await {
                    Ok(id) => id,
                    // A concurrent `up` created it first: use theirs, never a duplicate.
                    Err(EngineError::Conflict { .. }) => spec.name.clone(),
                    Err(err) => return Err(err.into()),
                };
                report("Container", &spec.name, "Created");
                to_start.push((id, spec.name.clone()));
            }
            Action::Recreate { old_id, old_name, mut spec, .. } => {
                report("Container", &old_name, "Recreate");
                let tmp = format!("{}_{}", &old_id[..12.min(old_id.len())], spec.name);
                spec.name = tmp.clone();
                let id = e.create_container(&spec).await?;
                swaps.push((id, tmp, old_id, old_name));
            }
            Action::Start { id, name, .. } => to_start.push((id, name)),
            Action::Remove { id, name, .. } => {
                report("Container", &name, "Stopping");
                let _ = e.stop_container(&id, stop_timeout).await;
                e.remove_container(&id, true, false).await?;
                report("Container", &name, "Removed");
            }
            Action::CreateNetwork(_) | Action::CreateVolume(_) => {}
        }
    }
    // 2. Old containers make way for their replacements (the new one exists already).
    for (new_id, _tmp, old_id, old_name) in swaps {
        let _permit = sem.acquire().await;
        e.stop_container(&old_id, stop_timeout).await.or_else(ignore_not_found)?;
        e.remove_container(&old_id, true, false).await.or_else(ignore_not_found)?;
        e.rename_container(&new_id, &old_name).await?;
        report("Container", &old_name, "Recreated");
        to_start.push((new_id, old_name));
    }
    if no_start {
        return Ok(to_start.into_iter().map(|(id, _)| id).collect());
    }
    // 3. The start waits for the dependencies' conditions.
    for (dep, cond, required, mut rx) in deps {
        let ids = loop {
            let st = rx.borrow_and_update().clone();
            match st {
                Status::Up(ids) => break ids,
                Status::Failed(why) if required => {
                    return Err(RunError::Service {
                        service: name.into(),
                        reason: format!("dependency `{dep}` failed to start: {why}"),
                    });
                }
                Status::Failed(_) => break Vec::new(),
                Status::Pending => {
                    if rx.changed().await.is_err() {
                        break Vec::new();
                    }
                }
            }
        };
        if let Err(why) = wait_condition(e, &dep, &ids, cond).await
            && required
        {
            return Err(RunError::Service { service: name.into(), reason: why });
        }
    }
    let mut ids = Vec::new();
    for (id, cname) in to_start {
        let _permit = sem.acquire().await;
        report("Container", &cname, "Starting");
        e.start_container(&id).await?;
        report("Container", &cname, "Started");
        ids.push(id);
    }
    Ok(ids)
}

fn ignore_not_found(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

/// Waits until every container of `dep` meets `cond`. Health is read by inspecting every
/// 50 ms (the event-driven readiness of a later change replaces this).
async fn wait_condition<E: Engine>(e: &E, dep: &str, ids: &[String], cond: Condition) -> Result<(), String> {
    if cond == Condition::ServiceStarted {
        return Ok(());
    }
    for id in ids {
        loop {
            let d = e.inspect_container(id).await.map_err(|x| x.to_string())?;
            match cond {
                Condition::ServiceHealthy => match d.health.as_deref() {
                    Some("healthy") => break,
                    Some("unhealthy") => {
                        return Err(format!(
                            "dependency `{dep}` is unhealthy: {}",
                            d.last_health_output.unwrap_or_default().trim()
                        ));
                    }
                    None => return Err(format!("dependency `{dep}` has no healthcheck configured")),
                    _ if d.state == State::Exited || d.state == State::Dead => {
                        return Err(format!("dependency `{dep}` exited with code {}", d.exit_code.unwrap_or(-1)));
                    }
                    _ => {}
                },
                Condition::ServiceCompletedSuccessfully => {
                    if d.state == State::Exited || d.state == State::Dead {
                        match d.exit_code {
                            Some(0) => break,
                            code => return Err(format!("dependency `{dep}` exited with code {}", code.unwrap_or(-1))),
                        }
                    }
                }
                Condition::ServiceStarted => break,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
