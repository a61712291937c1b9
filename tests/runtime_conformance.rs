//! Runtime conformance (issue 16): scenarios that a compose-compatible tool must pass, run on
//! the real engine. Compose v2 is the oracle: a scenario is only kept when `docker compose`
//! passes it too. Prints `conformance: P/T scenarios pass`.
//!
//! `cargo test --test runtime_conformance` runs them with wharf (CI does).
//! `WHARF_RUNTIME_RUNNER=compose cargo test --test runtime_conformance` runs them with
//! `docker compose`, to accept a new or changed scenario. `WHARF_CONFORMANCE_ONLY=name` runs the
//! scenarios whose name contains `name`; `WHARF_CONFORMANCE_JOBS=N` plays N at once (default 2).
//!
//! A scenario file in `tests/conformance/runtime/` holds scenarios, each starting with a line
//! `=== NAME: what it shows`, then its files (`-- path --`, as Go's txtar), then a `-- steps --`
//! section, one step per line. `$PROJECT` is the scenario's project name and `$DIR` its
//! directory, in files and steps alike. The steps are listed in `tests/conformance/README.md`.
//!
//! Every command has a deadline, nothing waits by sleeping (a wait is on an engine condition or
//! on a background command's output), and whatever happens the scenario's containers, networks,
//! volumes and images are removed by their project label or name.

mod common;
#[path = "conformance/harness.rs"]
mod harness;

/// Scenarios played at once (`WHARF_CONFORMANCE_JOBS`, default 2): each has its own project,
/// directory and host ports, and most of a scenario's time is spent waiting on the engine.
fn jobs() -> usize {
    std::env::var("WHARF_CONFORMANCE_JOBS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(2)
}

fn main() {
    let all = harness::scenarios();
    let total = all.len();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs() {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(s) = all.get(i) else { break };
                    let project = format!("rconf{}x{i}", std::process::id());
                    let started = std::time::Instant::now();
                    match harness::play(s, &project) {
                        Ok(()) => println!("{} ... ok ({:.1} s)", s.name, started.elapsed().as_secs_f64()),
                        Err(why) => {
                            println!("{} ... FAILED\n{why}", s.name);
                            failed.lock().unwrap().push(s.name.clone());
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    let runner = if harness::runner_is_compose() { "docker compose" } else { "wharf" };
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
    }
    println!("conformance: {}/{total} scenarios pass ({runner})", total - failed.len());
    if !failed.is_empty() || total == 0 {
        std::process::exit(1);
    }
}
