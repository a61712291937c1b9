//! An in-memory [`Engine`] with real state and scriptable faults, for fast tests of reconcile
//! and scheduling. It keeps containers, networks, volumes and images as the Docker Engine would
//! (names unique, a container found by ID or name, a network refusing removal while in use),
//! records every call, and fails the calls a test scripts. It complements, never replaces, the
//! tests against the real engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    ContainerDetails, ContainerInfo, ContainerSpec, Engine, EngineError, EngineStream, Event, ExecOutput, LogChunk,
    LogOptions, LogStream, NetworkInfo, NetworkSpec, Result, State, VolumeInfo, VolumeSpec,
};
use crate::model::labels::PROJECT;

mod image;
mod state;
mod swarm;
pub use state::FakeContainer;

/// A scripted failure: the next `times` calls of `op` whose subject contains `subject` fail.
#[derive(Debug, Clone)]
struct Fault {
    op: String,
    subject: String,
    error: EngineError,
    times: usize,
}

/// What happens to a container when it starts.
#[derive(Debug, Clone)]
enum OnStart {
    Health(String),
    Exit(i64),
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub containers: BTreeMap<String, FakeContainer>,
    pub networks: BTreeMap<String, NetworkSpec>,
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Image reference → image ID.
    pub images: BTreeMap<String, String>,
    /// What the fake registry holds: image reference → image ID.
    pub registry: BTreeMap<String, String>,
    /// Every call, as `op subject`, in order.
    pub calls: Vec<String>,
    faults: Vec<Fault>,
    on_start: Vec<(String, OnStart)>,
    next_id: u64,
    latency: Option<std::time::Duration>,
    events: Option<tokio::sync::broadcast::Sender<Event>>,
    /// Scripted results of `exec`, by container name.
    exec_results: BTreeMap<String, ExecOutput>,
    /// The swarm's side: services, tasks, secrets and configs (see [`swarm`]).
    pub swarm: swarm::FakeSwarm,
}

impl FakeState {
    /// Publishes an event about container `id`, as the engine would.
    fn emit(&mut self, id: &str, action: &str) {
        let Some(c) = self.containers.get(id) else { return };
        let mut attributes = c.spec.labels.clone();
        attributes.insert("name".into(), c.spec.name.clone());
        if action == "die" {
            attributes.insert("exitCode".into(), c.exit_code.unwrap_or(0).to_string());
        }
        let kind = super::EventKind::parse(action, &attributes);
        let event = Event { kind, id: id.into(), attributes, time_nano: 0 };
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}

/// The fake engine; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeEngine {
    inner: Arc<Mutex<FakeState>>,
}

impl FakeEngine {
    pub fn new() -> FakeEngine {
        FakeEngine::default()
    }

    /// Every call takes `latency` before it acts (the real engine is not instant), so that
    /// concurrent tasks interleave as they would on Docker.
    pub fn with_latency(self, latency: std::time::Duration) -> FakeEngine {
        self.state().latency = Some(latency);
        self
    }

    async fn pause(&self) {
        let latency = self.state().latency;
        match latency {
            Some(d) => tokio::time::sleep(d).await,
            None => tokio::task::yield_now().await,
        }
    }

    /// The next `times` calls of `op` (e.g. `start_container`) on a subject containing `subject`
    /// fail with `error`.
    pub fn fail(&self, op: &str, subject: &str, error: EngineError, times: usize) {
        self.state().faults.push(Fault { op: op.into(), subject: subject.into(), error, times });
    }

    /// Containers whose name contains `name` report this health once started.
    pub fn health_on_start(&self, name: &str, health: &str) {
        self.state().on_start.push((name.into(), OnStart::Health(health.into())));
    }

    /// Containers whose name contains `name` exit with `code` as soon as they start.
    pub fn exit_on_start(&self, name: &str, code: i64) {
        self.state().on_start.push((name.into(), OnStart::Exit(code)));
    }

    /// Container `name` prints `text` (on stdout).
    pub fn say(&self, name: &str, text: &str) {
        let mut st = self.state();
        if let Some(c) = st.containers.values_mut().find(|c| c.spec.name == name) {
            c.output.push(LogChunk { stream: LogStream::Stdout, bytes: text.as_bytes().to_vec() });
        }
    }

    /// `exec` in container `name` returns `result`.
    pub fn exec_result(&self, name: &str, result: ExecOutput) {
        self.state().exec_results.insert(name.into(), result);
    }

    /// Ends every open event stream (as a dropped connection would); later subscriptions work.
    pub fn break_events(&self) {
        self.state().events = None;
    }

    /// Sets container `name`'s health without an event (as if the event was lost).
    pub fn set_health_silently(&self, name: &str, health: &str) {
        if let Some(c) = self.state().containers.values_mut().find(|c| c.spec.name == name) {
            c.health = Some(health.into());
        }
    }

    /// The shared state, for assertions.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls so far, `op subject` each.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// The container named `name`, if any.
    pub fn container(&self, name: &str) -> Option<FakeContainer> {
        self.state().containers.values().find(|c| c.spec.name == name).cloned()
    }

    /// The name of a container given by ID or name (the ID itself when unknown), so calls are
    /// recorded and faults matched by name.
    fn name_of(&self, id: &str) -> String {
        let st = self.state();
        st.find(id).map(|k| st.containers[&k].spec.name.clone()).unwrap_or_else(|_| id.to_string())
    }

    /// Records the call and returns the scripted fault, if one matches.
    fn call(&self, op: &str, subject: &str) -> Result<MutexGuard<'_, FakeState>> {
        let mut st = self.state();
        st.calls.push(format!("{op} {subject}"));
        if let Some(f) = st.faults.iter_mut().find(|f| f.op == op && subject.contains(&f.subject) && f.times > 0) {
            f.times -= 1;
            return Err(f.error.clone());
        }
        Ok(st)
    }
}

impl Engine for FakeEngine {
    async fn list_containers(&self, project: &str) -> Result<Vec<ContainerInfo>> {
        self.pause().await;
        let st = self.call("list_containers", project)?;
        Ok(st
            .containers
            .values()
            .filter(|c| c.spec.labels.get(PROJECT).map(String::as_str) == Some(project))
            .map(|c| st.info(c))
            .collect())
    }

    async fn list_projects(&self) -> Result<Vec<ContainerInfo>> {
        self.pause().await;
        let st = self.call("list_projects", "")?;
        Ok(st.containers.values().filter(|c| c.spec.labels.contains_key(PROJECT)).map(|c| st.info(c)).collect())
    }

    async fn list_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        self.pause().await;
        let st = self.call("list_labelled", label)?;
        let (key, value) = match label.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (label, None),
        };
        let matches = |l: &BTreeMap<String, String>| l.get(key).is_some_and(|v| value.is_none_or(|want| v == want));
        Ok(st.containers.values().filter(|c| matches(&c.spec.labels)).map(|c| st.info(c)).collect())
    }

    async fn labelled_leftovers(&self, label: &str) -> Result<Vec<BTreeMap<String, String>>> {
        self.pause().await;
        let st = self.call("labelled_leftovers", label)?;
        let (key, value) = match label.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (label, None),
        };
        let matches = |l: &BTreeMap<String, String>| l.get(key).is_some_and(|v| value.is_none_or(|want| v == want));
        Ok(st
            .networks
            .values()
            .map(|n| &n.labels)
            .chain(st.volumes.values().map(|v| &v.labels))
            .filter(|l| matches(l))
            .cloned()
            .collect())
    }

    async fn list_networks(&self, project: &str) -> Result<Vec<NetworkInfo>> {
        self.pause().await;
        let st = self.call("list_networks", project)?;
        Ok(st
            .networks
            .values()
            .filter(|n| n.labels.get(PROJECT).map(String::as_str) == Some(project))
            .map(|n| NetworkInfo { id: format!("net-{}", n.name), name: n.name.clone(), labels: n.labels.clone() })
            .collect())
    }

    async fn list_volumes(&self, project: &str) -> Result<Vec<VolumeInfo>> {
        self.pause().await;
        let st = self.call("list_volumes", project)?;
        Ok(st
            .volumes
            .values()
            .filter(|v| v.labels.get(PROJECT).map(String::as_str) == Some(project))
            .map(|v| VolumeInfo { name: v.name.clone(), labels: v.labels.clone() })
            .collect())
    }

    async fn network_exists(&self, name: &str) -> Result<bool> {
        self.pause().await;
        Ok(self.call("network_exists", name)?.networks.contains_key(name))
    }

    async fn volume_exists(&self, name: &str) -> Result<bool> {
        self.pause().await;
        Ok(self.call("volume_exists", name)?.volumes.contains_key(name))
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        self.pause().await;
        let mut st = self.call("create_network", &spec.name)?;
        if st.networks.contains_key(&spec.name) {
            return Err(EngineError::Conflict {
                what: format!("network `{}`", spec.name),
                message: "already exists".into(),
            });
        }
        st.networks.insert(spec.name.clone(), spec.clone());
        Ok(format!("net-{}", spec.name))
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_network", name)?;
        if st.containers.values().any(|c| c.spec.endpoints.iter().any(|e| e.network == name)) {
            return Err(EngineError::NetworkInUse { network: format!("network `{name}`") });
        }
        st.networks.remove(name).map(|_| ()).ok_or(EngineError::NotFound { what: format!("network `{name}`") })
    }

    async fn connect_network(&self, id: &str, endpoint: &crate::engine::Endpoint) -> Result<()> {
        self.pause().await;
        let mut st = self.call("connect_network", &self.name_of(id))?;
        if !st.networks.contains_key(&endpoint.network) {
            return Err(EngineError::NotFound { what: format!("network `{}`", endpoint.network) });
        }
        let c = st.get(id)?;
        c.spec.endpoints.retain(|e| e.network != endpoint.network);
        c.spec.endpoints.push(endpoint.clone());
        Ok(())
    }

    async fn disconnect_network(&self, id: &str, network: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("disconnect_network", &self.name_of(id))?;
        st.get(id)?.spec.endpoints.retain(|e| e.network != network);
        Ok(())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<()> {
        self.pause().await;
        let mut st = self.call("create_volume", &spec.name)?;
        st.volumes.entry(spec.name.clone()).or_insert_with(|| spec.clone());
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_volume", name)?;
        if st.containers.values().any(|c| c.spec.mounts.iter().any(|m| m.source.as_deref() == Some(name))) {
            return Err(EngineError::Api {
                operation: format!("removing volume `{name}`"),
                status: 409,
                message: "volume is in use".into(),
            });
        }
        st.volumes.remove(name).map(|_| ()).ok_or(EngineError::NotFound { what: format!("volume `{name}`") })
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        self.pause().await;
        Ok(self.call("image_id", image)?.images.get(image).cloned())
    }

    async fn commit_container(&self, id: &str, commit: &crate::engine::Commit) -> Result<String> {
        self.commit(id, commit).await
    }
    fn export_container(&self, id: &str) -> EngineStream<Vec<u8>> {
        self.export(id)
    }
    async fn remove_image(&self, image: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_image", image)?;
        st.images.remove(image).map(|_| ()).ok_or(EngineError::NotFound { what: format!("image `{image}`") })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        self.pause().await;
        let mut st = self.call("create_container", &spec.name)?;
        if st.containers.values().any(|c| c.spec.name == spec.name) {
            return Err(EngineError::Conflict {
                what: format!("container `{}`", spec.name),
                message: "already exists".into(),
            });
        }
        let image_id = match st.images.get(&spec.image) {
            Some(id) => id.clone(),
            // Reconcile passes the image ID when it knows it.
            None if st.images.values().any(|id| *id == spec.image) => spec.image.clone(),
            None => {
                return Err(EngineError::ImageMissing { image: spec.image.clone(), reason: "no such image".into() });
            }
        };
        for e in &spec.endpoints {
            if !st.networks.contains_key(&e.network) {
                return Err(EngineError::NotFound { what: format!("network `{}`", e.network) });
            }
        }
        st.next_id += 1;
        // Distinct in their first 12 digits too, as the engine's random IDs are.
        let id = format!("{:012x}{:052x}", st.next_id, st.next_id);
        let c = FakeContainer {
            id: id.clone(),
            spec: spec.clone(),
            image_id,
            state: State::Created,
            health: None,
            exit_code: None,
            uploads: Vec::new(),
            starts: 0,
            output: Vec::new(),
        };
        st.containers.insert(id.clone(), c);
        st.emit(&id, "create");
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("start_container", &self.name_of(id))?;
        let on_start = st.on_start.clone();
        let c = st.get(id)?;
        if c.state == State::Running {
            return Ok(());
        }
        c.starts += 1;
        c.state = State::Running;
        c.exit_code = None;
        c.health = c.spec.healthcheck.as_ref().map(|_| "healthy".to_string());
        for (_, what) in on_start.iter().filter(|(n, _)| c.spec.name.contains(n.as_str())) {
            match what {
                OnStart::Health(h) => c.health = Some(h.clone()),
                OnStart::Exit(code) => {
                    c.state = State::Exited;
                    c.exit_code = Some(*code);
                }
            }
        }
        let (key, exited, health) = (c.id.clone(), c.state == State::Exited, c.health.clone());
        st.emit(&key, "start");
        if exited {
            st.emit(&key, "die");
        } else if let Some(h) = health {
            st.emit(&key, &format!("health_status: {h}"));
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, _timeout_s: Option<i64>) -> Result<()> {
        self.pause().await;
        let mut st = self.call("stop_container", &self.name_of(id))?;
        let c = st.get(id)?;
        if matches!(c.state, State::Running | State::Paused | State::Restarting) {
            c.state = State::Exited;
            c.exit_code = Some(0);
            let key = c.id.clone();
            st.emit(&key, "die");
        }
        Ok(())
    }

    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("kill_container", &format!("{} {signal}", self.name_of(id)))?;
        let c = st.get(id)?;
        if c.state != State::Running {
            return Err(EngineError::Conflict {
                what: format!("container `{id}`"),
                message: "the container is not running".into(),
            });
        }
        c.state = State::Exited;
        c.exit_code = Some(137);
        let key = c.id.clone();
        st.emit(&key, "die");
        Ok(())
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("pause_container", &self.name_of(id))?;
        let c = st.get(id)?;
        if c.state != State::Running {
            return Err(EngineError::Conflict {
                what: format!("container `{id}`"),
                message: "the container is not running".into(),
            });
        }
        c.state = State::Paused;
        Ok(())
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("unpause_container", &self.name_of(id))?;
        let c = st.get(id)?;
        if c.state != State::Paused {
            return Err(EngineError::Conflict {
                what: format!("container `{id}`"),
                message: "the container is not paused".into(),
            });
        }
        c.state = State::Running;
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool, _volumes: bool) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_container", &self.name_of(id))?;
        let key = st.find(id)?;
        if !force && st.containers[&key].state == State::Running {
            return Err(EngineError::Conflict {
                what: format!("container `{id}`"),
                message: "the container is running".into(),
            });
        }
        st.containers.remove(&key);
        Ok(())
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("rename_container", &format!("{} {name}", self.name_of(id)))?;
        if st.containers.values().any(|c| c.spec.name == name) {
            return Err(EngineError::Conflict {
                what: format!("container `{name}`"),
                message: "already exists".into(),
            });
        }
        st.get(id)?.spec.name = name.to_string();
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        self.pause().await;
        let mut st = self.call("inspect_container", &self.name_of(id))?;
        let c = st.get(id)?;
        Ok(ContainerDetails {
            id: c.id.clone(),
            name: c.spec.name.clone(),
            labels: c.spec.labels.clone(),
            state: c.state,
            health: c.health.clone(),
            last_health_output: c.health.as_ref().map(|h| format!("probe says {h}")),
            exit_code: c.exit_code,
        })
    }

    async fn running_execs(&self, id: &str) -> Result<usize> {
        self.pause().await;
        let mut st = self.call("running_execs", &self.name_of(id))?;
        st.get(id)?;
        Ok(0)
    }

    async fn upload_archive(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<()> {
        self.pause().await;
        let mut st = self.call("upload_archive", &format!("{} {dir}", self.name_of(id)))?;
        st.get(id)?.uploads.push((dir.to_string(), tar));
        Ok(())
    }

    /// The fake keeps no history of events: nothing is pending from before it was asked.
    async fn recent_events(&self, _project: &str, _since_s: i64) -> Result<Vec<Event>> {
        self.pause().await;
        Ok(Vec::new())
    }

    fn events(&self, project: &str) -> EngineStream<Event> {
        use futures::StreamExt;
        let rx = {
            let mut st = self.state();
            st.calls.push(format!("events {project}"));
            st.events.get_or_insert_with(|| tokio::sync::broadcast::channel(1024).0).subscribe()
        };
        let project = project.to_string();
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((Ok(e), rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| {
            let mine = matches!(e, Ok(e) if e.label(PROJECT) == Some(project.as_str()));
            futures::future::ready(mine)
        })
        .boxed()
    }

    fn logs(&self, id: &str, _opts: &LogOptions) -> EngineStream<LogChunk> {
        use futures::StreamExt;
        let name = self.name_of(id);
        let chunks = match self.call("logs", &name) {
            Ok(mut st) => st.get(id).map(|c| c.output.clone()),
            Err(e) => Err(e),
        };
        match chunks {
            Ok(c) => futures::stream::iter(c.into_iter().map(Ok)).boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn exec_with(&self, id: &str, cmd: &[String], opts: &super::ExecOptions) -> Result<ExecOutput> {
        self.pause().await;
        let name = self.name_of(id);
        let mut st = self.call("exec", &format!("{name} {}", cmd.join(" ")))?;
        if st.get(id)?.state != State::Running {
            return Err(EngineError::Conflict {
                what: format!("container `{name}`"),
                message: "the container is not running".into(),
            });
        }
        let mut out = st.exec_results.get(&name).cloned().unwrap_or_default();
        if let Some(tx) = &opts.stream {
            let _ =
                tx.send(LogChunk { stream: LogStream::Stdout, bytes: std::mem::take(&mut out.output).into_bytes() });
        }
        Ok(out)
    }

    fn supports_start_interval(&self) -> bool {
        false
    }

    async fn set_restart_policy(&self, id: &str, name: &str, max_retries: Option<i64>) -> Result<()> {
        self.pause().await;
        let who = self.name_of(id);
        let mut st = self.call("set_restart_policy", &format!("{who} {name}"))?;
        st.get(id)?.spec.restart_policy = Some((name.to_string(), max_retries));
        Ok(())
    }

    async fn top(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        self.pause().await;
        let name = self.name_of(id);
        let mut st = self.call("top", &name)?;
        let c = st.get(id)?;
        let cmd = c.spec.cmd.clone().unwrap_or_default().join(" ");
        Ok((vec!["PID".into(), "CMD".into()], vec![vec!["1".into(), cmd]]))
    }

    fn build_image(
        &self,
        req: &super::BuildRequest,
        context: super::ContextStream,
    ) -> EngineStream<super::BuildMessage> {
        self.build(req, context)
    }

    fn supports_buildkit(&self) -> bool {
        true
    }

    fn pull_image(&self, image: &str, _auth: Option<super::Credentials>) -> EngineStream<super::TransferProgress> {
        self.pull(image)
    }

    fn push_image(&self, image: &str, _auth: Option<super::Credentials>) -> EngineStream<super::TransferProgress> {
        self.push(image)
    }

    async fn tag_image(&self, image: &str, target: &str) -> Result<()> {
        self.pause().await;
        self.tag(image, target)
    }

    async fn image_info(&self, image: &str) -> Result<Option<super::ImageInfo>> {
        self.pause().await;
        let st = self.call("image_info", image)?;
        Ok(st.images.get(image).map(|id| super::ImageInfo {
            id: id.clone(),
            tags: vec![image.to_string()],
            size: 0,
            tagged: 0,
            labels: Default::default(),
            env: Vec::new(),
            healthcheck: false,
            health_test: Vec::new(),
            repo_digests: Vec::new(),
        }))
    }

    async fn image_history(&self, image: &str) -> Result<Vec<String>> {
        self.pause().await;
        let st = self.call("image_history", image)?;
        match st.images.get(image) {
            Some(_) => Ok(Vec::new()),
            None => Err(EngineError::NotFound { what: format!("image `{image}`") }),
        }
    }

    async fn download_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.pause().await;
        let name = self.name_of(id);
        let mut st = self.call("download_archive", &format!("{name} {path}"))?;
        let c = st.get(id)?;
        // What was uploaded under `path`, re-packed (enough for the fake's callers).
        c.uploads
            .iter()
            .find(|(dir, _)| dir == path)
            .map(|(_, tar)| tar.clone())
            .ok_or_else(|| EngineError::NotFound { what: format!("`{path}` in container `{name}`") })
    }

    async fn stats(&self, id: &str) -> Result<super::Stats> {
        self.pause().await;
        let name = self.name_of(id);
        let mut st = self.call("stats", &name)?;
        st.get(id)?;
        Ok(super::Stats { pids: 1, ..Default::default() })
    }

    async fn attach_container(&self, id: &str, terminal: super::Terminal) -> Result<()> {
        self.pause().await;
        let name = self.name_of(id);
        let output = self.call("attach_container", &name)?.get(id)?.output.clone();
        for chunk in output {
            let _ = terminal.output.send(chunk);
        }
        Ok(())
    }

    async fn exec_session(&self, id: &str, _cmd: &[String]) -> Result<super::ExecSession> {
        self.pause().await;
        let name = self.name_of(id);
        drop(self.call("exec_session", &name)?);
        let message = "the fake engine runs no sessions".into();
        Err(EngineError::Api { operation: format!("exec in container `{name}`"), status: 501, message })
    }

    async fn exec_tty(
        &self,
        id: &str,
        cmd: &[String],
        opts: &super::ExecOptions,
        _size: tokio::sync::watch::Receiver<(u16, u16)>,
        _input: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Result<i64> {
        let out = self.exec_with(id, cmd, opts).await?;
        let _ = output.send(out.output.into_bytes());
        Ok(out.exit_code)
    }
}
