//! `--dry-run` as an engine: [`DryRun`] wraps a real engine, passes every read through, and
//! records every write instead of making it, so each verb's dry run is the real verb's own code
//! running against it — no verb can forget to honour the flag.
//!
//! What a recorded write returns is made up so that the caller carries on as it would after a
//! success: a created container gets an ID of the form `dryrun…`, and such a container, once
//! "started", inspects as finished with code 0 and healthy (so every `depends_on` condition
//! and every `--wait` holds at once), has no logs, and its exit reaches the event stream.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::{
    BuildMessage, BuildRequest, ContainerDetails, ContainerInfo, ContainerSpec, ContextStream, Credentials, Engine,
    EngineError, EngineStream, Event, EventKind, ExecOptions, ExecOutput, ExecSession, ImageInfo, LogChunk, LogOptions,
    NetworkInfo, NetworkSpec, Result, State, Stats, Terminal, TransferProgress, VolumeInfo, VolumeSpec,
};

/// One write the dry run did not make: `stop container p-web-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `create`, `start`, `stop`, `remove`, `exec in`, …
    pub action: &'static str,
    /// `container`, `network`, `volume`, `image`.
    pub kind: &'static str,
    /// The resource's name (a container's name where the engine told us, else its ID).
    pub name: String,
    /// More to say: the command of an exec, the signal of a kill.
    pub detail: Option<String>,
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = format!("{} {} {}", self.action, self.kind, self.name);
        match &self.detail {
            Some(d) => write!(f, "{:<48} (dry run: {d})", what),
            None => write!(f, "{:<48} (dry run)", what),
        }
    }
}

/// Where recorded writes go as they happen (the CLI prints them).
pub type Sink = Arc<dyn Fn(&Write) + Send + Sync>;

struct Shared {
    writes: Mutex<Vec<Write>>,
    /// Container ID → name: the fakes this run "created", and the real ones it has seen listed.
    names: Mutex<HashMap<String, String>>,
    /// Fake containers "started" (they then count as done, code 0).
    started: Mutex<HashMap<String, bool>>,
    events: tokio::sync::broadcast::Sender<Event>,
    sink: Option<Sink>,
    next: AtomicU64,
}

/// An engine that changes nothing when enabled, and is `inner` itself when not.
#[derive(Clone)]
pub struct DryRun<E> {
    inner: E,
    shared: Option<Arc<Shared>>,
}

const FAKE: &str = "dryrun";

impl<E: Engine> DryRun<E> {
    /// `inner` with writes recorded (and handed to `sink`) when `enabled`; plain `inner` when not.
    pub fn new(inner: E, enabled: bool, sink: Option<Sink>) -> DryRun<E> {
        let shared = enabled.then(|| {
            Arc::new(Shared {
                writes: Mutex::default(),
                names: Mutex::default(),
                started: Mutex::default(),
                events: tokio::sync::broadcast::channel(1024).0,
                sink,
                next: AtomicU64::new(1),
            })
        });
        DryRun { inner, shared }
    }

    /// Whether writes are being recorded instead of made.
    pub fn is_dry(&self) -> bool {
        self.shared.is_some()
    }

    /// The engine underneath.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The writes recorded so far, in order.
    pub fn writes(&self) -> Vec<Write> {
        self.shared.as_ref().map(|s| lock(&s.writes).clone()).unwrap_or_default()
    }

    fn name_of(s: &Shared, id: &str) -> String {
        lock(&s.names).get(id).cloned().unwrap_or_else(|| id.chars().take(12).collect())
    }

    fn record(s: &Shared, action: &'static str, kind: &'static str, name: String, detail: Option<String>) {
        let w = Write { action, kind, name, detail };
        if let Some(sink) = &s.sink {
            sink(&w);
        }
        lock(&s.writes).push(w);
    }

    fn fake_id(s: &Shared) -> String {
        format!("{FAKE}{:058x}", s.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Records a write of `kind` `name` when dry; `false` when the caller must make it.
    fn dry(&self, action: &'static str, kind: &'static str, name: &str, detail: Option<String>) -> bool {
        match &self.shared {
            Some(s) => {
                Self::record(s, action, kind, name.to_string(), detail);
                true
            }
            None => false,
        }
    }

    /// Records a write on container `id` (named as the engine told us) when dry.
    fn container_write(&self, action: &'static str, id: &str, detail: Option<String>) -> bool {
        let name = self.shared.as_ref().map(|s| Self::name_of(s, id)).unwrap_or_default();
        self.dry(action, "container", &name, detail)
    }

    fn remember(&self, list: &[ContainerInfo]) {
        if let Some(s) = &self.shared {
            let mut names = lock(&s.names);
            for c in list {
                names.insert(c.id.clone(), c.name.clone());
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_fake(id: &str) -> bool {
    id.starts_with(FAKE)
}

impl<E: Engine> Engine for DryRun<E> {
    async fn list_containers(&self, project: &str) -> Result<Vec<ContainerInfo>> {
        let list = self.inner.list_containers(project).await?;
        self.remember(&list);
        Ok(list)
    }
    async fn list_projects(&self) -> Result<Vec<ContainerInfo>> {
        let list = self.inner.list_projects().await?;
        self.remember(&list);
        Ok(list)
    }
    async fn list_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        let list = self.inner.list_labelled(label).await?;
        self.remember(&list);
        Ok(list)
    }
    async fn labelled_leftovers(&self, label: &str) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
        self.inner.labelled_leftovers(label).await
    }
    async fn list_networks(&self, project: &str) -> Result<Vec<NetworkInfo>> {
        self.inner.list_networks(project).await
    }
    async fn list_volumes(&self, project: &str) -> Result<Vec<VolumeInfo>> {
        self.inner.list_volumes(project).await
    }
    async fn network_exists(&self, name: &str) -> Result<bool> {
        self.inner.network_exists(name).await
    }
    async fn volume_exists(&self, name: &str) -> Result<bool> {
        self.inner.volume_exists(name).await
    }
    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        match &self.shared {
            Some(s) => {
                Self::record(s, "create", "network", spec.name.clone(), None);
                Ok(Self::fake_id(s))
            }
            None => self.inner.create_network(spec).await,
        }
    }
    async fn remove_network(&self, name: &str) -> Result<()> {
        if self.dry("remove", "network", name, None) {
            return Ok(());
        }
        self.inner.remove_network(name).await
    }
    async fn connect_network(&self, id: &str, endpoint: &crate::engine::Endpoint) -> Result<()> {
        if self.container_write("connect", id, Some(format!("to network {}", endpoint.network))) {
            return Ok(());
        }
        self.inner.connect_network(id, endpoint).await
    }
    async fn disconnect_network(&self, id: &str, network: &str) -> Result<()> {
        if self.container_write("disconnect", id, Some(format!("from network {network}"))) {
            return Ok(());
        }
        self.inner.disconnect_network(id, network).await
    }
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<()> {
        if self.dry("create", "volume", &spec.name, None) {
            return Ok(());
        }
        self.inner.create_volume(spec).await
    }
    async fn remove_volume(&self, name: &str) -> Result<()> {
        if self.dry("remove", "volume", name, None) {
            return Ok(());
        }
        self.inner.remove_volume(name).await
    }
    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        self.inner.image_id(image).await
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        match &self.shared {
            Some(s) => {
                Self::record(s, "create", "container", spec.name.clone(), None);
                let id = Self::fake_id(s);
                lock(&s.names).insert(id.clone(), spec.name.clone());
                Ok(id)
            }
            None => self.inner.create_container(spec).await,
        }
    }
    async fn start_container(&self, id: &str) -> Result<()> {
        if !self.container_write("start", id, None) {
            return self.inner.start_container(id).await;
        }
        if let Some(s) = &self.shared {
            lock(&s.started).insert(id.to_string(), true);
            if is_fake(id) {
                // What the engine would say of a container that ran and finished.
                let name = Self::name_of(s, id);
                for kind in [EventKind::Start, EventKind::Die { exit_code: Some(0) }] {
                    let _ = s.events.send(Event::new(kind, id, &name));
                }
            }
        }
        Ok(())
    }
    async fn stop_container(&self, id: &str, timeout_s: Option<i64>) -> Result<()> {
        if self.container_write("stop", id, None) {
            return Ok(());
        }
        self.inner.stop_container(id, timeout_s).await
    }
    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        if self.container_write("kill", id, Some(signal.to_string())) {
            return Ok(());
        }
        self.inner.kill_container(id, signal).await
    }
    async fn pause_container(&self, id: &str) -> Result<()> {
        if self.container_write("pause", id, None) {
            return Ok(());
        }
        self.inner.pause_container(id).await
    }
    async fn unpause_container(&self, id: &str) -> Result<()> {
        if self.container_write("unpause", id, None) {
            return Ok(());
        }
        self.inner.unpause_container(id).await
    }
    async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        if self.container_write("remove", id, None) {
            return Ok(());
        }
        self.inner.remove_container(id, force, volumes).await
    }
    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        if self.container_write("rename", id, Some(format!("to {name}"))) {
            if let Some(s) = &self.shared {
                lock(&s.names).insert(id.to_string(), name.to_string());
            }
            return Ok(());
        }
        self.inner.rename_container(id, name).await
    }
    async fn running_execs(&self, id: &str) -> Result<usize> {
        if is_fake(id) {
            return Ok(0);
        }
        self.inner.running_execs(id).await
    }
    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        if let Some(s) = &self.shared
            && is_fake(id)
        {
            let started = lock(&s.started).contains_key(id);
            let name = lock(&s.names).get(id).cloned().unwrap_or_default();
            return Ok(ContainerDetails {
                id: id.to_string(),
                labels: Some(("name".to_string(), name.clone())).filter(|_| !name.is_empty()).into_iter().collect(),
                name,
                state: if started { State::Exited } else { State::Created },
                health: started.then(|| "healthy".to_string()),
                last_health_output: None,
                exit_code: started.then_some(0),
            });
        }
        self.inner.inspect_container(id).await
    }
    async fn download_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        if self.shared.is_some() && is_fake(id) {
            return Err(EngineError::NotFound { what: format!("`{path}` in a container of the dry run") });
        }
        self.inner.download_archive(id, path).await
    }
    async fn upload_archive(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<()> {
        if self.container_write("copy into", id, Some(format!("{} bytes into {dir}", tar.len()))) {
            return Ok(());
        }
        self.inner.upload_archive(id, dir, tar).await
    }
    async fn commit_container(&self, id: &str, commit: &crate::engine::Commit) -> Result<String> {
        let what = commit.reference.clone().unwrap_or_else(|| "an untagged image".into());
        if self.container_write("commit", id, Some(format!("as {what}"))) {
            return Ok(format!("sha256:{:064}", 0));
        }
        self.inner.commit_container(id, commit).await
    }
    fn export_container(&self, id: &str) -> EngineStream<Vec<u8>> {
        if self.shared.is_some() && is_fake(id) {
            return futures::stream::empty().boxed();
        }
        self.inner.export_container(id)
    }
    async fn remove_image(&self, image: &str) -> Result<()> {
        if self.dry("remove", "image", image, None) {
            return Ok(());
        }
        self.inner.remove_image(image).await
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
        if self.container_write("exec in", id, Some(cmd.join(" "))) {
            return Ok(0);
        }
        self.inner.exec_tty(id, cmd, opts, size, input, output).await
    }
    async fn attach_container(&self, id: &str, terminal: Terminal) -> Result<()> {
        if self.shared.is_some() && (is_fake(id) || terminal.input.is_some()) {
            // Nothing ran, so nothing to show; and no keystroke reaches a real container.
            return Ok(());
        }
        self.inner.attach_container(id, terminal).await
    }
    async fn set_restart_policy(&self, id: &str, name: &str, max_retries: Option<i64>) -> Result<()> {
        if self.container_write("set restart policy of", id, Some(name.to_string())) {
            return Ok(());
        }
        self.inner.set_restart_policy(id, name, max_retries).await
    }
    async fn exec_session(&self, id: &str, cmd: &[String]) -> Result<ExecSession> {
        if self.shared.is_some() {
            // Callers fall back to the archive API, whose uploads are recorded.
            return Err(EngineError::Api {
                operation: format!("exec `{}`", cmd.join(" ")),
                status: 0,
                message: format!("not run in a dry run (container {})", id.chars().take(12).collect::<String>()),
            });
        }
        self.inner.exec_session(id, cmd).await
    }
    async fn top(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        self.inner.top(id).await
    }
    async fn stats(&self, id: &str) -> Result<Stats> {
        self.inner.stats(id).await
    }
    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>> {
        self.inner.image_info(image).await
    }
    async fn image_history(&self, image: &str) -> Result<Vec<String>> {
        self.inner.image_history(image).await
    }
    fn supports_start_interval(&self) -> bool {
        self.inner.supports_start_interval()
    }
    fn build_image(&self, req: &BuildRequest, context: ContextStream) -> EngineStream<BuildMessage> {
        match &self.shared {
            Some(s) => {
                Self::record(s, "build", "image", req.tag.clone(), None);
                let id = format!("sha256:{}", Self::fake_id(s));
                futures::stream::iter([Ok(BuildMessage::ImageId(id))]).boxed()
            }
            None => self.inner.build_image(req, context),
        }
    }
    fn supports_buildkit(&self) -> bool {
        self.inner.supports_buildkit()
    }
    fn pull_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
        match &self.shared {
            Some(s) => {
                Self::record(s, "pull", "image", image.to_string(), None);
                futures::stream::empty().boxed()
            }
            None => self.inner.pull_image(image, auth),
        }
    }
    fn push_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
        match &self.shared {
            Some(s) => {
                Self::record(s, "push", "image", image.to_string(), None);
                futures::stream::empty().boxed()
            }
            None => self.inner.push_image(image, auth),
        }
    }
    async fn tag_image(&self, image: &str, target: &str) -> Result<()> {
        if self.dry("tag", "image", image, Some(format!("as {target}"))) {
            return Ok(());
        }
        self.inner.tag_image(image, target).await
    }
    async fn recent_events(&self, project: &str, since_s: i64) -> Result<Vec<Event>> {
        self.inner.recent_events(project, since_s).await
    }
    fn events(&self, project: &str) -> EngineStream<Event> {
        let real = self.inner.events(project);
        match &self.shared {
            Some(s) => {
                let fake = tokio_stream_of(s.events.subscribe());
                futures::stream::select(real, fake).boxed()
            }
            None => real,
        }
    }
    fn logs(&self, id: &str, opts: &LogOptions) -> EngineStream<LogChunk> {
        if self.shared.is_some() && is_fake(id) {
            return futures::stream::empty().boxed();
        }
        self.inner.logs(id, opts)
    }
    async fn exec_with(&self, id: &str, cmd: &[String], opts: &ExecOptions) -> Result<ExecOutput> {
        if self.container_write("exec in", id, Some(cmd.join(" "))) {
            return Ok(ExecOutput { exit_code: 0, output: String::new() });
        }
        self.inner.exec_with(id, cmd, opts).await
    }
}

/// The fake containers' events as a stream (lagging receivers skip what they missed).
fn tokio_stream_of(rx: tokio::sync::broadcast::Receiver<Event>) -> EngineStream<Event> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => return Some((Ok(ev), rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;

    #[tokio::test]
    async fn writes_are_recorded_and_not_made_reads_pass_through() {
        let fake = FakeEngine::new().with_image("img");
        let spec = ContainerSpec { name: "p-web-1".into(), image: "img".into(), ..Default::default() };
        let real = fake.create_container(&spec).await.unwrap();
        let dry = DryRun::new(fake.clone(), true, None);
        assert!(dry.inspect_container(&real).await.is_ok(), "reads reach the engine");
        dry.start_container(&real).await.unwrap();
        dry.remove_container(&real, true, false).await.unwrap();
        dry.create_network(&NetworkSpec { name: "p_default".into(), ..Default::default() }).await.unwrap();
        let id = dry.create_container(&ContainerSpec { name: "p-db-1".into(), ..spec.clone() }).await.unwrap();
        dry.start_container(&id).await.unwrap();
        let shown: Vec<String> = dry.writes().iter().map(|w| format!("{} {} {}", w.action, w.kind, w.name)).collect();
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert_eq!(shown[2], "create network p_default");
        assert_eq!(shown[3], "create container p-db-1");
        assert_eq!(shown[4], "start container p-db-1");
        // Nothing changed underneath.
        assert_eq!(fake.inspect_container(&real).await.unwrap().state, State::Created);
        assert!(!fake.network_exists("p_default").await.unwrap());
        // A started fake is done and healthy, so every wait on it holds.
        let d = dry.inspect_container(&id).await.unwrap();
        assert_eq!((d.state, d.exit_code, d.health.as_deref()), (State::Exited, Some(0), Some("healthy")));
    }

    #[tokio::test]
    async fn disabled_it_is_the_engine_itself() {
        let fake = FakeEngine::default();
        let dry = DryRun::new(fake.clone(), false, None);
        dry.create_network(&NetworkSpec { name: "n".into(), ..Default::default() }).await.unwrap();
        assert!(fake.network_exists("n").await.unwrap());
        assert!(dry.writes().is_empty());
    }
}
