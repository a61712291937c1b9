//! Watching the host: one non-recursive inotify watch per directory that some rule needs (so an
//! ignored `node_modules` costs no watches), new directories watched as they appear, and an
//! event-queue overflow turned into a full rescan. Events reach tokio over a channel.

use super::Error;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::rules::Rule;

/// What the host watcher reports.
#[derive(Debug)]
pub enum HostEvent {
    /// These paths changed (created, written, removed or renamed).
    Changed(Vec<PathBuf>),
    /// The kernel dropped events: everything must be looked at again.
    Rescan,
    Error(String),
}

pub struct HostWatcher {
    watcher: notify::RecommendedWatcher,
    watched: HashSet<PathBuf>,
    rules: Vec<Rule>,
}

/// A watch error, with the fix for the inotify limits.
fn explain(e: &notify::Error, dir: &Path) -> Error {
    let text = e.to_string();
    let limit = matches!(&e.kind, notify::ErrorKind::MaxFilesWatch)
        || text.contains("No space left on device")
        || text.contains("os error 28");
    if limit {
        let max = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches").unwrap_or_default();
        Error::WatchLimit { path: dir.to_path_buf(), max: max.trim().to_string() }
    } else {
        Error::Watch { path: dir.to_path_buf(), reason: text }
    }
}

impl HostWatcher {
    /// Starts watching every rule's path; events go to `tx`.
    pub fn start(rules: &[Rule], tx: mpsc::UnboundedSender<HostEvent>) -> Result<HostWatcher, Error> {
        let handler = move |res: notify::Result<notify::Event>| {
            let msg = match res {
                Ok(ev) if ev.need_rescan() => HostEvent::Rescan,
                Ok(ev) => match ev.kind {
                    EventKind::Access(_) | EventKind::Other => return,
                    _ if ev.paths.is_empty() => return,
                    _ => HostEvent::Changed(ev.paths),
                },
                Err(e) => HostEvent::Error(e.to_string()),
            };
            let _ = tx.send(msg);
        };
        let watcher = notify::recommended_watcher(handler).map_err(Error::Start)?;
        let mut w = HostWatcher { watcher, watched: HashSet::new(), rules: rules.to_vec() };
        for r in rules {
            if r.path.is_dir() {
                w.add_tree(&r.path.clone())?;
            } else if let Some(parent) = r.path.parent() {
                // A single file: watch its directory, the rule filters the rest.
                w.watch(parent)?;
            } else {
                return Err(Error::Watch { path: r.path.clone(), reason: "no such file or directory".into() });
            }
        }
        Ok(w)
    }

    /// How many directories are watched.
    pub fn watches(&self) -> usize {
        self.watched.len()
    }

    fn watch(&mut self, dir: &Path) -> Result<(), Error> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        self.watcher.watch(dir, RecursiveMode::NonRecursive).map_err(|e| explain(&e, dir))?;
        self.watched.insert(dir.to_path_buf());
        Ok(())
    }

    /// Whether some rule needs `dir` watched (it is under a rule's path and not skipped).
    fn wanted(&self, dir: &Path) -> bool {
        self.rules.iter().any(|r| match r.relative(dir) {
            Some(rel) => rel.is_empty() || !r.skips_dir(&rel),
            None => false,
        })
    }

    /// Watches `dir` and the directories below it that a rule needs.
    pub fn add_tree(&mut self, dir: &Path) -> Result<(), Error> {
        if !self.wanted(dir) {
            return Ok(());
        }
        self.watch(dir)?;
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                self.add_tree(&e.path())?;
            }
        }
        Ok(())
    }

    /// Called for each changed path: a new directory gets watched (with what is under it).
    pub fn noticed(&mut self, path: &Path) -> Result<(), Error> {
        if path.is_dir() && !path.is_symlink() && !self.watched.contains(path) {
            self.add_tree(path)?;
        }
        if !path.exists() {
            // A removed directory's watch is gone with it.
            self.watched.retain(|w| !w.starts_with(path));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_limit_is_explained_with_the_sysctl_to_raise() {
        let e = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let text = explain(&e, Path::new("/src/app")).to_string();
        assert!(text.starts_with("cannot watch /src/app: the inotify watch limit is reached"), "{text}");
        assert!(text.contains("sysctl fs.inotify.max_user_watches=524288"), "{text}");
        let other = explain(&notify::Error::path_not_found(), Path::new("/x")).to_string();
        assert!(other.starts_with("cannot watch /x: "), "{other}");
    }
}
