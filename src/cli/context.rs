//! What every verb needs before it can work: the async runtime, the engine (wrapped for
//! `--dry-run`), the project's lock, the shutdown signal, the parallelism limit.

use crate::cli::{CliError, GlobalArgs};
use crate::engine::docker::DockerEngine;
use crate::engine::dry_run::DryRun;

/// The engine every verb talks to: Docker, recording writes instead of making them under
/// `--dry-run`.
pub type CliEngine = DryRun<DockerEngine>;

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::msg(format!("cannot start the async runtime: {e}")))
}

/// Takes the project's lock (see [`crate::lock`]) for a command that changes it.
pub fn lock(project: &str) -> Result<crate::lock::ProjectLock, CliError> {
    crate::lock::ProjectLock::acquire(&crate::lock::default_endpoint(), project)
        .map_err(|e| CliError::msg(format!("cannot take the lock of project `{project}`: {e}")))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn ctrl_c() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut i), Ok(mut t)) => {
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

impl GlobalArgs {
    /// Connects to the engine; under `--dry-run`, each write it is asked for is printed on
    /// stdout instead of made.
    pub async fn engine(&self) -> Result<CliEngine, CliError> {
        let docker = DockerEngine::connect().await?;
        let sink: crate::engine::dry_run::Sink = std::sync::Arc::new(|w| println!("{w}"));
        Ok(DryRun::new(docker, self.dry_run, Some(sink)))
    }

    /// The project's lock, except in a dry run (which changes nothing, so waits for nobody).
    pub fn lock(&self, project: &str) -> Result<Option<crate::lock::ProjectLock>, CliError> {
        if self.dry_run { Ok(None) } else { lock(project).map(Some) }
    }

    /// `--parallel` as a bound on engine calls in flight (`None`: unbounded).
    pub fn parallel(&self) -> Option<usize> {
        (self.parallel > 0).then_some(self.parallel as usize)
    }
}
