//! `--dry-run` changes nothing, for every verb that takes it: each runs against the real engine
//! through the dry-run engine (reads pass, writes are printed instead of made), and the
//! project's containers, networks and volumes — and the files inside and outside them — are
//! the same afterwards. Needs `scripts/setup.sh`.

mod common;
use common::Stack;

const STACK: &str = r#"
services:
  db:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
    volumes: [data:/data]
  web:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
    depends_on: [db]
    ports: ["8080"]
  job:
    image: wharf-busybox:latest
    command: ["true"]
volumes:
  data: {}
"#;

#[test]
fn every_verb_with_dry_run_changes_nothing() {
    let s = Stack::new("dryrun", STACK);
    let (ok, _, err) = s.wharf_within(60, &["up", "-d"]);
    assert!(ok, "{err}");
    s.file("local.txt", "from the host\n");
    let before = s.snapshot();
    assert_eq!(before.iter().filter(|l| l.contains(" running ")).count(), 2, "{before:?}");

    // (verb, what its output must name)
    let web = s.container("web", 1);
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["up", "-d", "--force-recreate"], format!("recreate container {web}")),
        (vec!["create", "--force-recreate"], format!("recreate container {web}")),
        (vec!["down", "-v"], format!("remove network {}_default", s.project)),
        (vec!["stop"], format!("stop container {web}")),
        (vec!["restart", "web"], format!("start container {web}")),
        (vec!["kill", "web"], format!("kill container {web}")),
        (vec!["rm", "-f", "-s", "web"], format!("remove container {web}")),
        (vec!["pause", "web"], format!("pause container {web}")),
        (vec!["start", "job"], format!("start container {}", s.container("job", 1))),
        (vec!["scale", "web=3"], format!("create container {}", s.container("web", 3))),
        (vec!["run", "--rm", "web", "touch", "/data/ran"], format!("create container {}-web-run-", s.project)),
        (vec!["run", "-d", "db", "touch", "/data/ran"], format!("start container {}-db-run-", s.project)),
        (vec!["exec", "-T", "web", "touch", "/tmp/execd"], format!("exec in container {web}")),
        (vec!["cp", "local.txt", "web:/tmp/copied"], format!("copy into container {web}")),
        (vec!["cp", "web:/etc/passwd", "copied-out"], format!("copy from container {web} to host copied-out")),
        (vec!["wait", "--down-project", "job"], format!("remove network {}_default", s.project)),
        (vec!["test", "--", "touch", "test-ran"], "run `touch test-ran`".into()),
        (vec!["pull", "db"], "pull image wharf-busybox:latest".into()),
        (vec!["commit", "web"], format!("commit container {web}")),
        (vec!["export", "-o", "exported.tar", "web"], format!("export container {web} to exported.tar")),
    ];
    for (args, expect) in &cases {
        let mut all = vec!["--dry-run"];
        all.extend(args.iter().copied());
        let (ok, out, err) = s.wharf_within(60, &all);
        assert!(ok, "`wharf {}` failed:\n{out}\n{err}", all.join(" "));
        assert!(out.contains(expect.as_str()), "`wharf {}` does not say `{expect}`:\n{out}", all.join(" "));
        assert_eq!(s.snapshot(), before, "`wharf {}` changed the project", all.join(" "));
    }
    // Nothing was written inside the containers or on the host either.
    for f in ["/tmp/execd", "/tmp/copied", "/data/ran"] {
        let (ok, _, _) = s.wharf_within(30, &["exec", "-T", "db", "test", "-e", f]);
        let (ok_web, _, _) = s.wharf_within(30, &["exec", "-T", "web", "test", "-e", f]);
        assert!(!ok && !ok_web, "{f} was created by a dry run");
    }
    assert!(
        !s.dir.path().join("copied-out").exists()
            && !s.dir.path().join("test-ran").exists()
            && !s.dir.path().join("exported.tar").exists()
    );
}
