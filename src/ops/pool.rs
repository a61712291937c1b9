//! Warm pools: copies of a project brought up ahead of time (unique names, ephemeral host
//! ports, readiness as `up --wait`, an optional prepare step), then frozen with the engine's
//! pause, so `wharf test --pool` can hand one out in milliseconds. A copy is used once and
//! removed; the pool is refilled in the background.
//!
//! What a copy is, is told by the engine alone, from labels and container states:
//! - **ready**: every container that is not a finished one-shot is paused;
//! - **in use**: a live process other than its filler holds the copy's project lock (its
//!   claimer);
//! - **filling**: its filler is alive (or cannot be checked from here);
//! - **abandoned**: none of these: a fill or a claimer died. `pool gc` and `wharf gc` remove it.
//!
//! A copy belongs to one configuration: its key hashes every service's config hash, replica
//! count and image ID, the networks and volumes, and the prepare step. A copy whose key is not
//! the project's current one is stale: never handed out, removed by `pool gc` and the next fill.
//!
//! Claiming is atomic across processes: the claimer takes the copy's project lock without
//! waiting (claimers on one machine exclude each other there), then unpauses the copy's key
//! container (the first by name of those not exited) with the others. The engine unpauses a
//! container only if it is paused, under the container's own lock, so even of two claimers
//! that share no lock directory (two CI containers on one engine) exactly one succeeds.
//!
//! Measured on Docker 20.10: pausing sets a container's health to `unhealthy` at once (no
//! event), and after unpause it stays so until the engine's next probe, one `interval` later.
//! So a claim does not read the engine's health: it runs each healthcheck's test itself, once,
//! right after unpausing, and retries it briefly only if that fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::engine::{ContainerInfo, Engine, EngineError, ImageInfo, State};
use crate::lock::ProjectLock;
use crate::lock::{Owner, owner_identity, owner_state};
use crate::model::Project;
use crate::model::labels::{NUMBER, PROJECT, SERVICE};
use crate::progress::Report;

/// The pool a copy belongs to: the project's own name.
pub const POOL: &str = "dev.wharf.pool";
/// The configuration the copy was made from (see [`key`]).
pub const KEY: &str = "dev.wharf.pool.key";
/// The size the pool was filled to (a refill fills to it again).
pub const SIZE: &str = "dev.wharf.pool.size";
/// The PID of the process that made the copy.
pub const FILLER: &str = "dev.wharf.pool.filler";
/// That process's identity (see [`crate::lock::owner_identity`]).
pub const FILLER_ID: &str = "dev.wharf.pool.filler-id";
/// The largest pool `fill` makes: each copy holds its memory while paused.
pub const MAX_SIZE: usize = 16;
/// The size a refill aims for when no copy says what the pool was filled to.
pub const DEFAULT_SIZE: usize = 2;

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The compose files do not load.
    #[error("the compose project is invalid:\n{}", .0.render())]
    Load(crate::diag::Diagnostics),
    /// The project cannot be pooled as written.
    #[error("project `{project}` cannot be pooled: {reason}")]
    Refused { project: String, reason: String, hint: String },
    /// Bringing a copy up failed (it was removed again).
    #[error("filling pool `{pool}`: copy {copy}: {source}")]
    Copy {
        pool: String,
        copy: String,
        #[source]
        source: Box<super::Error>,
    },
    /// The prepare step failed in a copy (it was removed again).
    #[error(transparent)]
    Prepare(Box<PrepareFailed>),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The pool's fill lock could not be taken.
    #[error("cannot take the fill lock of pool `{pool}`: {reason}")]
    Lock { pool: String, reason: String },
}

/// A prepare step that failed, with its output.
#[derive(Debug, thiserror::Error)]
#[error(
    "filling pool `{pool}`: the prepare step `{command}` in service `{service}` of copy {copy} exited {code}:\n{output}"
)]
pub struct PrepareFailed {
    pub pool: String,
    pub copy: String,
    pub service: String,
    pub command: String,
    pub code: i64,
    pub output: String,
}

impl PoolError {
    /// A likely fix, for a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            PoolError::Refused { hint, .. } => Some(hint.clone()),
            PoolError::Copy { source, .. } => source.hint(),
            PoolError::Prepare(_) => Some(
                "run the step by hand in a stack of its own: `wharf up -d --wait` then `wharf exec SERVICE CMD…`"
                    .into(),
            ),
            PoolError::Engine(e) => e.hint(),
            _ => None,
        }
    }
}

/// The prepare step: a command run in the first container of a service of each copy, once,
/// before it is frozen (migrations, seed data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    pub service: String,
    pub command: Vec<String>,
}

impl Prepare {
    /// `x-wharf: {pool: {prepare: [SERVICE, CMD, ARG…]}}` of `project`, if written.
    pub fn from_project(project: &Project) -> Result<Option<Prepare>, PoolError> {
        let Some(p) = project.extensions.get("x-wharf").and_then(|x| x.get("pool")).and_then(|p| p.get("prepare"))
        else {
            return Ok(None);
        };
        let words: Option<Vec<String>> =
            p.as_array().map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_string)).collect());
        match words {
            Some(w) if w.len() >= 2 && p.as_array().is_some_and(|a| a.len() == w.len()) => {
                Ok(Some(Prepare { service: w[0].clone(), command: w[1..].to_vec() }))
            }
            _ => Err(PoolError::Refused {
                project: project.name.clone(),
                reason:
                    "`x-wharf.pool.prepare` must be a list of strings: the service, then the command and its arguments"
                        .into(),
                hint: "write `x-wharf: {pool: {prepare: [db, sh, -c, \"./migrate\"]}}`".into(),
            }),
        }
    }
}

/// The key of `project`'s configuration: a SHA-256 (16 hex digits) over each service's config
/// hash, replica count and image ID (`images`, by image name), the networks and volumes as
/// loaded, and the prepare step. Pure.
pub fn key(project: &Project, images: &BTreeMap<String, String>, prepare: Option<&Prepare>) -> String {
    let mut h = Sha256::new();
    h.update(b"wharf-pool-v1\n");
    let mut names: Vec<&String> = project.services.keys().collect();
    names.sort();
    for name in names {
        let svc = &project.services[name];
        let image = crate::plan::spec::image_name(&project.name, name, svc);
        let id = images.get(&image).map(String::as_str).unwrap_or("");
        h.update(format!("{name}\t{}\t{}\t{id}\n", crate::hash::service_hash(svc), svc.replicas()).as_bytes());
    }
    let json =
        |v: serde_json::Result<serde_json::Value>| v.map(|v| crate::hash::canonical_json(&v)).unwrap_or_default();
    h.update(json(serde_json::to_value(&project.networks)).as_bytes());
    h.update(json(serde_json::to_value(&project.volumes)).as_bytes());
    if let Some(p) = prepare {
        h.update(format!("prepare\t{}\t{}\n", p.service, p.command.join("\u{1f}")).as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What stops `project` from being pooled: copies exist side by side, so nothing may have a
/// fixed name or a fixed host port.
pub fn refusal(project: &Project) -> Option<PoolError> {
    let refuse =
        |reason: String, hint: String| Some(PoolError::Refused { project: project.name.clone(), reason, hint });
    for (name, svc) in &project.services {
        if let Some(c) = &svc.container_name {
            return refuse(
                format!("service `{name}` sets `container_name: {c}`, which every copy would need at once"),
                format!("remove `container_name` from `{name}` (in a file of its own for the pool, with `-f`)"),
            );
        }
        if let Some(p) = svc.ports.iter().find(|p| p.published.as_deref().is_some_and(|x| !x.is_empty())) {
            return refuse(
                format!(
                    "service `{name}` publishes the fixed host port {}, which every copy would need at once",
                    p.published.as_deref().unwrap_or("")
                ),
                format!("write `\"{}\"` for an ephemeral port; `wharf test` tells the command which one", p.target),
            );
        }
    }
    None
}

/// What a copy is now (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyState {
    Filling,
    Ready,
    InUse,
    Abandoned,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Filling => "filling",
            CopyState::Ready => "ready",
            CopyState::InUse => "in use",
            CopyState::Abandoned => "abandoned",
        }
    }
}

/// Whether `c` is a one-shot that finished (it stays as it is; nothing to pause).
fn finished(c: &ContainerInfo) -> bool {
    matches!(c.state, State::Exited | State::Dead)
}

/// The container whose unpause claims the copy: the first by name of those not finished. Its
/// choice does not change while the copy is ready or being claimed.
pub fn key_container(containers: &[ContainerInfo]) -> Option<&ContainerInfo> {
    containers.iter().filter(|c| !finished(c)).min_by(|a, b| a.name.cmp(&b.name))
}

/// The state of a copy from its containers, whether its filler is alive, and whether a live
/// process other than its filler holds its lock (a claimer). Pure.
pub fn classify(containers: &[ContainerInfo], filler: Owner, claimed: bool) -> CopyState {
    let live: Vec<&ContainerInfo> = containers.iter().filter(|c| !finished(c)).collect();
    if claimed {
        return CopyState::InUse;
    }
    if !live.is_empty() && live.iter().all(|c| c.state == State::Paused) {
        return CopyState::Ready;
    }
    match filler {
        Owner::Alive | Owner::Unknown => CopyState::Filling,
        Owner::Gone => CopyState::Abandoned,
    }
}

/// One copy of a pool, as the engine shows it.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Its project name.
    pub project: String,
    pub pool: String,
    pub key: String,
    pub size: usize,
    /// When its first container was made (seconds since the epoch); 0 without containers.
    pub created: i64,
    pub state: CopyState,
    pub containers: Vec<ContainerInfo>,
}

impl Copy {
    fn filler(labels: &BTreeMap<String, String>) -> Owner {
        match labels.get(FILLER).and_then(|p| p.parse::<u32>().ok()) {
            Some(pid) => owner_state(pid, labels.get(FILLER_ID).map(String::as_str)),
            None => Owner::Unknown,
        }
    }
}

/// The copies of pool `pool` (every pool when `None`) on the engine, oldest first; `endpoint`
/// keys their locks.
pub async fn copies<E: Engine>(engine: &E, pool: Option<&str>, endpoint: &str) -> Result<Vec<Copy>, EngineError> {
    let label = match pool {
        Some(p) => format!("{POOL}={p}"),
        None => POOL.to_string(),
    };
    let (list, leftovers) = tokio::try_join!(engine.list_labelled(&label), engine.labelled_leftovers(&label))?;
    let mut by: BTreeMap<String, (BTreeMap<String, String>, Vec<ContainerInfo>)> = BTreeMap::new();
    for c in list {
        let Some(p) = c.label(PROJECT).map(str::to_string) else { continue };
        by.entry(p).or_insert_with(|| (c.labels.clone(), Vec::new())).1.push(c);
    }
    for labels in leftovers {
        if let Some(p) = labels.get(PROJECT).cloned() {
            by.entry(p).or_insert_with(|| (labels, Vec::new()));
        }
    }
    let mut out: Vec<Copy> = by
        .into_iter()
        .map(|(project, (labels, containers))| {
            // Held by someone other than its filler (which locks it while bringing it up): claimed.
            let filler_pid = labels.get(FILLER).and_then(|p| p.parse::<u32>().ok());
            let claimed = ProjectLock::holder(endpoint, &project).is_some_and(|h| Some(h) != filler_pid);
            let state = classify(&containers, Copy::filler(&labels), claimed);
            Copy {
                pool: labels.get(POOL).cloned().unwrap_or_default(),
                key: labels.get(KEY).cloned().unwrap_or_default(),
                size: labels.get(SIZE).and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SIZE),
                created: containers.iter().map(|c| c.created).min().unwrap_or(0),
                state,
                containers,
                project,
            }
        })
        .collect();
    out.sort_by(|a, b| (a.created, &a.project).cmp(&(b.created, &b.project)));
    Ok(out)
}

/// The images `project` runs, inspected: by image name, `None` for one that is not there.
pub async fn images<E: Engine>(
    engine: &E,
    project: &Project,
) -> Result<BTreeMap<String, Option<ImageInfo>>, EngineError> {
    let mut names: Vec<String> =
        project.services.iter().map(|(n, s)| crate::plan::spec::image_name(&project.name, n, s)).collect();
    names.sort();
    names.dedup();
    let found = futures::future::try_join_all(names.iter().map(|n| engine.image_info(n))).await?;
    Ok(names.into_iter().zip(found).collect())
}

/// The image IDs of `images` (what [`key`] takes).
pub fn image_ids(images: &BTreeMap<String, Option<ImageInfo>>) -> BTreeMap<String, String> {
    images.iter().filter_map(|(n, i)| i.as_ref().map(|i| (n.clone(), i.id.clone()))).collect()
}

/// The readiness test of each service, as a command to exec: the service's healthcheck, else
/// its image's; services without one are ready once running.
pub fn probes(project: &Project, images: &BTreeMap<String, Option<ImageInfo>>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, svc) in &project.services {
        let test = match crate::plan::spec::health(svc) {
            Some(h) if !h.test.is_empty() => h.test,
            _ => images
                .get(&crate::plan::spec::image_name(&project.name, name, svc))
                .and_then(|i| i.as_ref())
                .map(|i| i.health_test.clone())
                .unwrap_or_default(),
        };
        let cmd = match test.split_first() {
            Some((first, rest)) if first == "CMD" => rest.to_vec(),
            Some((first, rest)) if first == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), rest.join(" ")],
            _ => continue,
        };
        if !cmd.is_empty() {
            out.insert(name.clone(), cmd);
        }
    }
    out
}

/// A copy handed out: its project's lock is held until this is dropped (after the copy is
/// removed).
#[derive(Debug)]
pub struct Claimed {
    /// The copy's project name.
    pub project: String,
    /// Its containers, as listed before the claim (paused ones are running now).
    pub containers: Vec<ContainerInfo>,
    /// The size the pool was filled to.
    pub size: usize,
    /// From the first engine call to ready.
    pub took: Duration,
    lock: ProjectLock,
}

impl Claimed {
    /// Lets go of the copy's lock (after it was removed).
    pub fn release(self) {
        drop(self.lock);
    }
}

/// Why no copy was handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoCopy {
    /// Copies of this configuration being filled.
    pub filling: usize,
    /// Copies of an older configuration (never handed out).
    pub stale: usize,
    /// Ready copies that failed their check after unpausing (removed).
    pub failed: Vec<String>,
    /// The size the pool was filled to, if any copy says.
    pub size: Option<usize>,
}

impl NoCopy {
    /// One line for the user.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.filling > 0 {
            parts.push(format!("{} filling", self.filling));
        }
        if self.stale > 0 {
            parts.push(format!("{} stale (an older configuration)", self.stale));
        }
        if !self.failed.is_empty() {
            parts.push(format!("{} not ready after unpausing: {}", self.failed.len(), self.failed.join(", ")));
        }
        match parts.is_empty() {
            true => "no ready copy".into(),
            false => format!("no ready copy ({})", parts.join("; ")),
        }
    }
}

/// What [`claim`] needs.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The pool: the project's own name.
    pub pool: String,
    /// The current configuration's [`key`].
    pub key: String,
    /// Readiness tests by service ([`probes`]).
    pub probes: BTreeMap<String, Vec<String>>,
    /// How long a copy may take to pass its tests after unpausing.
    pub timeout: Duration,
    /// The engine endpoint locks are keyed by.
    pub endpoint: String,
}

/// Hands out a ready copy of the current configuration, oldest first: takes its lock, unpauses
/// it (the key container's unpause is the atomic claim), and checks it is ready. A copy that
/// fails the check is removed and the next one tried. With none ready but some of this
/// configuration being filled, and `wait_for_filling`, it waits for one of those (it started
/// before a cold start would, so it is ready sooner), as long as any is still filling and at
/// most `req.timeout`.
pub async fn claim<E: Engine>(
    engine: &E,
    req: &ClaimRequest,
    wait_for_filling: bool,
    mut waiting: impl FnMut(&NoCopy),
) -> Result<Result<Claimed, NoCopy>, EngineError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + req.timeout;
    let mut said = false;
    loop {
        match claim_once(engine, req, started).await? {
            Err(none) if wait_for_filling && none.filling > 0 && tokio::time::Instant::now() < deadline => {
                if !said {
                    waiting(&none);
                    said = true;
                }
                // The engine tells no "copy ready" event of its own: look again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return Ok(other),
        }
    }
}

async fn claim_once<E: Engine>(
    engine: &E,
    req: &ClaimRequest,
    started: Instant,
) -> Result<Result<Claimed, NoCopy>, EngineError> {
    let all = copies(engine, Some(&req.pool), &req.endpoint).await?;
    let mut none = NoCopy { size: all.iter().map(|c| c.size).max(), ..Default::default() };
    for copy in all {
        if copy.key != req.key {
            none.stale += 1;
            continue;
        }
        match copy.state {
            CopyState::Ready => {}
            CopyState::Filling => {
                none.filling += 1;
                continue;
            }
            _ => continue,
        }
        let Ok(Some(lock)) = ProjectLock::try_acquire(&req.endpoint, &copy.project) else { continue };
        let Some(first) = key_container(&copy.containers) else { continue };
        // All unpaused at once; the key container's unpause decides whose copy it is. (Only a
        // claimer that shares no lock directory with this one can race it here; the loser may
        // have unpaused some of the winner's containers, which the winner takes as done.)
        let deadline = tokio::time::Instant::now() + req.timeout;
        let (key_ok, others) = futures::future::join(
            engine.unpause_container(&first.id),
            futures::future::join_all(
                copy.containers.iter().filter(|c| c.id != first.id && c.state == State::Paused).map(|c| async {
                    match engine.unpause_container(&c.id).await {
                        Ok(()) | Err(EngineError::Conflict { .. }) => true,
                        Err(_) => false,
                    }
                }),
            ),
        )
        .await;
        if key_ok.is_err() {
            // Another claimer was first.
            continue;
        }
        // Each container's test, the moment all run.
        let checks = copy.containers.iter().filter(|c| !finished(c)).map(|c| async {
            match c.label(SERVICE).and_then(|s| req.probes.get(s)) {
                Some(cmd) => passes(engine, &c.id, cmd, deadline).await,
                None => true,
            }
        });
        let ready = others.iter().all(|ok| *ok) && futures::future::join_all(checks).await.into_iter().all(|ok| ok);
        if !ready {
            let _ = crate::scheduler::purge(engine, &copy.project, &Report::silent()).await;
            none.failed.push(copy.project.clone());
            continue;
        }
        let mut containers = copy.containers;
        for c in containers.iter_mut().filter(|c| c.state == State::Paused) {
            c.state = State::Running;
        }
        return Ok(Ok(Claimed { project: copy.project, containers, size: copy.size, took: started.elapsed(), lock }));
    }
    Ok(Err(none))
}

/// The longest one readiness test after unpausing may take before it is tried again.
const ATTEMPT: Duration = Duration::from_secs(5);

/// Runs a container's readiness test `cmd` now, and again 50 ms after each failure, until it
/// passes or the deadline.
async fn passes<E: Engine>(engine: &E, id: &str, cmd: &[String], deadline: tokio::time::Instant) -> bool {
    loop {
        // One attempt may not take the whole deadline: a test that hangs is tried again.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).min(ATTEMPT);
        if let Ok(Ok(out)) = tokio::time::timeout(left, engine.exec(id, cmd)).await
            && out.exit_code == 0
        {
            return true;
        }
        if tokio::time::Instant::now() + Duration::from_millis(50) >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What `pool fill` is asked for.
#[derive(Debug, Clone)]
pub struct FillRequest {
    /// Ready copies wanted.
    pub size: usize,
    /// `--prepare` (else `x-wharf.pool.prepare`).
    pub prepare: Option<Prepare>,
    /// Seconds each copy may take to be ready.
    pub wait_timeout: u64,
    /// The engine endpoint locks are keyed by.
    pub endpoint: String,
    /// `--build`, `--no-build`, `--pull` for the images, built or pulled once for all copies.
    pub images: crate::build::ensure::ImageFlags,
    pub parallel: Option<usize>,
    pub report: Report,
}

/// What a fill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filled {
    pub pool: String,
    pub key: String,
    /// Copies made, with how long each took to be ready and frozen.
    pub created: Vec<(String, Duration)>,
    /// Stale and abandoned copies removed.
    pub removed: Vec<String>,
    /// Ready copies of the current configuration afterwards.
    pub ready: usize,
}

/// `pool fill`: loads the project (`opts`), builds or pulls its images once, and makes copies
/// until `size` of the current configuration are ready, removing stale and abandoned ones
/// first. One fill at a time per pool: a second waits, then finds the pool full.
pub async fn fill<E: Engine>(engine: &E, opts: &crate::LoadOptions, req: &FillRequest) -> Result<Filled, PoolError> {
    let base = crate::load(opts).map_err(PoolError::Load)?.project;
    if let Some(refused) = refusal(&base) {
        return Err(refused);
    }
    let prepare = match &req.prepare {
        Some(p) => Some(p.clone()),
        None => Prepare::from_project(&base)?,
    };
    if let Some(p) = &prepare
        && !base.services.contains_key(&p.service)
    {
        return Err(PoolError::Refused {
            project: base.name.clone(),
            reason: format!("the prepare step names service `{}`, which the project does not have", p.service),
            hint: format!("name one of: {}", base.services.keys().cloned().collect::<Vec<_>>().join(", ")),
        });
    }
    let wrap = |copy: &str, e: super::Error| PoolError::Copy {
        pool: base.name.clone(),
        copy: copy.into(),
        source: Box::new(e),
    };
    crate::build::ensure::images(engine, &base, &opts.environment, &[], &req.images, 4, &req.report)
        .await
        .map_err(|e| wrap("(images)", e.into()))?;
    let imgs = images(engine, &base).await?;
    let key = key(&base, &image_ids(&imgs), prepare.as_ref());
    let _fill_lock = ProjectLock::acquire(&req.endpoint, &format!("{}.pool-fill", base.name))
        .map_err(|e| PoolError::Lock { pool: base.name.clone(), reason: e.to_string() })?;
    let size = req.size.clamp(1, MAX_SIZE);
    let mut done = Filled { pool: base.name.clone(), key: key.clone(), ..Default::default() };
    // Claims may take copies while this fills: the copies are counted again whenever one is
    // done and every 200 ms, and new ones started at once to keep `size` ready or on their
    // way (at most 4 × size in one fill; the fills queued behind this one go on from there).
    let mut flying = futures::stream::FuturesUnordered::new();
    let mut started = 0;
    loop {
        let all = copies(engine, Some(&base.name), &req.endpoint).await?;
        let mut ready = 0;
        for c in &all {
            let gone = c.state == CopyState::Abandoned || (c.key != key && c.state == CopyState::Ready);
            if gone {
                crate::scheduler::purge(engine, &c.project, &req.report).await?;
                done.removed.push(c.project.clone());
            } else if c.key == key && c.state == CopyState::Ready {
                ready += 1;
            }
        }
        done.ready = ready;
        let wanted = size.saturating_sub(ready + flying.len()).min((4 * size).saturating_sub(started));
        for _ in 0..wanted {
            flying.push(make_copy(engine, opts, &base, &key, size, prepare.as_ref(), req));
            started += 1;
        }
        if flying.is_empty() {
            break;
        }
        tokio::select! {
            Some(made) = futures::StreamExt::next(&mut flying) => {
                let (copy, took) = made?;
                done.created.push((copy, took));
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    Ok(done)
}

/// Brings one copy up, runs the prepare step, and pauses it (the key container last, so a copy
/// whose key container is paused is complete). On failure the copy is removed.
async fn make_copy<E: Engine>(
    engine: &E,
    opts: &crate::LoadOptions,
    base: &Project,
    key: &str,
    size: usize,
    prepare: Option<&Prepare>,
    req: &FillRequest,
) -> Result<(String, Duration), PoolError> {
    let started = Instant::now();
    let name = format!("{}-pool-{}", base.name, super::unique_hex(6));
    let opts = crate::LoadOptions { project_name: Some(name.clone()), ..opts.clone() };
    let mut project = crate::load(&opts).map_err(PoolError::Load)?.project;
    label_copy(&mut project, &base.name, key, size);
    for (svc_name, svc) in project.services.iter_mut() {
        // Built images are built once, under the pool's own name, for every copy.
        if svc.image.is_none() {
            svc.image = Some(crate::plan::spec::image_name(&base.name, svc_name, svc));
        }
        svc.build = None;
        early_probes(svc, req.wait_timeout);
    }
    let up = super::up::UpRequest {
        environment: opts.environment.clone(),
        ensure_images: false,
        lock: Some(req.endpoint.clone()),
        parallel: req.parallel,
        report: Report::silent(),
        ..super::up::UpRequest::detached_wait(&[], Some(req.wait_timeout))
    };
    let result = async {
        super::up::up(engine, &project, &up).await.map_err(|e| PoolError::Copy {
            pool: base.name.clone(),
            copy: name.clone(),
            source: Box::new(e),
        })?;
        let list = engine.list_containers(&name).await?;
        if let Some(p) = prepare {
            let target = list
                .iter()
                .filter(|c| c.label(SERVICE) == Some(p.service.as_str()) && c.state == State::Running)
                .min_by_key(|c| c.label(NUMBER).and_then(|n| n.parse::<u32>().ok()).unwrap_or(u32::MAX));
            let out = match target {
                Some(c) => engine.exec(&c.id, &p.command).await?,
                None => {
                    crate::engine::ExecOutput { exit_code: -1, output: "the service has no running container".into() }
                }
            };
            if out.exit_code != 0 {
                return Err(PoolError::Prepare(Box::new(PrepareFailed {
                    pool: base.name.clone(),
                    copy: name.clone(),
                    service: p.service.clone(),
                    command: p.command.join(" "),
                    code: out.exit_code,
                    output: out.output,
                })));
            }
        }
        let list = engine.list_containers(&name).await?;
        let first = key_container(&list).map(|c| c.id.clone());
        let rest = list.iter().filter(|c| c.state == State::Running && Some(&c.id) != first.as_ref());
        futures::future::try_join_all(rest.map(|c| freeze(engine, &c.id))).await?;
        if let Some(first) = first {
            freeze(engine, &first).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok((name, started.elapsed())),
        Err(e) => {
            let _ = crate::scheduler::purge(engine, &name, &Report::silent()).await;
            Err(e)
        }
    }
}

/// Pauses container `id` with no exec in flight inside it. Seen on Docker 20.10 in a run of
/// 20 claims: one unpause took 29.4 s, the engine's default health probe timeout (30 s); the
/// engine's probes run as execs, and one caught by the freeze cannot end until then. So the
/// pause waits for running execs to end, and a pause that caught one anyway (it started in
/// between) is undone, the exec let finish, and the pause tried again. (The engine also keeps
/// execs that were created and never started, e.g. a probe that met a paused container; those
/// do not count.)
async fn freeze<E: Engine>(engine: &E, id: &str) -> Result<(), EngineError> {
    let idle = || async {
        // Health probes end within their timeout; most take milliseconds.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while engine.running_execs(id).await? > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<(), EngineError>(())
    };
    for _ in 0..10 {
        idle().await?;
        engine.pause_container(id).await?;
        if engine.running_execs(id).await? == 0 {
            return Ok(());
        }
        engine.unpause_container(id).await?;
    }
    Err(EngineError::Conflict {
        what: format!("container `{id}`"),
        message: "an exec was always running when it was paused".into(),
    })
}

/// A copy is ready once its healthchecks pass, not one `interval` after start: each
/// healthcheck without a `start_interval` gets one of 100 ms (emulated through exec on engines
/// older than API 1.44, as for `up`), with a `start_period` of the fill's wait timeout where it
/// has none. Only copies get this; the claim runs the tests again anyway.
fn early_probes(svc: &mut crate::model::Service, wait_timeout: u64) {
    let Some(h) = svc.healthcheck.as_mut() else { return };
    if h.disable == Some(true) || h.test.first().is_some_and(|t| t == "NONE") || h.start_interval.is_some() {
        return;
    }
    h.start_interval = Some(crate::model::Duration::from_nanos(100_000_000));
    if h.start_period.is_none_or(|p| p.as_secs() == 0) {
        h.start_period = Some(crate::model::Duration::from_secs(wait_timeout.max(1) as i64));
    }
}

/// Labels every service, network and volume of a copy with its pool, key, size and filler.
fn label_copy(project: &mut Project, pool: &str, key: &str, size: usize) {
    let pid = std::process::id();
    let id = owner_identity(pid);
    for l in project.labels_mut() {
        l.insert(POOL.into(), pool.into());
        l.insert(KEY.into(), key.into());
        l.insert(SIZE.into(), size.to_string());
        l.insert(FILLER.into(), pid.to_string());
        if let Some(id) = &id {
            l.insert(FILLER_ID.into(), id.clone());
        }
    }
}

/// Starts `bin ARGS… --progress quiet pool fill --size N` (with the variables `env` on top of
/// this process's) in the background, in a process group of its own (a Ctrl-C aimed at a test
/// does not stop it), its output appended to `$TMPDIR/wharf-pools/POOL.log`, whose path it
/// returns.
pub fn spawn_refill(
    bin: &std::path::Path,
    args: &[std::ffi::OsString],
    env: &[(String, String)],
    pool: &str,
    size: usize,
) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join("wharf-pools");
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join(format!("{pool}.log"));
    let open = || std::fs::OpenOptions::new().create(true).append(true).open(&log);
    let (out, err) = match (open(), open()) {
        (Ok(o), Ok(e)) => (std::process::Stdio::from(o), std::process::Stdio::from(e)),
        _ => (std::process::Stdio::null(), std::process::Stdio::null()),
    };
    std::process::Command::new(bin)
        .args(args)
        .args(["--progress", "quiet", "pool", "fill", "--size", &size.to_string()])
        .envs(env.iter().cloned())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()?;
    Ok(log)
}

/// What `pool gc` or `pool rm` removed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub removed: Vec<(String, CopyState)>,
    /// Copies in use (their claimers remove them).
    pub kept: Vec<String>,
}

/// `pool gc` (with the pool and its current key) or `wharf gc` (every pool, `None`): removes
/// abandoned copies, and stale ones that are ready.
pub async fn gc<E: Engine>(
    engine: &E,
    current: Option<(&str, &str)>,
    endpoint: &str,
    report: &Report,
) -> Result<Swept, EngineError> {
    let mut out = Swept::default();
    for c in copies(engine, current.map(|(p, _)| p), endpoint).await? {
        let stale = current.is_some_and(|(_, key)| c.key != key);
        if c.state == CopyState::Abandoned || (stale && c.state == CopyState::Ready) {
            crate::scheduler::purge(engine, &c.project, report).await?;
            out.removed.push((c.project, c.state));
        }
    }
    Ok(out)
}

/// `pool rm`: removes every copy of `pool` that is not in use.
pub async fn remove<E: Engine>(engine: &E, pool: &str, endpoint: &str, report: &Report) -> Result<Swept, EngineError> {
    let mut out = Swept::default();
    for c in copies(engine, Some(pool), endpoint).await? {
        if c.state == CopyState::InUse {
            out.kept.push(c.project);
        } else {
            crate::scheduler::purge(engine, &c.project, report).await?;
            out.removed.push((c.project, c.state));
        }
    }
    Ok(out)
}

/// One row of `pool ls`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub pool: String,
    pub copy: String,
    pub state: CopyState,
    /// Its key differs from the project's current one (known only for the project loaded).
    pub stale: Option<bool>,
    pub age_seconds: i64,
    /// Memory its containers hold (bytes, page cache excluded).
    pub memory: u64,
    pub containers: usize,
}

/// `pool ls`: every pool's copies with state, age and memory; `current` marks stale ones of
/// the project loaded.
pub async fn list<E: Engine>(
    engine: &E,
    current: Option<(&str, &str)>,
    endpoint: &str,
) -> Result<Vec<Listed>, EngineError> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let all = copies(engine, None, endpoint).await?;
    let memory = futures::future::join_all(all.iter().map(|c| async move {
        let live = c.containers.iter().filter(|c| !finished(c));
        let stats = futures::future::join_all(live.map(|c| engine.stats(&c.id))).await;
        stats.into_iter().filter_map(Result::ok).map(|s| s.mem_usage).sum::<u64>()
    }))
    .await;
    Ok(all
        .into_iter()
        .zip(memory)
        .map(|(c, memory)| Listed {
            stale: current.filter(|(p, _)| *p == c.pool).map(|(_, key)| c.key != key),
            age_seconds: if c.created > 0 { (now - c.created).max(0) } else { 0 },
            containers: c.containers.len(),
            pool: c.pool,
            copy: c.project,
            state: c.state,
            memory,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, state: State) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{name}"),
            name: name.into(),
            image: "img".into(),
            image_id: "sha256:1".into(),
            command: String::new(),
            created: 0,
            state,
            status: String::new(),
            labels: Default::default(),
            mounts: Vec::new(),
            ports: Vec::new(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn a_copy_is_ready_only_when_everything_but_finished_one_shots_is_paused() {
        let ready = [container("p-db-1", State::Paused), container("p-migrate-1", State::Exited)];
        assert_eq!(classify(&ready, Owner::Gone, false), CopyState::Ready);
        let half = [container("p-db-1", State::Paused), container("p-web-1", State::Running)];
        assert_eq!(classify(&half, Owner::Alive, false), CopyState::Filling);
        assert_eq!(classify(&half, Owner::Unknown, false), CopyState::Filling);
        assert_eq!(classify(&half, Owner::Gone, false), CopyState::Abandoned);
        // A copy being claimed or in use: its lock is held, whatever its containers show.
        assert_eq!(classify(&ready, Owner::Gone, true), CopyState::InUse);
        assert_eq!(classify(&half, Owner::Gone, true), CopyState::InUse);
        // Nothing but networks yet, or only finished one-shots: not ready.
        assert_eq!(classify(&[], Owner::Gone, false), CopyState::Abandoned);
        assert_eq!(classify(&[container("p-m-1", State::Exited)], Owner::Alive, false), CopyState::Filling);
    }

    #[test]
    fn the_key_container_stays_the_same_while_a_copy_is_claimed() {
        let paused = [
            container("p-web-1", State::Paused),
            container("p-db-1", State::Paused),
            container("p-a-1", State::Exited),
        ];
        assert_eq!(key_container(&paused).unwrap().name, "p-db-1");
        // Halfway through a claim: the key container runs, the others are still paused.
        let claiming = [
            container("p-web-1", State::Paused),
            container("p-db-1", State::Running),
            container("p-a-1", State::Exited),
        ];
        assert_eq!(key_container(&claiming).unwrap().name, "p-db-1");
    }

    fn project(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = crate::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("pool".into()),
            ..Default::default()
        };
        crate::load(&opts).unwrap().project
    }

    #[test]
    fn the_key_follows_config_images_scale_and_the_prepare_step() {
        let p = project("services:\n  db:\n    image: img\n  web:\n    image: img\n    command: [a]\n");
        let ids = BTreeMap::from([("img".to_string(), "sha256:1".to_string())]);
        let k = key(&p, &ids, None);
        assert_eq!(k.len(), 16);
        assert_eq!(k, key(&p, &ids, None));
        let rebuilt = BTreeMap::from([("img".to_string(), "sha256:2".to_string())]);
        assert_ne!(k, key(&p, &rebuilt, None), "a rebuilt image makes older copies stale");
        let changed = project("services:\n  db:\n    image: img\n  web:\n    image: img\n    command: [b]\n");
        assert_ne!(k, key(&changed, &ids, None), "a changed file makes older copies stale");
        let scaled =
            project("services:\n  db:\n    image: img\n  web:\n    image: img\n    command: [a]\n    scale: 2\n");
        assert_ne!(k, key(&scaled, &ids, None));
        let prep = Prepare { service: "db".into(), command: vec!["seed".into()] };
        assert_ne!(k, key(&p, &ids, Some(&prep)));
        // What does not change a container does not change the key.
        let same = project(
            "services:\n  db:\n    image: img\n  web:\n    image: img\n    command: [a]\n    depends_on: [db]\n",
        );
        assert_eq!(k, key(&same, &ids, None));
    }

    #[test]
    fn fixed_names_and_ports_are_refused_with_a_fix() {
        let named = project("services:\n  db:\n    image: img\n    container_name: db\n");
        let e = refusal(&named).unwrap();
        assert!(e.to_string().contains("container_name: db"), "{e}");
        let fixed = project("services:\n  web:\n    image: img\n    ports: [\"8080:80\"]\n");
        let e = refusal(&fixed).unwrap();
        assert!(e.to_string().contains("fixed host port 8080"), "{e}");
        assert_eq!(e.hint().unwrap(), "write `\"80\"` for an ephemeral port; `wharf test` tells the command which one");
        assert!(refusal(&project("services:\n  web:\n    image: img\n    ports: [\"80\"]\n")).is_none());
    }

    #[test]
    fn the_prepare_step_is_read_from_x_wharf() {
        let p = project(
            "services:\n  db:\n    image: img\nx-wharf:\n  pool:\n    prepare: [db, sh, -c, \"echo seeded\"]\n",
        );
        let prep = Prepare::from_project(&p).unwrap().unwrap();
        assert_eq!(
            prep,
            Prepare { service: "db".into(), command: vec!["sh".into(), "-c".into(), "echo seeded".into()] }
        );
        let bad = project("services:\n  db:\n    image: img\nx-wharf:\n  pool:\n    prepare: db\n");
        assert!(Prepare::from_project(&bad).unwrap_err().to_string().contains("must be a list of strings"));
        assert_eq!(Prepare::from_project(&project("services:\n  db:\n    image: img\n")).unwrap(), None);
    }
}
