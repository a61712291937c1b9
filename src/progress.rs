//! Progress: what the scheduler reports (a resource changed state, a wait is under way) and how
//! it reaches the terminal. The CLI picks a rendering once (`--progress`); library users get
//! `plain` on stderr unless they choose. Four renderings:
//!
//! - `tty`: one line per resource, redrawn in place by indicatif, under a `[+] Running k/n`
//!   header, each with its state and elapsed time;
//! - `plain`: one line per state change (`Container app-web-1  Started`), for CI logs;
//! - `json`: one [`ProgressEvent`] object per line, schema in `schemas/events.schema.json`;
//! - `quiet`: nothing (errors are printed by the CLI).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How progress is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

/// One progress event, as the `json` rendering writes it (one object per line on stderr).
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

struct Tty {
    multi: MultiProgress,
    header: ProgressBar,
    bars: HashMap<(String, String), (ProgressBar, Instant)>,
    states: HashMap<(String, String), bool>,
}

struct Reporter {
    mode: Mode,
    tty: Mutex<Option<Tty>>,
}

static REPORTER: OnceLock<Reporter> = OnceLock::new();

/// Chooses the rendering; the first call wins (the CLI calls it before any work).
pub fn init(mode: Mode) {
    let _ = REPORTER.set(Reporter { mode, tty: Mutex::new(None) });
}

fn reporter() -> &'static Reporter {
    REPORTER.get_or_init(|| Reporter { mode: Mode::Plain, tty: Mutex::new(None) })
}

/// The rendering in use.
pub fn mode() -> Mode {
    reporter().mode
}

/// States after which nothing more happens to the resource in this command.
fn is_final(state: &str) -> bool {
    matches!(
        state,
        "Created"
            | "Started"
            | "Healthy"
            | "Running"
            | "Recreated"
            | "Stopped"
            | "Removed"
            | "Killed"
            | "Paused"
            | "Unpaused"
            | "Exited"
            | "Error"
            | "Done"
    )
}

/// `kind` `name` reached `state`.
pub fn report(kind: &str, name: &str, state: &str) {
    emit(kind, name, state, None);
}

/// `kind` `name` is in `state`, with more to say (`waiting for db: health starting`).
pub fn detail(kind: &str, name: &str, state: &str, detail: &str) {
    emit(kind, name, state, Some(detail));
}

fn emit(kind: &str, name: &str, state: &str, detail: Option<&str>) {
    let r = reporter();
    match r.mode {
        Mode::Quiet => {}
        Mode::Plain => match detail {
            Some(d) => eprintln!(" {kind} {name}  {state}: {d}"),
            None => eprintln!(" {kind} {name}  {state}"),
        },
        Mode::Json => {
            let ev = ProgressEvent {
                time_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                kind: kind.into(),
                name: name.into(),
                state: state.into(),
                detail: detail.map(str::to_string),
            };
            if let Ok(line) = serde_json::to_string(&ev) {
                eprintln!("{line}");
            }
        }
        Mode::Tty => {
            let mut guard = r.tty.lock().unwrap_or_else(|p| p.into_inner());
            let tty = guard.get_or_insert_with(|| {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(20));
                let header = multi.add(ProgressBar::new_spinner());
                header.set_style(
                    ProgressStyle::with_template("[+] {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                Tty { multi, header, bars: HashMap::new(), states: HashMap::new() }
            });
            let key = (kind.to_string(), name.to_string());
            let total_before = tty.bars.len();
            let (bar, started) = tty.bars.entry(key).or_insert_with(|| {
                let b = tty.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template(" {spinner} {prefix:<40} {wide_msg} {elapsed:>4}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner())
                        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔"),
                );
                b.set_prefix(format!("{kind} {name}"));
                b.enable_steady_tick(Duration::from_millis(100));
                (b, Instant::now())
            });
            let _ = started;
            let msg = match detail {
                Some(d) => format!("{state}: {d}"),
                None => state.to_string(),
            };
            bar.set_message(msg);
            // A resource counts as done while its last state is final (a `Created` container
            // that is then started counts again once `Started`).
            tty.states.insert((kind.to_string(), name.to_string()), is_final(state));
            let done = tty.states.values().filter(|f| **f).count();
            let total = tty.bars.len().max(total_before);
            tty.header.set_message(format!("Running {done}/{total}"));
            tty.header.tick();
        }
    }
}

/// Prints `text` (a line of logs or a message) without tearing the progress display.
pub fn println(text: &str) {
    let r = reporter();
    let guard = r.tty.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(tty) => tty.multi.suspend(|| println!("{text}")),
        None => println!("{text}"),
    }
}

/// Ends the tty rendering: bars still spinning stop where they are, the display stays.
pub fn finish() {
    let r = reporter();
    let mut guard = r.tty.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tty) = guard.take() {
        for (key, (bar, _)) in &tty.bars {
            if tty.states.get(key).copied().unwrap_or(false) {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
        tty.header.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_are_the_ones_that_end_a_resource() {
        assert!(is_final("Started") && is_final("Removed") && is_final("Healthy"));
        assert!(!is_final("Starting") && !is_final("Waiting") && !is_final("Stopping"));
    }

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
}
