//! The attached loop (`wharf up` without `-d`) on the in-memory fake engine, with tokio's paused
//! clock: abort on a container's exit, the two-stage interrupt, and restart supervision with
//! backoff — the decisions, without a daemon and without waiting for real time to pass.

use futures::channel::mpsc;
use wharf::engine::fake::FakeEngine;
use wharf::engine::{Engine, State};
use wharf::model::Project;
use wharf::ops::attach::{AttachRequest, Outcome, Shown, run};
use wharf::ops::up::{UpRequest, up};
use wharf::plan::UpOptions;

fn load(dir: &tempfile::TempDir, name: &str, compose: &str) -> Project {
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let opts =
        wharf::LoadOptions { project_name: Some(name.into()), cwd: dir.path().to_path_buf(), ..Default::default() };
    wharf::load(&opts).map_err(|d| d.render()).unwrap().project
}

/// Converges `project` as attached `up` does (events subscribed first), then runs the loop.
async fn attached(
    e: &FakeEngine,
    p: &Project,
    req: AttachRequest,
    interrupts: mpsc::UnboundedReceiver<()>,
) -> (Outcome, Vec<Shown>) {
    let events = e.events(&p.name);
    let converge = UpRequest { options: UpOptions { supervised: true, ..Default::default() }, ..Default::default() };
    up(e, p, &converge).await.unwrap();
    let mut shown = Vec::new();
    // Time is paused: when nothing is left to wake the run, the clock jumps to this deadline,
    // so a run that can never end fails at once instead of hanging the suite.
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(3600),
        run(e, p, &req, events, interrupts, |s| shown.push(s)),
    )
    .await
    .expect("the attached run never ended: nothing was left to wake it")
    .unwrap();
    (outcome, shown)
}

fn state(e: &FakeEngine, name: &str) -> State {
    e.container(name).map(|c| c.state).unwrap_or(State::Dead)
}

const TWO: &str = "services:\n  web:\n    image: img\n  job:\n    image: img\n";

#[tokio::test(start_paused = true)]
async fn a_container_exit_aborts_the_run_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "att1", TWO);
    let e = FakeEngine::new().with_image("img");
    e.exit_on_start("-job-", 3);
    let req = AttachRequest { abort_on_container_exit: true, ..Default::default() };
    let (_keep, rx) = mpsc::unbounded();
    let (outcome, shown) = attached(&e, &p, req, rx).await;
    assert_eq!(outcome, Outcome { code: 3, interrupted: false });
    assert!(shown.contains(&Shown::Attaching(vec!["job-1".into(), "web-1".into()])), "{shown:?}");
    let exit = Shown::Exited { short: "job-1".into(), service: "job".into(), code: 3, restarting: false };
    let abort = Shown::Message("Aborting on container exit...".into());
    let at = |s: &Shown| shown.iter().position(|x| x == s).unwrap_or_else(|| panic!("no {s:?} in {shown:?}"));
    assert!(at(&exit) < at(&abort), "{shown:?}");
    assert_eq!(state(&e, "att1-web-1"), State::Exited, "the rest of the stack was stopped");
}

#[tokio::test(start_paused = true)]
async fn exit_code_from_returns_the_named_service_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "att2", TWO);
    let e = FakeEngine::new().with_image("img");
    e.exit_on_start("-job-", 7);
    let req = AttachRequest { exit_code_from: Some("job".into()), ..Default::default() };
    let (_keep, rx) = mpsc::unbounded();
    let (outcome, _) = attached(&e, &p, req, rx).await;
    assert_eq!(outcome, Outcome { code: 7, interrupted: false });
}

#[tokio::test(start_paused = true)]
async fn the_first_interrupt_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "att3", "services:\n  web:\n    image: img\n");
    let e = FakeEngine::new().with_image("img");
    let (tx, rx) = mpsc::unbounded();
    tx.unbounded_send(()).unwrap();
    let (outcome, shown) = attached(&e, &p, AttachRequest::default(), rx).await;
    assert_eq!(outcome, Outcome { code: 130, interrupted: true });
    assert!(
        shown.contains(&Shown::Message("Gracefully stopping... (press Ctrl+C again to force)".into())),
        "{shown:?}"
    );
    assert!(!shown.contains(&Shown::Message("Killing...".into())), "{shown:?}");
    assert_eq!(state(&e, "att3-web-1"), State::Exited);
    assert!(e.calls().iter().any(|c| c.starts_with("stop_container att3-web-1")), "{:?}", e.calls());
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_is_restarted_with_backoff_until_its_attempts_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "services:\n  flaky:\n    image: img\n    deploy:\n      restart_policy: {condition: on-failure, max_attempts: 2}\n";
    let p = load(&dir, "att4", compose);
    let e = FakeEngine::new().with_image("img");
    e.exit_on_start("-flaky-", 1);
    let (_keep, rx) = mpsc::unbounded();
    let (outcome, shown) = attached(&e, &p, AttachRequest::default(), rx).await;
    assert_eq!(outcome, Outcome { code: 0, interrupted: false });
    let notes: Vec<String> = shown
        .iter()
        .filter_map(|s| match s {
            Shown::Note { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 3, "{shown:?}");
    assert!(notes[0].contains("(attempt 1 of 2)") && notes[1].contains("(attempt 2 of 2)"), "{notes:?}");
    assert_eq!(notes[2], "giving up after 2 restart attempts (exited with code 1)");
    let starts = e.calls().iter().filter(|c| c.starts_with("start_container att4-flaky-1")).count();
    assert_eq!(starts, 3, "the first start and two restarts");
    // The engine's policy was `no` while wharf supervised, and is given back afterwards.
    let policies: Vec<String> = e.calls().into_iter().filter(|c| c.starts_with("set_restart_policy")).collect();
    assert_eq!(policies.last().map(String::as_str), Some("set_restart_policy att4-flaky-1 on-failure"), "{policies:?}");
}
