//! The direction of dependencies between wharf's modules, checked: each top-level module of
//! `src/` may use only the modules listed for it (the table in `src/lib.rs`'s docs), so no
//! import cycle and no back-edge to a layer above can come back unnoticed. Comments and
//! in-module `#[cfg(test)]` code are not counted (tests may reach anything).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules it may use. Lowest layers first.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("diag", &[]),
    ("lock", &[]),
    ("progress", &[]),
    ("hash", &["model"]),
    ("graph", &["model"]),
    ("load", &["model", "diag", "graph"]),
    ("engine", &["model"]),
    ("plan", &["model", "graph", "hash", "load", "engine"]),
    ("swarm", &["model", "hash", "engine", "plan"]),
    ("logs", &["model", "load", "engine"]),
    ("build", &["model", "graph", "load", "engine", "plan", "progress"]),
    ("lint", &["model", "diag", "load", "build"]),
    ("scheduler", &["model", "graph", "load", "engine", "plan", "progress", "logs"]),
    ("watch", &["model", "load", "engine", "plan", "build"]),
    (
        "ops",
        &[
            "model",
            "diag",
            "hash",
            "graph",
            "load",
            "lock",
            "engine",
            "plan",
            "progress",
            "logs",
            "build",
            "lint",
            "scheduler",
            "watch",
            "swarm",
        ],
    ),
    (
        "stack",
        &["model", "diag", "graph", "load", "lock", "engine", "plan", "progress", "build", "scheduler", "logs", "ops"],
    ),
    (
        "cli",
        &[
            "model",
            "diag",
            "graph",
            "hash",
            "load",
            "lock",
            "engine",
            "plan",
            "progress",
            "logs",
            "build",
            "lint",
            "scheduler",
            "watch",
            "ops",
            "stack",
            "swarm",
        ],
    ),
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules `file` uses through `crate::NAME`, outside comments and tests.
fn uses(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = BTreeSet::new();
    for line in text.lines().take_while(|l| !l.trim_start().starts_with("#[cfg(test)]")) {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let module = p.file_stem().unwrap().to_string_lossy().to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(ok) = allowed.get(module.as_str()) else {
            wrong.push(format!("module `{module}` has no row in the table: add it where it belongs"));
            continue;
        };
        let mut files = Vec::new();
        if p.is_dir() {
            sources(&p, &mut files)
        } else {
            files.push(p.clone())
        }
        for f in files {
            for used in uses(&f) {
                if used != module && !ok.contains(&used.as_str()) {
                    wrong.push(format!("{} uses `crate::{used}`, above `{module}`", f.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the direction of the layers:\n{}", wrong.join("\n"));
}
