//! `up -d`, `create`, `down`, `ps`: converge the project on the engine, tear it down, list it.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Args;

use crate::cli::context::{ctrl_c, runtime};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::Engine;
use crate::model::labels::SERVICE;
use crate::ops::up::UpRequest;
use crate::plan::UpOptions;
use crate::scheduler::Rmi;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the compose file
    #[arg(long, env = "COMPOSE_REMOVE_ORPHANS")]
    pub remove_orphans: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively (recreate volumes whose
    /// configuration changed)
    #[arg(short = 'y', long, alias = "y")]
    pub yes: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` in the compose file)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Shutdown timeout in seconds, for containers that are replaced
    #[arg(short, long)]
    pub timeout: Option<i64>,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build")
    #[arg(long, value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Watch source code and sync/restart/rebuild containers when files are updated (`develop.watch`)
    #[arg(short, long)]
    pub watch: bool,
    /// Don't warn about secrets written into the compose files (also `WHARF_NO_LINT=1`)
    #[arg(long)]
    pub no_lint: bool,
    /// Wait for services to be running|healthy (implies detached mode)
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Restrict attaching to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Automatically attach to log output of dependent services
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Stops all containers if any container was stopped
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure
    #[arg(long, conflicts_with_all = ["detach", "abort_on_container_exit"])]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    pub exit_code_from: Option<String>,
    pub service: Vec<String>,
}

impl UpArgs {
    /// `up -d SERVICE…` with every other flag at its default.
    pub fn detached(service: Vec<String>) -> UpArgs {
        UpArgs {
            detach: true,
            no_deps: false,
            force_recreate: false,
            no_recreate: false,
            remove_orphans: false,
            no_start: false,
            renew_anon_volumes: false,
            yes: false,
            scale: Vec::new(),
            timeout: None,
            build: false,
            no_build: false,
            pull: None,
            quiet_pull: false,
            watch: false,
            no_lint: false,
            wait: false,
            wait_timeout: None,
            attach: Vec::new(),
            no_attach: Vec::new(),
            attach_dependencies: false,
            no_log_prefix: false,
            no_color: false,
            timestamps: false,
            abort_on_container_exit: false,
            abort_on_container_failure: false,
            exit_code_from: None,
            service,
        }
    }
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the volumes section and anonymous volumes
    #[arg(short, long, alias = "volume")]
    pub volumes: bool,
    /// Remove containers for services not defined in the compose file
    #[arg(long, env = "COMPOSE_REMOVE_ORPHANS")]
    pub remove_orphans: bool,
    /// Shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<i64>,
    /// Remove images used by services: "local" only those without a custom tag, "all" every one
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Only these services' containers (networks and volumes are kept)
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Filter services by status (created, running, paused, restarting, exited, dead)
    #[arg(long)]
    pub status: Vec<String>,
    /// Filter services by a property (`status=running`, `service=web`)
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format the output (table|json)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    pub service: Vec<String>,
}

pub fn up(g: &GlobalArgs, a: &UpArgs, no_start: bool) -> Result<ExitCode, CliError> {
    let attached = !a.detach && !a.wait && !no_start;
    if a.watch && (a.wait || no_start) {
        return Err(CliError::msg("--watch cannot be combined with --wait or --no-start"));
    }
    let loaded = g.load(&a.service, false)?;
    let project = loaded.project;
    for s in a.attach.iter().chain(&a.no_attach).chain(&a.exit_code_from) {
        if !project.services.contains_key(s) {
            return Err(CliError::msg(format!("no such service: {s}")));
        }
    }
    let mut scale = HashMap::new();
    for s in &a.scale {
        let (k, v) =
            s.split_once('=').ok_or_else(|| CliError::msg(format!("invalid --scale {s:?}: expected SERVICE=NUM")))?;
        let n: u32 = v.parse().map_err(|_| CliError::msg(format!("invalid --scale {s:?}: {v:?} is not a number")))?;
        let Some(svc) = project.services.get(k) else {
            return Err(CliError::msg(format!("--scale names no such service: {k}")));
        };
        if n > 1 && svc.container_name.is_some() {
            return Err(CliError::Message {
                message: format!(
                    "service `{k}` has a `container_name`, so it cannot be scaled to {n}: names must be unique"
                ),
                hint: Some(format!("remove `container_name` from `{k}`")),
                code: 1,
            });
        }
        scale.insert(k.to_string(), n);
    }
    let env = |k: &str| loaded.environment.get(k).is_some_and(|v| crate::load::truthy(v));
    if !a.no_lint && !env("WHARF_NO_LINT") {
        let found = crate::ops::lint::quick(&project).len();
        if found > 0 {
            eprintln!(
                "warning: {found} secret{} written into the compose files: run `wharf lint` to see where (silence with --no-lint or WHARF_NO_LINT=1)",
                if found == 1 { " is" } else { "s are" }
            );
        }
    }
    let opts = UpOptions {
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        remove_orphans: a.remove_orphans,
        ignore_orphans: env("COMPOSE_IGNORE_ORPHANS"),
        renew_anon_volumes: a.renew_anon_volumes,
        recreate_volumes: a.yes,
        no_start,
        scale,
        services: if a.no_deps { Vec::new() } else { a.service.clone() },
        supervised: attached,
        all_resources: g.all_resources,
    };
    let mut project = project;
    if a.no_deps && !a.service.is_empty() {
        project.services.retain(|n, _| a.service.contains(n));
    }
    let req = UpRequest {
        options: opts,
        images: crate::build::ensure::ImageFlags {
            build: a.build,
            no_build: a.no_build,
            pull: a.pull.clone(),
            quiet: a.quiet_pull,
            skip_unchanged: true,
        },
        ensure_images: !g.dry_run,
        environment: loaded.environment.clone(),
        parallel: g.parallel(),
        lock: (!g.dry_run).then(crate::lock::default_endpoint),
        wait: (a.wait && !no_start).then_some(a.wait_timeout),
        report: g.report(),
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let Some(prepared) = prepare_shown(g, &engine, &project, &req).await? else {
            return Ok(ExitCode::SUCCESS);
        };
        // Subscribed before anything starts, so the exit of a fast one-shot is not missed.
        let since =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let events = attached.then(|| engine.events(&project.name));
        crate::ops::up::apply(&engine, &project, prepared, &req).await?;
        if req.wait.is_some() {
            return Ok(ExitCode::SUCCESS);
        }
        let wopts = crate::ops::watch::WatchOptions {
            environment: loaded.environment.clone(),
            report: g.report(),
            ..Default::default()
        };
        let Some(events) = events else {
            if a.watch {
                crate::ops::watch::run(&engine, &project, &a.service, &wopts, ctrl_c()).await?;
            }
            return Ok(ExitCode::SUCCESS);
        };
        // `--watch`: the dev loop runs beside the attached output, and ends with it.
        let watcher = a.watch.then(|| {
            let (engine, project, services) = (engine.clone(), project.clone(), a.service.clone());
            tokio::spawn(async move {
                if let Err(err) =
                    crate::ops::watch::run(&engine, &project, &services, &wopts, std::future::pending()).await
                {
                    wopts.report.line(&format!("watch: {err}"));
                }
            })
        });
        let req = crate::ops::attach::AttachRequest {
            services: a.service.clone(),
            attach: a.attach.clone(),
            no_attach: a.no_attach.clone(),
            attach_dependencies: a.attach_dependencies,
            abort_on_container_exit: a.abort_on_container_exit,
            abort_on_container_failure: a.abort_on_container_failure,
            exit_code_from: a.exit_code_from.clone(),
            timeout: a.timeout,
            since,
            report: g.report(),
        };
        let print = super::attach::PrintOptions {
            no_log_prefix: a.no_log_prefix,
            no_color: a.no_color,
            timestamps: a.timestamps,
        };
        let code = super::attach::attached(&engine, g, &project, &req, &print, events).await;
        if let Some(w) = watcher {
            w.abort();
        }
        code
    })
}

/// The converge's plan, its warnings printed; under `--dry-run` the plan itself is printed
/// and there is nothing to apply (`None`).
pub(crate) async fn prepare_shown(
    g: &GlobalArgs,
    engine: &crate::cli::context::CliEngine,
    project: &crate::model::Project,
    req: &UpRequest,
) -> Result<Option<crate::ops::up::Prepared>, CliError> {
    let prepared = crate::ops::up::prepare(engine, project, req).await?;
    for w in prepared.warnings() {
        eprintln!("warning: {w}");
    }
    if g.dry_run {
        print!("{}", prepared.plan);
        return Ok(None);
    }
    Ok(Some(prepared))
}

pub fn down_cmd(g: &GlobalArgs, a: &DownArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&[], false)?.project;
    let mut req = down_request(g, a.service.clone(), a.volumes, a.remove_orphans, a.timeout);
    req.rmi = a.rmi.as_deref().map(|r| if r == "all" { Rmi::All } else { Rmi::Local });
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        crate::ops::lifecycle::down(&engine, &project, &req).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `down` as the flags say, with the lock (unless a dry run) and the CLI's reporter.
pub(crate) fn down_request(
    g: &GlobalArgs,
    services: Vec<String>,
    volumes: bool,
    remove_orphans: bool,
    timeout: Option<i64>,
) -> crate::ops::lifecycle::DownRequest {
    crate::ops::lifecycle::DownRequest {
        services,
        volumes,
        remove_orphans,
        timeout,
        rmi: None,
        lock: (!g.dry_run).then(crate::lock::default_endpoint),
        report: g.report(),
    }
}

pub fn ps(g: &GlobalArgs, a: &PsArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let mut filter =
            crate::ops::inspect::PsFilter { all: a.all, status: a.status.clone(), services: a.service.clone() };
        for f in &a.filter {
            match f.split_once('=') {
                Some(("status", v)) => filter.status.push(v.to_string()),
                Some(("service", v)) => filter.services.push(v.to_string()),
                _ => {
                    return Err(CliError::Message {
                        message: format!("unsupported ps filter `{f}`"),
                        hint: Some("use `--filter status=STATE` or `--filter service=NAME`".into()),
                        code: 1,
                    });
                }
            }
        }
        let list = crate::ops::inspect::ps(&engine, &project, &filter).await?;
        if a.quiet {
            for c in &list {
                println!("{}", c.id);
            }
        } else if a.services {
            let mut s: Vec<&str> = list.iter().filter_map(|c| c.label(SERVICE)).collect();
            s.dedup();
            for x in s {
                println!("{x}");
            }
        } else if a.format == "json" {
            for c in &list {
                println!("{}", ps_json(&project.name, c));
            }
        } else {
            println!("{:<28} {:<24} {:<12} {:<24} PORTS", "NAME", "IMAGE", "SERVICE", "STATUS");
            for c in &list {
                println!(
                    "{:<28} {:<24} {:<12} {:<24} {}",
                    c.name,
                    c.image,
                    c.label(SERVICE).unwrap_or(""),
                    c.status,
                    ports(c)
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One container as `docker compose ps --format json` prints it (compose's fields, in its
/// order; `Created` is wharf's addition, seconds since the epoch).
fn ps_json(project: &str, c: &crate::engine::ContainerInfo) -> serde_json::Value {
    // Every port, exposed-only ones too (no address, published port 0), by port as compose.
    let mut publishers: Vec<&crate::engine::PortInfo> = c.ports.iter().collect();
    publishers.sort_by_key(|p| p.private);
    let publishers: Vec<serde_json::Value> = publishers
        .iter()
        .map(|p| {
            let url = match p.public {
                Some(_) => p.ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                None => String::new(),
            };
            serde_json::json!({
                "URL": url, "TargetPort": p.private, "PublishedPort": p.public.unwrap_or(0), "Protocol": p.protocol,
            })
        })
        .collect();
    let exit_code = c
        .status
        .strip_prefix("Exited (")
        .and_then(|r| r.split_once(')'))
        .and_then(|(n, _)| n.parse::<i64>().ok())
        .unwrap_or(0);
    let health = ["healthy", "unhealthy", "starting"]
        .into_iter()
        .find(|h| c.status.contains(&format!("({h})")) || c.status.contains(&format!("(health: {h})")))
        .unwrap_or("");
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "Command": format!("\"{}\"", c.command), "Created": c.created, "ExitCode": exit_code, "Health": health,
        "ID": &c.id[..12.min(c.id.len())], "Image": c.image, "Labels": labels.join(","),
        "Name": c.name, "Names": c.name, "Networks": c.networks.join(","), "Ports": ports(c),
        "Project": project, "Publishers": publishers, "Service": c.label(SERVICE),
        "State": c.state.as_str(), "Status": c.status,
    })
}

/// The PORTS column as the docker CLI writes it: by port number, consecutive ports of one
/// address and protocol as a range (`8000-8010/tcp`, `0.0.0.0:8000-8001->80-81/tcp`).
fn ports(c: &crate::engine::ContainerInfo) -> String {
    // (public address, protocol, private, public)
    let mut v: Vec<(String, String, u16, Option<u16>)> = c
        .ports
        .iter()
        .map(|p| {
            let ip = p.public.map(|_| p.ip.clone().unwrap_or_else(|| "0.0.0.0".into())).unwrap_or_default();
            (ip, p.protocol.clone(), p.private, p.public)
        })
        .collect();
    v.sort_by(|a, b| (a.3.is_some(), &a.0, &a.1, a.2).cmp(&(b.3.is_some(), &b.0, &b.1, b.2)));
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let (ip, proto, first, public) = &v[i];
        let mut j = i;
        while j + 1 < v.len() {
            let (nip, nproto, next, npublic) = &v[j + 1];
            let (_, _, last, lpublic) = &v[j];
            let consecutive = *next == last + 1 && npublic.is_some() == lpublic.is_some();
            let same_offset = match (lpublic, npublic) {
                (Some(a), Some(b)) => *b == a + 1,
                _ => true,
            };
            if nip != ip || nproto != proto || !consecutive || !same_offset {
                break;
            }
            j += 1;
        }
        let last = v[j].2;
        let range = |a: u16, b: u16| if a == b { a.to_string() } else { format!("{a}-{b}") };
        out.push(match public {
            Some(p) => format!("{ip}:{}->{}/{proto}", range(*p, v[j].3.unwrap_or(*p)), range(*first, last)),
            None => format!("{}/{proto}", range(*first, last)),
        });
        i = j + 1;
    }
    out.join(", ")
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    #[arg(required = true, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
}

/// `scale SERVICE=NUM…`: `up -d --no-recreate --scale …` for those services.
pub fn scale(g: &GlobalArgs, a: &ScaleArgs) -> Result<ExitCode, CliError> {
    let services: Vec<String> = a.scale.iter().filter_map(|s| s.split_once('=').map(|(k, _)| k.to_string())).collect();
    let mut up = UpArgs::detached(services);
    up.no_deps = a.no_deps;
    up.no_recreate = true;
    up.no_build = true;
    up.scale = a.scale.clone();
    self::up(g, &up, false)
}
