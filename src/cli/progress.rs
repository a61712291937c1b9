//! The CLI's renderings of progress (`--progress`), as a [`Reporter`] passed down to the
//! library:
//!
//! - `tty`: one line per resource, redrawn in place by indicatif, under a `[+] Running k/n`
//!   header, each with its state and elapsed time;
//! - `plain`: one line per state change (`Container app-web-1  Started`), for CI logs;
//! - `json`: one [`ProgressEvent`] object per line, schema in `schemas/events.schema.json`;
//! - `quiet`: nothing (errors are printed by the CLI).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{ProgressEvent, Report, Reporter};

/// How progress is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

struct Tty {
    multi: MultiProgress,
    header: ProgressBar,
    bars: HashMap<(String, String), (ProgressBar, Instant)>,
    states: HashMap<(String, String), bool>,
}

/// The CLI's reporter: events rendered on stderr, lines on stdout.
pub struct Terminal {
    mode: Mode,
    tty: Mutex<Option<Tty>>,
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

impl Terminal {
    pub fn new(mode: Mode) -> Terminal {
        Terminal { mode, tty: Mutex::new(None) }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Ends the tty rendering: bars still spinning stop where they are, the display stays.
    pub fn finish(&self) {
        let mut guard = self.tty.lock().unwrap_or_else(|p| p.into_inner());
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
}

impl Reporter for Terminal {
    fn event(&self, ev: &ProgressEvent) {
        let (kind, name, state, detail) = (&ev.kind, &ev.name, &ev.state, ev.detail.as_deref());
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => match detail {
                Some(d) => eprintln!(" {kind} {name}  {state}: {d}"),
                None => eprintln!(" {kind} {name}  {state}"),
            },
            Mode::Json => {
                if let Ok(line) = serde_json::to_string(ev) {
                    eprintln!("{line}");
                }
            }
            Mode::Tty => {
                let mut guard = self.tty.lock().unwrap_or_else(|p| p.into_inner());
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
                let (bar, _) = tty.bars.entry(key.clone()).or_insert_with(|| {
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
                bar.set_message(match detail {
                    Some(d) => format!("{state}: {d}"),
                    None => state.to_string(),
                });
                // A resource counts as done while its last state is final (a `Created` container
                // that is then started counts again once `Started`).
                tty.states.insert(key, is_final(state));
                let done = tty.states.values().filter(|f| **f).count();
                let total = tty.bars.len().max(total_before);
                tty.header.set_message(format!("Running {done}/{total}"));
                tty.header.tick();
            }
        }
    }

    fn warning(&self, text: &str) {
        let guard = self.tty.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tty) => tty.multi.suspend(|| eprintln!("warning: {text}")),
            None => eprintln!("warning: {text}"),
        }
    }

    fn line(&self, text: &str) {
        let guard = self.tty.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tty) => tty.multi.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }
}

/// The CLI's progress, chosen once from `--progress` and handed to every verb through
/// [`crate::cli::GlobalArgs`].
#[derive(Clone)]
pub struct Shown(std::sync::Arc<Terminal>);

impl Default for Shown {
    fn default() -> Self {
        Shown::new(Mode::Plain)
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shown({:?})", self.0.mode)
    }
}

impl Shown {
    pub fn new(mode: Mode) -> Shown {
        Shown(std::sync::Arc::new(Terminal::new(mode)))
    }
    /// The reporter to pass down to the library.
    pub fn report(&self) -> Report {
        Report::new(self.0.clone())
    }
    pub fn mode(&self) -> Mode {
        self.0.mode
    }
    pub fn quiet(&self) -> bool {
        self.0.mode == Mode::Quiet
    }
    /// Prints a line without tearing the progress display.
    pub fn line(&self, text: &str) {
        self.0.line(text);
    }
    /// The same on stderr (a container's stderr, in attached output).
    pub fn err_line(&self, text: &str) {
        let guard = self.0.tty.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tty) => tty.multi.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
    pub fn finish(&self) {
        self.0.finish();
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
}
