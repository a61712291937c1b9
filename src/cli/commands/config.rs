//! `wharf config`: the project in canonical form, or one facet of it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::{CliError, GlobalArgs};
use crate::hash::service_hash;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Format the output (yaml|json)
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the config hash of the named services ('*' for all)
    #[arg(long, value_name = "SERVICE")]
    pub hash: Option<String>,
    /// Print the variables the model uses, with their defaults
    #[arg(long)]
    pub variables: bool,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Save to file (default: stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Services to show (default: all)
    pub service: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: &ConfigArgs) -> Result<ExitCode, CliError> {
    let yaml = a.format == "yaml" && !a.no_interpolate;
    let loaded =
        g.load_with(crate::load::LoadOptions { yaml_extras: yaml, ..g.load_options(&a.service, a.no_interpolate) })?;
    let mut project = loaded.project;
    if !a.service.is_empty() {
        let keep = crate::graph::Graph::new(&project).with_dependencies(&a.service);
        project.services.retain(|name, _| keep.contains(name));
    }
    if a.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let mut lines = |items: Vec<String>| {
        for i in items {
            out.push_str(&i);
            out.push('\n');
        }
    };
    if a.services {
        lines(project.services.keys().cloned().collect());
    } else if a.volumes {
        lines(project.volumes.keys().cloned().collect());
    } else if a.networks {
        lines(project.networks.keys().cloned().collect());
    } else if a.profiles {
        let mut p: Vec<String> =
            project.services.values().chain(project.disabled.values()).flat_map(|s| s.profiles.clone()).collect();
        p.sort();
        p.dedup();
        lines(p);
    } else if a.images {
        lines(
            project
                .services
                .iter()
                .map(|(n, s)| s.image.clone().unwrap_or_else(|| format!("{}-{n}", project.name)))
                .collect(),
        );
    } else if let Some(h) = &a.hash {
        let wanted: Vec<&str> =
            if h == "*" { project.services.keys().map(String::as_str).collect() } else { h.split(',').collect() };
        for name in wanted {
            let svc = project.services.get(name).ok_or_else(|| CliError::msg(format!("no such service: {name}")))?;
            out.push_str(&format!("{name} {}\n", service_hash(svc)));
        }
    } else if a.variables {
        out.push_str(&format!("{:<24}{:<10}{:<16}{}\n", "NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"));
        for v in &loaded.variables {
            out.push_str(&format!(
                "{:<24}{:<10}{:<16}{}\n",
                v.name,
                v.required,
                v.default.clone().unwrap_or_default(),
                v.alternate.clone().unwrap_or_default()
            ));
        }
    } else {
        // Without interpolation compose prints its model before typing it (`${PORT}:80` stays
        // text, no `command: null`); so does wharf, from the canonical tree.
        let json = match &loaded.tree {
            Some(tree) => tree.clone(),
            None => {
                let mut json = project.to_json();
                escape_dollars(&mut json);
                if yaml {
                    crate::model::compose_form::yaml_form(&mut json, loaded.yaml_extras.as_ref());
                }
                json
            }
        };
        out = match a.format.as_str() {
            "json" => serde_json::to_string_pretty(&json).map_err(|e| CliError::msg(e.to_string()))? + "\n",
            "yaml" => crate::cli::yaml_out::to_yaml(&json),
            other => {
                return Err(CliError::msg(format!("unknown format {other:?} (expected yaml or json)")));
            }
        };
        // Nor its JSON form (3.6% of `config`'s instructions on 1000 services).
        std::mem::forget(json);
    }
    // A process about to exit need not free a large tree piece by piece.
    std::mem::forget(project);
    match &a.output {
        Some(p) => std::fs::write(p, out).map_err(|e| CliError::msg(format!("cannot write `{}`: {e}", p.display())))?,
        None => crate::cli::output::write(out.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Interpolation already happened: a `$` left in a value is literal, so it is written `$$`
/// to read back the same (as compose does).
fn escape_dollars(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        serde_json::Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        serde_json::Value::Object(o) => o.values_mut().for_each(escape_dollars),
        _ => {}
    }
}
