//! Building services' images with the engine's classic builder: each service's `build:` becomes
//! a [`BuildRequest`] plus a streamed context ([`context`]) filtered by `.dockerignore`
//! ([`ignore`]); Dockerfiles that need BuildKit are refused up front ([`dockerfile`]). Builds
//! run concurrently within a bound; a failure names the service and shows the failing step's
//! output. Pulling and pushing live in [`registry`].

pub mod context;
pub mod dockerfile;
pub mod ensure;
pub mod fingerprint;
pub mod ignore;
pub mod registry;

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use indexmap::IndexMap;

use crate::engine::{BuildMessage, BuildRequest, Engine};
use crate::model::{Project, Service};

/// Where the Dockerfile goes in the context tar when it is inline or outside the context.
const EXTRA_DOCKERFILE: &str = ".wharf.Dockerfile";

/// How `build`, `up --build` and friends build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    pub pull: bool,
    /// `--build-arg`: `KEY=VALUE`, or `KEY` to take the value from the environment.
    pub args: Vec<String>,
    /// Print the builder's output as it comes (the `build` command without `-q`).
    pub show_output: bool,
    /// At most this many builds at once.
    pub parallel: usize,
    /// Skip a build whose fingerprint matches the image its tag names (see [`fingerprint`]).
    pub skip_unchanged: bool,
}

/// A failed build, naming the service and saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {message}")]
pub struct BuildError {
    /// What failed: ``service `web` `` or ``image `app:1` ``.
    pub subject: String,
    pub message: String,
    pub hint: Option<String>,
}

fn fail(service: &str, message: String, hint: Option<String>) -> BuildError {
    BuildError { subject: format!("service `{service}`"), message, hint }
}

/// A build ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub service: String,
    pub request: BuildRequest,
    pub context: context::Context,
    /// `build.tags`: more references for the result.
    pub tags: Vec<String>,
    /// The Dockerfile's text (for the fingerprint).
    pub dockerfile_text: String,
}

/// Turns `service`'s `build:` into a request, checking what can be checked before sending
/// anything: the context and Dockerfile exist, the Dockerfile needs no BuildKit, no BuildKit-only
/// keys are set, `.dockerignore` parses.
pub fn prepare(
    project: &Project,
    service: &str,
    svc: &Service,
    env: &IndexMap<String, String>,
    opts: &BuildOptions,
) -> Result<Prepared, BuildError> {
    let Some(b) = &svc.build else {
        return Err(fail(service, "has no `build:` section".into(), Some("add `build: DIR` or set `image:`".into())));
    };
    for (key, set) in [
        ("additional_contexts", !b.additional_contexts.is_empty()),
        ("secrets", !b.secrets.is_empty()),
        ("ssh", !b.ssh.is_empty()),
        ("cache_to", !b.cache_to.is_empty()),
        ("platforms", b.platforms.len() > 1),
    ] {
        if set {
            return Err(fail(
                service,
                format!(
                    "`build.{key}` needs BuildKit, which wharf does not drive yet (it uses the engine's classic builder)"
                ),
                Some(format!(
                    "remove `build.{key}`, or build with `docker buildx build -t IMAGE` and run with `--no-build`"
                )),
            ));
        }
    }
    let root = Path::new(&b.context);
    if b.context.contains("://") || b.context.starts_with("git@") {
        return Err(fail(
            service,
            format!("remote build context `{}` is not supported", b.context),
            Some("clone it and point `build.context` at the directory".into()),
        ));
    }
    if !root.is_dir() {
        return Err(fail(
            service,
            format!("build context `{}` is not a directory", root.display()),
            Some("fix `build.context` (relative paths are resolved against the project directory)".into()),
        ));
    }
    let mut ignore = match std::fs::read_to_string(root.join(".dockerignore")) {
        Ok(text) => ignore::DockerIgnore::parse(&text).map_err(|e| {
            fail(
                service,
                format!("{}: {e}", root.join(".dockerignore").display()),
                Some("fix or remove that line".into()),
            )
        })?,
        Err(_) => ignore::DockerIgnore::default(),
    };
    // The Dockerfile: inline, inside the context, or outside it (then sent under another name).
    let mut extra = Vec::new();
    let (dockerfile, text) = if let Some(inline) = &b.dockerfile_inline {
        extra.push((EXTRA_DOCKERFILE.to_string(), inline.clone().into_bytes()));
        (EXTRA_DOCKERFILE.to_string(), inline.clone())
    } else {
        let name = b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into());
        let path = root.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            fail(
                service,
                format!("cannot read Dockerfile {}: {e}", path.display()),
                Some("fix `build.dockerfile` (it is relative to `build.context`)".into()),
            )
        })?;
        match path.strip_prefix(root).ok().filter(|_| !name.contains("..")) {
            Some(inside) => {
                let inside = inside.to_string_lossy().replace('\\', "/");
                let _ = ignore.push(&format!("!{inside}"));
                (inside, text)
            }
            None => {
                extra.push((EXTRA_DOCKERFILE.to_string(), text.clone().into_bytes()));
                (EXTRA_DOCKERFILE.to_string(), text)
            }
        }
    };
    let _ = ignore.push("!.dockerignore");
    if let Some(n) = dockerfile::needs_buildkit(&text) {
        let file = b.dockerfile.clone().unwrap_or_else(|| {
            if b.dockerfile_inline.is_some() { "dockerfile_inline".into() } else { "Dockerfile".into() }
        });
        return Err(fail(
            service,
            format!(
                "{file}:{}: {} needs BuildKit, and wharf builds with the engine's classic builder: `{}`",
                n.line, n.what, n.text
            ),
            Some("rewrite that line for the classic builder, or build with `docker buildx build -t IMAGE` and run with `--no-build`".into()),
        ));
    }
    let args = build_args(&b.args, &opts.args, env);
    let labels: BTreeMap<String, String> = b.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let request = BuildRequest {
        tag: crate::plan::spec::image_name(&project.name, service, svc),
        dockerfile,
        args,
        target: b.target.clone(),
        labels,
        cache_from: b.cache_from.clone(),
        network: b.network.clone(),
        extra_hosts: b.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect(),
        shm_size: b.shm_size,
        no_cache: opts.no_cache || b.no_cache == Some(true),
        pull: opts.pull || b.pull == Some(true),
        platform: b.platforms.first().cloned().or_else(|| svc.platform.clone()),
    };
    let context = context::Context { root: root.to_path_buf(), ignore, extra };
    Ok(Prepared { service: service.to_string(), request, context, tags: b.tags.clone(), dockerfile_text: text })
}

/// `build.args` with `--build-arg` over them; a key without a value takes the environment's
/// value, and is left out when the environment has none (as compose does).
fn build_args(
    file: &IndexMap<String, Option<String>>,
    cli: &[String],
    env: &IndexMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| match v.map(str::to_string).or_else(|| env.get(k).cloned()) {
        Some(v) => {
            out.insert(k.to_string(), v);
        }
        None => {
            out.remove(k);
        }
    };
    for (k, v) in file {
        put(k, v.as_deref());
    }
    for a in cli {
        match a.split_once('=') {
            Some((k, v)) => put(k, Some(v)),
            None => put(a, None),
        }
    }
    out
}

/// The lines of the last step the builder began (`Step N/M : …` and what followed), for a
/// failure's message.
fn last_step(output: &str) -> String {
    let start = output.rfind("Step ").map(|i| output[..i].rfind('\n').map(|j| j + 1).unwrap_or(0)).unwrap_or(0);
    let lines: Vec<String> = output[start..]
        .lines()
        .map(plain)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Removing intermediate container"))
        .collect();
    let keep = lines.len().saturating_sub(20);
    lines[keep..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

/// A builder line without its terminal colour codes (the builder paints a step's stderr red).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs one prepared build; returns the new image's ID.
pub async fn run<E: Engine>(e: &E, p: Prepared, show_output: bool, skip_unchanged: bool) -> Result<String, BuildError> {
    let kind = "Image";
    let tag = p.request.tag.clone();
    // Nothing changed since this image was built (context, Dockerfile, options, base images):
    // the builder would only replay its cache, so it is not asked.
    let print = if skip_unchanged { fingerprint::of(e, &p).await } else { None };
    if let Some(fp) = &print
        && !p.request.no_cache
        && !p.request.pull
        && let Ok(Some(existing)) = e.image_id(&tag).await
        && fingerprint::recorded(fp).as_ref() == Some(&existing)
    {
        for t in &p.tags {
            e.tag_image(&tag, t).await.map_err(|x| fail(&p.service, x.to_string(), None))?;
        }
        crate::progress::report(kind, &tag, "Up to date");
        return Ok(existing);
    }
    crate::progress::report(kind, &tag, "Building");
    let (body, sent) = context::stream(p.context);
    let mut stream = e.build_image(&p.request, body);
    let mut output = String::new();
    let mut id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildMessage::Output(text)) => {
                if show_output {
                    for line in text.lines().map(plain).filter(|l| !l.trim().is_empty()) {
                        crate::progress::println(&format!("{}  {line}", p.service));
                    }
                }
                output.push_str(&text);
            }
            Ok(BuildMessage::ImageId(i)) => id = Some(i),
            Err(err) => {
                crate::progress::detail(kind, &tag, "Error", &err.to_string());
                let why = match sent.await {
                    Ok(Err(io)) => format!("cannot send the build context: {io}"),
                    _ => err.to_string(),
                };
                let step = last_step(&output);
                let message = if step.is_empty() { why } else { format!("{why}\n{step}") };
                return Err(fail(&p.service, message, None));
            }
        }
    }
    if let Ok(Err(io)) = sent.await {
        return Err(fail(&p.service, format!("cannot send the build context: {io}"), None));
    }
    let id = match id {
        Some(i) => i,
        None => e
            .image_id(&tag)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| fail(&p.service, format!("the builder reported no image for `{tag}`"), None))?,
    };
    if let Some(fp) = &print {
        fingerprint::record(fp, &id);
    }
    for t in &p.tags {
        e.tag_image(&tag, t).await.map_err(|x| fail(&p.service, x.to_string(), None))?;
    }
    crate::progress::report(kind, &tag, "Built");
    Ok(id)
}

/// Builds `services` (those with `build:`), at most `opts.parallel` at a time, each image once
/// even when several services share it. Returns `(service, image ID)` in the order given.
pub async fn build_services<E: Engine>(
    e: &E,
    project: &Project,
    services: &[String],
    env: &IndexMap<String, String>,
    opts: &BuildOptions,
) -> Result<Vec<(String, String)>, BuildError> {
    let mut prepared: Vec<Prepared> = Vec::new();
    for name in services {
        let Some(svc) = project.services.get(name) else { continue };
        if svc.build.is_none() {
            continue;
        }
        let p = prepare(project, name, svc, env, opts)?;
        if prepared.iter().any(|q| q.request.tag == p.request.tag) {
            continue;
        }
        prepared.push(p);
    }
    let (show, skip) = (opts.show_output, opts.skip_unchanged);
    let results: Vec<Result<(String, String), BuildError>> = futures::stream::iter(prepared)
        .map(|p| async move {
            let s = p.service.clone();
            run(e, p, show, skip).await.map(|id| (s, id))
        })
        .buffered(opts.parallel.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}
