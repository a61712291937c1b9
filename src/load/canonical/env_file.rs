//! `env_file`: the short and long forms, and reading the files into `environment`.

use crate::load::yaml::YamlMap;
use std::path::Path;

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::load::dotenv;
use crate::load::yaml::{Node, Value};

use super::Context;
use super::shapes::lf_items;
use super::volumes::resolve_path;

pub(super) fn env_files(files: &mut Node, ctx: &Context) {
    if let Some(s) = files.as_str() {
        let s = s.to_string();
        files.value = Value::Seq(vec![Node::str(s, files.loc.clone())]);
    }
    let home = ctx.home();
    if let Some(items) = lf_items(files) {
        for it in items {
            if let Some(s) = it.as_str() {
                let mut m = YamlMap::default();
                m.insert("path".to_string(), Node::str(s, it.loc.clone()));
                it.value = Value::Map(m);
            }
            let l = it.loc.clone();
            if let Some(m) = it.as_map_mut() {
                if let Some(p) = m.get_mut("path")
                    && let Some(s) = p.as_str()
                {
                    p.value = Value::Str(resolve_path(s, ctx.project_dir, home.as_deref()));
                }
                m.entry("required".into()).or_insert_with(|| Node::new(Value::Bool(true), l));
            }
        }
    }
}

/// The variables of a service's env files, in order (a later file wins). A variable in a value is
/// looked up in the project's environment, then the service's `environment`, then the lines
/// and files read before it, as compose resolves them.
pub(super) fn read_env_files(
    files: &Node,
    path: &str,
    ctx: &Context,
    service_env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> YamlMap {
    let mut vars: IndexMap<String, String> = IndexMap::new();
    let mut locs: IndexMap<String, Loc> = IndexMap::new();
    for (i, f) in files.as_seq().into_iter().flatten().enumerate() {
        let Some(p) = f.get("path").and_then(Node::as_str) else {
            continue;
        };
        let required = !matches!(f.get("required").map(|r| &r.value), Some(Value::Bool(false)));
        let raw = f.get("format").and_then(Node::as_str) == Some("raw");
        let item_path = format!("{path}.env_file[{i}]");
        match crate::load::files::read_text(Path::new(p)) {
            Ok(text) => {
                let parsed = if raw {
                    dotenv::parse_raw(&text).map(|v| {
                        let keys = v.keys().cloned().collect();
                        vars.extend(v);
                        keys
                    })
                } else {
                    let lookup = |k: &str| (ctx.lookup)(k).or_else(|| service_env(k));
                    dotenv::parse_into(&text, &mut vars, &lookup)
                };
                match parsed {
                    // Each value is located at the entry of the first file that set it.
                    Ok(keys) => {
                        for k in keys {
                            locs.entry(k).or_insert_with(|| f.loc.clone());
                        }
                    }
                    Err(e) => {
                        diags.push(Diagnostic::error(Loc::line_start(Path::new(p), e.line), item_path, e.message))
                    }
                }
            }
            Err(_) if !required => {}
            Err(e) => diags.push(
                Diagnostic::error(f.loc.clone(), item_path, format!("env file `{p}` cannot be read: {e}"))
                    .with_hint("create the file, or mark it optional with `required: false`"),
            ),
        }
    }
    vars.into_iter()
        .map(|(k, v)| {
            let loc = locs.get(&k).cloned().unwrap_or_else(|| files.loc.clone());
            (k, Node::str(v, loc))
        })
        .collect()
}

/// A service's `label_file` in its long form: a list of paths, each made absolute.
pub(super) fn label_files(files: &mut Node, ctx: &Context) {
    if let Some(s) = files.as_str() {
        files.value = Value::Seq(vec![Node::str(s, files.loc.clone())]);
    }
    let home = ctx.home();
    for it in lf_items(files).into_iter().flatten() {
        if let Some(s) = it.as_str() {
            it.value = Value::Str(resolve_path(s, ctx.project_dir, home.as_deref()));
        }
    }
}

/// The `label_file`s of a service (absolute paths), read as env files are.
pub(super) fn read_label_files(files: &Node, path: &str, ctx: &Context, diags: &mut Diagnostics) -> YamlMap {
    let mut out = YamlMap::default();
    for (i, f) in files.as_seq().into_iter().flatten().enumerate() {
        let Some(p) = f.as_str() else { continue };
        let item_path = format!("{path}.label_file[{i}]");
        match crate::load::files::read_text(Path::new(p)) {
            Ok(text) => match dotenv::parse(&text, ctx.lookup) {
                Ok(vars) => out.extend(vars.into_iter().map(|(k, v)| (k, Node::str(v, f.loc.clone())))),
                Err(e) => diags.push(Diagnostic::error(Loc::line_start(Path::new(p), e.line), item_path, e.message)),
            },
            Err(e) => diags.push(
                Diagnostic::error(f.loc.clone(), item_path, format!("label file `{p}` cannot be read: {e}"))
                    .with_hint("create the file, or remove it from `label_file`"),
            ),
        }
    }
    out
}
