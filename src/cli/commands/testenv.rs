//! `wharf test -- CMD`: a fresh stack under a unique name, CMD run against it with the
//! published ports in its environment, and the stack always removed afterwards; `__reap`, the
//! detached process that removes a test stack whose owner died; `gc`, which removes test stacks
//! whose owner is gone.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::cli::context::{CliEngine, runtime};
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{Engine, State};
use crate::model::labels::PROJECT;
use crate::ops::up::UpRequest;
use crate::scheduler::{DownOptions, down, purge};
use crate::stack::{OWNER, OWNER_ID, Owner, label_owner, owner_state, start_reaper, unique_name};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Leave the stack up afterwards (prints how to remove it)
    #[arg(long)]
    pub keep: bool,
    /// Maximum seconds to wait for the stack to be running|healthy
    #[arg(long, default_value_t = 120)]
    pub wait_timeout: u64,
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
    let rt = runtime()?;
    let result = rt.block_on(async {
        let engine = g.engine().await?;
        let outcome = run_against(&engine, g, &project, a, reaper.as_mut()).await;
        // Always: tear down (unless --keep), whatever happened above.
        if a.keep {
            eprintln!("kept project `{}`: remove it with `wharf -p {} down -v`", project.name, project.name);
        } else {
            let opts = DownOptions { volumes: true, remove_orphans: true, timeout: Some(3), rmi: None };
            if let Err(e) = down(&engine, &project, &opts, &g.report()).await {
                eprintln!("warning: tearing down `{}`: {}", project.name, CliError::from(e).render().trim());
            }
        }
        outcome
    });
    if let Some(r) = reaper.as_mut() {
        let _ = r.kill();
        let _ = r.wait();
    }
    let code = result?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Converges, waits, runs CMD; returns CMD's exit code (130 after a signal).
async fn run_against(
    engine: &CliEngine,
    g: &GlobalArgs,
    project: &crate::model::Project,
    a: &TestArgs,
    reaper: Option<&mut std::process::Child>,
) -> Result<i64, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let dry = engine.is_dry();
    let req = UpRequest {
        environment: std::env::vars().collect(),
        ensure_images: !dry,
        lock: (!dry).then(crate::lock::default_endpoint),
        report: g.report(),
        ..UpRequest::detached_wait(&[], Some(a.wait_timeout))
    };
    crate::ops::up::up(engine, project, &req).await?;

    let env = crate::ops::test::environment(engine, project).await?;
    if engine.is_dry() {
        let what = format!("run `{}`", a.cmd.join(" "));
        println!("{what:<48} (dry run: with {} variables set)", env.len());
        return Ok(0);
    }
    // Not on a terminal (CI), CMD gets a process group of its own, which the reaper kills with
    // everything CMD started if wharf dies. On a terminal it stays in the foreground group (it
    // may read the keyboard), and dies with wharf (PR_SET_PDEATHSIG).
    use std::io::IsTerminal;
    let own_group = !std::io::stdin().is_terminal();
    let mut cmd = tokio::process::Command::new(&a.cmd[0]);
    cmd.args(&a.cmd[1..]).envs(&env);
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
    let mut child = cmd.spawn().map_err(|e| CliError::msg(format!("cannot run `{}`: {e}", a.cmd[0])))?;
    let group = child.id().filter(|_| own_group).map(|p| p as i32);
    if let (Some(pgid), Some(stdin)) = (group, reaper.and_then(|r| r.stdin.as_mut())) {
        use std::io::Write;
        let _ = writeln!(stdin, "{pgid}");
    }
    let kill_all = |child: &mut tokio::process::Child| {
        match group {
            // SAFETY: kill(2) on CMD's own process group.
            Some(pgid) => unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            },
            None => {
                let _ = child.start_kill();
            }
        }
    };
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| CliError::msg(e.to_string()))?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| CliError::msg(e.to_string()))?;
    let code = tokio::select! {
        st = child.wait() => st.map(|s| s.code().unwrap_or(1) as i64).unwrap_or(1),
        _ = sigint.recv() => { kill_all(&mut child); let _ = child.wait().await; 130 }
        _ = sigterm.recv() => { kill_all(&mut child); let _ = child.wait().await; 130 }
    };
    if code != 0 {
        // What went wrong inside: the last lines of every service that exited or is unhealthy.
        let list = engine.list_containers(&project.name).await.unwrap_or_default();
        for c in list.iter().filter(|c| c.state != State::Running || c.status.contains("unhealthy")) {
            let lines = crate::scheduler::readiness::last_lines(engine, &c.id, 10).await;
            eprintln!("{} ({}):{lines}", c.name, c.status);
        }
    }
    Ok(code)
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
        for _ in 0..3 {
            if purge(&engine, &a.project, &crate::progress::Report::silent()).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `gc`: removes the test stacks whose owning process is gone.
pub fn gc(g: &GlobalArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let mut owners: BTreeMap<String, (u32, Option<String>)> = BTreeMap::new();
        for c in engine.list_projects().await? {
            if let (Some(p), Some(pid)) = (c.label(PROJECT), c.label(OWNER).and_then(|o| o.parse().ok())) {
                owners.insert(p.to_string(), (pid, c.label(OWNER_ID).map(str::to_string)));
            }
        }
        for (project, (pid, id)) in owners {
            match owner_state(pid, id.as_deref()) {
                Owner::Alive => {}
                Owner::Unknown => eprintln!(
                    "kept test stack {project}: its owner (process {pid}) cannot be checked from here (another PID namespace, or an older wharf); remove it with `wharf -p {project} down -v` if it is abandoned"
                ),
                Owner::Gone => {
                    purge(&engine, &project, &g.report()).await?;
                    println!("removed test stack {project} (its owner, process {pid}, is gone)");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
