//! What a test command run against a stack is told (`wharf test -- CMD`, or a test suite using
//! [`crate::stack::Stack::environment`]): `COMPOSE_PROJECT_NAME`, and for each published port
//! of each service's first container `WHARF_HOST_<SERVICE>` and
//! `WHARF_PORT_<SERVICE>_<CONTAINERPORT>` (names upper-cased, other characters as `_`; other
//! protocols than tcp get a suffix, `_UDP`).

use std::collections::BTreeMap;

use super::Error;
use super::up::UpRequest;
use crate::engine::{ContainerInfo, Engine, EngineError, State};
use crate::model::Project;
use crate::model::labels::{NUMBER, SERVICE};
use crate::progress::Report;
use crate::scheduler::DownOptions;

/// `wharf test -- CMD`, resolved.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Seconds to wait for the stack to be ready.
    pub wait_timeout: u64,
    /// Take the project's lock for this endpoint.
    pub lock: Option<String>,
    /// The engine records writes instead of making them: the command is not run either.
    pub dry_run: bool,
    pub report: Report,
}

/// How the test command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// A dry run: the command was not run; it would have been told this many variables.
    DryRun { variables: usize },
    /// Its exit code (130 after SIGINT or SIGTERM) and, when it failed, what went wrong inside:
    /// each container that exited or is unhealthy, its status and last lines.
    Exited { code: i64, failed: Vec<(String, String, String)> },
}

/// Converges `project`, waits until it is ready, and runs the command with the stack's
/// variables ([`environment`]). Not on a terminal (CI), the command gets a process group of
/// its own, whose number is written to `reaper_stdin` so the reaper can kill everything it
/// started if wharf dies; on a terminal it stays in the foreground group (it may read the
/// keyboard) and dies with wharf. SIGINT and SIGTERM kill it.
pub async fn run<E: Engine>(
    engine: &E,
    project: &Project,
    req: &TestRequest,
    reaper_stdin: Option<&mut std::process::ChildStdin>,
) -> Result<Ran, Error> {
    let dry = req.dry_run;
    let up = UpRequest {
        environment: std::env::vars().collect(),
        ensure_images: !dry,
        lock: req.lock.clone(),
        report: req.report.clone(),
        ..UpRequest::detached_wait(&[], Some(req.wait_timeout))
    };
    super::up::up(engine, project, &up).await?;
    let env = environment(engine, project).await?;
    if dry {
        return Ok(Ran::DryRun { variables: env.len() });
    }
    run_command(engine, &project.name, &env, &req.cmd, reaper_stdin).await
}

/// Runs `cmd` with `env` (what [`environment`] gives) against the running project `name`, as
/// [`run`] does once the stack is ready.
pub async fn run_command<E: Engine>(
    engine: &E,
    name: &str,
    env: &BTreeMap<String, String>,
    cmd: &[String],
    reaper_stdin: Option<&mut std::process::ChildStdin>,
) -> Result<Ran, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let Some((program, args)) = cmd.split_first() else {
        return Ok(Ran::Exited { code: 0, failed: Vec::new() });
    };
    use std::io::IsTerminal;
    let own_group = !std::io::stdin().is_terminal();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).envs(env);
    if own_group {
        cmd.process_group(0);
    } else {
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let failed = |reason: std::io::Error| Error::Command { command: program.clone(), reason: reason.to_string() };
    let mut child = cmd.spawn().map_err(failed)?;
    let group = child.id().filter(|_| own_group).map(|p| p as i32);
    if let (Some(pgid), Some(stdin)) = (group, reaper_stdin) {
        use std::io::Write;
        let _ = writeln!(stdin, "{pgid}");
    }
    let kill_all = |child: &mut tokio::process::Child| match group {
        // SAFETY: kill(2) on the command's own process group.
        Some(pgid) => unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        },
        None => {
            let _ = child.start_kill();
        }
    };
    let mut sigint = signal(SignalKind::interrupt()).map_err(failed)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(failed)?;
    let code = tokio::select! {
        st = child.wait() => st.map(|s| s.code().unwrap_or(1) as i64).unwrap_or(1),
        _ = sigint.recv() => { kill_all(&mut child); let _ = child.wait().await; 130 }
        _ = sigterm.recv() => { kill_all(&mut child); let _ = child.wait().await; 130 }
    };
    let mut failed = Vec::new();
    if code != 0 {
        let list = engine.list_containers(name).await.unwrap_or_default();
        for c in list.iter().filter(|c| c.state != State::Running || c.status.contains("unhealthy")) {
            let lines = crate::scheduler::readiness::last_lines(engine, &c.id, 10).await;
            failed.push((c.name.clone(), c.status.clone(), lines));
        }
    }
    Ok(Ran::Exited { code, failed })
}

/// Removes a test stack: containers, networks and volumes, orphans included.
pub async fn teardown<E: Engine>(engine: &E, project: &Project, report: &Report) -> Result<(), Error> {
    let opts = DownOptions { volumes: true, remove_orphans: true, timeout: Some(3), rmi: None };
    Ok(crate::scheduler::down(engine, project, &opts, report).await?)
}

/// `NAME` upper-cased with every non-alphanumeric turned into `_`.
pub fn env_key(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The variables for `project` as it runs now.
pub async fn environment<E: Engine>(engine: &E, project: &Project) -> Result<BTreeMap<String, String>, EngineError> {
    let list = engine.list_containers(&project.name).await?;
    Ok(environment_of(&project.name, &list))
}

/// [`environment`] of the project `name` from its containers as listed.
pub fn environment_of(name: &str, list: &[ContainerInfo]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("COMPOSE_PROJECT_NAME".into(), name.to_string());
    for c in list.iter().filter(|c| c.label(NUMBER) == Some("1")) {
        let svc = env_key(c.label(SERVICE).unwrap_or(""));
        for p in &c.ports {
            let Some(public) = p.public else { continue };
            let host = match p.ip.as_deref() {
                None | Some("") | Some("0.0.0.0") | Some("::") => "127.0.0.1",
                Some(ip) => ip,
            };
            env.entry(format!("WHARF_HOST_{svc}")).or_insert_with(|| host.to_string());
            let key = match p.protocol.as_str() {
                "tcp" => format!("WHARF_PORT_{svc}_{}", p.private),
                proto => format!("WHARF_PORT_{svc}_{}_{}", p.private, env_key(proto)),
            };
            env.entry(key).or_insert_with(|| public.to_string());
        }
    }
    env
}

/// Warnings for ports published on a fixed host port: parallel runs of one file collide.
pub fn fixed_port_warnings(project: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        for p in svc.ports.iter().filter(|p| p.published.as_deref().is_some_and(|x| !x.is_empty())) {
            out.push(format!(
                "service `{name}` publishes the fixed host port {}: parallel test runs of this file will collide; write `\"{}\"` for an ephemeral port",
                p.published.as_deref().unwrap_or(""),
                p.target
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_become_variable_names() {
        assert_eq!(env_key("my-web.1"), "MY_WEB_1");
        assert_eq!(env_key("udp"), "UDP");
    }
}
