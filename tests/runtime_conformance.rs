//! Runtime conformance (issue 16): scenarios that a compose-compatible tool must pass, run on
//! the real engine. Compose v2 is the oracle: a scenario is only kept when `docker compose`
//! passes it too. Prints `conformance: P/T scenarios pass`.
//!
//! `cargo test --test runtime_conformance` runs them with wharf (CI does).
//! `WHARF_RUNTIME_RUNNER=compose cargo test --test runtime_conformance` runs them with
//! `docker compose`, to accept a new or changed scenario. `WHARF_CONFORMANCE_ONLY=name` runs the
//! scenarios whose name contains `name`.
//!
//! A scenario file in `tests/conformance/runtime/` holds scenarios, each starting with a line
//! `=== NAME: what it shows`, then its files (`-- path --`, as Go's txtar), then a `-- steps --`
//! section, one step per line (`$PROJECT` is the scenario's project name):
//! - `export NAME=VALUE` sets a variable for the commands that follow;
//! - `$ ARGS` runs the tool with `-p PROJECT ARGS` and expects exit 0; `$? N ARGS` expects exit
//!   N; `$! ARGS` expects a failure (any non-zero code);
//! - `stdout ~ TEXT`, `stderr ~ TEXT`: the last command's output holds TEXT (`!~`: does not);
//! - `count SERVICE N`: the service has N containers (one-offs not counted);
//! - `oneoffs SERVICE N [STATUS]`: it has N one-off containers (in that engine status);
//! - `state SERVICE INDEX STATUS`: the engine's status of container `PROJECT-SERVICE-INDEX`;
//! - `env SERVICE INDEX NAME=VALUE`: that container's environment holds the variable;
//! - `label SERVICE INDEX KEY=VALUE`: that container has the label;
//! - `volume NAME present|absent`, `network NAME present|absent`: `PROJECT_NAME` exists or not;
//! - `container NAME present|absent`, `image NAME present|absent`: a container or image of that
//!   exact name (`$PROJECT` expanded; images named after the project are removed afterwards);
//! - `inspect NAME FORMAT VALUE`: `docker inspect --format FORMAT NAME` prints VALUE.
//!
//! Every command has a deadline (`timeout`), and whatever happens the scenario's containers,
//! networks and volumes are removed by their project label.

use std::path::Path;
use std::process::Command;

struct Scenario {
    name: String,
    files: Vec<(String, String)>,
    steps: Vec<String>,
}

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/runtime");
    let only = std::env::var("WHARF_CONFORMANCE_ONLY").unwrap_or_default();
    let mut paths: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/conformance/runtime").flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("a scenario file");
        let file = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for block in text.split("\n=== ").map(|b| b.trim_start_matches("=== ")) {
            let Some((head, rest)) = block.split_once('\n') else { continue };
            let name = format!("{file}/{}", head.split(':').next().unwrap_or(head).trim());
            if !only.is_empty() && !name.contains(&only) {
                continue;
            }
            let mut files = Vec::new();
            let mut steps = Vec::new();
            let mut current: Option<(String, String)> = None;
            let mut in_steps = false;
            for line in rest.lines() {
                if let Some(path) = line.strip_prefix("-- ").and_then(|l| l.strip_suffix(" --")) {
                    if let Some(f) = current.take() {
                        files.push(f);
                    }
                    if path == "steps" {
                        in_steps = true;
                    } else {
                        current = Some((path.to_string(), String::new()));
                    }
                } else if in_steps {
                    if !line.trim().is_empty() && !line.starts_with('#') {
                        steps.push(line.to_string());
                    }
                } else if let Some((_, body)) = current.as_mut() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            if let Some(f) = current.take() {
                files.push(f);
            }
            out.push(Scenario { name, files, steps });
        }
    }
    out
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The tool under test: wharf, or compose v2.
fn tool() -> Vec<String> {
    match std::env::var("WHARF_RUNTIME_RUNNER").as_deref() {
        Ok("compose") => vec!["docker".into(), "compose".into()],
        _ => vec![env!("CARGO_BIN_EXE_wharf").into()],
    }
}

fn run(program: &[String], args: &[String], dir: &Path, deadline_s: u32) -> Outcome {
    run_with(program, args, dir, deadline_s, &[])
}

fn run_with(program: &[String], args: &[String], dir: &Path, deadline_s: u32, env: &[(String, String)]) -> Outcome {
    let mut cmd = Command::new("timeout");
    cmd.arg("-k").arg("5").arg(deadline_s.to_string()).args(program).args(args).current_dir(dir).env_clear();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let docker_config = std::env::var("DOCKER_CONFIG")
        .unwrap_or_else(|_| format!("{}/.docker", std::env::var("HOME").unwrap_or_default()));
    cmd.env("DOCKER_CONFIG", docker_config);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    match cmd.output() {
        Ok(out) => Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Outcome { code: -1, stdout: String::new(), stderr: format!("cannot run {program:?}: {e}") },
    }
}

fn docker(args: &[&str], dir: &Path) -> Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run(&["docker".to_string()], &args, dir, 30)
}

/// Removes everything of `project`, whatever state it is in.
fn clean(project: &str, dir: &Path) {
    let label = format!("label=com.docker.compose.project={project}");
    let ids = docker(&["ps", "-aq", "--filter", &label], dir).stdout;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids);
        docker(&args, dir);
    }
    for kind in ["network", "volume"] {
        let names = docker(&[kind, "ls", "-q", "--filter", &label], dir).stdout;
        for n in names.split_whitespace() {
            docker(&[kind, "rm", n], dir);
        }
    }
    // Images a scenario built or committed are named after its (unique) project.
    let reference = format!("reference={project}*");
    let images = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "--filter", &reference], dir).stdout;
    for i in images.split_whitespace() {
        docker(&["image", "rm", "-f", i], dir);
    }
}

fn containers(project: &str, service: &str, oneoff: bool, status: Option<&str>, dir: &Path) -> usize {
    let p = format!("label=com.docker.compose.project={project}");
    let s = format!("label=com.docker.compose.service={service}");
    let o = format!("label=com.docker.compose.oneoff={}", if oneoff { "True" } else { "False" });
    let mut args = vec!["ps", "-aq", "--filter", &p, "--filter", &s, "--filter", &o];
    let st = status.map(|st| format!("status={st}"));
    if let Some(st) = &st {
        args.extend(["--filter", st.as_str()]);
    }
    docker(&args, dir).stdout.split_whitespace().count()
}

fn inspect(what: &str, name: &str, dir: &Path) -> String {
    docker(&["inspect", "--format", what, name], dir).stdout.trim().to_string()
}

/// Runs one scenario; `Err` says which step failed and why.
fn play(s: &Scenario, project: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (path, body) in &s.files {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, body.replace("$PROJECT", project)).map_err(|e| e.to_string())?;
    }
    let program = tool();
    let d = dir.path();
    let result = (|| {
        let mut last = Outcome { code: 0, stdout: String::new(), stderr: String::new() };
        let mut env: Vec<(String, String)> = Vec::new();
        for step in &s.steps {
            let step = step.replace("$PROJECT", project);
            let words: Vec<&str> = step.split_whitespace().collect();
            let fail = |why: String| Err(format!("step `{step}`: {why}"));
            let container = |svc: &str, idx: &str| format!("{project}-{svc}-{idx}");
            match words.as_slice() {
                ["$" | "$?" | "$!", ..] => {
                    let (expect, args): (Option<i32>, &[&str]) = match words[0] {
                        "$" => (Some(0), &words[1..]),
                        "$!" => (None, &words[1..]),
                        _ => (words.get(1).and_then(|n| n.parse().ok()), words.get(2..).unwrap_or(&[])),
                    };
                    let mut full = vec!["-p".to_string(), project.to_string()];
                    full.extend(shell_words(&args.join(" ")));
                    last = run_with(&program, &full, d, 120, &env);
                    let ok = match expect {
                        Some(code) => last.code == code,
                        None => last.code != 0,
                    };
                    if !ok {
                        return fail(format!(
                            "exit {} (expected {})\nstdout: {}\nstderr: {}",
                            last.code,
                            expect.map(|c| c.to_string()).unwrap_or_else(|| "non-zero".into()),
                            last.stdout.trim(),
                            last.stderr.trim()
                        ));
                    }
                }
                ["export", kv] => {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    env.push((k.to_string(), v.to_string()));
                }
                [stream @ ("stdout" | "stderr"), op @ ("~" | "!~"), ..] => {
                    let text = step.split_once(op).map(|(_, t)| t.trim()).unwrap_or("");
                    let hay = if *stream == "stdout" { &last.stdout } else { &last.stderr };
                    if hay.contains(text) != (*op == "~") {
                        return fail(format!("{stream} was:\n{hay}"));
                    }
                }
                [kind @ ("count" | "oneoffs"), svc, n, status @ ..] => {
                    let got = containers(project, svc, *kind == "oneoffs", status.first().copied(), d);
                    if got.to_string() != *n {
                        return fail(format!("{got} containers"));
                    }
                }
                ["state", svc, idx, want] => {
                    let got = inspect("{{.State.Status}}", &container(svc, idx), d);
                    if got != *want {
                        return fail(format!("state `{got}`"));
                    }
                }
                ["env", svc, idx, _, ..] => {
                    let kv = step.splitn(4, ' ').nth(3).unwrap_or("");
                    let got = inspect("{{json .Config.Env}}", &container(svc, idx), d);
                    let env: Vec<String> = serde_json::from_str(&got).unwrap_or_default();
                    if !env.iter().any(|e| e.as_str() == kv) {
                        return fail(format!("environment {env:?}"));
                    }
                }
                ["label", svc, idx, _, ..] => {
                    let kv = step.splitn(4, ' ').nth(3).unwrap_or("");
                    let got = inspect("{{json .Config.Labels}}", &container(svc, idx), d);
                    let labels: std::collections::BTreeMap<String, String> =
                        serde_json::from_str(&got).unwrap_or_default();
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if labels.get(k).map(String::as_str) != Some(v) {
                        return fail(format!("label {k} is {:?}", labels.get(k)));
                    }
                }
                [kind @ ("volume" | "network"), name, want @ ("present" | "absent")] => {
                    let present = docker(&[kind, "inspect", &format!("{project}_{name}")], d).code == 0;
                    if present != (*want == "present") {
                        return fail(format!("the {kind} is {}", if present { "present" } else { "absent" }));
                    }
                }
                ["inspect", name, format, want] => {
                    let got = inspect(format, name, d);
                    if got != *want {
                        return fail(format!("`{format}` is `{got}`"));
                    }
                }
                [kind @ ("container" | "image"), name, want @ ("present" | "absent")] => {
                    let present = docker(&[kind, "inspect", name], d).code == 0;
                    if present != (*want == "present") {
                        return fail(format!("the container is {}", if present { "present" } else { "absent" }));
                    }
                }
                _ => return fail("unknown step".into()),
            }
        }
        Ok(())
    })();
    clean(project, d);
    result
}

/// Splits a command line as a shell would, for quoted arguments (`sh -c "exit 3"`).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

fn main() {
    let all = scenarios();
    let total = all.len();
    let mut failed = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let project = format!("rconf{}x{i}", std::process::id());
        match play(s, &project) {
            Ok(()) => println!("{} ... ok", s.name),
            Err(why) => {
                println!("{} ... FAILED\n{why}", s.name);
                failed.push(s.name.clone());
            }
        }
    }
    let runner = if tool()[0] == "docker" { "docker compose" } else { "wharf" };
    println!("conformance: {}/{total} scenarios pass ({runner})", total - failed.len());
    if !failed.is_empty() || total == 0 {
        std::process::exit(1);
    }
}
