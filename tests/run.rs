//! `run` with stdin: piped input, a TTY in a pseudo-terminal (and its resizing, for `exec`
//! too), `--env-from-file`, orphans, and a one-off that needs the project's network before
//! anything else is up.

mod common;
use common::Stack;

use std::process::{Command, Stdio};

const ONE: &str = "services:\n  sh:\n    image: wharf-busybox:latest\n";

fn wharf_with_stdin(s: &Stack, args: &[&str], input: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("-p")
        .arg(&s.project)
        .args(args)
        .current_dir(s.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn piped_stdin_reaches_the_one_off_and_streams_stay_apart() {
    let s = Stack::new("runstdin", ONE);
    // Nothing is up: the one-off creates the project network it needs.
    let (code, out, err) = wharf_with_stdin(
        &s,
        &["--progress", "quiet", "run", "--rm", "sh", "sh", "-c", "tr a-z A-Z; echo oops >&2; exit 6"],
        b"piped line\n",
    );
    assert_eq!(code, 6, "{err}");
    assert_eq!(out, "PIPED LINE\n");
    assert_eq!(err, "oops\n");
    assert!(s.ids("container").is_empty(), "--rm removed it");
    s.file("vars.env", "A=1\nB=\"two words\" # comment\n");
    let (code, out, err) = wharf_with_stdin(
        &s,
        &["run", "--rm", "--env-from-file", "vars.env", "-e", "A=over", "sh", "sh", "-c", "echo $A $B"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "over two words\n");
}

#[test]
fn run_in_a_terminal_gets_a_tty_and_the_keyboard() {
    let s = Stack::new("runtty", ONE);
    let (code, text) =
        common::wharf_in_terminal(&s, "--progress quiet run --rm sh sh", b"echo typed-$((40+2)); tty\nexit 7\n");
    assert_eq!(code, Some(7), "{text}");
    assert!(text.contains("typed-42"), "keystrokes reached the shell: {text}");
    assert!(text.contains("/dev/pts/"), "the one-off has a TTY: {text}");
    assert!(s.ids("container").is_empty(), "--rm removed it");
}

#[test]
fn orphans_are_warned_about_ignored_on_request_or_removed() {
    let s = Stack::new(
        "runorphans",
        "services:\n  old:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n",
    );
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    s.write(ONE);
    let old = s.container("old", 1);
    let (ok, _, err) = s.wharf(&["run", "--rm", "sh", "true"]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("warning: found orphan containers ({old})")) && err.contains("--remove-orphans"),
        "{err}"
    );
    let (ok, _, err) = s.run(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .env("COMPOSE_IGNORE_ORPHANS", "true")
            .args(["-p", &s.project, "run", "--rm", "sh", "true"]),
    );
    assert!(ok && !err.contains("orphan"), "{err}");
    let (ok, _, err) = s.wharf(&["run", "--rm", "--remove-orphans", "sh", "true"]);
    assert!(ok, "{err}");
    assert_eq!(s.inspect("{{.Name}}", &old), "", "the orphan is gone");
}

#[test]
fn the_tty_follows_the_terminal_size() {
    let s = Stack::new("runresize", ONE);
    let out = common::wharf_resized(&s, &["--progress", "quiet", "run", "--rm", "sh", "sh"]);
    assert!(out.contains("30 100"), "the size at start: {out}");
    assert!(out.contains("40 120"), "the size after SIGWINCH: {out}");
    assert!(out.contains("[exit 3]"), "{out}");
}

#[test]
fn exec_tty_follows_the_terminal_size_too() {
    let s = Stack::new(
        "execresize",
        "services:\n  web:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n",
    );
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    let out = common::wharf_resized(&s, &["exec", "web", "sh"]);
    assert!(out.contains("30 100") && out.contains("40 120"), "{out}");
    assert!(out.contains("[exit 3]"), "{out}");
}
