//! `logs`, and attached `up`: the merged output of the services, each line prefixed
//! `service-1  | ` in a stable colour per service, container exits reported, and Ctrl-C (or
//! SIGTERM) stopping the stack gracefully, then killing it on the second signal.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use futures::StreamExt;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{Engine, LogOptions};
use crate::logs::Line;
use crate::model::Project;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Print the lines of all services in timestamp order (compose cannot: docker/compose#5398)
    #[arg(long)]
    pub merge_by_time: bool,
    pub service: Vec<String>,
}

/// How log lines are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    width: usize,
    colors: HashMap<String, &'static str>,
    color: bool,
    prefix: bool,
    timestamps: bool,
}

const PALETTE: [&str; 12] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94", "31", "91"];

impl Printer {
    /// A printer for `project`'s services: colours follow the service order in the file, so they
    /// are stable between runs.
    pub fn new(project: &Project, names: &[String], color: bool, prefix: bool, timestamps: bool) -> Printer {
        let colors =
            project.services.keys().enumerate().map(|(i, s)| (s.clone(), PALETTE[i % PALETTE.len()])).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        Printer { width, colors, color, prefix, timestamps }
    }

    pub fn widen(&mut self, name: &str) {
        self.width = self.width.max(name.len());
    }

    fn paint(&self, service: &str, text: &str) -> String {
        match (self.color, self.colors.get(service)) {
            (true, Some(c)) => format!("\x1b[{c}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    pub fn line(&self, l: &Line) -> String {
        let mut out = String::new();
        if self.prefix {
            // As compose: names padded to one more than the longest.
            let p = format!("{:<w$} | ", l.short_name, w = self.width + 1);
            out.push_str(&self.paint(&l.service, &p));
        }
        if self.timestamps
            && let Some(t) = &l.time
        {
            out.push_str(t);
            out.push(' ');
        }
        out.push_str(&l.text);
        out
    }

    /// A message about a container, in its colour (`web-1 exited with code 3`).
    pub fn message(&self, short: &str, service: &str, text: &str) -> String {
        self.paint(service, &format!("{short} {text}"))
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn logs(g: &GlobalArgs, a: &LogsArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&a.service, false)?.project;
    let time = |flag: &str, v: &Option<String>| -> Result<Option<i64>, CliError> {
        v.as_deref()
            .map(|s| {
                crate::logs::parse_time(s, now()).ok_or_else(|| CliError::Message {
                    message: format!("invalid {flag} value `{s}`"),
                    hint: Some("give a timestamp (2013-01-02T13:23:37Z), Unix seconds, or a duration (42m)".into()),
                    code: 1,
                })
            })
            .transpose()
    };
    let opts = LogOptions {
        follow: a.follow,
        timestamps: true,
        tail: Some(a.tail.clone()),
        since: time("--since", &a.since)?,
        until: time("--until", &a.until)?,
    };
    let req = crate::ops::logs::LogsRequest {
        services: a.service.clone(),
        index: a.index,
        options: opts,
        merge_by_time: a.merge_by_time,
    };
    let (color, prefix) = (g.color() && !a.no_color, !a.no_log_prefix);
    let printer = std::cell::RefCell::new(None);
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        crate::ops::logs::logs(
            &engine,
            &project,
            &req,
            |names| *printer.borrow_mut() = Some(Printer::new(&project, names, color, prefix, a.timestamps)),
            |l| {
                // A container followed later (`-f`) widens the prefixes, as compose's do.
                if let Some(p) = printer.borrow_mut().as_mut() {
                    p.widen(&l.short_name);
                    println!("{}", p.line(l));
                }
            },
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// How attached output is printed (`--no-log-prefix`, `--no-color`, `--timestamps`).
#[derive(Debug, Clone, Default)]
pub struct PrintOptions {
    pub no_log_prefix: bool,
    pub no_color: bool,
    pub timestamps: bool,
}

/// Attached `up` after converging: the library's loop, its output rendered with a [`Printer`],
/// SIGINT and SIGTERM as its interrupts; the process exit code.
pub async fn attached<E: Engine>(
    e: &E,
    g: &GlobalArgs,
    project: &Project,
    req: &crate::ops::attach::AttachRequest,
    print: &PrintOptions,
    events: crate::engine::EngineStream<crate::engine::Event>,
) -> Result<ExitCode, CliError> {
    use crate::ops::attach::Shown;
    let report = g.report();
    let mut printer = Printer::new(project, &[], g.color() && !print.no_color, !print.no_log_prefix, print.timestamps);
    let show = |s: Shown| match s {
        Shown::Attaching(names) => {
            names.iter().for_each(|n| printer.widen(n));
            report.line(&format!("Attaching to {}", names.join(", ")));
        }
        Shown::Joined(name) => printer.widen(&name),
        // A container's stderr goes to ours, as compose does.
        Shown::Line(l) if l.stream == crate::engine::LogStream::Stderr => g.shown.err_line(&printer.line(&l)),
        Shown::Line(l) => {
            // A hook's lines (`web-1 ->`) widen the prefixes, as compose's do.
            printer.widen(&l.short_name);
            report.line(&printer.line(&l))
        }
        Shown::Exited { short, service, code, restarting } => {
            let again = if restarting { " (restarting)" } else { "" };
            report.line(&printer.message(&short, &service, &format!("exited with code {code}{again}")))
        }
        Shown::Note { short, service, text } => report.line(&printer.message(&short, &service, &text)),
        Shown::Message(m) => report.line(&m),
    };
    let outcome = crate::ops::attach::run(e, project, req, events, signals()?, show).await?;
    Ok(ExitCode::from(outcome.code.clamp(0, 255) as u8))
}

/// SIGINT and SIGTERM, each as one item.
fn signals() -> Result<futures::stream::BoxStream<'static, ()>, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let (int, term) = (
        signal(SignalKind::interrupt()).map_err(|x| CliError::msg(x.to_string()))?,
        signal(SignalKind::terminate()).map_err(|x| CliError::msg(x.to_string()))?,
    );
    Ok(futures::stream::unfold((int, term), |(mut int, mut term)| async move {
        tokio::select! {
            Some(()) = int.recv() => Some(((), (int, term))),
            Some(()) = term.recv() => Some(((), (int, term))),
            else => None,
        }
    })
    .boxed())
}

/// Writes a chunk of raw container output to our stdout or stderr, as it came.
pub(crate) fn write_chunk(chunk: &crate::engine::LogChunk) {
    use std::io::Write;
    if chunk.stream == crate::engine::LogStream::Stderr {
        let _ = std::io::stderr().write_all(&chunk.bytes);
    } else {
        let mut out = std::io::stdout();
        let _ = out.write_all(&chunk.bytes);
        let _ = out.flush();
    }
}
