//! `run SERVICE [CMD…]`: a one-off container of a service (labelled `oneoff=True`, named
//! `<project>-<service>-run-<id>`), its dependencies started first unless `--no-deps`, its
//! output streamed and its exit code returned. No TTY is allocated yet (as with `-T`).

use std::process::ExitCode;

use clap::Args;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{Mount, PortBinding};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Set environment variables from file
    #[arg(long, value_name = "FILE")]
    pub env_from_file: Vec<std::path::PathBuf>,
    /// Keep STDIN open even if not attached (the default: stdin is attached unless `-d`)
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Bind mount a volume (SRC:DST[:ro])
    #[arg(short, long, alias = "volumes")]
    pub volume: Vec<String>,
    /// Add or override a label
    #[arg(short, long, alias = "labels", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Use the service's network aliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long, env = "COMPOSE_REMOVE_ORPHANS")]
    pub remove_orphans: bool,
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Don't print anything to STDOUT (pulls and builds included)
    #[arg(short, long)]
    pub quiet: bool,
    /// Suppress progress output from the build process
    #[arg(long)]
    pub quiet_build: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: &RunArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(std::slice::from_ref(&a.service), false)?;
    let project = loaded.project;
    let svc = &project.services[&a.service];
    // Attached: stdin goes in (closed in the container when ours ends), with a TTY when both
    // ends are terminals (or the service asks for one) and `-T` is not given.
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let tty = !a.detach && !a.no_tty && (terminal || svc.tty == Some(true));
    let req = crate::ops::run::RunRequest {
        service: a.service.clone(),
        overrides: overrides(a, &project, &loaded.environment, tty)?,
        no_deps: a.no_deps,
        remove_orphans: a.remove_orphans,
        ignore_orphans: loaded.environment.get("COMPOSE_IGNORE_ORPHANS").is_some_and(|v| crate::load::truthy(v)),
        images: crate::build::ensure::ImageFlags {
            build: a.build,
            no_build: false,
            pull: a.pull.clone(),
            quiet: a.quiet_pull || a.quiet,
            skip_unchanged: true,
        },
        environment: loaded.environment.clone(),
        parallel: g.parallel(),
        lock: (!g.dry_run).then(crate::lock::default_endpoint),
        report: g.report(),
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let one = crate::ops::run::create(&engine, &project, &req).await?;
        let events = crate::ops::run::start(&engine, &project, &one).await?;
        if a.detach {
            // As compose: the container's ID.
            println!("{}", one.id);
            return Ok(ExitCode::SUCCESS);
        }
        let code = if tty && terminal {
            crate::cli::terminal::with_terminal(|size, input, output| async {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
                let forward = tokio::spawn(async move {
                    while let Some(c) = rx.recv().await {
                        if output.send(c.bytes).is_err() {
                            break;
                        }
                    }
                });
                let t = crate::engine::Terminal { input: Some(input), output: tx, size: Some(size) };
                let code = crate::ops::run::interact(&engine, &one, events, t, a.rm).await;
                let _ = forward.await;
                code
            })
            .await?
        } else {
            // Our stdin's EOF closes the container's.
            let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            crate::cli::terminal::read_stdin(in_tx);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
            let printer = tokio::spawn(async move {
                while let Some(c) = rx.recv().await {
                    super::attach::write_chunk(&c);
                }
            });
            let t = crate::engine::Terminal { input: Some(in_rx), output: tx, size: None };
            let code = crate::ops::run::interact(&engine, &one, events, t, a.rm).await;
            let _ = printer.await;
            code?
        };
        Ok(ExitCode::from(code.clamp(0, 255) as u8))
    })
}

/// `-e NAME` without a value takes the caller's: the shell's, else the `--env-file`s' or the
/// project `.env`'s (the project environment, in compose's precedence). Unset everywhere, it is
/// dropped, as compose does: the image's own value stays (a bare `NAME` would make the engine
/// remove it).
pub(crate) fn with_caller_values(vars: &[String], env: &indexmap::IndexMap<String, String>) -> Vec<String> {
    vars.iter()
        .filter_map(|v| match (v.contains('='), env.get(v)) {
            (true, _) => Some(v.clone()),
            (false, Some(value)) => Some(format!("{v}={value}")),
            (false, None) => None,
        })
        .collect()
}

/// The one-off's changes from the service, from the flags: `--entrypoint` split as a shell
/// would, `--env-from-file` read, `--publish` and `--volume` parsed.
fn overrides(
    a: &RunArgs,
    project: &crate::model::Project,
    env: &indexmap::IndexMap<String, String>,
    tty: bool,
) -> Result<crate::ops::run::Overrides, CliError> {
    let entrypoint = match &a.entrypoint {
        Some(ep) => Some(crate::load::shellwords::split(ep).map_err(|e| CliError::msg(format!("--entrypoint: {e}")))?),
        None => None,
    };
    let mut vars = Vec::new();
    for f in &a.env_from_file {
        let text =
            std::fs::read_to_string(f).map_err(|e| CliError::msg(format!("--env-from-file {}: {e}", f.display())))?;
        let parsed = crate::load::dotenv::parse(&text, &|k| env.get(k).cloned())
            .map_err(|e| CliError::msg(format!("{}:{}: {}", f.display(), e.line, e.message)))?;
        vars.extend(parsed.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    vars.extend(with_caller_values(&a.env, env));
    let publish = a
        .publish
        .iter()
        .map(|p| {
            let (host, container) = p.rsplit_once(':').unwrap_or(("", p.as_str()));
            let container = if container.contains('/') { container.to_string() } else { format!("{container}/tcp") };
            let (host_ip, host_port) = match host.rsplit_once(':') {
                Some((ip, port)) => (Some(ip.to_string()), port.to_string()),
                None => (None, host.to_string()),
            };
            PortBinding { container, host_ip, host_port }
        })
        .collect();
    let mut volumes = Vec::new();
    for v in &a.volume {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, ro) = match parts.as_slice() {
            [src, dst] => (*src, *dst, false),
            [src, dst, mode] => (*src, *dst, mode.split(',').any(|m| m == "ro")),
            _ => return Err(CliError::msg(format!("invalid --volume `{v}`: expected SRC:DST[:ro]"))),
        };
        let bind = src.starts_with('/') || src.starts_with('.');
        let source = if bind {
            std::fs::canonicalize(src).map(|p| p.display().to_string()).unwrap_or_else(|_| src.to_string())
        } else {
            project.volume_name(src)
        };
        volumes.push(Mount {
            kind: if bind { "bind".into() } else { "volume".into() },
            source: Some(source),
            target: dst.to_string(),
            read_only: ro,
            ..Mount::default()
        });
    }
    let mut labels = Vec::new();
    for l in &a.label {
        let Some((k, v)) = l.split_once('=') else {
            return Err(CliError::msg("label must be set as KEY=VALUE".to_string()));
        };
        labels.push((k.to_string(), v.to_string()));
    }
    Ok(crate::ops::run::Overrides {
        name: a.name.clone(),
        labels,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        command: a.command.clone(),
        entrypoint,
        env: vars,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        service_ports: a.service_ports,
        publish,
        volumes,
        use_aliases: a.use_aliases,
        tty,
        stdin: !a.detach,
        auto_remove: a.rm && a.detach,
    })
}
