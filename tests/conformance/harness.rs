//! The runtime scenario player: parses the scenario files and plays their steps against the tool
//! under test (wharf, or compose v2), checking what a user or the engine can observe.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long one command may take; a background command or a wait gets the same.
const DEADLINE_S: u32 = 120;

pub struct Scenario {
    pub name: String,
    files: Vec<(String, String)>,
    steps: Vec<String>,
}

pub fn scenarios() -> Vec<Scenario> {
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

pub fn runner_is_compose() -> bool {
    std::env::var("WHARF_RUNTIME_RUNNER").as_deref() == Ok("compose")
}

/// The tool under test: wharf, or compose v2.
fn tool() -> Vec<String> {
    if runner_is_compose() { vec!["docker".into(), "compose".into()] } else { vec![env!("CARGO_BIN_EXE_wharf").into()] }
}

#[derive(Default)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A command's environment: only PATH, HOME and the docker CLI's configuration are inherited,
/// then what the scenario exported.
fn command(program: &[String], args: &[String], dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).args(args).current_dir(dir);
    crate::common::minimal_env(&mut cmd);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Runs a command to its end under a deadline (`timeout`), with `stdin` as its input.
fn run_with(program: &[String], args: &[String], dir: &Path, env: &[(String, String)], stdin: Option<&str>) -> Outcome {
    let mut full = vec!["timeout".to_string(), "-k".into(), "5".into(), DEADLINE_S.to_string()];
    full.extend(program.iter().cloned());
    let mut cmd = command(&full, args, dir, env);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome { code: -1, stdout: String::new(), stderr: format!("cannot run {program:?}: {e}") },
    };
    let mut child = child;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        let _ = input.write_all(text.as_bytes());
    }
    match child.wait_with_output() {
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
    run_with(&["docker".to_string()], &args, dir, &[], None)
}

/// Removes everything of `project`, whatever state it is in: what carries its label, and what a
/// scenario made by hand under a name starting with it (external volumes and networks, images).
fn clean(project: &str, dir: &Path) {
    let label = format!("label=com.docker.compose.project={project}");
    let name = format!("name={project}");
    let mut ids: Vec<String> = Vec::new();
    for filter in [&label, &name] {
        ids.extend(docker(&["ps", "-aq", "--filter", filter], dir).stdout.split_whitespace().map(String::from));
    }
    ids.sort();
    ids.dedup();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids.iter().map(String::as_str));
        docker(&args, dir);
    }
    for kind in ["network", "volume"] {
        for filter in [&label, &name] {
            let names = docker(&[kind, "ls", "-q", "--filter", filter], dir).stdout;
            for n in names.split_whitespace() {
                docker(&[kind, "rm", n], dir);
            }
        }
    }
    // The project's images, and those named for a registry (`127.0.0.1:5000/PROJECT-…`).
    for reference in [format!("reference={project}*"), format!("reference=*/{project}*")] {
        let images =
            docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "--filter", &reference], dir).stdout;
        for i in images.split_whitespace() {
            docker(&["image", "rm", "-f", i], dir);
        }
    }
}

/// The project's containers of one service: (name, id, container number), one-offs apart.
fn containers(
    project: &str,
    service: &str,
    oneoff: bool,
    status: Option<&str>,
    dir: &Path,
) -> Vec<(String, String, u32)> {
    let p = format!("label=com.docker.compose.project={project}");
    let s = format!("label=com.docker.compose.service={service}");
    let o = format!("label=com.docker.compose.oneoff={}", if oneoff { "True" } else { "False" });
    let format = "{{.Names}} {{.ID}} {{.Label \"com.docker.compose.container-number\"}}";
    let mut args = vec!["ps", "-a", "--no-trunc", "--filter", &p, "--filter", &s, "--filter", &o, "--format", format];
    let st = status.map(|st| format!("status={st}"));
    if let Some(st) = &st {
        args.extend(["--filter", st.as_str()]);
    }
    docker(&args, dir)
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string(), w.next().and_then(|n| n.parse().ok()).unwrap_or(0)))
        })
        .collect()
}

fn inspect(what: &str, name: &str, dir: &Path) -> String {
    docker(&["inspect", "--format", what, name], dir).stdout.trim().to_string()
}

/// Waits, without polling, until the engine has removed container `name` (or says it has none).
fn wait_removed(name: &str) -> Result<(), String> {
    let mut s = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(DEADLINE_S.into()))).map_err(|e| e.to_string())?;
    let req = format!("POST /containers/{name}/wait?condition=removed HTTP/1.0\r\nHost: docker\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| format!("no answer from the engine: {e}"))?;
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    match status {
        "200" | "404" => Ok(()),
        _ => Err(format!("the engine answered {}", answer.lines().next().unwrap_or(""))),
    }
}

/// A command left running in the background (`&`), in a process group of its own so that a
/// signal reaches it as a terminal's Ctrl-C would; its output is collected as it comes.
struct Background {
    pid: i32,
    output: Arc<(Mutex<(String, String)>, Condvar)>,
    exit: mpsc::Receiver<i32>,
    ended: bool,
}

impl Background {
    fn start(mut cmd: Command) -> Result<Background, String> {
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child: Child = cmd.spawn().map_err(|e| e.to_string())?;
        let pid = child.id() as i32;
        let output = Arc::new((Mutex::new((String::new(), String::new())), Condvar::new()));
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        let mut readers = Vec::new();
        for (i, stream) in streams.into_iter().enumerate() {
            let Some(mut stream) = stream else { continue };
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let (lock, cv) = &*output;
                    let mut o = lock.lock().unwrap();
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if i == 0 {
                        o.0.push_str(&text)
                    } else {
                        o.1.push_str(&text)
                    }
                    cv.notify_all();
                }
            }));
        }
        let (tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
            for r in readers {
                let _ = r.join();
            }
            let _ = tx.send(status);
        });
        Ok(Background { pid, output, exit, ended: false })
    }

    /// Waits until the combined output holds `text`.
    fn wait_for(&self, text: &str) -> Result<(), String> {
        let (lock, cv) = &*self.output;
        let deadline = Instant::now() + Duration::from_secs(DEADLINE_S.into());
        let mut o = lock.lock().unwrap();
        while !o.0.contains(text) && !o.1.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no `{text}` in:\n{}\n{}", o.0, o.1));
            }
            o = cv.wait_timeout(o, left).unwrap().0;
        }
        Ok(())
    }

    fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(-self.pid, sig);
        }
    }

    /// Waits for the command's end: its exit code and output.
    fn reap(mut self) -> Result<Outcome, String> {
        let code = match self.exit.recv_timeout(Duration::from_secs(DEADLINE_S.into())) {
            Ok(code) => code,
            Err(_) => return Err(format!("the background command did not end within {DEADLINE_S} s")),
        };
        self.ended = true;
        let o = self.output.0.lock().unwrap();
        Ok(Outcome { code, stdout: o.0.clone(), stderr: o.1.clone() })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if !self.ended {
            self.signal(libc::SIGKILL);
        }
    }
}

/// The state of a scenario being played.
struct Play<'a> {
    project: &'a str,
    dir: PathBuf,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    last: Outcome,
    remembered: HashMap<String, String>,
    background: Option<Background>,
}

/// What exit a command must have.
#[derive(Clone, Copy)]
enum Exit {
    Code(i32),
    Failure,
    Any,
}

/// Parses an exit expectation: `$` (0), `$? N`, `$? *` (any), `$!` (any failure), and the same
/// for `docker`.
fn expectation<'w>(words: &'w [&'w str]) -> (Exit, &'w [&'w str]) {
    let head = words[0];
    if head.ends_with('!') {
        (Exit::Failure, &words[1..])
    } else if head.ends_with('?') {
        let exit = match words.get(1) {
            Some(&"*") => Exit::Any,
            n => n.and_then(|n| n.parse().ok()).map(Exit::Code).unwrap_or(Exit::Failure),
        };
        (exit, words.get(2..).unwrap_or(&[]))
    } else {
        (Exit::Code(0), &words[1..])
    }
}

impl Play<'_> {
    fn container(&self, svc: &str, idx: &str) -> String {
        format!("{}-{svc}-{idx}", self.project)
    }

    fn check_exit(&self, expect: Exit) -> Result<(), String> {
        let ok = match expect {
            Exit::Code(code) => self.last.code == code,
            Exit::Failure => self.last.code != 0,
            Exit::Any => true,
        };
        if ok {
            return Ok(());
        }
        Err(format!(
            "exit {} (expected {})\nstdout: {}\nstderr: {}",
            self.last.code,
            match expect {
                Exit::Code(c) => c.to_string(),
                _ => "non-zero".into(),
            },
            self.last.stdout.trim(),
            self.last.stderr.trim()
        ))
    }

    fn tool_args(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["-p".to_string(), self.project.to_string()];
        full.extend(shell_words(&args.join(" ")));
        full
    }

    fn step(&mut self, step: &str) -> Result<(), String> {
        let words: Vec<&str> = step.split_whitespace().collect();
        let d = self.dir.clone();
        let rest_after = |n: usize| step.splitn(n + 1, ' ').nth(n).unwrap_or("").to_string();
        match words.as_slice() {
            ["$" | "$?" | "$!", ..] => {
                let (expect, args) = expectation(&words);
                let stdin = self.stdin.take();
                self.last = run_with(&tool(), &self.tool_args(args), &self.cwd, &self.env, stdin.as_deref());
                self.check_exit(expect)?;
            }
            ["docker" | "docker?" | "docker!", ..] => {
                let (expect, args) = expectation(&words);
                let args = shell_words(&args.join(" "));
                self.last = run_with(&["docker".to_string()], &args, &self.cwd, &[], None);
                self.check_exit(expect)?;
            }
            ["&", args @ ..] => {
                if self.background.is_some() {
                    return Err("a background command is already running".into());
                }
                let cmd = command(&tool(), &self.tool_args(args), &self.cwd, &self.env);
                self.background = Some(Background::start(cmd)?);
            }
            ["await", ..] => {
                let text = rest_after(1);
                self.background.as_ref().ok_or("no background command")?.wait_for(&text)?;
            }
            ["signal", sig] => {
                let sig = match *sig {
                    "INT" => libc::SIGINT,
                    "TERM" => libc::SIGTERM,
                    "HUP" => libc::SIGHUP,
                    other => return Err(format!("unknown signal {other}")),
                };
                self.background.as_ref().ok_or("no background command")?.signal(sig);
            }
            ["reap", rest @ ..] => {
                // `reap` expects exit 0, `reap N` exit N, `reap !` any failure.
                let bg = self.background.take().ok_or("no background command")?;
                self.last = bg.reap()?;
                let expect = match rest {
                    [] => Exit::Code(0),
                    ["!"] => Exit::Failure,
                    ["*"] => Exit::Any,
                    [n] => Exit::Code(n.parse().map_err(|_| format!("not an exit code: {n}"))?),
                    _ => return Err("reap takes one exit code".into()),
                };
                self.check_exit(expect)?;
            }
            ["export", kv] => {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                self.env.retain(|(name, _)| name != k);
                self.env.push((k.to_string(), v.to_string()));
            }
            ["export", k, ..] if k.contains('=') => {
                let kv = rest_after(1);
                let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                let k = k.to_string();
                self.env.retain(|(name, _)| *name != k);
                self.env.push((k, v.to_string()));
            }
            ["unset", k] => self.env.retain(|(name, _)| name != k),
            ["stdin", ..] => self.stdin = Some(format!("{}\n", rest_after(1))),
            ["cd", sub] => self.cwd = self.dir.join(sub),
            [stream @ ("stdout" | "stderr" | "output"), op @ ("~" | "!~"), ..] => {
                let text = step.split_once(op).map(|(_, t)| t.trim()).unwrap_or("");
                let text = text.replace("\\n", "\n");
                let hay = match *stream {
                    "stdout" => self.last.stdout.clone(),
                    "stderr" => self.last.stderr.clone(),
                    _ => format!("{}\n{}", self.last.stdout, self.last.stderr),
                };
                if hay.contains(&text) != (*op == "~") {
                    return Err(format!("{stream} was:\n{hay}"));
                }
            }
            [stream @ ("stdout" | "stderr"), "lines", n] => {
                let hay = if *stream == "stdout" { &self.last.stdout } else { &self.last.stderr };
                let got = hay.lines().filter(|l| !l.trim().is_empty()).count();
                if got.to_string() != *n {
                    return Err(format!("{got} lines:\n{hay}"));
                }
            }
            ["count", ..] if step.contains(" ~ ") => {
                // `count N ~ TEXT`: the combined output holds TEXT exactly N times.
                let (head, text) = step.split_once(" ~ ").unwrap_or((step, ""));
                let n = head.split_whitespace().nth(1).unwrap_or("");
                let hay = format!("{}\n{}", self.last.stdout, self.last.stderr);
                let got = hay.matches(text.trim()).count();
                if got.to_string() != n {
                    return Err(format!("`{}` {got} times in:\n{hay}", text.trim()));
                }
            }
            [kind @ ("count" | "oneoffs"), svc, n, status @ ..] => {
                let got = containers(self.project, svc, *kind == "oneoffs", status.first().copied(), &d).len();
                if got.to_string() != *n {
                    return Err(format!("{got} containers"));
                }
            }
            ["numbers", svc, want @ ..] => {
                let mut got: Vec<u32> = containers(self.project, svc, false, None, &d).iter().map(|c| c.2).collect();
                got.sort();
                let got: Vec<String> = got.iter().map(u32::to_string).collect();
                if got != *want {
                    return Err(format!("replica numbers {got:?}"));
                }
            }
            ["state", svc, idx, want] => {
                let got = inspect("{{.State.Status}}", &self.container(svc, idx), &d);
                if got != *want {
                    return Err(format!("state `{got}`"));
                }
            }
            ["state-of", name, want] => {
                let got = inspect("{{.State.Status}}", name, &d);
                if got != *want {
                    return Err(format!("state `{got}`"));
                }
            }
            ["exited", svc, idx, code] => {
                let got = docker(&["wait", &self.container(svc, idx)], &d);
                if got.stdout.trim() != *code {
                    return Err(format!("exit code `{}` {}", got.stdout.trim(), got.stderr.trim()));
                }
            }
            ["gone", name] => wait_removed(name)?,
            ["health", svc, idx, want] => {
                let got = inspect("{{.State.Health.Status}}", &self.container(svc, idx), &d);
                if got != *want {
                    return Err(format!("health `{got}`"));
                }
            }
            ["env" | "noenv", svc, idx, _, ..] => {
                let kv = rest_after(3);
                let got = inspect("{{json .Config.Env}}", &self.container(svc, idx), &d);
                let env: Vec<String> = serde_json::from_str(&got).unwrap_or_default();
                let has = if kv.contains('=') {
                    env.iter().any(|e| e.as_str() == kv)
                } else {
                    env.iter().any(|e| e.split('=').next() == Some(kv.as_str()))
                };
                if has != (words[0] == "env") {
                    return Err(format!("environment {env:?}"));
                }
            }
            ["label", svc, idx, _, ..] => {
                let kv = rest_after(3);
                let got = inspect("{{json .Config.Labels}}", &self.container(svc, idx), &d);
                let labels: std::collections::BTreeMap<String, String> = serde_json::from_str(&got).unwrap_or_default();
                let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                if labels.get(k).map(String::as_str) != Some(v) {
                    return Err(format!("label {k} is {:?}", labels.get(k)));
                }
            }
            [kind @ ("volume" | "network"), name, want @ ("present" | "absent")] => {
                let present = docker(&[kind, "inspect", &format!("{}_{name}", self.project)], &d).code == 0;
                if present != (*want == "present") {
                    return Err(format!("the {kind} is {}", if present { "present" } else { "absent" }));
                }
            }
            ["inspect", ..] => {
                // `inspect NAME FORMAT VALUE`, quoted as a shell would.
                let w = shell_words(&rest_after(1));
                let [name, format, want @ ..] = w.as_slice() else { return Err("inspect NAME FORMAT VALUE".into()) };
                let want = want.join(" ");
                let got = inspect(format, name, &d);
                if got != want {
                    return Err(format!("`{format}` is `{got}`"));
                }
            }
            [kind @ ("container" | "image"), name, want @ ("present" | "absent")] => {
                let out = docker(&[kind, "inspect", name], &d);
                let present = out.code == 0;
                if present != (*want == "present") {
                    let state = if present { "present" } else { "absent" };
                    return Err(format!("the {kind} is {state}: {}", out.stderr.trim()));
                }
            }
            ["file", path, "present" | "absent"] => {
                let present = self.dir.join(path).exists();
                if present != (words[2] == "present") {
                    return Err(format!("the file is {}", if present { "present" } else { "absent" }));
                }
            }
            ["file", path, "~", ..] => {
                let text = rest_after(3);
                let body = std::fs::read_to_string(self.dir.join(path)).map_err(|e| e.to_string())?;
                if !body.contains(&text) {
                    return Err(format!("the file holds:\n{body}"));
                }
            }
            ["write", path, ..] => {
                // `write PATH TEXT`: the file under the scenario's directory now holds TEXT.
                let p = self.dir.join(path);
                std::fs::write(&p, format!("{}\n", rest_after(2))).map_err(|e| e.to_string())?;
            }
            ["until", svc, idx, ..] if step.contains(" ~ ") => {
                // `until SERVICE N CMD… ~ TEXT`: exec CMD in the replica until its output holds
                // TEXT (an engine condition polled under the deadline, as `watch` syncs late).
                let (head, text) = step.split_once(" ~ ").unwrap_or((step, ""));
                let cmd: Vec<String> = shell_words(head).into_iter().skip(3).collect();
                let name = self.container(svc, idx);
                let mut args = vec!["exec".to_string(), name];
                args.extend(cmd);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let started = Instant::now();
                loop {
                    let out = docker(&args, &d);
                    if out.stdout.contains(text.trim()) {
                        break;
                    }
                    if started.elapsed() > Duration::from_secs(DEADLINE_S.into()) {
                        return Err(format!("after {DEADLINE_S} s the output is:\n{}{}", out.stdout, out.stderr));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            ["remember"] => {
                let p = format!("label=com.docker.compose.project={}", self.project);
                let out = docker(&["ps", "-a", "--no-trunc", "--filter", &p, "--format", "{{.Names}} {{.ID}}"], &d);
                self.remembered = out
                    .stdout
                    .lines()
                    .filter_map(|l| l.split_once(' ').map(|(n, i)| (n.to_string(), i.to_string())))
                    .collect();
            }
            [kind @ ("same" | "recreated"), svc, idx] => {
                let name = self.container(svc, idx);
                let before = self.remembered.get(&name).ok_or(format!("`{name}` was not remembered"))?;
                let now = inspect("{{.Id}}", &name, &d);
                if (now == *before) != (*kind == "same") {
                    return Err(format!("`{name}` was {before}, is now `{now}`"));
                }
            }
            _ => return Err("unknown step".into()),
        }
        Ok(())
    }
}

/// Runs one scenario; `Err` says which step failed and why.
pub fn play(s: &Scenario, project: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path().to_path_buf();
    let expand = |t: &str| t.replace("$PROJECT", project).replace("$DIR", &d.to_string_lossy());
    for (path, body) in &s.files {
        let p = d.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, expand(body)).map_err(|e| e.to_string())?;
    }
    let mut play = Play {
        project,
        dir: d.clone(),
        cwd: d.clone(),
        env: Vec::new(),
        stdin: None,
        last: Outcome::default(),
        remembered: HashMap::new(),
        background: None,
    };
    let mut result = Ok(());
    for step in &s.steps {
        let step = expand(step);
        if let Err(why) = play.step(&step) {
            result = Err(format!("step `{step}`: {why}"));
            break;
        }
    }
    if result.is_ok() && play.background.is_some() {
        result = Err("the background command was not reaped".into());
    }
    drop(play);
    clean(project, &d);
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
