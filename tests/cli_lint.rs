//! `wharf lint` as a user runs it: every rule on a project that breaks it, ordinary projects
//! that break none, the three output formats, exit codes, git-tracked files, build contexts,
//! a built image (real engine), and `up`'s one-line warning.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// Token shapes are assembled at run time so that secret scanners do not take this file for a
/// leak; none of them is a real credential.
fn github_token() -> String {
    format!("gh{}_{}", "p", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")
}
fn aws_key() -> String {
    format!("AK{}", "IAIOSFODNN7EXAMPLE")
}
fn npm_token() -> String {
    format!("np{}_{}", "m", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")
}
fn slack_hook() -> String {
    format!("https://hooks.slack.com/{}/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX", "services")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Runs wharf in `dir` with a clean environment plus `env`; returns (exit code, stdout, stderr).
fn wharf_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", "/home/user")
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", h);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wharf");
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(dir.to_str().unwrap(), "<dir>");
    (out.status.code().unwrap_or(-1), clean(&out.stdout), clean(&out.stderr))
}

fn wharf(dir: &Path, args: &[&str]) -> (i32, String, String) {
    wharf_env(dir, args, &[])
}

fn leaky_compose() -> String {
    format!(
        r#"name: leaky
x-common: &common
  environment:
    SENTRY_DSN: https://abc:d3f4u1t@sentry.example.com/42
services:
  db:
    image: postgres
    environment:
      POSTGRES_PASSWORD: s3cr3t-pw
      POSTGRES_USER: app
    ports: ["5432:5432"]
  api:
    <<: *common
    build:
      context: ./api
      args:
        - NPM_TOKEN={npm}
      labels:
        built.by: ci
    labels:
      deploy.key: {aws}
    privileged: true
    depends_on:
      db: {{condition: service_healthy}}
  worker:
    <<: *common
    image: app/worker:1.0
    environment:
      - GITHUB_TOKEN={gh}
secrets:
  signing:
    content: "hunter2hunter2"
x-deploy:
  slack: {slack}
"#,
        npm = npm_token(),
        aws = aws_key(),
        gh = github_token(),
        slack = slack_hook()
    )
}

fn leaky() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let compose = leaky_compose();
    write(
        dir.path(),
        &[
            ("compose.yaml", &compose),
            ("api/Dockerfile", "FROM scratch\n"),
            ("api/.env", "X=1\n"),
            ("api/id_rsa", "not a key\n"),
            ("api/server.pem", "not a key\n"),
            ("api/id_rsa.pub", "public\n"),
        ],
    );
    dir
}

/// The secret values of the leaky project: none may appear in any output.
fn values() -> Vec<String> {
    vec![npm_token(), aws_key(), github_token(), slack_hook(), "d3f4u1t".into(), "hunter2".into(), "s3cr3t-pw".into()]
}

fn assert_no_values(out: &str) {
    for v in values() {
        assert!(!out.contains(&v), "the value {v:?} is printed:\n{out}");
    }
}

#[test]
fn every_file_rule_on_a_leaky_project() {
    let dir = leaky();
    let (code, out, err) = wharf(dir.path(), &["lint", "--no-images"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "");
    assert_no_values(&out);
    insta::assert_snapshot!(out);
}

#[test]
fn severity_picks_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("compose.yaml", "services:\n  web:\n    image: nginx\n    privileged: true\n")]);
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images"]);
    assert_eq!(code, 0, "warnings alone pass by default:\n{out}");
    assert!(out.contains("warning[unpinned-image]") && out.contains("warning[privileged]"), "{out}");
    let (code, _, _) = wharf(dir.path(), &["lint", "--no-images", "--severity", "warning"]);
    assert_eq!(code, 1);
}

#[test]
fn json_lists_each_finding_with_its_place() {
    let dir = leaky();
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images", "--format", "json"]);
    assert_eq!(code, 1);
    assert_no_values(&out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let pw = findings.iter().find(|f| f["path"] == "services.db.environment.POSTGRES_PASSWORD").unwrap();
    assert_eq!(pw["rule"], "secret-in-environment");
    assert_eq!(pw["severity"], "error");
    assert_eq!(pw["class"], "secret");
    assert_eq!(
        (pw["file"].as_str(), pw["line"].as_u64(), pw["column"].as_u64()),
        (Some("compose.yaml"), Some(9), Some(7))
    );
    let mut rules: Vec<&str> = findings.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(
        rules,
        vec![
            "database-port-on-all-interfaces",
            "healthy-without-healthcheck",
            "inline-secret-content",
            "privileged",
            "secret-file-in-build-context",
            "secret-in-build-arg",
            "secret-in-environment",
            "secret-in-extension",
            "secret-in-label",
            "unpinned-image",
        ]
    );
}

#[test]
fn sarif_is_what_code_scanning_reads() {
    let dir = leaky();
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images", "--format", "sarif"]);
    assert_eq!(code, 1);
    assert_no_values(&out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "wharf");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"], "ruleIndex points at the rule");
        assert!(["error", "warning"].contains(&r["level"].as_str().unwrap()));
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "compose.yaml");
        assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    }
}

#[test]
fn ordinary_projects_have_no_findings() {
    // Variables the files require; their values are in the environment, not in the files.
    let env = [("REDIS_PASSWORD", "from-the-shell")];
    for name in ["clean-webapp", "clean-wordpress", "clean-monitoring", "clean-devstack"] {
        let (code, out, err) =
            wharf_env(&fixtures().join(name), &["lint", "--no-images", "--severity", "warning"], &env);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "no findings\n", ""), "{name}");
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .output()
        .expect("git is installed")
        .status
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn tracked_env_and_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    image: app:1\n    env_file: [app.env, local.env]\n    secrets: [key]\nsecrets:\n  key:\n    file: ./key.txt\n";
    let app_env = format!("LOG_LEVEL=debug\n# the token\nexport API_TOKEN=\"{}\"\nTOKEN_TTL=60\n", github_token());
    write(
        dir.path(),
        &[("compose.yaml", compose), ("app.env", &app_env), ("local.env", "DB_PASSWORD=hunter2\n"), ("key.txt", "k\n")],
    );
    // Not a git work tree: env files are the right place for values.
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images"]);
    assert_eq!((code, out.as_str()), (0, "no findings\n"));
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "compose.yaml", "app.env", "key.txt"]);
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images"]);
    assert_eq!(code, 1);
    assert!(!out.contains(&github_token()) && !out.contains("hunter2"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn dockerignore_keeps_secret_files_out_of_the_context() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("compose.yaml", "services:\n  app:\n    build: ./app\n"),
            ("app/Dockerfile", "FROM scratch\n"),
            ("app/.env", "A=1\n"),
            ("app/.env.example", "A=\n"),
            ("app/certs/tls.key", "k\n"),
            ("app/src/main.rs", "fn main() {}\n"),
        ],
    );
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images"]);
    assert_eq!(code, 0, "a warning: {out}");
    assert!(out.contains("warning[secret-file-in-build-context]: services.app.build: the build context `app` sends `.env`, `certs/tls.key`"), "{out}");
    assert!(out.contains("--> compose.yaml:3:5"), "{out}");
    write(dir.path(), &[("app/.dockerignore", ".env\n**/*.key\n")]);
    let (code, out, _) = wharf(dir.path(), &["lint", "--no-images", "--severity", "warning"]);
    assert_eq!((code, out.as_str()), (0, "no findings\n"));
}

#[test]
fn up_warns_once_and_can_be_silenced() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "name: wharft-lintwarn\nservices:\n  app:\n    image: wharf-busybox:latest\n    environment:\n      DB_PASSWORD: hunter2\n";
    write(dir.path(), &[("compose.yaml", compose)]);
    let warning = "warning: 1 secret is written into the compose files: run `wharf lint` to see where (silence with --no-lint or WHARF_NO_LINT=1)";
    // A dry run: the warning comes before anything is asked of the engine.
    let (_, _, err) = wharf(dir.path(), &["--dry-run", "up", "-d"]);
    assert_eq!(err.lines().filter(|l| *l == warning).count(), 1, "{err}");
    assert!(!err.contains("hunter2"));
    let (_, _, err) = wharf(dir.path(), &["--dry-run", "up", "-d", "--no-lint"]);
    assert!(!err.contains("wharf lint"), "{err}");
    let (_, _, err) = wharf_env(dir.path(), &["--dry-run", "up", "-d"], &[("WHARF_NO_LINT", "1")]);
    assert!(!err.contains("wharf lint"), "{err}");
}

/// A built image keeps build arguments in its history and `ENV` in its config: both are found
/// (real engine; the stack's images are removed when it drops, each call has a deadline).
#[test]
fn secrets_in_a_built_image() {
    let compose = "services:\n  app:\n    build:\n      context: ./app\n      args:\n        NPM_TOKEN: ${NPM_TOKEN}\n";
    let stack = common::Stack::new("lintimg", compose);
    let key = "Zx8Qm2Lp9Tv4Rk7Wn3Yb6Hd1Jf5Gs0Ac";
    stack.file(
        "app/Dockerfile",
        &format!("FROM wharf-busybox:latest\nARG NPM_TOKEN\nRUN test -n \"$NPM_TOKEN\"\nENV API_KEY={key}\n"),
    );
    let npm = npm_token();
    let within = |args: &[&str]| {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", "120", env!("CARGO_BIN_EXE_wharf"), "-p", &stack.project])
            .args(args)
            .env("NPM_TOKEN", &npm);
        stack.run(&mut cmd)
    };
    let (ok, _, err) = within(&["build", "--progress", "quiet"]);
    assert!(ok, "{err}");
    let (ok, out, err) = within(&["lint"]);
    assert!(!ok, "{out}{err}");
    assert!(!out.contains(&npm) && !out.contains(key) && !err.contains(&npm), "{out}{err}");
    let found: Vec<&str> = out.lines().filter(|l| l.starts_with("error[secret-in-image]")).collect();
    assert!(found.iter().any(|l| l.contains("(ENV API_KEY)")), "{out}");
    assert!(found.iter().any(|l| l.contains("(history: NPM_TOKEN)")), "{out}");
    // The file passes the token through a variable: nothing to say about the file itself.
    assert!(!out.contains("secret-in-build-arg"), "{out}");
}
