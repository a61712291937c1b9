//! The verbs on existing containers (`ops::containers`) on the in-memory fake engine: they walk
//! the dependency graph (dependencies first on the way up, dependents first on the way down),
//! `start` brings a service's dependencies along, `restart` its `restart: true` dependents,
//! and `rm` asks before removing.

use wharf::engine::fake::FakeEngine;
use wharf::engine::{Engine, State};
use wharf::model::Project;
use wharf::ops::containers::{self, Removed, Selection};
use wharf::ops::up::{UpRequest, up};

const CHAIN: &str = r#"
services:
  db:
    image: img
  api:
    image: img
    depends_on:
      db: {condition: service_started, restart: true}
  web:
    image: img
    depends_on: [api]
  tool:
    image: img
"#;

fn load(dir: &tempfile::TempDir, name: &str) -> Project {
    std::fs::write(dir.path().join("compose.yaml"), CHAIN).unwrap();
    let opts =
        wharf::LoadOptions { project_name: Some(name.into()), cwd: dir.path().to_path_buf(), ..Default::default() };
    wharf::load(&opts).map_err(|d| d.render()).unwrap().project
}

async fn running(e: &FakeEngine, p: &Project) {
    let req = UpRequest { ensure_images: false, ..Default::default() };
    up(e, p, &req).await.unwrap();
}

fn selection(services: &[&str]) -> Selection {
    Selection { services: services.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

/// The containers `op` was called on, in call order.
fn order(e: &FakeEngine, op: &str) -> Vec<String> {
    e.calls().into_iter().filter_map(|c| c.strip_prefix(&format!("{op} ")).map(str::to_string)).collect()
}

fn before(list: &[String], a: &str, b: &str) -> bool {
    let pos = |n: &str| list.iter().position(|x| x == n).unwrap_or_else(|| panic!("{n} not in {list:?}"));
    pos(a) < pos(b)
}

async fn state(e: &FakeEngine, p: &Project, name: &str) -> State {
    e.list_containers(&p.name).await.unwrap().into_iter().find(|c| c.name == name).unwrap().state
}

#[tokio::test]
async fn stop_goes_dependents_first_and_start_dependencies_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "cf1");
    let e = FakeEngine::new().with_image("img");
    running(&e, &p).await;
    containers::stop(&e, &p, &selection(&[]), Some(0)).await.unwrap();
    let stops = order(&e, "stop_container");
    assert!(before(&stops, "cf1-web-1", "cf1-api-1") && before(&stops, "cf1-api-1", "cf1-db-1"), "{stops:?}");
    let started_before = order(&e, "start_container").len();
    containers::start(&e, &p, &selection(&[])).await.unwrap();
    let starts: Vec<String> = order(&e, "start_container").split_off(started_before);
    assert_eq!(starts.len(), 4, "{starts:?}");
    assert!(before(&starts, "cf1-db-1", "cf1-api-1") && before(&starts, "cf1-api-1", "cf1-web-1"), "{starts:?}");
}

#[tokio::test]
async fn start_service_brings_its_stopped_dependencies_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "cf2");
    let e = FakeEngine::new().with_image("img");
    running(&e, &p).await;
    containers::stop(&e, &p, &selection(&[]), Some(0)).await.unwrap();
    containers::start(&e, &p, &selection(&["api"])).await.unwrap();
    assert_eq!(state(&e, &p, "cf2-db-1").await, State::Running);
    assert_eq!(state(&e, &p, "cf2-api-1").await, State::Running);
    assert_eq!(state(&e, &p, "cf2-web-1").await, State::Exited);
    assert_eq!(state(&e, &p, "cf2-tool-1").await, State::Exited);
}

#[tokio::test]
async fn restart_takes_the_restart_true_dependents_along_dependencies_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "cf3");
    let e = FakeEngine::new().with_image("img");
    running(&e, &p).await;
    let calls_before = e.calls().len();
    containers::restart(&e, &p, &selection(&["db"]), Some(0), false).await.unwrap();
    let calls: Vec<String> = e.calls().split_off(calls_before);
    let restarted: Vec<String> =
        calls.iter().filter_map(|c| c.strip_prefix("start_container ").map(str::to_string)).collect();
    // api depends on db with `restart: true`; web only with a plain `depends_on`.
    assert_eq!(restarted, ["cf3-db-1", "cf3-api-1"], "{calls:?}");
    let db_started = calls.iter().position(|c| c == "start_container cf3-db-1").unwrap();
    let api_stopped = calls.iter().position(|c| c == "stop_container cf3-api-1").unwrap();
    assert!(db_started < api_stopped, "db is back before api restarts (as compose): {calls:?}");
}

#[tokio::test]
async fn rm_asks_and_keeps_everything_when_told_no() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "cf4");
    let e = FakeEngine::new().with_image("img");
    running(&e, &p).await;
    let sel = selection(&["tool"]);
    assert_eq!(containers::rm(&e, &p, &sel, false, false, |_| true).await.unwrap(), Removed::Nothing);
    let mut asked = Vec::new();
    let declined = containers::rm(&e, &p, &sel, true, false, |names| {
        asked = names.to_vec();
        false
    })
    .await
    .unwrap();
    assert_eq!(declined, Removed::Declined);
    assert_eq!(asked, vec!["cf4-tool-1".to_string()]);
    assert_eq!(e.list_containers(&p.name).await.unwrap().len(), 4);
    let removed = containers::rm(&e, &p, &sel, false, false, |_| true).await.unwrap();
    assert_eq!(removed, Removed::Containers(vec!["cf4-tool-1".into()]));
    assert_eq!(e.list_containers(&p.name).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_missing_replica_and_an_unpublished_port_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, "cf5");
    let e = FakeEngine::new().with_image("img");
    running(&e, &p).await;
    let err = containers::replica(&e, &p, "web", 2).await.unwrap_err();
    assert_eq!(err.to_string(), "service `web` has no container number 2");
    assert_eq!(err.hint().as_deref(), Some("create it with `wharf up -d`"));
    let err = containers::published_port(&e, &p, "web", 1, 80, "tcp").await.unwrap_err();
    assert_eq!(err.to_string(), "no port 80/tcp published for `web`");
}
