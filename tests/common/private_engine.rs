//! A private Docker Engine for tests that stop, restart or otherwise change an engine: a second
//! `dockerd` beside the machine's, in a network namespace of its own (`ip netns`), with its own
//! data root, exec root, pid file and socket, no default bridge and no iptables rules (see
//! `../shared/research/engine-quirks.md`), the test image loaded into it. It is stopped, its
//! namespace deleted and its directories removed when dropped, whatever happened.
//!
//! The namespace is not optional: a `dockerd` started with `--bridge none` in the machine's own
//! network namespace deletes the machine engine's `docker0` (moby removes the default bridge
//! interface when the bridge is disabled), and every later container or build of the machine's
//! engine then fails with "could not find bridge docker0" until that daemon restarts. Seen
//! here while writing the fault suite's engine trials.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a private engine may take to answer after it is started.
const READY_S: u64 = 60;

pub struct PrivateEngine {
    dir: PathBuf,
    /// The network namespace it runs in.
    netns: String,
    daemon: Option<Child>,
    /// Which address pool this engine uses (one per engine alive at once).
    pool: u8,
}

impl PrivateEngine {
    /// Starts an engine and loads the test image into it; `Err` says why it could not (the
    /// caller fails its test, never skips it).
    pub fn start(tag: &str) -> Result<PrivateEngine, String> {
        // Short: a unix socket path has a 108-byte limit.
        let dir = PathBuf::from(format!("/tmp/wpe-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pool = 200 + (std::process::id() % 50) as u8;
        let netns = format!("wpe-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &netns]).stderr(Stdio::null()).status();
        let made = Command::new("ip").args(["netns", "add", &netns]).output().map_err(|e| format!("ip netns: {e}"))?;
        if !made.status.success() {
            return Err(format!("cannot make a network namespace: {}", String::from_utf8_lossy(&made.stderr)));
        }
        let _ = Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]).status();
        let mut e = PrivateEngine { dir, netns, daemon: None, pool };
        e.launch()?;
        // The test image, from the machine's engine.
        let save = Command::new("docker")
            .args(["save", "wharf-busybox:latest"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| err.to_string())?;
        let load = Command::new("timeout")
            .args(["-k", "5", "120", "docker", "-H", &e.host(), "load", "-q"])
            .stdin(save.stdout.ok_or("docker save gave no output")?)
            .output()
            .map_err(|err| err.to_string())?;
        if !load.status.success() {
            return Err(format!("loading the test image failed: {}", String::from_utf8_lossy(&load.stderr)));
        }
        Ok(e)
    }

    /// `unix:///…/sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("sock").display())
    }

    fn launch(&mut self) -> Result<(), String> {
        let d = &self.dir;
        let log = std::fs::File::create(d.join("dockerd.log")).map_err(|e| e.to_string())?;
        // `nsenter` enters only the network namespace (`ip netns exec` would also remount /sys,
        // hiding the cgroup mounts dockerd needs) and execs dockerd in place: the child's PID
        // is the daemon's.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("dockerd")
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(self.host())
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", &storage_driver()])
            .arg("--default-address-pool")
            .arg(format!("base=10.{}.0.0/16,size=24", self.pool))
            .arg("--config-file")
            .arg(empty_config(d)?)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        self.daemon = Some(child);
        let start = Instant::now();
        loop {
            let ping = Command::new("timeout")
                .args(["5", "docker", "-H", &self.host(), "version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if ping.map(|s| s.success()).unwrap_or(false) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                return Err(format!("dockerd exited ({status}): {}", self.log_tail()));
            }
            if start.elapsed() > Duration::from_secs(READY_S) {
                return Err(format!("dockerd did not answer within {READY_S} s: {}", self.log_tail()));
            }
            // Polling the new engine's socket until it answers, under the deadline above.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the engine: SIGKILL (`hard`, as a crash) or SIGTERM (a clean shutdown), and waits
    /// until the process is gone. Its containers stop with it (no live-restore).
    pub fn stop(&mut self, hard: bool) {
        if let Some(mut c) = self.daemon.take() {
            let sig = if hard { libc::SIGKILL } else { libc::SIGTERM };
            unsafe { libc::kill(c.id() as i32, sig) };
            let _ = c.wait();
        }
        if hard {
            // A killed dockerd leaves its containerd and shims: end them too, as a machine
            // losing its engine would (found by the engine's directory on their command lines).
            self.kill_rest();
            // Their FUSE mounts are dead now ("transport endpoint is not connected"); a machine
            // that lost its engine would come back without them, so they go too.
            self.unmount_all();
        }
    }

    /// Lazily unmounts whatever is mounted under the engine's directory.
    fn unmount_all(&self) {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let dir = self.dir.to_string_lossy().into_owned();
        for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&dir)) {
            let _ = Command::new("umount").arg("-l").arg(m).stderr(Stdio::null()).status();
        }
    }

    /// SIGKILLs every process whose command line names this engine's directory, and waits (at
    /// most 10 s) until none is left.
    fn kill_rest(&self) {
        let dir = self.dir.to_string_lossy().into_owned();
        let start = Instant::now();
        while Command::new("pkill").arg("-KILL").arg("-f").arg(&dir).status().map(|s| s.success()).unwrap_or(false)
            && start.elapsed() < Duration::from_secs(10)
        {
            // Until pkill finds nothing left to signal.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the engine again on the same data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop(false);
        // dockerd gives its containerd a few seconds to start; on a loaded machine that can be
        // too short ("timeout waiting for containerd to start"): such a start is tried again.
        let mut last = String::new();
        for _ in 0..3 {
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(e) if e.contains("containerd") => {
                    self.stop(true);
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            // Everything it ran goes with it, then the engine stops cleanly.
            let _ = Command::new("timeout")
                .args([
                    "-k",
                    "5",
                    "60",
                    "sh",
                    "-c",
                    &format!("docker -H {} rm -f $(docker -H {} ps -aq) >/dev/null 2>&1", self.host(), self.host()),
                ])
                .status();
            self.stop(false);
        }
        self.kill_rest();
        self.unmount_all();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The machine engine's storage driver (`fuse-overlayfs` here), which the private one must share.
fn storage_driver() -> String {
    // The machine's daemon.json first: `docker info` is one of the calls a wedged engine never
    // answers (Docker 20.10's network-layer deadlock), so it is asked only as a fallback, and
    // with a deadline.
    let configured = std::fs::read_to_string("/etc/docker/daemon.json")
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("storage-driver").and_then(|d| d.as_str()).map(str::to_string));
    if let Some(d) = configured.filter(|d| !d.is_empty()) {
        return d;
    }
    let out = Command::new("timeout").args(["10", "docker", "info", "--format", "{{.Driver}}"]).output();
    out.ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "vfs".into())
}

/// An empty daemon configuration, so that `/etc/docker/daemon.json` (the machine engine's data
/// root among it) is not read.
fn empty_config(dir: &Path) -> Result<PathBuf, String> {
    let p = dir.join("daemon.json");
    std::fs::write(&p, "{}").map_err(|e| e.to_string())?;
    Ok(p)
}
