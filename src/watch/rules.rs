//! `develop.watch` rules, compiled and checked: which host paths a rule covers (its `path`, minus
//! the service's `.dockerignore`, the rule's `ignore:`, `.git` and editor temporary files, and
//! limited to `include:` when given), and where they land in the container.

use super::Error;
use std::path::{Path, PathBuf};

use crate::build::ignore::DockerIgnore;
use crate::model::{Hook, Project};

/// What a rule does when its files change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sync,
    Rebuild,
    Restart,
    SyncRestart,
    SyncExec,
}

impl Action {
    pub fn syncs(self) -> bool {
        matches!(self, Action::Sync | Action::SyncRestart | Action::SyncExec)
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: String,
    /// Its place in `develop.watch`, for messages.
    pub index: usize,
    /// The watched host path (file or directory), absolute.
    pub path: PathBuf,
    /// The container path it maps to (absolute; for the sync actions).
    pub target: String,
    pub action: Action,
    /// The rule's `ignore:` patterns, relative to its path.
    pub ignore: DockerIgnore,
    /// The service's build context and its `.dockerignore` (relative to the context, as compose
    /// applies it).
    pub dockerignore: Option<(PathBuf, DockerIgnore)>,
    pub include: Option<DockerIgnore>,
    pub initial_sync: bool,
    pub exec: Option<Hook>,
}

/// Editor and tool droppings that never trigger anything (vim, emacs, JetBrains, others).
pub fn ephemeral(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#') && name.len() > 1)
        || name == "4913"
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
        || name == ".DS_Store"
}

impl Rule {
    /// `host` relative to the rule's path (`""` for the path itself), if under it.
    pub fn relative(&self, host: &Path) -> Option<String> {
        let rel = host.strip_prefix(&self.path).ok()?;
        // `src/../etc` is under `src` to strip_prefix, and would name `/app/../etc` in the
        // container: a path that is not plainly below the rule's path is none of its business.
        if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return None;
        }
        Some(rel.to_string_lossy().replace('\\', "/"))
    }

    /// Whether a change of `host` concerns this rule.
    pub fn covers(&self, host: &Path) -> bool {
        let Some(rel) = self.relative(host) else { return false };
        if rel.is_empty() {
            return true;
        }
        !self.ignored(&rel) && self.include.as_ref().is_none_or(|inc| inc.is_excluded(&rel))
    }

    /// Whether `rel` (under the rule's path) is ignored: `.git`, editor files, `.dockerignore`
    /// and `ignore:` patterns.
    pub fn ignored(&self, rel: &str) -> bool {
        rel.split('/').any(|c| c == ".git" || ephemeral(c))
            || self.ignore.is_excluded(rel)
            || self.in_context(rel).is_some_and(|(d, crel)| d.is_excluded(&crel))
    }

    /// `rel` relative to the build context, with the context's `.dockerignore`.
    fn in_context(&self, rel: &str) -> Option<(&DockerIgnore, String)> {
        let (ctx, d) = self.dockerignore.as_ref()?;
        let abs = if rel.is_empty() { self.path.clone() } else { self.path.join(rel) };
        let crel = abs.strip_prefix(ctx).ok()?.to_string_lossy().replace('\\', "/");
        (!crel.is_empty()).then_some((d, crel))
    }

    /// Whether the walk can skip directory `rel` and all below it.
    pub fn skips_dir(&self, rel: &str) -> bool {
        rel.split('/').any(|c| c == ".git")
            || (self.ignore.is_excluded(rel) && self.ignore.can_skip_dir(rel))
            || self.in_context(rel).is_some_and(|(d, crel)| d.is_excluded(&crel) && d.can_skip_dir(&crel))
    }

    /// Where `rel` lands in the container.
    pub fn container_path(&self, rel: &str) -> String {
        let t = self.target.trim_end_matches('/');
        match (rel.is_empty(), t.is_empty()) {
            (true, _) => self.target.clone(),
            (false, true) => format!("/{rel}"),
            (false, false) => format!("{t}/{rel}"),
        }
    }
}

/// Compiles the rules of `services` (every service with `develop.watch` when empty); a rule
/// that cannot work is refused with the service, its place and a fix.
pub fn compile(project: &Project, services: &[String]) -> Result<Vec<Rule>, Error> {
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(dev) = &svc.develop else { continue };
        // The build context's `.dockerignore`, when the service builds.
        let dockerignore = match svc.build.as_ref().map(|b| PathBuf::from(&b.context)) {
            Some(ctx) if ctx.join(".dockerignore").is_file() => {
                let p = ctx.join(".dockerignore");
                let bad = |reason: String| Error::Ignore { path: p.clone(), reason };
                let text = std::fs::read_to_string(&p).map_err(|e| bad(e.to_string()))?;
                Some((ctx, DockerIgnore::parse(&text).map_err(|e| bad(e.to_string()))?))
            }
            _ => None,
        };
        for (i, w) in dev.watch.iter().enumerate() {
            let at = format!("services.{name}.develop.watch[{i}]");
            let action = match w.action.as_str() {
                "sync" => Action::Sync,
                "rebuild" => Action::Rebuild,
                "restart" => Action::Restart,
                "sync+restart" => Action::SyncRestart,
                "sync+exec" => Action::SyncExec,
                other => {
                    return Err(Error::Rule {
                        at,
                        reason: format!(
                            "unknown action `{other}`: use sync, rebuild, restart, sync+restart or sync+exec"
                        ),
                    });
                }
            };
            let target = w.target.clone().unwrap_or_default();
            if action.syncs() && !target.starts_with('/') {
                return Err(Error::Rule {
                    at,
                    reason: format!(
                        "`target` must be an absolute path in the container (got `{target}`): e.g. `target: /app`"
                    ),
                });
            }
            if action == Action::Rebuild && svc.build.is_none() {
                return Err(Error::Rule {
                    at,
                    reason: format!("`action: rebuild` needs a `build:` section in service `{name}`"),
                });
            }
            if action == Action::SyncExec && w.exec.is_none() {
                return Err(Error::Rule { at, reason: "`action: sync+exec` needs `exec: {command: …}`".into() });
            }
            let ignore = DockerIgnore::from_patterns(&w.ignore)
                .map_err(|e| Error::Rule { at: format!("{at}.ignore"), reason: e.to_string() })?;
            let include = if w.include.is_empty() {
                None
            } else {
                Some(
                    DockerIgnore::from_patterns(&w.include)
                        .map_err(|e| Error::Rule { at: format!("{at}.include"), reason: e.to_string() })?,
                )
            };
            out.push(Rule {
                service: name.clone(),
                index: i,
                path: PathBuf::from(&w.path),
                target,
                action,
                ignore,
                dockerignore: dockerignore.clone(),
                include,
                initial_sync: w.initial_sync == Some(true),
                exec: w.exec.clone(),
            });
        }
    }
    if out.is_empty() {
        return Err(Error::NoRules);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ignore: &[&str], include: &[&str]) -> Rule {
        Rule {
            service: "web".into(),
            index: 0,
            path: "/src/app".into(),
            target: "/app".into(),
            action: Action::Sync,
            ignore: DockerIgnore::from_patterns(ignore).unwrap(),
            dockerignore: Some(("/src".into(), DockerIgnore::from_patterns(&["app/vendor"]).unwrap())),
            include: (!include.is_empty()).then(|| DockerIgnore::from_patterns(include).unwrap()),
            initial_sync: false,
            exec: None,
        }
    }

    #[test]
    fn coverage_ignores_git_editor_files_and_patterns() {
        let r = rule(&["node_modules", "**/*.log"], &[]);
        for (p, want) in [
            ("/src/app/main.js", true),
            ("/src/app/lib/x.js", true),
            ("/src/app", true),
            ("/src/other/x.js", false),
            ("/src/app/.git/HEAD", false),
            ("/src/app/.main.js.swp", false),
            ("/src/app/main.js~", false),
            ("/src/app/.#main.js", false),
            ("/src/app/4913", false),
            ("/src/app/node_modules/a/b.js", false),
            ("/src/app/deep/x.log", false),
            // The context's .dockerignore is relative to the context (/src), not the rule's path.
            ("/src/app/vendor/lib.js", false),
            ("/src/app/app/vendor/lib.js", true),
        ] {
            assert_eq!(r.covers(Path::new(p)), want, "{p}");
        }
        assert!(r.skips_dir("node_modules") && r.skips_dir(".git") && !r.skips_dir("lib"));
    }

    #[test]
    fn include_limits_coverage_and_targets_join() {
        let r = rule(&[], &["*.py"]);
        assert!(r.covers(Path::new("/src/app/a.py")));
        assert!(!r.covers(Path::new("/src/app/a.txt")));
        assert_eq!(r.container_path("lib/x.py"), "/app/lib/x.py");
        assert_eq!(r.container_path(""), "/app");
    }
}
