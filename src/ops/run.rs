//! A one-off container of a service (`run SERVICE [CMD…]`): its images, its dependencies
//! converged as `up -d` would and their `depends_on` conditions waited on, its own networks
//! and volumes, orphans warned about (or removed), then the container itself — labelled
//! `oneoff=True`, named `<project>-<service>-run-<id>` — created with the caller's overrides.
//!
//! [`create`] stops there; the caller attaches its own terminal and calls [`start`]; the exit
//! code comes from the container's `die` event ([`exit_code`]). [`run`] does it all for a
//! caller without a terminal (the library), collecting the output.

use futures::StreamExt;
use indexmap::IndexMap;

use super::Error;
use super::up::UpRequest;
use crate::build::ensure::ImageFlags;
use crate::engine::{ContainerSpec, Engine, EngineStream, Event, LogChunk, LogOptions, Mount, PortBinding};
use crate::model::Project;
use crate::model::labels::ONEOFF;
use crate::plan::{Action, PlanError, UpOptions, reconcile};
use crate::progress::Report;
use crate::scheduler::readiness::Readiness;
use crate::scheduler::{execute, observe};

/// What the one-off changes from the service's own container.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--name` (else `<project>-<service>-run-<6 hex digits>`).
    pub name: Option<String>,
    /// The command (empty: the service's).
    pub command: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE`, after the service's own.
    pub env: Vec<String>,
    /// `--label`: added to the service's (or replacing one).
    pub labels: Vec<(String, String)>,
    /// `--cap-add`, `--cap-drop`: added to the service's.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `--service-ports`: keep the service's published ports (else none).
    pub service_ports: bool,
    /// `--publish`.
    pub publish: Vec<PortBinding>,
    /// `--volume`, as mounts.
    pub volumes: Vec<Mount>,
    /// `--use-aliases`: keep the service's network aliases.
    pub use_aliases: bool,
    /// A TTY, with stdin attached (closed in the container when the caller's ends).
    pub tty: bool,
    /// Stdin attached (not detached).
    pub stdin: bool,
    /// `run --rm -d`: the engine removes the one-off when it exits.
    pub auto_remove: bool,
}

/// A one-off to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub service: String,
    pub overrides: Overrides,
    /// `--no-deps`: leave the dependencies alone.
    pub no_deps: bool,
    /// `--remove-orphans`; else orphans are warned about unless `ignore_orphans`.
    pub remove_orphans: bool,
    pub ignore_orphans: bool,
    pub images: ImageFlags,
    pub environment: IndexMap<String, String>,
    pub parallel: Option<usize>,
    /// Take the project's lock (for this endpoint) while converging.
    pub lock: Option<String>,
    pub report: Report,
}

/// The one-off, created and not started yet.
#[derive(Debug, Clone)]
pub struct OneOff {
    pub id: String,
    pub name: String,
}

/// Everything up to the created one-off.
pub async fn create<E: Engine>(engine: &E, project: &Project, req: &RunRequest) -> Result<OneOff, Error> {
    let name = &req.service;
    let Some(svc) = project.services.get(name) else {
        return Err(Error::NoSuchService { service: name.clone() });
    };
    let report = &req.report;
    let deps: Vec<String> = crate::graph::Graph::new(project)
        .with_dependencies(std::slice::from_ref(name))
        .into_iter()
        .filter(|s| s != name)
        .collect();
    let mut needed = if req.no_deps { Vec::new() } else { deps.clone() };
    needed.push(name.clone());
    let bound = req.parallel.unwrap_or(4);
    crate::build::ensure::images(engine, project, &req.environment, &needed, &req.images, bound, report).await?;
    // Dependencies first, converged as `up -d` would (and their conditions waited on).
    if !req.no_deps && !deps.is_empty() {
        let mut scoped = project.clone();
        scoped.services.retain(|n, _| deps.contains(n));
        let up = UpRequest {
            options: UpOptions { services: deps.clone(), ignore_orphans: true, ..Default::default() },
            parallel: req.parallel,
            lock: req.lock.clone(),
            report: report.clone(),
            ..Default::default()
        };
        let ready = Readiness::subscribe(engine, &project.name, report);
        for w in super::up::up(engine, &scoped, &up).await? {
            report.warning(&w);
        }
        // The one-off's own `depends_on` conditions.
        let list = engine.list_containers(&project.name).await?;
        for (dep, c) in &svc.depends_on {
            let ids: Vec<String> = crate::plan::select::targets(project, list.clone(), std::slice::from_ref(dep))
                .into_iter()
                .map(|c| c.id)
                .collect();
            if let Err(error) = ready.wait(engine, dep, &ids, c.condition).await
                && c.required
            {
                return Err(Error::Run(crate::scheduler::RunError::NotReady { service: name.clone(), error }));
            }
        }
    }
    // The one-off's own networks and volumes (with `--no-deps`, or when no dependency brought
    // them up).
    let observed = observe(engine, project).await?;
    let orphans: Vec<&crate::engine::ContainerInfo> =
        observed.containers.iter().filter(|c| crate::plan::select::is_orphan(project, c)).collect();
    if req.remove_orphans {
        for c in &orphans {
            engine.remove_container(&c.id, true, false).await?;
        }
    } else if !orphans.is_empty() && !req.ignore_orphans {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        report.warning(&format!(
            "found orphan containers ({}) for this project; if you removed or renamed their service in the compose file, run this command with --remove-orphans to clean them up",
            names.join(", ")
        ));
    }
    let mut own = project.clone();
    own.services.retain(|n, _| n == name);
    let opts = UpOptions { services: vec![name.clone()], ignore_orphans: true, ..Default::default() };
    let mut plan = reconcile(&own, &observed, &opts)?;
    plan.steps.retain(|s| matches!(s.action, Action::CreateNetwork(_) | Action::CreateVolume(_)));
    if !plan.steps.is_empty() {
        let _lock = super::lock(project, &req.lock)?;
        execute(engine, &own, plan, req.parallel, true, report).await?;
    }
    let image = crate::plan::spec::image_name(&project.name, name, svc);
    let Some(image_id) = observed.images.get(&image).cloned().flatten() else {
        return Err(Error::Plan(PlanError::ImageMissing { service: name.clone(), image }));
    };
    let spec = spec(project, name, svc, &image_id, &req.overrides);
    let id = engine.create_container(&spec).await?;
    crate::scheduler::copy_files(engine, &id, &spec.files).await?;
    Ok(OneOff { id, name: spec.name })
}

/// The one-off's container: the service's, changed by `o`.
fn spec(project: &Project, name: &str, svc: &crate::model::Service, image_id: &str, o: &Overrides) -> ContainerSpec {
    let mut spec = crate::plan::spec::container_spec(project, name, svc, 1, image_id);
    spec.name = o.name.clone().unwrap_or_else(|| format!("{}-{name}-run-{}", project.name, super::unique_hex(12)));
    spec.labels.insert(ONEOFF.into(), "True".into());
    // A one-off has no replica number (as compose): `exec --index 1` is not it.
    spec.labels.remove(crate::model::labels::NUMBER);
    spec.restart_policy = None;
    if !o.command.is_empty() {
        spec.cmd = Some(o.command.clone());
    }
    if let Some(ep) = &o.entrypoint {
        spec.entrypoint = Some(ep.clone());
    }
    spec.env.extend(o.env.iter().cloned());
    spec.labels.extend(o.labels.iter().cloned());
    spec.cap_add.extend(o.cap_add.iter().cloned());
    spec.cap_drop.extend(o.cap_drop.iter().cloned());
    spec.user = o.user.clone().or(spec.user);
    spec.working_dir = o.workdir.clone().or(spec.working_dir);
    if !o.service_ports {
        spec.port_bindings.clear();
    }
    for p in &o.publish {
        if !spec.exposed_ports.contains(&p.container) {
            spec.exposed_ports.push(p.container.clone());
        }
        spec.port_bindings.push(p.clone());
    }
    spec.mounts.extend(o.volumes.iter().cloned());
    if !o.use_aliases {
        for e in &mut spec.endpoints {
            e.aliases.clear();
        }
    }
    if o.stdin {
        spec.tty = o.tty;
        spec.stdin_once = true;
    } else {
        // Detached, stdin stays open (compose's `--interactive` is on by default): `run -d svc
        // cat` keeps running.
        spec.stdin_open = true;
    }
    spec.auto_remove = o.auto_remove;
    spec
}

/// Starts the one-off; the returned stream carries its exit (subscribed before the start).
pub async fn start<E: Engine>(engine: &E, project: &Project, one: &OneOff) -> Result<EngineStream<Event>, Error> {
    let events = engine.events(&project.name);
    engine.start_container(&one.id).await?;
    Ok(events)
}

/// The one-off's exit code: from its `die` event (subscribed before it started), else inspect.
pub async fn exit_code<E: Engine>(e: &E, id: &str, events: &mut EngineStream<Event>) -> i64 {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) if ev.id == id => {
                    if let Some(c) = ev.exit_code() {
                        return c;
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    e.inspect_container(id).await.ok().and_then(|d| d.exit_code).unwrap_or(0)
}

/// What a finished one-off printed, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit_code: i64,
    /// Its stdout and stderr, as they came.
    pub output: Vec<LogChunk>,
}

impl Finished {
    /// The output as text (stdout and stderr together).
    pub fn text(&self) -> String {
        self.output.iter().map(|c| String::from_utf8_lossy(&c.bytes)).collect()
    }
}

/// An attached one-off, started: its output goes to `terminal.output` (all it wrote, from its
/// logs, when it ended before it could be attached), the caller's input to its stdin; then its
/// exit code, the container removed when `remove`.
pub async fn interact<E: Engine>(
    engine: &E,
    one: &OneOff,
    mut events: EngineStream<Event>,
    terminal: crate::engine::Terminal,
    remove: bool,
) -> Result<i64, Error> {
    let output = terminal.output.clone();
    if engine.attach_container(&one.id, terminal).await.is_err() {
        let mut logs = engine.logs(&one.id, &LogOptions::default());
        while let Some(Ok(chunk)) = logs.next().await {
            let _ = output.send(chunk);
        }
    }
    drop(output);
    let code = exit_code(engine, &one.id, &mut events).await;
    if remove {
        engine.remove_container(&one.id, true, true).await?;
    }
    Ok(code)
}

/// Creates, starts and waits for the one-off without a terminal; removes it afterwards when
/// `remove` (`--rm`).
pub async fn run<E: Engine>(engine: &E, project: &Project, req: &RunRequest, remove: bool) -> Result<Finished, Error> {
    let one = create(engine, project, req).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<LogChunk>();
    let mut events = start(engine, project, &one).await?;
    let t = crate::engine::Terminal { input: None, output: tx, size: None };
    let attached = engine.attach_container(&one.id, t).await;
    let mut output = Vec::new();
    while let Some(c) = rx.recv().await {
        output.push(c);
    }
    if attached.is_err() {
        // It ended before it could be attached: what it wrote is in its logs.
        output = engine.logs(&one.id, &LogOptions::default()).filter_map(|c| async { c.ok() }).collect().await;
    }
    let exit_code = exit_code(engine, &one.id, &mut events).await;
    if remove {
        engine.remove_container(&one.id, true, true).await?;
    }
    Ok(Finished { exit_code, output })
}
