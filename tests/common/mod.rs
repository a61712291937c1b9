//! The real-engine test harness: a [`Stack`] is a compose file in a temporary directory with a
//! project name of its own; dropping it removes whatever carries its project label, even after
//! a failed assertion.
#![allow(dead_code)]

pub mod private_engine;
pub mod wedged;

use std::process::Command;

/// Clears `cmd`'s environment down to what the docker CLI and compose need: `PATH`, `HOME`, and
/// `DOCKER_CONFIG` (where the compose plugin lives; from the real `HOME` unless set), so that a
/// test sets everything else itself.
pub fn minimal_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let docker_config = std::env::var("DOCKER_CONFIG")
        .unwrap_or_else(|_| format!("{}/.docker", std::env::var("HOME").unwrap_or_default()));
    cmd.env("DOCKER_CONFIG", docker_config)
}

/// Fails the test, saying what to run, when the local test image is missing.
pub fn require_test_image() {
    assert!(
        Command::new("docker")
            .args(["image", "inspect", "wharf-busybox:latest"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false),
        "the test image wharf-busybox:latest is missing: run scripts/setup.sh"
    );
}

pub struct Stack {
    pub project: String,
    pub dir: tempfile::TempDir,
}

impl Stack {
    pub fn new(tag: &str, compose: &str) -> Stack {
        require_test_image();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
        let project = format!("wharft-{tag}-{}", std::process::id());
        Stack { project, dir }
    }
    pub fn wharf(&self, args: &[&str]) -> (bool, String, String) {
        self.wharf_with(&[], args)
    }
    /// `wharf` with more environment variables.
    pub fn wharf_with(&self, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
        cmd.envs(env.iter().copied()).arg("-p").arg(&self.project).args(args);
        self.run(&mut cmd)
    }
    /// Runs `cmd` in the stack's directory: (success, stdout, stderr).
    pub fn run(&self, cmd: &mut Command) -> (bool, String, String) {
        let out = cmd.current_dir(self.dir.path()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker").args(args).current_dir(self.dir.path()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into()
    }
    pub fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }
    pub fn ids(&self, kind: &str) -> Vec<String> {
        let l = self.label();
        let args: Vec<&str> = match kind {
            "container" => vec!["ps", "-aq", "--filter", &l],
            "network" => vec!["network", "ls", "-q", "--filter", &l],
            _ => vec!["volume", "ls", "-q", "--filter", &l],
        };
        self.docker(&args).lines().map(str::to_string).collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.wharf(&["down", "-v", "-t", "0"]);
        for kind in ["container", "network", "volume"] {
            for id in self.ids(kind) {
                let _ = match kind {
                    "container" => self.docker(&["rm", "-f", &id]),
                    _ => self.docker(&[kind, "rm", &id]),
                };
            }
        }
        // Images the test built: named after the project, or labelled with it by the test's
        // `build.labels` (which also covers the untagged images a rebuild leaves behind).
        let named = self.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        let mine: Vec<&str> = named.lines().filter(|r| r.contains(&self.project)).collect();
        for r in mine {
            let _ = self.docker(&["rmi", "-f", r]);
        }
        let label = format!("label=wharf.test.project={}", self.project);
        for id in self.docker(&["images", "-q", "--filter", &label]).lines() {
            let _ = self.docker(&["rmi", "-f", id]);
        }
    }
}

impl Stack {
    /// Rewrites the compose file.
    pub fn write(&self, compose: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), compose).unwrap();
    }
    /// Writes `content` at `path` in the stack's directory, creating parent directories.
    pub fn file(&self, path: &str, content: &str) {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    /// The container of `service`'s replica `n`.
    pub fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.project)
    }
    /// `docker inspect -f FORMAT NAME`, trimmed.
    pub fn inspect(&self, format: &str, name: &str) -> String {
        self.docker(&["inspect", "-f", format, name]).trim().to_string()
    }
    /// `docker compose -p PROJECT ARGS…` (compose v2) in the stack's directory.
    pub fn compose(&self, args: &[&str]) -> (bool, String, String) {
        self.run(Command::new("docker").arg("compose").arg("-p").arg(&self.project).args(args))
    }
}

/// Runs `wharf -p PROJECT ARGS…` in a pseudo-terminal (`script`), typing `input`: (exit code,
/// everything the terminal showed).
pub fn wharf_in_terminal(s: &Stack, args: &str, input: &[u8]) -> (Option<i32>, String) {
    use std::io::Write;
    use std::process::Stdio;
    let has_script = Command::new("script").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(has_script, "`script` (util-linux) is needed to give wharf a terminal");
    let cmd = format!("{} -p {} {args}", env!("CARGO_BIN_EXE_wharf"), s.project);
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(s.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into())
}

/// Runs `wharf -p PROJECT ARGS…` under `tests/fixtures/pty_resize.py`, which resizes the
/// terminal from 30x100 to 40x120 half-way: everything the terminal showed.
pub fn wharf_resized(s: &Stack, args: &[&str]) -> String {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pty_resize.py");
    let (_, out, err) = s.run(
        Command::new("python3").arg(fixture).arg(env!("CARGO_BIN_EXE_wharf")).arg("-p").arg(&s.project).args(args),
    );
    format!("{out}{err}")
}

impl Stack {
    /// `wharf -p PROJECT ARGS…` given at most `secs` seconds (then killed: `timeout`'s exit 124
    /// reads as a failure, so a hang fails the test instead of stalling it).
    pub fn wharf_within(&self, secs: u32, args: &[&str]) -> (bool, String, String) {
        self.wharf_within_env(secs, &[], args)
    }
    /// [`Stack::wharf_within`] with more environment variables.
    pub fn wharf_within_env(&self, secs: u32, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new("timeout");
        cmd.envs(env.iter().copied());
        cmd.args(["-k", "5", &secs.to_string(), env!("CARGO_BIN_EXE_wharf"), "-p", &self.project]).args(args);
        self.run(&mut cmd)
    }
    /// Everything of the project the engine can show: containers (ID, state, name), networks and
    /// volumes, sorted.
    pub fn snapshot(&self) -> Vec<String> {
        let l = self.label();
        let mut all: Vec<String> = Vec::new();
        for args in [
            vec!["ps", "-a", "--no-trunc", "--filter", &l, "--format", "{{.ID}} {{.State}} {{.Names}}"],
            vec!["network", "ls", "--filter", &l, "--format", "network {{.ID}} {{.Name}}"],
            vec!["volume", "ls", "--filter", &l, "--format", "volume {{.Name}}"],
        ] {
            all.extend(self.docker(&args).lines().map(str::to_string));
        }
        all.sort();
        all
    }
}
