//! Where the time goes: [`Traced`] wraps an engine and records, per call, when it began and
//! ended and what it was about; engine events received are marks on the same clock. A
//! [`TraceLog`] then says how much of a run was spent waiting on the engine and how much was
//! wharf's own (the gaps with no call in flight, the largest named), per kind of call, and can
//! be written as a Chrome trace (`chrome://tracing`, Perfetto).
//!
//! Off (no log), every call is forwarded as is: one branch per call.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{
    BuildMessage, BuildRequest, ContainerDetails, ContainerInfo, ContainerSpec, ContextStream, Credentials, Engine,
    EngineStream, Event, EventKind, ExecOptions, ExecOutput, ExecSession, ImageInfo, LogChunk, LogOptions, NetworkInfo,
    NetworkSpec, Result, Stats, Terminal, TransferProgress, VolumeInfo, VolumeSpec,
};

/// One engine call, or (with `end == start`) one event received.
#[derive(Debug, Clone)]
pub struct Span {
    pub call: &'static str,
    pub subject: String,
    pub start: Duration,
    pub end: Duration,
    pub ok: bool,
    /// An event received or a stream opened: a moment, not a call waited on.
    pub instant: bool,
}

/// The spans of one run, on one clock.
#[derive(Debug)]
pub struct TraceLog {
    origin: Instant,
    spans: Mutex<Vec<Span>>,
    names: Mutex<HashMap<String, String>>,
}

impl Default for TraceLog {
    fn default() -> Self {
        TraceLog { origin: Instant::now(), spans: Mutex::new(Vec::new()), names: Mutex::new(HashMap::new()) }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TraceLog {
    pub fn new() -> Arc<TraceLog> {
        Arc::new(TraceLog::default())
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// A container's name for its ID, when this run has seen it.
    fn name(&self, id: &str) -> String {
        lock(&self.names).get(id).cloned().unwrap_or_else(|| id.chars().take(12).collect())
    }

    fn record(&self, call: &'static str, subject: String, start: Duration, ok: bool) {
        let end = self.now();
        lock(&self.spans).push(Span { call, subject, start, end, ok, instant: false });
    }

    fn mark(&self, call: &'static str, subject: String) {
        let at = self.now();
        lock(&self.spans).push(Span { call, subject, start: at, end: at, ok: true, instant: true });
    }

    pub fn spans(&self) -> Vec<Span> {
        let mut v = lock(&self.spans).clone();
        v.sort_by_key(|s| (s.start, s.end));
        v
    }

    /// The plain-text summary: time busy in engine calls against time in wharf alone, the
    /// largest gaps with nothing in flight, and the calls by kind.
    pub fn summary(&self) -> String {
        let spans = self.spans();
        let total = self.now();
        let calls: Vec<&Span> = spans.iter().filter(|s| !s.instant).collect();
        // The union of the calls' intervals is the time the engine was being waited on.
        let mut busy = Duration::ZERO;
        let mut gaps: Vec<(Duration, Duration, String, String)> = Vec::new();
        let mut cursor = Duration::ZERO;
        let mut last_to_end = "the start".to_string();
        // `spans()` is sorted by start.
        for s in &calls {
            if s.start > cursor {
                gaps.push((cursor, s.start, last_to_end.clone(), format!("{} {}", s.call, s.subject)));
            }
            if s.end > cursor {
                busy += s.end - s.start.max(cursor);
                cursor = s.end;
                last_to_end = format!("{} {}", s.call, s.subject);
            }
        }
        if total > cursor {
            gaps.push((cursor, total, last_to_end, "the end".into()));
        }
        let alone = total.saturating_sub(busy);
        let pct = |d: Duration| if total.is_zero() { 0.0 } else { 100.0 * d.as_secs_f64() / total.as_secs_f64() };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "trace: {:.3} s in all; waiting on engine calls {:.3} s ({:.0}%), wharf alone {:.3} s ({:.0}%)",
            total.as_secs_f64(),
            busy.as_secs_f64(),
            pct(busy),
            alone.as_secs_f64(),
            pct(alone)
        );
        gaps.sort_by_key(|g| std::cmp::Reverse(g.1 - g.0));
        for (from, to, after, before) in gaps.iter().take(5).filter(|g| g.1 - g.0 >= Duration::from_millis(1)) {
            let _ = writeln!(
                out,
                "  nothing in flight {:>8.1} ms  at {:.3} s, after {after}, before {before}",
                (*to - *from).as_secs_f64() * 1000.0,
                from.as_secs_f64()
            );
        }
        let mut kinds: Vec<(&'static str, usize, Duration, Duration)> = Vec::new();
        for s in &calls {
            let d = s.end - s.start;
            match kinds.iter_mut().find(|k| k.0 == s.call) {
                Some(k) => {
                    k.1 += 1;
                    k.2 += d;
                    k.3 = k.3.max(d);
                }
                None => kinds.push((s.call, 1, d, d)),
            }
        }
        kinds.sort_by_key(|k| std::cmp::Reverse(k.2));
        let _ = writeln!(out, "  {:<22}{:>7}{:>12}{:>12}{:>12}", "call", "count", "total ms", "mean ms", "max ms");
        for (call, n, sum, max) in kinds {
            let _ = writeln!(
                out,
                "  {call:<22}{n:>7}{:>12.1}{:>12.2}{:>12.1}",
                sum.as_secs_f64() * 1000.0,
                sum.as_secs_f64() * 1000.0 / n as f64,
                max.as_secs_f64() * 1000.0
            );
        }
        let mut marks: Vec<(&'static str, usize)> = Vec::new();
        for s in spans.iter().filter(|s| s.instant) {
            match marks.iter_mut().find(|m| m.0 == s.call) {
                Some(m) => m.1 += 1,
                None => marks.push((s.call, 1)),
            }
        }
        if !marks.is_empty() {
            let list: Vec<String> = marks.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            let _ = writeln!(out, "  moments: {}", list.join(", "));
        }
        out
    }

    /// The spans as a Chrome trace (one lane per subject).
    pub fn chrome_json(&self) -> serde_json::Value {
        let spans = self.spans();
        let mut lanes: Vec<String> = Vec::new();
        let mut events: Vec<serde_json::Value> = spans
            .iter()
            .map(|s| {
                let lane = match lanes.iter().position(|l| *l == s.subject) {
                    Some(i) => i,
                    None => {
                        lanes.push(s.subject.clone());
                        lanes.len() - 1
                    }
                };
                let mut e = serde_json::json!({
                    "name": s.call,
                    "cat": if s.instant { "moment" } else { "engine" },
                    "ts": s.start.as_micros() as u64,
                    "pid": 1,
                    "tid": lane,
                    "args": {"subject": s.subject, "ok": s.ok},
                });
                if s.instant {
                    e["ph"] = "i".into();
                    e["s"] = "t".into();
                } else {
                    e["ph"] = "X".into();
                    e["dur"] = ((s.end - s.start).as_micros() as u64).into();
                }
                e
            })
            .collect();
        events.extend(lanes.iter().enumerate().map(
            |(i, l)| serde_json::json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": i, "args": {"name": l}}),
        ));
        serde_json::json!({ "traceEvents": events })
    }
}

/// An engine whose calls are recorded in a [`TraceLog`] when one is given.
#[derive(Clone)]
pub struct Traced<E> {
    inner: E,
    log: Option<Arc<TraceLog>>,
}

impl<E: Engine> Traced<E> {
    pub fn new(inner: E, log: Option<Arc<TraceLog>>) -> Traced<E> {
        Traced { inner, log }
    }

    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn subject(&self, id: &str) -> String {
        self.log.as_ref().map(|l| l.name(id)).unwrap_or_default()
    }
}

/// Times one call when tracing: the call's future, its name, and what it is about.
macro_rules! timed {
    ($self:ident, $call:literal, $subject:expr, $fut:expr) => {{
        match &$self.log {
            None => $fut.await,
            Some(log) => {
                let subject: String = $subject;
                let start = log.now();
                let r = $fut.await;
                log.record($call, subject, start, r.is_ok());
                r
            }
        }
    }};
}

/// Marks that a stream was opened (its items come over time).
fn opened(log: &Option<Arc<TraceLog>>, call: &'static str, subject: String) {
    if let Some(l) = log {
        l.mark(call, subject);
    }
}

impl<E: Engine> Engine for Traced<E> {
    async fn list_containers(&self, project: &str) -> Result<Vec<ContainerInfo>> {
        let list = timed!(self, "list_containers", project.to_string(), self.inner.list_containers(project))?;
        if let Some(l) = &self.log {
            lock(&l.names).extend(list.iter().map(|c| (c.id.clone(), c.name.clone())));
        }
        Ok(list)
    }
    async fn list_projects(&self) -> Result<Vec<ContainerInfo>> {
        timed!(self, "list_projects", String::new(), self.inner.list_projects())
    }
    async fn list_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        timed!(self, "list_labelled", label.to_string(), self.inner.list_labelled(label))
    }
    async fn labelled_leftovers(&self, label: &str) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
        timed!(self, "labelled_leftovers", label.to_string(), self.inner.labelled_leftovers(label))
    }
    async fn list_networks(&self, project: &str) -> Result<Vec<NetworkInfo>> {
        timed!(self, "list_networks", project.to_string(), self.inner.list_networks(project))
    }
    async fn list_volumes(&self, project: &str) -> Result<Vec<VolumeInfo>> {
        timed!(self, "list_volumes", project.to_string(), self.inner.list_volumes(project))
    }
    async fn network_exists(&self, name: &str) -> Result<bool> {
        timed!(self, "network_exists", name.to_string(), self.inner.network_exists(name))
    }
    async fn volume_exists(&self, name: &str) -> Result<bool> {
        timed!(self, "volume_exists", name.to_string(), self.inner.volume_exists(name))
    }
    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        timed!(self, "create_network", spec.name.clone(), self.inner.create_network(spec))
    }
    async fn remove_network(&self, name: &str) -> Result<()> {
        timed!(self, "remove_network", name.to_string(), self.inner.remove_network(name))
    }
    async fn connect_network(&self, id: &str, endpoint: &crate::engine::Endpoint) -> Result<()> {
        timed!(self, "connect_network", format!("{id} {}", endpoint.network), self.inner.connect_network(id, endpoint))
    }
    async fn disconnect_network(&self, id: &str, network: &str) -> Result<()> {
        timed!(self, "disconnect_network", format!("{id} {network}"), self.inner.disconnect_network(id, network))
    }
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<()> {
        timed!(self, "create_volume", spec.name.clone(), self.inner.create_volume(spec))
    }
    async fn remove_volume(&self, name: &str) -> Result<()> {
        timed!(self, "remove_volume", name.to_string(), self.inner.remove_volume(name))
    }
    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        timed!(self, "image_id", image.to_string(), self.inner.image_id(image))
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let id = timed!(self, "create_container", spec.name.clone(), self.inner.create_container(spec))?;
        if let Some(l) = &self.log {
            lock(&l.names).insert(id.clone(), spec.name.clone());
        }
        Ok(id)
    }
    async fn start_container(&self, id: &str) -> Result<()> {
        timed!(self, "start_container", self.subject(id), self.inner.start_container(id))
    }
    async fn stop_container(&self, id: &str, timeout_s: Option<i64>) -> Result<()> {
        timed!(self, "stop_container", self.subject(id), self.inner.stop_container(id, timeout_s))
    }
    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        timed!(self, "kill_container", self.subject(id), self.inner.kill_container(id, signal))
    }
    async fn pause_container(&self, id: &str) -> Result<()> {
        timed!(self, "pause_container", self.subject(id), self.inner.pause_container(id))
    }
    async fn unpause_container(&self, id: &str) -> Result<()> {
        timed!(self, "unpause_container", self.subject(id), self.inner.unpause_container(id))
    }
    async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        timed!(self, "remove_container", self.subject(id), self.inner.remove_container(id, force, volumes))
    }
    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        timed!(self, "rename_container", self.subject(id), self.inner.rename_container(id, name))
    }
    async fn running_execs(&self, id: &str) -> Result<usize> {
        timed!(self, "running_execs", id.to_string(), self.inner.running_execs(id))
    }
    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        timed!(self, "inspect_container", self.subject(id), self.inner.inspect_container(id))
    }
    async fn download_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        timed!(self, "download_archive", self.subject(id), self.inner.download_archive(id, path))
    }
    async fn upload_archive(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<()> {
        timed!(self, "upload_archive", self.subject(id), self.inner.upload_archive(id, dir, tar))
    }
    async fn commit_container(&self, id: &str, commit: &crate::engine::Commit) -> Result<String> {
        timed!(self, "commit_container", self.subject(id), self.inner.commit_container(id, commit))
    }
    fn export_container(&self, id: &str) -> EngineStream<Vec<u8>> {
        opened(&self.log, "export_container", self.subject(id));
        self.inner.export_container(id)
    }
    async fn remove_image(&self, image: &str) -> Result<()> {
        timed!(self, "remove_image", image.to_string(), self.inner.remove_image(image))
    }
    async fn exec_tty(
        &self,
        id: &str,
        cmd: &[String],
        opts: &ExecOptions,
        size: tokio::sync::watch::Receiver<(u16, u16)>,
        input: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Result<i64> {
        timed!(self, "exec_tty", self.subject(id), self.inner.exec_tty(id, cmd, opts, size, input, output))
    }
    async fn attach_container(&self, id: &str, terminal: Terminal) -> Result<()> {
        timed!(self, "attach_container", self.subject(id), self.inner.attach_container(id, terminal))
    }
    async fn set_restart_policy(&self, id: &str, name: &str, max_retries: Option<i64>) -> Result<()> {
        timed!(self, "set_restart_policy", self.subject(id), self.inner.set_restart_policy(id, name, max_retries))
    }
    async fn exec_session(&self, id: &str, cmd: &[String]) -> Result<ExecSession> {
        timed!(self, "exec_session", self.subject(id), self.inner.exec_session(id, cmd))
    }
    async fn top(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        timed!(self, "top", self.subject(id), self.inner.top(id))
    }
    async fn stats(&self, id: &str) -> Result<Stats> {
        timed!(self, "stats", self.subject(id), self.inner.stats(id))
    }
    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>> {
        timed!(self, "image_info", image.to_string(), self.inner.image_info(image))
    }
    async fn image_history(&self, image: &str) -> Result<Vec<String>> {
        timed!(self, "image_history", image.to_string(), self.inner.image_history(image))
    }
    fn supports_start_interval(&self) -> bool {
        self.inner.supports_start_interval()
    }
    fn build_image(&self, req: &BuildRequest, context: ContextStream) -> EngineStream<BuildMessage> {
        opened(&self.log, "build_image", req.tag.clone());
        self.inner.build_image(req, context)
    }
    fn supports_buildkit(&self) -> bool {
        self.inner.supports_buildkit()
    }
    fn pull_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
        opened(&self.log, "pull_image", image.to_string());
        self.inner.pull_image(image, auth)
    }
    fn push_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
        opened(&self.log, "push_image", image.to_string());
        self.inner.push_image(image, auth)
    }
    async fn tag_image(&self, image: &str, target: &str) -> Result<()> {
        timed!(self, "tag_image", image.to_string(), self.inner.tag_image(image, target))
    }
    async fn recent_events(&self, project: &str, since_s: i64) -> Result<Vec<Event>> {
        timed!(self, "recent_events", project.to_string(), self.inner.recent_events(project, since_s))
    }
    fn events(&self, project: &str) -> EngineStream<Event> {
        let stream = self.inner.events(project);
        let Some(log) = self.log.clone() else { return stream };
        opened(&self.log, "events", project.to_string());
        stream
            .inspect(move |ev| {
                if let Ok(ev) = ev {
                    let call = match &ev.kind {
                        EventKind::Start => "event start",
                        EventKind::Die { .. } => "event die",
                        EventKind::Health(super::HealthStatus::Healthy) => "event healthy",
                        EventKind::Health(super::HealthStatus::Unhealthy) => "event unhealthy",
                        EventKind::Health(super::HealthStatus::Starting) => "event health starting",
                        EventKind::Other(_) => "event other",
                    };
                    log.mark(call, log.name(&ev.id));
                }
            })
            .boxed()
    }
    fn logs(&self, id: &str, opts: &LogOptions) -> EngineStream<LogChunk> {
        opened(&self.log, "logs", self.subject(id));
        self.inner.logs(id, opts)
    }
    async fn exec_with(&self, id: &str, cmd: &[String], opts: &ExecOptions) -> Result<ExecOutput> {
        timed!(self, "exec", self.subject(id), self.inner.exec_with(id, cmd, opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;

    #[tokio::test]
    async fn calls_are_recorded_with_names_and_summarised() {
        let log = TraceLog::new();
        let fake = FakeEngine::default();
        fake.state().images.insert("img".into(), "sha256:1".into());
        let e = Traced::new(fake, Some(log.clone()));
        let spec = ContainerSpec { name: "p-web-1".into(), image: "img".into(), ..ContainerSpec::default() };
        let id = e.create_container(&spec).await.unwrap();
        e.start_container(&id).await.unwrap();
        let spans = log.spans();
        let calls: Vec<(&str, &str)> = spans.iter().map(|s| (s.call, s.subject.as_str())).collect();
        assert_eq!(calls, [("create_container", "p-web-1"), ("start_container", "p-web-1")]);
        let summary = log.summary();
        assert!(summary.starts_with("trace: "), "{summary}");
        assert!(summary.contains("create_container") && summary.contains("start_container"), "{summary}");
        let chrome = log.chrome_json();
        assert_eq!(chrome["traceEvents"][0]["name"], "create_container");
        assert_eq!(chrome["traceEvents"][0]["ph"], "X");
    }

    #[tokio::test]
    async fn off_it_records_nothing() {
        let fake = FakeEngine::default();
        fake.state().images.insert("img".into(), "sha256:1".into());
        let e = Traced::new(fake, None);
        let spec = ContainerSpec { name: "p-web-1".into(), image: "img".into(), ..ContainerSpec::default() };
        assert!(e.create_container(&spec).await.is_ok());
        assert!(e.log.is_none());
    }
}
