//! Container output as lines: one task per container reads the engine's log stream, splits it
//! into lines (keeping a partial line until its end arrives) and sends each, tagged with its
//! container and service, on one channel. Used by `logs` and by attached `up`.

use std::collections::HashMap;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{ContainerInfo, Engine, LogOptions, LogStream};
use crate::model::labels::{NUMBER, SERVICE};

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `service-n`, as compose prints it.
    pub short_name: String,
    pub service: String,
    pub stream: LogStream,
    /// The engine's timestamp (RFC 3339, nanoseconds), when asked for.
    pub time: Option<String>,
    pub text: String,
}

impl Line {
    /// The timestamp as (seconds, nanoseconds) since the epoch, for ordering.
    pub fn sort_key(&self) -> (i64, u32) {
        self.time.as_deref().and_then(parse_rfc3339).unwrap_or((i64::MAX, 0))
    }
}

/// `service-n` for a container (its name, when it has no compose labels).
pub fn short_name(c: &ContainerInfo) -> String {
    match (c.label(SERVICE), c.label(NUMBER)) {
        (Some(s), Some(n)) => format!("{s}-{n}"),
        _ => c.name.clone(),
    }
}

/// Starts reading `c`'s logs; lines go to `tx`. The returned receiver fires when the stream
/// ends (for a followed container: when it stops).
pub fn attach<E: Engine>(
    e: &E,
    c: &ContainerInfo,
    opts: &LogOptions,
    tx: mpsc::UnboundedSender<Line>,
) -> oneshot::Receiver<()> {
    let (done_tx, done_rx) = oneshot::channel();
    let stream = e.logs(&c.id, &LogOptions { timestamps: true, ..opts.clone() });
    let (short, service) = (short_name(c), c.label(SERVICE).unwrap_or("").to_string());
    tokio::spawn(async move {
        pump(stream, &short, &service, |l| tx.send(l).is_ok()).await;
        let _ = done_tx.send(());
    });
    done_rx
}

/// Turns a log stream (asked with timestamps) into lines for `emit`, until it ends or `emit`
/// says stop; a last line without its newline is passed on too.
pub async fn pump(
    mut stream: crate::engine::EngineStream<crate::engine::LogChunk>,
    short: &str,
    service: &str,
    mut emit: impl FnMut(Line) -> bool,
) {
    let mut partial: HashMap<bool, String> = HashMap::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        let key = chunk.stream == LogStream::Stderr;
        let buf = partial.entry(key).or_default();
        buf.push_str(&String::from_utf8_lossy(&chunk.bytes));
        while let Some(pos) = buf.find('\n') {
            let raw: String = buf.drain(..=pos).collect();
            let raw = raw.trim_end_matches(['\n', '\r']);
            if !emit(line(short, service, chunk.stream, raw)) {
                return;
            }
        }
    }
    for (is_err, rest) in partial {
        if !rest.is_empty() {
            let stream = if is_err { LogStream::Stderr } else { LogStream::Stdout };
            emit(line(short, service, stream, &rest));
        }
    }
}

/// Splits the engine's `<timestamp> <text>` (timestamps are always requested).
fn line(short: &str, service: &str, stream: LogStream, raw: &str) -> Line {
    let (time, text) = match raw.split_once(' ') {
        Some((t, rest)) if parse_rfc3339(t).is_some() => (Some(t.to_string()), rest),
        _ => (None, raw),
    };
    Line { short_name: short.into(), service: service.into(), stream, time, text: text.to_string() }
}

pub use crate::engine::time::parse_rfc3339;

/// `--since`/`--until`: RFC 3339, Unix seconds, or a duration before now (`10m`, `1h30m`).
pub fn parse_time(s: &str, now: i64) -> Option<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n as i64);
    }
    if let Some((secs, _)) = parse_rfc3339(s) {
        return Some(secs);
    }
    let ago = crate::model::Duration::parse(s).ok()?;
    Some(now - ago.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_trimmed_nanoseconds_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_rfc3339("2026-11-23T20:00:00.5Z"), Some((1795464000, 500_000_000)));
        assert_eq!(parse_rfc3339("2026-11-23T21:00:00.000000001+01:00"), Some((1795464000, 1)));
        assert_eq!(parse_rfc3339("not a time"), None);
        // Trimmed fractions still order correctly.
        assert!(parse_rfc3339("2026-11-23T20:00:00.12Z") > parse_rfc3339("2026-11-23T20:00:00.119999999Z"));
    }

    #[test]
    fn lines_keep_their_timestamp_apart_from_the_text() {
        let l = line("web-1", "web", LogStream::Stdout, "2026-11-23T20:00:00.1Z hello world");
        assert_eq!((l.time.as_deref(), l.text.as_str()), (Some("2026-11-23T20:00:00.1Z"), "hello world"));
        let l = line("web-1", "web", LogStream::Stdout, "no stamp here");
        assert_eq!((l.time, l.text.as_str()), (None, "no stamp here"));
    }

    #[test]
    fn since_accepts_unix_rfc3339_and_relative() {
        assert_eq!(parse_time("1700000000", 0), Some(1_700_000_000));
        assert_eq!(parse_time("1970-01-01T00:01:00Z", 0), Some(60));
        assert_eq!(parse_time("10m", 1000), Some(400));
        assert_eq!(parse_time("yesterday", 0), None);
    }
}
