//! Progress as the library reports it: what the scheduler, builds, pulls and the watch loop say
//! as they go (a resource reached a state, a wait is under way, a line of output), sent to a
//! [`Reporter`] the caller passes down — never to a global. The library ships a silent reporter
//! and one that records events (for tests and for [`crate::stack::Stack`]); the CLI's
//! renderings (tty, plain, json) live in `cli/progress.rs`.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One progress event, as the CLI's `json` rendering writes it (one object per line on stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `Network`, `Volume`, `Container`, `Image` or `Service`.
    pub kind: String,
    /// The resource's engine name (for `Service`, the service name).
    pub name: String,
    /// The state reached (`Creating`, `Created`, `Starting`, `Started`, `Healthy`, `Stopping`,
    /// `Stopped`, `Removed`, `Waiting`, `Error`, …).
    pub state: String,
    /// Free text: what is being waited for, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where progress goes. Implementations must be cheap: they are called from the scheduler's
/// tasks while engine calls are in flight.
pub trait Reporter: Send + Sync {
    /// A resource reached a state.
    fn event(&self, event: &ProgressEvent);
    /// A line of output or a message for the user (a log line, "Aborting on container exit…"),
    /// to be shown without tearing a progress display.
    fn line(&self, text: &str);
    /// Something the user should know that did not stop the work (`a volume is kept: …`).
    fn warning(&self, text: &str);
    /// A line a lifecycle hook printed in container `short` (`web-1`) of `service`. Shown by
    /// attached runs only (as compose), so nothing by default.
    fn hook_output(&self, _short: &str, _service: &str, _text: &str) {}
}

/// A shareable handle on a reporter, passed down to everything that reports.
#[derive(Clone)]
pub struct Report(Arc<dyn Reporter>);

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Report")
    }
}

impl Default for Report {
    /// Silent.
    fn default() -> Self {
        Report::silent()
    }
}

impl Report {
    pub fn new(reporter: Arc<dyn Reporter>) -> Report {
        Report(reporter)
    }
    /// Reports nothing.
    pub fn silent() -> Report {
        Report(Arc::new(Silent))
    }
    /// `kind` `name` reached `state`.
    pub fn state(&self, kind: &str, name: &str, state: &str) {
        self.0.event(&event(kind, name, state, None));
    }
    /// `kind` `name` is in `state`, with more to say (`until healthy: health starting`).
    pub fn detail(&self, kind: &str, name: &str, state: &str, detail: &str) {
        self.0.event(&event(kind, name, state, Some(detail)));
    }
    /// A line for the user.
    pub fn line(&self, text: &str) {
        self.0.line(text);
    }
    /// A warning for the user.
    pub fn warning(&self, text: &str) {
        self.0.warning(text);
    }
    /// A line a hook printed in container `short` of `service`.
    pub fn hook_output(&self, short: &str, service: &str, text: &str) {
        self.0.hook_output(short, service, text);
    }
}

/// A reporter that passes everything on to another one: the base of reporters that handle one
/// kind of report themselves.
impl Reporter for Report {
    fn event(&self, event: &ProgressEvent) {
        self.0.event(event);
    }
    fn line(&self, text: &str) {
        self.0.line(text);
    }
    fn warning(&self, text: &str) {
        self.0.warning(text);
    }
    fn hook_output(&self, short: &str, service: &str, text: &str) {
        self.0.hook_output(short, service, text);
    }
}

fn event(kind: &str, name: &str, state: &str, detail: Option<&str>) -> ProgressEvent {
    ProgressEvent {
        time_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        kind: kind.into(),
        name: name.into(),
        state: state.into(),
        detail: detail.map(str::to_string),
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: &ProgressEvent) {}
    fn line(&self, _: &str) {}
    fn warning(&self, _: &str) {}
}

/// What was reported, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    Event(ProgressEvent),
    Line(String),
    Warning(String),
}

/// Keeps everything reported, for tests and for callers that show it later.
#[derive(Debug, Default)]
pub struct Recording {
    seen: Mutex<Vec<Reported>>,
}

impl Recording {
    /// A recording reporter and the handle to pass down.
    pub fn new() -> (Arc<Recording>, Report) {
        let r = Arc::new(Recording::default());
        (r.clone(), Report::new(r))
    }
    /// Everything so far.
    pub fn all(&self) -> Vec<Reported> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// The events so far as `Kind name  State` lines (as the plain rendering prints them).
    pub fn states(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|r| match r {
                Reported::Event(e) => Some(format!("{} {}  {}", e.kind, e.name, e.state)),
                Reported::Line(_) | Reported::Warning(_) => None,
            })
            .collect()
    }
}

impl Reporter for Recording {
    fn event(&self, event: &ProgressEvent) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Reported::Event(event.clone()));
    }
    fn line(&self, text: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Reported::Line(text.to_string()));
    }
    fn warning(&self, text: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Reported::Warning(text.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_round_trip_and_refuse_unknown_fields() {
        let ev = ProgressEvent {
            time_ms: 1,
            kind: "Container".into(),
            name: "p-web-1".into(),
            state: "Waiting".into(),
            detail: Some("for db: health starting".into()),
        };
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<ProgressEvent>(&text).unwrap(), ev);
        assert!(
            serde_json::from_str::<ProgressEvent>(r#"{"time_ms":1,"kind":"a","name":"b","state":"c","x":1}"#).is_err()
        );
    }

    #[test]
    fn a_recording_keeps_events_and_lines_in_order() {
        let (rec, report) = Recording::new();
        report.state("Container", "p-web-1", "Started");
        report.line("hello");
        report.detail("Service", "db", "Waiting", "until healthy");
        assert_eq!(rec.states(), ["Container p-web-1  Started", "Service db  Waiting"]);
        assert_eq!(rec.all()[1], Reported::Line("hello".into()));
    }
}
