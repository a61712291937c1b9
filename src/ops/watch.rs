//! The `watch` operation: the file-watch dev loop of `develop.watch`. Host changes are
//! collected until the files have been quiet for a moment (milliseconds, not compose's half
//! second), then each service's rules act on them: sync into every running container, restart,
//! exec, or rebuild and recreate only that service (converged by [`super::up`]). A container
//! that (re)starts gets its synced paths again in full, so changes made while it was down are
//! not lost (compose misses them, docker/compose#11102). The machinery (rules, host watcher,
//! sync, courier) is in [`crate::watch`].

pub use crate::watch::Error as WatchError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indexmap::IndexMap;
use tokio::sync::mpsc;

use crate::engine::{Engine, EventKind, State};
use crate::model::Project;
use crate::model::labels::{ONEOFF, SERVICE};
use crate::watch::rules::{self, Action, Rule};
use crate::watch::{courier, host, sync};

/// A batch goes once no new change arrived for this long…
const QUIET: Duration = Duration::from_millis(8);
/// …or this long after its first change, whichever is first.
const MAX_DELAY: Duration = Duration::from_millis(250);

/// How `watch` and `up --watch` run.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Hide the builder's output on rebuilds.
    pub quiet: bool,
    /// Remove the previous image after a rebuild, when nothing uses it.
    pub prune: bool,
    /// For build arguments taken from the environment.
    pub environment: IndexMap<String, String>,
    /// Where what the loop does is said (`Syncing service `web` after 3 changes…`).
    pub report: crate::progress::Report,
}

/// `WHARF_WATCH_TRACE=1` prints each batch's timings.
fn trace() -> bool {
    std::env::var_os("WHARF_WATCH_TRACE").is_some_and(|v| v == "1")
}

fn say(opts: &WatchOptions, text: &str) {
    opts.report.line(text);
}

/// The running containers of each service (kept current from engine events, so a batch
/// costs no list call).
type Running = BTreeMap<String, Vec<String>>;

async fn running<E: Engine>(e: &E, project: &str) -> Running {
    running_of(e.list_containers(project).await.unwrap_or_default())
}

fn running_of(list: Vec<crate::engine::ContainerInfo>) -> Running {
    let mut out = Running::new();
    for c in list {
        if c.state == State::Running && c.label(ONEOFF) != Some("True") {
            out.entry(c.label(SERVICE).unwrap_or("").to_string()).or_default().push(c.id);
        }
    }
    out
}

/// Watches until `stop` completes. Errors in one batch are reported and the loop goes on; only
/// rules that cannot work, or a watch that cannot be set up, end it.
pub async fn run<E: Engine>(
    e: &E,
    project: &Project,
    services: &[String],
    opts: &WatchOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), crate::watch::Error> {
    let rules = rules::compile(project, services)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut host = host::HostWatcher::start(&rules, tx)?;
    let mut events = e.events(&project.name);
    let watched: BTreeSet<&str> = rules.iter().map(|r| r.service.as_str()).collect();
    say(
        opts,
        &format!(
            "Watch enabled: {} ({} rules, {} directories watched)",
            watched.iter().copied().collect::<Vec<_>>().join(", "),
            rules.len(),
            host.watches()
        ),
    );
    let mut live = running(e, &project.name).await;
    let courier = courier::Courier::default();
    for r in rules.iter().filter(|r| r.initial_sync && r.action.syncs()) {
        for id in live.get(&r.service).into_iter().flatten() {
            report(opts, &r.service, "initial sync", sync::apply(e, &courier, id, r, &sync::everything(r)).await);
        }
    }
    tokio::pin!(stop);
    let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
    let (mut first, mut last) = (Instant::now(), Instant::now());
    loop {
        let due = (last + QUIET).min(first + MAX_DELAY);
        tokio::select! {
            Some(m) = rx.recv() => {
                let paths = match m {
                    host::HostEvent::Changed(p) => p,
                    host::HostEvent::Rescan => rules.iter().map(|r| r.path.clone()).collect(),
                    host::HostEvent::Error(err) => {
                        say(opts, &format!("watch: {err}"));
                        continue;
                    }
                };
                for p in paths {
                    if let Err(err) = host.noticed(&p) {
                        say(opts, &format!("watch: {err}"));
                    }
                    if rules.iter().any(|r| r.covers(&p)) {
                        if pending.is_empty() {
                            first = Instant::now();
                        }
                        last = Instant::now();
                        pending.insert(p);
                    }
                }
            }
            _ = tokio::time::sleep_until(due.into()), if !pending.is_empty() => {
                let batch: Vec<PathBuf> = std::mem::take(&mut pending).into_iter().collect();
                let started = Instant::now();
                flush(e, project, &rules, &batch, &live, &courier, opts).await;
                if trace() {
                    say(opts, &format!(
                        "watch: batch of {} after {} ms waiting, applied in {} ms",
                        batch.len(),
                        (started - first).as_millis(),
                        started.elapsed().as_millis()
                    ));
                }
            }
            ev = events.next() => {
                let Some(Ok(ev)) = ev else {
                    // The event stream broke: a dead engine ends the watch, naming it.
                    let (again, list) = super::events_again(e, &project.name).await?;
                    events = again;
                    live = running_of(list);
                    continue;
                };
                // A (re)started container gets the synced paths again, in full.
                let svc = ev.label(SERVICE).unwrap_or("").to_string();
                let changed = match &ev.kind {
                    EventKind::Start | EventKind::Die { .. } => true,
                    EventKind::Other(a) => matches!(a.as_str(), "destroy" | "pause" | "unpause"),
                    EventKind::Health(_) => false,
                };
                if changed {
                    live = running(e, &project.name).await;
                    courier.forget(&ev.id);
                }
                if ev.kind == EventKind::Start && ev.label(ONEOFF) != Some("True") {
                    for r in rules.iter().filter(|r| r.service == svc && r.action.syncs()) {
                        report(opts, &svc, "resync after start", sync::apply(e, &courier, &ev.id, r, &sync::everything(r)).await);
                    }
                }
            }
            _ = &mut stop => return Ok(()),
        }
    }
}

fn report(opts: &WatchOptions, service: &str, what: &str, r: Result<sync::Synced, crate::watch::Error>) {
    match r {
        Ok(s) => {
            for p in &s.refused {
                say(opts, &format!("watch: not syncing {}: it resolves outside the watched path", p.display()));
            }
        }
        Err(err) => say(opts, &format!("watch: service `{service}`: {what} failed: {err}")),
    }
}

/// Acts on one batch of changed paths, service by service.
async fn flush<E: Engine>(
    e: &E,
    project: &Project,
    rules: &[Rule],
    batch: &[PathBuf],
    live: &Running,
    courier: &courier::Courier,
    opts: &WatchOptions,
) {
    let mut by_service: BTreeMap<&str, Vec<(&Rule, Vec<PathBuf>)>> = BTreeMap::new();
    for r in rules {
        let hit: Vec<PathBuf> = batch.iter().filter(|p| r.covers(p)).cloned().collect();
        if !hit.is_empty() {
            by_service.entry(r.service.as_str()).or_default().push((r, hit));
        }
    }
    let work = by_service.into_iter().map(|(service, matched)| async move {
        let changes: BTreeSet<&PathBuf> = matched.iter().flat_map(|(_, p)| p).collect();
        if matched.iter().any(|(r, _)| r.action == Action::Rebuild) {
            say(opts, &format!("Rebuilding service `{service}` after {} changes were detected", changes.len()));
            match rebuild(e, project, service, opts).await {
                Ok(()) => say(opts, &format!("service `{service}` rebuilt and recreated")),
                Err(err) => say(opts, &format!("watch: service `{service}`: rebuild failed: {err}")),
            }
            return;
        }
        let ids = live.get(service).cloned().unwrap_or_default();
        if ids.is_empty() {
            // Synced in full when it starts again.
            return;
        }
        say(opts, &format!("Syncing service `{service}` after {} changes were detected", changes.len()));
        for (r, paths) in matched.iter().filter(|(r, _)| r.action.syncs()) {
            let results = futures::future::join_all(ids.iter().map(|id| sync::apply(e, courier, id, r, paths))).await;
            results.into_iter().for_each(|x| report(opts, service, "sync", x));
        }
        if matched.iter().any(|(r, _)| matches!(r.action, Action::Restart | Action::SyncRestart)) {
            say(opts, &format!("Restarting service `{service}`"));
            let t = project.services.get(service).and_then(crate::plan::spec::stop_timeout);
            for id in &ids {
                let r = async {
                    e.stop_container(id, t).await?;
                    e.start_container(id).await
                };
                if let Err(err) = r.await {
                    say(opts, &format!("watch: service `{service}`: restart failed: {err}"));
                }
            }
        }
        for (r, _) in matched.iter().filter(|(r, _)| r.action == Action::SyncExec) {
            let Some(hook) = &r.exec else { continue };
            for id in &ids {
                let site = crate::scheduler::HookSite { kind: "exec", service, short: id };
                let silent = crate::progress::Report::silent();
                match crate::scheduler::run_hooks(e, id, site, std::slice::from_ref(hook), &silent).await {
                    Ok(()) => {}
                    Err(err) => say(opts, &format!("watch: service `{service}`: exec failed: {err}")),
                }
            }
        }
    });
    futures::future::join_all(work).await;
}

/// Builds `service`'s image again and recreates only that service (if the image changed).
async fn rebuild<E: Engine>(e: &E, project: &Project, service: &str, opts: &WatchOptions) -> Result<(), super::Error> {
    let svc = &project.services[service];
    let image = crate::plan::spec::image_name(&project.name, service, svc);
    let before = e.image_id(&image).await.ok().flatten();
    let bopts = crate::build::BuildOptions {
        show_output: !opts.quiet,
        parallel: 1,
        skip_unchanged: true,
        ..Default::default()
    };
    crate::build::build_services(e, project, &[service.to_string()], &opts.environment, &bopts, &opts.report).await?;
    let mut scoped = project.clone();
    scoped.services.retain(|n, _| n == service);
    let req = super::up::UpRequest {
        options: crate::plan::UpOptions {
            services: vec![service.to_string()],
            ignore_orphans: true,
            ..Default::default()
        },
        report: opts.report.clone(),
        ..Default::default()
    };
    super::up::up(e, &scoped, &req).await?;
    if opts.prune
        && let Some(old) = before
        && e.image_id(&image).await.ok().flatten().as_ref() != Some(&old)
    {
        let _ = e.remove_image(&old).await;
    }
    Ok(())
}
