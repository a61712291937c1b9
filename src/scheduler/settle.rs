//! After a wharf was killed holding the project's lock: the engine may still be carrying out
//! its requests (stops above all), and containers about to stop still read as running. The
//! next holder lets those requests finish before it observes the project.

use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::plan::Observed;
use crate::progress::Report;

/// Seconds since the epoch.
fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

/// The number of a stop signal as the engine's `kill` event gives it (`SIGTERM`, `TERM`, `15`).
fn signal_number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let n = upper.trim_start_matches("SIG");
    if let Ok(v) = n.parse() {
        return Some(v);
    }
    let known =
        [("HUP", 1), ("INT", 2), ("QUIT", 3), ("KILL", 9), ("USR1", 10), ("USR2", 12), ("TERM", 15), ("WINCH", 28)];
    known.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| *v)
}

/// Waits for the stops still being carried out on containers `observed` as running: a `wharf`
/// (or `docker compose`) killed during `down`, `stop` or a recreate leaves the engine stopping
/// containers it asked to stop, which still read as running; an `up` that trusted them would
/// exit 0 and leave them exited a moment later. A stop is pending when the container's last
/// event is the engine's `kill` with its stop signal; it is waited for until the container is
/// down or its grace period (and 5 s) has passed since the signal. Returns whether anything was
/// waited for (the caller observes again).
pub async fn settle_pending_stops<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
) -> Result<bool, EngineError> {
    use crate::engine::{EventKind, State};
    use crate::model::labels::SERVICE;
    let running: Vec<_> = observed.containers.iter().filter(|c| c.state == State::Running).collect();
    if running.is_empty() {
        return Ok(false);
    }
    let grace = |c: &crate::engine::ContainerInfo| {
        c.label(SERVICE).and_then(|s| project.services.get(s)).and_then(crate::plan::spec::stop_timeout).unwrap_or(10)
    };
    let longest = running.iter().map(|c| grace(c)).max().unwrap_or(10).max(0);
    let events = engine.recent_events(&project.name, now_s() - longest - 5).await?;
    let mut waited = false;
    for c in running {
        let svc = c.label(SERVICE).and_then(|s| project.services.get(s));
        let stop_signal = svc.and_then(|s| s.stop_signal.as_deref()).and_then(signal_number).unwrap_or(15);
        let mut pending: Option<i64> = None;
        for ev in events.iter().filter(|e| e.id == c.id) {
            match &ev.kind {
                EventKind::Other(a) if a == "kill" => {
                    let sig = ev.attributes.get("signal").and_then(|s| signal_number(s));
                    if sig == Some(stop_signal) {
                        pending = Some(ev.time_nano / 1_000_000_000);
                    }
                }
                EventKind::Start | EventKind::Die { .. } => pending = None,
                _ => {}
            }
        }
        let Some(signalled) = pending else { continue };
        waited = true;
        let until = signalled + grace(c).max(0) + 5;
        loop {
            match engine.inspect_container(&c.id).await {
                Ok(i) if i.state == State::Running && now_s() < until => {}
                Ok(_) | Err(EngineError::NotFound { .. }) => break,
                Err(e) => return Err(e),
            }
            // Polling the container's state until the engine's stop completes (it sends no
            // event we could have subscribed to before the stop began).
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Ok(waited)
}

/// After a wharf died holding the project's lock: lets the engine finish the requests it had
/// sent (stops, removals, starts) before the project is observed, by waiting until the
/// project's events have been quiet for a second (at most 20 s). The stops it finds pending
/// afterwards are waited for by [`settle_pending_stops`].
pub async fn settle_after_crash<E: Engine>(engine: &E, project: &Project, r: &Report) {
    use futures::StreamExt;
    r.line(&format!(
        "the last wharf working on project `{}` was killed: letting the engine finish its requests",
        project.name
    ));
    let mut events = engine.events(&project.name);
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let quiet = tokio::time::sleep(std::time::Duration::from_secs(1));
        tokio::select! {
            ev = events.next() => if ev.is_none() { return },
            () = quiet => return,
            () = tokio::time::sleep_until(give_up) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signals_by_name_or_number() {
        assert_eq!(signal_number("15"), Some(15));
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("INT"), Some(2));
        assert_eq!(signal_number("sigquit"), Some(3));
        assert_eq!(signal_number("SIGNOPE"), None);
    }
}
