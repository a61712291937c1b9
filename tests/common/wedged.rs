//! A stand-in for an engine that stops answering: a Unix socket that answers `/_ping` and
//! `/version` (as Docker 20.10 still did when its network layer deadlocked) and holds every
//! other request unanswered.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

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

/// Serves a wedged engine at `dir/wedged.sock` for as long as the process runs; returns the
/// socket's path (`DOCKER_HOST=unix://PATH`).
pub fn start(dir: &Path) -> PathBuf {
    let sock = dir.join("wedged.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    sock
}
