//! The project name: `-p` > `COMPOSE_PROJECT_NAME` > the last `name:` > the directory, with
//! compose's rules for what a name may hold.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::LoadOptions;
use crate::diag::{Diagnostic, Diagnostics, Loc, display_path};
use crate::load::interpolate;
use crate::load::yaml::Node;

/// Normalises a directory name the way compose does: lower case, `[a-z0-9_-]` only.
pub fn normalize_project_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let kept: String =
        lower.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-').collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

pub(super) fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `-p` > `COMPOSE_PROJECT_NAME` > the last `name:` > the project directory's name.
pub(super) fn project_name(
    opts: &LoadOptions,
    env: &IndexMap<String, String>,
    trees: &[(PathBuf, Node)],
    workdir: &Path,
    diags: &mut Diagnostics,
) -> Option<String> {
    let explicit = opts.project_name.clone().map(|n| (n, Loc::unknown(), "-p"));
    let from_env = || {
        env.get("COMPOSE_PROJECT_NAME")
            .filter(|s| !s.is_empty())
            .map(|n| (n.clone(), Loc::unknown(), "COMPOSE_PROJECT_NAME"))
    };
    let from_file = || {
        trees.iter().rev().find_map(|(_, t)| {
            let n = t.get("name")?;
            let raw = n.scalar_string()?;
            let lookup = |k: &str| env.get(k).cloned();
            let v = if opts.no_interpolate { raw } else { interpolate::interpolate(&raw, &lookup).ok()?.value };
            Some((v, n.loc.clone(), "name"))
        })
    };
    if let Some((n, loc, source)) = explicit.or_else(from_env).or_else(from_file) {
        // compose normalises a `name:` from the file as it does a directory name.
        let n = if source == "name" && !valid_project_name(&n) { normalize_project_name(&n) } else { n };
        if valid_project_name(&n) {
            return Some(n);
        }
        diags.push(
            Diagnostic::error(loc, if source == "name" { "name" } else { "" }, format!("invalid project name {n:?} (from {source})"))
                .with_hint(format!("a project name has only lowercase letters, digits, `-` and `_`, and starts with a letter or digit; try {:?}", normalize_project_name(&n))),
        );
        return None;
    }
    let base = workdir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        diags.push(
            Diagnostic::error(
                Loc::unknown(),
                "",
                format!("cannot derive a project name from the directory `{}`", display_path(workdir)),
            )
            .with_hint("name the project with `-p NAME` or a top-level `name:`"),
        );
        return None;
    }
    Some(n)
}
