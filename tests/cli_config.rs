//! `wharf config` as a user runs it: canonical output and diagnostics, snapshot-tested.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs wharf in `dir` with a clean, fixed environment; returns (exit code, stdout, stderr).
fn wharf(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", "/home/user")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run wharf");
    let root = fixtures().to_string_lossy().into_owned();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&root, "<fixtures>");
    (out.status.code().unwrap_or(-1), clean(&out.stdout), clean(&out.stderr))
}

#[test]
fn diagnostics_name_file_line_key_and_fix() {
    let (code, out, err) = wharf(&fixtures().join("bad-many"), &["config"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    insta::assert_snapshot!(err);
}

#[test]
fn duplicate_key_is_refused() {
    let (code, _, err) = wharf(&fixtures().join("bad-yaml"), &["config"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn required_variable_message() {
    let (code, _, err) = wharf(&fixtures().join("bad-var"), &["config"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn extends_cycle_is_a_chain() {
    let (code, _, err) = wharf(&fixtures().join("bad-extends"), &["config"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(err);
}

#[test]
fn full_project_canonical_yaml() {
    let (code, out, err) = wharf(&fixtures().join("good-full"), &["config"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn profiles_and_service_selection() {
    let dir = fixtures().join("good-full");
    let (_, out, _) = wharf(&dir, &["config", "--services"]);
    assert_eq!(out, "web\ncache\nincluded\n");
    let (_, out, _) = wharf(&dir, &["--profile", "tools", "config", "--services"]);
    assert_eq!(out, "web\ncache\ntools\nincluded\n");
    let (_, out, _) = wharf(&dir, &["config", "--services", "tools"]);
    assert_eq!(out, "tools\n");
    let (_, out, _) = wharf(&dir, &["config", "--profiles"]);
    assert_eq!(out, "tools\n");
    let (_, out, _) = wharf(&dir, &["config", "--volumes"]);
    assert_eq!(out, "data\n");
    let (_, out, _) = wharf(&dir, &["config", "--networks"]);
    assert_eq!(out, "front\ndefault\n");
}

#[test]
fn project_name_precedence() {
    let dir = fixtures().join("good-full");
    let (_, out, _) = wharf(&dir, &["config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "full");
    let (_, out, _) = wharf(&dir, &["-p", "other", "config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "other");
    assert_eq!(v["volumes"]["data"]["name"], "other_data");
    let (code, _, err) = wharf(&dir, &["-p", "Bad Name", "config"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid project name \"Bad Name\""), "{err}");
    assert!(err.contains("try \"badname\""), "{err}");
}

#[test]
fn hash_matches_between_config_and_library() {
    let dir = fixtures().join("good-full");
    let (_, out, _) = wharf(&dir, &["config", "--hash", "*"]);
    let mut opts = wharf::LoadOptions { cwd: dir.clone(), ..Default::default() };
    opts.environment.insert("HOME".into(), "/home/user".into());
    let loaded = wharf::load(&opts).unwrap();
    let want: String =
        loaded.project.services.iter().map(|(n, s)| format!("{n} {}\n", wharf::hash::service_hash(s))).collect();
    assert_eq!(out, want);
}

#[test]
fn variables_are_listed() {
    let (_, out, _) = wharf(&fixtures().join("good-full"), &["config", "--variables"]);
    insta::assert_snapshot!(out);
}

#[test]
fn no_compose_file_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = wharf(tmp.path(), &["config"]);
    assert_eq!(code, 1);
    // The directory searched is named (it is the current one: shown absolute, not as ``).
    let dir = tmp.path().canonicalize().unwrap();
    assert!(err.contains(&format!("no compose file found in `{}` or its parents", dir.display())), "{err}");
    assert!(err.contains("hint: create `compose.yaml`"), "{err}");
}

#[test]
fn compose_file_variable_and_env_file_precedence() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("a.yml"), "services:\n  s:\n    image: \"x:${TAG}\"\n    environment: [\"V=${V}\"]\n")
        .unwrap();
    std::fs::write(d.join(".env"), "TAG=from-dotenv\nV=dotenv\nCOMPOSE_FILE=a.yml\n").unwrap();
    std::fs::write(d.join("other.env"), "TAG=from-env-file\n").unwrap();
    let (code, out, err) = wharf(d, &["config", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["services"]["s"]["image"], "x:from-dotenv");
    // --env-file replaces the default .env
    let (_, out, err) = wharf(d, &["-f", "a.yml", "--env-file", "other.env", "config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
    assert_eq!(v["services"]["s"]["image"], "x:from-env-file");
    assert!(err.contains("the `V` variable is not set"), "{err}");
}

/// Runs wharf in `dir` with stdout sent to `stdout`: (exit code, stderr).
fn wharf_into(dir: &Path, args: &[&str], stdout: std::process::Stdio) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .current_dir(dir)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run wharf");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn regression_output_to_a_full_disk_is_an_error_not_lost_or_a_panic() {
    // Issue 24: `config > /dev/full` exited 0 and lost the output; `version` and other verbs
    // panicked with a backtrace.
    for args in [&["config"][..], &["version"], &["config", "--services"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let (code, err) = wharf_into(&fixtures().join("good-full"), args, full.into());
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot write the output: No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn regression_a_closed_pipe_ends_the_command_quietly() {
    // Issue 24: `wharf … | head -1` printed "failed printing to stdout: Broken pipe" and a
    // backtrace (exit 101). Now it ends as `yes | head` does.
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("services:\n");
    for i in 0..3000 {
        yaml.push_str(&format!("  s{i}:\n    image: wharf-busybox:latest\n    command: [\"run\", \"{i}\"]\n"));
    }
    std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("config")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe: far more than a pipe buffer is still to come.
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && err.is_empty(), "{err}");
    assert_eq!(out.status.code(), Some(141), "as a process ended by SIGPIPE reads in the shell");
}

#[test]
fn regression_files_compose_refuses_are_refused_and_files_it_reads_are_read() {
    // Issue 24: accepted where compose refuses (an empty file, `services:` with no value,
    // service names with `/` or non-ASCII letters); refused where compose accepts (UTF-16).
    let dir = tempfile::tempdir().unwrap();
    let refused: [(&[u8], &str); 5] = [
        (b"", "empty compose file"),
        (b"# nothing but a comment\n", "empty compose file"),
        (b"services:\n", "services: must be a mapping of services"),
        (b"services:\n  a/b:\n    image: x\n", "invalid service name `a/b`"),
        ("services:\n  caf\u{e9}:\n    image: x\n".as_bytes(), "invalid service name `caf\u{e9}`"),
    ];
    for (text, says) in refused {
        std::fs::write(dir.path().join("compose.yaml"), text).unwrap();
        let (code, _, err) = wharf(dir.path(), &["-p", "r", "config"]);
        assert_eq!(code, 1, "{}: {err}", String::from_utf8_lossy(text));
        assert!(err.contains(says) && err.contains("compose.yaml:"), "{err}");
    }
    // One empty override beside a real file is fine, as in compose.
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  a: {image: x}\n").unwrap();
    std::fs::write(dir.path().join("compose.override.yaml"), "").unwrap();
    assert_eq!(wharf(dir.path(), &["-p", "r", "config", "-q"]).0, 0);
    std::fs::remove_file(dir.path().join("compose.override.yaml")).unwrap();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("services:\n  a: {image: x}\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(dir.path().join("compose.yaml"), utf16).unwrap();
    let (code, out, err) = wharf(dir.path(), &["-p", "r", "config", "--services"]);
    assert_eq!((code, out.as_str()), (0, "a\n"), "{err}");
}

#[test]
fn regression_messages_use_the_words_of_a_compose_file_not_internal_names() {
    // Issue 24: messages showed `untagged enum Ulimit`, `Depth { depth: 65 }`, and a
    // replacement gone wrong ("found a mappingping").
    let dir = tempfile::tempdir().unwrap();
    let cases: [(String, &str); 3] = [
        ("services:\n  a:\n    image: x\n    ulimits:\n      nofile: abc\n".into(), "\"abc\" is not an integer"),
        (format!("a: {}{}\n", "[".repeat(70), "]".repeat(70)), "nested more than 64 levels deep"),
        ("services:\n  a:\n    image: x\n    command: {a: 1}\n".into(), "wrong type: found a mapping, expected a list"),
    ];
    for (text, says) in cases {
        std::fs::write(dir.path().join("compose.yaml"), &text).unwrap();
        let (code, _, err) = wharf(dir.path(), &["-p", "m", "config"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(says), "{err}");
        for internal in ["untagged", "Depth {", "mappingping", "struct "] {
            assert!(!err.contains(internal), "{err}");
        }
    }
}

#[test]
fn regression_a_project_env_file_that_cannot_be_read_is_not_silently_ignored() {
    // Issue 24: a `.env` that is `/dev/zero` was read to a cap and then silently ignored (an
    // unreadable one likewise). Now it is passed over at once, with a warning naming it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  a: {image: x}\n").unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(".env")).unwrap();
    let (code, _, err) = wharf(dir.path(), &["-p", "e", "config", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: `.env` is ignored: not a regular file"), "{err}");
}

#[test]
fn a_failed_extends_is_reported_alone_not_with_what_follows_from_it() {
    // Issue 17: the root cause first, then nothing that follows from it. `web` extends a
    // service that does not exist, so it has no image: only the `extends` is reported, and
    // `third`, which extends `web`, is not reported at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    extends: {service: base}\n  third:\n    extends: web\n  ok:\n    image: x\n    init: maybe\n",
    )
    .unwrap();
    let (code, _, err) = wharf(dir.path(), &["-p", "m", "config"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("services.web.extends: extends undefined service `base`"), "{err}");
    assert!(!err.contains("neither an `image`"), "{err}");
    assert!(!err.contains("services.third"), "{err}");
    // An independent error elsewhere is still reported.
    assert!(err.contains("services.ok.init"), "{err}");
    assert!(err.contains("2 errors in the compose project"), "{err}");
}

#[test]
fn every_type_error_of_a_service_is_reported() {
    // Issue 17: serde stops at the first; wharf reports all of them, in the order of the file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  a:\n    image: x\n    init: maybe\n    cpus: [1]\n    restrat: always\n",
    )
    .unwrap();
    let (code, _, err) = wharf(dir.path(), &["-p", "m", "config"]);
    assert_eq!(code, 1, "{err}");
    let at = |s: &str| err.find(s).unwrap_or_else(|| panic!("no `{s}` in:\n{err}"));
    assert!(at("services.a.init") < at("services.a.cpus"), "{err}");
    assert!(at("services.a.cpus") < at("services.a.restrat"), "{err}");
    assert!(err.contains("3 errors in the compose project"), "{err}");
}

#[test]
fn a_service_with_a_type_error_is_still_defined_for_what_refers_to_it() {
    // Issue 17 (root cause only): `web` is left out of the typed model for its own error; `db`
    // depending on it is not an error as well.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: x\n    build: {context: ., cache_from: x}\n  db:\n    image: y\n    depends_on: [web]\n    volumes_from: [web]\n",
    )
    .unwrap();
    let (code, _, err) = wharf(dir.path(), &["-p", "m", "config"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("services.web.build.cache_from"), "{err}");
    assert!(!err.contains("is not defined"), "{err}");
    assert!(err.contains("1 error in the compose project"), "{err}");
}
