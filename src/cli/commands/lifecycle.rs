//! `up -d`, `create`, `down`, `ps`: converge the project on the engine, tear it down, list it.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Args;

use crate::cli::{CliError, GlobalArgs};
use crate::engine::docker::DockerEngine;
use crate::engine::{Engine, EngineError};
use crate::plan::labels::{NUMBER, SERVICE};
use crate::plan::{Observed, UpOptions, reconcile};
use crate::scheduler::{DownOptions, RunError, down, execute};

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
    /// Scale SERVICE to NUM instances (overrides `scale` in the compose file)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Shutdown timeout in seconds, for containers that are replaced
    #[arg(short, long)]
    pub timeout: Option<i64>,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the volumes section and anonymous volumes
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers for services not defined in the compose file
    #[arg(long, env = "COMPOSE_REMOVE_ORPHANS")]
    pub remove_orphans: bool,
    /// Shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<i64>,
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
    /// Format the output (table|json)
    #[arg(long, default_value = "table")]
    pub format: String,
    pub service: Vec<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::msg(format!("cannot start the async runtime: {e}")))
}

fn engine_err(e: EngineError) -> CliError {
    CliError::Message { hint: e.hint(), message: e.to_string(), code: 1 }
}

fn run_err(e: RunError) -> CliError {
    match e {
        RunError::Engine(e) => engine_err(e),
        RunError::Service { service, reason } => CliError::msg(format!("service `{service}`: {reason}")),
    }
}

fn parallel(g: &GlobalArgs) -> Option<usize> {
    (g.parallel > 0).then_some(g.parallel as usize)
}

pub fn up(g: &GlobalArgs, a: &UpArgs, no_start: bool) -> Result<ExitCode, CliError> {
    if !a.detach && !no_start {
        return Err(CliError::Message {
            message: "attached `up` (streaming logs) is not implemented yet".into(),
            hint: Some("run `wharf up -d`, then `docker logs` or `docker compose logs`".into()),
            code: 1,
        });
    }
    let loaded = g.load(&a.service, false)?;
    let project = loaded.project;
    let mut scale = HashMap::new();
    for s in &a.scale {
        let (k, v) =
            s.split_once('=').ok_or_else(|| CliError::msg(format!("invalid --scale {s:?}: expected SERVICE=NUM")))?;
        let n: u32 = v.parse().map_err(|_| CliError::msg(format!("invalid --scale {s:?}: {v:?} is not a number")))?;
        if !project.services.contains_key(k) {
            return Err(CliError::msg(format!("--scale names no such service: `{k}`")));
        }
        scale.insert(k.to_string(), n);
    }
    let env = |k: &str| loaded.environment.get(k).is_some_and(|v| crate::load::truthy(v));
    let opts = UpOptions {
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        remove_orphans: a.remove_orphans,
        ignore_orphans: env("COMPOSE_IGNORE_ORPHANS"),
        renew_anon_volumes: a.renew_anon_volumes,
        no_start,
        scale,
        services: if a.no_deps { Vec::new() } else { a.service.clone() },
    };
    let mut project = project;
    if a.no_deps && !a.service.is_empty() {
        project.services.retain(|n, _| a.service.contains(n));
    }
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        let (containers, networks, volumes) = tokio::try_join!(
            engine.list_containers(&project.name),
            engine.list_networks(&project.name),
            engine.list_volumes(&project.name)
        )
        .map_err(engine_err)?;
        let mut images = HashMap::new();
        for (name, svc) in &project.services {
            let image = crate::plan::spec::image_name(&project.name, name, svc);
            if let std::collections::hash_map::Entry::Vacant(slot) = images.entry(image) {
                let id = engine.image_id(slot.key()).await.map_err(engine_err)?;
                slot.insert(id);
            }
        }
        let observed = Observed { containers, networks, volumes, images };
        let plan = reconcile(&project, &observed, &opts).map_err(|e| CliError::Message {
            message: e.to_string(),
            hint: Some(
                "build or load the image locally (no registry is reachable here): `docker build -t IMAGE DIR`".into(),
            ),
            code: 1,
        })?;
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
        if g.dry_run {
            print!("{plan}");
            return Ok(ExitCode::SUCCESS);
        }
        execute(&engine, &project, plan, parallel(g), no_start).await.map_err(run_err)?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn down_cmd(g: &GlobalArgs, a: &DownArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&[], false)?.project;
    if g.dry_run {
        return Err(CliError::msg("`down --dry-run` is not implemented yet"));
    }
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        let opts = DownOptions { volumes: a.volumes, remove_orphans: a.remove_orphans, timeout: a.timeout };
        down(&engine, &project, &opts).await.map_err(run_err)?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn ps(g: &GlobalArgs, a: &PsArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await.map_err(engine_err)?;
        let mut list = engine.list_containers(&project.name).await.map_err(engine_err)?;
        list.retain(|c| a.all || c.state == crate::engine::State::Running || !a.status.is_empty());
        list.retain(|c| a.status.is_empty() || a.status.iter().any(|s| s == c.state.as_str()));
        list.retain(|c| a.service.is_empty() || a.service.iter().any(|s| Some(s.as_str()) == c.label(SERVICE)));
        list.sort_by(|x, y| {
            (x.label(SERVICE), x.label(NUMBER), &x.name).cmp(&(y.label(SERVICE), y.label(NUMBER), &y.name))
        });
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
                let v = serde_json::json!({
                    "ID": c.id, "Name": c.name, "Image": c.image, "Command": c.command,
                    "Project": project.name, "Service": c.label(SERVICE), "State": c.state.as_str(),
                    "Status": c.status, "Created": c.created, "Ports": ports(c),
                });
                println!("{v}");
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

fn ports(c: &crate::engine::ContainerInfo) -> String {
    let mut v: Vec<String> = c
        .ports
        .iter()
        .map(|p| match p.public {
            Some(public) => {
                format!("{}:{public}->{}/{}", p.ip.clone().unwrap_or_else(|| "0.0.0.0".into()), p.private, p.protocol)
            }
            None => format!("{}/{}", p.private, p.protocol),
        })
        .collect();
    v.sort();
    v.dedup();
    v.join(", ")
}
