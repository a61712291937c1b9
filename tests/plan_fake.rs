//! Reconcile and the scheduler against the in-memory fake engine: every plan is snapshotted as
//! text, then executed, and the engine's resulting state and call order are checked. Fast; the
//! real-engine tests in `engine_lifecycle.rs` and `verbs.rs` prove the same on Docker.

use wharf::engine::fake::FakeEngine;
use wharf::engine::{Engine, EngineError, State};
use wharf::model::Project;
use wharf::plan::{Plan, UpOptions, reconcile};
use wharf::scheduler::{DownOptions, down, execute, observe};

fn silent() -> wharf::progress::Report {
    wharf::progress::Report::silent()
}

const IMAGE: &str = "wharf-busybox:latest";

const STACK: &str = r#"
services:
  db:
    image: wharf-busybox:latest
    volumes: ["data:/data", "/scratch"]
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  web:
    image: wharf-busybox:latest
    environment: {MODE: one}
    networks: [front, default]
    depends_on:
      db: {condition: service_healthy}
  worker:
    image: wharf-busybox:latest
    depends_on: [db]
networks:
  front: {}
volumes:
  data: {}
"#;

fn load(dir: &tempfile::TempDir, compose: &str) -> Project {
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let opts =
        wharf::LoadOptions { project_name: Some("demo".into()), cwd: dir.path().to_path_buf(), ..Default::default() };
    wharf::load(&opts).map_err(|d| d.render()).unwrap().project
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn plan_for(e: &FakeEngine, p: &Project, opts: &UpOptions) -> Plan {
    let observed = observe(e, p).await.unwrap();
    reconcile(p, &observed, opts).unwrap()
}

async fn up(e: &FakeEngine, p: &Project, opts: &UpOptions) -> Plan {
    let plan = plan_for(e, p, opts).await;
    execute(e, p, plan.clone(), None, opts.no_start, &wharf::progress::Report::silent()).await.unwrap();
    plan
}

fn names(e: &FakeEngine) -> Vec<String> {
    let mut v: Vec<String> = e.state().containers.values().map(|c| c.spec.name.clone()).collect();
    v.sort();
    v
}

#[test]
fn cold_up_then_noop_then_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        let cold = up(&e, &p, &UpOptions::default()).await;
        insta::assert_snapshot!("cold_up", cold.to_string());
        assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);
        assert!(e.state().containers.values().all(|c| c.state == State::Running));
        // web joined its second network after create (API 1.41 takes one at create).
        let web = e.container("demo-web-1").unwrap();
        assert_eq!(web.spec.endpoints.len(), 2);

        let noop = plan_for(&e, &p, &UpOptions::default()).await;
        insta::assert_snapshot!("noop", noop.to_string());
        assert!(noop.steps.is_empty());

        let changed = load(&dir, &STACK.replace("MODE: one", "MODE: two"));
        let db_before = e.container("demo-db-1").unwrap().id;
        let plan = up(&e, &changed, &UpOptions::default()).await;
        insta::assert_snapshot!("one_change", plan.to_string());
        assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"], "no duplicate, no leftover");
        assert_eq!(e.container("demo-db-1").unwrap().id, db_before, "db untouched");
        let web = e.container("demo-web-1").unwrap();
        assert!(web.spec.env.contains(&"MODE=two".to_string()));
        assert_eq!(web.state, State::Running);
    });
}

#[test]
fn roots_start_first_dependents_are_created_meanwhile_and_start_once_ready() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE).with_latency(std::time::Duration::from_millis(2));
    rt().block_on(up(&e, &p, &UpOptions::default()));
    let calls = e.calls();
    let pos = |needle: &str| calls.iter().position(|c| c == needle).unwrap_or_else(|| panic!("{needle}: {calls:#?}"));
    // The root starts first; the dependents are created meanwhile, without waiting for its health.
    assert!(pos("start_container demo-db-1") < pos("create_container demo-web-1"), "{calls:#?}");
    for svc in ["web", "worker"] {
        assert!(pos(&format!("create_container demo-{svc}-1")) < pos("inspect_container demo-db-1"), "{calls:#?}");
    }
    assert!(pos("start_container demo-db-1") < pos("start_container demo-web-1"));
    assert!(pos("inspect_container demo-db-1") < pos("start_container demo-web-1"), "health was read first");
    assert!(pos("start_container demo-db-1") < pos("start_container demo-worker-1"));
    // Networks and the volume come before any container.
    assert!(pos("create_network demo_front") < pos("create_container demo-web-1"));
    assert!(pos("create_volume demo_data") < pos("create_container demo-db-1"));
}

#[test]
fn unhealthy_dependency_stops_its_dependents_and_names_why() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    e.health_on_start("demo-db-1", "unhealthy");
    let err = rt().block_on(async {
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await.unwrap_err()
    });
    let msg = err.to_string();
    assert!(
        msg.contains("web") && msg.contains("container demo-db-1 is unhealthy") && msg.contains("probe says unhealthy"),
        "{msg}"
    );
    assert_eq!(e.container("demo-web-1").unwrap().state, State::Created, "web was never started");
    // worker only needs db started, so it runs.
    assert_eq!(e.container("demo-worker-1").unwrap().state, State::Running);
}

#[test]
fn failed_start_names_the_service_and_the_next_up_converges() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    e.fail("start_container", "demo-db-1", EngineError::PortAllocated { port: "5432".into() }, 1);
    let err = rt().block_on(async {
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await.unwrap_err()
    });
    assert!(err.to_string().contains("`db`") && err.to_string().contains("5432"), "{err}");
    // Nothing half-made is lost: the next up starts what exists, creates nothing twice.
    let plan = rt().block_on(up(&e, &p, &UpOptions::default()));
    insta::assert_snapshot!("after_failed_start", plan.to_string());
    assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);
    assert!(e.state().containers.values().all(|c| c.state == State::Running));
}

#[test]
fn interrupted_recreate_leaves_nothing_the_next_up_cannot_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(up(&e, &p, &UpOptions::default()));
    // A recreate killed after creating the replacement: the removal of the original never ran.
    let changed = load(&dir, &STACK.replace("MODE: one", "MODE: two"));
    e.fail(
        "stop_container",
        "demo-web-1",
        EngineError::Unreachable { endpoint: "x".into(), reason: "killed".into() },
        1,
    );
    let _ = rt().block_on(async {
        let plan = plan_for(&e, &changed, &UpOptions::default()).await;
        execute(&e, &changed, plan, None, false, &wharf::progress::Report::silent()).await
    });
    assert_eq!(names(&e).len(), 4, "the replacement exists beside the original: {:?}", names(&e));
    let plan = rt().block_on(up(&e, &changed, &UpOptions::default()));
    let text = plan.to_string().replace(&plan_tmp_prefix(&plan), "<id>");
    insta::assert_snapshot!("after_interrupted_recreate", text);
    assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);
    assert!(e.container("demo-web-1").unwrap().spec.env.contains(&"MODE=two".to_string()));
}

/// The 12-hex-digit ID prefix of a temporary `<id>_<name>` container named in the plan.
fn plan_tmp_prefix(plan: &Plan) -> String {
    let text = plan.to_string();
    text.split_whitespace().find(|w| w.len() > 13 && w.as_bytes()[12] == b'_').map(|w| w[..12].to_string()).unwrap()
}

#[test]
fn scale_up_and_down_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        up(&e, &p, &UpOptions::default()).await;
        let mut opts = UpOptions::default();
        opts.scale.insert("worker".into(), 3);
        let plan = up(&e, &p, &opts).await;
        insta::assert_snapshot!("scale_up", plan.to_string());
        opts.scale.insert("worker".into(), 1);
        let plan = up(&e, &p, &opts).await;
        insta::assert_snapshot!("scale_down", plan.to_string());
        assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);

        // worker leaves the file: reported, kept; removed with --remove-orphans.
        let without =
            load(&dir, &STACK.replace("  worker:\n    image: wharf-busybox:latest\n    depends_on: [db]\n", ""));
        let plan = plan_for(&e, &without, &UpOptions::default()).await;
        assert!(plan.steps.is_empty());
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0].contains("demo-worker-1"), "{:?}", plan.warnings);
        let ignored = plan_for(&e, &without, &UpOptions { ignore_orphans: true, ..Default::default() }).await;
        assert!(ignored.warnings.is_empty());
        let plan = up(&e, &without, &UpOptions { remove_orphans: true, ..Default::default() }).await;
        insta::assert_snapshot!("remove_orphans", plan.to_string());
        assert_eq!(names(&e), ["demo-db-1", "demo-web-1"]);
    });
}

#[test]
fn recreate_flags_and_stopped_containers() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        up(&e, &p, &UpOptions::default()).await;
        let forced = plan_for(&e, &p, &UpOptions { force_recreate: true, ..Default::default() }).await;
        insta::assert_snapshot!("force_recreate", forced.to_string());
        let changed = load(&dir, &STACK.replace("MODE: one", "MODE: two"));
        let kept = plan_for(&e, &changed, &UpOptions { no_recreate: true, ..Default::default() }).await;
        assert!(kept.steps.is_empty(), "{kept}");
        e.stop_container("demo-worker-1", None).await.unwrap();
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        insta::assert_snapshot!("start_stopped", plan.to_string());
        // Naming services narrows the work to them and their dependencies.
        let narrowed =
            plan_for(&e, &changed, &UpOptions { services: vec!["worker".into()], ..Default::default() }).await;
        assert!(narrowed.steps.iter().all(|s| s.action.service() == Some("worker")), "{narrowed}");
    });
}

#[test]
fn anonymous_volumes_are_carried_over_unless_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        up(&e, &p, &UpOptions::default()).await;
        // The engine names an anonymous volume with 64 hex digits.
        let anon = "a".repeat(64);
        {
            let mut st = e.state();
            let db = st.containers.values_mut().find(|c| c.spec.name == "demo-db-1").unwrap();
            db.spec.mounts.iter_mut().find(|m| m.target == "/scratch").unwrap().source = Some(anon.clone());
        }
        let changed = load(&dir, &STACK.replace("interval: 1s", "interval: 2s"));
        up(&e, &changed, &UpOptions::default()).await;
        let db = e.container("demo-db-1").unwrap();
        let scratch = db.spec.mounts.iter().find(|m| m.target == "/scratch").unwrap();
        assert_eq!(scratch.source.as_deref(), Some(anon.as_str()), "the data in /scratch survives");
        let data = db.spec.mounts.iter().find(|m| m.target == "/data").unwrap();
        assert_eq!(data.source.as_deref(), Some("demo_data"), "the named volume is kept");

        let again = load(&dir, &STACK.replace("interval: 1s", "interval: 3s"));
        up(&e, &again, &UpOptions { renew_anon_volumes: true, ..Default::default() }).await;
        let db = e.container("demo-db-1").unwrap();
        assert_eq!(db.spec.mounts.iter().find(|m| m.target == "/scratch").unwrap().source, None);
    });
}

#[test]
fn missing_image_is_a_plan_error_naming_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new();
    let err = rt().block_on(async {
        let observed = observe(&e, &p).await.unwrap();
        reconcile(&p, &observed, &UpOptions::default()).unwrap_err()
    });
    assert_eq!(err.to_string(), "service `db` needs image `wharf-busybox:latest`, which is not available locally");
    assert!(e.state().containers.is_empty() && e.state().networks.is_empty());
}

#[test]
fn down_removes_dependents_first_and_keeps_volumes_without_v() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        up(&e, &p, &UpOptions::default()).await;
        down(&e, &p, &DownOptions::default(), &wharf::progress::Report::silent()).await.unwrap();
        assert!(e.state().containers.is_empty() && e.state().networks.is_empty());
        assert_eq!(e.state().volumes.keys().collect::<Vec<_>>(), ["demo_data"]);
        let calls = e.calls();
        let pos = |n: &str| calls.iter().position(|c| c == n).unwrap();
        assert!(pos("stop_container demo-web-1") < pos("stop_container demo-db-1"));
        up(&e, &p, &UpOptions::default()).await;
        down(&e, &p, &DownOptions { volumes: true, ..Default::default() }, &wharf::progress::Report::silent())
            .await
            .unwrap();
        assert!(e.state().volumes.is_empty());
    });
}

#[test]
fn concurrent_ups_create_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // Both observe an empty engine, then both execute.
        let a = plan_for(&e, &p, &UpOptions::default()).await;
        let b = plan_for(&e, &p, &UpOptions::default()).await;
        let quiet = silent();
        let (ra, rb) = tokio::join!(execute(&e, &p, a, None, false, &quiet), execute(&e, &p, b, None, false, &quiet));
        ra.unwrap();
        rb.unwrap();
    });
    assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);
}

#[test]
fn start_interval_is_emulated_by_exec_probes_on_an_old_engine() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"
services:
  db:
    image: wharf-busybox:latest
    healthcheck:
      test: ["CMD", "probe", "--ready"]
      interval: 30s
      start_period: 60s
      start_interval: 100ms
  app:
    image: wharf-busybox:latest
    depends_on:
      db: {condition: service_healthy}
"#;
    let p = load(&dir, compose);
    let e = FakeEngine::new().with_image(IMAGE);
    // The engine itself would say "starting" for 30 s (its first probe runs one interval in).
    e.health_on_start("demo-db-1", "starting");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async {
        e.exec_result("demo-db-1", wharf::engine::ExecOutput { exit_code: 1, output: "not yet".into() });
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        let run = tokio::spawn({
            let (e, p) = (e.clone(), p.clone());
            async move { execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        assert_eq!(e.container("demo-app-1").unwrap().state, State::Created, "db's probes fail so far");
        e.exec_result("demo-db-1", wharf::engine::ExecOutput { exit_code: 0, output: String::new() });
        run.await.unwrap().unwrap();
        assert_eq!(e.container("demo-app-1").unwrap().state, State::Running);
    });
    let probes: Vec<String> = e.calls().into_iter().filter(|c| c.starts_with("exec demo-db-1")).collect();
    assert!(probes.len() >= 3, "probed every 100 ms: {probes:?}");
    assert_eq!(probes[0], "exec demo-db-1 probe --ready", "the service's own test, CMD form");
}

#[test]
fn restart_true_restarts_a_kept_dependent_when_its_dependency_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"
services:
  db:
    image: wharf-busybox:latest
    environment: {V: one}
  api:
    image: wharf-busybox:latest
    depends_on:
      db: {condition: service_started, restart: true}
  web:
    image: wharf-busybox:latest
    depends_on:
      api: {condition: service_started, restart: true}
  batch:
    image: wharf-busybox:latest
    depends_on: [db]
"#;
    let p = load(&dir, compose);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(async {
        up(&e, &p, &UpOptions::default()).await;
        let api_id = e.container("demo-api-1").unwrap().id;
        let changed = load(&dir, &compose.replace("V: one", "V: two"));
        let plan = up(&e, &changed, &UpOptions::default()).await;
        insta::assert_snapshot!("restart_true", plan.to_string());
        let api = e.container("demo-api-1").unwrap();
        assert_eq!(api.id, api_id, "restarted, not recreated");
        assert_eq!((api.starts, api.state), (2, State::Running));
        assert_eq!(e.container("demo-web-1").unwrap().starts, 2, "transitively");
        assert_eq!(e.container("demo-batch-1").unwrap().starts, 1, "no restart: true, left alone");
    });
    let calls = e.calls();
    let pos = |n: &str| calls.iter().rposition(|c| c == n).unwrap();
    assert!(pos("start_container demo-db-1") < pos("stop_container demo-api-1"), "after the new db started");
}

#[test]
fn a_broken_event_stream_is_reopened_and_waiters_resynchronise() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"
services:
  db:
    image: wharf-busybox:latest
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  app:
    image: wharf-busybox:latest
    depends_on:
      db: {condition: service_healthy}
"#;
    let p = load(&dir, compose);
    let e = FakeEngine::new().with_image(IMAGE);
    e.health_on_start("demo-db-1", "starting");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async {
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        let run = tokio::spawn({
            let (e, p) = (e.clone(), p.clone());
            async move { execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(e.container("demo-app-1").unwrap().state, State::Created);
        // The connection drops, and db turns healthy while nobody listens.
        e.break_events();
        e.set_health_silently("demo-db-1", "healthy");
        run.await.unwrap().unwrap();
        assert_eq!(e.container("demo-app-1").unwrap().state, State::Running);
    });
    assert!(e.calls().iter().filter(|c| *c == "events demo").count() >= 2, "subscribed again");
}

#[test]
fn an_optional_dependency_that_fails_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"
services:
  seed:
    image: wharf-busybox:latest
  app:
    image: wharf-busybox:latest
    depends_on:
      seed: {condition: service_completed_successfully, required: false}
  strict:
    image: wharf-busybox:latest
    depends_on:
      seed: {condition: service_completed_successfully}
"#;
    let p = load(&dir, compose);
    let e = FakeEngine::new().with_image(IMAGE);
    e.exit_on_start("demo-seed-1", 1);
    let err = rt().block_on(async {
        let plan = plan_for(&e, &p, &UpOptions::default()).await;
        execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await.unwrap_err()
    });
    assert_eq!(e.container("demo-app-1").unwrap().state, State::Running, "required: false");
    assert_eq!(e.container("demo-strict-1").unwrap().state, State::Created);
    assert!(
        err.to_string().contains("strict") && err.to_string().contains("\"seed\" didn't complete successfully: exit 1"),
        "{err}"
    );
}

#[test]
fn regression_after_an_interrupted_force_recreate_the_original_goes_not_the_replacement() {
    // Issue 24: after `up -d --force-recreate` was killed mid-way, the next `up -d` kept the
    // original, which the engine was still stopping for the killed `up`, so it exited right
    // after `up` had said the stack was converged. The replacement is kept now.
    let dir = tempfile::tempdir().unwrap();
    let p = load(&dir, STACK);
    let e = FakeEngine::new().with_image(IMAGE);
    rt().block_on(up(&e, &p, &UpOptions::default()));
    let original = e.container("demo-web-1").unwrap().id;
    e.fail(
        "stop_container",
        "demo-web-1",
        EngineError::Unreachable { endpoint: "x".into(), reason: "killed".into() },
        1,
    );
    let force = UpOptions { force_recreate: true, services: vec!["web".into()], ..Default::default() };
    let _ = rt().block_on(async {
        let plan = plan_for(&e, &p, &force).await;
        execute(&e, &p, plan, None, false, &silent()).await
    });
    assert_eq!(names(&e).len(), 4, "the replacement beside the original: {:?}", names(&e));
    let plan = rt().block_on(up(&e, &p, &UpOptions::default()));
    let removed: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            wharf::plan::Action::Remove { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, [original.as_str()], "{plan}");
    assert_eq!(names(&e), ["demo-db-1", "demo-web-1", "demo-worker-1"]);
    assert!(e.state().containers.values().all(|c| c.state == State::Running));
}
