//! The machinery of the file-watch dev loop (the loop itself is the operation
//! [`crate::ops::watch`]): the rules of `develop.watch` compiled per service, the host watcher
//! (notify, one watch per directory), the tar of a batch of changes, and the courier that hands
//! a batch to a container (a shell kept running in it, the archive API as the fallback).

use std::path::PathBuf;

use crate::engine::EngineError;

pub mod courier;
pub mod host;
pub mod rules;
pub mod sync;

/// Why watching, or delivering a batch of changes, failed. Each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start watching files: {0}")]
    Start(#[source] notify::Error),
    #[error("cannot watch {}: the inotify watch limit is reached (fs.inotify.max_user_watches = {max}); raise it with `sudo sysctl fs.inotify.max_user_watches=524288`, or ignore large directories (`ignore:` or .dockerignore)", path.display())]
    WatchLimit { path: PathBuf, max: String },
    #[error("cannot watch {}: {reason}", path.display())]
    Watch { path: PathBuf, reason: String },
    /// A `.dockerignore` that cannot be read or parsed.
    #[error("{}: {reason}", path.display())]
    Ignore { path: PathBuf, reason: String },
    /// A `develop.watch` rule that cannot work; `at` is its place (`services.web.develop.watch[0]`).
    #[error("{at}: {reason}")]
    Rule { at: String, reason: String },
    #[error(
        "none of the selected services has `develop.watch` rules: add `develop: {{watch: [{{path: ./src, action: sync, target: /app/src}}]}}` to a service"
    )]
    NoRules,
    #[error("reading the changed files: {0}")]
    Read(#[from] std::io::Error),
    /// The shell kept in the container ended.
    #[error("the shell is gone")]
    ShellGone,
    /// The commands of a batch failed in the container; what they printed.
    #[error("in the container: {0}")]
    InContainer(String),
    #[error("removing deleted files failed: {0}")]
    Delete(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A blocking task ended abnormally.
    #[error("{0}")]
    Task(String),
}
