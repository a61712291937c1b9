//! Bollard's errors turned into ours: what was being done, to what, in plain words.

use bollard::errors::Error as BollardError;

use crate::engine::EngineError;

pub(super) fn short(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        BollardError::DockerStreamError { error } => error.clone(),
        // Transparent: its own `source()` skips the I/O error itself.
        BollardError::IOError { err } => plain(err),
        other => plain(other),
    }
}

/// A transport failure in plain words (never the client library's own names): the first I/O
/// error in the chain says what happened.
fn plain(e: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind;
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = at {
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                ErrorKind::NotFound => "no socket there".into(),
                ErrorKind::ConnectionRefused => "connection refused".into(),
                ErrorKind::PermissionDenied => "permission denied (is this user in the `docker` group?)".into(),
                ErrorKind::BrokenPipe
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof => {
                    "the engine closed the connection (did the daemon stop or restart?)".into()
                }
                ErrorKind::TimedOut => "the engine did not answer in time".into(),
                _ => io.to_string(),
            };
        }
        at = x.source();
    }
    let text = e.to_string();
    if text.contains("No such file") || text.contains("os error 2") {
        "no socket there".into()
    } else if text.contains("Connection refused") || text.contains("os error 111") {
        "connection refused".into()
    } else if text.contains("hyper") || text.contains("connection closed") || text.contains("IncompleteMessage") {
        "the engine closed the connection (did the daemon stop or restart?)".into()
    } else if text.contains("Timeout") || text.contains("timed out") {
        "the engine did not answer in time".into()
    } else {
        text
    }
}

/// The engine's address as the user gave it (`DOCKER_HOST`), for messages.
pub(super) fn endpoint() -> String {
    std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// How long one engine call may take (`COMPOSE_HTTP_TIMEOUT`, seconds), for messages; set when
/// connecting.
pub(super) static TIMEOUT_S: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_TIMEOUT_S);

/// A generous deadline for one call: the engine's slowest calls (a stop with its grace period has
/// its own) finish well within it, and a wedged engine is named instead of waited on forever.
pub const DEFAULT_TIMEOUT_S: u64 = 120;

/// `COMPOSE_HTTP_TIMEOUT`, the variable docker-compose used for the same deadline.
pub(super) fn timeout_from_env() -> u64 {
    std::env::var("COMPOSE_HTTP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_TIMEOUT_S)
}

/// Turns a bollard error into ours, naming what was being done.
pub(super) fn map_err(e: BollardError, operation: &str, subject: &str) -> EngineError {
    match e {
        BollardError::RequestTimeoutError => EngineError::Timeout {
            endpoint: endpoint(),
            operation: format!("{operation} {subject}").trim_end().to_string(),
            waited_s: TIMEOUT_S.load(std::sync::atomic::Ordering::Relaxed),
        },
        BollardError::DockerResponseServerError { status_code, message } => match status_code {
            404 => EngineError::NotFound { what: subject.to_string() },
            409 => EngineError::Conflict {
                what: subject.to_string(),
                message: message.trim_start_matches("Conflict. ").to_string(),
            },
            _ if message.contains("port is already allocated") || message.contains("address already in use") => {
                let port = message
                    .split("0.0.0.0:")
                    .nth(1)
                    .or_else(|| message.split("127.0.0.1:").nth(1))
                    .map(|s| s.split_whitespace().next().unwrap_or(s).trim_end_matches(':').to_string())
                    .unwrap_or_else(|| message.clone());
                EngineError::PortAllocated { port }
            }
            _ if message.contains("has active endpoints") => EngineError::NetworkInUse { network: subject.to_string() },
            _ => EngineError::Api { operation: format!("{operation} {subject}"), status: status_code, message },
        },
        other => EngineError::Unreachable {
            endpoint: endpoint(),
            reason: format!("{operation} {subject}: {}", short(&other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_losing_the_engine_is_said_in_plain_words_with_its_address() {
        // Issue 24: "cannot connect to the Docker Engine at the Docker Engine: Error in the
        // hyper legacy client…".
        let gone = BollardError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionReset) };
        let e = map_err(gone, "listing", "containers of `p`");
        let text = e.to_string();
        assert!(text.starts_with(&format!("cannot connect to the Docker Engine at {}", endpoint())), "{text}");
        assert!(text.contains("listing containers of `p`: the engine closed the connection"), "{text}");
        assert!(!text.contains("hyper") && !text.contains("the Docker Engine at the Docker Engine"), "{text}");
        let refused = BollardError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused) };
        assert!(map_err(refused, "starting", "container `x`").to_string().ends_with("connection refused"));
    }
}
