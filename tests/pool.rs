//! Warm pools (`wharf pool fill|ls|rm|gc`, `wharf test --pool`, `Stack::builder(..).pool(n)`)
//! against the real Docker Engine. Needs `scripts/setup.sh` (the engine and
//! `wharf-busybox:latest`). Each test has a pool of its own (a unique project name); whatever
//! carries its pool label is removed afterwards, background refills killed first.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Three services: `db` answers HTTP and has a healthcheck, `api` waits for it to be healthy,
/// `web` for `api`; the prepare step seeds `db`. Every container stops at once on SIGTERM.
const STACK: &str = r#"
services:
  db:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; echo db-says-hi > /www/index.html; httpd -f -p 80 -h /www & wait"]
    ports: ["80"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 30
  api:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on:
      db: {condition: service_healthy}
  web:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on: [api]
x-wharf:
  pool:
    prepare: [db, sh, -c, "echo seeded > /seed"]
"#;

/// A pool of its own: a compose file in a temporary directory under a unique project name.
struct Pool {
    name: String,
    dir: tempfile::TempDir,
}

impl Pool {
    fn new(tag: &str) -> Pool {
        Self::with(tag, STACK)
    }

    fn with(tag: &str, compose: &str) -> Pool {
        common::require_test_image();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        Pool { name: format!("wharft-pool-{tag}-{}-{:x}", std::process::id(), n & 0xffff), dir }
    }

    /// `wharf -p POOL ARGS…`, given at most `secs` seconds.
    fn cmd(&self, secs: u32, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", &secs.to_string(), env!("CARGO_BIN_EXE_wharf"), "--progress", "quiet", "-p", &self.name])
            .args(args)
            .current_dir(self.dir.path());
        c
    }

    fn wharf(&self, secs: u32, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(secs, args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn fill(&self, size: usize) {
        let (ok, out, err) = self.wharf(180, &["pool", "fill", "--size", &size.to_string()]);
        assert!(ok, "fill failed:\n{out}{err}");
    }

    /// `pool ls --format json` rows of this pool: (copy, state).
    fn copies(&self) -> Vec<(String, String)> {
        let (ok, out, err) = self.wharf(60, &["pool", "ls", "--format", "json"]);
        assert!(ok, "{err}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        rows.iter()
            .filter(|r| r["Pool"] == self.name.as_str())
            .map(|r| (r["Copy"].as_str().unwrap().to_string(), r["State"].as_str().unwrap().to_string()))
            .collect()
    }

    fn ready(&self) -> Vec<String> {
        self.copies().into_iter().filter(|(_, s)| s == "ready").map(|(c, _)| c).collect()
    }

    /// Containers, networks and volumes carrying this pool's label.
    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=dev.wharf.pool={}", self.name);
        let mut out = Vec::new();
        for args in [
            vec!["ps", "-aq", "--filter", &label],
            vec!["network", "ls", "-q", "--filter", &label],
            vec!["volume", "ls", "-q", "--filter", &label],
        ] {
            let o = Command::new("timeout").arg("30").arg("docker").args(&args).output().unwrap();
            out.extend(String::from_utf8_lossy(&o.stdout).lines().map(str::to_string));
        }
        out
    }

    /// Waits (at most `secs`) until `done` holds, polling the engine.
    fn until(&self, secs: u64, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The processes whose command line names this pool (background refills).
    fn refills(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if words.contains(&self.name.as_bytes()) && words.contains(&&b"fill"[..]) {
                out.push(pid);
            }
        }
        out
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Refills first (they would make new copies), then everything with the pool's label,
        // until the engine shows none (a killed refill's last requests may still land).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for pid in self.refills() {
                // SAFETY: kill(2) of a refill this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let label = format!("label=dev.wharf.pool={}", self.name);
            let ids = |args: &[&str]| -> Vec<String> {
                let o = Command::new("timeout").arg("30").arg("docker").args(args).output().unwrap();
                String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()
            };
            let containers = ids(&["ps", "-aq", "--filter", &label]);
            if !containers.is_empty() {
                let _ = Command::new("timeout").args(["60", "docker", "rm", "-f", "-v"]).args(&containers).output();
            }
            let networks = ids(&["network", "ls", "-q", "--filter", &label]);
            if !networks.is_empty() {
                let _ = Command::new("timeout").args(["30", "docker", "network", "rm"]).args(&networks).output();
            }
            let volumes = ids(&["volume", "ls", "-q", "--filter", &label]);
            if !volumes.is_empty() {
                let _ = Command::new("timeout").args(["30", "docker", "volume", "rm", "-f"]).args(&volumes).output();
            }
            if (self.refills().is_empty() && self.leftovers().is_empty()) || Instant::now() > deadline {
                break;
            }
        }
        let _ = std::fs::remove_file(std::env::temp_dir().join("wharf-pools").join(format!("{}.log", self.name)));
    }
}

/// The copy a `test --pool` run says it claimed, from its stderr.
fn claimed(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| l.strip_prefix("claimed ")).map(|l| l.split_whitespace().next().unwrap().to_string())
}

#[test]
fn a_claimed_copy_is_ready_prepared_and_used_once() {
    let p = Pool::new("ready");
    p.fill(2);
    let ready = p.ready();
    assert_eq!(ready.len(), 2, "{:?}", p.copies());
    // Every container of a ready copy is paused.
    for copy in &ready {
        let states = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=com.docker.compose.project={copy}"),
                "--format",
                "{{.State}}",
            ])
            .output()
            .unwrap();
        let states = String::from_utf8_lossy(&states.stdout).to_string();
        assert_eq!(states.lines().filter(|s| *s == "paused").count(), 3, "{copy}: {states}");
    }
    // The first run: the copy answers on its published port at once, was prepared, and the
    // command leaves a mark in it.
    let check = "wget -qO- http://$WHARF_HOST_DB:$WHARF_PORT_DB_80/ && \
                 docker exec $COMPOSE_PROJECT_NAME-db-1 cat /seed && \
                 docker exec $COMPOSE_PROJECT_NAME-db-1 sh -c 'test ! -f /mark && touch /mark' && \
                 docker inspect -f '{{.State.Status}}' $COMPOSE_PROJECT_NAME-api-1 $COMPOSE_PROJECT_NAME-web-1";
    let (ok, out, err) = p.wharf(120, &["test", "--pool", "--no-refill", "--", "sh", "-c", check]);
    assert!(ok, "{out}{err}");
    let first = claimed(&err).unwrap_or_else(|| panic!("not claimed from the pool:\n{err}"));
    assert!(ready.contains(&first), "{first} is not one of {ready:?}");
    assert_eq!(out, "db-says-hi\nseeded\nrunning\nrunning\n");
    // The second run gets the other copy: no mark, and the first copy is gone.
    let (ok, out, err) = p.wharf(120, &["test", "--pool", "--no-refill", "--", "sh", "-c", check]);
    assert!(ok, "a copy is never reused: {out}{err}");
    let second = claimed(&err).expect("claimed");
    assert_ne!(first, second);
    let gone = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={first}")])
        .output()
        .unwrap();
    assert!(gone.stdout.is_empty(), "a used copy is removed");
    // The pool is empty now: a third run starts cold, and says so.
    let (ok, _, err) = p.wharf(120, &["test", "--pool", "--no-refill", "--", "true"]);
    assert!(ok, "{err}");
    assert!(err.contains("no ready copy; starting cold"), "{err}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn two_concurrent_claims_get_different_copies() {
    let p = Pool::new("race");
    p.fill(2);
    // Each command records its copy, then holds it until the other has recorded its own.
    let seen = tempfile::tempdir().unwrap();
    let cmd = format!(
        "echo > {d}/$COMPOSE_PROJECT_NAME; i=0; while [ $(ls {d} | wc -l) -lt 2 ] && [ $i -lt 600 ]; do i=$((i+1)); sleep 0.1; done; [ $(ls {d} | wc -l) -eq 2 ]",
        d = seen.path().display()
    );
    let spawn = || {
        p.cmd(120, &["test", "--pool", "--no-refill", "--", "sh", "-c", &cmd]).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ea, eb) = (String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    assert!(a.status.success() && b.status.success(), "{ea}\n{eb}");
    let (ca, cb) = (claimed(&ea).expect("first claimed"), claimed(&eb).expect("second claimed"));
    assert_ne!(ca, cb, "two claims, one copy");
    let names: Vec<String> =
        std::fs::read_dir(seen.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_stale_copy_is_never_handed_out_and_gc_removes_it() {
    let p = Pool::new("stale");
    p.fill(1);
    let old = p.ready();
    assert_eq!(old.len(), 1);
    // A changed file: the copy belongs to the old configuration.
    let changed = STACK.replace("db-says-hi", "db-says-hello");
    std::fs::write(p.dir.path().join("compose.yaml"), changed).unwrap();
    let (ok, out, err) = p.wharf(
        120,
        &["test", "--pool", "--no-refill", "--", "sh", "-c", "wget -qO- http://$WHARF_HOST_DB:$WHARF_PORT_DB_80/"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "db-says-hello\n", "ran against a fresh stack of the new file");
    assert!(err.contains("1 stale"), "{err}");
    assert!(claimed(&err).is_none(), "{err}");
    assert_eq!(p.copies(), vec![(old[0].clone(), "ready".to_string())], "the stale copy is left alone");
    // A dry run says what it would do and changes nothing.
    let (ok, out, err) = p.wharf(60, &["--dry-run", "pool", "gc"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("would remove {} (stale)", old[0])), "{out}");
    let (ok, out, err) = p.wharf(60, &["--dry-run", "pool", "fill", "--size", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("remove {} (stale) (dry run)", old[0])), "{out}");
    assert!(out.contains("0 ready, would bring up 2 copies (dry run)"), "{out}");
    assert_eq!(p.copies(), vec![(old[0].clone(), "ready".to_string())], "a dry run changes nothing");
    let (ok, out, err) = p.wharf(60, &["pool", "gc"]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("removed {} (stale)\n", old[0]));
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_sigkilled_claimers_copy_is_removed() {
    let p = Pool::new("killed");
    p.fill(1);
    let copy = p.ready().pop().unwrap();
    let mut child =
        p.cmd(120, &["test", "--pool", "--no-refill", "--", "sleep", "60"]).stderr(Stdio::null()).spawn().unwrap();
    p.until(60, "the copy in use", || p.copies().iter().any(|(c, s)| *c == copy && s == "in-use"));
    // `timeout` runs wharf as its child: kill that one.
    let wharf = std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap();
    let pid: i32 = wharf.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill(2) of the wharf this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = child.wait();
    p.until(30, "the claimed copy removed by the reaper", || p.leftovers().is_empty());
}

#[test]
fn the_pool_refills_to_its_size_in_the_background() {
    let p = Pool::new("refill");
    p.fill(2);
    let before = p.ready();
    let (ok, _, err) = p.wharf(120, &["test", "--pool", "--", "true"]);
    assert!(ok, "{err}");
    let used = claimed(&err).expect("claimed");
    p.until(120, "two ready copies again", || p.ready().len() == 2 && p.refills().is_empty());
    let after = p.ready();
    assert!(!after.contains(&used), "{after:?}");
    assert_eq!(after.iter().filter(|c| before.contains(c)).count(), 1, "one old copy, one new: {before:?} {after:?}");
}

#[test]
fn a_fill_killed_halfway_leaves_nothing_pool_gc_does_not_remove() {
    let p = Pool::new("halfway");
    let mut fill =
        p.cmd(180, &["pool", "fill", "--size", "1"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Killed once its copy's first container exists, before the copy is ready.
    let label = format!("label=dev.wharf.pool={}", p.name);
    p.until(60, "the fill's first container", || {
        let o = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output().unwrap();
        !o.stdout.is_empty()
    });
    let wharf = std::fs::read_to_string(format!("/proc/{}/task/{}/children", fill.id(), fill.id())).unwrap();
    let pid: i32 = wharf.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill(2) of the wharf this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = fill.wait();
    // Never handed out.
    let (ok, _, err) = p.wharf(120, &["test", "--pool", "--no-refill", "--", "true"]);
    assert!(ok && claimed(&err).is_none(), "{err}");
    // The engine may still carry out the killed fill's last requests: gc until nothing is left.
    p.until(60, "everything of the dead fill removed by pool gc", || {
        let (ok, _, err) = p.wharf(60, &["pool", "gc"]);
        assert!(ok, "{err}");
        p.leftovers().is_empty()
    });
}

#[test]
fn fixed_host_ports_are_refused_with_a_fix() {
    let p = Pool::with("fixed", "services:\n  web:\n    image: wharf-busybox:latest\n    ports: [\"18089:80\"]\n");
    let (ok, _, err) = p.wharf(60, &["pool", "fill"]);
    assert!(!ok);
    assert!(err.contains("publishes the fixed host port 18089"), "{err}");
    assert!(err.contains("hint: write `\"80\"` for an ephemeral port"), "{err}");
    assert!(p.leftovers().is_empty());
}

#[tokio::test]
async fn the_library_claims_from_the_pool() {
    let p = Pool::new("lib");
    p.fill(1);
    let copy = p.ready().pop().unwrap();
    let stack =
        wharf::stack::Stack::builder(p.dir.path().join("compose.yaml")).name(&p.name).pool(1).up().await.unwrap();
    assert_eq!(stack.name(), copy);
    let seed = stack.exec("db", &["cat", "/seed"]).await.unwrap();
    assert_eq!((seed.exit_code, seed.output.as_str()), (0, "seeded\n"));
    let port = stack.host_port("db", 80).await.unwrap();
    assert!(port > 0);
    stack.down().await.unwrap();
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
