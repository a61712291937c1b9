//! Attached `up`, `logs` and the progress renderings, against the real Docker Engine.
//! Needs `scripts/setup.sh` (the engine and `wharf-busybox:latest`).

mod common;
use common::Stack;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn spawn(s: &Stack, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("-p")
        .arg(&s.project)
        .args(args)
        .current_dir(s.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Collects a child's stdout lines on a channel as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until one contains `needle` (or the deadline passes); returns all read.
fn until(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(needle);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {needle:?} within {within:?}; saw {seen:#?}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wharf did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exit_code_from_returns_that_code_and_stops_the_others() {
    let s = Stack::new(
        "exitfrom",
        r#"
services:
  db:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "echo db ready; exec sleep 300"]
  job:
    image: wharf-busybox:latest
    command: ["sh", "-c", "echo working; sleep 0.5; exit 3"]
    depends_on: [db]
"#,
    );
    let (ok, out, err) = s.wharf(&["up", "--exit-code-from", "job", "--no-color"]);
    assert!(!ok);
    let out_lines: Vec<&str> = out.lines().collect();
    assert!(out_lines.contains(&"job-1  | working"), "{out}\n{err}");
    assert!(out_lines.contains(&"db-1   | db ready"), "prefixes are aligned: {out}");
    assert!(out.contains("job-1 exited with code 3"), "{out}");
    let code = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["-p", &s.project, "up", "--exit-code-from", "job"])
        .current_dir(s.dir.path())
        .output()
        .unwrap()
        .status
        .code();
    assert_eq!(code, Some(3));
    assert_eq!(s.inspect("{{.State.Status}}", &s.container("db", 1)), "exited", "db was stopped");
    assert_eq!(s.ids("container").len(), 2, "stopped, not removed");
}

#[test]
fn abort_on_container_failure_ignores_a_clean_exit() {
    let s = Stack::new(
        "abortfail",
        r#"
services:
  ok:
    image: wharf-busybox:latest
    command: ["sh", "-c", "echo fine; exit 0"]
  bad:
    image: wharf-busybox:latest
    command: ["sh", "-c", "sleep 1.5; echo failing; exit 2"]
  long:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["-p", &s.project, "up", "--abort-on-container-failure", "--no-color"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let ok_exit = text.find("ok-1 exited with code 0").expect("the clean exit is reported");
    let abort = text.find("Aborting on container exit").expect("then the failure aborts");
    assert!(ok_exit < abort, "{text}");
    assert!(text.contains("bad-1 exited with code 2"), "{text}");
    assert_eq!(s.inspect("{{.State.Status}}", &s.container("long", 1)), "exited");
}

#[test]
fn first_sigint_stops_gracefully_second_kills() {
    let s = Stack::new(
        "sigint",
        r#"
services:
  quick:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "echo quick ready; exec sleep 300"]
  stubborn:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap '' TERM; echo stubborn ready; while true; do sleep 1; done"]
    stop_grace_period: 60s
"#,
    );
    let mut child = spawn(&s, &["up", "--no-color"]);
    let rx = lines(&mut child);
    until(&rx, "stubborn ready", Duration::from_secs(30));
    signal(&child, "-INT");
    // quick stops at once; stubborn ignores SIGTERM and waits out its grace period.
    let deadline = Instant::now() + Duration::from_secs(15);
    while s.inspect("{{.State.Status}}", &s.container("quick", 1)) != "exited" {
        assert!(Instant::now() < deadline, "quick was not stopped");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.try_wait().unwrap().is_none(), "still waiting on stubborn");
    assert_eq!(s.inspect("{{.State.Status}}", &s.container("stubborn", 1)), "running");
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(15)), 130);
    assert_eq!(s.inspect("{{.State.Status}}", &s.container("stubborn", 1)), "exited");
    assert_eq!(s.inspect("{{.State.ExitCode}}", &s.container("stubborn", 1)), "137", "killed");
    assert_eq!(s.ids("container").len(), 2, "stopped, not removed");
}

#[test]
fn logs_follow_and_merge_by_time() {
    let s = Stack::new(
        "logs",
        r#"
services:
  # a1, b1, a2, b2 in that order, each printed only once the engine has logged the line
  # before it: the test opens each gate (a file in a shared volume) after `wharf logs` shows
  # that line, so the engine's timestamps follow the order however loaded the machine is
  # (a handshake between the containers alone is not enough: the engine timestamps a line
  # when its copier reads it, and two copiers race).
  a:
    image: wharf-busybox:latest
    init: true
    volumes: [turns:/s]
    command: ["sh", "-c", "echo a1; until [ -f /s/a2 ]; do sleep 0.05; done; echo a2; exec sleep 300"]
  b:
    image: wharf-busybox:latest
    init: true
    volumes: [turns:/s]
    command: ["sh", "-c", "until [ -f /s/b1 ]; do sleep 0.05; done; echo b1; until [ -f /s/b2 ]; do sleep 0.05; done; echo b2; exec sleep 300"]
  ticker:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "i=0; while true; do echo tick $$i; i=$$((i+1)); sleep 0.2; done"]
volumes:
  turns: {}
"#,
    );
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    let logged = |service: &str, line: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !s.wharf(&["logs", service]).1.contains(line) {
            assert!(Instant::now() < deadline, "{service} never printed {line}");
            // Polling the engine's log of the service.
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let open = |gate: &str| {
        let (ok, _, err) = s.wharf(&["exec", "-T", "a", "touch", &format!("/s/{gate}")]);
        assert!(ok, "{err}");
    };
    logged("a", "a1");
    open("b1");
    logged("b", "b1");
    open("a2");
    logged("a", "a2");
    open("b2");
    logged("b", "b2");
    let (ok, merged, err) = s.wharf(&["logs", "--merge-by-time", "--no-log-prefix", "a", "b"]);
    assert!(ok, "{err}");
    assert_eq!(merged.lines().collect::<Vec<_>>(), ["a1", "b1", "a2", "b2"]);
    let (_, prefixed, _) = s.wharf(&["logs", "--no-color", "-t", "a"]);
    let first = prefixed.lines().next().unwrap();
    assert!(first.starts_with("a-1  | 20") && first.ends_with(" a1"), "prefix and timestamp: {first}");
    let (_, tail, _) = s.wharf(&["logs", "--no-log-prefix", "--tail", "1", "a"]);
    assert_eq!(tail.trim(), "a2");

    // -f keeps following: new ticks arrive after the command started.
    let mut child = spawn(&s, &["logs", "-f", "--no-color", "--tail", "0", "ticker"]);
    let rx = lines(&mut child);
    let got = until(&rx, "tick", Duration::from_secs(10));
    let n = |l: &str| l.rsplit(' ').next().unwrap().parse::<u32>().unwrap();
    let first = n(got.last().unwrap());
    let later = until(&rx, "tick", Duration::from_secs(10));
    assert!(n(later.last().unwrap()) > first, "followed: {got:?} then {later:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn progress_json_lines_follow_the_committed_schema_and_quiet_says_nothing() {
    let s = Stack::new(
        "progress",
        "services:\n  app:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n",
    );
    let (ok, _, err) = s.wharf(&["--progress", "json", "up", "-d"]);
    assert!(ok, "{err}");
    let events: Vec<wharf::progress::ProgressEvent> =
        err.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    assert!(events.iter().any(|e| e.kind == "Container" && e.name == s.container("app", 1) && e.state == "Started"));
    assert!(events.iter().any(|e| e.kind == "Network" && e.state == "Created"));
    let (ok, out, err) = s.wharf(&["--progress", "quiet", "down"]);
    assert!(ok);
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
}

#[test]
fn tty_progress_in_a_pseudo_terminal() {
    let has_script = Command::new("script").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(has_script, "`script` (util-linux) is needed to give wharf a terminal");
    let s = Stack::new(
        "tty",
        "services:\n  app:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n",
    );
    let cmd = format!("{} -p {} up -d", env!("CARGO_BIN_EXE_wharf"), s.project);
    let out = Command::new("script").args(["-qfec", &cmd, "/dev/null"]).current_dir(s.dir.path()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[+] Running"), "a header: {text}");
    assert!(text.contains(&format!("Container {}", s.container("app", 1))) && text.contains("Started"), "{text}");
    assert!(!text.contains(" Container app  Started\n"), "not the plain rendering");
    insta::assert_snapshot!("tty_final_frame", final_frame(&text, &s.project));
}

/// The last frame the tty rendering drew, without escape codes, spinner glyphs or timings.
fn final_frame(text: &str, project: &str) -> String {
    let last = text.rfind("[+] Running").map(|i| &text[i..]).unwrap_or(text);
    let ansi = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    let plain = ansi.replace_all(last, "\n");
    let mut lines: Vec<String> = Vec::new();
    for l in plain.split(['\n', '\r']) {
        let l = l.replace(project, "<project>");
        let words: Vec<&str> = l
            .split_whitespace()
            .filter(|w| {
                !w.ends_with('s') || w.parse::<f64>().is_ok() || !w[..w.len() - 1].chars().all(|c| c.is_ascii_digit())
            })
            .collect();
        let l = words.join(" ");
        if !l.is_empty() && !lines.contains(&l) {
            lines.push(l);
        }
    }
    lines.join("\n")
}

#[test]
fn a_crash_loop_is_restarted_with_growing_delays_until_max_attempts() {
    let s = Stack::new(
        "crashloop",
        r#"
services:
  crash:
    image: wharf-busybox:latest
    command: ["sh", "-c", "echo crashing; exit 1"]
    deploy:
      restart_policy: {condition: on-failure, delay: 200ms, max_attempts: 3}
"#,
    );
    let (ok, out, err) = s.wharf(&["up", "--no-color"]);
    assert!(ok, "{err}");
    let notes: Vec<&str> = out.lines().filter(|l| l.contains("restarting in") || l.contains("giving up")).collect();
    assert_eq!(
        notes,
        [
            "crash-1 restarting in 200 ms (attempt 1 of 3)",
            "crash-1 restarting in 400 ms (attempt 2 of 3)",
            "crash-1 restarting in 800 ms (attempt 3 of 3)",
            "crash-1 giving up after 3 restart attempts (exited with code 1)",
        ],
        "{out}"
    );
    assert_eq!(out.matches("crash-1  | crashing").count(), 4, "each run's line once: {out}");
    // While attached, wharf owned the restarts; afterwards the engine has its policy back.
    let f = "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}";
    let policy = s.inspect(f, &s.container("crash", 1));
    assert_eq!(policy, "on-failure:3", "{err}");
}

#[test]
fn an_unhealthy_container_is_restarted_when_opted_in() {
    let s = Stack::new(
        "unhealthyrestart",
        r#"
services:
  flaky:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "rm -f /tmp/sick; echo up; sleep 1; touch /tmp/sick; exec sleep 300"]
    healthcheck:
      test: ["CMD-SHELL", "test ! -f /tmp/sick"]
      interval: 300ms
      retries: 1
    x-wharf:
      restart_on_unhealthy: true
"#,
    );
    let mut child = spawn(&s, &["up", "--no-color"]);
    let rx = lines(&mut child);
    let seen = until(&rx, "unhealthy: restarting in 100 ms (attempt 1)", Duration::from_secs(30));
    assert_eq!(seen.iter().filter(|l| l.ends_with("| up")).count(), 1);
    until(&rx, "flaky-1  | up", Duration::from_secs(15));
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 130);
}
