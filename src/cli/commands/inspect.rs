//! `top`, `images` and `events`: looking at a running project.

use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::Engine;
use crate::model::labels::SERVICE;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Format the output (table|json)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Format the output (table|json)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    pub service: Vec<String>,
}

/// The project, with the services named (the loader refuses unknown ones).
fn checked(g: &GlobalArgs, services: &[String]) -> Result<crate::model::Project, CliError> {
    Ok(g.load(services, false)?.project)
}

/// `top`: the processes of each running container, as `docker top` prints them.
pub fn top(g: &GlobalArgs, a: &TopArgs) -> Result<ExitCode, CliError> {
    let project = checked(g, &a.service)?;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        for crate::ops::inspect::Processes { container, titles, rows } in
            crate::ops::inspect::top(&engine, &project, &a.service).await?
        {
            let mut widths: Vec<usize> = titles.iter().map(String::len).collect();
            for r in &rows {
                for (i, cell) in r.iter().enumerate() {
                    if i < widths.len() {
                        widths[i] = widths[i].max(cell.len());
                    }
                }
            }
            let line = |cells: &[String]| {
                let last = cells.len().saturating_sub(1);
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, x)| if i == last { x.clone() } else { format!("{x:<w$}", w = widths[i]) })
                    .collect::<Vec<_>>()
                    .join("   ")
            };
            println!("{container}");
            println!("{}", line(&titles));
            for r in &rows {
                println!("{}", line(r));
            }
            println!();
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn human(size: i64) -> String {
    let s = size as f64;
    match size {
        n if n >= 1_000_000_000 => format!("{:.3}GB", s / 1e9),
        n if n >= 1_000_000 => format!("{:.3}MB", s / 1e6),
        n if n >= 1_000 => format!("{:.3}kB", s / 1e3),
        n => format!("{n}B"),
    }
}

/// `images`: the image of each of the project's containers.
pub fn images(g: &GlobalArgs, a: &ImagesArgs) -> Result<ExitCode, CliError> {
    let project = checked(g, &a.service)?;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let rows: Vec<(String, String, String, String, i64)> =
            crate::ops::inspect::images(&engine, &project, &a.service)
                .await?
                .into_iter()
                .map(|i| (i.container, i.repository, i.tag, i.id, i.size))
                .collect();
        if a.quiet {
            let mut ids: Vec<&str> = rows.iter().map(|r| r.3.trim_start_matches("sha256:")).collect();
            ids.dedup();
            for id in ids {
                println!("{id}");
            }
        } else if a.format == "json" {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|(c, repo, tag, id, size)| {
                    serde_json::json!({"ContainerName": c, "Repository": repo, "Tag": tag, "ID": id, "Size": size})
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        } else {
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(9) + 3;
            let rw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(10) + 3;
            println!("{:<w$}{:<rw$}{:<10}{:<15}SIZE", "CONTAINER", "REPOSITORY", "TAG", "IMAGE ID");
            for (c, repo, tag, id, size) in &rows {
                let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
                println!("{c:<w$}{repo:<rw$}{tag:<10}{short:<15}{}", human(*size));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `events`: the project's container events as they happen, until interrupted.
pub fn events(g: &GlobalArgs, a: &EventsArgs) -> Result<ExitCode, CliError> {
    let project = checked(g, &a.service)?;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let mut stream = engine.events(&project.name);
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            let service = ev.label(SERVICE).unwrap_or("").to_string();
            if !a.service.is_empty() && !a.service.contains(&service) {
                continue;
            }
            let secs = ev.time_nano.div_euclid(1_000_000_000);
            let time = format_time(secs, ev.time_nano.rem_euclid(1_000_000_000) as u32);
            if a.json {
                let attributes: serde_json::Map<String, serde_json::Value> = ev
                    .attributes
                    .iter()
                    .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                let v = serde_json::json!({
                    "time": time, "type": "container", "action": ev.kind.to_string(), "id": ev.id,
                    "service": service, "attributes": attributes,
                });
                println!("{v}");
            } else {
                let short = match (ev.label(SERVICE), ev.label(crate::model::labels::NUMBER)) {
                    (Some(s), Some(n)) => format!("{s}-{n}"),
                    _ => ev.name().to_string(),
                };
                println!("{time} container {} {} (name={}, service={short})", ev.kind, ev.id, ev.name());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Seconds and nanoseconds since the epoch as RFC 3339 in UTC.
fn format_time(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn iec(n: u64) -> String {
    let f = n as f64;
    match n {
        n if n >= 1 << 30 => format!("{:.2}GiB", f / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.2}MiB", f / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.2}KiB", f / 1024.0),
        n => format!("{n}B"),
    }
}

/// `stats`: CPU, memory, network and PIDs of each running container; once with `--no-stream`,
/// else a new table about every second until interrupted.
pub fn stats(g: &GlobalArgs, a: &StatsArgs) -> Result<ExitCode, CliError> {
    let project = checked(g, &a.service)?;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        loop {
            let sampled = crate::ops::inspect::stats(&engine, &project, &a.service, a.all).await?;
            let w = sampled.iter().map(|(c, _)| c.name.len()).max().unwrap_or(0).max(4) + 3;
            if a.format == "table" {
                println!("{:<15}{:<w$}{:<9}{:<22}{:<9}{:<20}PIDS", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O");
            }
            for (c, s) in &sampled {
                let mem_pct = if s.mem_limit > 0 { s.mem_usage as f64 / s.mem_limit as f64 * 100.0 } else { 0.0 };
                if a.format == "json" {
                    let v = serde_json::json!({
                        "ID": &c.id[..12.min(c.id.len())], "Name": c.name, "CPUPerc": format!("{:.2}%", s.cpu_percent),
                        "MemUsage": format!("{} / {}", iec(s.mem_usage), iec(s.mem_limit)), "MemPerc": format!("{mem_pct:.2}%"),
                        "NetIO": format!("{} / {}", iec(s.net_rx), iec(s.net_tx)), "PIDs": s.pids.to_string(),
                    });
                    println!("{v}");
                } else {
                    println!(
                        "{:<15}{:<w$}{:<9}{:<22}{:<9}{:<20}{}",
                        &c.id[..12.min(c.id.len())],
                        c.name,
                        format!("{:.2}%", s.cpu_percent),
                        format!("{} / {}", iec(s.mem_usage), iec(s.mem_limit)),
                        format!("{mem_pct:.2}%"),
                        format!("{} / {}", iec(s.net_rx), iec(s.net_tx)),
                        s.pids
                    );
                }
            }
            if a.no_stream {
                return Ok(ExitCode::SUCCESS);
            }
            println!();
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(super::format_time(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(super::format_time(1795464000, 5), "2026-11-23T20:00:00.000000005Z");
        assert_eq!(crate::logs::parse_rfc3339(&super::format_time(1795464123, 42)), Some((1795464123, 42)));
    }
}
