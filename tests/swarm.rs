//! `wharf stack` against a real single-node Docker Swarm: a private engine this program starts
//! (swarm mode changes an engine for everyone, so never the shared one), put in swarm mode,
//! removed afterwards whatever happens. Each scenario has a stack of its own; prints
//! `swarm: P/T scenarios pass`. Every command runs under a deadline.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::private_engine::PrivateEngine;

const DEADLINE_S: &str = "180";

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

struct Ctx {
    host: String,
}

impl Ctx {
    fn run(&self, dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new("timeout");
        common::minimal_env(&mut cmd);
        cmd.args(["-k", "5", DEADLINE_S, program])
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null());
        match cmd.output() {
            Ok(o) => Out {
                ok: o.status.success(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Out { ok: false, stdout: String::new(), stderr: e.to_string() },
        }
    }
    fn docker(&self, args: &[&str]) -> Out {
        self.run(Path::new("/"), "docker", args, &[])
    }
    fn lines(&self, args: &[&str]) -> Vec<String> {
        let o = self.docker(args);
        o.stdout.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }
}

/// One scenario's stack: its files in a directory of their own, removed (services, networks,
/// secrets, configs of the stack) when dropped.
struct Stack<'a> {
    ctx: &'a Ctx,
    name: String,
    dir: tempfile::TempDir,
}

impl<'a> Stack<'a> {
    fn new(ctx: &'a Ctx, name: &str, compose: &str) -> Stack<'a> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
        Stack { ctx, name: name.to_string(), dir }
    }
    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
    fn wharf(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.ctx.run(self.dir.path(), env!("CARGO_BIN_EXE_wharf"), args, env)
    }
    fn deploy(&self, extra: &[&str], env: &[(&str, &str)]) -> Result<Out, String> {
        let mut args = vec!["stack", "deploy"];
        args.extend_from_slice(extra);
        args.push(&self.name);
        let o = self.wharf(&args, env);
        if !o.ok {
            return Err(format!("`wharf {}` failed:\n{}{}", args.join(" "), o.stdout, o.stderr));
        }
        Ok(o)
    }
    fn label(&self) -> String {
        format!("label=com.docker.stack.namespace={}", self.name)
    }
    /// Service name → version index.
    fn versions(&self) -> Vec<(String, String)> {
        self.ctx
            .lines(&["service", "ls", "--filter", &self.label(), "--format", "{{.Name}}"])
            .into_iter()
            .map(|s| {
                let v = self.ctx.lines(&["service", "inspect", &s, "--format", "{{.Version.Index}}"]);
                (s, v.join(""))
            })
            .collect()
    }
    fn leftovers(&self) -> Vec<String> {
        let l = self.label();
        let mut out = Vec::new();
        for (kind, args) in [
            ("service", vec!["service", "ls", "-q", "--filter", &l]),
            ("network", vec!["network", "ls", "-q", "--filter", &l]),
            ("secret", vec!["secret", "ls", "-q", "--filter", &l]),
            ("config", vec!["config", "ls", "-q", "--filter", &l]),
        ] {
            out.extend(self.ctx.lines(&args).into_iter().map(|id| format!("{kind} {id}")));
        }
        out
    }
    /// Until no container of the stack runs any more (bounded). Stopped ones may stay: Docker
    /// 20.10 keeps a finished job's task, and its exited container, after the service is gone.
    fn containers_gone(&self) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(60) {
            if self.ctx.lines(&["ps", "-q", "--filter", &self.label()]).is_empty() {
                return true;
            }
            // Polling the engine for the tasks' containers to go.
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        false
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let _ = self.ctx.docker(&["stack", "rm", &self.name]);
        self.containers_gone();
        for id in self.ctx.lines(&["ps", "-aq", "--filter", &self.label()]) {
            let _ = self.ctx.docker(&["rm", "-f", &id]);
        }
        for args in [["network", "ls", "-q"], ["secret", "ls", "-q"], ["config", "ls", "-q"]] {
            for id in self.ctx.lines(&[args[0], args[1], args[2], "--filter", &self.label()]) {
                let _ = self.ctx.docker(&[args[0], "rm", &id]);
            }
        }
    }
}

/// Tasks of `service`: (CreatedAt, Status.Timestamp, State).
fn tasks(ctx: &Ctx, service: &str) -> Vec<(String, String, String)> {
    let ids = ctx.lines(&["service", "ps", "-q", "--no-trunc", service]);
    ids.iter()
        .map(|id| {
            let f = ctx.lines(&["inspect", id, "--format", "{{.CreatedAt.Format \"2006-01-02T15:04:05.000000000Z\"}} {{.Status.Timestamp.Format \"2006-01-02T15:04:05.000000000Z\"}} {{.Status.State}}"]);
            let parts: Vec<String> = f.join("").split(' ').map(str::to_string).collect();
            (parts.first().cloned().unwrap_or_default(), parts.get(1).cloned().unwrap_or_default(), parts.get(2).cloned().unwrap_or_default())
        })
        .collect()
}

// Long-running tasks trap SIGTERM (`trap 'exit 0' TERM; sleep 1000 & wait`): a plain `sleep`
// as PID 1 ignores it, and every stop, update and removal then waits out the 10 s grace period.
const APP: &str = r#"services:
  migrate:
    image: wharf-busybox:latest
    command: ["sh", "-c", "echo migrated"]
    deploy:
      mode: replicated-job
  db:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; sleep 1000 & wait"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      start_period: 10s
    secrets:
      - source: pw
        mode: 0400
    depends_on:
      migrate: {condition: service_completed_successfully}
  api:
    image: wharf-busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    environment:
      LEVEL: ${LEVEL:-one}
    deploy:
      replicas: 2
      update_config: {parallelism: 2, delay: 0s, monitor: 1s}
    depends_on:
      db: {condition: service_healthy}
secrets:
  pw:
    file: ./pw.txt
"#;

type Scenario = fn(&Ctx) -> Result<String, String>;

/// How long each step of a scenario took, for its `ok` line (reported, never asserted).
#[derive(Default)]
struct Took {
    since: Option<std::time::Instant>,
    steps: Vec<(&'static str, f64)>,
}

impl Took {
    fn reset(&mut self) {
        self.since = Some(std::time::Instant::now());
    }
    fn step(&mut self, name: &'static str) {
        let t = self.since.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.steps.push((name, t));
        self.reset();
    }
    fn said(&self) -> String {
        self.steps.iter().map(|(n, t)| format!("{n} {t:.1} s")).collect::<Vec<_>>().join(", ")
    }
}

/// Deploy converges (a job, a healthy service, two replicas after it), in dependency order
/// as the tasks' own times show; `docker stack services|ps` see the stack; a redeploy with
/// nothing changed sends no update; a changed variable rolls only its service; a changed secret
/// makes a new version, moves the service to it and removes the old one; `stack rm` leaves
/// nothing.
fn deploy_lifecycle(ctx: &Ctx) -> Result<String, String> {
    let s = Stack::new(ctx, "life", APP);
    s.write("pw.txt", "first");
    let mut took = Took::default();
    took.reset();
    s.deploy(&[], &[])?;
    took.step("deploy");
    let services = ctx.lines(&["stack", "services", &s.name, "--format", "{{.Name}} {{.Replicas}}"]);
    for want in ["life_api 2/2", "life_db 1/1"] {
        if !services.iter().any(|l| l == want) {
            return Err(format!("`docker stack services` shows {services:?}, not {want}"));
        }
    }
    if ctx.lines(&["stack", "ps", &s.name, "-q"]).len() < 4 {
        return Err("`docker stack ps` does not see the stack's tasks".into());
    }
    // Order: db's first task made after migrate completed; api's after db ran (healthy).
    let migrate = tasks(ctx, "life_migrate");
    let db = tasks(ctx, "life_db");
    let api = tasks(ctx, "life_api");
    let done = migrate.iter().find(|t| t.2 == "complete").map(|t| t.1.clone()).ok_or("migrate did not complete")?;
    let db_first = db.iter().map(|t| t.0.clone()).min().ok_or("no db task")?;
    let db_running = db.iter().filter(|t| t.2 == "running").map(|t| t.1.clone()).min().ok_or("db is not running")?;
    let api_first = api.iter().map(|t| t.0.clone()).min().ok_or("no api task")?;
    if db_first < done || api_first < db_running {
        return Err(format!(
            "dependency order broken: migrate done {done}, db created {db_first}, running {db_running}, api created {api_first}"
        ));
    }
    // No-op redeploy: no service's version moves.
    let before = s.versions();
    took.reset();
    s.deploy(&[], &[])?;
    took.step("no-op");
    if s.versions() != before {
        return Err(format!("a redeploy with nothing changed updated services: {before:?} → {:?}", s.versions()));
    }
    // A changed variable: api rolled, db and migrate untouched.
    took.reset();
    s.deploy(&[], &[("LEVEL", "two")])?;
    took.step("env change");
    let after = s.versions();
    let moved: Vec<&String> = after.iter().filter(|a| !before.contains(a)).map(|(n, _)| n).collect();
    if moved != [&"life_api".to_string()] {
        return Err(format!("LEVEL changed: services updated {moved:?}, expected only life_api"));
    }
    let env =
        ctx.lines(&["service", "inspect", "life_api", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"]);
    if !env.join("").contains("LEVEL=two") {
        return Err(format!("life_api's env after the update: {env:?}"));
    }
    // A changed secret: a new version, the old one removed, the container reads the new value.
    let old = ctx.lines(&["secret", "ls", "--filter", &s.label(), "--format", "{{.Name}}"]);
    s.write("pw.txt", "second");
    took.reset();
    s.deploy(&[], &[("LEVEL", "two")])?;
    took.step("secret change");
    let new = ctx.lines(&["secret", "ls", "--filter", &s.label(), "--format", "{{.Name}}"]);
    if new.len() != 1 || new == old {
        return Err(format!("secrets before {old:?}, after {new:?}: expected one new version"));
    }
    let db_container = ctx.lines(&["ps", "-q", "--filter", "label=com.docker.swarm.service.name=life_db"]);
    let read = ctx.docker(&["exec", db_container.first().map(String::as_str).unwrap_or(""), "cat", "/run/secrets/pw"]);
    if read.stdout.trim() != "second" {
        return Err(format!("the db reads {:?} from its secret", read.stdout.trim()));
    }
    // wharf's rm leaves nothing of the stack.
    took.reset();
    let rm = s.wharf(&["stack", "rm", &s.name], &[]);
    took.step("rm");
    if !rm.ok {
        return Err(format!("`wharf stack rm` failed: {}", rm.stderr));
    }
    let left = s.leftovers();
    if !left.is_empty() {
        return Err(format!("left after `wharf stack rm`: {left:?}"));
    }
    Ok(format!("{} services, no-op redeploy sent nothing; {}", services.len(), took.said()))
}

/// `--prune` removes a service the file no longer has; without it the service stays.
fn prune(ctx: &Ctx) -> Result<String, String> {
    let two = "services:\n  a:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n  b:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n";
    let s = Stack::new(ctx, "prune", two);
    s.deploy(&[], &[])?;
    s.write("compose.yaml", "services:\n  a:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n");
    s.deploy(&[], &[])?;
    if s.versions().len() != 2 {
        return Err("a deploy without --prune removed a service".into());
    }
    s.deploy(&["--prune"], &[])?;
    let names: Vec<String> = s.versions().into_iter().map(|(n, _)| n).collect();
    if names != ["prune_a"] {
        return Err(format!("after --prune: {names:?}"));
    }
    Ok(String::new())
}

/// A service whose tasks keep failing: the deploy fails, naming it, the exit code and its
/// last output.
fn failing_service(ctx: &Ctx) -> Result<String, String> {
    let compose = "services:\n  bad:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"echo boom-said-the-task; exit 3\"]\n    deploy:\n      restart_policy: {condition: on-failure, delay: 100ms}\n";
    let s = Stack::new(ctx, "failing", compose);
    let o = s.wharf(&["stack", "deploy", &s.name], &[]);
    if o.ok {
        return Err("deploying a service that exits 3 succeeded".into());
    }
    for want in ["failing_bad", "(3)", "boom-said-the-task"] {
        if !o.stderr.contains(want) {
            return Err(format!("the error does not say `{want}`:\n{}", o.stderr));
        }
    }
    Ok(o.stderr.lines().find(|l| l.contains("failing_bad")).unwrap_or("").to_string())
}

/// A stack the docker CLI deployed: wharf converges it in place (same services, no duplicates),
/// and `docker stack rm` removes a wharf stack.
fn interop(ctx: &Ctx) -> Result<String, String> {
    let compose = "version: \"3.8\"\nservices:\n  web:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n    deploy:\n      replicas: 2\n";
    let s = Stack::new(ctx, "interop", compose);
    let mut took = Took::default();
    took.reset();
    let cli = ctx.run(s.dir.path(), "docker", &["stack", "deploy", "-c", "compose.yaml", &s.name], &[]);
    if !cli.ok {
        return Err(format!("docker stack deploy failed: {}", cli.stderr));
    }
    took.step("docker stack deploy");
    let id_before = ctx.lines(&["service", "ls", "-q", "--filter", &s.label()]);
    took.reset();
    s.deploy(&["-c", "compose.yaml"], &[])?;
    took.step("wharf stack deploy");
    let id_after = ctx.lines(&["service", "ls", "-q", "--filter", &s.label()]);
    if id_before != id_after || id_after.len() != 1 {
        return Err(format!("services before {id_before:?}, after {id_after:?}: expected the same one"));
    }
    took.reset();
    let rm = ctx.docker(&["stack", "rm", &s.name]);
    took.step("docker stack rm");
    let gone = s.containers_gone();
    took.step("its containers gone");
    if !rm.ok || !gone {
        return Err(format!("`docker stack rm` of the wharf stack: {}", rm.stderr));
    }
    Ok(took.said())
}

/// `--dry-run` prints the plan and changes nothing.
fn dry_run(ctx: &Ctx) -> Result<String, String> {
    let s = Stack::new(
        ctx,
        "dry",
        "services:\n  a:\n    image: wharf-busybox:latest\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n    privileged: true\n",
    );
    let o = s.wharf(&["--dry-run", "stack", "deploy", &s.name], &[]);
    if !o.ok {
        return Err(format!("dry run failed: {}", o.stderr));
    }
    for want in ["create network dry_default (dry run)", "create service dry_a (dry run)"] {
        if !o.stdout.contains(want) {
            return Err(format!("the plan does not say `{want}`:\n{}", o.stdout));
        }
    }
    if !o.stderr.contains("compose.yaml:5:5") || !o.stderr.contains("services.a.privileged") {
        return Err(format!("the unsupported key is not named with its place:\n{}", o.stderr));
    }
    if !s.leftovers().is_empty() {
        return Err(format!("a dry run created {:?}", s.leftovers()));
    }
    let strict = s.wharf(&["stack", "deploy", "--strict", &s.name], &[]);
    if strict.ok || !s.leftovers().is_empty() {
        return Err("--strict deployed a file with a key Swarm cannot express".into());
    }
    Ok(String::new())
}

const SCENARIOS: &[(&str, Scenario)] = &[
    ("deploy-lifecycle", deploy_lifecycle),
    ("prune", prune),
    ("failing-service", failing_service),
    ("interop-docker-stack", interop),
    ("dry-run-and-strict", dry_run),
];

fn main() {
    let only = std::env::var("WHARF_SWARM_ONLY").unwrap_or_default();
    common::require_test_image();
    // Not a manager: the machine's engine is not in a swarm; nothing changes there.
    let here = tempfile::tempdir().unwrap();
    std::fs::write(here.path().join("compose.yaml"), "services:\n  a:\n    image: wharf-busybox:latest\n").unwrap();
    let mut failed = Vec::new();
    let mut total = 1;
    let o = Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_wharf"), "stack", "deploy", "notaswarm"])
        .current_dir(here.path())
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() || !err.contains("not a swarm manager") || !err.contains("docker swarm init") {
        println!("not-a-manager ... FAILED: {err}");
        failed.push("not-a-manager".to_string());
    } else {
        println!("not-a-manager ... ok");
    }
    let started = std::time::Instant::now();
    let engine = match PrivateEngine::start("swarm") {
        Ok(e) => e,
        Err(why) => panic!("cannot start a private engine: {why}"),
    };
    let ctx = Ctx { host: engine.host() };
    let init = ctx.docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    assert!(init.ok, "swarm init failed: {}", init.stderr);
    println!("private engine started and swarm initialised in {:.1} s", started.elapsed().as_secs_f64());
    for (name, scenario) in SCENARIOS.iter().filter(|(n, _)| n.contains(&only)) {
        total += 1;
        let started = std::time::Instant::now();
        match scenario(&ctx) {
            Ok(said) => println!("{name} ... ok ({:.1} s) {said}", started.elapsed().as_secs_f64()),
            Err(why) => {
                println!("{name} ... FAILED: {why}");
                failed.push(name.to_string());
            }
        }
    }
    drop(engine);
    println!("swarm: {}/{total} scenarios pass", total - failed.len());
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
