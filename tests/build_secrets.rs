//! Build secrets and SSH forwarding through the BuildKit session, on the real engine, side by
//! side with compose v2: the values reach the step that mounts them and nothing else (not the
//! image, not wharf's output), and a build that mounts neither goes without a session.

mod common;
use common::Stack;

use std::process::Command;

use sha2::Digest;

const FILE_VALUE: &str = "wharf-file-secret-7f3a9c";
const ENV_VALUE: &str = "wharf-env-secret-41d2e8";

/// `docker save IMAGE`, within two minutes: every byte of the image (layers, config, history).
fn saved(s: &Stack, image: &str) -> Vec<u8> {
    let path = s.dir.path().join("saved.tar");
    let out = Command::new("timeout").args(["120", "docker", "save", "-o"]).arg(&path).arg(image).output().unwrap();
    assert!(out.status.success(), "docker save {image}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(path).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn sha256(v: &str) -> String {
    sha2::Sha256::digest(v.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `docker run --rm IMAGE cat FILE`, within a minute.
fn cat(image: &str, file: &str) -> String {
    let out = Command::new("timeout").args(["60", "docker", "run", "--rm", image, "cat", file]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn file_and_environment_secrets_reach_the_step_and_never_the_image_or_the_output() {
    let s = Stack::new(
        "bsecret",
        r#"
services:
  app:
    build:
      context: .
      secrets: [tok, {source: from_env, target: envtok}]
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    image: ${COMPOSE_PROJECT_NAME}-app:${WHO}
  plain:
    build:
      context: .
      dockerfile: Plain.Dockerfile
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    image: ${COMPOSE_PROJECT_NAME}-plain:${WHO}
secrets:
  tok: {file: ./tok.txt}
  from_env: {environment: MY_TOKEN}
"#,
    );
    s.file("tok.txt", FILE_VALUE);
    s.file(
        "Dockerfile",
        "FROM wharf-busybox:latest\n\
         RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /tok.sum\n\
         RUN --mount=type=secret,id=envtok,required=true sha256sum /run/secrets/envtok | cut -d' ' -f1 > /env.sum\n\
         RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent > /optional\n",
    );
    s.file("Plain.Dockerfile", "FROM wharf-busybox:latest\nRUN --mount=type=cache,target=/c echo plain > /plain\n");
    let env = [("MY_TOKEN", ENV_VALUE), ("WHO", "wharf")];
    let (ok, out, err) = s.wharf_within_env(300, &env, &["build", "--no-cache"]);
    let shown = format!("{out}{err}");
    assert!(ok, "{shown}");
    let app = format!("{}-app:wharf", s.project);
    assert!(shown.contains(&format!("{app}  Building: BuildKit with a session (secrets envtok, tok)")), "{shown}");
    let plain = format!("{}-plain:wharf", s.project);
    assert!(
        shown.contains(&format!("{plain}  Building: BuildKit\n")),
        "no session for a build without mounts: {shown}"
    );
    assert_eq!(cat(&app, "/tok.sum"), sha256(FILE_VALUE));
    assert_eq!(cat(&app, "/env.sum"), sha256(ENV_VALUE));
    assert_eq!(cat(&app, "/optional"), "absent", "an optional secret nobody provides is absent, as with compose");
    let image = saved(&s, &app);
    for v in [FILE_VALUE, ENV_VALUE] {
        assert!(!shown.contains(v), "wharf printed a secret: {shown}");
        assert!(!contains(&image, v), "the saved image holds a secret value");
    }

    // compose v2 builds the same file to the same result.
    let mut cmd = Command::new("timeout");
    common::minimal_env(&mut cmd).envs(env.map(|(k, v)| (k, if k == "WHO" { "compose" } else { v })));
    let (ok, out, err) = s.run(cmd.args(["300", "docker", "compose", "-p", &s.project, "build", "--no-cache", "app"]));
    assert!(ok, "compose: {out}{err}");
    let theirs = format!("{}-app:compose", s.project);
    for f in ["/tok.sum", "/env.sum", "/optional"] {
        assert_eq!(cat(&theirs, f), cat(&app, f), "{f}");
    }
}

#[test]
fn a_step_that_prints_a_secret_is_masked_and_its_failure_names_the_step() {
    let s = Stack::new(
        "bsecretfail",
        r#"
services:
  app:
    build:
      context: .
      secrets: [tok]
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
secrets:
  tok: {file: ./tok.txt}
"#,
    );
    s.file("tok.txt", FILE_VALUE);
    s.file(
        "Dockerfile",
        "FROM wharf-busybox:latest\nRUN --mount=type=secret,id=tok echo \"using $(cat /run/secrets/tok)\" && exit 3\n",
    );
    let (ok, out, err) = s.wharf_within(300, &["build"]);
    let shown = format!("{out}{err}");
    assert!(!ok, "{shown}");
    assert!(shown.contains("service `app`") && shown.contains("exit code: 3"), "{shown}");
    assert!(shown.contains("using ****"), "the step's output, masked: {shown}");
    assert!(!shown.contains(FILE_VALUE), "{shown}");
}

/// `ssh-agent` with one new key, killed when dropped.
struct Agent {
    pid: String,
    socket: std::path::PathBuf,
    fingerprint: String,
}

impl Agent {
    fn start(dir: &std::path::Path) -> Agent {
        for tool in ["ssh-agent", "ssh-add", "ssh-keygen"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
            assert!(found.status.success(), "{tool} is missing: run scripts/setup.sh (it installs openssh-client)");
        }
        let key = dir.join("id_test");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "wharf-build-test", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let socket = dir.join("agent.sock");
        // Without -D the agent forks once its socket is listening, and prints its PID.
        let out = Command::new("timeout").args(["30", "ssh-agent", "-s", "-a"]).arg(&socket).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        let pid = said.split("SSH_AGENT_PID=").nth(1).and_then(|r| r.split(';').next()).unwrap().to_string();
        let mut agent = Agent { pid, socket, fingerprint: String::new() };
        let added = Command::new("timeout")
            .args(["30", "ssh-add"])
            .arg(&key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .output()
            .unwrap();
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        let fp = Command::new("ssh-keygen").arg("-lf").arg(key.with_extension("pub")).output().unwrap();
        agent.fingerprint = String::from_utf8_lossy(&fp.stdout).trim().to_string();
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// The host's `ssh-add` and the libraries it loads, laid out as a root file system to `COPY`
/// into the scratch-based test image.
fn ssh_add_rootfs(root: &std::path::Path) {
    let ldd = Command::new("ldd").arg("/usr/bin/ssh-add").output().unwrap();
    let mut files = vec!["/usr/bin/ssh-add".to_string()];
    files.extend(
        String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')).map(str::to_string),
    );
    for f in files {
        let to = root.join(f.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
}

#[test]
fn the_ssh_agent_is_forwarded_to_the_step_that_mounts_it() {
    let s = Stack::new(
        "bssh",
        r#"
services:
  app:
    build:
      context: .
      ssh: [default]
      labels: {wharf.test.project: "${COMPOSE_PROJECT_NAME}"}
    image: ${COMPOSE_PROJECT_NAME}-app:${WHO}
"#,
    );
    let agent = Agent::start(s.dir.path());
    ssh_add_rootfs(&s.dir.path().join("root"));
    s.file(".dockerignore", "id_test*\nagent.sock\n");
    s.file("Dockerfile", "FROM wharf-busybox:latest\nCOPY root/ /\nRUN --mount=type=ssh ssh-add -l > /identities\n");
    let sock = agent.socket.to_string_lossy().to_string();
    let env = [("SSH_AUTH_SOCK", sock.as_str()), ("WHO", "wharf")];
    let (ok, out, err) = s.wharf_within_env(300, &env, &["build", "--no-cache"]);
    let shown = format!("{out}{err}");
    assert!(ok, "{shown}");
    assert!(shown.contains("Building: BuildKit with a session (ssh default)"), "{shown}");
    let app = format!("{}-app:wharf", s.project);
    assert_eq!(cat(&app, "/identities"), agent.fingerprint, "the step listed the agent's key");

    // compose v2, same file and agent.
    let mut cmd = Command::new("timeout");
    common::minimal_env(&mut cmd).env("SSH_AUTH_SOCK", &sock).env("WHO", "compose");
    let (ok, out, err) = s.run(cmd.args(["300", "docker", "compose", "-p", &s.project, "build", "--no-cache"]));
    assert!(ok, "compose: {out}{err}");
    assert_eq!(cat(&format!("{}-app:compose", s.project), "/identities"), agent.fingerprint);

    // No agent: the error says how to provide one.
    let (ok, out, err) = s.wharf_within_env(120, &[("WHO", "wharf"), ("SSH_AUTH_SOCK", "")], &["build"]);
    assert!(!ok);
    assert!(format!("{out}{err}").contains("`SSH_AUTH_SOCK` is not set"), "{out}{err}");
}
