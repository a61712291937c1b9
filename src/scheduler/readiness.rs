//! Waiting for `depends_on` conditions, driven by the engine's event stream instead of a polling
//! loop. One subscription per run feeds a table of what each container last reported (health,
//! death); a waiter reads the table, and sleeps until the next event changes it. Each container
//! is inspected once when a waiter first asks about it (it may have become healthy before the
//! subscription). If the stream breaks, it is opened again and every waiter inspects its
//! container once more (events in the gap are lost); only if it cannot be reopened do waiters
//! fall back to inspecting every 100 ms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::engine::{Engine, EngineError, EventKind, State};
use crate::model::Condition;
use crate::progress::Report;

/// What the engine last said about one container.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The container's name, from its first inspect.
    name: String,
    health: Option<String>,
    last_probe: Option<String>,
    exited: Option<i64>,
    inspected: bool,
    /// The engine's `start` event has been seen (it resets the health to `starting`).
    started: bool,
}

/// The shared view of the run's containers.
#[derive(Clone)]
pub struct Readiness {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    /// Bumped on every event; `None` once the stream has failed.
    tick: watch::Receiver<Option<u64>>,
    bump: Arc<watch::Sender<Option<u64>>>,
    /// Where waits are reported (`Service db  Waiting: until healthy: health starting`).
    report: Report,
    _task: Arc<tokio::task::AbortHandle>,
}

impl Readiness {
    /// Subscribes to `project`'s events. Call before starting anything the run will wait on.
    pub fn subscribe<E: Engine>(e: &E, project: &str, report: &Report) -> Readiness {
        let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
        let (tx, rx) = watch::channel(Some(0u64));
        let tx = Arc::new(tx);
        let bump = tx.clone();
        let mut stream = e.events(project);
        let table = seen.clone();
        let (e, project) = (e.clone(), project.to_string());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            let mut failures = 0u32;
            loop {
                while let Some(ev) = stream.next().await {
                    let Ok(ev) = ev else { break };
                    failures = 0;
                    {
                        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                        let s = t.entry(ev.id.clone()).or_default();
                        match &ev.kind {
                            EventKind::Health(h) => s.health = Some(h.as_str().to_string()),
                            EventKind::Die { exit_code } => s.exited = Some(exit_code.unwrap_or(-1)),
                            EventKind::Start => {
                                s.started = true;
                                s.exited = None;
                                if s.health.is_some() {
                                    s.health = Some("starting".into());
                                }
                            }
                            EventKind::Other(_) => {}
                        }
                    }
                    n += 1;
                    tx.send_modify(|t| *t = t.map(|_| n));
                }
                // The stream broke: subscribe again, and have every waiter inspect its container
                // once more, since events in between are lost.
                failures += 1;
                if failures > 50 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream = e.events(&project);
                for s in table.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
                    s.inspected = false;
                }
                n += 1;
                tx.send_modify(|t| *t = t.map(|_| n));
            }
            let _ = tx.send(None);
        });
        Readiness { seen, tick: rx, bump, report: report.clone(), _task: Arc::new(task.abort_handle()) }
    }

    /// Waits until every container in `ids` (of service `dep`) meets `cond`.
    pub async fn wait<E: Engine>(&self, e: &E, dep: &str, ids: &[String], cond: Condition) -> Result<(), NotReady> {
        if cond == Condition::ServiceStarted {
            return Ok(());
        }
        let waiting_for = match cond {
            Condition::ServiceHealthy => "healthy",
            _ => "completed",
        };
        for id in ids {
            let mut tick = self.tick.clone();
            let mut said = None;
            loop {
                // Everything bumped so far is marked seen *before* the state is read: a bump
                // between the read and the wait (an early probe turning the container healthy,
                // after which nothing else may come for a whole interval) then still wakes the
                // wait. Marking it after the read lost that wake-up: issue 18's intermittent
                // hang, `up` waiting at "health starting" until the engine's own first probe.
                let alive = tick.borrow_and_update().is_some();
                self.refresh(e, id).await?;
                let s = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().unwrap_or_default();
                let now = match cond {
                    Condition::ServiceHealthy => format!("health {}", s.health.as_deref().unwrap_or("unknown")),
                    _ => "running".to_string(),
                };
                let verdict = judge(dep, &s, cond);
                if verdict.is_none() && said.as_ref() != Some(&now) {
                    self.report.detail("Service", dep, "Waiting", &format!("until {waiting_for}: {now}"));
                    said = Some(now);
                }
                if let Some(done) = verdict {
                    if done.is_ok() {
                        self.report.state(
                            "Service",
                            dep,
                            if cond == Condition::ServiceHealthy { "Healthy" } else { "Exited" },
                        );
                    }
                    match done {
                        Err(NotReady::DependencyExited { container, code, .. }) => {
                            let lines = Some(last_lines(e, id, 10).await);
                            return Err(NotReady::DependencyExited { container, code, lines });
                        }
                        Err(NotReady::NotCompleted { service, code, .. }) => {
                            let lines = Some(last_lines(e, id, 10).await);
                            return Err(NotReady::NotCompleted { service, code, lines });
                        }
                        Err(NotReady::DependencyUnhealthy { container, .. }) => {
                            return Err(NotReady::DependencyUnhealthy { container, probe: probe_output(e, id).await? });
                        }
                        other => other?,
                    }
                    break;
                }
                self.next_change(&mut tick, alive, id).await;
            }
        }
        Ok(())
    }

    /// Sleeps until the next event or bump not yet seen (or, with the stream gone for good,
    /// 100 ms and a fresh inspect).
    async fn next_change(&self, tick: &mut watch::Receiver<Option<u64>>, alive: bool, id: &str) {
        if alive && tick.changed().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(s) = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            s.inspected = false;
        }
    }

    /// Inspects `id` once (or again after the stream failed), folding the answer into the table.
    async fn refresh<E: Engine>(&self, e: &E, id: &str) -> Result<(), EngineError> {
        let known = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(id).is_some_and(|s| s.inspected);
        if known {
            return Ok(());
        }
        let d = e.inspect_container(id).await?;
        let mut t = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = t.entry(id.to_string()).or_default();
        s.inspected = true;
        s.name = d.name.clone();
        s.last_probe = d.last_health_output.clone();
        if s.health.is_none() || d.health.as_deref() != Some("starting") {
            s.health = d.health.clone();
        }
        if matches!(d.state, State::Exited | State::Dead) {
            s.exited = Some(d.exit_code.unwrap_or(-1));
        }
        Ok(())
    }
}

impl Readiness {
    /// `healthcheck.start_interval` on an engine that lacks it (API < 1.44): during the start
    /// period, runs the service's own healthcheck test through exec at once and then every
    /// `start_interval`, and takes the first success as healthy. The engine's own probes go on as configured.
    pub fn probe_early<E: Engine>(&self, e: &E, id: &str, h: &crate::engine::Health) {
        let (Some(interval), Some(period)) = (h.start_interval_ns, h.start_period_ns) else { return };
        let cmd: Vec<String> = match h.test.split_first() {
            Some((first, rest)) if first == "CMD" => rest.to_vec(),
            Some((first, rest)) if first == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), rest.join(" ")],
            _ => return,
        };
        if cmd.is_empty() || interval <= 0 || period <= 0 {
            return;
        }
        let timeout = Duration::from_nanos(h.timeout_ns.filter(|t| *t > 0).unwrap_or(30_000_000_000) as u64);
        let (e, id, me) = (e.clone(), id.to_string(), self.clone());
        tokio::spawn(async move {
            // The first probe goes as soon as the start call returned, the next ones every
            // `start_interval` after the one before ends (they never overlap).
            let deadline = tokio::time::Instant::now() + Duration::from_nanos(period as u64);
            let mut first = true;
            let mut said: Option<String> = None;
            loop {
                if !first {
                    tokio::time::sleep(Duration::from_nanos(interval as u64)).await;
                }
                first = false;
                if tokio::time::Instant::now() > deadline {
                    return;
                }
                // Done once healthy after the engine's `start` event: that event, which may
                // arrive after a quick first probe, sets the health back to `starting`, and a
                // probe that had stopped then would leave the dependents waiting for the
                // engine's own probe (regression: one `up` of tests/readiness.rs waited 300 s).
                let done = me
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .is_some_and(|s| s.exited.is_some() || (s.started && s.health.as_deref() == Some("healthy")));
                if done {
                    return;
                }
                let why = match tokio::time::timeout(timeout, e.exec(&id, &cmd)).await {
                    Ok(Ok(out)) => {
                        if out.exit_code == 0 {
                            me.seen.lock().unwrap_or_else(|p| p.into_inner()).entry(id.clone()).or_default().health =
                                Some("healthy".into());
                            me.bump.send_modify(|t| *t = t.map(|n| n + 1));
                        }
                        continue;
                    }
                    Ok(Err(err)) => err.to_string(),
                    Err(_) => format!("no answer within {} s", timeout.as_secs()),
                };
                // A probe the engine could not run is said once per kind of failure (the engine's
                // own probes still decide then), so a wait that goes on is explained.
                if said.as_ref() != Some(&why) {
                    let short = &id[..id.len().min(12)];
                    me.report.detail("Container", short, "Probe", &format!("early health probe failed: {why}"));
                    said = Some(why);
                }
            }
        });
    }
}

/// `Some(Ok)` when the condition is met, `Some(Err)` when it never will be, `None` to wait. An
/// exit is judged before the health: the engine calls a stopped container unhealthy.
fn judge(dep: &str, s: &Seen, cond: Condition) -> Option<Result<(), NotReady>> {
    match cond {
        Condition::ServiceStarted => Some(Ok(())),
        Condition::ServiceHealthy => match (s.health.as_deref(), s.exited) {
            (_, Some(code)) => Some(Err(NotReady::DependencyExited { container: s.name.clone(), code, lines: None })),
            (Some("healthy"), _) => Some(Ok(())),
            (Some("unhealthy"), _) => Some(Err(NotReady::DependencyUnhealthy {
                container: s.name.clone(),
                probe: s.last_probe.clone().unwrap_or_default().trim().to_string(),
            })),
            (None, None) if s.inspected => Some(Err(NotReady::NoHealthcheck { service: dep.into() })),
            _ => None,
        },
        Condition::ServiceCompletedSuccessfully => match s.exited {
            Some(0) => Some(Ok(())),
            Some(code) => Some(Err(NotReady::NotCompleted { service: dep.into(), code, lines: None })),
            None => None,
        },
    }
}

impl Readiness {
    /// `up --wait`: the container is running, and healthy when it has a healthcheck; a one-shot
    /// that exited 0 is done (compose counts it as a failure, docker/compose#10596).
    pub async fn wait_ready<E: Engine>(&self, e: &E, name: &str, id: &str) -> Result<(), NotReady> {
        let mut tick = self.tick.clone();
        loop {
            // Marked seen before the read, as in `wait`.
            let alive = tick.borrow_and_update().is_some();
            self.refresh(e, id).await?;
            let s = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().unwrap_or_default();
            match (s.exited, s.health.as_deref()) {
                (Some(0), _) => return Ok(()),
                (Some(code), _) => {
                    return Err(NotReady::Exited { container: name.into(), code, lines: None });
                }
                (None, None | Some("healthy")) => return Ok(()),
                (None, Some("unhealthy")) => {
                    let probe = probe_output(e, id).await?;
                    return Err(NotReady::Unhealthy { container: name.into(), probe });
                }
                (None, Some(_)) => {}
            }
            self.next_change(&mut tick, alive, id).await;
        }
    }

    /// What the engine last said of `id`'s health, for a report: `health starting`, ….
    pub fn describe(&self, id: &str) -> String {
        let t = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match t.get(id) {
            Some(Seen { exited: Some(c), .. }) => format!("exited with code {c}"),
            Some(Seen { health: Some(h), .. }) => format!("health {h}"),
            _ => "running".into(),
        }
    }
}

/// Why a container will not become ready. The first line of each says it as compose does
/// (`dependency failed to start: container web-db-1 exited (1)`); what follows is wharf's: the
/// container's last lines, or its last probe's output.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// A dependency that had to be healthy exited; `lines`: its last lines, indented.
    #[error("dependency failed to start: container {container} exited ({code}){}", tail(lines))]
    DependencyExited { container: String, code: i64, lines: Option<String> },
    /// A dependency that had to complete successfully exited with another code.
    #[error("service {service:?} didn't complete successfully: exit {code}{}", tail(lines))]
    NotCompleted { service: String, code: i64, lines: Option<String> },
    /// A dependency's healthcheck failed; `probe`: what its last probe printed.
    #[error("dependency failed to start: container {container} is unhealthy{}", probe_tail(probe))]
    DependencyUnhealthy { container: String, probe: String },
    /// A container `up --wait` waits for exited.
    #[error("{container} exited with code {code}{}", tail(lines))]
    Exited { container: String, code: i64, lines: Option<String> },
    /// A container `up --wait` waits for is unhealthy.
    #[error("{container} is unhealthy{}", probe_tail(probe))]
    Unhealthy { container: String, probe: String },
    #[error("dependency `{service}` has no healthcheck configured")]
    NoHealthcheck { service: String },
    #[error("{0}")]
    Engine(#[from] EngineError),
}

fn tail(lines: &Option<String>) -> String {
    lines.as_deref().filter(|l| !l.trim().is_empty()).map(|l| format!("; its last lines:{l}")).unwrap_or_default()
}

fn probe_tail(probe: &str) -> String {
    if probe.is_empty() { String::new() } else { format!(": {probe}") }
}

/// Why `up --wait` ended without the project ready: each container not ready, with its state
/// (or why it failed) and its last lines.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("application not healthy after {seconds}s; still waiting for:{}", list(containers))]
    Timeout { seconds: u64, containers: Vec<(String, String, String)> },
    #[error("not ready:{}", failed.iter().map(|(why, lines)| format!("\n  {why}{lines}")).collect::<String>())]
    Failed { failed: Vec<(NotReady, String)> },
    #[error("{0}")]
    Engine(#[from] EngineError),
}

fn list(containers: &[(String, String, String)]) -> String {
    containers.iter().map(|(name, state, lines)| format!("\n  {name} ({state}){lines}")).collect()
}

impl WaitError {
    pub fn timed_out(&self) -> bool {
        matches!(self, WaitError::Timeout { .. })
    }
}

/// The output of `id`'s last health probe (events carry none).
async fn probe_output<E: Engine>(e: &E, id: &str) -> Result<String, EngineError> {
    let d = e.inspect_container(id).await?;
    Ok(d.last_health_output.unwrap_or_default().trim().to_string())
}

/// The last `n` lines a container printed, indented, for error reports.
pub async fn last_lines<E: Engine>(e: &E, id: &str, n: usize) -> String {
    let opts = crate::engine::LogOptions { tail: Some(n.to_string()), ..Default::default() };
    let chunks: Vec<_> = e.logs(id, &opts).collect().await;
    let text: String = chunks.into_iter().flatten().map(|c| String::from_utf8_lossy(&c.bytes).into_owned()).collect();
    text.lines().map(|l| format!("\n    | {l}")).collect()
}

/// `up --wait`: every container of `services` (all when empty) and their dependencies running,
/// and healthy where it has a healthcheck; a one-shot that exited 0 is done. On failure or
/// timeout, the error names each container not ready, its state and last lines (and says
/// whether it was the timeout).
pub async fn wait_all<E: Engine>(
    e: &E,
    project: &crate::model::Project,
    services: &[String],
    ready: &Readiness,
    timeout: Option<u64>,
) -> Result<(), WaitError> {
    let wanted: Vec<String> = if services.is_empty() {
        Vec::new()
    } else {
        crate::graph::Graph::new(project).with_dependencies(services).into_iter().collect()
    };
    let all = e.list_containers(&project.name).await?;
    let list = crate::plan::select::targets(project, all, &wanted);
    let waits = list.iter().map(|c| async move {
        let r = ready.wait_ready(e, &c.name, &c.id).await;
        if r.is_ok() {
            ready.report.state("Container", &c.name, "Healthy");
        }
        (c, r)
    });
    let all = futures::future::join_all(waits);
    let results = match timeout {
        Some(t) => match tokio::time::timeout(Duration::from_secs(t), all).await {
            Ok(r) => r,
            Err(_) => {
                let mut containers = Vec::new();
                for c in &list {
                    containers.push((c.name.clone(), ready.describe(&c.id), last_lines(e, &c.id, 5).await));
                }
                return Err(WaitError::Timeout { seconds: t, containers });
            }
        },
        None => all.await,
    };
    let mut failed = Vec::new();
    for (c, r) in results {
        if let Err(why) = r {
            let lines = last_lines(e, &c.id, 5).await;
            failed.push((why, lines));
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(WaitError::Failed { failed }) }
}
