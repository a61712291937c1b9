//! Pulling and pushing: each service's `pull_policy` (or `--pull`/`--policy`) decides whether an
//! image is pulled, built or left alone; credentials come from the docker CLI's config file
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: its credential helpers, else
//! `auths`), never printed.

use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;

use crate::engine::{Credentials, Engine, EngineError, reference};
use crate::model::Service;
use crate::progress::Report;

/// When an image is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Always,
    Never,
    /// `missing` and `if_not_present` (the default).
    Missing,
    /// Build it, always (`build`).
    Build,
    /// Pull when the local image is older than this (`daily`, `weekly`, `every_<duration>`).
    Refresh(Duration),
}

/// A pull policy compose does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid pull policy `{0}`: use always, never, missing, if_not_present, build, daily, weekly or every_<duration> (e.g. every_12h)"
)]
pub struct BadPolicy(pub String);

impl Policy {
    /// Parses a `pull_policy` (or `--pull`/`--policy`) value.
    pub fn parse(s: &str) -> Result<Policy, BadPolicy> {
        Ok(match s {
            "always" => Policy::Always,
            "never" => Policy::Never,
            "missing" | "if_not_present" => Policy::Missing,
            "build" => Policy::Build,
            "daily" => Policy::Refresh(Duration::from_secs(86_400)),
            "weekly" => Policy::Refresh(Duration::from_secs(7 * 86_400)),
            other => match other.strip_prefix("every_").map(crate::model::Duration::parse) {
                Some(Ok(d)) if d.as_nanos() > 0 => Policy::Refresh(d.to_std()),
                _ => return Err(BadPolicy(other.to_string())),
            },
        })
    }

    /// A service's own policy.
    pub fn of(svc: &Service) -> Result<Policy, BadPolicy> {
        svc.pull_policy.as_deref().map(Policy::parse).unwrap_or(Ok(Policy::Missing))
    }
}

/// What `up` does about one service's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Pull,
    Build,
    /// Missing and not to be fetched: the message says why.
    Missing(String),
}

/// Decides, from the policy, whether the service can be built, whether the image is present and
/// how old its tag is, and `up`'s `--build`/`--no-build`.
pub fn decide(policy: Policy, buildable: bool, present: Option<Duration>, build: bool, no_build: bool) -> Need {
    if buildable && !no_build && (build || policy == Policy::Build) {
        return Need::Build;
    }
    match (policy, present) {
        (Policy::Always, _) => Need::Pull,
        (Policy::Refresh(max), Some(age)) if age > max => Need::Pull,
        (_, Some(_)) => Need::Nothing,
        (Policy::Never, None) => Need::Missing("`pull_policy: never` and the image is not present".into()),
        (_, None) if buildable && no_build => Need::Missing("`--no-build` and the image is not present".into()),
        (Policy::Build, None) => Need::Missing("`pull_policy: build` but the service has no `build:`".into()),
        (_, None) if buildable => Need::Build,
        (_, None) => Need::Pull,
    }
}

/// The docker CLI's config directory.
fn config_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => Some(d.into()),
        None => std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")),
    }
}

/// The credentials the docker CLI's config holds for `image`'s registry, if any: from the
/// registry's credential helper (`credHelpers`, else `credsStore`), else from `auths`.
pub fn credentials(image: &str) -> Option<Credentials> {
    credentials_from(&config_dir()?, image)
}

/// [`credentials`] from the docker CLI config in directory `dir` (what `DOCKER_CONFIG` names).
pub fn credentials_from(dir: &std::path::Path, image: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let registry = reference::registry(image);
    helper_for(&text, registry)
        .and_then(|h| from_helper(std::process::Command::new(format!("docker-credential-{h}")), registry))
        .or_else(|| credentials_in(&text, registry))
}

/// `host[:port]` of a config key (which may carry a scheme and a path), Docker Hub as `docker.io`.
fn host(key: &str) -> String {
    let k = key.trim_start_matches("https://").trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    if k == "index.docker.io" || k == "registry-1.docker.io" { "docker.io".to_string() } else { k.to_string() }
}

/// The credential helper for `registry`: its `credHelpers` entry, else `credsStore`.
fn helper_for(config: &str, registry: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(config).ok()?;
    let own = json
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(k, _)| host(k) == registry).and_then(|(_, v)| v.as_str().map(str::to_string)));
    own.or_else(|| json.get("credsStore").and_then(|s| s.as_str()).map(str::to_string)).filter(|h| !h.is_empty())
}

/// Asks a credential helper (`docker-credential-NAME get`: the server on stdin, JSON back);
/// `None` when it is missing, fails or knows nothing of the registry.
fn from_helper(mut helper: std::process::Command, registry: &str) -> Option<Credentials> {
    use std::io::Write;
    use std::process::Stdio;
    // Docker Hub is keyed by its old index address, as the docker CLI does.
    let server = if registry == "docker.io" { "https://index.docker.io/v1/".to_string() } else { registry.to_string() };
    let mut child =
        helper.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    child.stdin.take()?.write_all(server.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let field = |f: &str| json.get(f).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (username, secret) = (field("Username"), field("Secret"));
    if secret.is_empty() {
        return None;
    }
    Some(if username == "<token>" {
        Credentials { server, identity_token: Some(secret), ..Default::default() }
    } else {
        Credentials { username, password: secret, server, identity_token: None }
    })
}

/// [`credentials`] from a config file's `auths` (`auth` is base64 `user:password`, or
/// `username`/`password`, or an `identitytoken`).
fn credentials_in(config: &str, registry: &str) -> Option<Credentials> {
    let json: serde_json::Value = serde_json::from_str(config).ok()?;
    let auths = json.get("auths")?.as_object()?;
    let (key, entry) = auths.iter().find(|(k, _)| host(k) == registry)?;
    let field = |f: &str| entry.get(f).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
    let identity_token = field("identitytoken");
    let (username, password) = match field("auth") {
        Some(a) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(a.trim()).ok()?;
            let s = String::from_utf8(decoded).ok()?;
            let (u, p) = s.split_once(':')?;
            (u.to_string(), p.to_string())
        }
        None if identity_token.is_some() => (field("username").unwrap_or_default(), String::new()),
        None => (field("username")?, field("password")?),
    };
    Some(Credentials { username, password, server: key.clone(), identity_token })
}

/// Pulls one image, reporting each layer's progress; a failure names the image and carries the
/// registry's answer.
pub async fn pull<E: Engine>(e: &E, image: &str, quiet: bool, r: &Report) -> Result<(), EngineError> {
    transfer(image, quiet, "Pulling", "Pulled", e.pull_image(image, credentials(image)), r).await
}

/// Pushes one image, reporting progress as [`pull`] does.
pub async fn push<E: Engine>(e: &E, image: &str, quiet: bool, r: &Report) -> Result<(), EngineError> {
    transfer(image, quiet, "Pushing", "Pushed", e.push_image(image, credentials(image)), r).await
}

async fn transfer(
    image: &str,
    quiet: bool,
    doing: &str,
    done: &str,
    mut stream: crate::engine::EngineStream<crate::engine::TransferProgress>,
    r: &Report,
) -> Result<(), EngineError> {
    if !quiet {
        r.state("Image", image, doing);
    }
    while let Some(item) = stream.next().await {
        let p = item.inspect_err(|e| r.detail("Image", image, "Error", &e.to_string()))?;
        if quiet {
            continue;
        }
        if let Some(layer) = p.id.as_deref().filter(|l| l.len() >= 12 && !l.contains(':')) {
            let detail = match (p.current, p.total) {
                (Some(c), Some(t)) if t > 0 => format!("{} / {}", human(c), human(t)),
                _ => String::new(),
            };
            let state = p.status.split_whitespace().collect::<Vec<_>>().join(" ");
            if detail.is_empty() {
                r.state("Layer", layer, &state);
            } else {
                r.detail("Layer", layer, &state, &detail);
            }
        }
    }
    if !quiet {
        r.state("Image", image, done);
    }
    Ok(())
}

fn human(n: i64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1}MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1}kB", n as f64 / (1 << 10) as f64),
        n => format!("{n}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse() {
        assert_eq!(Policy::parse("if_not_present"), Ok(Policy::Missing));
        assert_eq!(Policy::parse("every_12h"), Ok(Policy::Refresh(Duration::from_secs(43_200))));
        assert_eq!(Policy::parse("weekly"), Ok(Policy::Refresh(Duration::from_secs(604_800))));
        assert!(Policy::parse("sometimes").unwrap_err().to_string().contains("every_<duration>"));
        assert!(Policy::parse("every_").is_err());
    }

    #[test]
    fn decisions() {
        let day = Duration::from_secs(86_400);
        let (old, fresh) = (Some(day * 2), Some(Duration::from_secs(60)));
        use Need::*;
        for (policy, buildable, present, build, no_build, want) in [
            (Policy::Missing, false, None, false, false, Pull),
            (Policy::Missing, false, fresh, false, false, Nothing),
            (Policy::Missing, true, None, false, false, Build),
            (Policy::Missing, true, fresh, false, false, Nothing),
            (Policy::Missing, true, fresh, true, false, Build),
            (Policy::Always, false, fresh, false, false, Pull),
            (Policy::Build, true, fresh, false, false, Build),
            (Policy::Refresh(day), false, old, false, false, Pull),
            (Policy::Refresh(day), false, fresh, false, false, Nothing),
        ] {
            assert_eq!(decide(policy, buildable, present, build, no_build), want, "{policy:?} {buildable} {present:?}");
        }
        assert!(matches!(decide(Policy::Never, false, None, false, false), Missing(m) if m.contains("never")));
        assert!(matches!(decide(Policy::Missing, true, None, false, true), Missing(m) if m.contains("--no-build")));
        assert!(matches!(decide(Policy::Build, false, None, false, false), Missing(m) if m.contains("no `build:`")));
    }

    #[test]
    fn credentials_come_from_auths_by_registry_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let config = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}}, "127.0.0.1:5000": {{"username": "bob", "password": "pw"}}}}}}"#
        );
        let hub = credentials_in(&config, "docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("alice", "s3cret"));
        let local = credentials_in(&config, "127.0.0.1:5000").unwrap();
        assert_eq!((local.username.as_str(), local.server.as_str()), ("bob", "127.0.0.1:5000"));
        assert_eq!(credentials_in(&config, "ghcr.io"), None);
        assert!(!format!("{hub:?}").contains("s3cret"), "credentials are never printed");
    }

    #[test]
    fn credential_helpers_per_registry_then_the_store() {
        let config =
            r#"{"credsStore": "desktop", "credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}}"#;
        assert_eq!(helper_for(config, "123.dkr.ecr.eu-west-1.amazonaws.com").as_deref(), Some("ecr-login"));
        assert_eq!(helper_for(config, "docker.io").as_deref(), Some("desktop"));
        assert_eq!(helper_for(r#"{"auths": {}}"#, "docker.io"), None);
        let token = r#"{"auths": {"tok.example": {"identitytoken": "refresh"}}}"#;
        assert_eq!(credentials_in(token, "tok.example").unwrap().identity_token.as_deref(), Some("refresh"));
    }

    #[test]
    fn a_helper_is_asked_with_the_server_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        // Knows Docker Hub (a password) and one registry (an identity token), nothing else.
        let script = r#"#!/bin/sh
[ "$1" = get ] || exit 1
read -r server
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"carol","Secret":"pw"}' ;;
  tok.example) echo '{"Username":"<token>","Secret":"refresh"}' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#;
        std::fs::write(&helper, script).unwrap();
        // Run through `sh`: executing a file just written races other tests' forks (ETXTBSY).
        let program = || {
            let mut c = std::process::Command::new("sh");
            c.arg(&helper);
            c
        };
        let hub = from_helper(program(), "docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("carol", "pw"));
        assert_eq!(hub.server, "https://index.docker.io/v1/");
        let tok = from_helper(program(), "tok.example").unwrap();
        assert_eq!((tok.username.as_str(), tok.identity_token.as_deref()), ("", Some("refresh")));
        assert_eq!(from_helper(program(), "ghcr.io"), None);
        assert_eq!(from_helper(std::process::Command::new("/nonexistent/docker-credential-x"), "docker.io"), None);
    }
}
