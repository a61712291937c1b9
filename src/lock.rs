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

/// The engine endpoint a lock is keyed by: `DOCKER_HOST`, else the default socket — in one
/// spelling per engine, so two processes that name the same socket differently
/// (`unix:///var/run//docker.sock`, a symlink to it) exclude each other.
pub fn default_endpoint() -> String {
    let raw = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    normalize(raw.as_deref().unwrap_or("unix:///var/run/docker.sock"))
}

/// `unix://PATH` with the path resolved (or, when it does not exist, with `//`, `.` and a
/// trailing `/` folded); other schemes lower-cased, without a trailing `/`.
pub fn normalize(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    match endpoint.strip_prefix("unix://") {
        Some(path) => {
            let real = std::fs::canonicalize(path).ok().map(|p| p.display().to_string());
            let folded = || {
                let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
                format!("/{}", parts.join("/"))
            };
            format!("unix://{}", real.unwrap_or_else(folded))
        }
        None => endpoint.trim_end_matches('/').to_ascii_lowercase(),
    }
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
    fn regression_two_spellings_of_one_socket_share_a_lock() {
        // Issue 24: `unix:///var/run//docker.sock` and `unix:///var/run/docker.sock` took two
        // different locks, so two `up`s on one project did not exclude each other.
        assert_eq!(normalize("unix:///var/run//docker.sock"), normalize("unix:///var/run/docker.sock"));
        assert_eq!(normalize("unix:///nowhere/./x//d.sock/"), "unix:///nowhere/x/d.sock");
        assert_eq!(normalize("TCP://Engine:2375/"), "tcp://engine:2375");
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        std::fs::write(&sock, "").unwrap();
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        assert_eq!(normalize(&format!("unix://{}", link.display())), normalize(&format!("unix://{}", sock.display())));
    }

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
