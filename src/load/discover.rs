//! Which compose files make the project: `-f` files, else `COMPOSE_FILE`, else the first of
//! `compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml` found in the
//! working directory or one of its parents, plus the matching override file next to it.

use std::path::{Path, PathBuf};

pub const DEFAULT_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];
pub const OVERRIDE_FILES: [&str; 4] =
    ["compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"];

/// The files found by discovery: the main file, then its override when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub files: Vec<PathBuf>,
    /// Other candidate names that were also present next to the chosen one (compose warns).
    pub ignored: Vec<PathBuf>,
}

/// Looks for a compose file in `start` and then in each parent directory.
pub fn discover(start: &Path) -> Option<Discovered> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let present: Vec<PathBuf> = DEFAULT_FILES.iter().map(|f| d.join(f)).filter(|p| p.is_file()).collect();
        if let Some(main) = present.first() {
            let mut files = vec![main.clone()];
            let stem_is_compose = main.file_name().is_some_and(|n| n.to_string_lossy().starts_with("compose."));
            // `compose.*` pairs with `compose.override.*`; `docker-compose.*` with its own.
            let overrides = if stem_is_compose { &OVERRIDE_FILES[..2] } else { &OVERRIDE_FILES[2..] };
            if let Some(o) = overrides.iter().map(|f| d.join(f)).find(|p| p.is_file()) {
                files.push(o);
            }
            return Some(Discovered { files, ignored: present[1..].to_vec() });
        }
        dir = d.parent();
    }
    None
}

/// Splits `COMPOSE_FILE` by `COMPOSE_PATH_SEPARATOR` (default `:` on Unix).
pub fn split_compose_file(value: &str, separator: Option<&str>) -> Vec<PathBuf> {
    let sep = separator.filter(|s| !s.is_empty()).unwrap_or(":");
    value.split(sep).filter(|s| !s.is_empty()).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_file_in_parent_with_override() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(root.join("compose.override.yml"), "services: {}\n").unwrap();
        std::fs::write(root.join("docker-compose.yml"), "services: {}\n").unwrap();
        let sub = root.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let d = discover(&sub).unwrap();
        assert_eq!(d.files, vec![root.join("compose.yaml"), root.join("compose.override.yml")]);
        assert_eq!(d.ignored, vec![root.join("docker-compose.yml")]);
    }

    #[test]
    fn prefers_compose_yaml_over_docker_compose() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("docker-compose.yml"), "").unwrap();
        assert_eq!(discover(tmp.path()).unwrap().files, vec![tmp.path().join("docker-compose.yml")]);
        std::fs::write(tmp.path().join("compose.yml"), "").unwrap();
        assert_eq!(discover(tmp.path()).unwrap().files[0], tmp.path().join("compose.yml"));
    }

    #[test]
    fn nothing_found() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(discover(&tmp.path().join("x")).is_none() || discover(tmp.path()).is_none());
    }

    #[test]
    fn compose_file_variable() {
        assert_eq!(split_compose_file("a.yml:b.yml", None), vec![PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
        assert_eq!(split_compose_file("a.yml;b.yml", Some(";")), vec![PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
    }
}
