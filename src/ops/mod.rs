//! User-level operations: a request of resolved settings in (never command-line arguments), an
//! outcome out. The CLI and the library's [`crate::stack::Stack`] both call these; nothing else
//! orchestrates the lower layers.
//!
//! - [`up`]: converge a project (images → observe → reconcile → execute), optionally waiting
//!   for readiness; used by `up`, `create`, `scale`, `run`'s dependencies, `wharf test` and
//!   `Stack`.
//! - [`lifecycle`]: `down`, `wait`, and what `restart` restarts.
//! - [`containers`]: start, stop, restart, kill, rm, pause and unpause on existing
//!   containers; the projects `ls` lists, the port `port` prints, the replica `exec` uses.
//! - [`copy`]: `cp` between a service's containers and the host.
//! - [`logs`]: the containers' output, in arrival or timestamp order.
//! - [`images`]: `build`, `pull` and `push` (which images, and each transfer's outcome).
//! - [`inspect`]: what `top`, `images` and `stats` show.
//! - [`run`]: a one-off container of a service, after its dependencies.
//! - [`test`]: what a test command run against a stack is told (hosts and ports).
//! - [`watch`]: the `develop.watch` dev loop.
//! - [`attach`]: attached `up` after converging — the services' output, exits, supervised
//!   restarts, abort conditions and interrupts, in one loop.

pub mod attach;
pub mod containers;
pub mod copy;
pub mod deploy;
pub mod graph;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod lint;
pub mod logs;
pub mod pool;
pub mod run;
pub mod test;
pub mod up;
pub mod watch;

use crate::build::BuildError;
use crate::engine::EngineError;
use crate::plan::PlanError;
use crate::scheduler::RunError;
use crate::scheduler::readiness::WaitError;

/// A fresh, unique project name: `<base>-<6 hex digits>`.
pub fn unique_name(base: &str) -> String {
    format!("{base}-{}", unique_suffix())
}

/// Six hex digits that differ from run to run (unique project names).
pub fn unique_suffix() -> String {
    unique_hex(6)
}

/// `digits` (at most 16) hex digits that differ from run to run.
pub(crate) fn unique_hex(digits: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    let all = format!("{:016x}", h.finish());
    all[16 - digits.min(16)..].to_string()
}

/// After `project`'s event stream broke: asks the engine for the project's containers (an
/// engine that has gone away is the error, naming it), then, after a short pause (a stream that
/// keeps breaking while the engine answers is not retried hot), subscribes again. The listing
/// comes back for callers that keep state from it. Used by the loops that live on events
/// (attached `up`, `watch`), which would otherwise wait forever on a dead engine.
pub(crate) async fn events_again<E: crate::engine::Engine>(
    e: &E,
    project: &str,
) -> Result<(crate::engine::EngineStream<crate::engine::Event>, Vec<crate::engine::ContainerInfo>), EngineError> {
    let list = e.list_containers(project).await?;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Ok((e.events(project), list))
}

/// The project's lock for the engine at `endpoint`, when one is given (a dry run takes none).
pub(crate) fn lock(
    project: &crate::model::Project,
    endpoint: &Option<String>,
) -> Result<Option<crate::lock::ProjectLock>, Error> {
    match endpoint {
        Some(e) => crate::lock::ProjectLock::acquire(e, &project.name)
            .map(Some)
            .map_err(|x| Error::Lock { project: project.name.clone(), reason: x.to_string() }),
        None => Ok(None),
    }
}

/// Why an operation failed; every variant names its subject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image could not be built or pulled.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The project cannot be converged as written.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Executing the plan failed.
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// `--wait`: containers not ready (each named with its state and last lines).
    #[error(transparent)]
    NotReady(#[from] WaitError),
    /// A service named that the project does not have.
    #[error("no such service: {service}")]
    NoSuchService { service: String },
    /// Nothing to work on.
    #[error("no container of {} in project `{project}`", if services.is_empty() { "any service".to_string() } else { services.join(", ") })]
    NoContainer { project: String, services: Vec<String> },
    /// `start` found no container at all.
    #[error("project `{project}` has no container to start")]
    NothingToStart { project: String },
    /// A replica that does not exist.
    #[error("service `{service}` has no container number {index}")]
    NoReplica { service: String, index: u32 },
    /// A command for a container that is not running.
    #[error("container {container} is not running")]
    NotRunning { service: String, container: String },
    /// No running container of the service (of that number), in compose's words.
    #[error("service {service:?} is not running{}", index.map(|i| format!(" container #{i}")).unwrap_or_default())]
    NotRunningService { service: String, index: Option<u32> },
    /// `port`: not published.
    #[error("no port {port}/{protocol} published for `{service}`")]
    NotPublished { service: String, port: u16, protocol: String },
    /// An image could not be pushed.
    #[error("cannot push `{image}`: {error}")]
    Push { image: String, error: EngineError },
    /// A command that could not be run.
    #[error("cannot run `{command}`: {reason}")]
    Command { command: String, reason: String },
    /// The engine's event stream ended while waiting on it.
    #[error("the engine's event stream ended while waiting on project `{project}`")]
    EventsEnded { project: String },
    /// The project's lock could not be taken.
    #[error("cannot take the lock of project `{project}`: {reason}")]
    Lock { project: String, reason: String },
}

impl Error {
    /// A likely fix, for a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Build(b) => b.hint.clone(),
            Error::Plan(PlanError::ImageMissing { .. }) => Some(
                "build or load the image locally (no registry is reachable here): `docker build -t IMAGE DIR`".into(),
            ),
            Error::Plan(_) => None,
            Error::Run(RunError::InService { error, .. }) | Error::Run(RunError::Engine(error)) => error.hint(),
            Error::Run(_) => None,
            Error::Engine(e) => e.hint(),
            Error::NotReady(w) if w.timed_out() => {
                Some("raise --wait-timeout, or look at the healthchecks of the services named".into())
            }
            Error::NotReady(_) => None,
            Error::NoContainer { .. } => Some("create them with `wharf up -d`".into()),
            Error::NothingToStart { .. } => Some("create them with `wharf up -d` (or `wharf create`)".into()),
            Error::NoReplica { .. } => Some("create it with `wharf up -d`".into()),
            Error::NotRunning { service, .. } | Error::NotRunningService { service, .. } => {
                Some(format!("start it with `wharf start {service}`"))
            }
            Error::NotPublished { .. } | Error::Command { .. } => None,
            Error::Push { .. } => Some("check the registry is reachable and your login (`docker login`)".into()),
            Error::Lock { .. } | Error::NoSuchService { .. } | Error::EventsEnded { .. } => None,
        }
    }
}
