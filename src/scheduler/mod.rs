//! Executing plans on the engine. Networks and volumes first; then every service in its own
//! task: its containers are created at once (creation waits for nobody), and only the start
//! waits for the `depends_on` conditions of its dependencies. Engine calls run concurrently
//! within `--parallel`.

mod down;
pub mod readiness;
mod settle;
pub mod supervise;
pub mod verbs;
pub use down::{DownOptions, Rmi, down, purge, remove_in_order};
pub use settle::{settle_after_crash, settle_pending_stops};

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::engine::{Engine, EngineError};
use crate::graph::{Before, Edge, Order};
use crate::model::{Condition, Project};
use crate::plan::{Action, Observed, Plan};
use crate::progress::Report;

/// How a service's way up ended, as its dependents see it: started (or left running) with
/// its container IDs, or failed and why.
type Outcome = Result<Vec<String>, String>;

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("service `{service}`: {reason}")]
    Service { service: String, reason: String },
    /// A dependency of the service will not be ready.
    #[error("service `{service}`: {error}")]
    NotReady { service: String, error: readiness::NotReady },
    /// An engine call for one service failed.
    #[error("service `{service}`: {error}")]
    InService { service: String, error: EngineError },
    /// An external network the run needs does not exist (compose's words).
    #[error("network {name} declared as external, but could not be found")]
    ExternalNetworkMissing { name: String },
    /// An external volume the run needs does not exist (compose's words).
    #[error("external volume {name:?} not found")]
    ExternalVolumeMissing { name: String },
    /// A `post_start` or `pre_stop` hook of the service failed.
    #[error("{error}")]
    Hook { service: String, error: Box<HookError> },
}

/// Reads what exists of `project` on the engine: one list call per resource kind, run
/// concurrently, plus one image lookup per distinct image.
pub async fn observe<E: Engine>(engine: &E, project: &Project) -> Result<Observed, EngineError> {
    let mut refs: Vec<String> =
        project.services.iter().map(|(name, svc)| crate::plan::spec::image_name(&project.name, name, svc)).collect();
    refs.sort();
    refs.dedup();
    let images = futures::future::try_join_all(refs.iter().map(|r| engine.image_id(r)));
    let (containers, networks, volumes, ids) = tokio::try_join!(
        engine.list_containers(&project.name),
        engine.list_networks(&project.name),
        engine.list_volumes(&project.name),
        images
    )?;
    Ok(Observed { containers, networks, volumes, images: refs.into_iter().zip(ids).collect() })
}

/// Runs `plan` for `project`. `parallel` bounds the engine calls in flight (None: unbounded).
pub async fn execute<E: Engine>(
    engine: &E,
    project: &Project,
    plan: Plan,
    parallel: Option<usize>,
    no_start: bool,
    r: &Report,
) -> Result<(), RunError> {
    execute_with(engine, project, plan, parallel, no_start, r, None).await
}

/// [`execute`], reading readiness from `ready` when given: a caller that waits afterwards
/// (`up --wait`) then sees what the run saw, the early probes' results included.
pub async fn execute_with<E: Engine>(
    engine: &E,
    project: &Project,
    plan: Plan,
    parallel: Option<usize>,
    no_start: bool,
    r: &Report,
    ready: Option<readiness::Readiness>,
) -> Result<(), RunError> {
    let sem = Arc::new(Semaphore::new(parallel.unwrap_or(Semaphore::MAX_PERMITS).max(1)));
    // Checked before anything is created, so a refused `up` leaves nothing behind (a network
    // whose create was still in flight used to appear after wharf had exited).
    let working_on: std::collections::HashSet<&str> = plan.steps.iter().filter_map(|s| s.action.service()).collect();
    // External networks must exist already: those of the services this plan works on (`up web`
    // does not check a network only another service uses, as compose does not).
    for (key, n) in &project.networks {
        if n.external == Some(true) {
            let name = project.network_name(key);
            let needed = project
                .services
                .iter()
                .any(|(svc, s)| working_on.contains(svc.as_str()) && s.networks.contains_key(key));
            if needed && !engine.network_exists(&name).await? {
                return Err(RunError::ExternalNetworkMissing { name });
            }
        }
    }
    for (key, v) in &project.volumes {
        if v.external == Some(true) {
            let name = project.volume_name(key);
            let needed = project.services.iter().any(|(svc, s)| {
                working_on.contains(svc.as_str())
                    && s.volumes.iter().any(|m| m.kind == "volume" && m.source.as_deref() == Some(key))
            });
            if needed && !engine.volume_exists(&name).await? {
                return Err(RunError::ExternalVolumeMissing { name });
            }
        }
    }
    let mut by_service: HashMap<String, Vec<Action>> = HashMap::new();
    let mut resources = JoinSet::new();
    for step in plan.steps {
        match step.action {
            Action::CreateNetwork(spec) => {
                let (e, sem, r) = (engine.clone(), sem.clone(), r.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    r.state("Network", &spec.name, "Creating");
                    match e.create_network(&spec).await {
                        // Another `up` may have created it in the meantime.
                        Ok(_) | Err(EngineError::Conflict { .. }) => {
                            r.state("Network", &spec.name, "Created");
                            Ok(())
                        }
                        Err(err) => Err(err),
                    }
                });
            }
            Action::RecreateNetwork { spec, attached } => {
                let (e, sem, r) = (engine.clone(), sem.clone(), r.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    recreate_network(&e, &spec, &attached, &r).await
                });
            }
            Action::RecreateVolume { spec, users } => {
                let (e, sem, r) = (engine.clone(), sem.clone(), r.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    let gone = users.iter().map(|(id, name, t)| async {
                        r.state("Container", name, "Stopping");
                        e.stop_container(id, *t).await.or_else(ignore_not_found)?;
                        remove_stopped(&e, id, false).await?;
                        r.state("Container", name, "Removed");
                        Ok::<(), EngineError>(())
                    });
                    futures::future::try_join_all(gone).await?;
                    e.remove_volume(&spec.name).await.or_else(ignore_not_found)?;
                    r.state("Volume", &spec.name, "Removed");
                    e.create_volume(&spec).await?;
                    r.state("Volume", &spec.name, "Created");
                    Ok(())
                });
            }
            Action::CreateVolume(spec) => {
                let (e, sem, r) = (engine.clone(), sem.clone(), r.clone());
                resources.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    e.create_volume(&spec).await?;
                    r.state("Volume", &spec.name, "Created");
                    Ok(())
                });
            }
            other => {
                let service = other.service().unwrap_or_default().to_string();
                by_service.entry(service).or_default().push(other);
            }
        }
    }
    while let Some(r) = resources.join_next().await {
        r.map_err(|e| RunError::Service { service: "network/volume".into(), reason: e.to_string() })??;
    }

    // Subscribed before anything starts, so no health or exit event is missed.
    let ready = ready.unwrap_or_else(|| readiness::Readiness::subscribe(engine, &project.name, r));
    // One turn per service in dependency order; services with nothing to do are up already.
    let graph = crate::graph::Graph::new(project);
    let mut walk =
        graph.walk(Order::DependenciesFirst, |name| (!by_service.contains_key(name)).then(|| Ok(Vec::new())));
    let turns: Vec<_> = by_service
        .into_iter()
        .map(|(name, actions)| {
            let (before, turn) = walk.turn(&name);
            (name, actions, before, turn)
        })
        .collect();
    drop(walk);
    // Services that wait for nobody start first; the others create their containers once those
    // starts have been issued, in the time the roots take to become ready, so creates do not
    // compete with the starts everything else waits on. An orphan's removal belongs to a
    // service no longer in the project: it waits for nothing, and nothing waits for it.
    let roots = turns.iter().filter(|(_, _, before, _)| before.is_empty()).count();
    let (roots_tx, roots_rx) = watch::channel(if no_start { 0 } else { roots });
    let roots_tx = Arc::new(roots_tx);
    let mut tasks = JoinSet::new();
    for (name, actions, before, done) in turns {
        let root = before.is_empty();
        let gate = (!root).then(|| roots_rx.clone());
        let roots_tx = root.then(|| roots_tx.clone());
        let svc = project.services.get(&name);
        let how = How {
            stop_timeout: svc.and_then(crate::plan::spec::stop_timeout),
            early: svc
                .and_then(crate::plan::spec::health)
                .filter(|h| h.start_interval_ns.is_some() && !engine.supports_start_interval()),
            post_start: svc.map(|s| s.post_start.clone()).unwrap_or_default(),
            pre_stop: svc.map(|s| s.pre_stop.clone()).unwrap_or_default(),
        };
        let (e, sem, ready, report) = (engine.clone(), sem.clone(), ready.clone(), r.clone());
        tasks.spawn(async move {
            let r = run_service(&e, &sem, &ready, gate, &name, actions, before, &how, no_start, &report).await;
            if let Some(roots) = roots_tx {
                roots.send_modify(|n| *n = n.saturating_sub(1));
            }
            if let Some(done) = done {
                done.done(match &r {
                    Ok(ids) => Ok(ids.clone()),
                    Err(err) => Err(err.to_string()),
                });
            }
            r.map(|_| ()).map_err(|err| match err {
                RunError::Engine(error) => RunError::InService { service: name.clone(), error },
                other => other,
            })
        });
    }
    join_all(tasks).await
}

/// How `service`'s containers stop: `timeout` (seconds), else the service's grace period, and
/// its `pre_stop` hooks.
pub(crate) fn stopping(
    project: &Project,
    service: &str,
    timeout: Option<i64>,
) -> (Option<i64>, Vec<crate::model::Hook>) {
    let svc = project.services.get(service);
    (
        timeout.or_else(|| svc.and_then(crate::plan::spec::stop_timeout)),
        svc.map(|s| s.pre_stop.clone()).unwrap_or_default(),
    )
}

/// Waits for every task of `set` (none is abandoned half-way) and returns the first error.
pub(crate) async fn join_all(mut set: JoinSet<Result<(), RunError>>) -> Result<(), RunError> {
    let mut first = None;
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| RunError::Service { service: "task".into(), reason: e.to_string() }).and_then(|x| x);
        if let Err(e) = r
            && first.is_none()
        {
            first = Some(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// How a service's containers are started and stopped.
struct How {
    stop_timeout: Option<i64>,
    /// Health to probe early (`start_interval` on an engine without it).
    early: Option<crate::engine::Health>,
    post_start: Vec<crate::model::Hook>,
    pre_stop: Vec<crate::model::Hook>,
}

#[allow(clippy::too_many_arguments)]
async fn run_service<E: Engine>(
    e: &E,
    sem: &Arc<Semaphore>,
    ready: &readiness::Readiness,
    gate: Option<watch::Receiver<usize>>,
    name: &str,
    actions: Vec<Action>,
    deps: Vec<Before<Outcome>>,
    how: &How,
    no_start: bool,
    r: &Report,
) -> Result<Vec<String>, RunError> {
    let (stop_timeout, service) = (how.stop_timeout, name);
    if let Some(mut gate) = gate {
        let _ = gate.wait_for(|pending| *pending == 0).await;
    }
    // 1. Everything that does not depend on other services: creates and removals.
    let mut to_start: Vec<(String, String)> = Vec::new();
    let mut to_restart: Vec<(String, String)> = Vec::new();
    let mut swaps: Vec<(String, String, String, String)> = Vec::new(); // (new id, tmp name, old id, old name)
    for a in actions {
        let _permit = sem.acquire().await;
        match a {
            Action::CreateContainer { spec, .. } => {
                r.state("Container", &spec.name, "Creating");
                let id = create_once(e, &spec).await?;
                r.state("Container", &spec.name, "Created");
                to_start.push((id, spec.name.clone()));
            }
            Action::Recreate { old_id, old_name, mut spec, .. } => {
                r.state("Container", &old_name, "Recreate");
                let name = std::mem::take(&mut spec.name);
                spec.name = format!("{}_{name}", &old_id[..12.min(old_id.len())]);
                let id = e.create_container(&spec).await?;
                copy_files(e, &id, &spec.files).await?;
                swaps.push((id, name, old_id, old_name));
            }
            Action::Start { id, name, .. } => to_start.push((id, name)),
            Action::Restart { id, name, .. } => to_restart.push((id, name)),
            Action::Remove { id, name, .. } => {
                r.state("Container", &name, "Stopping");
                let _ = stop_gracefully(e, &id, (service, &name, &name), stop_timeout, &how.pre_stop, r).await;
                remove_stopped(e, &id, false).await?;
                r.state("Container", &name, "Removed");
            }
            Action::CreateNetwork(_)
            | Action::RecreateNetwork { .. }
            | Action::CreateVolume(_)
            | Action::RecreateVolume { .. } => {}
        }
    }
    // 2. Old containers make way for their replacements (the new one exists already).
    for (new_id, name, old_id, _old_name) in swaps {
        let _permit = sem.acquire().await;
        match stop_gracefully(e, &old_id, (service, &name, &name), stop_timeout, &how.pre_stop, r).await {
            Ok(_) | Err(EngineError::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        remove_stopped(e, &old_id, false).await?;
        e.rename_container(&new_id, &name).await?;
        r.state("Container", &name, "Recreated");
        to_start.push((new_id, name));
    }
    if no_start {
        return Ok(to_start.into_iter().map(|(id, _)| id).collect());
    }
    // 3. The start waits for the dependencies' conditions.
    for mut dep in deps {
        let (cond, required) = match dep.edge {
            Edge::DependsOn { condition, required, .. } => (condition, required),
            Edge::Implied(_) => (Condition::ServiceStarted, true),
        };
        let ids = match dep.outcome().await {
            Some(Ok(ids)) => ids,
            Some(Err(why)) if required => {
                return Err(RunError::Service {
                    service: name.into(),
                    reason: format!("dependency `{}` failed to start: {why}", dep.service),
                });
            }
            // Failed but optional, or its task gave up without a word.
            Some(Err(_)) | None => Vec::new(),
        };
        if let Err(error) = ready.wait(e, &dep.service, &ids, cond).await
            && required
        {
            return Err(RunError::NotReady { service: name.into(), error });
        }
    }
    for (id, cname) in to_restart {
        let _permit = sem.acquire().await;
        r.state("Container", &cname, "Restarting");
        stop_gracefully(e, &id, (service, &cname, &cname), stop_timeout, &how.pre_stop, r).await?;
        to_start.push((id, cname));
    }
    let mut ids = Vec::new();
    for (id, cname) in to_start {
        let _permit = sem.acquire().await;
        r.state("Container", &cname, "Starting");
        e.start_container(&id).await?;
        r.state("Container", &cname, "Started");
        if let Some(h) = &how.early {
            ready.probe_early(e, &id, h);
        }
        post_start(e, &id, (service, &cname), &how.post_start, r).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Replaces a network whose configuration changed (see [`Action::RecreateNetwork`]): its
/// containers stopped and disconnected, the network removed and created anew, the same
/// containers connected again. They are started with their services.
async fn recreate_network<E: Engine>(
    e: &E,
    spec: &crate::engine::NetworkSpec,
    attached: &[crate::plan::Attached],
    r: &Report,
) -> Result<(), EngineError> {
    let stops = attached.iter().filter(|a| a.stop).map(|a| async {
        r.state("Container", &a.name, "Stopping");
        e.stop_container(&a.id, a.timeout).await.or_else(ignore_not_found)?;
        r.state("Container", &a.name, "Stopped");
        Ok::<(), EngineError>(())
    });
    futures::future::try_join_all(stops).await?;
    for a in attached {
        e.disconnect_network(&a.id, &spec.name).await.or_else(ignore_not_found)?;
    }
    down::remove_network(e, &spec.name, r).await?;
    r.state("Network", &spec.name, "Creating");
    e.create_network(spec).await?;
    r.state("Network", &spec.name, "Created");
    for a in attached {
        e.connect_network(&a.id, &a.endpoint).await.or_else(ignore_not_found)?;
    }
    Ok(())
}

/// Creates the container of `spec`, or finds it made by someone else: a name conflict means
/// another `up` created it — or is creating it, or was killed while creating it, in which case
/// the engine frees the name and the create is tried again. A container of that name that is
/// not this replica of this project's service is refused, as compose does; one that is, is
/// adopted by its ID (events name containers by ID: tracked by name, a wait on it never ends).
async fn create_once<E: Engine>(e: &E, spec: &crate::engine::ContainerSpec) -> Result<String, EngineError> {
    use crate::model::labels::{NUMBER, PROJECT, SERVICE};
    for attempt in 0..20 {
        match e.create_container(spec).await {
            Ok(id) => {
                copy_files(e, &id, &spec.files).await?;
                return Ok(id);
            }
            Err(EngineError::Conflict { .. }) => match e.inspect_container(&spec.name).await {
                Ok(d) => {
                    let ours = [PROJECT, SERVICE, NUMBER].iter().all(|k| d.labels.get(*k) == spec.labels.get(*k));
                    if !ours {
                        let by = d.id.chars().take(12).collect();
                        return Err(EngineError::NameInUse { name: spec.name.clone(), by });
                    }
                    return Ok(d.id);
                }
                Err(EngineError::NotFound { .. }) if attempt < 19 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err),
            },
            Err(err) => return Err(err),
        }
    }
    Err(EngineError::Conflict { what: format!("container `{}`", spec.name), message: "already exists".into() })
}

/// Copies secrets and configs into a created container, as one archive extracted at `/`.
pub(crate) async fn copy_files<E: Engine>(
    e: &E,
    id: &str,
    files: &[crate::engine::FileCopy],
) -> Result<(), EngineError> {
    if files.is_empty() {
        return Ok(());
    }
    let tar = tar_of(files).map_err(|err| EngineError::Api {
        operation: "packing secrets and configs".into(),
        status: 0,
        message: err.to_string(),
    })?;
    e.upload_archive(id, "/", tar).await
}

/// A tar archive of `files`, paths relative to `/`. No directory entries: the engine creates
/// missing parents (0755) and leaves existing ones (say `/tmp`) as they are.
pub fn tar_of(files: &[crate::engine::FileCopy]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(f.content.len() as u64);
        h.set_mode(f.mode);
        h.set_uid(f.uid);
        h.set_gid(f.gid);
        h.set_mtime(0);
        b.append_data(&mut h, f.path.trim_start_matches('/'), f.content.as_slice())?;
    }
    b.into_inner()
}

/// A lifecycle hook (`post_start`, `pre_stop`, a watch rule's `exec`) that failed. The first
/// words are compose's (`web hook exited with status 3`), then which hook it was and what it
/// printed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{service} hook exited with status {code} ({kind} `{command}`){}", printed(output))]
    Failed { service: String, kind: &'static str, command: String, code: i64, output: String },
    #[error("{service}: {kind} hook `{command}`: {error}")]
    Engine { service: String, kind: &'static str, command: String, error: EngineError },
}

fn printed(output: &str) -> String {
    if output.is_empty() { String::new() } else { format!(", which printed: {output}") }
}

/// Where hooks run: their kind (`post_start`, …), the service, and the container's short name
/// (`web-1`), under which their output is reported (attached runs show it, as compose does).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HookSite<'a> {
    pub kind: &'static str,
    pub service: &'a str,
    pub short: &'a str,
}

/// Runs `hooks` in container `id`, in order; the first that fails is returned as an error.
pub(crate) async fn run_hooks<E: Engine>(
    e: &E,
    id: &str,
    site: HookSite<'_>,
    hooks: &[crate::model::Hook],
    r: &Report,
) -> Result<(), HookError> {
    for h in hooks {
        let opts = crate::engine::ExecOptions {
            user: h.user.clone(),
            env: h.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect(),
            working_dir: h.working_dir.clone(),
            privileged: h.privileged.unwrap_or(false),
            ..Default::default()
        };
        let command = h.command.join(" ");
        let (service, kind) = (site.service.to_string(), site.kind);
        let out = match e.exec_with(id, &h.command, &opts).await {
            Ok(out) => out,
            Err(error) => return Err(HookError::Engine { service, kind, command, error }),
        };
        for line in out.output.lines() {
            r.hook_output(site.short, site.service, line);
        }
        if out.exit_code != 0 {
            let output = out.output.trim().to_string();
            return Err(HookError::Failed { service, kind, command, code: out.exit_code, output });
        }
    }
    Ok(())
}

/// `post_start` hooks, right after the container `name` of `service` started; a failing hook
/// fails the service.
async fn post_start<E: Engine>(
    e: &E,
    id: &str,
    (service, name): (&str, &str),
    hooks: &[crate::model::Hook],
    r: &Report,
) -> Result<(), RunError> {
    if hooks.is_empty() {
        return Ok(());
    }
    r.state("Container", name, "Running post_start");
    let site = HookSite { kind: "post_start", service, short: name };
    run_hooks(e, id, site, hooks, r)
        .await
        .map_err(|error| RunError::Hook { service: service.to_string(), error: Box::new(error) })
}

/// `pre_stop` hooks, then the stop itself, which goes on when a hook failed: the failure is
/// reported and returned (`Ok(Some)`), for the verb to exit non-zero once everything stopped.
pub(crate) async fn stop_gracefully<E: Engine>(
    e: &E,
    id: &str,
    (service, name, short): (&str, &str, &str),
    timeout: Option<i64>,
    pre_stop: &[crate::model::Hook],
    r: &Report,
) -> Result<Option<HookError>, EngineError> {
    let mut failed = None;
    if !pre_stop.is_empty() {
        r.state("Container", name, "Running pre_stop");
        let site = HookSite { kind: "pre_stop", service, short };
        if let Err(why) = run_hooks(e, id, site, pre_stop, r).await {
            r.detail("Container", name, "Error", &why.to_string());
            failed = Some(why);
        }
    }
    e.stop_container(id, timeout).await?;
    Ok(failed)
}

/// Removes a container that was just stopped. Not forced: forced removals racing each other
/// can leave a stale endpoint on Docker 20.10 that blocks the network's removal until the
/// daemon restarts. Force is the fallback for a container that will not stay stopped.
pub(crate) async fn remove_stopped<E: Engine>(e: &E, id: &str, volumes: bool) -> Result<(), EngineError> {
    match e.remove_container(id, false, volumes).await {
        Ok(()) | Err(EngineError::NotFound { .. }) => Ok(()),
        Err(EngineError::Conflict { .. }) | Err(EngineError::Api { .. }) => {
            match e.remove_container(id, true, volumes).await {
                Ok(()) | Err(EngineError::NotFound { .. }) => Ok(()),
                // The engine is removing it already (an auto-remove container that just
                // stopped, or another remover): done once it is gone.
                Err(err @ EngineError::Conflict { .. }) => {
                    for _ in 0..100 {
                        if let Err(EngineError::NotFound { .. }) = e.inspect_container(id).await {
                            return Ok(());
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Err(err)
                }
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

fn ignore_not_found(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ContainerSpec;
    use crate::engine::fake::FakeEngine;
    use crate::model::labels::{NUMBER, PROJECT, SERVICE};

    fn spec(labels: &[(&str, &str)]) -> ContainerSpec {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ContainerSpec { name: "p-db-1".into(), image: "img".into(), labels, ..Default::default() }
    }

    const OURS: [(&str, &str); 3] = [(PROJECT, "p"), (SERVICE, "db"), (NUMBER, "1")];

    #[tokio::test]
    async fn regression_a_name_conflict_adopts_this_projects_container_by_its_id() {
        // Issue 24: the container found under the name was tracked by its *name*, while health
        // events carry IDs, so a `service_healthy` wait on it never ended.
        let e = FakeEngine::new().with_image("img");
        let theirs = e.create_container(&spec(&OURS)).await.unwrap();
        let id = create_once(&e, &spec(&OURS)).await.unwrap();
        assert_eq!(id, theirs);
    }

    #[tokio::test]
    async fn regression_a_name_taken_by_a_foreign_container_is_refused() {
        // Issue 24: a container of that name without this project's labels was adopted and
        // started; compose refuses with a conflict, naming the container.
        let e = FakeEngine::new().with_image("img");
        let foreign = e.create_container(&spec(&[("other", "x")])).await.unwrap();
        match create_once(&e, &spec(&OURS)).await {
            Err(EngineError::NameInUse { name, by }) => {
                assert_eq!(name, "p-db-1");
                assert!(foreign.starts_with(&by), "{by}");
            }
            other => panic!("{other:?}"),
        }
    }
}
