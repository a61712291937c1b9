//! `wharf graph`: the dependency graph wharf schedules from, as a tree, DOT, Mermaid or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::{CliError, GlobalArgs};
use crate::graph::view::{Show, View, ViewOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Tree,
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format (default: tree; `dot` for `-o FILE.svg`/`.png`)
    #[arg(long, value_enum)]
    pub format: Option<GraphFormat>,
    /// Show the networks each service joins
    #[arg(long)]
    pub networks: bool,
    /// Show the volumes each service mounts
    #[arg(long)]
    pub volumes: bool,
    /// Show published ports
    #[arg(long)]
    pub ports: bool,
    /// Also show the services of profiles that are not enabled (dimmed)
    #[arg(long)]
    pub profiles: bool,
    /// Write to FILE; `.svg` and `.png` are rendered with Graphviz `dot`
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Services to show, with what they need (default: all)
    pub service: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: &GraphArgs) -> Result<ExitCode, CliError> {
    let loaded = g.load(&a.service, false)?;
    let view = View::new(&loaded.project, &ViewOptions { services: a.service.clone(), profiles: a.profiles });
    let image = a.output.as_ref().and_then(|o| crate::ops::graph::ImageFormat::of(o));
    let show =
        Show { networks: a.networks, volumes: a.volumes, ports: a.ports, color: a.output.is_none() && g.color() };
    let format = a.format.unwrap_or(if image.is_some() { GraphFormat::Dot } else { GraphFormat::Tree });
    let text = match format {
        GraphFormat::Tree => view.tree(show),
        GraphFormat::Dot => view.dot(show),
        GraphFormat::Mermaid => view.mermaid(show),
        GraphFormat::Json => view.json(),
    };
    match (&a.output, image) {
        (Some(path), Some(kind)) => {
            if format != GraphFormat::Dot {
                return Err(CliError::Message {
                    message: format!("`{}` is an image: it is rendered from the DOT format", path.display()),
                    hint: Some("leave out `--format`, or give a `.dot`, `.mmd` or `.json` file".into()),
                    code: 1,
                });
            }
            crate::ops::graph::render(&text, path, kind).map_err(|e| CliError::Message {
                message: e.to_string(),
                hint: e.hint(),
                code: 1,
            })?;
        }
        (Some(path), None) => {
            std::fs::write(path, text).map_err(|e| CliError::msg(format!("cannot write `{}`: {e}", path.display())))?
        }
        (None, _) => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
