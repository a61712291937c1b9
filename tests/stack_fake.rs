//! The library's `Stack` driven on the in-memory fake engine: it converges through the same
//! operation as `wharf up --wait` (waiting on health), answers queries, and leaves nothing behind
//! — after `down`, and after a failed start.

use wharf::engine::fake::FakeEngine;
use wharf::engine::{Engine, ExecOutput, State};
use wharf::stack::Stack;

const STACK: &str = r#"
services:
  db:
    image: wharf-busybox:latest
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  web:
    image: wharf-busybox:latest
    depends_on:
      db: {condition: service_healthy}
"#;

fn file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let f = dir.path().join("compose.yaml");
    std::fs::write(&f, STACK).unwrap();
    f
}

#[tokio::test]
async fn a_stack_on_the_fake_engine_comes_up_healthy_and_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::new().with_image("wharf-busybox:latest");
    engine.health_on_start("-db-", "healthy");
    let (recording, report) = wharf::progress::Recording::new();
    let stack = Stack::builder(file(&dir)).parallel(2).report(report).up_on(engine.clone()).await.unwrap();
    let name = stack.name().to_string();
    let suffix = name.rsplit_once('-').map(|(_, s)| s).unwrap_or("");
    assert!(suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()), "a unique name: {name}");
    let list = engine.list_containers(&name).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.state == State::Running));
    assert!(stack.warnings().is_empty(), "{:?}", stack.warnings());
    // Progress went to the reporter it was given, in order: db healthy before web starts.
    let states = recording.states();
    let at = |s: &str| states.iter().position(|x| x == s).unwrap_or_else(|| panic!("no `{s}` in {states:?}"));
    assert!(at("Service db  Healthy") < at(&format!("Container {name}-web-1  Started")), "{states:?}");

    engine.exec_result(&format!("{name}-web-1"), ExecOutput { exit_code: 0, output: "pong".into() });
    let out = stack.exec("web", &["ping"]).await.unwrap();
    assert_eq!(out.output, "pong");
    assert!(matches!(stack.host_port("web", 80).await, Err(wharf::stack::Error::NoPort { .. })));

    stack.down().await.unwrap();
    assert!(engine.list_containers(&name).await.unwrap().is_empty());
    assert!(engine.list_networks(&name).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stack_whose_dependency_fails_is_removed_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::new().with_image("wharf-busybox:latest");
    engine.exit_on_start("-db-", 3);
    let err = Stack::builder(file(&dir)).name("stkfail").up_on(engine.clone()).await.err().expect("db exits");
    assert!(err.to_string().contains("db"), "{err}");
    assert!(engine.list_containers("stkfail").await.unwrap().is_empty(), "nothing left after a failed up");
}

#[tokio::test(start_paused = true)]
async fn a_stack_runs_one_offs_and_follows_its_output_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::new().with_image("wharf-busybox:latest");
    engine.health_on_start("-db-", "healthy");
    engine.exit_on_start("-run-", 4);
    let stack = Stack::builder(file(&dir)).name("stkrun").up_on(engine.clone()).await.unwrap();

    // A one-off: its exit code, and it is removed afterwards (`--rm`).
    let done = stack.run("web", &["false"]).await.unwrap();
    assert_eq!(done.exit_code, 4);
    let list = engine.list_containers("stkrun").await.unwrap();
    assert!(list.iter().all(|c| !c.name.contains("-run-")), "the one-off is gone");
    assert!(engine.calls().iter().any(|c| c.starts_with("create_container stkrun-web-run-")), "{:?}", engine.calls());

    // Attached: an interrupt stops the stack gracefully.
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(()).unwrap();
    let mut shown = Vec::new();
    let outcome = stack.attach(Default::default(), rx, |s| shown.push(s)).await.unwrap();
    assert!(outcome.interrupted, "{shown:?}");
    assert!(shown.contains(&wharf::ops::attach::Shown::Attaching(vec!["db-1".into(), "web-1".into()])), "{shown:?}");
    let list = engine.list_containers("stkrun").await.unwrap();
    assert!(list.iter().all(|c| c.state == State::Exited), "{list:?}");
    stack.down().await.unwrap();
}
