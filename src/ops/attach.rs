//! Attached `up`: the merged output of the services (handed to the caller as [`Shown`] values
//! to render), container exits reported, restarts supervised (`deploy.restart_policy`,
//! `x-wharf.restart_on_unhealthy`), abort conditions (`--abort-on-container-exit`,
//! `--abort-on-container-failure`, `--exit-code-from`), and interrupts: the first stops the
//! stack gracefully (dependents first, saying what it still waits for), the second kills it.
//!
//! Every reason to change course reaches one `select!` loop: a log line or exit from the
//! containers' streams, an engine event, an interrupt from the caller's stream. The caller
//! turns signals into that stream (the CLI: SIGINT and SIGTERM), so tests drive it with a
//! channel on the fake engine.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::engine::{
    ContainerInfo, Engine, EngineError, EngineStream, Event, EventKind, HealthStatus, LogOptions, State,
};
use crate::logs::{Line, short_name};
use crate::model::Project;
use crate::model::labels::{NUMBER, SERVICE};
use crate::progress::Report;
use crate::scheduler::verbs;

/// What to attach to and when to stop (compose's flags of attached `up`), resolved.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// The services named on the command line (all when empty).
    pub services: Vec<String>,
    /// `--attach`: only these services' output.
    pub attach: Vec<String>,
    /// `--no-attach`: not these.
    pub no_attach: Vec<String>,
    /// `--attach-dependencies`: the named services' dependencies too.
    pub attach_dependencies: bool,
    /// Stop everything when a container exits.
    pub abort_on_container_exit: bool,
    /// Stop everything when a container exits with a failure.
    pub abort_on_container_failure: bool,
    /// Return this service's exit code (implies abort on exit).
    pub exit_code_from: Option<String>,
    /// Stop timeout in seconds (else each service's grace period).
    pub timeout: Option<i64>,
    /// Where the containers' output starts (seconds since the epoch): the time `up` began.
    pub since: i64,
    /// Progress of the stops and kills this loop does, and its warnings.
    pub report: Report,
}

/// What an attached run shows, in order; the caller renders it (prefix, colours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The containers whose output follows (`web-1`, …).
    Attaching(Vec<String>),
    /// A container joined the stream after a (re)start.
    Joined(String),
    /// A line a container printed.
    Line(Line),
    /// A container exited; `restarting`: the engine restarts it (its restart policy), and its
    /// output goes on.
    Exited { short: String, service: String, code: i64, restarting: bool },
    /// What supervision does about a container (`restarting in 100 ms (attempt 1 of 3)`).
    Note { short: String, service: String, text: String },
    /// About the whole run (`Aborting on container exit...`, `waiting for web-1 to stop…`).
    Message(String),
}

/// How an attached run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code to return: the aborting container's, `--exit-code-from`'s, or 0.
    pub code: i64,
    /// It was stopped by an interrupt (the CLI returns 130).
    pub interrupted: bool,
}

/// Messages to the attached loop, in the order they are to be printed.
enum Msg {
    Line(Line),
    /// A container exited; `note` says what supervision does about it.
    Exited {
        short: String,
        service: String,
        code: i64,
        restarting: bool,
        note: Option<Shown>,
    },
    /// A supervised restart was carried out (`true`) or could not be (`false`).
    Restarted {
        id: String,
        started: bool,
    },
}

/// After `up` converged: streams the attached services' output to `show` until they have all
/// exited, an abort condition holds, or `interrupts` yields (the first: a graceful stop of
/// everything, dependents first; the second: kill). Supervises restarts while attached.
/// `events` must have been subscribed before the containers started.
pub async fn run<E, I>(
    e: &E,
    project: &Project,
    o: &AttachRequest,
    events: EngineStream<Event>,
    interrupts: I,
    mut show: impl FnMut(Shown),
) -> Result<Outcome, EngineError>
where
    E: Engine,
    I: Stream<Item = ()> + Unpin,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // Hooks run by the stops below print among the containers' lines, as compose shows them.
    let report = &Report::new(std::sync::Arc::new(HookLines { inner: o.report.clone(), tx: tx.clone() }));
    let (selected, since) = (&o.services, o.since);
    let mut events = events;
    let mut interrupts = interrupts;
    let all = e.list_containers(&project.name).await?;
    let everything = verbs::targets(project, all, selected);
    // Which services' output is shown.
    let mut shown: HashSet<String> = if !o.attach.is_empty() {
        o.attach.iter().cloned().collect()
    } else if !selected.is_empty() && !o.attach_dependencies {
        selected.iter().cloned().collect()
    } else {
        project.services.keys().cloned().collect()
    };
    for s in &o.no_attach {
        shown.remove(s);
    }
    let mut attached: Vec<ContainerInfo> =
        everything.iter().filter(|c| shown.contains(c.label(SERVICE).unwrap_or(""))).cloned().collect();
    attached.sort_by_key(short_name);
    show(Shown::Attaching(attached.iter().map(short_name).collect()));

    let (line_tx, mut line_rx) = mpsc::unbounded_channel::<Line>();
    let opts = LogOptions { follow: true, timestamps: true, since: Some(since), ..LogOptions::default() };
    let mut done: HashMap<String, tokio::sync::oneshot::Receiver<()>> = HashMap::new();
    for c in &attached {
        done.insert(c.id.clone(), crate::logs::attach(e, c, &opts, line_tx.clone()));
    }
    // Lines and exit messages share one channel, so an exit is printed after the last lines.
    let fwd = tx.clone();
    tokio::spawn(async move {
        while let Some(l) = line_rx.recv().await {
            if fwd.send(Msg::Line(l)).is_err() {
                break;
            }
        }
    });
    let ids: HashSet<String> = attached.iter().map(|c| c.id.clone()).collect();
    let mut running: HashSet<String> =
        attached.iter().filter(|c| c.state == State::Running).map(|c| c.id.clone()).collect();
    // Exits are learnt from the events of this run (subscribed before anything started), so a
    // one-shot that exited before we listed it is still reported.
    // Supervision (see `scheduler::supervise`): the services with a policy; for those whose
    // exits wharf handles, the engine's own policy is set to `no` while attached, and put back
    // at the end.
    let policies: HashMap<String, crate::scheduler::supervise::Policy> = project
        .services
        .iter()
        .filter_map(|(n, s)| crate::scheduler::supervise::policy(s).map(|p| (n.clone(), p)))
        .collect();
    let wharf_restarts = |svc: &str| project.services.get(svc).is_some_and(crate::scheduler::supervise::wharf_restarts);
    let mut handed_over = Vec::new();
    let mut supervisor = crate::scheduler::supervise::Supervisor::default();
    for c in &everything {
        supervisor.started(&c.id, std::time::Instant::now());
        let svc = c.label(SERVICE).unwrap_or("");
        if wharf_restarts(svc)
            && let Some(s) = project.services.get(svc)
        {
            let spec = crate::plan::spec::container_spec(project, svc, s, 1, "");
            // Containers created in this run have `no` already; kept ones are switched now.
            let _ = e.set_restart_policy(&c.id, "no", None).await;
            handed_over.push((c.id.clone(), spec.restart_policy));
        }
    }
    let all_ids: HashSet<String> = everything.iter().map(|c| c.id.clone()).collect();
    let mut pending = 0usize;
    let mut printed: HashMap<String, (i64, u32)> = HashMap::new();
    // Where each container's current run starts in its log (whole seconds).
    let mut run_since: HashMap<String, i64> = HashMap::new();
    // Containers wharf is restarting (their own stop is not an exit to supervise).
    let mut restarting: HashSet<String> = HashSet::new();
    let halted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut interrupted = 0;
    let mut outcome: Option<i64> = None; // the exit code decided by an abort
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    let mut stop_done = false;
    // Exits whose last lines are being read (each ends in a `Msg::Exited`).
    let mut exits_pending = 0usize;
    // Start events read per container, and for each restart wharf has scheduled, the count
    // that will mean its start was read: a `Restarted` read after its container's start (and
    // maybe its next exit) must not mark it running again.
    let mut starts_seen: HashMap<String, u64> = HashMap::new();
    let mut start_expected: HashMap<String, std::collections::VecDeque<u64>> = HashMap::new();
    let mut waiting = tokio::time::interval(Duration::from_secs(2));
    waiting.tick().await;
    loop {
        tokio::select! {
            Some(m) = rx.recv() => match m {
                Msg::Line(l) => show_once(&mut printed, l, &mut show),
                Msg::Exited { short, service, code, restarting, note } => {
                    exits_pending = exits_pending.saturating_sub(1);
                    show(Shown::Exited { short, service: service.clone(), code, restarting });
                    if let Some(n) = note {
                        show(n);
                    }
                    // A container the engine restarts is no exit to act on (as compose).
                    if stopping.is_some() || restarting {
                        continue;
                    }
                    let from = o.exit_code_from.as_deref();
                    let abort = o.abort_on_container_exit || from.is_some() || (o.abort_on_container_failure && code != 0);
                    if abort {
                        show(Shown::Message("Aborting on container exit...".into()));
                        outcome = Some(match from {
                            Some(f) if f != service => -1, // read after the stop
                            _ => code,
                        });
                        halted.store(true, std::sync::atomic::Ordering::SeqCst);
                        stopping = Some(stop_all(e, project, &everything, o.timeout, report));
                    } else if running.is_empty() && pending == 0 {
                        break;
                    }
                }
                Msg::Restarted { id, started } => {
                    pending = pending.saturating_sub(1);
                    // Its start event read already: that event (and any exit after it) decided.
                    let seen = start_expected
                        .get_mut(&id)
                        .and_then(|q| q.pop_front())
                        .is_some_and(|n| starts_seen.get(&id).copied().unwrap_or(0) >= n);
                    // Otherwise running again, before its `start` event is read (an exit read
                    // before that event must not end the run).
                    if started && !seen && ids.contains(&id) {
                        running.insert(id);
                    }
                    // Once started, the container's own events decide; if it could not start,
                    // or its start and exit were read already, nothing more will come from it.
                    let over = !started || (seen && exits_pending == 0);
                    if over && running.is_empty() && pending == 0 && stopping.is_none() {
                        break;
                    }
                }
            },
            ev = events.next() => {
                let Some(Ok(ev)) = ev else {
                    // The event stream broke: a dead engine ends the run, naming it (the
                    // containers' exits could never be learnt).
                    events = super::events_again(e, &project.name).await?.0;
                    continue;
                };
                let is_start = ev.kind == EventKind::Start;
                let is_die = matches!(ev.kind, EventKind::Die { .. });
                if !all_ids.contains(&ev.id) && !is_start {
                    continue;
                }
                let svc = ev.label(SERVICE).unwrap_or("").to_string();
                let short = format!("{svc}-{}", ev.label(NUMBER).unwrap_or("?"));
                // Supervision first: it applies to every container of the run, shown or not.
                let decision = match (&ev.kind, policies.get(&svc), stopping.is_some() || restarting.contains(&ev.id)) {
                    (EventKind::Start, _, _) => {
                        *starts_seen.entry(ev.id.clone()).or_default() += 1;
                        supervisor.started(&ev.id, std::time::Instant::now());
                        restarting.remove(&ev.id);
                        None
                    }
                    (EventKind::Die { exit_code }, Some(p), false) if wharf_restarts(&svc) => {
                        let code = exit_code.unwrap_or(-1);
                        Some((supervisor.exited(&ev.id, p, code, std::time::Instant::now()), format!("exited with code {code}"), false))
                    }
                    (EventKind::Health(HealthStatus::Unhealthy), Some(p), false) => {
                        Some((supervisor.unhealthy(&ev.id, p, std::time::Instant::now()), "unhealthy".to_string(), true))
                    }
                    _ => None,
                };
                let mut note = None;
                match decision {
                    Some((crate::scheduler::supervise::Decision::Restart { after, attempt }, why, stop_first)) => {
                        let of = policies.get(&svc).and_then(|p| p.max_attempts).map(|m| format!(" of {m}")).unwrap_or_default();
                        let why = if stop_first { format!("{why}: ") } else { String::new() };
                        note = Some(Shown::Note {
                            short: short.clone(),
                            service: svc.clone(),
                            text: format!("{why}restarting in {} ms (attempt {attempt}{of})", after.as_millis()),
                        });
                        pending += 1;
                        let next = starts_seen.get(&ev.id).copied().unwrap_or(0) + 1;
                        start_expected.entry(ev.id.clone()).or_default().push_back(next);
                        if stop_first {
                            restarting.insert(ev.id.clone());
                        }
                        let (e, id, tx, halted) = (e.clone(), ev.id.clone(), tx.clone(), halted.clone());
                        let t = o.timeout.or_else(|| project.services.get(&svc).and_then(crate::plan::spec::stop_timeout));
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            let go = || !halted.load(std::sync::atomic::Ordering::SeqCst);
                            if stop_first && go() {
                                let _ = e.stop_container(&id, t).await;
                            }
                            let started = go() && e.start_container(&id).await.is_ok();
                            let _ = tx.send(Msg::Restarted { id, started });
                        });
                    }
                    Some((crate::scheduler::supervise::Decision::GiveUp { attempts }, why, _)) => {
                        note = Some(Shown::Note {
                            short: short.clone(),
                            service: svc.clone(),
                            text: format!("giving up after {attempts} restart attempts ({why})"),
                        });
                    }
                    _ => {}
                }
                // An exit's note follows its last lines; any other goes out now.
                if let Some(n) = note.take_if(|_| !is_die || !ids.contains(&ev.id)) {
                    show(n);
                }
                if !ids.contains(&ev.id) && !is_start {
                    continue;
                }
                match &ev.kind {
                    EventKind::Die { exit_code } => {
                        // The engine restarts it when its restart policy says so: it marks the
                        // container restarting before it sends the event (or has restarted it
                        // already). Its output is then followed on, as compose does.
                        let engine_restarts = stopping.is_none()
                            && !wharf_restarts(&svc)
                            && matches!(e.inspect_container(&ev.id).await.map(|d| d.state), Ok(State::Restarting | State::Running));
                        // One wharf stopped to restart it stays too.
                        if !engine_restarts && !restarting.contains(&ev.id) {
                            running.remove(&ev.id);
                        }
                        let exit = Msg::Exited { short: short.clone(), service: svc.clone(), code: exit_code.unwrap_or(-1), restarting: engine_restarts, note };
                        let from = run_since.get(&ev.id).copied().unwrap_or(since);
                        follow_exit(e, &ev.id, done.remove(&ev.id), from, &opts, tx.clone(), exit);
                        exits_pending += 1;
                    }
                    EventKind::Start if shown.contains(ev.label(SERVICE).unwrap_or(""))
                        && stopping.is_none()
                        && !done.contains_key(&ev.id) =>
                    {
                        // A restarted (or newly created) container joins the stream.
                        running.insert(ev.id.clone());

                        if let Ok(list) = e.list_containers(&project.name).await
                            && let Some(c) = list.into_iter().find(|c| c.id == ev.id)
                        {
                            show(Shown::Joined(short_name(&c)));
                            // From the second before its start event (the engine takes whole
                            // seconds): output written before we got here is not lost, and lines
                            // of an earlier run are dropped above by their timestamps.
                            let from = ev.time_nano.div_euclid(1_000_000_000) - 1;
                            run_since.insert(ev.id.clone(), from);
                            let since_start = LogOptions { since: Some(from), ..opts.clone() };
                            done.insert(c.id.clone(), crate::logs::attach(e, &c, &since_start, line_tx.clone()));
                        }
                    }
                    _ => {}
                }
            },
            Some(()) = interrupts.next() => {
                // First: a graceful stop; second: kill.
                halted.store(true, std::sync::atomic::Ordering::SeqCst);
                interrupted += 1;
                if interrupted == 1 {
                    show(Shown::Message("Gracefully stopping... (press Ctrl+C again to force)".into()));
                    if stopping.is_none() {
                        stopping = Some(stop_all(e, project, &everything, o.timeout, report));
                    }
                } else {
                    show(Shown::Message("Killing...".into()));
                    kill_all(e, project, &everything, report).await;
                }
            }
            // The stop is done: nothing is left to wait for.
            _ = async { if let Some(h) = stopping.as_mut() { let _ = h.await; } }, if stopping.is_some() && !stop_done => {
                stop_done = true;
                break;
            }
            _ = waiting.tick(), if stopping.is_some() => {
                if stopping.as_ref().is_some_and(|h| h.is_finished()) {
                    break;
                }
                let left: Vec<String> = e
                    .list_containers(&project.name)
                    .await
                    .map(|l| l.into_iter().filter(|c| c.state == State::Running && ids.contains(&c.id)).map(|c| short_name(&c)).collect())
                    .unwrap_or_default();
                if !left.is_empty() {
                    show(Shown::Message(format!("waiting for {} to stop…", left.join(", "))));
                }
            },
        }
        if stopping.as_ref().is_some_and(|h| h.is_finished()) {
            break;
        }
    }
    if let Some(h) = stopping {
        if !stop_done {
            let _ = h.await;
        }
        // Everything stopped: what the attached containers printed last, and their exits, are
        // still on their way (compose shows them too). Containers whose `die` was not seen yet
        // are followed to their end here.
        for c in attached.iter().filter(|c| running.contains(&c.id)) {
            let code = e.inspect_container(&c.id).await.ok().and_then(|d| d.exit_code).unwrap_or(-1);
            let (short, service) = (short_name(c), c.label(SERVICE).unwrap_or("").to_string());
            let exit = Msg::Exited { short, service, code, restarting: false, note: None };
            let from = run_since.get(&c.id).copied().unwrap_or(since);
            follow_exit(e, &c.id, done.remove(&c.id), from, &opts, tx.clone(), exit);
            exits_pending += 1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while exits_pending > 0 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Msg::Line(l))) => show_once(&mut printed, l, &mut show),
                Ok(Some(Msg::Exited { short, service, code, restarting, note })) => {
                    exits_pending -= 1;
                    show(Shown::Exited { short, service, code, restarting });
                    if let Some(n) = note {
                        show(n);
                    }
                }
                Ok(Some(Msg::Restarted { .. })) => {}
                _ => break,
            }
        }
        while let Ok(Msg::Line(l)) = rx.try_recv() {
            show_once(&mut printed, l, &mut show);
        }
    }
    // The engine takes its restart policies back.
    for (id, policy) in handed_over {
        let (name, max) = policy.unwrap_or(("no".into(), None));
        // The engine may refuse while the container is between states: try a few times.
        for attempt in 0..5 {
            match e.set_restart_policy(&id, &name, max).await {
                Ok(()) | Err(crate::engine::EngineError::NotFound { .. }) => break,
                Err(err) if attempt == 4 => report.warning(&format!("could not hand the restart policy back: {err}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    if interrupted > 0 {
        return Ok(Outcome { code: 130, interrupted: true });
    }
    let code = match (outcome, &o.exit_code_from) {
        (Some(-1), Some(from)) | (None, Some(from)) => {
            // The named service's own exit code, after everything stopped.
            let list = e.list_containers(&project.name).await?;
            match list.iter().find(|c| c.label(SERVICE) == Some(from.as_str())) {
                Some(c) => e.inspect_container(&c.id).await.map(|d| d.exit_code.unwrap_or(0)).unwrap_or(0),
                None => 0,
            }
        }
        (Some(code), _) => code,
        (None, None) => 0,
    };
    Ok(Outcome { code, interrupted: false })
}

/// Shows `l` unless it was shown already: a container attached again (after a restart) repeats
/// the lines of the second it restarted in (`printed`: the last line shown per container).
fn show_once(printed: &mut HashMap<String, (i64, u32)>, l: Line, show: &mut impl FnMut(Shown)) {
    let key = l.sort_key();
    let last = printed.entry(l.short_name.clone()).or_insert((i64::MIN, 0));
    if l.time.is_none() || key > *last {
        *last = key;
        show(Shown::Line(l));
    }
}

/// Once container `id` exited: its run's log once more after its followed stream (`logs_done`)
/// ended, so that a run that ended before its stream was attached is not lost (lines already
/// printed are dropped by their timestamps), then `exit`.
fn follow_exit<E: Engine>(
    e: &E,
    id: &str,
    logs_done: Option<tokio::sync::oneshot::Receiver<()>>,
    from: i64,
    opts: &LogOptions,
    tx: mpsc::UnboundedSender<Msg>,
    exit: Msg,
) {
    let again = e.logs(id, &LogOptions { follow: false, since: Some(from), ..opts.clone() });
    tokio::spawn(async move {
        if let Some(d) = logs_done {
            let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
        }
        if let Msg::Exited { short, service, .. } = &exit {
            crate::logs::pump(again, short, service, |l| tx.send(Msg::Line(l)).is_ok()).await;
        }
        let _ = tx.send(exit);
    });
}

/// Passes reports on, but for the lines hooks print: those join the attached output.
struct HookLines {
    inner: Report,
    tx: mpsc::UnboundedSender<Msg>,
}

impl crate::progress::Reporter for HookLines {
    fn event(&self, event: &crate::progress::ProgressEvent) {
        self.inner.event(event);
    }
    fn line(&self, text: &str) {
        self.inner.line(text);
    }
    fn warning(&self, text: &str) {
        self.inner.warning(text);
    }
    fn hook_output(&self, short: &str, service: &str, text: &str) {
        let line = Line {
            short_name: format!("{short} ->"),
            service: service.to_string(),
            stream: crate::engine::LogStream::Stdout,
            time: None,
            text: text.to_string(),
        };
        let _ = self.tx.send(Msg::Line(line));
    }
}

/// Stops the stack in the background (dependents first).
fn stop_all<E: Engine>(
    e: &E,
    project: &Project,
    list: &[ContainerInfo],
    timeout: Option<i64>,
    report: &Report,
) -> tokio::task::JoinHandle<()> {
    let (e, project, list, report) = (e.clone(), project.clone(), list.to_vec(), report.clone());
    tokio::spawn(async move {
        let fresh = e.list_containers(&project.name).await.unwrap_or_default();
        let ids: HashSet<&String> = list.iter().map(|c| &c.id).collect();
        let targets: Vec<ContainerInfo> = fresh.into_iter().filter(|c| ids.contains(&c.id)).collect();
        if let Err(err) = verbs::stop(&e, &project, targets, timeout, &report).await {
            report.warning(&format!("stopping the stack: {err}"));
        }
    })
}

/// Kills what is still running of `list`.
async fn kill_all<E: Engine>(e: &E, project: &Project, list: &[ContainerInfo], report: &Report) {
    let running: Vec<ContainerInfo> = e
        .list_containers(&project.name)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| list.iter().any(|x| x.id == c.id))
        .collect();
    let _ = verbs::kill(e, running, "SIGKILL", report).await;
}
