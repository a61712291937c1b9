//! The differential check of `config` against compose v2: every project of the corpus in
//! `tests/conformance/config/` is written to a temporary directory, and `docker compose -p conf
//! config --format json` and `wharf -p conf config --format json` run there with the same clean
//! environment. Both must accept the project or both refuse it (wharf naming file:line:col); when
//! both accept, their outputs must be equal after the normalisation rules in [`RULES`], which the
//! README lists ("Differences from `docker compose config`"). A case run with the default
//! arguments is compared a second time in the default format, YAML (compose's YAML and JSON
//! renderings of one model differ: empty structures, extensions). Prints `config conformance:
//! M/T identical`.
//!
//! A corpus file holds several cases, each starting with a line `=== NAME: the rule it is aimed
//! at`. A case is one project: a header, then its files, each introduced by a line `-- path --`
//! (as Go's txtar). Header lines:
//! - `args: …` replaces the arguments after `-p conf` (default `config --format json`);
//! - `env: NAME=VALUE` sets a variable for both tools (repeatable);
//! - `cwd: DIR` runs both in that sub-directory of the project;
//! - `no-project-flag` leaves `-p conf` out (for the project-name rules);
//! - `unlocated` accepts a refusal by wharf that names no line (the problem is not in a file's
//!   text: a missing file, a variable from the command line).
//!
//! Rerun: `cargo test --test config_conformance`; `WHARF_CONFORMANCE_ONLY=name`
//! runs the cases whose file name contains `name`.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One normalisation applied to both outputs before they are compared.
struct Rule {
    /// What is set aside.
    what: &'static str,
    /// Why it is not a difference a user can meet.
    why: &'static str,
}

/// Every difference the check tolerates. The README's "Differences from `docker compose config`"
/// section lists exactly these (checked by `readme_lists_every_rule`).
const RULES: &[Rule] = &[
    Rule {
        what: "mapping keys are compared as sets, not in order",
        why: "compose sorts keys, wharf keeps the file's order; both are the same YAML/JSON value",
    },
    Rule {
        what: "line-oriented output (`--services`, `--images`, `--volumes`, …) is compared as a sorted list of lines",
        why: "compose prints some of them in Go map order, which changes from one run to the next",
    },
];

fn normalise(v: &mut Value) {
    // Rule 1 is the comparison itself: serde_json's map is ordered by key.
    let _ = v;
}

struct Case {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    project_flag: bool,
    unlocated: bool,
    files: Vec<(String, String)>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/config")
}

fn parse_case(name: &str, text: &str) -> Case {
    let mut case = Case {
        name: name.to_string(),
        args: vec!["config".into(), "--format".into(), "json".into()],
        env: Vec::new(),
        cwd: None,
        project_flag: true,
        unlocated: false,
        files: Vec::new(),
    };
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare.strip_prefix("-- ").and_then(|l| l.strip_suffix(" --")) {
            if let Some(f) = current.take() {
                case.files.push(f);
            }
            current = Some((path.to_string(), String::new()));
            continue;
        }
        match current.as_mut() {
            Some((_, body)) => body.push_str(line),
            None => {
                if let Some(a) = bare.strip_prefix("args:") {
                    case.args = a.split_whitespace().map(String::from).collect();
                } else if let Some(e) = bare.strip_prefix("env:") {
                    let (k, v) = e.trim().split_once('=').expect("env: NAME=VALUE");
                    case.env.push((k.to_string(), v.to_string()));
                } else if let Some(d) = bare.strip_prefix("cwd:") {
                    case.cwd = Some(d.trim().to_string());
                } else if bare == "no-project-flag" {
                    case.project_flag = false;
                } else if bare == "unlocated" {
                    case.unlocated = true;
                }
            }
        }
    }
    if let Some(f) = current.take() {
        case.files.push(f);
    }
    assert!(!case.files.is_empty(), "{name}: a case holds at least one file");
    case
}

fn cases() -> Vec<Case> {
    let only = std::env::var("WHARF_CONFORMANCE_ONLY").ok();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in &paths {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(p).unwrap();
        let mut blocks: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            if let Some(head) = line.strip_prefix("=== ") {
                let name = head.split(':').next().unwrap_or("").trim().to_string();
                blocks.push((format!("{stem}/{name}"), String::new()));
            } else if let Some((_, body)) = blocks.last_mut() {
                body.push_str(line);
            }
        }
        for (name, body) in blocks {
            if only.as_deref().is_none_or(|o| name.contains(o)) {
                out.push(parse_case(&name, &body));
            }
        }
    }
    let mut names: Vec<&String> = out.iter().map(|c| &c.name).collect();
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "two cases share a name");
    out
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &[&str], case: &Case, dir: &Path) -> Outcome {
    run_args(program, case, &case.args, dir)
}

fn run_args(program: &[&str], case: &Case, args: &[String], dir: &Path) -> Outcome {
    let mut cmd = Command::new(program[0]);
    cmd.args(&program[1..]);
    if case.project_flag {
        cmd.args(["-p", "conf"]);
    }
    cmd.args(args);
    let cwd = match &case.cwd {
        Some(d) => dir.join(d),
        None => dir.to_path_buf(),
    };
    cmd.current_dir(cwd);
    // HOME stays (a case may change it): the docker CLI finds its compose plugin under
    // DOCKER_CONFIG, which is set from the real HOME.
    common::minimal_env(&mut cmd);
    cmd.envs(case.env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap_or_else(|e| panic!("run {program:?}: {e}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Differences between two values, as JSON paths.
fn diff(w: &Value, c: &Value, path: &str, out: &mut Vec<String>) {
    match (w, c) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, &p, out),
                    (Some(x), None) => out.push(format!("{p}: only wharf has {}", short(x))),
                    (None, Some(y)) => out.push(format!("{p}: only compose has {}", short(y))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if w != c => out.push(format!("{path}: wharf {} but compose {}", short(w), short(c))),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

fn located(stderr: &str) -> bool {
    // `--> file:LINE:COL` as every wharf diagnostic with a position prints it.
    stderr.lines().any(|l| {
        l.trim_start().strip_prefix("--> ").is_some_and(|r| {
            let mut parts = r.rsplitn(3, ':');
            let col = parts.next().unwrap_or("");
            let line = parts.next().unwrap_or("");
            !col.is_empty()
                && col.bytes().all(|b| b.is_ascii_digit())
                && !line.is_empty()
                && line.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// Compares the two tools on one case; `None` when they agree, else what differs.
fn check(case: &Case) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in &case.files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    }
    if let Some(d) = &case.cwd {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let compose = run(&["docker", "compose"], case, dir.path());
    let wharf = run(&[env!("CARGO_BIN_EXE_wharf")], case, dir.path());
    let root = dir.path().to_string_lossy().into_owned();
    let clean = |s: &str| s.replace(&root, "<dir>");
    match (compose.code == 0, wharf.code == 0) {
        (true, true) => {}
        (false, false) => {
            if case.unlocated || located(&wharf.stderr) {
                return None;
            }
            return Some(format!("both refuse, but wharf names no file:line:col:\n{}", clean(&wharf.stderr)));
        }
        (true, false) => return Some(format!("compose accepts, wharf refuses:\n{}", clean(&wharf.stderr))),
        (false, true) => {
            return Some(format!("compose refuses, wharf accepts:\n  compose: {}", clean(compose.stderr.trim())));
        }
    }
    match (serde_json::from_str::<Value>(&compose.stdout), serde_json::from_str::<Value>(&wharf.stdout)) {
        (Ok(mut c), Ok(mut w)) => {
            normalise(&mut c);
            normalise(&mut w);
            let mut out = Vec::new();
            diff(&w, &c, "", &mut out);
            if out.is_empty() && case.args == ["config", "--format", "json"] {
                out = yaml_differences(case, dir.path());
            }
            if out.is_empty() { None } else { Some(clean(&out.join("\n"))) }
        }
        _ if sorted_lines(&compose.stdout) == sorted_lines(&wharf.stdout) => None,
        _ => Some(format!("compose printed:\n{}\nwharf printed:\n{}", clean(&compose.stdout), clean(&wharf.stdout))),
    }
}

/// The same case in YAML, `config` with no `--format`: differences as JSON paths, `(yaml)`.
fn yaml_differences(case: &Case, dir: &Path) -> Vec<String> {
    let args = vec!["config".to_string()];
    let compose = run_args(&["docker", "compose"], case, &args, dir);
    let wharf = run_args(&[env!("CARGO_BIN_EXE_wharf")], case, &args, dir);
    let parse = |s: &str| serde_saphyr::from_str::<Value>(s).map_err(|e| e.to_string());
    match (parse(&compose.stdout), parse(&wharf.stdout)) {
        (Ok(c), Ok(w)) => {
            let mut out = Vec::new();
            diff(&w, &c, "(yaml)", &mut out);
            out
        }
        (c, w) => vec![format!("(yaml) unreadable: compose {:?}, wharf {:?}", c.err(), w.err())],
    }
}

/// Rule 2.
fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

fn compose_available() -> bool {
    Command::new("docker").args(["compose", "version"]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Runs every case; true when all agree.
fn config_matches_compose_v2() -> bool {
    if !compose_available() {
        println!("compose v2 (`docker compose`) is missing: run scripts/setup.sh");
        return false;
    }
    let cases = cases();
    let total = cases.len();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2) * 2;
    let chunks: Vec<Vec<Case>> = {
        let mut v: Vec<Vec<Case>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, c) in cases.into_iter().enumerate() {
            v[i % workers].push(c);
        }
        v
    };
    let mut failures: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || chunk.iter().filter_map(|c| check(c).map(|d| (c.name.clone(), d))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    failures.sort();
    for (name, d) in &failures {
        eprintln!("--- {name}\n{d}\n");
    }
    let same = total - failures.len();
    if !failures.is_empty() {
        println!("differing: {}", failures.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", "));
    }
    println!("config conformance: {same}/{total} identical");
    failures.is_empty()
}

fn corpus_is_large_enough() -> bool {
    let n = cases().len();
    let ok = std::env::var("WHARF_CONFORMANCE_ONLY").is_ok() || n >= 150;
    if !ok {
        println!("the corpus has {n} projects; it is meant to hold at least 150");
    }
    ok
}

/// The README's list of config differences is [`RULES`].
fn readme_lists_every_rule() -> bool {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("### Differences from `docker compose config`")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has a section \"Differences from `docker compose config`\"");
    let listed: Vec<&str> = section.lines().filter_map(|l| l.strip_prefix("- ")).collect();
    let expected: Vec<String> = RULES.iter().map(|r| format!("{} ({})", r.what, r.why)).collect();
    if listed != expected {
        println!(
            "the README's list of config differences must be RULES in tests/config_conformance.rs:\n  README: {listed:#?}\n  RULES: {expected:#?}"
        );
        return false;
    }
    true
}

/// A test without the libtest harness, so its totals print in every run (`cargo test` shows
/// them), not only when it fails.
fn main() {
    let checks = [
        ("the README lists every normalisation rule", readme_lists_every_rule()),
        ("the corpus is large enough", corpus_is_large_enough()),
        ("config matches compose v2", config_matches_compose_v2()),
    ];
    let mut failed = false;
    for (what, ok) in checks {
        println!("{what} ... {}", if ok { "ok" } else { "FAILED" });
        failed |= !ok;
    }
    if failed {
        std::process::exit(1);
    }
}
