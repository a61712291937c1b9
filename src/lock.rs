//! One `wharf` at a time per project and engine: a lock file held for the length of a command
//! that changes the project. Two `wharf up` started together run one after the other, so the
//! second finds the first's containers and creates no duplicates. The operating system
//! releases the lock when the process dies, even by SIGKILL, so a crash never blocks the next
//! run. (Create calls also treat a name conflict as "already there", which covers tools that do
//! not take this lock, such as docker compose.)

use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;

/// Held until dropped.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

fn dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("wharf"),
        _ => std::env::temp_dir().join("wharf-locks"),
    }
}

/// The engine endpoint a lock is keyed by: `DOCKER_HOST`, else the default socket.
pub fn default_endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl ProjectLock {
    /// Takes the lock of `project` on the engine at `endpoint`, waiting (and saying so on
    /// stderr) while another process holds it.
    pub fn acquire(endpoint: &str, project: &str) -> io::Result<ProjectLock> {
        let dir = dir();
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Shared by every user of the machine, like /tmp.
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
        }
        let key: String = endpoint.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let path = dir.join(format!("{project}@{key}.lock"));
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("waiting for another wharf working on project `{project}` to finish…");
                file.lock()?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        Ok(ProjectLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let project = format!("locktest{}", std::process::id());
        let first = ProjectLock::acquire("unix:///x", &project).unwrap();
        let path = dir().join(format!("{project}@unix____x.lock"));
        let other = File::open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(first);
        assert!(other.try_lock().is_ok());
        let _ = std::fs::remove_file(path);
    }
}
