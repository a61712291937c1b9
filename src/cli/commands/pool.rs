//! `wharf pool fill|ls|rm|gc`: warm pools of frozen copies of the project for
//! `wharf test --pool` (see [`crate::ops::pool`]); and the background refill a pooled test
//! starts.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::ops::pool::{self, FillRequest, PoolError, Prepare};

#[derive(Debug, Args)]
pub struct PoolArgs {
    #[command(subcommand)]
    pub command: PoolCommand,
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Bring up copies of the project, ready and paused, for `wharf test --pool`
    Fill(FillArgs),
    /// List pools and their copies: state, age, memory held
    Ls(LsArgs),
    /// Remove the project's pool (copies in use are left to their claimers)
    Rm,
    /// Remove stale copies (an older configuration) and abandoned ones
    Gc,
}

#[derive(Debug, Args)]
pub struct FillArgs {
    /// Ready copies to keep
    #[arg(long, default_value_t = pool::DEFAULT_SIZE)]
    pub size: usize,
    /// Maximum seconds each copy may take to be running|healthy
    #[arg(long, default_value_t = 120)]
    pub wait_timeout: u64,
    /// Run the command after `--` in this service's first container of each copy, once, before
    /// it is paused (else `x-wharf.pool.prepare`)
    #[arg(long, value_name = "SERVICE", requires = "command")]
    pub prepare: Option<String>,
    /// Build images before filling
    #[arg(long)]
    pub build: bool,
    /// The prepare step's command
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Format the output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run(g: &GlobalArgs, a: &PoolArgs) -> Result<ExitCode, CliError> {
    match &a.command {
        PoolCommand::Fill(f) => fill(g, f),
        PoolCommand::Ls(l) => ls(g, l),
        PoolCommand::Rm => rm(g),
        PoolCommand::Gc => gc(g),
    }
}

impl From<PoolError> for CliError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Load(d) => CliError::Load(d),
            e => CliError::Message { hint: e.hint(), message: e.to_string(), code: 1 },
        }
    }
}

fn fill(g: &GlobalArgs, a: &FillArgs) -> Result<ExitCode, CliError> {
    if a.size == 0 || a.size > pool::MAX_SIZE {
        return Err(CliError::Message {
            message: format!("--size {} is out of range", a.size),
            hint: Some(format!("a pool holds 1 to {} copies (each holds its memory while paused)", pool::MAX_SIZE)),
            code: 1,
        });
    }
    let req = FillRequest {
        size: a.size,
        prepare: a.prepare.clone().map(|service| Prepare { service, command: a.command.clone() }),
        wait_timeout: a.wait_timeout,
        endpoint: crate::lock::default_endpoint(),
        images: crate::build::ensure::ImageFlags { build: a.build, skip_unchanged: true, ..Default::default() },
        parallel: g.parallel(),
        report: g.report(),
    };
    let opts = g.load_options(&[], false);
    if g.dry_run {
        return dry_fill(g, a.size);
    }
    runtime()?.block_on(async {
        let engine = crate::engine::docker::DockerEngine::connect().await?;
        let done = pool::fill(&engine, &opts, &req).await?;
        for c in &done.removed {
            println!("removed {c} (stale or abandoned)");
        }
        for (c, took) in &done.created {
            println!("{c} ready and paused ({:.1} s)", took.as_secs_f64());
        }
        println!("pool {}: {} ready (configuration {})", done.pool, done.ready, done.key);
        Ok(ExitCode::SUCCESS)
    })
}

/// `pool fill --dry-run`: what a fill would do, from what the engine shows; nothing changes.
fn dry_fill(g: &GlobalArgs, size: usize) -> Result<ExitCode, CliError> {
    let base = g.load(&[], false)?.project;
    if let Some(refused) = pool::refusal(&base) {
        return Err(refused.into());
    }
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let cur = current(g, &engine).await;
        let copies = pool::copies(&engine, Some(&base.name), &crate::lock::default_endpoint()).await?;
        let current_key = cur.as_ref().map(|(_, k)| k.as_str());
        let ready =
            copies.iter().filter(|c| c.state == pool::CopyState::Ready && Some(c.key.as_str()) == current_key).count();
        for c in &copies {
            let stale = c.state == pool::CopyState::Ready && Some(c.key.as_str()) != current_key;
            if c.state == pool::CopyState::Abandoned || stale {
                println!("remove {} ({}) (dry run)", c.project, if stale { "stale" } else { "abandoned" });
            }
        }
        let wanted = size.clamp(1, pool::MAX_SIZE);
        println!(
            "fill pool `{}`: {ready} ready, would bring up {} cop{} (dry run)",
            base.name,
            wanted.saturating_sub(ready),
            if wanted.saturating_sub(ready) == 1 { "y" } else { "ies" }
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The project's pool name and current key, if the project loads and its images are there.
async fn current<E: crate::engine::Engine>(g: &GlobalArgs, engine: &E) -> Option<(String, String)> {
    let loaded = crate::load::load(&g.load_options(&[], false)).ok()?.project;
    let prepare = Prepare::from_project(&loaded).ok()?;
    let images = pool::images(engine, &loaded).await.ok()?;
    Some((loaded.name.clone(), pool::key(&loaded, &pool::image_ids(&images), prepare.as_ref())))
}

fn ls(g: &GlobalArgs, a: &LsArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = crate::engine::docker::DockerEngine::connect().await?;
        let cur = current(g, &engine).await;
        let rows =
            pool::list(&engine, cur.as_ref().map(|(p, k)| (p.as_str(), k.as_str())), &crate::lock::default_endpoint())
                .await?;
        if a.format == "json" {
            println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        println!("{:<20} {:<32} {:<14} {:>8} {:>10}", "POOL", "COPY", "STATE", "AGE", "MEMORY");
        for r in rows {
            let state = match r.stale {
                Some(true) => format!("{} (stale)", r.state.as_str()),
                _ => r.state.as_str().to_string(),
            };
            println!(
                "{:<20} {:<32} {:<14} {:>7}s {:>9.1}M",
                r.pool,
                r.copy,
                state,
                r.age_seconds,
                r.memory as f64 / 1_048_576.0
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn rm(g: &GlobalArgs) -> Result<ExitCode, CliError> {
    let name = g.load(&[], false)?.project.name;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let swept = pool::remove(&engine, &name, &crate::lock::default_endpoint(), &g.report()).await?;
        let removed = if g.dry_run { "would remove" } else { "removed" };
        for (c, _) in &swept.removed {
            println!("{removed} {c}");
        }
        for c in &swept.kept {
            eprintln!("kept {c}: in use (its claimer removes it when its command ends)");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn gc(g: &GlobalArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let cur = current(g, &engine).await.ok_or_else(|| {
            CliError::msg("cannot tell which copies are stale: the project does not load or its images are missing")
        })?;
        let swept =
            pool::gc(&engine, Some((cur.0.as_str(), cur.1.as_str())), &crate::lock::default_endpoint(), &g.report())
                .await?;
        let removed = if g.dry_run { "would remove" } else { "removed" };
        for (c, state) in &swept.removed {
            let why = if *state == pool::CopyState::Abandoned { "abandoned" } else { "stale" };
            println!("{removed} {c} ({why})");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The global arguments again, for a `wharf` started from this one.
fn global_args(g: &GlobalArgs) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for f in &g.file {
        out.extend(["-f".into(), f.clone().into_os_string()]);
    }
    if let Some(p) = &g.project_name {
        out.extend(["-p".into(), p.into()]);
    }
    if let Some(d) = &g.project_directory {
        out.extend(["--project-directory".into(), d.clone().into_os_string()]);
    }
    for p in &g.profile {
        out.extend(["--profile".into(), p.into()]);
    }
    for e in &g.env_file {
        out.extend(["--env-file".into(), e.clone().into_os_string()]);
    }
    if g.all_resources {
        out.push("--all-resources".into());
    }
    out
}

/// Starts `wharf pool fill --size N` for this project in the background (see
/// [`pool::spawn_refill`]); returns the path of its log.
pub fn refill(g: &GlobalArgs, pool_name: &str, size: usize) -> Result<std::path::PathBuf, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::msg(format!("cannot find the wharf binary: {e}")))?;
    pool::spawn_refill(&exe, &global_args(g), &[], pool_name, size)
        .map_err(|e| CliError::msg(format!("cannot start the refill of pool `{pool_name}`: {e}")))
}
