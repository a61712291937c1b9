//! The compose files as written: each file of the project, and the files it includes or
//! extends, parsed again without interpolation so that every value keeps its file, line and
//! column and a value taken from a variable is still seen as one.

use std::path::{Path, PathBuf};

use crate::load::yaml::{Node, Value};
use crate::load::{extends, files, yaml};

/// One compose file, parsed.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: PathBuf,
    pub tree: Node,
    pub text: String,
    /// Where each line of `text` starts.
    lines: Vec<usize>,
    /// Where relative paths in this file are resolved: the project directory for the
    /// project's own files, the file's directory for included and extended ones.
    pub dir: PathBuf,
}

/// The project's files, then what they include and extend (each file once). A file that cannot
/// be read or parsed is left out: the loader has already reported it.
pub fn read(config_files: &[PathBuf], project_dir: &Path) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    let mut queue: Vec<(PathBuf, PathBuf)> =
        config_files.iter().rev().map(|f| (f.clone(), project_dir.to_path_buf())).collect();
    while let Some((file, dir)) = queue.pop() {
        if out.iter().any(|s| s.file == file) || out.len() > 1000 {
            continue;
        }
        let Ok(text) = files::read_text(&file) else { continue };
        let Ok(tree) = yaml::parse(&text, &extends::arc(&file)) else { continue };
        let here = file.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.clone());
        let mut next = Vec::new();
        for p in included(&tree) {
            next.push(here.join(p));
        }
        if let Some(services) = tree.get("services").and_then(Node::as_map) {
            for svc in services.values() {
                if let Some(f) = svc.get("extends").and_then(|e| e.get("file")).and_then(Node::as_str) {
                    next.push(here.join(f));
                }
            }
        }
        for f in next.into_iter().rev() {
            let d = f.parent().map(Path::to_path_buf).unwrap_or_else(|| here.clone());
            queue.push((f, d));
        }
        let lines = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        out.push(Source { file, tree, text, lines, dir });
    }
    out
}

/// The paths an `include:` lists (a string, or `path:` as a string or a list).
fn included(tree: &Node) -> Vec<String> {
    let Some(items) = tree.get("include").and_then(Node::as_seq) else { return Vec::new() };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Str(s) => out.push(s.clone()),
            Value::Map(_) => match item.get("path").map(|p| &p.value) {
                Some(Value::Str(s)) => out.push(s.clone()),
                Some(Value::Seq(v)) => out.extend(v.iter().filter_map(|p| p.as_str().map(str::to_string))),
                _ => {}
            },
            _ => {}
        }
    }
    out.retain(|p| !crate::lint::secrets::interpolated(p));
    out
}

impl Source {
    /// Whether `loc` is an alias (`*name`, `<<: *name`): the value was written at its anchor,
    /// where it is reported.
    pub fn is_alias(&self, loc: &crate::diag::Loc) -> bool {
        let Some(&start) = loc.line.checked_sub(1).and_then(|l| self.lines.get(l)) else { return false };
        self.text[start..].chars().take_while(|c| *c != '\n').nth(loc.col.saturating_sub(1)) == Some('*')
    }
}

/// A `KEY: value` mapping or a `["KEY=value"]` list (environment, args, labels) as entries
/// with their place; `KEY` alone (no value) is left out.
pub fn entries(node: &Node) -> Vec<(String, String, &Node)> {
    match &node.value {
        Value::Map(m) => m.iter().filter_map(|(k, v)| v.scalar_string().map(|s| (k.clone(), s, v))).collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| {
                let s = i.as_str()?;
                let (k, v) = s.split_once('=')?;
                Some((k.to_string(), v.to_string(), i))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The node at `path` (mapping keys) in the first source that has it.
pub fn locate<'a>(sources: &'a [Source], path: &[&str]) -> Option<&'a Node> {
    sources.iter().find_map(|s| {
        let mut n = &s.tree;
        for k in path {
            n = n.get(k)?;
        }
        Some(n)
    })
}
