//! `wharf test`, the reaper, `gc`, and the Rust library API (`wharf::stack::Stack`), against the
//! real Docker Engine. Needs `scripts/setup.sh` (the engine and `wharf-busybox:latest`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WEB: &str = r#"
services:
  web:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo hello-from-web > /www/index.html; httpd -f -p 8080 -h /www & wait"]
    ports: ["8080"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 300ms
volumes:
  data: {}
"#;

/// `wharf gc` removes every abandoned test stack on the engine, so a test that runs it and a
/// test that keeps a stack whose owner exited (to check that gc removes it) take turns.
static GC: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn dir() -> tempfile::TempDir {
    common::require_test_image();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("compose.yaml"), WEB).unwrap();
    d
}

fn wharf(dir: &tempfile::TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
    c.current_dir(dir.path()).arg("--progress").arg("quiet");
    c
}

/// Everything carrying the owner label of process `pid`: containers, networks, volumes.
fn owned_by(pid: u32) -> Vec<String> {
    let label = format!("label=dev.wharf.test.owner={pid}");
    let mut out = Vec::new();
    for args in [
        vec!["ps", "-aq", "--filter", &label],
        vec!["network", "ls", "-q", "--filter", &label],
        vec!["volume", "ls", "-q", "--filter", &label],
    ] {
        let o = Command::new("docker").args(&args).output().unwrap();
        out.extend(String::from_utf8_lossy(&o.stdout).lines().map(str::to_string));
    }
    out
}

#[test]
fn test_runs_cmd_with_the_ports_and_removes_the_stack() {
    let d = dir();
    let child = wharf(&d)
        .args([
            "test",
            "--",
            "sh",
            "-c",
            "wget -qO- http://$WHARF_HOST_WEB:$WHARF_PORT_WEB_8080/ && echo project=$COMPOSE_PROJECT_NAME",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("hello-from-web"), "{text}");
    let project = text.lines().find_map(|l| l.strip_prefix("project=")).unwrap();
    let suffix = project.rsplit('-').next().unwrap();
    assert!(suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()), "a unique name: {project}");
    assert!(owned_by(pid).is_empty(), "removed afterwards");
}

#[test]
fn two_runs_of_one_file_in_parallel_both_pass() {
    let d = dir();
    let spawn = || {
        wharf(&d)
            .args(["test", "--", "sh", "-c", "wget -qO- http://$WHARF_HOST_WEB:$WHARF_PORT_WEB_8080/"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (pa, pb) = (a.id(), b.id());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(owned_by(pa).is_empty() && owned_by(pb).is_empty());
}

#[test]
fn a_failing_cmd_gives_its_exit_code_and_the_stack_is_removed() {
    let d = dir();
    let child = wharf(&d).args(["test", "--", "sh", "-c", "exit 7"]).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(owned_by(pid).is_empty());
}

#[test]
fn sigkill_of_wharf_during_cmd_leaves_nothing_after_15_s() {
    let d = dir();
    let mut child = wharf(&d).args(["test", "--", "sleep", "30"]).stdout(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    // Wait until the stack is up and CMD runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = Command::new("docker")
            .args(["ps", "-q", "--filter", &format!("label=dev.wharf.test.owner={pid}"), "--filter", "health=healthy"])
            .output()
            .unwrap();
        if !ps.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the stack never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !owned_by(pid).is_empty() {
        assert!(Instant::now() < deadline, "still there 15 s after SIGKILL: {:?}", owned_by(pid));
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn keep_leaves_the_stack_and_gc_removes_it_once_the_owner_is_gone() {
    let _gc = GC.lock().unwrap_or_else(|p| p.into_inner());
    let d = dir();
    let child = wharf(&d).args(["test", "--keep", "--", "true"]).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("down -v"), "says how to remove it: {err}");
    assert!(!owned_by(pid).is_empty(), "kept");
    // The owner (that wharf process) has exited: gc removes what is left of its containers.
    let st = wharf(&d).arg("gc").status().unwrap();
    assert!(st.success());
    let containers = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=dev.wharf.test.owner={pid}")])
        .output()
        .unwrap();
    assert!(containers.stdout.is_empty());
    assert!(owned_by(pid).is_empty(), "networks and volumes of the stack too");
}

#[tokio::test]
async fn the_library_brings_up_queries_and_tears_down_a_stack() {
    let d = dir();
    let stack = wharf::stack::Stack::builder(d.path().join("compose.yaml"))
        .reaper(env!("CARGO_BIN_EXE_wharf"))
        .up()
        .await
        .unwrap();
    let name = stack.name().to_string();
    let port = stack.host_port("web", 8080).await.unwrap();
    assert!(port > 0);
    let body = stack.exec("web", &["wget", "-qO-", "http://127.0.0.1:8080/"]).await.unwrap();
    assert_eq!((body.exit_code, body.output.as_str()), (0, "hello-from-web\n"));
    let ports = stack.ports().await.unwrap();
    assert_eq!(ports, vec![("web".to_string(), 8080, port)]);
    // What `wharf test` gives its command, for the library's own test runs.
    let env = stack.environment().await.unwrap();
    assert_eq!(env.get("WHARF_PORT_WEB_8080"), Some(&port.to_string()));
    assert_eq!(env.get("WHARF_HOST_WEB").map(String::as_str), Some("127.0.0.1"));
    assert_eq!(env.get("COMPOSE_PROJECT_NAME"), Some(&name));
    stack.down().await.unwrap();
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={name}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty());
}

#[tokio::test]
async fn a_dropped_stack_is_torn_down() {
    let d = dir();
    let name = {
        let stack = wharf::stack::Stack::builder(d.path().join("compose.yaml")).up().await.unwrap();
        stack.name().to_string()
    };
    for kind in [vec!["ps", "-aq"], vec!["network", "ls", "-q"], vec!["volume", "ls", "-q"]] {
        let mut args = kind.clone();
        let label = format!("label=com.docker.compose.project={name}");
        args.extend(["--filter", label.as_str()]);
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(out.stdout.is_empty(), "{kind:?} left after drop");
    }
}

#[test]
fn sigterm_during_cmd_still_removes_the_stack() {
    let d = dir();
    let mut child = wharf(&d).args(["test", "--", "sleep", "30"]).stdout(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=dev.wharf.test.owner={pid}"), "--filter", "health=healthy"])
        .output()
        .unwrap()
        .stdout
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the stack never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(owned_by(pid).is_empty(), "torn down before wharf exited");
}

#[tokio::test]
async fn the_library_runs_a_one_off_and_a_watch_loop_against_a_stack() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("src")).unwrap();
    std::fs::write(
        d.path().join("compose.yaml"),
        r#"
services:
  app:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
    develop:
      watch:
        - {path: ./src, action: sync, target: /srv}
"#,
    )
    .unwrap();
    let (recording, report) = wharf::progress::Recording::new();
    let stack = wharf::stack::Stack::builder(d.path().join("compose.yaml"))
        .reaper(env!("CARGO_BIN_EXE_wharf"))
        .report(report)
        .wait_timeout(60)
        .up()
        .await
        .unwrap();
    // A one-off, removed afterwards: its output and exit code.
    let done = tokio::time::timeout(Duration::from_secs(60), stack.run("app", &["sh", "-c", "echo one-off; exit 3"]))
        .await
        .expect("the one-off within 60 s")
        .unwrap();
    assert_eq!((done.exit_code, done.text().trim()), (3, "one-off"));
    // The watch loop syncs a changed file into the container; the test stops it.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watching = stack.watch(&[], async {
        let _ = stop_rx.await;
    });
    let edit = async {
        let enabled = || {
            recording
                .all()
                .iter()
                .any(|r| matches!(r, wharf::progress::Reported::Line(l) if l.starts_with("Watch enabled")))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !enabled() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::write(d.path().join("src/hello.txt"), "hello\n").unwrap();
        let mut synced = false;
        while !synced && Instant::now() < deadline {
            let out = stack.exec("app", &["cat", "/srv/hello.txt"]).await.unwrap();
            synced = out.exit_code == 0 && out.output == "hello\n";
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop_tx.send(());
        synced
    };
    let (watched, synced) = tokio::join!(watching, edit);
    watched.unwrap();
    assert!(synced, "the file reached the container within 30 s");
    stack.down().await.unwrap();
}

#[test]
fn regression_sigkill_of_wharf_test_also_ends_the_test_command_and_its_children() {
    // Issue 24: `wharf test` SIGKILLed left its test command running.
    let d = dir();
    let pidfile = d.path().join("cmd.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let mut child =
        wharf(&d).args(["test", "--", "sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let grandchild = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile).ok().and_then(|t| t.trim().parse::<u32>().ok()) {
            break p;
        }
        assert!(Instant::now() < deadline, "the test command never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{grandchild}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break; // gone, waiting for its parent to reap it
        }
        assert!(Instant::now() < deadline, "the test command's child is still running 15 s after SIGKILL");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn regression_gc_keeps_a_test_stack_whose_owner_it_cannot_see() {
    // Issue 24: `wharf gc` run in another PID namespace removed live test stacks, since their
    // owner's PID did not exist there.
    let _gc = GC.lock().unwrap_or_else(|p| p.into_inner());
    common::require_test_image();
    let project = format!("wharft-gcns-{}", std::process::id());
    let labels = [
        format!("com.docker.compose.project={project}"),
        "com.docker.compose.service=web".into(),
        "dev.wharf.test.owner=4000000".into(),
        // Another PID namespace's identity.
        "dev.wharf.test.owner-id=1:1".into(),
    ];
    let mut create = Command::new("docker");
    create.args(["create", "--name", &format!("{project}-web-1")]);
    for l in &labels {
        create.args(["--label", l]);
    }
    let out = create.args(["wharf-busybox:latest", "true"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let d = dir();
    let gc = wharf(&d).arg("gc").output().unwrap();
    let exists = Command::new("docker").args(["inspect", &id]).output().unwrap().status.success();
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    assert!(gc.status.success());
    assert!(exists, "gc removed a stack it could not prove abandoned");
    let err = String::from_utf8_lossy(&gc.stderr);
    assert!(err.contains(&format!("kept test stack {project}")), "{err}");
}
