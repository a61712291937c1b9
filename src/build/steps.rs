//! Following a BuildKit build: its steps (vertices) as they start, write and finish, shown the way
//! `--progress plain` shows them (`#3 [2/3] COPY . /app`, `#3 DONE 0.4s`), and, when the build
//! fails, the failed step with the tail of its output. Also explains the builder's Dockerfile
//! parse errors in the user's terms.

use indexmap::IndexMap;

use crate::engine::{BuildMessage, BuildStep};

/// At most this many lines of a failed step's output go into the error.
const TAIL: usize = 20;

#[derive(Debug, Default)]
struct Step {
    number: usize,
    name: String,
    shown: bool,
    done: bool,
    error: Option<String>,
    output: String,
}

/// The steps seen so far.
#[derive(Debug, Default)]
pub struct Steps {
    steps: IndexMap<String, Step>,
}

impl Steps {
    /// Takes one message; returns the lines it adds to the plain progress output.
    pub fn apply(&mut self, msg: &BuildMessage) -> Vec<String> {
        match msg {
            BuildMessage::Step(s) => self.step(s),
            BuildMessage::StepOutput { step, text } => {
                let Some(st) = self.steps.get_mut(step) else { return Vec::new() };
                st.output.push_str(text);
                let n = st.number;
                text.lines().map(super::plain).filter(|l| !l.trim().is_empty()).map(|l| format!("#{n} {l}")).collect()
            }
            _ => Vec::new(),
        }
    }

    fn step(&mut self, s: &BuildStep) -> Vec<String> {
        let next = self.steps.len() + 1;
        let st = self.steps.entry(s.id.clone()).or_insert_with(|| Step { number: next, ..Default::default() });
        st.name.clone_from(&s.name);
        let mut out = Vec::new();
        if !st.shown && (s.started || s.cached || s.completed.is_some()) {
            st.shown = true;
            out.push(format!("#{} {}", st.number, st.name));
        }
        if let Some(e) = &s.error {
            st.error = Some(e.clone());
        }
        if !st.done && s.completed.is_some() {
            st.done = true;
            out.push(match (&s.error, s.cached, s.completed) {
                (Some(e), ..) => format!("#{} ERROR: {e}", st.number),
                (None, true, _) => format!("#{} CACHED", st.number),
                (None, false, took) => format!("#{} DONE {:.1}s", st.number, took.unwrap_or_default().as_secs_f64()),
            });
        }
        out
    }

    /// The step that failed and the last lines of what it wrote, each `  | `-prefixed.
    pub fn failed(&self) -> Option<String> {
        let st = self.steps.values().find(|s| s.error.is_some())?;
        let lines: Vec<String> = st.output.lines().map(super::plain).filter(|l| !l.trim().is_empty()).collect();
        let keep = lines.len().saturating_sub(TAIL);
        let head = std::iter::once(&st.name).chain(&lines[keep..]);
        Some(head.map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n"))
    }
}

/// A BuildKit error without the frontend's wrapping (`failed to solve with frontend
/// dockerfile.v0: failed to create LLB definition: `), which says nothing to the user.
pub fn tidy(message: &str) -> String {
    let mut m = message.to_string();
    for wrap in ["failed to solve with frontend dockerfile.v0: ", "failed to create LLB definition: "] {
        m = m.replacen(wrap, "", 1);
    }
    m
}

/// A Dockerfile parse error from BuildKit's frontend (`… dockerfile parse error line 2: Unknown
/// flag: link`), as `DOCKERFILE:2: Unknown flag: link` with what to do.
pub fn parse_error(message: &str, dockerfile: &str) -> Option<(String, String)> {
    let (_, rest) = message.split_once("dockerfile parse error line ")?;
    let (line, what) = rest.split_once(": ")?;
    let line: usize = line.trim().parse().ok()?;
    Some((
        format!("{dockerfile}:{line}: {what}"),
        "the engine's built-in Dockerfile frontend does not know this; a first line \
         `# syntax=docker/dockerfile:1` makes BuildKit use a current one (it is pulled from a registry), \
         or rewrite the line"
            .to_string(),
    ))
}

/// A failure of the Dockerfile frontend that a `# syntax=` line selected (BuildKit's
/// `frontend gateway`): the message names that line of `dockerfile` (`text` is its content),
/// with a fix. Without a registry the frontend image cannot be fetched unless it is local.
pub fn frontend_error(message: &str, dockerfile: &str, text: &str) -> Option<(String, String)> {
    let (_, cause) = message.split_once("frontend gateway.v0: ")?;
    let (line, _, image) = super::dockerfile::syntax_directive(text)?;
    let fetch = ["failed to do request", "resolve", "pull access denied", "not found", "unauthorized"]
        .iter()
        .any(|s| cause.contains(s));
    let (what, hint) = if fetch {
        (
            "could not be fetched",
            format!(
                "remove the `# syntax=` line to use the engine's built-in frontend (it knows `RUN --mount=type=cache|bind` and `COPY --chmod`), or `docker load` the image `{image}` into the engine where no registry answers"
            ),
        )
    } else {
        (
            "failed",
            format!(
                "check that `{image}` is a Dockerfile frontend, or remove the `# syntax=` line to use the engine's built-in one"
            ),
        )
    };
    Some((format!("{dockerfile}:{line}: the Dockerfile frontend `{image}` named by `# syntax=` {what}: {cause}"), hint))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn step(
        id: &str,
        name: &str,
        started: bool,
        completed: Option<u64>,
        cached: bool,
        error: Option<&str>,
    ) -> BuildMessage {
        BuildMessage::Step(BuildStep {
            id: id.into(),
            name: name.into(),
            cached,
            started,
            completed: completed.map(Duration::from_millis),
            error: error.map(str::to_string),
        })
    }

    #[test]
    fn steps_print_like_plain_progress_and_the_failed_one_keeps_its_output() {
        let mut s = Steps::default();
        let mut out = Vec::new();
        for m in [
            step("a", "[1/3] FROM base", false, None, false, None),
            step("a", "[1/3] FROM base", true, Some(0), true, None),
            step("b", "[2/3] COPY . /app", true, None, false, None),
            step("b", "[2/3] COPY . /app", true, Some(1250), false, None),
            step("c", "[3/3] RUN make", true, None, false, None),
            BuildMessage::StepOutput { step: "c".into(), text: "compiling\n\x1b[31mboom\x1b[0m\n".into() },
            step("c", "[3/3] RUN make", true, Some(100), false, Some("exit code: 2")),
            step("c", "[3/3] RUN make", true, Some(100), false, Some("exit code: 2")),
        ] {
            out.extend(s.apply(&m));
        }
        assert_eq!(
            out,
            [
                "#1 [1/3] FROM base",
                "#1 CACHED",
                "#2 [2/3] COPY . /app",
                "#2 DONE 1.2s",
                "#3 [3/3] RUN make",
                "#3 compiling",
                "#3 boom",
                "#3 ERROR: exit code: 2",
            ]
        );
        assert_eq!(s.failed().as_deref(), Some("  | [3/3] RUN make\n  | compiling\n  | boom"));
    }

    #[test]
    fn parse_errors_name_the_dockerfile_line() {
        let m = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 2: Unknown flag: link";
        let (msg, hint) = parse_error(m, "web/Dockerfile").unwrap();
        assert_eq!(msg, "web/Dockerfile:2: Unknown flag: link");
        assert!(hint.contains("# syntax=docker/dockerfile:1"), "{hint}");
        assert_eq!(parse_error("exit code: 3", "Dockerfile"), None);
        let m = "the engine refused building image `x`: failed to solve with frontend dockerfile.v0: failed to create LLB definition: target stage nosuch could not be found";
        assert_eq!(tidy(m), "the engine refused building image `x`: target stage nosuch could not be found");
    }

    #[test]
    fn a_frontend_that_cannot_be_fetched_names_the_syntax_line() {
        let text = "# syntax=docker/dockerfile:1\nFROM scratch\n";
        let m = "the engine refused building image `x`: failed to solve with frontend gateway.v0: failed to do request: Head \"https://registry-1.docker.io/v2/docker/dockerfile/manifests/1\": dial tcp: no such host";
        let (msg, hint) = frontend_error(m, "Dockerfile", text).unwrap();
        assert_eq!(
            msg,
            "Dockerfile:1: the Dockerfile frontend `docker/dockerfile:1` named by `# syntax=` could not be fetched: failed to do request: Head \"https://registry-1.docker.io/v2/docker/dockerfile/manifests/1\": dial tcp: no such host"
        );
        assert!(hint.contains("remove the `# syntax=` line") && hint.contains("docker load"), "{hint}");
        let (msg, hint) =
            frontend_error("failed to solve with frontend gateway.v0: exit code: 1", "Dockerfile", text).unwrap();
        assert!(msg.ends_with("named by `# syntax=` failed: exit code: 1"), "{msg}");
        assert!(hint.starts_with("check that `docker/dockerfile:1` is a Dockerfile frontend"), "{hint}");
        assert_eq!(frontend_error(m, "Dockerfile", "FROM scratch\n"), None);
    }
}
