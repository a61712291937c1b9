//! `wharf test -- CMD`: a fresh stack under a unique name, CMD run against it with the
//! published ports in its environment, and the stack always removed afterwards; `__reap`, the
//! detached process that removes a test stack whose owner died; `gc`, which removes test stacks
//! whose owner is gone.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::ops::test::Ran;
use crate::stack::{Collected, label_owner, start_reaper, unique_name};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Leave the stack up afterwards (prints how to remove it)
    #[arg(long)]
    pub keep: bool,
    /// Maximum seconds to wait for the stack to be running|healthy
    #[arg(long, default_value_t = 120)]
    pub wait_timeout: u64,
    /// Claim a ready copy from the project's warm pool (`wharf pool fill`) instead of starting
    /// one, and refill the pool in the background; without a ready copy, start cold
    #[arg(long)]
    pub pool: bool,
    /// With `--pool`: leave the pool as it is (no background refill)
    #[arg(long, requires = "pool")]
    pub no_refill: bool,
    /// The command to run against the stack
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReapArgs {
    #[arg(long)]
    pub parent: u32,
    #[arg(long)]
    pub project: String,
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub fn test(g: &GlobalArgs, a: &TestArgs) -> Result<ExitCode, CliError> {
    if a.pool
        && !g.dry_run
        && let Some(code) = pooled(g, a)?
    {
        return Ok(code);
    }
    let mut project = g.load(&[], false)?.project;
    if g.project_name.is_none() {
        // Loaded again under the unique name, so network and volume names follow it.
        let g = GlobalArgs { project_name: Some(unique_name(&project.name)), ..g.clone() };
        project = crate::load::load(&g.load_options(&[], false)).map_err(CliError::Load)?.project;
    }
    label_owner(&mut project, std::process::id());
    for w in crate::ops::test::fixed_port_warnings(&project) {
        eprintln!("warning: {w}");
    }
    let exe = std::env::current_exe().map_err(|e| CliError::msg(format!("cannot find the wharf binary: {e}")))?;
    // A dry run creates nothing, so nothing is left to reap.
    let mut reaper = match g.dry_run {
        true => None,
        false => Some(start_reaper(&exe, &project.name).map_err(|e| CliError::msg(e.to_string()))?),
    };
    let req = crate::ops::test::TestRequest {
        cmd: a.cmd.clone(),
        wait_timeout: a.wait_timeout,
        lock: (!g.dry_run).then(crate::lock::default_endpoint),
        dry_run: g.dry_run,
        report: g.report(),
    };
    let result = runtime()?.block_on(async {
        let engine = g.engine().await?;
        let ran = crate::ops::test::run(&engine, &project, &req, reaper.as_mut().and_then(|r| r.stdin.as_mut())).await;
        // Always: tear down (unless --keep), whatever happened above.
        if a.keep {
            eprintln!("kept project `{}`: remove it with `wharf -p {} down -v`", project.name, project.name);
        } else if let Err(e) = crate::ops::test::teardown(&engine, &project, &g.report()).await {
            eprintln!("warning: tearing down `{}`: {}", project.name, CliError::from(e).render().trim());
        }
        Ok::<i64, CliError>(shown(a, ran?))
    });
    if let Some(r) = reaper.as_mut() {
        let _ = r.kill();
        let _ = r.wait();
    }
    let code = result?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Prints how the command ended; its exit code.
fn shown(a: &TestArgs, ran: Ran) -> i64 {
    match ran {
        Ran::DryRun { variables } => {
            let what = format!("run `{}`", a.cmd.join(" "));
            println!("{what:<48} (dry run: with {variables} variables set)");
            0
        }
        Ran::Exited { code, failed } => {
            for (name, status, lines) in failed {
                eprintln!("{name} ({status}):{lines}");
            }
            code
        }
    }
}

/// `test --pool`: claims a ready copy of the project's pool, runs the command against it and
/// removes it, refilling the pool in the background. `None` when no copy was ready: the
/// caller starts cold (the refill has been started either way).
fn pooled(g: &GlobalArgs, a: &TestArgs) -> Result<Option<ExitCode>, CliError> {
    use crate::ops::pool;
    let base = g.load(&[], false)?.project;
    let exe = std::env::current_exe().map_err(|e| CliError::msg(format!("cannot find the wharf binary: {e}")))?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let engine = g.engine().await?;
        let prepare = pool::Prepare::from_project(&base)?;
        let images = pool::images(&engine, &base).await?;
        let req = pool::ClaimRequest {
            pool: base.name.clone(),
            key: pool::key(&base, &pool::image_ids(&images), prepare.as_ref()),
            probes: pool::probes(&base, &images),
            timeout: Duration::from_secs(a.wait_timeout),
            endpoint: crate::lock::default_endpoint(),
        };
        let name = base.name.clone();
        let waiting = |none: &pool::NoCopy| {
            eprintln!("pool `{name}`: no ready copy; waiting for one of the {} being filled", none.filling)
        };
        let claimed = match pool::claim(&engine, &req, true, waiting).await? {
            Ok(c) => c,
            Err(none) if a.no_refill => {
                eprintln!("pool `{}`: {}; starting cold", base.name, none.describe());
                return Ok::<Option<i64>, CliError>(None);
            }
            Err(none) => {
                let log = super::pool::refill(g, &base.name, none.size.unwrap_or(pool::DEFAULT_SIZE))?;
                eprintln!(
                    "pool `{}`: {}; starting cold (refilling in the background, log: {})",
                    base.name,
                    none.describe(),
                    log.display()
                );
                return Ok(None);
            }
        };
        let mut reaper = start_reaper(&exe, &claimed.project).map_err(|e| CliError::msg(e.to_string()))?;
        eprintln!("claimed {} from pool `{}` ({} ms)", claimed.project, base.name, claimed.took.as_millis());
        // Started beside the command, not before it.
        let (g2, name, size, wanted) = (g.clone(), base.name.clone(), claimed.size, !a.no_refill);
        let refill = std::thread::spawn(move || wanted.then(|| super::pool::refill(&g2, &name, size)));
        let env = crate::ops::test::environment_of(&claimed.project, &claimed.containers);
        let ran = crate::ops::test::run_command(&engine, &claimed.project, &env, &a.cmd, reaper.stdin.as_mut()).await;
        if a.keep {
            eprintln!(
                "kept project `{}`: remove it with `wharf -p {} down -v` (`wharf pool gc` removes it too)",
                claimed.project, claimed.project
            );
        } else if let Err(e) = crate::scheduler::purge(&engine, &claimed.project, &g.report()).await {
            eprintln!("warning: removing `{}`: {}", claimed.project, CliError::from(e).render().trim());
        }
        claimed.release();
        if let Ok(Some(Err(e))) = refill.join() {
            eprintln!("warning: {}", e.render().trim());
        }
        let _ = reaper.kill();
        let _ = reaper.wait();
        Ok(Some(shown(a, ran?)))
    });
    Ok(result?.map(|code| ExitCode::from(code.clamp(0, 255) as u8)))
}

/// The hidden reaper: waits for `--parent` to die, then removes everything of `--project`.
pub fn reap(a: &ReapArgs) -> Result<ExitCode, CliError> {
    // The test command's process group, once the parent has started it.
    let group = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let g2 = group.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse::<i32>() {
                g2.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    while alive(a.parent) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let pgid = group.load(std::sync::atomic::Ordering::SeqCst);
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    runtime()?.block_on(async {
        let engine = crate::engine::docker::DockerEngine::connect().await?;
        // Nothing is left to tell: the owner is gone.
        let _ = crate::stack::reap(&engine, &a.project).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `gc`: removes the test stacks whose owning process is gone.
pub fn gc(g: &GlobalArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        for c in crate::stack::gc(&engine, &g.report()).await.map_err(|e| CliError::msg(e.to_string()))? {
            match c {
                Collected::Kept { project, owner } => eprintln!(
                    "kept test stack {project}: its owner (process {owner}) cannot be checked from here (another PID namespace, or an older wharf); remove it with `wharf -p {project} down -v` if it is abandoned"
                ),
                Collected::Removed { project, owner } => {
                    println!("removed test stack {project} (its owner, process {owner}, is gone)")
                }
                Collected::PoolCopy { project } => {
                    println!("removed pool copy {project} (its filler or claimer is gone)")
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
