//! The `develop.watch` dev loop on the real engine: `wharf watch` runs as a child process while
//! the test edits files and reads them back from the container.

mod common;
use common::Stack;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wharf watch`, interrupted (and reaped) when dropped.
struct Watching {
    child: Child,
    log: std::path::PathBuf,
}

impl Watching {
    fn start(s: &Stack, args: &[&str]) -> Watching {
        let log = s.dir.path().join("watch.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("-p")
            .arg(&s.project)
            .arg("--progress")
            .arg("plain")
            .args(args)
            .current_dir(s.dir.path())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let w = Watching { child, log };
        assert!(eventually(Duration::from_secs(60), || w.output().contains("Watch enabled")), "{}", w.output());
        w
    }
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn sh(s: &Stack, container: &str, script: &str) -> String {
    s.docker(&["exec", container, "sh", "-c", script])
}

const SYNC_STACK: &str = r#"
services:
  web:
    build:
      context: app
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
    develop:
      watch:
        - path: app/src
          action: sync
          target: /srv/src
          ignore: ["*.tmp"]
"#;

fn sync_stack(tag: &str) -> Stack {
    let s = Stack::new(tag, SYNC_STACK);
    s.file("app/Dockerfile", "FROM wharf-busybox:latest\nCOPY src /srv/src\nCMD [\"sleep\", \"300\"]\n");
    s.file("app/.dockerignore", "src/node_modules\n");
    s.file("app/src/index.txt", "v1");
    s
}

#[test]
fn edits_and_deletes_arrive_and_ignored_files_never_do() {
    let s = sync_stack("watchsync");
    let w = Watching::start(&s, &["watch"]);
    let c = s.container("web", 1);
    s.file("app/src/index.txt", "v2");
    s.file("app/src/lib/new/util.txt", "util");
    // Ignored: the rule's `ignore:`, the build context's .dockerignore, .git, editor files.
    s.file("app/src/scratch.tmp", "no");
    s.file("app/src/node_modules/pkg/index.js", "no");
    s.file("app/src/.git/HEAD", "no");
    s.file("app/src/.index.txt.swp", "no");
    s.file("app/src/index.txt~", "no");
    assert!(
        eventually(Duration::from_secs(10), || sh(&s, &c, "cat /srv/src/index.txt /srv/src/lib/new/util.txt")
            == "v2util"),
        "{}",
        w.output()
    );
    std::fs::remove_file(s.dir.path().join("app/src/index.txt")).unwrap();
    assert!(eventually(Duration::from_secs(10), || sh(&s, &c, "ls /srv/src") == "lib\n"), "{}", w.output());
    // One more change, so any ignored file would have been carried by now.
    s.file("app/src/last.txt", "x");
    assert!(eventually(Duration::from_secs(10), || sh(&s, &c, "cat /srv/src/last.txt") == "x"));
    let all = sh(&s, &c, "find /srv/src | sort");
    assert_eq!(
        all,
        "/srv/src\n/srv/src/last.txt\n/srv/src/lib\n/srv/src/lib/new\n/srv/src/lib/new/util.txt\n",
        "{}",
        w.output()
    );
}

#[test]
fn a_burst_of_a_thousand_writes_ends_with_identical_trees() {
    let s = sync_stack("watchburst");
    let w = Watching::start(&s, &["watch"]);
    let c = s.container("web", 1);
    for i in 0..1000 {
        s.file(&format!("app/src/d{}/f{i}.txt", i % 10), &format!("content {i}\n"));
    }
    // Some of them change again and some go, mid-burst.
    for i in (0..1000).step_by(7) {
        s.file(&format!("app/src/d{}/f{i}.txt", i % 10), &format!("changed {i}\n"));
    }
    for i in (0..1000).step_by(13) {
        std::fs::remove_file(s.dir.path().join(format!("app/src/d{}/f{i}.txt", i % 10))).unwrap();
    }
    let host = {
        let out = Command::new("sh")
            .arg("-c")
            .arg("cd app/src && find . -type f | sort | xargs md5sum")
            .current_dir(s.dir.path())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let inside = || sh(&s, &c, "cd /srv/src && find . -type f | sort | xargs md5sum");
    assert!(eventually(Duration::from_secs(30), || inside() == host), "trees differ; {}", w.output());
    assert_eq!(host.lines().count(), 1000 - 77 + 1, "the host tree as expected");
}

#[test]
fn a_restarted_container_gets_what_changed_while_it_was_down() {
    let s = sync_stack("watchresync");
    let w = Watching::start(&s, &["watch"]);
    let c = s.container("web", 1);
    s.docker(&["stop", "-t", "0", &c]);
    s.file("app/src/index.txt", "written while stopped");
    std::thread::sleep(Duration::from_millis(500));
    s.docker(&["start", &c]);
    assert!(
        eventually(Duration::from_secs(10), || sh(&s, &c, "cat /srv/src/index.txt") == "written while stopped"),
        "{}",
        w.output()
    );
}

#[test]
fn a_rebuild_rule_recreates_only_its_service() {
    let s = Stack::new(
        "watchrebuild",
        r#"
services:
  api:
    build:
      context: api
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    init: true
    develop:
      watch:
        - {path: api/version.txt, action: rebuild}
  other:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
"#,
    );
    s.file("api/Dockerfile", "FROM wharf-busybox:latest\nCOPY version.txt /version.txt\nCMD [\"sleep\", \"300\"]\n");
    s.file("api/version.txt", "1");
    let w = Watching::start(&s, &["watch", "--prune"]);
    let id = |svc: &str| s.inspect("{{.Id}}", &s.container(svc, 1));
    let (api, other) = (id("api"), id("other"));
    let image = s.inspect("{{.Image}}", &s.container("api", 1));
    s.file("api/version.txt", "2");
    assert!(
        eventually(Duration::from_secs(60), || s.docker(&["exec", &s.container("api", 1), "cat", "/version.txt"])
            == "2"),
        "{}",
        w.output()
    );
    assert_ne!(id("api"), api, "api recreated");
    assert_ne!(s.inspect("{{.Image}}", &s.container("api", 1)), image, "from a new image");
    assert_eq!(id("other"), other, "the other service kept running untouched");
    assert!(w.output().contains("Rebuilding service `api`"), "{}", w.output());
}

#[test]
fn bad_rules_are_refused_before_anything_starts() {
    let s = Stack::new(
        "watchbad",
        "services:\n  web:\n    image: wharf-busybox:latest\n    develop:\n      watch:\n        - {path: ./src, action: sync, target: relative/dir}\n",
    );
    let (ok, _, err) = s.wharf(&["watch"]);
    assert!(!ok);
    assert!(err.contains("services.web.develop.watch[0]: `target` must be an absolute path"), "{err}");
    assert!(s.ids("container").is_empty(), "nothing started");
    s.write("services:\n  web:\n    image: wharf-busybox:latest\n    develop:\n      watch:\n        - {path: ./src, action: rebuild}\n");
    let (ok, _, err) = s.wharf(&["watch"]);
    assert!(!ok);
    assert!(err.contains("`action: rebuild` needs a `build:` section"), "{err}");
}

#[test]
fn up_watch_syncs_while_streaming_logs() {
    let s = sync_stack("upwatch");
    s.write(&SYNC_STACK.replace(
        "    init: true\n",
        "    init: true\n    command: [\"sh\", \"-c\", \"while true; do cat /srv/src/index.txt; echo; sleep 0.2; done\"]\n",
    ));
    let w = Watching::start(&s, &["up", "--watch", "--no-color"]);
    assert!(eventually(Duration::from_secs(10), || w.output().contains("web-1  | v1")), "{}", w.output());
    s.file("app/src/index.txt", "v2");
    assert!(eventually(Duration::from_secs(10), || w.output().contains("web-1  | v2")), "{}", w.output());
}

#[test]
fn a_container_without_a_shell_gets_files_through_the_archive_api() {
    let s = Stack::new(
        "watchnoshell",
        r#"
services:
  bare:
    build:
      context: bare
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    develop:
      watch:
        - {path: bare/src, action: sync, target: /srv}
"#,
    );
    // Only the busybox binary, without its applet links: no `sh`, `base64` or `tar` on the PATH.
    s.file(
        "bare/Dockerfile",
        "FROM scratch\nCOPY --from=wharf-busybox:latest /bin/busybox /busybox\nCMD [\"/busybox\", \"sleep\", \"300\"]\n",
    );
    s.file("bare/src/a.txt", "1");
    let w = Watching::start(&s, &["watch"]);
    let c = s.container("bare", 1);
    s.file("bare/src/sub/b.txt", "from the host");
    assert!(
        eventually(Duration::from_secs(10), || s.docker(&["exec", &c, "/busybox", "cat", "/srv/sub/b.txt"])
            == "from the host"),
        "{}",
        w.output()
    );
}
