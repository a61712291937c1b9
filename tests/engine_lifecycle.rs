//! `up -d`, no-op `up`, convergence after a change, interop with compose v2, and `down -v`,
//! against the real Docker Engine. Each test uses its own project name and tears down on every
//! path (a guard removes whatever carries its project label, even after a failed assertion).
//! Needs `scripts/setup.sh` (the engine and the `wharf-busybox:latest` image).

use std::process::Command;

mod common;
use common::Stack;

const STACK: &str = r#"
services:
  db:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "echo ok > /data/state; exec httpd -f -p 5432 -h /data"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/state"]
      interval: 500ms
      retries: 20
  web:
    image: wharf-busybox:latest
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    environment: {MODE: one}
    ports: ["127.0.0.1::8080"]
    depends_on:
      db: {condition: service_healthy}
volumes:
  data: {}
"#;

#[test]
fn up_noop_change_and_down() {
    let s = Stack::new("life", STACK);
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    assert_eq!(s.ids("container").len(), 2);
    // The dependent started only once its dependency was healthy.
    let health = s.docker(&["inspect", "-f", "{{.State.Health.Status}}", &format!("{}-db-1", s.project)]);
    assert_eq!(health.trim(), "healthy");
    let web = format!("{}-web-1", s.project);
    let labels = s.docker(&["inspect", "-f", "{{json .Config.Labels}}", &web]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");

    // Nothing changed: nothing to do.
    let (ok, plan, _) = s.wharf(&["--dry-run", "up", "-d"]);
    assert!(ok);
    assert!(plan.lines().all(|l| l.contains("(up to date)")), "{plan}");
    let before = s.ids("container");
    let (ok, _, _) = s.wharf(&["up", "-d"]);
    assert!(ok);
    assert_eq!(s.ids("container"), before, "a no-op up must not touch containers");

    // A change to web recreates web only; db keeps its container.
    let db_id = s.docker(&["inspect", "-f", "{{.Id}}", &format!("{}-db-1", s.project)]);
    std::fs::write(s.dir.path().join("compose.yaml"), STACK.replace("MODE: one", "MODE: two")).unwrap();
    let (ok, plan, _) = s.wharf(&["--dry-run", "up", "-d"]);
    assert!(ok);
    assert!(plan.contains(&format!("recreate container {web}")) && plan.contains("(config hash changed)"), "{plan}");
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    assert_eq!(s.docker(&["inspect", "-f", "{{.Id}}", &format!("{}-db-1", s.project)]), db_id);
    let env = s.docker(&["inspect", "-f", "{{json .Config.Env}}", &web]);
    assert!(env.contains("MODE=two"), "{env}");
    assert_eq!(s.ids("container").len(), 2, "no duplicate after recreate");

    let (ok, _, err) = s.wharf(&["down", "-v"]);
    assert!(ok, "{err}");
    assert!(s.ids("container").is_empty() && s.ids("network").is_empty() && s.ids("volume").is_empty());
}

#[test]
fn compose_v2_sees_and_removes_a_wharf_stack() {
    let has_compose =
        Command::new("docker").args(["compose", "version"]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(has_compose, "compose v2 is required: run scripts/setup.sh");
    let s = Stack::new("interop", STACK);
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    let ps = s.docker(&["compose", "-p", &s.project, "ps", "--format", "{{.Service}}"]);
    let mut services: Vec<&str> = ps.lines().collect();
    services.sort();
    assert_eq!(services, vec!["db", "web"]);
    let out = Command::new("docker")
        .args(["compose", "-p", &s.project, "down", "-v"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.ids("container").is_empty(), "compose down removed wharf's containers");
}

#[test]
fn missing_image_names_service_and_image() {
    let s = Stack::new("noimg", "services:\n  app:\n    image: wharf-no-such-image:latest\n");
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(!ok);
    assert!(err.contains("service `app` needs image `wharf-no-such-image:latest`"), "{err}");
    assert!(s.ids("container").is_empty() && s.ids("network").is_empty(), "nothing half-created");
}

/// Regression: `up --remove-orphans` panicked, because the removal of an orphan belongs to a
/// service that is no longer in the project.
#[test]
fn remove_orphans_removes_the_container_of_a_dropped_service() {
    let two = "services:\n  keep:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n  gone:\n    image: wharf-busybox:latest\n    init: true\n    command: [sleep, '300']\n";
    let s = Stack::new("orphan", two);
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    let keep_id = s.docker(&["inspect", "-f", "{{.Id}}", &format!("{}-keep-1", s.project)]);
    std::fs::write(s.dir.path().join("compose.yaml"), two.split("  gone:").next().unwrap()).unwrap();
    let (ok, _, err) = s.wharf(&["up", "-d"]);
    assert!(ok, "{err}");
    assert!(err.contains("orphan container"), "an orphan is reported: {err}");
    assert_eq!(s.ids("container").len(), 2, "without --remove-orphans the orphan stays");
    let (ok, _, err) = s.wharf(&["up", "-d", "--remove-orphans"]);
    assert!(ok, "{err}");
    assert_eq!(s.ids("container").len(), 1);
    assert_eq!(s.docker(&["inspect", "-f", "{{.Id}}", &format!("{}-keep-1", s.project)]), keep_id);
}
