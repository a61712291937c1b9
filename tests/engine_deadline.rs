//! An engine that stops answering (Docker 20.10 can deadlock its network layer while `ping`
//! still answers) is named, with the call and how long wharf waited, instead of waited on
//! forever. The engine here is a socket of our own that answers the version and ping calls and
//! then holds every other request unanswered.

use std::process::Command;

mod common;

#[test]
fn a_call_the_engine_does_not_answer_is_named_with_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let sock = common::wedged::start(dir.path());
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  a:\n    image: x\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["-p", "wedged", "ps"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("COMPOSE_HTTP_TIMEOUT", "1")
        .output()
        .expect("run wharf");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("the Docker Engine at unix://{} did not answer", sock.display())), "{err}");
    assert!(err.contains("containers") && err.contains("within 1 s"), "{err}");
    assert!(err.contains("`docker network ls`") && err.contains("COMPOSE_HTTP_TIMEOUT"), "{err}");
}
