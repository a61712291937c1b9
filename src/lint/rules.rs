//! The rules. Each pushes its findings; [`RULES`] lists them all for `--format sarif` and the
//! README.

use std::path::{Path, PathBuf};

use super::secrets::{self, Why};
use super::sources::{Source, entries, locate};
use super::{Class, Facts, Finding, Rule, Severity};
use crate::diag::Loc;
use crate::load::yaml::{Node, Value};
use crate::model::{Condition, Project, Service};

const fn rule(id: &'static str, class: Class, severity: Severity, summary: &'static str) -> Rule {
    Rule { id, class, severity, summary }
}

pub static SECRET_IN_ENVIRONMENT: Rule = rule(
    "secret-in-environment",
    Class::Secret,
    Severity::Error,
    "A secret written into a service's `environment`: anyone who reads the file, or `docker inspect`s the container, sees it.",
);
pub static SECRET_IN_BUILD_ARG: Rule = rule(
    "secret-in-build-arg",
    Class::Secret,
    Severity::Error,
    "A secret passed as a build argument: build arguments are kept in the image's history, where anyone who pulls it can read them.",
);
pub static SECRET_IN_LABEL: Rule = rule(
    "secret-in-label",
    Class::Secret,
    Severity::Error,
    "A secret in a label: labels are public metadata of containers and images.",
);
pub static SECRET_IN_EXTENSION: Rule = rule(
    "secret-in-extension",
    Class::Secret,
    Severity::Error,
    "A secret in an `x-*` extension: it is part of the file, readable by anyone who can read the file.",
);
pub static SECRET_IN_TRACKED_ENV_FILE: Rule = rule(
    "secret-in-tracked-env-file",
    Class::Secret,
    Severity::Error,
    "An `env_file` that git tracks holds a secret: it is in the repository's history for everyone with a clone.",
);
pub static TRACKED_SECRET_FILE: Rule = rule(
    "tracked-secret-file",
    Class::Secret,
    Severity::Error,
    "A file given as a secret (`secrets: {x: {file: …}}`) is tracked by git.",
);
pub static SECRET_FILE_IN_BUILD_CONTEXT: Rule = rule(
    "secret-file-in-build-context",
    Class::Secret,
    Severity::Warning,
    "A key, certificate or `.env` file is sent to the builder with the context because `.dockerignore` does not exclude it; one `COPY . .` puts it in the image.",
);
pub static SECRET_IN_IMAGE: Rule = rule(
    "secret-in-image",
    Class::Secret,
    Severity::Error,
    "An image the project builds carries a secret in its config (ENV, labels) or its history (build arguments).",
);
pub static INLINE_SECRET_CONTENT: Rule = rule(
    "inline-secret-content",
    Class::Secret,
    Severity::Error,
    "A top-level secret whose `content:` is written in the file: the secret is as public as the file.",
);
pub static HEALTHY_WITHOUT_HEALTHCHECK: Rule = rule(
    "healthy-without-healthcheck",
    Class::Correctness,
    Severity::Warning,
    "A `service_healthy` dependency on a service with no healthcheck: the dependent never starts.",
);
pub static UNPINNED_IMAGE: Rule = rule(
    "unpinned-image",
    Class::Correctness,
    Severity::Warning,
    "An image without a tag or with `:latest`: what runs changes whenever the tag moves.",
);
pub static DATABASE_PORT_ON_ALL_INTERFACES: Rule = rule(
    "database-port-on-all-interfaces",
    Class::Correctness,
    Severity::Warning,
    "A database's port published on every interface of the host: reachable from the network, and Docker's rules bypass most host firewalls.",
);
pub static PRIVILEGED: Rule = rule(
    "privileged",
    Class::Correctness,
    Severity::Warning,
    "`privileged: true` gives the container every capability and every device of the host.",
);

/// Every rule, in the order the README lists them.
pub static RULES: &[&Rule] = &[
    &SECRET_IN_ENVIRONMENT,
    &SECRET_IN_BUILD_ARG,
    &SECRET_IN_LABEL,
    &SECRET_IN_EXTENSION,
    &INLINE_SECRET_CONTENT,
    &SECRET_IN_TRACKED_ENV_FILE,
    &TRACKED_SECRET_FILE,
    &SECRET_FILE_IN_BUILD_CONTEXT,
    &SECRET_IN_IMAGE,
    &HEALTHY_WITHOUT_HEALTHCHECK,
    &UNPINNED_IMAGE,
    &DATABASE_PORT_ON_ALL_INTERFACES,
    &PRIVILEGED,
];

fn finding(rule: &'static Rule, loc: Loc, path: String, message: String, hint: impl Into<String>) -> Finding {
    Finding { rule, loc, path, message, hint: hint.into() }
}

const USE_SECRETS: &str = "take it from the environment (`${NAME}`, set in a `.env` kept out of git) or give it as a secret (`secrets:` and `NAME_FILE: /run/secrets/NAME` where the image supports it)";

/// Literal secrets in `environment`, `build.args`, labels and `x-*` extensions.
pub fn literals(sources: &[Source], out: &mut Vec<Finding>) {
    for src in sources {
        let Some(top) = src.tree.as_map() else { continue };
        for (key, node) in top {
            if key.starts_with("x-") {
                extension(src, node, key, Some(key), out);
            }
        }
        for (name, def) in top.get("secrets").and_then(Node::as_map).into_iter().flatten() {
            if let Some(content) = def.get("content")
                && let Some(v) = content.scalar_string()
                && !v.is_empty()
                && !secrets::interpolated(&v)
            {
                out.push(finding(
                    &INLINE_SECRET_CONTENT,
                    content.loc.clone(),
                    format!("secrets.{name}.content"),
                    format!("the secret `{name}` is written in the file"),
                    "read it from the environment (`environment: NAME`) or a file kept out of git (`file: ./secrets/NAME`)",
                ));
            }
        }
        let Some(services) = top.get("services").and_then(Node::as_map) else { continue };
        for (name, svc) in services {
            let base = format!("services.{name}");
            let Some(m) = svc.as_map() else { continue };
            for (key, node) in m {
                if key.starts_with("x-") {
                    extension(src, node, &format!("{base}.{key}"), Some(key), out);
                }
            }
            if let Some(env) = m.get("environment") {
                scan(src, env, &format!("{base}.environment"), &SECRET_IN_ENVIRONMENT, USE_SECRETS, out);
            }
            if let Some(labels) = m.get("labels") {
                scan(src, labels, &format!("{base}.labels"), &SECRET_IN_LABEL, "keep secrets out of labels", out);
            }
            if let Some(labels) = m.get("deploy").and_then(|d| d.get("labels")) {
                scan(
                    src,
                    labels,
                    &format!("{base}.deploy.labels"),
                    &SECRET_IN_LABEL,
                    "keep secrets out of labels",
                    out,
                );
            }
            if let Some(build) = m.get("build") {
                if let Some(args) = build.get("args") {
                    let hint = "use a build secret (`build.secrets` and `RUN --mount=type=secret`): it reaches one step and never the image";
                    scan(src, args, &format!("{base}.build.args"), &SECRET_IN_BUILD_ARG, hint, out);
                }
                if let Some(labels) = build.get("labels") {
                    let hint = "keep secrets out of image labels";
                    scan(src, labels, &format!("{base}.build.labels"), &SECRET_IN_LABEL, hint, out);
                }
            }
        }
    }
}

fn scan(src: &Source, node: &Node, path: &str, rule: &'static Rule, hint: &str, out: &mut Vec<Finding>) {
    if src.is_alias(&node.loc) {
        return;
    }
    for (k, v, at) in entries(node) {
        if src.is_alias(&at.loc) {
            continue;
        }
        if let Some(why) = secrets::classify(Some(&k), &v) {
            out.push(finding(rule, at.loc.clone(), format!("{path}.{k}"), why.describe(), hint));
        }
    }
}

/// An `x-*` value: every string in it, under the nearest key.
fn extension(src: &Source, node: &Node, path: &str, name: Option<&str>, out: &mut Vec<Finding>) {
    if src.is_alias(&node.loc) {
        return;
    }
    match &node.value {
        Value::Map(m) => {
            for (k, v) in m {
                extension(src, v, &format!("{path}.{k}"), Some(k), out);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                // `- KEY=value` in a list reads as an environment entry.
                let pair = v.as_str().and_then(|s| s.split_once('='));
                let (n, val) = match pair {
                    Some((k, val)) if !k.is_empty() && !k.contains(' ') => (Some(k), Some(val.to_string())),
                    _ => (name, v.scalar_string()),
                };
                if let (Some(val), false) = (val, matches!(v.value, Value::Map(_) | Value::Seq(_))) {
                    if let Some(why) = secrets::classify(n, &val) {
                        out.push(finding(
                            &SECRET_IN_EXTENSION,
                            v.loc.clone(),
                            format!("{path}[{i}]"),
                            why.describe(),
                            USE_SECRETS,
                        ));
                    }
                } else {
                    extension(src, v, &format!("{path}[{i}]"), name, out);
                }
            }
        }
        _ => {
            if let Some(val) = node.scalar_string()
                && let Some(why) = secrets::classify(name, &val)
            {
                out.push(finding(
                    &SECRET_IN_EXTENSION,
                    node.loc.clone(),
                    path.to_string(),
                    why.describe(),
                    USE_SECRETS,
                ));
            }
        }
    }
}

fn rel(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

/// `env_file`s with secrets in them and secret files, when git tracks them.
pub fn tracked_files(project: &Project, sources: &[Source], facts: &Facts, out: &mut Vec<Finding>) {
    let Some(tracked) = &facts.tracked else { return };
    for (file, loc, path) in env_files(sources) {
        if !tracked.contains(&file) {
            continue;
        }
        let Ok(text) = crate::load::files::read_text(&file) else { continue };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
            let v = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')).unwrap_or(v);
            if let Some(why) = secrets::classify(Some(k.trim()), v) {
                out.push(finding(
                    &SECRET_IN_TRACKED_ENV_FILE,
                    Loc::line_start(&file, n + 1),
                    path.clone(),
                    format!(
                        "`{}` in `{}` is {}, and git tracks the file (named at {loc})",
                        k.trim(),
                        crate::diag::display_path(&file),
                        why.describe()
                    ),
                    "stop tracking it (`git rm --cached FILE`, add it to `.gitignore`) and commit an example file without the values instead",
                ));
            }
        }
    }
    for (name, obj) in &project.secrets {
        let Some(file) = obj.file.as_deref() else { continue };
        let file = PathBuf::from(file);
        if !tracked.contains(&file) {
            continue;
        }
        let at = locate(sources, &["secrets", name, "file"]).map(|n| n.loc.clone()).unwrap_or_default();
        out.push(finding(
            &TRACKED_SECRET_FILE,
            at,
            format!("secrets.{name}.file"),
            format!("the secret `{name}` is read from `{}`, which git tracks", crate::diag::display_path(&file)),
            "stop tracking it (`git rm --cached FILE`, add it to `.gitignore`), and rotate the secret: it is in the history",
        ));
    }
}

/// Every `env_file` named in the files: (absolute path, where it is named, key path).
pub fn env_files(sources: &[Source]) -> Vec<(PathBuf, Loc, String)> {
    let mut out = Vec::new();
    for src in sources {
        let Some(services) = src.tree.get("services").and_then(Node::as_map) else { continue };
        for (name, svc) in services {
            let Some(ef) = svc.get("env_file") else { continue };
            let items: Vec<&Node> = match &ef.value {
                Value::Seq(v) => v.iter().collect(),
                _ => vec![ef],
            };
            for item in items {
                let p = item.as_str().or_else(|| item.get("path").and_then(Node::as_str));
                if let Some(p) = p.filter(|p| !secrets::interpolated(p)) {
                    out.push((rel(&src.dir, p), item.loc.clone(), format!("services.{name}.env_file")));
                }
            }
        }
    }
    out
}

/// Whether a file's name says it holds a key, a certificate's private part or credentials.
pub fn secret_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let example = [".example", ".sample", ".template", ".dist", ".default", ".tmpl"].iter().any(|s| lower.ends_with(s));
    if example || lower.ends_with(".pub") {
        return false;
    }
    lower == ".env"
        || lower.starts_with(".env.")
        || matches!(
            lower.as_str(),
            "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519" | ".netrc" | ".pgpass" | ".npmrc" | ".pypirc"
        )
        || [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore"].iter().any(|s| lower.ends_with(s))
        || lower.starts_with("credentials")
}

/// At most this many secret-looking files are named per context (the rest are counted).
const SHOWN_PER_CONTEXT: usize = 5;

/// Secret-named files a local build context would send.
pub fn build_contexts(project: &Project, sources: &[Source], out: &mut Vec<Finding>) {
    let mut seen = std::collections::BTreeSet::new();
    for (name, svc) in project.services.iter().chain(project.disabled.iter()) {
        let Some(build) = &svc.build else { continue };
        let dir = rel(&project.working_dir, &build.context);
        if build.context.contains("://") || !dir.is_dir() || !seen.insert(dir.clone()) {
            continue;
        }
        let dockerfile = build.dockerfile.as_deref().unwrap_or("Dockerfile");
        let ignore_text = std::fs::read_to_string(dir.join(format!("{dockerfile}.dockerignore")))
            .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
            .unwrap_or_default();
        let Ok(ignore) = crate::build::ignore::DockerIgnore::parse(&ignore_text) else { continue };
        let mut found = Vec::new();
        let _ = crate::build::context::visit(&dir, "", &ignore, &mut |rel, path, meta| {
            let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !meta.is_dir() && secret_file_name(file) {
                found.push(rel.to_string());
            }
            Ok(())
        });
        if found.is_empty() {
            continue;
        }
        let at = locate(sources, &["services", name, "build"]).map(|n| n.loc.clone()).unwrap_or_default();
        let mut list: Vec<String> = found.iter().take(SHOWN_PER_CONTEXT).map(|f| format!("`{f}`")).collect();
        if found.len() > SHOWN_PER_CONTEXT {
            list.push(format!("and {} more", found.len() - SHOWN_PER_CONTEXT));
        }
        out.push(finding(
            &SECRET_FILE_IN_BUILD_CONTEXT,
            at,
            format!("services.{name}.build"),
            format!("the build context `{}` sends {}", crate::diag::display_path(&dir), list.join(", ")),
            format!(
                "exclude them in `{}` (e.g. `.env`, `**/*.pem`, `**/*.key`, `**/id_*`)",
                crate::diag::display_path(&dir.join(".dockerignore"))
            ),
        ));
    }
}

/// Secrets in the config or history of images the project builds.
pub fn images(_project: &Project, sources: &[Source], facts: &Facts, out: &mut Vec<Finding>) {
    for img in facts.images.iter().filter(|i| i.built) {
        let at = locate(sources, &["services", &img.service, "build"]).map(|n| n.loc.clone()).unwrap_or_default();
        let mut whys: Vec<(String, Why)> = Vec::new();
        for e in &img.env {
            if let Some((k, v)) = e.split_once('=')
                && let Some(why) = secrets::classify(Some(k), v)
            {
                whys.push((format!("ENV {k}"), why));
            }
        }
        for (k, v) in &img.labels {
            if let Some(why) = secrets::classify(Some(k), v) {
                whys.push((format!("LABEL {k}"), why));
            }
        }
        for line in &img.history {
            for (k, v) in history_assignments(line) {
                if let Some(why) = secrets::classify(Some(&k), &v) {
                    whys.push((format!("history: {k}"), why));
                }
            }
            if let Some(why) = secrets::shape(line) {
                whys.push(("history".into(), why));
            }
        }
        whys.dedup_by(|a, b| a.0 == b.0);
        for (what, why) in whys {
            out.push(finding(
                &SECRET_IN_IMAGE,
                at.clone(),
                format!("services.{}.build", img.service),
                format!("the image `{}` carries {} ({what})", img.image, why.describe()),
                "pass it as a build secret (`RUN --mount=type=secret`) or at run time, rebuild, and rotate the secret: pushed images keep it",
            ));
        }
    }
}

/// `KEY=value` words of a history line (`|2 TOKEN=abc /bin/sh -c …`, `ENV A=b`).
fn history_assignments(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            let ok = !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit());
            ok.then(|| (k.to_string(), v.trim_matches('"').to_string()))
        })
        .collect()
}

/// Ports of well-known databases and caches.
const DATABASE_PORTS: &[(u16, &str)] = &[
    (5432, "PostgreSQL"),
    (3306, "MySQL/MariaDB"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (27017, "MongoDB"),
    (6379, "Redis"),
    (11211, "Memcached"),
    (9200, "Elasticsearch"),
    (5984, "CouchDB"),
    (9042, "Cassandra"),
    (8086, "InfluxDB"),
    (7687, "Neo4j"),
    (26257, "CockroachDB"),
];

/// Mistakes that are not about secrets.
pub fn correctness(project: &Project, sources: &[Source], facts: &Facts, out: &mut Vec<Finding>) {
    let at = |path: &[&str]| -> Loc {
        for n in (1..=path.len()).rev() {
            if let Some(node) = locate(sources, &path[..n]) {
                return node.loc.clone();
            }
        }
        Loc::default()
    };
    let all: Vec<(&String, &Service)> = project.services.iter().chain(project.disabled.iter()).collect();
    let find = |name: &str| project.services.get(name).or_else(|| project.disabled.get(name));
    let image_checks: std::collections::BTreeSet<&str> =
        facts.images.iter().filter(|i| i.healthcheck).map(|i| i.service.as_str()).collect();
    for (name, svc) in &all {
        let name = name.as_str();
        for (dep, d) in &svc.depends_on {
            if d.condition != Condition::ServiceHealthy {
                continue;
            }
            let Some(target) = find(dep) else { continue };
            let declared = target
                .healthcheck
                .as_ref()
                .is_some_and(|h| h.disable != Some(true) && h.test.first().is_none_or(|t| t != "NONE"));
            let in_image = image_checks.contains(dep.as_str());
            let disabled = target
                .healthcheck
                .as_ref()
                .is_some_and(|h| h.disable == Some(true) || h.test.first().is_some_and(|t| t == "NONE"));
            if !declared && (disabled || !in_image) {
                out.push(finding(
                    &HEALTHY_WITHOUT_HEALTHCHECK,
                    at(&["services", name, "depends_on", dep]),
                    format!("services.{name}.depends_on.{dep}"),
                    format!(
                        "`{name}` waits for `{dep}` to be healthy, but `{dep}` {}",
                        if disabled {
                            "has its healthcheck disabled"
                        } else {
                            "has no healthcheck in the file (nor in its local image)"
                        }
                    ),
                    format!("add a `healthcheck:` to `{dep}`, or use `condition: service_started`"),
                ));
            }
        }
        if svc.build.is_none()
            && let Some(image) = &svc.image
            && !secrets::interpolated(image)
            && unpinned(image)
        {
            out.push(finding(
                &UNPINNED_IMAGE,
                at(&["services", name, "image"]),
                format!("services.{name}.image"),
                format!("`{image}` is not pinned to a version"),
                "name a version tag (`postgres:16.4`) or a digest (`@sha256:…`)",
            ));
        }
        for (i, p) in svc.ports.iter().enumerate() {
            let all_interfaces = p.host_ip.as_deref().is_none_or(|ip| ip.is_empty() || ip == "0.0.0.0" || ip == "::");
            let Some((_, what)) = DATABASE_PORTS.iter().find(|(port, _)| *port == p.target) else { continue };
            if all_interfaces && p.published.is_some() {
                out.push(finding(
                    &DATABASE_PORT_ON_ALL_INTERFACES,
                    at(&["services", name, "ports"]),
                    format!("services.{name}.ports[{i}]"),
                    format!("{what}'s port {} is published on every interface of the host", p.target),
                    format!(
                        "publish it on loopback (`127.0.0.1:{}:{}`), or not at all: other services reach it as `{name}:{}`",
                        p.published.as_deref().unwrap_or(""),
                        p.target,
                        p.target
                    ),
                ));
            }
        }
        if svc.privileged == Some(true) {
            out.push(finding(
                &PRIVILEGED,
                at(&["services", name, "privileged"]),
                format!("services.{name}.privileged"),
                format!("`{name}` runs privileged"),
                "grant only what it needs: `cap_add: [NET_ADMIN]`, `devices: [/dev/fuse]`",
            ));
        }
    }
}

/// No tag, or `:latest`, and no digest.
fn unpinned(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => true,
        Some((_, tag)) => tag == "latest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_names() {
        for yes in
            [".env", ".env.production", "id_rsa", "server.key", "cert.pem", "credentials.json", ".npmrc", "store.p12"]
        {
            assert!(secret_file_name(yes), "{yes}");
        }
        for no in [
            ".env.example",
            "id_rsa.pub",
            "keys.txt",
            "README.md",
            "monkey.js",
            ".envrc.md",
            "credential_helper.go.tmpl",
        ] {
            assert!(!secret_file_name(no), "{no}");
        }
    }

    #[test]
    fn pinned_images() {
        for yes in ["postgres", "postgres:latest", "ghcr.io/o/app", "localhost:5000/app"] {
            assert!(unpinned(yes), "{yes}");
        }
        for no in ["postgres:16", "localhost:5000/app:1.2", "redis@sha256:abc", "ghcr.io/o/app:2024-01"] {
            assert!(!unpinned(no), "{no}");
        }
    }

    #[test]
    fn history_words() {
        let line = "|2 NPM_TOKEN=npm_abc VERSION=1 /bin/sh -c npm ci";
        assert_eq!(
            history_assignments(line),
            vec![("NPM_TOKEN".into(), "npm_abc".into()), ("VERSION".into(), "1".into())]
        );
    }
}
