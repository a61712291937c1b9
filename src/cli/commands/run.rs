//! `run SERVICE [CMD…]`: a one-off container of a service (labelled `oneoff=True`, named
//! `<project>-<service>-run-<id>`), its dependencies started first unless `--no-deps`, its
//! output streamed and its exit code returned. No TTY is allocated yet (as with `-T`).

use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{Engine, LogOptions, Mount, PortBinding};
use crate::model::labels::ONEOFF;
use crate::plan::{UpOptions, reconcile};
use crate::scheduler::{execute, observe};

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
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long)]
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
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: &RunArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(std::slice::from_ref(&a.service), false)?;
    let loaded_env = loaded.environment.clone();
    let ignore_orphans = loaded_env.get("COMPOSE_IGNORE_ORPHANS").is_some_and(|v| crate::load::truthy(v));
    let project = loaded.project;
    let svc = &project.services[&a.service];
    let deps: Vec<String> = crate::graph::Graph::new(&project)
        .with_dependencies(std::slice::from_ref(&a.service))
        .into_iter()
        .filter(|s| *s != a.service)
        .collect();
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let flags = crate::build::ensure::ImageFlags {
            build: a.build,
            no_build: false,
            pull: a.pull.clone(),
            quiet: a.quiet_pull,
            skip_unchanged: true,
        };
        let mut needed = if a.no_deps { Vec::new() } else { deps.clone() };
        needed.push(a.service.clone());
        crate::build::ensure::images(&engine, &project, &loaded.environment, &needed, &flags, 4, &g.report()).await
            ?;
        // Dependencies first, converged as `up -d` would (and their conditions waited on).
        if !a.no_deps && !deps.is_empty() {
            let mut scoped = project.clone();
            scoped.services.retain(|n, _| deps.contains(n));
            let req = crate::ops::up::UpRequest {
                options: UpOptions { services: deps.clone(), ignore_orphans: true, ..Default::default() },
                parallel: g.parallel(),
                lock: (!g.dry_run).then(crate::lock::default_endpoint),
                report: g.report(),
                ..Default::default()
            };
            let ready = crate::scheduler::readiness::Readiness::subscribe(&engine, &project.name, &g.report());
            for w in crate::ops::up::up(&engine, &scoped, &req).await? {
                eprintln!("warning: {w}");
            }
            // The one-off's own `depends_on` conditions.
            let list = engine.list_containers(&project.name).await?;
            for (dep, c) in &svc.depends_on {
                let ids: Vec<String> =
                    crate::scheduler::verbs::targets(&project, list.clone(), std::slice::from_ref(dep))
                        .into_iter()
                        .map(|c| c.id)
                        .collect();
                if let Err(why) = ready.wait(&engine, dep, &ids, c.condition).await
                    && c.required
                {
                    return Err(CliError::msg(format!("service `{}`: {why}", a.service)));
                }
            }
        }
        // The one-off's own networks and volumes (with `--no-deps`, or when no dependency
        // brought them up).
        let observed = observe(&engine, &project).await?;
        let orphans: Vec<&crate::engine::ContainerInfo> = observed
            .containers
            .iter()
            .filter(|c| c.label(ONEOFF) != Some("True"))
            .filter(|c| !project.services.contains_key(c.label(crate::model::labels::SERVICE).unwrap_or("")))
            .collect();
        if a.remove_orphans {
            for c in &orphans {
                engine.remove_container(&c.id, true, false).await?;
            }
        } else if !orphans.is_empty() && !ignore_orphans {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "warning: found orphan containers ({}) for this project; if you removed or renamed their service in the compose file, run this command with --remove-orphans to clean them up",
                names.join(", ")
            );
        }
        let mut own = project.clone();
        own.services.retain(|n, _| *n == a.service);
        let opts = UpOptions { services: vec![a.service.clone()], ignore_orphans: true, ..Default::default() };
        let mut plan = reconcile(&own, &observed, &opts).map_err(|e| CliError::msg(e.to_string()))?;
        plan.steps.retain(|s| {
            matches!(s.action, crate::plan::Action::CreateNetwork(_) | crate::plan::Action::CreateVolume(_))
        });
        if !plan.steps.is_empty() {
            let _lock = g.lock(&project.name)?;
            execute(&engine, &own, plan, None, true, &g.report()).await?;
        }
        let image = crate::plan::spec::image_name(&project.name, &a.service, svc);
        let image_id = observed.images.get(&image).cloned().flatten().ok_or_else(|| CliError::Message {
            message: format!("service `{}` needs image `{image}`, which is not available locally", a.service),
            hint: Some("build or load the image locally: `docker build -t IMAGE DIR`".into()),
            code: 1,
        })?;
        let mut spec = crate::plan::spec::container_spec(&project, &a.service, svc, 1, &image_id);
        let suffix = crate::stack::unique_name("x").trim_start_matches("x-").to_string();
        spec.name = a.name.clone().unwrap_or_else(|| format!("{}-{}-run-{suffix}", project.name, a.service));
        spec.labels.insert(ONEOFF.into(), "True".into());
        spec.restart_policy = None;
        if !a.command.is_empty() {
            spec.cmd = Some(a.command.clone());
        }
        if let Some(ep) = &a.entrypoint {
            spec.entrypoint = Some(crate::load::shellwords::split(ep).map_err(CliError::msg)?);
        }
        for f in &a.env_from_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CliError::msg(format!("--env-from-file {}: {e}", f.display())))?;
            let vars = crate::load::dotenv::parse(&text, &|k| loaded_env.get(k).cloned())
                .map_err(|e| CliError::msg(format!("{}:{}: {}", f.display(), e.line, e.message)))?;
            spec.env.extend(vars.into_iter().map(|(k, v)| format!("{k}={v}")));
        }
        spec.env.extend(a.env.iter().cloned());
        spec.user = a.user.clone().or(spec.user);
        spec.working_dir = a.workdir.clone().or(spec.working_dir);
        if !a.service_ports {
            spec.port_bindings.clear();
        }
        for p in &a.publish {
            let (host, container) = p.rsplit_once(':').unwrap_or(("", p.as_str()));
            let container = if container.contains('/') { container.to_string() } else { format!("{container}/tcp") };
            let (host_ip, host_port) = match host.rsplit_once(':') {
                Some((ip, port)) => (Some(ip.to_string()), port.to_string()),
                None => (None, host.to_string()),
            };
            if !spec.exposed_ports.contains(&container) {
                spec.exposed_ports.push(container.clone());
            }
            spec.port_bindings.push(PortBinding { container, host_ip, host_port });
        }
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
            spec.mounts.push(Mount {
                kind: if bind { "bind".into() } else { "volume".into() },
                source: Some(source),
                target: dst.to_string(),
                read_only: ro,
                ..Mount::default()
            });
        }
        if !a.use_aliases {
            for e in &mut spec.endpoints {
                e.aliases.clear();
            }
        }
        // Attached: stdin goes in (closed in the container when ours ends), with a TTY when both
        // ends are terminals (or the service asks for one) and `-T` is not given.
        use std::io::IsTerminal;
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let tty = !a.detach && !a.no_tty && (terminal || svc.tty == Some(true));
        if !a.detach {
            spec.tty = tty;
            spec.stdin_once = true;
        }
        let id = engine.create_container(&spec).await?;
        crate::scheduler::copy_files(&engine, &id, &spec.files).await?;
        let mut events = engine.events(&project.name);
        engine.start_container(&id).await?;
        if a.detach {
            println!("{}", spec.name);
            return Ok(ExitCode::SUCCESS);
        }
        let code = if tty && terminal {
            let (e, id2) = (engine.clone(), id.clone());
            super::verbs::with_terminal(|size, input, output| async move {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
                let forward = tokio::spawn(async move {
                    while let Some(c) = rx.recv().await {
                        if output.send(c.bytes).is_err() {
                            break;
                        }
                    }
                });
                let t = crate::engine::Terminal { input: Some(input), output: tx, size: Some(size) };
                let attached = e.attach_container(&id2, t).await;
                let _ = forward.await;
                if attached.is_err() {
                    print_logs(&e, &id2).await;
                }
                Ok(exit_code(&e, &id2, &mut events).await)
            })
            .await?
        } else {
            // Our stdin's EOF closes the container's.
            let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            super::verbs::read_stdin(in_tx);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
            let printer = tokio::spawn(async move {
                while let Some(c) = rx.recv().await {
                    super::attach::write_chunk(&c);
                }
            });
            let t = crate::engine::Terminal { input: Some(in_rx), output: tx, size: None };
            let attached = engine.attach_container(&id, t).await;
            let _ = printer.await;
            if attached.is_err() {
                // It ended before we could attach: what it wrote is in its logs.
                print_logs(&engine, &id).await;
            }
            exit_code(&engine, &id, &mut events).await
        };
        if a.rm {
            engine.remove_container(&id, true, true).await?;
        }
        Ok(ExitCode::from(code.clamp(0, 255) as u8))
    })
}

/// Everything container `id` wrote (when it ended before it could be attached).
async fn print_logs<E: Engine>(e: &E, id: &str) {
    let mut logs = e.logs(id, &LogOptions::default());
    while let Some(Ok(chunk)) = logs.next().await {
        super::attach::write_chunk(&chunk);
    }
}

/// The one-off's exit code: from its `die` event (subscribed before it started), else inspect.
async fn exit_code<E: Engine>(e: &E, id: &str, events: &mut crate::engine::EngineStream<crate::engine::Event>) -> i64 {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) if ev.id == id => {
                    if let Some(c) = ev.exit_code() {
                        return c;
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    e.inspect_container(id).await.ok().and_then(|d| d.exit_code).unwrap_or(0)
}
