//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause` (on the containers that exist)
//! and `ls` (the projects on the engine).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;

use crate::cli::context::{CliEngine, runtime};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{ContainerInfo, Engine, State};
use crate::model::Project;
use crate::model::labels::{CONFIG_FILES, PROJECT};
use crate::scheduler::verbs;

#[derive(Debug, Args)]
pub struct ServicesArgs {
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<i64>,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<i64>,
    /// Don't restart dependent services
    #[arg(long)]
    pub no_deps: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the compose file
    #[arg(long)]
    pub remove_orphans: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    pub all: bool,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output (table|json)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Filter output based on conditions provided (`name=NAME`)
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// Loads the project, checks the named services exist, takes the lock, and runs `f` with the
/// engine and the project's containers of those services.
fn on_containers<F, Fut>(g: &GlobalArgs, services: &[String], f: F) -> Result<ExitCode, CliError>
where
    F: FnOnce(CliEngine, Project, Vec<ContainerInfo>) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    on_selected(g, services, false, f)
}

/// [`on_containers`]; with `dependencies`, the named services' dependencies are selected too
/// (`start web` starts the stopped services web depends on, as compose does).
fn on_selected<F, Fut>(g: &GlobalArgs, services: &[String], dependencies: bool, f: F) -> Result<ExitCode, CliError>
where
    F: FnOnce(CliEngine, Project, Vec<ContainerInfo>) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    // The loader refuses services that do not exist.
    let project = g.load(services, false)?.project;
    let _lock = g.lock(&project.name)?;
    let services: Vec<String> = if dependencies && !services.is_empty() {
        crate::graph::Graph::new(&project).with_dependencies(services).into_iter().collect()
    } else {
        services.to_vec()
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let all = engine.list_containers(&project.name).await?;
        let targets = verbs::targets(&project, all, &services);
        f(engine, project, targets).await?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn start(g: &GlobalArgs, a: &ServicesArgs) -> Result<ExitCode, CliError> {
    on_selected(g, &a.service, true, |e, p, list| async move {
        if list.is_empty() {
            return Err(CliError::Message {
                message: format!("project `{}` has no container to start", p.name),
                hint: Some("create them with `wharf up -d` (or `wharf create`)".into()),
                code: 1,
            });
        }
        let list: Vec<ContainerInfo> = list.into_iter().filter(|c| c.state != State::Running).collect();
        verbs::start(&e, &p, list, &g.report()).await.map_err(CliError::from)
    })
}

pub fn stop(g: &GlobalArgs, a: &StopArgs) -> Result<ExitCode, CliError> {
    on_containers(g, &a.service, |e, p, list| async move {
        verbs::stop(&e, &p, list, a.timeout, &g.report()).await.map_err(CliError::from)
    })
}

pub fn restart(g: &GlobalArgs, a: &RestartArgs) -> Result<ExitCode, CliError> {
    // Like compose: the named services and, unless --no-deps, the services that depend on them.
    let services = if a.no_deps || a.service.is_empty() {
        a.service.clone()
    } else {
        crate::ops::lifecycle::restart_set(&g.load(&a.service, false)?.project, &a.service, false)
    };
    on_containers(g, &services, |e, p, list| async move {
        verbs::stop(&e, &p, list.clone(), a.timeout, &g.report()).await?;
        // Everything is stopped now; start them all again in dependency order.
        let stopped = list.into_iter().map(|c| ContainerInfo { state: State::Exited, ..c }).collect();
        verbs::start(&e, &p, stopped, &g.report()).await.map_err(CliError::from)
    })
}

pub fn kill(g: &GlobalArgs, a: &KillArgs) -> Result<ExitCode, CliError> {
    on_containers(g, &a.service, |e, p, list| async move {
        verbs::kill(&e, list, &a.signal, &g.report()).await?;
        if a.remove_orphans {
            let all = e.list_containers(&p.name).await?;
            let orphans: Vec<ContainerInfo> = all
                .into_iter()
                .filter(|c| !p.services.contains_key(c.label(crate::model::labels::SERVICE).unwrap_or("")))
                .collect();
            crate::scheduler::remove_in_order(&e, &p, orphans, None, false, &g.report()).await?;
        }
        Ok(())
    })
}

pub fn rm(g: &GlobalArgs, a: &RmArgs) -> Result<ExitCode, CliError> {
    on_containers(g, &a.service, |e, p, list| async move {
        if a.stop {
            verbs::stop(&e, &p, list.clone(), None, &g.report()).await?;
        }
        let list: Vec<ContainerInfo> = if a.stop {
            list.into_iter().map(|c| ContainerInfo { state: State::Exited, ..c }).collect()
        } else {
            list.into_iter()
                .filter(|c| !matches!(c.state, State::Running | State::Paused | State::Restarting))
                .collect()
        };
        if list.is_empty() {
            eprintln!("No stopped containers");
            return Ok(());
        }
        if !a.force && std::io::stdin().is_terminal() {
            let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
            eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Ok(());
            }
        }
        verbs::remove(&e, list, a.volumes, &g.report()).await.map_err(CliError::from)
    })
}

pub fn pause(g: &GlobalArgs, a: &ServicesArgs, pause: bool) -> Result<ExitCode, CliError> {
    on_containers(g, &a.service, |e, _p, list| async move {
        verbs::pause(&e, list, pause, &g.report()).await.map_err(CliError::from)
    })
}

/// One project on the engine, as `ls` shows it.
struct ProjectRow {
    name: String,
    status: String,
    running: bool,
    config_files: String,
}

pub fn ls(g: &GlobalArgs, a: &LsArgs) -> Result<ExitCode, CliError> {
    let mut names = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", v)) => names.push(v.to_string()),
            _ => {
                return Err(CliError::Message {
                    message: format!("unsupported ls filter `{f}`"),
                    hint: Some("use `--filter name=PROJECT`".into()),
                    code: 1,
                });
            }
        }
    }
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let all = engine.list_projects().await?;
        let mut by_project: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
        for c in all {
            by_project.entry(c.label(PROJECT).unwrap_or("").to_string()).or_default().push(c);
        }
        let rows: Vec<ProjectRow> = by_project
            .into_iter()
            .map(|(name, list)| {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for c in &list {
                    *counts.entry(c.state.as_str()).or_default() += 1;
                }
                let mut files: Vec<&str> = list.iter().filter_map(|c| c.label(CONFIG_FILES)).collect();
                files.sort();
                files.dedup();
                ProjectRow {
                    status: counts.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", "),
                    running: counts.contains_key("running"),
                    config_files: files.join(","),
                    name,
                }
            })
            .filter(|r| a.all || r.running)
            .filter(|r| names.is_empty() || names.iter().any(|n| r.name.contains(n.as_str())))
            .collect();
        if a.quiet {
            for r in &rows {
                println!("{}", r.name);
            }
        } else if a.format == "json" {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"Name": r.name, "Status": r.status, "ConfigFiles": r.config_files}))
                .collect();
            println!("{}", serde_json::Value::Array(v));
        } else {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4) + 3;
            let sw = rows.iter().map(|r| r.status.len()).max().unwrap_or(0).max(6) + 3;
            println!("{:<w$}{:<sw$}CONFIG FILES", "NAME", "STATUS");
            for r in &rows {
                println!("{:<w$}{:<sw$}{}", r.name, r.status, r.config_files);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true)]
    pub service: Vec<String>,
}

/// `wait SERVICE...`: blocks until those services' containers have stopped and returns the
/// exit code of the first one that stopped.
pub fn wait(g: &GlobalArgs, a: &WaitArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let down = a.down_project.then(|| super::lifecycle::down_request(g, Vec::new(), false, false, None));
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let code = crate::ops::lifecycle::wait(&engine, &project, &a.service, down.as_ref()).await?;
        Ok(ExitCode::from(code.clamp(0, 255) as u8))
    })
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

/// Replica `index` of `service` (not a one-off), or an error saying how to create it.
async fn replica(e: &CliEngine, project: &Project, service: &str, index: u32) -> Result<ContainerInfo, CliError> {
    let list = e.list_containers(&project.name).await?;
    verbs::replica(verbs::targets(project, list, &[]), service, index).ok_or_else(|| CliError::Message {
        message: format!("service `{service}` has no container number {index}"),
        hint: Some("create it with `wharf up -d`".into()),
        code: 1,
    })
}

/// `port SERVICE PRIVATE_PORT`: the public address of a published port.
pub fn port(g: &GlobalArgs, a: &PortArgs) -> Result<ExitCode, CliError> {
    let project = g.load(std::slice::from_ref(&a.service), false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let c = replica(&engine, &project, &a.service, a.index).await?;
        let p = c
            .ports
            .iter()
            .find(|p| p.private == a.private_port && p.protocol == a.protocol && p.public.is_some())
            .ok_or_else(|| {
                CliError::msg(format!("no port {}/{} published for `{}`", a.private_port, a.protocol, a.service))
            })?;
        println!("{}:{}", p.ip.as_deref().filter(|i| !i.is_empty()).unwrap_or("0.0.0.0"), p.public.unwrap_or(0));
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables (KEY=VALUE)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Disable pseudo-TTY allocation (the default when stdin or stdout is not a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// `exec SERVICE CMD…`: runs CMD in a running container, its output streamed, its exit code
/// passed through. With a terminal on both ends (and no `-T`), it gets a TTY and the keyboard.
pub fn exec(g: &GlobalArgs, a: &ExecArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(std::slice::from_ref(&a.service), false)?;
    let env = super::run::with_caller_values(&a.env, &loaded.environment);
    let project = loaded.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let c = replica(&engine, &project, &a.service, a.index).await?;
        if c.state != State::Running {
            return Err(CliError::Message {
                message: format!("container {} is not running", c.name),
                hint: Some(format!("start it with `wharf start {}`", a.service)),
                code: 1,
            });
        }
        let interactive = !a.no_tty && !a.detach && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if interactive {
            return exec_tty(&engine, &c.id, a, env).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
        let opts = crate::engine::ExecOptions {
            user: a.user.clone(),
            env,
            working_dir: a.workdir.clone(),
            privileged: a.privileged,
            detach: a.detach,
            stream: Some(tx),
        };
        let printer = tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                super::attach::write_chunk(&chunk);
            }
        });
        let r = engine.exec_with(&c.id, &a.command, &opts).await;
        drop(opts);
        let _ = printer.await;
        let out = r?;
        Ok(ExitCode::from(out.exit_code.clamp(0, 255) as u8))
    })
}

/// Puts the terminal back as it was, also when `exec_tty` returns early.
struct RawMode;

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Reads stdin on a thread of its own (a blocking read) into `tx`, until EOF; the thread ends
/// with the process otherwise.
pub(crate) fn read_stdin(tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
    use std::io::Read;
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
}

/// Runs `f` with this terminal in raw mode: `f` gets the terminal size (rows, columns), the
/// keystrokes as they are typed, and a channel whose bytes are written out as they come.
pub(crate) async fn with_terminal<F, Fut>(f: F) -> Result<i64, CliError>
where
    F: FnOnce(
        tokio::sync::watch::Receiver<(u16, u16)>,
        tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Fut,
    Fut: Future<Output = Result<i64, crate::engine::EngineError>>,
{
    use std::io::Write;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    // The size follows the terminal: SIGWINCH re-reads it.
    let (size_tx, size_rx) = tokio::sync::watch::channel((rows, cols));
    let resized = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut winch) = signal(SignalKind::window_change()) else { return };
        while winch.recv().await.is_some() {
            if let Ok((c, r)) = crossterm::terminal::size() {
                let _ = size_tx.send((r, c));
            }
        }
    });
    let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    crossterm::terminal::enable_raw_mode()
        .map_err(|x| CliError::msg(format!("cannot set the terminal to raw mode: {x}")))?;
    let _raw = RawMode;
    read_stdin(in_tx);
    let printer = tokio::spawn(async move {
        let mut out = std::io::stdout();
        while let Some(bytes) = out_rx.recv().await {
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
    });
    let code = f(size_rx, in_rx, out_tx).await;
    resized.abort();
    let code = code?;
    let _ = printer.await;
    Ok(code)
}

/// `exec` with a TTY: keystrokes sent as they are typed, the output written as it comes, the
/// exit code passed through.
async fn exec_tty(e: &CliEngine, id: &str, a: &ExecArgs, env: Vec<String>) -> Result<ExitCode, CliError> {
    let opts = crate::engine::ExecOptions {
        user: a.user.clone(),
        env,
        working_dir: a.workdir.clone(),
        privileged: a.privileged,
        ..Default::default()
    };
    let code = with_terminal(|size, input, output| e.exec_tty(id, &a.command, &opts, size, input, output)).await?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
