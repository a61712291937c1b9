//! `wharf stack deploy|rm|ps|services|ls`: a compose project on a Docker Swarm. Deploy loads
//! the file with wharf's own loader, converts it ([`crate::swarm::convert`]), plans against
//! what the cluster has ([`crate::swarm::plan`]), then creates networks and secret and config
//! versions, and creates or updates services in dependency order: a service is sent only once
//! its dependencies have converged (running, healthy — Swarm reports a task running only after
//! its healthcheck passes — or completed), and each is waited for unless `detach`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::diag::Diagnostics;
use crate::engine::EngineError;
use crate::engine::swarm::{DataKind, DataSpec, ServiceInfo, Swarm, SwarmObject, TaskInfo};
use crate::model::Project;
use crate::swarm::convert::{NAMESPACE, Unsupported};
use crate::swarm::{Action, Current, Plan};

/// How `deploy` pins images (`--resolve-image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveImage {
    /// Pin to the digest the engine knows for the image (from a push or pull), when it knows one.
    #[default]
    Always,
    /// As `Always`, for services being created or updated only.
    Changed,
    /// Send the image as the file names it.
    Never,
}

/// A deploy's settings.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub stack: String,
    pub prune: bool,
    pub detach: bool,
    pub resolve_image: ResolveImage,
    /// How long one service may take to converge.
    pub timeout: Duration,
    pub dry_run: bool,
    /// A key Swarm cannot express is an error (before anything changes), not a warning.
    pub strict: bool,
    /// Sends each service's registry credentials from the docker CLI's config (its credential
    /// helper, else `auths`) with the create or update, so the nodes can pull a private image
    /// (`--with-registry-auth`).
    pub registry_auth: bool,
    /// The docker CLI config directory credentials come from; `None`: `$DOCKER_CONFIG`, else
    /// `~/.docker`.
    pub docker_config: Option<std::path::PathBuf>,
}

/// Why a deploy stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the compose project does not load")]
    Load(Diagnostics),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the engine at {endpoint} is not a swarm manager (swarm state: {state})")]
    NotManager { endpoint: String, state: String },
    #[error("the stack needs what the cluster does not have: {}", .0.join(", "))]
    Missing(Vec<String>),
    #[error("cannot read {kind} `{key}`: {reason}")]
    Data { kind: &'static str, key: String, reason: String },
    #[error("service `{service}` failed: {reason}{}", log_tail(.logs))]
    Failed { service: String, reason: String, logs: Vec<String> },
    #[error("{0} key(s) Swarm cannot express (--strict)")]
    Strict(usize),
    #[error("service `{service}` did not converge within {} s: {state}", .waited.as_secs())]
    Timeout { service: String, waited: Duration, state: String },
}

fn log_tail(l: &[String]) -> String {
    if l.is_empty() { String::new() } else { format!("\nits last log lines:\n  {}", l.join("\n  ")) }
}

impl DeployError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DeployError::Engine(e) => e.hint(),
            DeployError::NotManager { .. } => {
                Some("run `docker swarm init` on this engine, or point DOCKER_HOST at a manager of the cluster".into())
            }
            DeployError::Missing(_) => Some(
                "create the external objects first (`docker network create -d overlay …`, `docker secret create …`)"
                    .into(),
            ),
            DeployError::Failed { reason, .. } if reason.contains("ipvs") || reason.contains("IPVS") => {
                Some("this kernel has no IPVS: use `deploy.endpoint_mode: dnsrr` and `mode: host` ports".into())
            }
            DeployError::Strict(_) => Some("remove them, or deploy without --strict to ignore them".into()),
            DeployError::Timeout { service, .. } => {
                Some(format!("`docker service ps --no-trunc {service}` shows its tasks; raise --timeout if it is slow"))
            }
            _ => None,
        }
    }
}

/// What a deploy did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct Deployed {
    pub plan: Plan,
    pub unsupported: Vec<(Option<crate::diag::Loc>, Unsupported)>,
    /// Per service sent: how long it took to converge (none when detached).
    pub converged: Vec<(String, Duration)>,
}

/// The project loaded as stack `stack`.
pub fn load(opts: &crate::LoadOptions, stack: &str) -> Result<Project, DeployError> {
    let mut o = opts.clone();
    o.project_name = Some(stack.to_string());
    crate::load::load(&o).map(|l| l.project).map_err(DeployError::Load)
}

/// The bytes of each non-external secret and config the services use.
pub fn read_data(p: &Project) -> Result<BTreeMap<(DataKind, String), Vec<u8>>, DeployError> {
    let mut out = BTreeMap::new();
    for (kind, defs) in [(DataKind::Secret, &p.secrets), (DataKind::Config, &p.configs)] {
        for (key, def) in defs {
            let used = p.services.values().any(|s| {
                let refs = if kind == DataKind::Secret { &s.secrets } else { &s.configs };
                refs.iter().any(|r| &r.source == key)
            });
            if !used || def.external == Some(true) {
                continue;
            }
            let err = |reason: String| DeployError::Data { kind: kind.as_str(), key: key.clone(), reason };
            let bytes = match (&def.file, &def.environment, &def.content) {
                (Some(f), _, _) => std::fs::read(f).map_err(|e| err(format!("{f}: {e}")))?,
                (None, Some(v), _) => p
                    .environment
                    .get(v)
                    .ok_or_else(|| err(format!("the environment variable `{v}` is not set")))?
                    .clone()
                    .into_bytes(),
                (None, None, Some(c)) => c.clone().into_bytes(),
                _ => return Err(err("it has no `file:`, `environment:` or `content:`".into())),
            };
            out.insert((kind, key.clone()), bytes);
        }
    }
    Ok(out)
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Each service's image as deployed: pinned to a digest the engine knows, per `resolve`.
async fn images<E: Swarm>(e: &E, p: &Project, stack: &str, resolve: ResolveImage) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, svc) in &p.services {
        let image = crate::plan::spec::image_name(stack, name, svc);
        let pinned = match resolve {
            ResolveImage::Never => None,
            _ if image.contains('@') => None,
            _ => e.image_info(&image).await.ok().flatten().and_then(|i| {
                let repo = image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(image.as_str(), |(r, _)| r);
                i.repo_digests.iter().find(|d| d.split('@').next() == Some(repo)).map(|d| {
                    let digest = d.split_once('@').map(|(_, x)| x).unwrap_or_default();
                    format!("{image}@{digest}")
                })
            }),
        };
        out.insert(name.clone(), pinned.unwrap_or(image));
    }
    out
}

/// What the cluster has of `stack`.
pub async fn current<E: Swarm>(e: &E, stack: &str) -> Result<Current, EngineError> {
    let label = format!("{NAMESPACE}={stack}");
    let (services, networks, all_nets, secrets, configs) = tokio::try_join!(
        e.services(&label),
        e.swarm_networks(&label),
        e.swarm_networks(""),
        e.data_objects(DataKind::Secret, ""),
        e.data_objects(DataKind::Config, ""),
    )?;
    let mut c = Current { services, networks, ..Current::default() };
    c.all_networks = all_nets.iter().map(|n| n.name.clone()).collect();
    for (kind, list) in [(DataKind::Secret, secrets), (DataKind::Config, configs)] {
        for o in list {
            c.all_data.insert((kind, o.name.clone()));
            if o.labels.get(NAMESPACE).map(String::as_str) == Some(stack) {
                c.data.push((kind, o));
            }
        }
    }
    Ok(c)
}

/// Checks that the engine is a swarm manager.
pub async fn require_manager<E: Swarm>(e: &E, endpoint: &str) -> Result<(), DeployError> {
    let s = e.swarm_state().await?;
    if s.local_node_state != "active" || !s.manager {
        let state = if s.local_node_state == "active" { "a worker".into() } else { s.local_node_state };
        return Err(DeployError::NotManager { endpoint: endpoint.to_string(), state });
    }
    Ok(())
}

/// Where each unsupported key is in the files.
fn locate(p: &Project, unsupported: Vec<Unsupported>) -> Vec<(Option<crate::diag::Loc>, Unsupported)> {
    let sources = crate::lint::sources::read(&p.config_files, &p.working_dir);
    unsupported
        .into_iter()
        .map(|u| {
            let path: Vec<&str> = u.path.iter().map(String::as_str).collect();
            (crate::lint::sources::locate(&sources, &path).map(|n| n.loc.clone()), u)
        })
        .collect()
}

/// Deploys `p` as `req.stack`; `report` receives one line per step.
pub async fn deploy<E: Swarm>(
    e: &E,
    p: &Project,
    req: &DeployRequest,
    endpoint: &str,
    report: &(dyn Fn(String) + Send + Sync),
) -> Result<Deployed, DeployError> {
    require_manager(e, endpoint).await?;
    let data = read_data(p)?;
    let hashes: BTreeMap<(DataKind, String), String> = data.iter().map(|(k, v)| (k.clone(), sha256_hex(v))).collect();
    let images = images(e, p, &req.stack, req.resolve_image).await;
    let wanted = crate::swarm::convert(p, &req.stack, &images, &hashes);
    let cur = current(e, &req.stack).await?;
    let plan = crate::swarm::plan(&wanted, &cur, req.prune);
    let mut out =
        Deployed { plan: plan.clone(), unsupported: locate(p, wanted.unsupported.clone()), ..Default::default() };
    for (loc, u) in &out.unsupported {
        let at = loc.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        let level = if req.strict { "error" } else { "warning" };
        report(format!("{level}: {at}`{}`: {}", u.path.join("."), u.reason));
    }
    if req.strict && !out.unsupported.is_empty() {
        return Err(DeployError::Strict(out.unsupported.len()));
    }
    if !plan.missing.is_empty() {
        return Err(DeployError::Missing(plan.missing));
    }
    if req.dry_run {
        return Ok(out);
    }
    for a in &plan.actions {
        match a {
            Action::CreateNetwork { name } => {
                let spec = wanted.networks.iter().find(|n| &n.name == name).cloned().unwrap_or_default();
                e.create_network(&spec).await?;
                report(a.describe());
            }
            Action::CreateData { kind, name } => {
                let d = wanted.data.iter().find(|d| d.kind == *kind && &d.name == name);
                let Some(d) = d else { continue };
                let bytes = data.get(&(*kind, d.key.clone())).cloned().unwrap_or_default();
                e.create_data(*kind, &DataSpec { name: name.clone(), labels: d.labels.clone(), data: bytes }).await?;
                report(a.describe());
            }
            _ => {}
        }
    }
    // Secret and config references go by ID: the names' IDs, now that every version exists.
    let mut ids: BTreeMap<(DataKind, String), String> = BTreeMap::new();
    if wanted.data.iter().any(|d| d.kind == DataKind::Secret) {
        for o in e.data_objects(DataKind::Secret, "").await? {
            ids.insert((DataKind::Secret, o.name), o.id);
        }
    }
    if wanted.data.iter().any(|d| d.kind == DataKind::Config) {
        for o in e.data_objects(DataKind::Config, "").await? {
            ids.insert((DataKind::Config, o.name), o.id);
        }
    }
    let mut wanted = wanted;
    for s in &mut wanted.services {
        fill_ids(&mut s.spec, &ids);
    }
    // Services, in dependency order: each level once the one before has converged.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut left: Vec<&crate::swarm::WantedService> = wanted.services.iter().collect();
    while !left.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|s| {
            s.depends_on.iter().all(|(d, _)| done.contains(d) || !wanted.services.iter().any(|w| &w.service == d))
        });
        if ready.is_empty() {
            // A cycle the loader lets through cannot happen; send the rest together.
            left = Vec::new();
            for s in rest {
                done.insert(s.service.clone());
            }
            continue;
        }
        let results = futures::future::join_all(ready.iter().map(|s| one_service(e, s, &plan, req, report))).await;
        for (s, r) in ready.iter().zip(results) {
            if let Some(took) = r? {
                out.converged.push((s.name.clone(), took));
            }
            done.insert(s.service.clone());
        }
        left = rest;
    }
    // Removals once the services have moved off.
    for a in &plan.actions {
        match a {
            Action::RemoveService { id, .. } => {
                e.remove_service(id).await?;
                report(a.describe());
            }
            Action::RemoveData { kind, id, .. } => match e.remove_data(*kind, id).await {
                Ok(()) => report(a.describe()),
                // Still referenced by a task on its way out: the next deploy removes it.
                Err(EngineError::Conflict { .. }) | Err(EngineError::Api { .. }) => {
                    report(format!("{} (still in use: left for the next deploy)", a.describe()))
                }
                Err(err) => return Err(err.into()),
            },
            Action::RemoveNetwork { name, .. } => {
                remove_network_when_free(e, name, req.timeout).await?;
                report(a.describe());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Sets each secret and config reference's ID from its name.
fn fill_ids(spec: &mut serde_json::Value, ids: &BTreeMap<(DataKind, String), String>) {
    for (kind, field, id_key, name_key) in [
        (DataKind::Secret, "Secrets", "SecretID", "SecretName"),
        (DataKind::Config, "Configs", "ConfigID", "ConfigName"),
    ] {
        let Some(list) =
            spec.pointer_mut(&format!("/TaskTemplate/ContainerSpec/{field}")).and_then(|l| l.as_array_mut())
        else {
            continue;
        };
        for r in list {
            let name = r.get(name_key).and_then(|n| n.as_str()).unwrap_or_default().to_string();
            if let Some(id) = ids.get(&(kind, name)) {
                r[id_key] = serde_json::Value::String(id.clone());
            }
        }
    }
}

/// Creates or updates one service, then (unless detached) waits for it to converge.
async fn one_service<E: Swarm>(
    e: &E,
    s: &crate::swarm::WantedService,
    plan: &Plan,
    req: &DeployRequest,
    report: &(dyn Fn(String) + Send + Sync),
) -> Result<Option<Duration>, DeployError> {
    let before: BTreeSet<String> = e.tasks(&s.name).await.unwrap_or_default().into_iter().map(|t| t.id).collect();
    let start = Instant::now();
    let action = plan.actions.iter().find(|a| match a {
        Action::CreateService { name, .. } | Action::UpdateService { name, .. } | Action::KeepService { name, .. } => {
            name == &s.name
        }
        _ => false,
    });
    match action {
        Some(Action::CreateService { .. }) => {
            e.create_service(&s.spec, registry_auth(s, req).as_ref()).await?;
        }
        Some(Action::UpdateService { id, version, .. }) => {
            for w in e.update_service(id, *version, &s.spec, registry_auth(s, req).as_ref()).await? {
                report(format!("service {}: {w}", s.name));
            }
        }
        _ => {}
    }
    if let Some(a) = action {
        report(a.describe());
    }
    if req.detach {
        return Ok(None);
    }
    // A new or changed task template means new tasks: the old ones do not count.
    let fresh_only = match action {
        Some(Action::CreateService { .. }) => true,
        Some(Action::UpdateService { fields, .. }) => fields.iter().any(|f| f.starts_with("TaskTemplate")),
        _ => false,
    };
    let sent = matches!(action, Some(Action::CreateService { .. }) | Some(Action::UpdateService { .. }));
    converge(e, s, &before, fresh_only, sent, req.timeout, report).await?;
    let took = start.elapsed();
    report(format!("service {} converged ({:.1} s)", s.name, took.as_secs_f64()));
    Ok(Some(took))
}

/// With `--with-registry-auth`, the credentials the docker config holds for `s`'s image (read
/// only when the service is created or updated: a kept one sends nothing).
fn registry_auth(s: &crate::swarm::WantedService, req: &DeployRequest) -> Option<crate::engine::Credentials> {
    let image = s.spec.pointer("/TaskTemplate/ContainerSpec/Image")?.as_str().filter(|_| req.registry_auth)?;
    match &req.docker_config {
        Some(dir) => crate::build::registry::credentials_from(dir, image),
        None => crate::build::registry::credentials(image),
    }
}

/// How long the tasks of a service without a healthcheck must stay running to count.
pub const STABLE: Duration = Duration::from_secs(1);

/// The replicas a service wants: `None` for global services.
fn wanted_replicas(spec: &serde_json::Value) -> Option<u64> {
    spec.pointer("/Mode/Replicated/Replicas")
        .or_else(|| spec.pointer("/Mode/ReplicatedJob/TotalCompletions"))
        .and_then(serde_json::Value::as_u64)
}

/// Polls `s`'s tasks (Docker 20.10 sends no task events) until it has converged: a replicated
/// service's replicas all running (after its healthcheck, as Swarm counts it) and no update in
/// progress; a global one's every task running; a job's completions done. Fails when new tasks
/// keep failing (once for a service that is not restarted, three times otherwise), or an
/// update is paused or rolled back.
async fn converge<E: Swarm>(
    e: &E,
    s: &crate::swarm::WantedService,
    before: &BTreeSet<String>,
    fresh_only: bool,
    sent: bool,
    timeout: Duration,
    report: &(dyn Fn(String) + Send + Sync),
) -> Result<(), DeployError> {
    let start = Instant::now();
    // The progress line last reported (one more whenever the counts change).
    let mut shown = String::new();
    let replicas = wanted_replicas(&s.spec);
    let no_restart = s.spec.pointer("/TaskTemplate/RestartPolicy/Condition").and_then(|c| c.as_str()) == Some("none");
    let allowed_failures = if no_restart { 1 } else { 3 };
    // Running means healthy for a service with a healthcheck (Swarm holds its tasks in
    // `starting` until then), and done for a job; any other must stay running for a moment
    // first, so a task that exits at once is not taken for converged (the docker CLI waits 5 s).
    let health = s
        .spec
        .pointer("/TaskTemplate/ContainerSpec/Healthcheck/Test/0")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t != "NONE");
    // An unchanged service (nothing sent) was already running before this deploy.
    let window = if s.job || health || !sent { Duration::ZERO } else { STABLE };
    let mut since: Option<Instant> = None;
    loop {
        let tasks: Vec<TaskInfo> = e.tasks(&s.name).await?;
        let fresh: Vec<&TaskInfo> = tasks.iter().filter(|t| !before.contains(&t.id)).collect();
        let failed: Vec<&&TaskInfo> =
            fresh.iter().filter(|t| matches!(t.state.as_str(), "failed" | "rejected")).collect();
        if failed.len() >= allowed_failures {
            let last = failed.iter().max_by_key(|t| t.timestamp.clone()).map(|t| {
                let err = t.error.clone().unwrap_or_else(|| t.message.clone());
                match t.exit_code {
                    Some(c) if c != 0 && !err.contains(&format!("({c})")) => format!("{err} (exit code {c})"),
                    _ => err,
                }
            });
            let logs = match e.services(NAMESPACE).await {
                Ok(list) => match list.iter().find(|x| x.name == s.name) {
                    Some(x) => e.service_logs(&x.id, 10).await.unwrap_or_default(),
                    None => Vec::new(),
                },
                Err(_) => Vec::new(),
            };
            return Err(DeployError::Failed {
                service: s.name.clone(),
                reason: format!("{} task(s) failed; the last: {}", failed.len(), last.unwrap_or_default()),
                logs,
            });
        }
        let svc: Option<ServiceInfo> = e.services(NAMESPACE).await?.into_iter().find(|x| x.name == s.name);
        let update = svc.as_ref().and_then(|x| x.update_state.clone());
        if let Some(u) = update.as_deref().filter(|u| matches!(*u, "paused" | "rollback_completed" | "rollback_paused"))
        {
            let msg = svc.and_then(|x| x.update_message).unwrap_or_default();
            return Err(DeployError::Failed {
                service: s.name.clone(),
                reason: format!("update {u}: {msg}"),
                logs: Vec::new(),
            });
        }
        let updating = matches!(update.as_deref(), Some("updating") | Some("rollback_started"));
        let live: Vec<&TaskInfo> = tasks.iter().filter(|t| t.desired_state == "running").collect();
        let stale = fresh_only && live.iter().any(|t| before.contains(&t.id));
        let running = live.iter().filter(|t| t.state == "running").count() as u64;
        let complete = tasks.iter().filter(|t| t.state == "complete").count() as u64;
        let done = if s.job {
            match replicas {
                Some(n) => complete >= n,
                None => complete > 0 && live.is_empty(),
            }
        } else {
            !updating
                && !stale
                && match replicas {
                    Some(n) => running == n && live.len() as u64 == n,
                    None => running > 0 && running == live.len() as u64,
                }
        };
        let now = progress_line(&s.name, s.job, replicas, running, live.len() as u64, complete, updating);
        if now != shown {
            report(now.clone());
            shown = now;
        }
        match (done, since) {
            (true, Some(t)) if t.elapsed() >= window => return Ok(()),
            (true, None) if window.is_zero() => return Ok(()),
            (true, None) => since = Some(Instant::now()),
            (false, _) => since = None,
            _ => {}
        }
        if start.elapsed() > timeout {
            let state = format!(
                "{running} of {} running{}",
                replicas.map_or("all".to_string(), |n| n.to_string()),
                if updating { ", update in progress" } else { "" }
            );
            return Err(DeployError::Timeout { service: s.name.clone(), waited: timeout, state });
        }
        // Polling: the engine has no task events.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One line of a service's progress while a deploy waits for it: its tasks running out of
/// those it wants (completed, for a job), and whether an update is under way. Pure.
fn progress_line(
    name: &str,
    job: bool,
    replicas: Option<u64>,
    running: u64,
    live: u64,
    complete: u64,
    updating: bool,
) -> String {
    let wanted = replicas.unwrap_or(live).to_string();
    let counts = match job {
        true => format!("{complete}/{} completed", replicas.map_or("?".to_string(), |n| n.to_string())),
        false => format!("{running}/{wanted} running"),
    };
    format!("service {name}: {counts}{}", if updating { ", updating" } else { "" })
}

/// Removes network `name` once no task holds it any more (bounded by `timeout`).
async fn remove_network_when_free<E: Swarm>(e: &E, name: &str, timeout: Duration) -> Result<(), EngineError> {
    let start = Instant::now();
    loop {
        match e.remove_network(name).await {
            Ok(()) | Err(EngineError::NotFound { .. }) => return Ok(()),
            Err(err)
                if start.elapsed() < timeout
                    && matches!(
                        err,
                        EngineError::NetworkInUse { .. } | EngineError::Conflict { .. } | EngineError::Api { .. }
                    ) =>
            {
                // Its tasks' containers are still being removed.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// What `stack rm` removed.
#[derive(Debug, Clone, Default)]
pub struct Removed {
    pub services: Vec<String>,
    pub networks: Vec<String>,
    pub data: Vec<(DataKind, String)>,
}

/// `stack rm STACK`: its services, then (once their tasks are gone) its networks, secrets and
/// configs.
pub async fn remove<E: Swarm>(e: &E, stack: &str, timeout: Duration) -> Result<Removed, EngineError> {
    let c = current(e, stack).await?;
    let mut out = Removed::default();
    for s in &c.services {
        e.remove_service(&s.id).await?;
        out.services.push(s.name.clone());
    }
    // Until the removed services' tasks are over (their running containers hold the networks).
    let start = Instant::now();
    while start.elapsed() < timeout && !c.services.is_empty() {
        if e.tasks_labelled(&format!("{NAMESPACE}={stack}")).await?.iter().all(TaskInfo::is_over) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in &c.networks {
        remove_network_when_free(e, &n.name, timeout).await?;
        out.networks.push(n.name.clone());
    }
    for (kind, d) in &c.data {
        e.remove_data(*kind, &d.id).await?;
        out.data.push((*kind, d.name.clone()));
    }
    Ok(out)
}

/// The stacks on the cluster: name → number of services.
pub async fn stacks<E: Swarm>(e: &E) -> Result<BTreeMap<String, usize>, EngineError> {
    let mut out = BTreeMap::new();
    for s in e.services(NAMESPACE).await? {
        if let Some(n) = s.label(NAMESPACE) {
            *out.entry(n.to_string()).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// A stack's services with their tasks.
pub async fn services<E: Swarm>(e: &E, stack: &str) -> Result<Vec<(ServiceInfo, Vec<TaskInfo>)>, EngineError> {
    let mut list = e.services(&format!("{NAMESPACE}={stack}")).await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for s in list {
        let t = e.tasks(&s.id).await?;
        out.push((s, t));
    }
    Ok(out)
}

/// Whether the object `o` belongs to `stack`.
pub fn of_stack(o: &SwarmObject, stack: &str) -> bool {
    o.labels.get(NAMESPACE).map(String::as_str) == Some(stack)
}

#[cfg(test)]
mod tests {
    use super::progress_line;

    #[test]
    fn progress_lines_count_what_each_mode_waits_for() {
        assert_eq!(progress_line("s_web", false, Some(3), 1, 3, 0, false), "service s_web: 1/3 running");
        assert_eq!(progress_line("s_web", false, Some(3), 3, 4, 0, true), "service s_web: 3/3 running, updating");
        // Global: as many as there are tasks to run (one per eligible node).
        assert_eq!(progress_line("s_agent", false, None, 1, 2, 0, false), "service s_agent: 1/2 running");
        assert_eq!(progress_line("s_seed", true, Some(2), 0, 1, 1, false), "service s_seed: 1/2 completed");
    }
}
