//! An engine that stops answering (Docker 20.10 can deadlock its network layer while `ping`
//! still answers) is named, with the call and how long wharf waited, instead of waited on
//! forever. The engine here is a socket of our own that answers the version and ping calls and
//! then holds every other request unanswered.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;

/// Answers `/_ping` and `/version`; any other request is read and never answered.
fn serve(mut conn: UnixStream) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let body = if path.ends_with("/_ping") {
                "OK".to_string()
            } else if path.ends_with("/version") {
                r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.24","Os":"linux","Arch":"amd64"}"#
                    .to_string()
            } else {
                // Wedged: hold the connection and never answer.
                loop {
                    if matches!(conn.read(&mut buf), Ok(0) | Err(_)) {
                        return;
                    }
                }
            };
            let kind = if body.starts_with('{') { "application/json" } else { "text/plain" };
            let reply = format!(
                "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if conn.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

#[test]
fn a_call_the_engine_does_not_answer_is_named_with_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("wedged.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
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
