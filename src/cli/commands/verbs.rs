//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause` (on the containers that exist),
//! `ls` (the projects on the engine), `wait`, `port` and `exec`: arguments in, a call to
//! [`crate::ops::containers`] or [`crate::ops::lifecycle`], the outcome printed.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;

use crate::cli::context::{CliEngine, runtime};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::Engine;
use crate::model::Project;
use crate::ops::containers::{self, Selection};

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

/// Loads the project (the loader refuses services that do not exist), connects, and runs `f`
/// with the engine, the project and the selection of `services`.
fn on_project<F, Fut>(g: &GlobalArgs, services: &[String], f: F) -> Result<ExitCode, CliError>
where
    F: FnOnce(CliEngine, Project, Selection) -> Fut,
    Fut: Future<Output = Result<(), crate::ops::Error>>,
{
    let project = g.load(services, false)?.project;
    let sel = Selection {
        services: services.to_vec(),
        lock: (!g.dry_run).then(crate::lock::default_endpoint),
        report: g.report(),
    };
    runtime()?.block_on(async {
        f(g.engine().await?, project, sel).await?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn start(g: &GlobalArgs, a: &ServicesArgs) -> Result<ExitCode, CliError> {
    on_project(g, &a.service, |e, p, sel| async move { containers::start(&e, &p, &sel).await })
}

pub fn stop(g: &GlobalArgs, a: &StopArgs) -> Result<ExitCode, CliError> {
    on_project(g, &a.service, |e, p, sel| async move { containers::stop(&e, &p, &sel, a.timeout).await })
}

pub fn restart(g: &GlobalArgs, a: &RestartArgs) -> Result<ExitCode, CliError> {
    on_project(g, &a.service, |e, p, sel| async move { containers::restart(&e, &p, &sel, a.timeout, a.no_deps).await })
}

pub fn kill(g: &GlobalArgs, a: &KillArgs) -> Result<ExitCode, CliError> {
    on_project(
        g,
        &a.service,
        |e, p, sel| async move { containers::kill(&e, &p, &sel, &a.signal, a.remove_orphans).await },
    )
}

pub fn rm(g: &GlobalArgs, a: &RmArgs) -> Result<ExitCode, CliError> {
    // Asked on a terminal unless `--force`.
    let confirm = |names: &[String]| {
        if a.force || !std::io::stdin().is_terminal() {
            return true;
        }
        eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes")
    };
    on_project(g, &a.service, |e, p, sel| async move {
        if containers::rm(&e, &p, &sel, a.stop, a.volumes, confirm).await? == containers::Removed::Nothing {
            eprintln!("No stopped containers");
        }
        Ok(())
    })
}

pub fn pause(g: &GlobalArgs, a: &ServicesArgs, pause: bool) -> Result<ExitCode, CliError> {
    on_project(g, &a.service, |e, p, sel| async move { containers::pause(&e, &p, &sel, pause).await })
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
        let rows: Vec<containers::ProjectSummary> = containers::projects(&g.engine().await?)
            .await?
            .into_iter()
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
        let ended = crate::ops::lifecycle::wait(&engine, &project, &a.service, down.as_ref()).await?;
        for e in &ended {
            println!("container {:?} exited with status code {}", e.id, e.code);
        }
        let code = ended.last().map(|e| e.code).unwrap_or(0);
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

/// `port SERVICE PRIVATE_PORT`: the public address of a published port.
pub fn port(g: &GlobalArgs, a: &PortArgs) -> Result<ExitCode, CliError> {
    let project = g.load(std::slice::from_ref(&a.service), false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let (ip, port) =
            containers::published_port(&engine, &project, &a.service, a.index, a.private_port, &a.protocol).await?;
        println!("{ip}:{port}");
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
    /// Index of the container if service has multiple replicas (none: the first replica, else
    /// a one-off)
    #[arg(long)]
    pub index: Option<u32>,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Disable pseudo-TTY allocation (the default when stdin or stdout is not a terminal)
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
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
        let c = containers::running_replica(&engine, &project, &a.service, a.index).await?;
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
    let code = crate::cli::terminal::with_terminal(|size, input, output| {
        e.exec_tty(id, &a.command, &opts, size, input, output)
    })
    .await?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
