//! The engine layer itself on the real Docker Engine: events, logs, exec and archive upload
//! through `DockerEngine`, and the same calls on the fake engine behaving alike.

use futures::StreamExt;
use wharf::engine::docker::DockerEngine;
use wharf::engine::fake::FakeEngine;
use wharf::engine::{Engine, LogOptions};

const ONE: &str = r#"
services:
  app:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "echo hello-from-app; exec sleep 300"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn events_logs_exec_and_upload_on_docker() {
    // Brought up (and torn down on drop, even if an assertion fails) through the library API.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), ONE).unwrap();
    let stack = wharf::stack::Stack::builder(dir.path().join("compose.yaml")).up().await.unwrap();
    let name = format!("{}-app-1", stack.name());
    let project = stack.name().to_string();
    {
        let e = DockerEngine::connect().await.unwrap();
        let mut events = e.events(&project);
        // Subscribed: a restart shows up as die then start, with the compose labels attached.
        e.stop_container(&name, Some(0)).await.unwrap();
        e.start_container(&name).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .unwrap();
            let action = ev.kind.to_string();
            if action == "die" || action == "start" {
                assert_eq!(ev.name(), name);
                assert_eq!(ev.label("com.docker.compose.service"), Some("app"));
                seen.push(action);
            }
        }
        assert_eq!(seen, ["die", "start"]);

        let chunks: Vec<_> = e.logs(&name, &LogOptions::default()).collect().await;
        let text: String =
            chunks.into_iter().map(|c| String::from_utf8_lossy(&c.unwrap().bytes).into_owned()).collect();
        assert!(text.contains("hello-from-app"), "{text}");

        let out = e.exec(&name, &["sh".into(), "-c".into(), "echo out; exit 3".into()]).await.unwrap();
        assert_eq!((out.exit_code, out.output.as_str()), (3, "out\n"), "a failing command is a result, not an error");

        let tar = wharf::scheduler::tar_of(&[wharf::engine::FileCopy {
            path: "/deep/new/dir/f.txt".into(),
            content: b"x1".to_vec(),
            uid: 0,
            gid: 0,
            mode: 0o600,
        }])
        .unwrap();
        e.upload_archive(&name, "/", tar).await.unwrap();
        let out =
            e.exec(&name, &["stat".into(), "-c".into(), "%a".into(), "/deep/new/dir/f.txt".into()]).await.unwrap();
        assert_eq!(out.output.trim(), "600", "missing parent directories are created");
    }
    stack.down().await.unwrap();
}

#[test]
fn the_fake_engine_emits_events_and_scripts_exec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), ONE).unwrap();
    let opts = wharf::LoadOptions { project_name: Some("demo".into()), cwd: dir.path().into(), ..Default::default() };
    let p = wharf::load(&opts).unwrap().project;
    let e = FakeEngine::new().with_image("wharf-busybox:latest");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut events = e.events("demo");
        let observed = wharf::scheduler::observe(&e, &p).await.unwrap();
        let plan = wharf::plan::reconcile(&p, &observed, &Default::default()).unwrap();
        wharf::scheduler::execute(&e, &p, plan, None, false, &wharf::progress::Report::silent()).await.unwrap();
        let a = events.next().await.unwrap().unwrap();
        let b = events.next().await.unwrap().unwrap();
        assert_eq!((a.kind.to_string().as_str(), b.kind.to_string().as_str()), ("create", "start"));
        assert_eq!(b.name(), "demo-app-1");
        e.exec_result("demo-app-1", wharf::engine::ExecOutput { exit_code: 1, output: "nope".into() });
        let out = e.exec("demo-app-1", &["true".into()]).await.unwrap();
        assert_eq!(out.exit_code, 1);
        e.say("demo-app-1", "hi\n");
        let logs: Vec<_> = e.logs("demo-app-1", &LogOptions::default()).collect().await;
        assert_eq!(logs.len(), 1);
    });
}
