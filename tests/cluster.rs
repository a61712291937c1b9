//! `wharf stack` on a real three-node swarm: `scripts/cluster.sh` starts three private
//! dockerds, each in a network namespace of its own on a bridge, one manager and two workers,
//! and removes them afterwards whatever happens. Replicas spread over the nodes; a worker
//! killed → its tasks rescheduled on the others and a redeploy converges; the worker back →
//! Ready; a drained node → its tasks moved; `stack deploy --build --push` pins the pushed digest,
//! which every node pulls from the cluster's registry. Prints `cluster: P/T steps pass`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = r#"services:
  web:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    deploy:
      replicas: 6
      endpoint_mode: dnsrr
"#;

struct Cluster {
    dir: PathBuf,
    tag: String,
}

impl Cluster {
    fn script(&self, args: &[&str]) -> Result<String, String> {
        let o = Command::new("timeout")
            .arg("300")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh"))
            .args(args)
            .arg(&self.dir)
            .env("CLUSTER_TAG", &self.tag)
            .env("CLUSTER_NET", "196")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!("cluster.sh {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }
    fn host(&self, n: u8) -> String {
        format!("unix://{}/n{n}/sock", self.dir.display())
    }
    fn docker(&self, args: &[&str]) -> String {
        let o = Command::new("timeout")
            .arg("60")
            .arg("docker")
            .args(args)
            .env("DOCKER_HOST", self.host(1))
            .stdin(Stdio::null())
            .output();
        o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }
    fn wharf(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let o = Command::new("timeout")
            .arg("300")
            .arg(env!("CARGO_BIN_EXE_wharf"))
            .args(args)
            .current_dir(dir)
            .env("DOCKER_HOST", self.host(1))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
    }
    /// Node ID of node `n` (as the node itself says).
    fn node_id(&self, n: u8) -> String {
        let o = Command::new("timeout")
            .args(["30", "docker", "-H", &self.host(n), "info", "--format", "{{.Swarm.NodeID}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
    /// Running tasks of service `cl_web` per node ID.
    fn spread(&self) -> Vec<(String, usize)> {
        self.spread_of("cl_web")
    }
    /// Running tasks of `service` per node ID.
    fn spread_of(&self, service: &str) -> Vec<(String, usize)> {
        let out = self.docker(&[
            "service",
            "ps",
            service,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.CurrentState}}",
        ]);
        let mut per: std::collections::BTreeMap<String, usize> = Default::default();
        for line in out.lines().filter(|l| l.contains("Running")) {
            let id = line.split_whitespace().next().unwrap_or("");
            let node = self.docker(&["inspect", id, "--format", "{{.NodeID}}"]).trim().to_string();
            *per.entry(node).or_default() += 1;
        }
        per.into_iter().collect()
    }
    /// Waits (at most `secs`) until `done`, polling the cluster.
    fn until(&self, secs: u64, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(secs) {
                return Err(format!("{what}: not within {secs} s"));
            }
            // Polling the manager for the cluster's state.
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script(&["down"]);
    }
}

fn steps(c: &Cluster, dir: &Path) -> Vec<(&'static str, Result<String, String>)> {
    let mut out = Vec::new();
    let (ok, err) = c.wharf(dir, &["stack", "deploy", "cl"]);
    let spread = c.spread();
    out.push((
        "replicas spread over the nodes",
        if ok && spread.len() == 3 && spread.iter().map(|(_, n)| n).sum::<usize>() == 6 {
            Ok(format!("{spread:?}"))
        } else {
            Err(format!("deploy ok={ok} {err}; running per node {spread:?}"))
        },
    ));
    out.push(("built, pushed to the nodes' registry, pinned: every node runs those bytes", built_and_pushed(c)));
    let (n2, n3) = (c.node_id(2), c.node_id(3));
    let killed = c.script(&["stop", "3"]).and_then(|_| {
        c.until(180, "node 3's tasks rescheduled", || {
            let s = c.spread();
            !s.iter().any(|(n, _)| n == &n3) && s.iter().map(|(_, n)| n).sum::<usize>() == 6
        })
    });
    let again = killed.and_then(|()| match c.wharf(dir, &["stack", "deploy", "cl"]) {
        (true, _) => Ok(format!("{:?}", c.spread())),
        (false, e) => Err(format!("redeploy after the worker died: {e}")),
    });
    out.push(("a worker killed: its tasks rescheduled, a redeploy converges", again));
    let back = c.script(&["start", "3"]).and_then(|_| {
        c.until(120, "node 3 Ready again", || {
            c.docker(&["node", "inspect", &n3, "--format", "{{.Status.State}}"]).trim() == "ready"
        })
    });
    out.push(("the worker back: Ready", back.map(|()| String::new())));
    c.docker(&["node", "update", "--availability", "drain", &n2]);
    let drained = c.until(180, "node 2 drained", || {
        let s = c.spread();
        !s.iter().any(|(n, _)| n == &n2) && s.iter().map(|(_, n)| n).sum::<usize>() == 6
    });
    let drained = drained.and_then(|()| match c.wharf(dir, &["stack", "deploy", "cl"]) {
        (true, _) => Ok(format!("{:?}", c.spread())),
        (false, e) => Err(format!("redeploy with a drained node: {e}")),
    });
    out.push(("a drained node: its tasks moved, a redeploy converges", drained));
    let (ok, err) = c.wharf(dir, &["stack", "rm", "cl"]);
    let left = c.docker(&["service", "ls", "-q"]);
    out.push((
        "stack rm",
        if ok && left.trim().is_empty() { Ok(String::new()) } else { Err(format!("{err} left: {left}")) },
    ));
    out
}

/// The image a service runs, as its spec says.
fn image_of(c: &Cluster, service: &str) -> String {
    c.docker(&["service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"])
        .trim()
        .to_string()
}

/// `stack deploy --build --push` of a service that builds (its `RUN` without a network: the
/// nodes' engines have no default bridge): the image is built on the manager,
/// pushed to the registry every node reaches, and the service pinned to its digest, so the
/// workers (which never had it) pull exactly it; a changed build rolls the service to the new
/// digest under the same tag.
fn built_and_pushed(c: &Cluster) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let compose = "services:\n  app:\n    build: {context: ., network: none}\n    image: 10.196.0.1:5000/wharf-cl-app:latest\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n    deploy:\n      replicas: 3\n      endpoint_mode: dnsrr\n      placement: {max_replicas_per_node: 1}\n";
    std::fs::write(dir.path().join("compose.yaml"), compose).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("Dockerfile"), "FROM wharf-busybox:latest\nRUN echo one > /built\n")
        .map_err(|e| e.to_string())?;
    let deploy = || c.wharf(dir.path(), &["stack", "deploy", "--build", "--push", "bp"]);
    let result = (|| {
        let (ok, err) = deploy();
        let first = image_of(c, "bp_app");
        let spread = c.spread_of("bp_app");
        if !ok || !first.contains("@sha256:") || spread.len() != 3 {
            return Err(format!("deploy ok={ok} {err}; image {first}; running per node {spread:?}"));
        }
        std::fs::write(dir.path().join("Dockerfile"), "FROM wharf-busybox:latest\nRUN echo two > /built\n")
            .map_err(|e| e.to_string())?;
        let (ok, err) = deploy();
        let second = image_of(c, "bp_app");
        let spread = c.spread_of("bp_app");
        if !ok || second == first || !second.contains("@sha256:") || spread.len() != 3 {
            return Err(format!(
                "rebuilt: deploy ok={ok} {err}; image {first} -> {second}; running per node {spread:?}"
            ));
        }
        Ok(format!("{first} -> {second}, on {} nodes", spread.len()))
    })();
    let _ = c.wharf(dir.path(), &["stack", "rm", "bp"]);
    result
}

fn main() {
    let c = Cluster {
        dir: PathBuf::from(format!("/tmp/wcl-{}", std::process::id())),
        tag: format!("wt{}", std::process::id() % 1000),
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), STACK).unwrap();
    let results = match c.script(&["up"]) {
        Ok(_) => steps(&c, dir.path()),
        Err(e) => vec![("the cluster starts", Err(e))],
    };
    drop(c);
    let mut failed = 0;
    for (name, r) in &results {
        match r {
            Ok(said) => println!("{name} ... ok {said}"),
            Err(why) => {
                failed += 1;
                println!("{name} ... FAILED: {why}");
            }
        }
    }
    println!("cluster: {}/{} steps pass", results.len() - failed, results.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
