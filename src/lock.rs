//! One `wharf` at a time per project and engine: a lock file held for the length of a command
//! that changes the project, in a directory every user shares (`$TMPDIR/wharf-locks`, sticky
//! like /tmp; the user's runtime directory only as a fallback), open to every user, and removed
//! when the last holder lets go. Two `wharf up` started together run one after the other, so the
//! second finds the first's containers and creates no duplicates. The operating system
//! releases the lock when the process dies, even by SIGKILL, so a crash never blocks the next
//! run. (Create calls also treat a name conflict as "already there", which covers tools that do
//! not take this lock, such as docker compose.)

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Held until dropped; the lock file is removed then.
#[derive(Debug)]
pub struct ProjectLock {
    file: File,
    path: PathBuf,
    abandoned: Option<u32>,
}

impl Drop for ProjectLock {
    /// Removed while still locked, then unlocked by closing: a process that opened the old
    /// file meanwhile finds, once it has the lock, that the path is gone or is another file,
    /// and starts over (see [`ProjectLock::acquire`]).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Where locks live, in order: a directory every user of the machine shares (so root's `up`
/// and a docker-group member's `down` exclude each other), then the user's runtime directory.
fn dirs() -> Vec<PathBuf> {
    let mut d = vec![std::env::temp_dir().join("wharf-locks")];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        d.push(PathBuf::from(x).join("wharf"));
    }
    d
}

/// Opens (creating, readable and writable by everyone) the lock file at `path`; read-only
/// when another user's file cannot be opened for writing (a lock needs no write access).
fn open(path: &Path) -> io::Result<File> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Shared by every user of the machine, like /tmp.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
        }
    }
    match OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path) {
        Ok(f) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
            }
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        Err(e) => Err(e),
    }
}

/// This machine's view of process `pid`: `<pid namespace inode>:<start time in ticks>`.
pub fn owner_identity(pid: u32) -> Option<String> {
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?.display().to_string();
    let ns = ns.trim_start_matches("pid:[").trim_end_matches(']').to_string();
    Some(format!("{ns}:{}", start_time(pid)?))
}

/// Field 22 of `/proc/PID/stat`: when the process started (after the command, which may hold
/// spaces and parentheses, so counted from its closing parenthesis).
/// A zombie (killed, not yet reaped by its parent) is not running: it has none.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// What `wharf gc` may conclude about a test stack's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Running: the stack is in use.
    Alive,
    /// Provably gone (same PID namespace; the PID is free or now another process).
    Gone,
    /// Cannot be told from here (another PID namespace, or no identity recorded): kept.
    Unknown,
}

/// Judges the owner recorded as `pid` and `id` (the [`OWNER_ID`] label) from this process.
pub fn owner_state(pid: u32, id: Option<&str>) -> Owner {
    let (Some(id), Some(here)) = (id, owner_identity(std::process::id())) else { return Owner::Unknown };
    let (Some((ns, started)), Some((here_ns, _))) = (id.split_once(':'), here.split_once(':')) else {
        return Owner::Unknown;
    };
    if ns != here_ns {
        return Owner::Unknown;
    }
    match start_time(pid) {
        Some(t) if t.to_string() == started => Owner::Alive,
        _ => Owner::Gone,
    }
}

/// The lock file's name for `project` on the engine at `endpoint`.
fn file_name(endpoint: &str, project: &str) -> String {
    let key: String = endpoint.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("{project}@{key}.lock")
}

/// Whether `file` is still what `path` names (it was not removed by its last holder).
fn current(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
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
    /// stderr) while another process holds it. An error names the lock file.
    pub fn acquire(endpoint: &str, project: &str) -> io::Result<ProjectLock> {
        Self::acquire_in(&dirs(), endpoint, project)
    }

    /// [`ProjectLock::acquire`] in the first of `dirs` that can hold it (a warning says when a
    /// later one had to be used).
    pub fn acquire_in(dirs: &[PathBuf], endpoint: &str, project: &str) -> io::Result<ProjectLock> {
        let name = file_name(endpoint, project);
        let mut first_error: Option<io::Error> = None;
        for (i, dir) in dirs.iter().enumerate() {
            let path = dir.join(&name);
            match Self::lock_at(&path, project, true) {
                Ok(lock) => {
                    if let Some(e) = &first_error {
                        eprintln!(
                            "warning: locking project `{project}` in {} instead ({e}): a wharf of another user will not wait for this one",
                            dir.display(),
                        );
                    }
                    return Ok(lock);
                }
                Err(e) if i + 1 < dirs.len() => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(first_error.unwrap_or(e)),
            }
        }
        Err(io::Error::other("no directory to lock in"))
    }

    /// [`ProjectLock::acquire`] without waiting: `None` while another process holds it.
    pub fn try_acquire(endpoint: &str, project: &str) -> io::Result<Option<ProjectLock>> {
        let path = dirs()[0].join(file_name(endpoint, project));
        match Self::lock_at(&path, project, false) {
            Ok(lock) => Ok(Some(lock)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The live process that holds the lock of `project` now, told from the PID its holder
    /// wrote, without touching the lock (a holder that died left its PID behind, which no
    /// longer names a process: not held).
    pub fn holder(endpoint: &str, project: &str) -> Option<u32> {
        dirs().iter().find_map(|d| {
            std::fs::read_to_string(d.join(file_name(endpoint, project)))
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        })
    }

    fn lock_at(path: &Path, project: &str, wait: bool) -> io::Result<ProjectLock> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut said = false;
        loop {
            let file = open(path).map_err(named)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) if !wait => {
                    return Err(io::Error::new(io::ErrorKind::WouldBlock, "held by another process"));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !said {
                        eprintln!("waiting for another wharf working on project `{project}` to finish…");
                        said = true;
                    }
                    file.lock().map_err(named)?;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(named(e)),
            }
            // The holder before us removed the file as it let go: lock the one there now.
            if current(&file, path) {
                let abandoned = record_holder(&file);
                return Ok(ProjectLock { file, path: path.to_path_buf(), abandoned });
            }
        }
    }
}

impl ProjectLock {
    /// The PID of the holder before this one when it died holding the lock (killed: a holder
    /// that lets go removes the file). Its requests may still be being carried out by the
    /// engine, so the new holder lets them finish before it looks at the project.
    pub fn abandoned(&self) -> Option<u32> {
        self.abandoned
    }
}

/// Writes this process's PID into the lock file just locked; returns the PID found there,
/// when it is another process's (the holder that died with the lock).
fn record_holder(file: &File) -> Option<u32> {
    use std::io::{Read, Seek, Write};
    let mut f = file;
    let mut before = String::new();
    let _ = f.seek(io::SeekFrom::Start(0)).and_then(|_| f.read_to_string(&mut before));
    let previous = before.trim().parse::<u32>().ok().filter(|p| *p != std::process::id());
    let _ = f.set_len(0);
    let _ = f.seek(io::SeekFrom::Start(0)).and_then(|_| f.write_all(std::process::id().to_string().as_bytes()));
    previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_left_by_a_dead_holder_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        let clean = ProjectLock::acquire_in(&dirs, "unix:///x.sock", "p").unwrap();
        assert_eq!(clean.abandoned(), None);
        drop(clean);
        // What a holder killed with the lock leaves: the file, with its PID.
        let path = std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap();
        assert_eq!(path, 0, "a holder that lets go removes the file");
        let name = dir.path().join("p@unix____x_sock.lock");
        std::fs::write(&name, "4194999").unwrap();
        let after_crash = ProjectLock::acquire_in(&dirs, "unix:///x.sock", "p").unwrap();
        assert_eq!(after_crash.abandoned(), Some(4194999));
    }

    #[test]
    fn regression_a_killed_owner_not_yet_reaped_is_gone() {
        // Issue 22 (fault suite, kill-pool): a refill SIGKILLed and not yet reaped by its
        // parent is a zombie; its stat still carries its start time, and `gc` called its copy
        // "filling" and kept it.
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        let id = owner_identity(pid).unwrap();
        assert_eq!(owner_state(pid, Some(&id)), Owner::Alive);
        child.kill().unwrap();
        // Polling /proc until the kernel has made it a zombie (it is not reaped: no wait yet).
        while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().rsplit(')').next().unwrap().contains(" Z ")
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(owner_state(pid, Some(&id)), Owner::Gone);
        child.wait().unwrap();
    }

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
    fn a_second_holder_waits_for_the_first_and_the_file_goes_with_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().join("locks")];
        let first = ProjectLock::acquire_in(&dirs, "unix:///x", "p").unwrap();
        let path = dirs[0].join("p@unix____x.lock");
        let other = File::open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(other);
        drop(first);
        assert!(!path.exists(), "regression (issue 24): lock files were never removed");
        let again = ProjectLock::acquire_in(&dirs, "unix:///x", "p").unwrap();
        drop(again);
    }

    #[test]
    fn regression_lock_files_are_open_to_every_user_and_errors_name_them() {
        // Issue 24: lock files were created 0644 and opened for writing, so another user could
        // not take the lock root had used ("Permission denied", without a path).
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().join("locks")];
        let held = ProjectLock::acquire_in(&dirs, "unix:///x", "p").unwrap();
        let mode = std::fs::metadata(dirs[0].join("p@unix____x.lock")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        assert_eq!(std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o7777, 0o1777);
        drop(held);
        // A directory that cannot hold locks falls back to the next, and when none can, the
        // error names the file.
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, "").unwrap();
        let fallback = ProjectLock::acquire_in(&[blocked.clone(), dirs[0].clone()], "unix:///x", "p");
        assert!(fallback.is_ok());
        drop(fallback);
        let err = ProjectLock::acquire_in(std::slice::from_ref(&blocked), "unix:///x", "p").unwrap_err();
        assert!(err.to_string().contains(&blocked.join("p@unix____x.lock").display().to_string()), "{err}");
    }

    #[test]
    fn a_waiter_on_a_removed_lock_file_takes_the_new_one() {
        // The holder removes the file as it lets go; a waiter that had opened the old file must
        // not think it holds the lock while a newcomer locks a new file.
        let dir = tempfile::tempdir().unwrap();
        let dirs = std::sync::Arc::new([dir.path().join("locks")]);
        let first = ProjectLock::acquire_in(&dirs[..], "e", "p").unwrap();
        let (held_tx, held) = std::sync::mpsc::channel();
        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let d2 = dirs.clone();
        let waiter = std::thread::spawn(move || {
            let l = ProjectLock::acquire_in(&d2[..], "e", "p").unwrap();
            held_tx.send(()).unwrap();
            let _ = done_rx.recv();
            drop(l);
        });
        drop(first);
        held.recv().unwrap();
        // The waiter holds the lock now: a fresh open of the path must find it taken.
        let probe = File::open(dirs[0].join("p@e.lock")).unwrap();
        let taken = matches!(probe.try_lock(), Err(std::fs::TryLockError::WouldBlock));
        drop(probe);
        done.send(()).unwrap();
        waiter.join().unwrap();
        assert!(taken, "the lock the waiter holds is the one at the path");
    }
}
