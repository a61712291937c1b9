//! What every verb needs before it can work: the async runtime, the engine (wrapped for
//! `--dry-run`), the project's lock, the shutdown signal, the parallelism limit.

use crate::cli::{CliError, GlobalArgs};
use crate::engine::docker::DockerEngine;
use crate::engine::dry_run::DryRun;
use crate::engine::trace::{TraceLog, Traced};
use std::sync::Arc;

/// The engine every verb talks to: Docker, recording writes instead of making them under
/// `--dry-run`, its calls timed when `WHARF_TRACE` is set.
pub type CliEngine = DryRun<Traced<DockerEngine>>;

/// The run's trace, when `WHARF_TRACE` asks for one (`1`: a summary on stderr at the end; a
/// path ending in `.json`: also a Chrome trace written there).
static TRACE: std::sync::OnceLock<Option<Arc<TraceLog>>> = std::sync::OnceLock::new();

fn trace_log() -> Option<Arc<TraceLog>> {
    TRACE
        .get_or_init(|| {
            std::env::var("WHARF_TRACE").ok().filter(|v| !v.is_empty() && v != "0").map(|_| TraceLog::new())
        })
        .clone()
}

/// Prints the summary of the run's trace and writes its Chrome trace, when one was asked for.
pub fn finish_trace() {
    let Some(Some(log)) = TRACE.get() else { return };
    eprint!("{}", log.summary());
    if let Ok(path) = std::env::var("WHARF_TRACE")
        && path.ends_with(".json")
    {
        match std::fs::write(&path, log.chrome_json().to_string()) {
            Ok(()) => eprintln!("trace: written to {path} (open it in chrome://tracing or ui.perfetto.dev)"),
            Err(e) => eprintln!("trace: cannot write {path}: {e}"),
        }
    }
}

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
        let docker = Traced::new(DockerEngine::connect().await?, trace_log());
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
