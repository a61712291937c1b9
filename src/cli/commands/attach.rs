//! `logs`, and attached `up`: the merged output of the services, each line prefixed
//! `service-1  | ` in a stable colour per service, container exits reported, and Ctrl-C (or
//! SIGTERM) stopping the stack gracefully, then killing it on the second signal.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{ContainerInfo, Engine, EventKind, HealthStatus, LogOptions, State};
use crate::logs::{Line, short_name};
use crate::model::Project;
use crate::model::labels::{NUMBER, SERVICE};
use crate::progress::Report;
use crate::scheduler::verbs;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Print the lines of all services in timestamp order (compose cannot: docker/compose#5398)
    #[arg(long)]
    pub merge_by_time: bool,
    pub service: Vec<String>,
}

/// How log lines are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    width: usize,
    colors: HashMap<String, &'static str>,
    color: bool,
    prefix: bool,
    timestamps: bool,
}

const PALETTE: [&str; 12] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94", "31", "91"];

impl Printer {
    /// A printer for `project`'s services: colours follow the service order in the file, so they
    /// are stable between runs.
    pub fn new(project: &Project, names: &[String], color: bool, prefix: bool, timestamps: bool) -> Printer {
        let colors =
            project.services.keys().enumerate().map(|(i, s)| (s.clone(), PALETTE[i % PALETTE.len()])).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        Printer { width, colors, color, prefix, timestamps }
    }

    pub fn widen(&mut self, name: &str) {
        self.width = self.width.max(name.len());
    }

    fn paint(&self, service: &str, text: &str) -> String {
        match (self.color, self.colors.get(service)) {
            (true, Some(c)) => format!("\x1b[{c}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    pub fn line(&self, l: &Line) -> String {
        let mut out = String::new();
        if self.prefix {
            let p = format!("{:<w$} | ", l.short_name, w = self.width);
            out.push_str(&self.paint(&l.service, &p));
        }
        if self.timestamps
            && let Some(t) = &l.time
        {
            out.push_str(t);
            out.push(' ');
        }
        out.push_str(&l.text);
        out
    }

    /// A message about a container, in its colour (`web-1 exited with code 3`).
    pub fn message(&self, short: &str, service: &str, text: &str) -> String {
        self.paint(service, &format!("{short} {text}"))
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn logs(g: &GlobalArgs, a: &LogsArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let time = |flag: &str, v: &Option<String>| -> Result<Option<i64>, CliError> {
        v.as_deref()
            .map(|s| {
                crate::logs::parse_time(s, now()).ok_or_else(|| CliError::Message {
                    message: format!("invalid {flag} value `{s}`"),
                    hint: Some("give a timestamp (2013-01-02T13:23:37Z), Unix seconds, or a duration (42m)".into()),
                    code: 1,
                })
            })
            .transpose()
    };
    let opts = LogOptions {
        follow: a.follow,
        timestamps: true,
        tail: Some(a.tail.clone()),
        since: time("--since", &a.since)?,
        until: time("--until", &a.until)?,
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let all = engine.list_containers(&project.name).await?;
        let mut list = verbs::targets(&project, all, &a.service);
        if let Some(i) = a.index {
            list.retain(|c| c.label(NUMBER) == Some(i.to_string().as_str()));
        }
        list.sort_by_key(short_name);
        let names: Vec<String> = list.iter().map(short_name).collect();
        let printer = Printer::new(&project, &names, g.color() && !a.no_color, !a.no_log_prefix, a.timestamps);
        let (tx, mut rx) = mpsc::unbounded_channel();
        for c in &list {
            crate::logs::attach(&engine, c, &opts, tx.clone());
        }
        drop(tx);
        if a.merge_by_time {
            // What exists now, in timestamp order; with -f, later lines as they come.
            let mut backlog = Vec::new();
            let live = if a.follow {
                // The backlog is what arrives before the streams go quiet for a moment.
                loop {
                    match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                        Ok(Some(l)) => backlog.push(l),
                        Ok(None) => break false,
                        Err(_) => break true,
                    }
                }
            } else {
                while let Some(l) = rx.recv().await {
                    backlog.push(l);
                }
                false
            };
            backlog.sort_by_key(Line::sort_key);
            for l in &backlog {
                println!("{}", printer.line(l));
            }
            if !live {
                return Ok(ExitCode::SUCCESS);
            }
        }
        while let Some(l) = rx.recv().await {
            println!("{}", printer.line(&l));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The options of attached `up` (compose's flags).
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub attach: Vec<String>,
    pub no_attach: Vec<String>,
    pub attach_dependencies: bool,
    pub no_log_prefix: bool,
    pub no_color: bool,
    pub timestamps: bool,
    pub abort_on_container_exit: bool,
    pub abort_on_container_failure: bool,
    pub exit_code_from: Option<String>,
    pub timeout: Option<i64>,
}

/// Messages to the attached loop, in the order they are to be printed.
enum Msg {
    Line(Line),
    /// A container exited; `note` says what supervision does about it.
    Exited {
        short: String,
        service: String,
        code: i64,
        note: Option<String>,
    },
    /// A supervised restart was carried out (`true`) or could not be (`false`).
    Restarted(bool),
}

/// After `up` converged: streams the attached services' output until they have all exited, an
/// abort condition holds, or a signal arrives. Returns the process exit code.
pub async fn attached<E: Engine>(
    e: &E,
    g: &GlobalArgs,
    project: &Project,
    selected: &[String],
    o: &AttachOptions,
    events: crate::engine::EngineStream<crate::engine::Event>,
    since: i64,
) -> Result<ExitCode, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut events = events;
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
    let names: Vec<String> = attached.iter().map(short_name).collect();
    let mut printer = Printer::new(project, &names, g.color() && !o.no_color, !o.no_log_prefix, o.timestamps);
    let report = g.report();
    report.line(&format!("Attaching to {}", names.join(", ")));

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
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
    let mut sigint = signal(SignalKind::interrupt()).map_err(|x| CliError::msg(x.to_string()))?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|x| CliError::msg(x.to_string()))?;
    let mut interrupted = 0;
    let mut outcome: Option<i64> = None; // the exit code decided by an abort
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    let mut waiting = tokio::time::interval(Duration::from_secs(2));
    waiting.tick().await;
    loop {
        tokio::select! {
            Some(m) = rx.recv() => match m {
                Msg::Line(l) => {
                    // A container attached again (after a restart) repeats the lines of the
                    // second it restarted in: print each line once.
                    let key = l.sort_key();
                    let last = printed.entry(l.short_name.clone()).or_insert((i64::MIN, 0));
                    if l.time.is_none() || key > *last {
                        *last = key;
                        report.line(&printer.line(&l));
                    }
                }
                Msg::Exited { short, service, code, note } => {
                    report.line(&printer.message(&short, &service, &format!("exited with code {code}")));
                    if let Some(n) = note {
                        report.line(&n);
                    }
                    if stopping.is_some() {
                        continue;
                    }
                    let from = o.exit_code_from.as_deref();
                    let abort = o.abort_on_container_exit || from.is_some() || (o.abort_on_container_failure && code != 0);
                    if abort {
                        report.line("Aborting on container exit...");
                        outcome = Some(match from {
                            Some(f) if f != service => -1, // read after the stop
                            _ => code,
                        });
                        halted.store(true, std::sync::atomic::Ordering::SeqCst);
                        stopping = Some(stop_all(e, project, &everything, o.timeout, &report));
                    } else if running.is_empty() && pending == 0 {
                        break;
                    }
                }
                Msg::Restarted(started) => {
                    pending = pending.saturating_sub(1);
                    // Once started, the container's own events decide; if it could not start,
                    // nothing more will come from it.
                    if !started && running.is_empty() && pending == 0 && stopping.is_none() {
                        break;
                    }
                }
            },
            Some(ev) = events.next() => {
                let Ok(ev) = ev else { continue };
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
                        note = Some(printer.message(
                            &short,
                            &svc,
                            &format!("{why}restarting in {} ms (attempt {attempt}{of})", after.as_millis()),
                        ));
                        pending += 1;
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
                            let _ = tx.send(Msg::Restarted(started));
                        });
                    }
                    Some((crate::scheduler::supervise::Decision::GiveUp { attempts }, why, _)) => {
                        note = Some(printer.message(
                            &short,
                            &svc,
                            &format!("giving up after {attempts} restart attempts ({why})"),
                        ));
                    }
                    _ => {}
                }
                // An exit's note follows its last lines; any other goes out now.
                if let Some(n) = note.take_if(|_| !is_die || !ids.contains(&ev.id)) {
                    report.line(&n);
                }
                if !ids.contains(&ev.id) && !is_start {
                    continue;
                }
                match &ev.kind {
                    EventKind::Die { exit_code } => {
                        running.remove(&ev.id);
                        let code = exit_code.unwrap_or(-1);
                        let (short, service) = (short.clone(), svc.clone());
                        let logs_done = done.remove(&ev.id);
                        // The run's log once more, once the followed stream is done: a run that
                        // ended before its stream was attached is not lost (lines already
                        // printed are dropped by their timestamps).
                        let from = run_since.get(&ev.id).copied().unwrap_or(since);
                        let again = e.logs(&ev.id, &LogOptions { follow: false, since: Some(from), ..opts.clone() });
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            if let Some(d) = logs_done {
                                let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
                            }
                            crate::logs::pump(again, &short, &service, |l| tx.send(Msg::Line(l)).is_ok()).await;
                            let _ = tx.send(Msg::Exited { short, service, code, note });
                        });
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
                            printer.widen(&short_name(&c));
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
            _ = sigint.recv() => {
                halted.store(true, std::sync::atomic::Ordering::SeqCst);
                interrupted = interrupt(e, project, &everything, o, &mut stopping, interrupted + 1, &report).await;
            }
            _ = sigterm.recv() => {
                halted.store(true, std::sync::atomic::Ordering::SeqCst);
                interrupted = interrupt(e, project, &everything, o, &mut stopping, interrupted + 1, &report).await;
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
                    report.line(&format!("waiting for {} to stop…", left.join(", ")));
                }
            },
        }
        if stopping.as_ref().is_some_and(|h| h.is_finished()) {
            break;
        }
    }
    if let Some(h) = stopping {
        let _ = h.await;
    }
    // The engine takes its restart policies back.
    for (id, policy) in handed_over {
        let (name, max) = policy.unwrap_or(("no".into(), None));
        // The engine may refuse while the container is between states: try a few times.
        for attempt in 0..5 {
            match e.set_restart_policy(&id, &name, max).await {
                Ok(()) | Err(crate::engine::EngineError::NotFound { .. }) => break,
                Err(err) if attempt == 4 => eprintln!("warning: could not hand the restart policy back: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    if interrupted > 0 {
        return Ok(ExitCode::from(130));
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
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
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
            let _ = CliError::from(err);
        }
    })
}

/// First signal: graceful stop; second: kill.
async fn interrupt<E: Engine>(
    e: &E,
    project: &Project,
    list: &[ContainerInfo],
    o: &AttachOptions,
    stopping: &mut Option<tokio::task::JoinHandle<()>>,
    n: u32,
    report: &Report,
) -> u32 {
    if n == 1 {
        report.line("Gracefully stopping... (press Ctrl+C again to force)");
        if stopping.is_none() {
            *stopping = Some(stop_all(e, project, list, o.timeout, report));
        }
    } else {
        report.line("Killing...");
        let running: Vec<ContainerInfo> = e
            .list_containers(&project.name)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|c| list.iter().any(|x| x.id == c.id))
            .collect();
        let _ = verbs::kill(e, running, "SIGKILL", report).await;
    }
    n
}

/// Writes a chunk of raw container output to our stdout or stderr, as it came.
pub(crate) fn write_chunk(chunk: &crate::engine::LogChunk) {
    use std::io::Write;
    if chunk.stream == crate::engine::LogStream::Stderr {
        let _ = std::io::stderr().write_all(&chunk.bytes);
    } else {
        let mut out = std::io::stdout();
        let _ = out.write_all(&chunk.bytes);
        let _ = out.flush();
    }
}
