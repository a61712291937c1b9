//! `stack deploy` on the in-memory fake swarm: dependency order, no-op redeploys, secret
//! versions, failures and the not-a-manager refusal, without an engine (the real-engine cases
//! are in `tests/swarm.rs`).

use std::time::Duration;

use wharf::engine::fake::FakeEngine;
use wharf::engine::swarm::{DataKind, Swarm};
use wharf::ops::deploy::{self, DeployError, DeployRequest, ResolveImage};

const APP: &str = r#"services:
  migrate:
    image: i
    deploy: {mode: replicated-job}
  db:
    image: i
    healthcheck: {test: [CMD, "true"]}
    secrets: [pw]
    depends_on:
      migrate: {condition: service_completed_successfully}
  api:
    image: i
    environment: {LEVEL: "${LEVEL:-one}"}
    deploy: {replicas: 2}
    depends_on:
      db: {condition: service_healthy}
  side:
    image: i
secrets:
  pw: {environment: PW}
"#;

fn project(yaml: &str, env: &[(&str, &str)]) -> wharf::model::Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
    let opts = wharf::LoadOptions {
        cwd: dir.path().to_path_buf(),
        environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    deploy::load(&opts, "st").unwrap()
}

fn req() -> DeployRequest {
    DeployRequest {
        stack: "st".into(),
        prune: false,
        detach: false,
        resolve_image: ResolveImage::Never,
        timeout: Duration::from_secs(60),
        dry_run: false,
        strict: false,
        registry_auth: false,
        docker_config: None,
    }
}

fn swarm() -> FakeEngine {
    let e = FakeEngine::new();
    e.state().swarm.active = true;
    e
}

async fn run(e: &FakeEngine, p: &wharf::model::Project) -> Result<deploy::Deployed, DeployError> {
    deploy::deploy(e, p, &req(), "fake", &|_| {}).await
}

#[tokio::test(start_paused = true)]
async fn services_are_sent_after_their_dependencies_converged() {
    let e = swarm();
    run(&e, &project(APP, &[("PW", "a")])).await.unwrap();
    let sent = e.state().swarm.sent.clone();
    let at = |n: &str| sent.iter().position(|s| s == n).unwrap();
    assert!(at("st_migrate") < at("st_db") && at("st_db") < at("st_api"), "{sent:?}");
    assert_eq!(sent.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_redeploy_with_nothing_changed_sends_nothing_and_a_change_one_update() {
    let e = swarm();
    let p = project(APP, &[("PW", "a")]);
    run(&e, &p).await.unwrap();
    let calls = |e: &FakeEngine| e.calls().iter().filter(|c| c.contains("_service")).count();
    let before = calls(&e);
    run(&e, &p).await.unwrap();
    assert_eq!(calls(&e), before, "a no-op redeploy created or updated a service");
    run(&e, &project(APP, &[("PW", "a"), ("LEVEL", "two")])).await.unwrap();
    let updates: Vec<String> = e.calls().into_iter().filter(|c| c.starts_with("update_service")).collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
}

#[tokio::test(start_paused = true)]
async fn a_changed_secret_is_a_new_version_and_the_old_one_goes() {
    let e = swarm();
    run(&e, &project(APP, &[("PW", "a")])).await.unwrap();
    let names = |e: &FakeEngine| -> Vec<String> { e.state().swarm.data.keys().map(|(_, n)| n.clone()).collect() };
    let first = names(&e);
    run(&e, &project(APP, &[("PW", "b")])).await.unwrap();
    let second = names(&e);
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
    let db = e.state().swarm.services.values().find(|s| s.name == "st_db").unwrap().spec.clone();
    let id = e.state().swarm.data.get(&(DataKind::Secret, second[0].clone())).unwrap().id.clone();
    assert_eq!(db.pointer("/TaskTemplate/ContainerSpec/Secrets/0/SecretID").unwrap(), id.as_str());
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_is_reported_and_its_dependents_are_not_sent() {
    let e = swarm();
    e.state().swarm.failing.insert("st_db".into(), 3);
    let yaml = APP.replace("    secrets: [pw]\n", "    secrets: [pw]\n    restart: \"no\"\n");
    let err = run(&e, &project(&yaml, &[("PW", "a")])).await.unwrap_err();
    assert!(matches!(&err, DeployError::Failed { service, .. } if service == "st_db"), "{err}");
    assert!(err.to_string().contains("non-zero exit (3)"), "{err}");
    assert!(!e.state().swarm.sent.contains(&"st_api".to_string()));
}

#[tokio::test]
async fn an_engine_outside_a_swarm_is_refused_before_anything_changes() {
    let e = FakeEngine::new();
    let err = run(&e, &project(APP, &[("PW", "a")])).await.unwrap_err();
    assert!(matches!(err, DeployError::NotManager { .. }), "{err}");
    assert!(err.hint().unwrap().contains("docker swarm init"));
    assert!(e.state().swarm.services.is_empty() && e.state().networks.is_empty());
}

#[tokio::test]
async fn rm_removes_services_networks_and_secrets() {
    let e = swarm();
    tokio::time::pause();
    run(&e, &project(APP, &[("PW", "a")])).await.unwrap();
    let removed = deploy::remove(&e, "st", Duration::from_secs(10)).await.unwrap();
    // The finished job task the engine keeps does not hold the network: one look at the tasks
    // is enough (it used to wait out the whole timeout for it).
    assert_eq!(e.calls().iter().filter(|c| c.starts_with("tasks_labelled")).count(), 1, "{:?}", e.calls());
    assert_eq!(removed.services.len(), 4);
    assert_eq!(removed.networks, ["st_default"]);
    assert_eq!(removed.data.len(), 1);
    assert!(e.services("").await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_registry_auth_sends_each_image_its_registrys_credentials() {
    let config = tempfile::tempdir().unwrap();
    // `auth` is base64 of `ci:s3cret`.
    std::fs::write(
        config.path().join("config.json"),
        r#"{"auths": {"registry.example:5000": {"auth": "Y2k6czNjcmV0"}}}"#,
    )
    .unwrap();
    let p = project("services:\n  private:\n    image: registry.example:5000/app:1\n  public:\n    image: i\n", &[]);
    let e = swarm();
    let with = DeployRequest { registry_auth: true, docker_config: Some(config.path().to_path_buf()), ..req() };
    deploy::deploy(&e, &p, &with, "fake", &|_| {}).await.unwrap();
    // Only the image whose registry the config knows gets credentials, and only that registry's.
    assert_eq!(e.state().swarm.auth_sent, vec![("st_private".to_string(), "registry.example:5000".to_string())]);
    // Without the flag nothing is sent, also on an update.
    let p2 = project("services:\n  private:\n    image: registry.example:5000/app:2\n  public:\n    image: i\n", &[]);
    let without = DeployRequest { docker_config: Some(config.path().to_path_buf()), ..req() };
    deploy::deploy(&e, &p2, &without, "fake", &|_| {}).await.unwrap();
    assert_eq!(e.state().swarm.auth_sent.len(), 1);
    assert!(e.state().swarm.sent.iter().filter(|s| *s == "st_private").count() == 2, "the update was sent");
}
