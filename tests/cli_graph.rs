//! `wharf graph` as a user runs it: every format snapshot-tested on one project that has each
//! kind of edge (conditions, `required: false`, `restart: true`, `links`, `network_mode`), a
//! profile that is not enabled, networks, volumes and ports.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph")
}

/// Runs wharf in the fixture with a clean environment; returns (exit code, stdout, stderr).
fn wharf_with_path(args: &[&str], path: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .current_dir(fixture())
        .env_clear()
        .env("HOME", "/home/user")
        .env("PATH", path)
        .output()
        .expect("run wharf");
    let root = fixture().to_string_lossy().into_owned();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&root, "<fixture>");
    (out.status.code().unwrap_or(-1), clean(&out.stdout), clean(&out.stderr))
}

fn wharf(args: &[&str]) -> (i32, String, String) {
    wharf_with_path(args, &std::env::var("PATH").unwrap_or_default())
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = wharf(args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    out
}

#[test]
fn tree_is_the_default() {
    insta::assert_snapshot!(ok(&["graph"]));
}

#[test]
fn tree_with_everything_shown() {
    insta::assert_snapshot!(ok(&["graph", "--profiles", "--networks", "--volumes", "--ports"]));
}

#[test]
fn tree_in_colour() {
    insta::assert_snapshot!(ok(&["--ansi", "always", "graph", "--profiles"]));
}

#[test]
fn selected_services_and_what_they_need() {
    insta::assert_snapshot!(ok(&["graph", "migrate", "cache"]));
}

#[test]
fn naming_a_profiled_service_enables_it() {
    let out = ok(&["graph", "debug"]);
    assert!(!out.contains("not enabled"), "{out}");
    assert!(out.starts_with("debug\n└── web [started]\n"), "{out}");
}

#[test]
fn dot_format() {
    insta::assert_snapshot!(ok(&["graph", "--format", "dot", "--profiles", "--networks", "--volumes", "--ports"]));
}

#[test]
fn mermaid_format() {
    insta::assert_snapshot!(ok(&["graph", "--format", "mermaid", "--profiles", "--networks", "--volumes", "--ports"]));
}

#[test]
fn json_format() {
    let out = ok(&["graph", "--format", "json", "--profiles"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["project"], "shop");
    insta::assert_snapshot!(out);
}

#[test]
fn svg_is_rendered_by_graphviz() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("shop.svg");
    let args = ["graph", "--profiles", "--networks", "--volumes", "--ports", "-o", svg.to_str().unwrap()];
    let (code, out, err) = wharf(&args);
    assert_eq!((code, out.as_str()), (0, ""), "{err} (Graphviz comes with scripts/setup.sh)");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains(">api</text>"), "{text}");
}

#[test]
fn missing_graphviz_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("shop.svg");
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = wharf_with_path(&["graph", "-o", svg.to_str().unwrap()], empty.to_str().unwrap());
    assert_eq!(code, 1);
    let err = err.replace(dir.path().to_str().unwrap(), "<tmp>");
    insta::assert_snapshot!(err);
    assert!(!svg.exists());
}

#[test]
fn other_files_get_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let mmd = dir.path().join("shop.mmd");
    ok(&["graph", "--format", "mermaid", "-o", mmd.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&mmd).unwrap().starts_with("flowchart TD\n"));
}
