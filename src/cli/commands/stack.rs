//! `wharf stack deploy|rm|ps|services|ls`: the compose file on a Docker Swarm cluster, shaped
//! like `docker stack` (see [`crate::ops::deploy`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::build::BuildOptions;
use crate::cli::commands::images::{outcome, parallel};
use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::docker::DockerEngine;
use crate::ops::deploy::{self, DeployError, DeployRequest, ResolveImage};
use crate::ops::images;

#[derive(Debug, Args)]
pub struct StackArgs {
    #[command(subcommand)]
    pub command: StackCommand,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Deploy a new stack or update an existing one, waiting until it has converged
    Deploy(DeployArgs),
    /// Remove one or more stacks
    Rm(NamesArgs),
    /// List the tasks in the stack
    Ps(StackName),
    /// List the services in the stack
    Services(StackName),
    /// List stacks
    Ls,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Resolve {
    Always,
    Changed,
    Never,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Path to a compose file (as the global `-f`; repeatable)
    #[arg(short = 'c', long = "compose-file", value_name = "FILE")]
    pub compose_file: Vec<PathBuf>,
    /// Remove services and networks the file no longer has
    #[arg(long)]
    pub prune: bool,
    /// Return once the changes are sent, without waiting for the services to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Pin images to the digest the engine knows for them: always, changed or never
    #[arg(long, value_enum, default_value = "always")]
    pub resolve_image: Resolve,
    /// Send each image's registry credentials (from the docker config) to the nodes
    #[arg(long)]
    pub with_registry_auth: bool,
    /// Build the images of services with `build:` on the manager first
    #[arg(long)]
    pub build: bool,
    /// Push the images of services with `build:` to their registry first (then each service is
    /// pinned to the digest pushed, so every node runs the same image)
    #[arg(long)]
    pub push: bool,
    /// Make a key Swarm cannot express an error instead of a warning
    #[arg(long)]
    pub strict: bool,
    /// Seconds each service may take to converge
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// The stack's name
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub stacks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StackName {
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    pub stack: String,
}

impl From<DeployError> for CliError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Load(d) => CliError::Load(d),
            e => CliError::Message { hint: e.hint(), message: e.to_string(), code: 1 },
        }
    }
}

pub fn run(g: &GlobalArgs, a: &StackArgs) -> Result<ExitCode, CliError> {
    match &a.command {
        StackCommand::Deploy(d) => deploy_cmd(g, d),
        StackCommand::Rm(n) => rm(n),
        StackCommand::Ps(s) => ps(s),
        StackCommand::Services(s) => services(s),
        StackCommand::Ls => ls(),
    }
}

fn deploy_cmd(g: &GlobalArgs, a: &DeployArgs) -> Result<ExitCode, CliError> {
    let mut opts = g.load_options(&[], false);
    if !a.compose_file.is_empty() {
        opts.files = a.compose_file.clone();
    }
    let project = deploy::load(&opts, &a.stack)?;
    let req = DeployRequest {
        stack: a.stack.clone(),
        prune: a.prune,
        detach: a.detach,
        resolve_image: match a.resolve_image {
            Resolve::Always => ResolveImage::Always,
            Resolve::Changed => ResolveImage::Changed,
            Resolve::Never => ResolveImage::Never,
        },
        timeout: Duration::from_secs(a.timeout),
        dry_run: g.dry_run,
        strict: a.strict,
        registry_auth: a.with_registry_auth,
        docker_config: None,
    };
    let quiet = matches!(g.progress, crate::cli::Progress::Quiet);
    let report = move |line: String| {
        if !quiet || line.starts_with("warning:") || line.starts_with("error:") {
            eprintln!("{line}");
        }
    };
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await?;
        let endpoint = engine.endpoint().to_string();
        if (a.build || a.push) && !req.dry_run {
            deploy::require_manager(&engine, &endpoint).await?;
            let r = g.report();
            let built: Vec<String> =
                project.services.iter().filter(|(_, s)| s.build.is_some()).map(|(n, _)| n.clone()).collect();
            if a.build && !built.is_empty() {
                let opts = BuildOptions { parallel: parallel(g), skip_unchanged: true, ..BuildOptions::default() };
                images::build(&engine, &project, &built, false, &project.environment, &opts, &r).await?;
            }
            if a.push && !built.is_empty() {
                let pushed = images::push(&engine, &project, &built, false, quiet, &r).await?;
                outcome(pushed, false, "push")?;
            }
            g.shown.finish();
        }
        let d = deploy::deploy(&engine, &project, &req, &endpoint, &report).await?;
        if req.dry_run {
            for action in &d.plan.actions {
                println!("{} (dry run)", action.describe());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn rm(a: &NamesArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await?;
        for stack in &a.stacks {
            let r = deploy::remove(&engine, stack, Duration::from_secs(120)).await?;
            if r.services.is_empty() && r.networks.is_empty() && r.data.is_empty() {
                eprintln!("Nothing found in stack: {stack}");
                continue;
            }
            for s in &r.services {
                eprintln!("Removing service {s}");
            }
            for (k, d) in &r.data {
                eprintln!("Removing {} {d}", k.as_str());
            }
            for n in &r.networks {
                eprintln!("Removing network {n}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Rows as JSON lines, or as a table of `(header, field, width)` columns (the last unpadded).
fn print_rows(rows: &[serde_json::Value], format: &str, columns: &[(&str, &str, usize)]) {
    if format == "json" {
        for r in rows {
            println!("{r}");
        }
        return;
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for ((_, _, width), cell) in columns.iter().zip(cells) {
            out.push_str(&format!("{cell:<width$}"));
        }
        println!("{out}");
    };
    line(columns.iter().map(|(h, _, _)| h.to_string()).collect());
    for r in rows {
        line(columns.iter().map(|(_, k, _)| r[*k].as_str().unwrap_or("").to_string()).collect());
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn ps(a: &StackName) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await?;
        let list = deploy::services(&engine, &a.stack).await?;
        if list.is_empty() {
            return Err(CliError::msg(format!("nothing found in stack: {}", a.stack)));
        }
        let mut rows = Vec::new();
        for (s, tasks) in &list {
            let mut tasks = tasks.clone();
            tasks.sort_by(|x, y| (x.slot, &y.timestamp).cmp(&(y.slot, &x.timestamp)));
            for t in &tasks {
                let name = match t.slot {
                    Some(n) => format!("{}.{n}", s.name),
                    None => format!("{}.{}", s.name, t.node_id.as_deref().unwrap_or("")),
                };
                rows.push(serde_json::json!({
                    "ID": short(&t.id), "Name": name, "Image": t.image.split('@').next().unwrap_or(""),
                    "Node": short(t.node_id.as_deref().unwrap_or("")), "DesiredState": t.desired_state,
                    "CurrentState": t.state, "Error": t.error.clone().unwrap_or_default(),
                }));
            }
        }
        print_rows(
            &rows,
            &a.format,
            &[
                ("ID", "ID", 14),
                ("NAME", "Name", 28),
                ("IMAGE", "Image", 28),
                ("NODE", "Node", 14),
                ("DESIRED STATE", "DesiredState", 15),
                ("CURRENT STATE", "CurrentState", 15),
                ("ERROR", "Error", 0),
            ],
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn services(a: &StackName) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await?;
        let list = deploy::services(&engine, &a.stack).await?;
        if list.is_empty() {
            return Err(CliError::msg(format!("nothing found in stack: {}", a.stack)));
        }
        let mut rows = Vec::new();
        for (s, tasks) in &list {
            let running = tasks.iter().filter(|t| t.desired_state == "running" && t.state == "running").count();
            let mode = s
                .spec
                .get("Mode")
                .and_then(|m| m.as_object())
                .and_then(|m| m.keys().next().cloned())
                .unwrap_or_default();
            let replicas = match s.spec.pointer("/Mode/Replicated/Replicas").and_then(|r| r.as_u64()) {
                Some(n) => format!("{running}/{n}"),
                None => {
                    let complete = tasks.iter().filter(|t| t.state == "complete").count();
                    if mode.ends_with("Job") {
                        format!("{complete} completed")
                    } else {
                        format!("{running}/{}", tasks.iter().filter(|t| t.desired_state == "running").count())
                    }
                }
            };
            let ports: Vec<String> = s
                .spec
                .pointer("/EndpointSpec/Ports")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "*:{}->{}/{}",
                        p["PublishedPort"].as_u64().map(|n| n.to_string()).unwrap_or_default(),
                        p["TargetPort"],
                        p["Protocol"].as_str().unwrap_or("tcp")
                    )
                })
                .collect();
            let image = s.spec.pointer("/TaskTemplate/ContainerSpec/Image").and_then(|i| i.as_str()).unwrap_or("");
            rows.push(serde_json::json!({
                "ID": short(&s.id), "Name": s.name, "Mode": mode.to_lowercase(), "Replicas": replicas,
                "Image": image.split('@').next().unwrap_or(""), "Ports": ports.join(", "),
            }));
        }
        print_rows(
            &rows,
            &a.format,
            &[
                ("ID", "ID", 14),
                ("NAME", "Name", 28),
                ("MODE", "Mode", 16),
                ("REPLICAS", "Replicas", 12),
                ("IMAGE", "Image", 28),
                ("PORTS", "Ports", 0),
            ],
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn ls() -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = DockerEngine::connect().await?;
        let stacks = deploy::stacks(&engine).await?;
        println!("{:<24}SERVICES", "NAME");
        for (name, n) in stacks {
            println!("{name:<24}{n}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
