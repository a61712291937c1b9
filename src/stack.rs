//! A compose stack for a test suite: brought up under a unique project name, waited on like
//! `up --wait`, queried (`host_port`, `exec`, `logs`), and torn down with its volumes —
//! explicitly with [`Stack::down`], or when the `Stack` is dropped. With a reaper (see
//! [`StackBuilder::reaper`]) it is removed even if the test process is killed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wharf::stack::Error> {
//! let stack = wharf::stack::Stack::builder("tests/fixtures/web/compose.yaml").up().await?;
//! let port = stack.host_port("web", 8080).await?;
//! let body = stack.exec("web", &["wget", "-qO-", "http://127.0.0.1:8080/"]).await?;
//! assert_eq!(body.exit_code, 0);
//! println!("web answers on 127.0.0.1:{port}: {}", body.output);
//! stack.down().await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Child;

use crate::engine::docker::DockerEngine;
use crate::engine::{Engine, EngineError, ExecOutput, LogOptions};
use crate::model::Project;
use crate::model::labels::PROJECT;
use crate::ops::up::UpRequest;
use crate::progress::Report;
use crate::scheduler::{DownOptions, RunError, down};

/// The label every container, network and volume of a test stack carries: the PID of the
/// process that owns it (`wharf gc` removes stacks whose owner is gone).
pub const OWNER: &str = "dev.wharf.test.owner";

/// Who that PID is: `<pid namespace>:<its start time>`, so `wharf gc` can tell an owner that
/// is gone from one it cannot see (another container or CI runner on the same engine has its
/// own PID namespace, where the same number is someone else) or from a reused PID.
pub const OWNER_ID: &str = "dev.wharf.test.owner-id";

pub use crate::lock::{Owner, owner_identity, owner_state};

/// What [`gc`] did with one test stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Its owner (this process ID) is gone: removed.
    Removed { project: String, owner: u32 },
    /// Its owner cannot be checked from here: kept.
    Kept { project: String, owner: u32 },
    /// A warm pool's copy whose filler or claimer died (see [`crate::ops::pool`]): removed.
    PoolCopy { project: String },
}

/// `wharf gc`: removes the test stacks whose owning process is provably gone (those whose
/// owner cannot be checked from here are kept, and listed) and abandoned warm-pool copies.
pub async fn gc<E: Engine>(engine: &E, report: &Report) -> Result<Vec<Collected>, Error> {
    let mut owners: std::collections::BTreeMap<String, (u32, Option<String>)> = Default::default();
    for c in engine.list_projects().await? {
        if let (Some(p), Some(pid)) = (c.label(PROJECT), c.label(OWNER).and_then(|o| o.parse().ok())) {
            owners.insert(p.to_string(), (pid, c.label(OWNER_ID).map(str::to_string)));
        }
    }
    let mut out = Vec::new();
    for (project, (owner, id)) in owners {
        match owner_state(owner, id.as_deref()) {
            Owner::Alive => {}
            Owner::Unknown => out.push(Collected::Kept { project, owner }),
            Owner::Gone => {
                crate::scheduler::purge(engine, &project, report).await?;
                out.push(Collected::Removed { project, owner });
            }
        }
    }
    let endpoint = crate::lock::default_endpoint();
    for (project, _) in crate::ops::pool::gc(engine, None, &endpoint, report).await?.removed {
        out.push(Collected::PoolCopy { project });
    }
    Ok(out)
}

/// The reaper's work once the owner died: removes everything of `project`, trying up to three
/// times a second apart (the engine may still be busy with the owner's last calls).
pub async fn reap<E: Engine>(engine: &E, project: &str) -> Result<(), Error> {
    let mut last = Ok(());
    for _ in 0..3 {
        last = crate::scheduler::purge(engine, project, &Report::silent()).await;
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Ok(last?)
}

/// What can go wrong with a test stack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The compose files do not load (every problem, with its place).
    #[error("the compose project is invalid:\n{}", .0.render())]
    Load(crate::diag::Diagnostics),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// Bringing the stack up failed (an image, the plan, a container, readiness).
    #[error(transparent)]
    Up(#[from] crate::ops::Error),
    /// A service has no container of that number.
    #[error("service `{service}` has no container number {index}")]
    NoContainer { service: String, index: u32 },
    /// A service publishes no host port for that container port.
    #[error("`{service}` publishes no host port for {port}/tcp")]
    NoPort { service: String, port: u16 },
    /// The reaper process could not be started.
    #[error("cannot start the reaper {binary}: {reason}")]
    Reaper { binary: PathBuf, reason: String },
    /// The `develop.watch` loop could not run (its rules, or the host watcher).
    #[error("watching project `{project}`: {source}")]
    Watch { project: String, source: crate::ops::watch::WatchError },
    /// The project's warm pool could not be used.
    #[error(transparent)]
    Pool(Box<crate::ops::pool::PoolError>),
}

pub use crate::ops::unique_name;

/// How to bring a stack up.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    file: PathBuf,
    name: Option<String>,
    services: Vec<String>,
    env: Vec<(String, String)>,
    wait_timeout: Option<u64>,
    reaper: Option<PathBuf>,
    parallel: Option<usize>,
    pool: Option<usize>,
    report: Report,
}

impl StackBuilder {
    /// Sends progress here (silent by default): a [`crate::progress::Recording`] keeps it for
    /// assertions, a reporter of your own can print it.
    pub fn report(mut self, report: Report) -> Self {
        self.report = report;
        self
    }
    /// Bounds the engine calls in flight (default: unbounded, as `wharf up`).
    pub fn parallel(mut self, calls: usize) -> Self {
        self.parallel = Some(calls.max(1));
        self
    }
    /// Uses exactly this project name instead of a unique one.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Brings up only these services (and their dependencies).
    pub fn services(mut self, services: &[&str]) -> Self {
        self.services = services.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Sets a variable for interpolation (over the process environment and `.env`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Gives up waiting for readiness after this many seconds.
    pub fn wait_timeout(mut self, seconds: u64) -> Self {
        self.wait_timeout = Some(seconds);
        self
    }
    /// Starts `wharf_binary __reap` alongside, which removes the stack if this process dies
    /// without tearing it down (even by SIGKILL).
    pub fn reaper(mut self, wharf_binary: impl Into<PathBuf>) -> Self {
        self.reaper = Some(wharf_binary.into());
        self
    }

    /// Claims a ready copy from the project's warm pool (see [`crate::ops::pool`]; fill it with
    /// `wharf pool fill`) instead of bringing a stack up, and falls back to a cold start when
    /// none is ready. With [`StackBuilder::reaper`], the pool is refilled to `size` in the
    /// background by that binary (`pool fill`); without it, it is not refilled.
    pub fn pool(mut self, size: usize) -> Self {
        self.pool = Some(size.clamp(1, crate::ops::pool::MAX_SIZE));
        self
    }

    /// Loads the project, converges it on the Docker Engine (`DOCKER_HOST`), and waits until it
    /// is ready. On failure, what was created is removed again.
    pub async fn up(self) -> Result<Stack, Error> {
        let engine = DockerEngine::connect().await?;
        self.up_on(engine).await
    }

    /// [`StackBuilder::up`] on any engine (the fake one in unit tests).
    pub async fn up_on<E: Engine>(self, engine: E) -> Result<Stack<E>, Error> {
        let file = std::fs::canonicalize(&self.file).unwrap_or(self.file.clone());
        let cwd = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut environment: indexmap::IndexMap<String, String> = std::env::vars().collect();
        environment.extend(self.env.iter().cloned());
        let mut opts = crate::LoadOptions {
            files: vec![file.clone()],
            project_name: self.name.clone(),
            services: self.services.clone(),
            environment: environment.clone(),
            cwd,
            ..Default::default()
        };
        let load = |o: &crate::LoadOptions| crate::load(o).map_err(Error::Load).map(|l| l.project);
        if let Some(size) = self.pool {
            let base = load(&opts)?;
            let claimed = claim_from_pool(&engine, &base, self.wait_timeout).await?;
            // After the claim, so the refill counts the copy just taken as gone.
            if let Some(bin) = &self.reaper {
                let args = ["-f".into(), file.clone().into_os_string(), "-p".into(), base.name.clone().into()];
                crate::ops::pool::spawn_refill(bin, &args, &self.env, &base.name, size)
                    .map_err(|e| Error::Reaper { binary: bin.clone(), reason: e.to_string() })?;
            }
            if let Some(claimed) = claimed {
                let project =
                    load(&crate::LoadOptions { project_name: Some(claimed.project.clone()), ..opts.clone() })?;
                let reaper = match &self.reaper {
                    Some(bin) => Some(start_reaper(bin, &project.name)?),
                    None => None,
                };
                let since = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let report = self.report.clone();
                return Ok(Stack {
                    engine,
                    project,
                    reaper,
                    warnings: Vec::new(),
                    report,
                    since,
                    done: false,
                    claim: Some(claimed),
                });
            }
        }
        let mut project = load(&opts)?;
        if self.name.is_none() {
            // Loaded again under the unique name, so network and volume names follow it.
            opts.project_name = Some(unique_name(&project.name));
            project = load(&opts)?;
        }
        label_owner(&mut project, std::process::id());
        let reaper = match &self.reaper {
            Some(bin) => Some(start_reaper(bin, &project.name)?),
            None => None,
        };
        let report = self.report.clone();
        let since =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let mut stack =
            Stack { engine, project, reaper, warnings: Vec::new(), report, since, done: false, claim: None };
        let req = UpRequest {
            environment,
            parallel: self.parallel,
            report: self.report.clone(),
            ..UpRequest::detached_wait(&self.services, self.wait_timeout)
        };
        match crate::ops::up::up(&stack.engine, &stack.project, &req).await {
            Ok(warnings) => stack.warnings = warnings,
            Err(e) => {
                let _ = stack.teardown().await;
                return Err(e.into());
            }
        }
        Ok(stack)
    }
}

/// A ready copy of `base`'s pool, claimed (`None` when none is ready).
async fn claim_from_pool<E: Engine>(
    engine: &E,
    base: &Project,
    wait_timeout: Option<u64>,
) -> Result<Option<crate::ops::pool::Claimed>, Error> {
    use crate::ops::pool;
    let prepare = pool::Prepare::from_project(base).map_err(|e| Error::Pool(Box::new(e)))?;
    let images = pool::images(engine, base).await?;
    let req = pool::ClaimRequest {
        pool: base.name.clone(),
        key: pool::key(base, &pool::image_ids(&images), prepare.as_ref()),
        probes: pool::probes(base, &images),
        timeout: std::time::Duration::from_secs(wait_timeout.unwrap_or(60)),
        endpoint: crate::lock::default_endpoint(),
    };
    Ok(pool::claim(engine, &req, true, |_| {}).await?.ok())
}

/// Labels every service, network and volume of `project` with its owner's PID and identity.
pub fn label_owner(project: &mut Project, pid: u32) {
    let id = owner_identity(pid);
    for l in project.labels_mut() {
        l.insert(OWNER.into(), pid.to_string());
        if let Some(id) = &id {
            l.insert(OWNER_ID.into(), id.clone());
        }
    }
}

/// Starts `bin __reap --parent <this pid> --project <name>` in its own process group, so a
/// Ctrl-C aimed at the test run does not reach it. A process group written to its stdin (one
/// number a line) is killed too when this process dies.
pub fn start_reaper(bin: &Path, project: &str) -> Result<Child, Error> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(bin)
        .args(["__reap", "--parent", &std::process::id().to_string(), "--project", project])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Reaper { binary: bin.to_path_buf(), reason: e.to_string() })
}

/// A running test stack, on the Docker Engine unless brought up with [`StackBuilder::up_on`].
pub struct Stack<E: Engine = DockerEngine> {
    engine: E,
    project: Project,
    reaper: Option<Child>,
    warnings: Vec<String>,
    report: Report,
    /// When it was brought up (seconds since the epoch): attached output starts there.
    since: i64,
    done: bool,
    /// The pool copy it is, with its lock (released once the copy is removed).
    claim: Option<crate::ops::pool::Claimed>,
}

impl Stack {
    /// How to bring up the project of compose file `file`.
    pub fn builder(file: impl AsRef<Path>) -> StackBuilder {
        StackBuilder {
            file: file.as_ref().to_path_buf(),
            name: None,
            services: Vec::new(),
            env: Vec::new(),
            wait_timeout: Some(120),
            reaper: None,
            parallel: None,
            pool: None,
            report: Report::silent(),
        }
    }
}

impl<E: Engine> Stack<E> {
    /// The project name (unique unless given).
    pub fn name(&self) -> &str {
        &self.project.name
    }

    /// The loaded project.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The engine the stack runs on.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// What bringing it up warned about (orphans, keys ignored), as `wharf up` prints them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    async fn container(&self, service: &str, index: u32) -> Result<crate::engine::ContainerInfo, Error> {
        let list = self.engine.list_containers(&self.project.name).await?;
        crate::scheduler::verbs::replica(crate::scheduler::verbs::targets(&self.project, list, &[]), service, index)
            .ok_or_else(|| Error::NoContainer { service: service.to_string(), index })
    }

    /// The host port published for `container_port` (tcp) of `service`'s first container.
    pub async fn host_port(&self, service: &str, container_port: u16) -> Result<u16, Error> {
        let c = self.container(service, 1).await?;
        c.ports
            .iter()
            .find(|p| p.private == container_port && p.public.is_some() && p.protocol == "tcp")
            .and_then(|p| p.public)
            .ok_or_else(|| Error::NoPort { service: service.to_string(), port: container_port })
    }

    /// Every published port: (service, container port, host port), for tcp.
    pub async fn ports(&self) -> Result<Vec<(String, u16, u16)>, Error> {
        let list = self.engine.list_containers(&self.project.name).await?;
        let mut out = Vec::new();
        for c in &list {
            let (Some(svc), Some("1")) =
                (c.label(crate::model::labels::SERVICE), c.label(crate::model::labels::NUMBER))
            else {
                continue;
            };
            for p in c.ports.iter().filter(|p| p.protocol == "tcp") {
                if let Some(public) = p.public
                    && !out.iter().any(|(s, c, _): &(String, u16, u16)| s == svc && *c == p.private)
                {
                    out.push((svc.to_string(), p.private, public));
                }
            }
        }
        Ok(out)
    }

    /// Runs `cmd` in `service`'s first container and waits for it.
    pub async fn exec(&self, service: &str, cmd: &[&str]) -> Result<ExecOutput, Error> {
        let c = self.container(service, 1).await?;
        let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        Ok(self.engine.exec(&c.id, &cmd).await?)
    }

    /// Everything `service`'s first container has printed so far.
    pub async fn logs(&self, service: &str) -> Result<String, Error> {
        use futures::StreamExt;
        let c = self.container(service, 1).await?;
        let chunks: Vec<_> = self.engine.logs(&c.id, &LogOptions::default()).collect().await;
        let mut out = String::new();
        for chunk in chunks {
            out.push_str(&String::from_utf8_lossy(&chunk?.bytes));
        }
        Ok(out)
    }

    /// What `wharf test` puts in its command's environment for this stack:
    /// `COMPOSE_PROJECT_NAME`, `WHARF_HOST_<SERVICE>`, `WHARF_PORT_<SERVICE>_<PORT>`.
    pub async fn environment(&self) -> Result<std::collections::BTreeMap<String, String>, Error> {
        Ok(crate::ops::test::environment(&self.engine, &self.project).await?)
    }

    /// Runs a one-off container of `service` with `cmd` (as `wharf run --rm SERVICE CMD…`, no
    /// terminal) and waits for it: its exit code and output.
    pub async fn run(&self, service: &str, cmd: &[&str]) -> Result<crate::ops::run::Finished, Error> {
        let req = crate::ops::run::RunRequest {
            service: service.to_string(),
            overrides: crate::ops::run::Overrides {
                command: cmd.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            // Its dependencies are up already: the stack is.
            no_deps: true,
            ignore_orphans: true,
            report: self.report.clone(),
            ..Default::default()
        };
        Ok(crate::ops::run::run(&self.engine, &self.project, &req, true).await?)
    }

    /// Follows the stack's output as attached `up` does, until its containers have exited, an
    /// abort condition of `req` holds, or `interrupts` yields (once: stop gracefully; twice:
    /// kill). What it shows goes to `show`. Output starts when the stack came up.
    pub async fn attach<I>(
        &self,
        mut req: crate::ops::attach::AttachRequest,
        interrupts: I,
        show: impl FnMut(crate::ops::attach::Shown),
    ) -> Result<crate::ops::attach::Outcome, Error>
    where
        I: futures::Stream<Item = ()> + Unpin,
    {
        if req.since == 0 {
            req.since = self.since;
        }
        let events = self.engine.events(&self.project.name);
        Ok(crate::ops::attach::run(&self.engine, &self.project, &req, events, interrupts, show).await?)
    }

    /// Runs the `develop.watch` loop of `services` (all with rules when empty) until `stop`
    /// completes: changed files are synced into the containers, rebuilt or restarted.
    pub async fn watch(&self, services: &[&str], stop: impl std::future::Future<Output = ()>) -> Result<(), Error> {
        let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let opts = crate::ops::watch::WatchOptions { report: self.report.clone(), ..Default::default() };
        crate::ops::watch::run(&self.engine, &self.project, &services, &opts, stop)
            .await
            .map_err(|source| Error::Watch { project: self.project.name.clone(), source })
    }

    async fn teardown(&mut self) -> Result<(), Error> {
        self.done = true;
        let opts = DownOptions { volumes: true, remove_orphans: true, timeout: Some(0), rmi: None };
        let r = down(&self.engine, &self.project, &opts, &self.report).await;
        if let Some(claim) = self.claim.take() {
            claim.release();
        }
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        Ok(r?)
    }

    /// Removes the stack: containers, networks and volumes.
    pub async fn down(mut self) -> Result<(), Error> {
        self.teardown().await
    }

    /// Leaves the stack up (for debugging); returns its project name.
    pub fn keep(mut self) -> String {
        self.done = true;
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        self.project.name.clone()
    }
}

impl<E: Engine> Drop for Stack<E> {
    /// Tears the stack down if [`Stack::down`] was not called (a failed assertion, a panic).
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (engine, project, report) = (self.engine.clone(), self.project.clone(), self.report.clone());
        let mut reaper = self.reaper.take();
        let claim = self.claim.take();
        // A runtime of its own on a thread of its own: drop may run inside another runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                let opts = DownOptions { volumes: true, remove_orphans: true, timeout: Some(0), rmi: None };
                let _ = rt.block_on(down(&engine, &project, &opts, &report));
            }
            drop(claim);
            if let Some(r) = reaper.as_mut() {
                let _ = r.kill();
                let _ = r.wait();
            }
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_gc_removes_only_what_is_provably_abandoned() {
        // Issue 24: `wharf gc` in another PID namespace deleted live test stacks (the owner was
        // a bare PID, meaningless there).
        let me = std::process::id();
        let id = owner_identity(me).expect("an identity on Linux");
        assert_eq!(owner_state(me, Some(&id)), Owner::Alive);
        let (ns, started) = id.split_once(':').unwrap();
        // The same PID, started at another time: reused, so the owner is gone.
        let reused = format!("{ns}:{}", started.parse::<u64>().unwrap() + 1);
        assert_eq!(owner_state(me, Some(&reused)), Owner::Gone);
        // A PID that no longer exists here.
        assert_eq!(owner_state(u32::MAX - 1, Some(&format!("{ns}:1"))), Owner::Gone);
        // Another namespace, or nothing recorded: cannot tell, so kept.
        assert_eq!(owner_state(u32::MAX - 1, Some("1:1")), Owner::Unknown);
        assert_eq!(owner_state(u32::MAX - 1, None), Owner::Unknown);
    }
}
