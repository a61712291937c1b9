//! Building services' images: each service's `build:` becomes a [`BuildRequest`] plus a streamed
//! context ([`context`]) filtered by `.dockerignore` ([`ignore`]), built by the engine's embedded
//! BuildKit (as compose v2 does; without a session) or, with `DOCKER_BUILDKIT=0`, its classic
//! builder. What the chosen builder cannot do is refused up front ([`dockerfile`]). Builds run
//! concurrently within a bound; a failure names the service and shows the failing step's output
//! ([`steps`]). Pulling and pushing live in [`registry`].

pub mod context;
pub mod dockerfile;
pub mod ensure;
pub mod fingerprint;
pub mod ignore;
pub mod registry;
pub mod steps;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use futures::StreamExt;
use indexmap::IndexMap;

use crate::engine::{BuildMessage, BuildRequest, Engine};
use crate::model::{Project, Service};
use crate::progress::Report;

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
    /// Use the engine's classic builder even where BuildKit is offered (as `DOCKER_BUILDKIT=0`).
    pub classic: bool,
}

/// Whether builds go to BuildKit on `e`: where the engine offers it, unless `opts.classic` or
/// `DOCKER_BUILDKIT` is false (compose v2's choice).
pub fn use_buildkit<E: Engine>(e: &E, opts: &BuildOptions) -> bool {
    let off = std::env::var("DOCKER_BUILDKIT")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "f" | "false" | "no" | "off"));
    e.supports_buildkit() && !opts.classic && !off
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
    /// The Dockerfile as the user names it (`Dockerfile`, `docker/web.Dockerfile`, `dockerfile_inline`).
    pub dockerfile_name: String,
    /// What the caller should tell the user before building.
    pub warnings: Vec<String>,
}

/// Turns `service`'s `build:` into a request for BuildKit (`buildkit`) or the classic builder,
/// checking what can be checked before sending anything: the context and Dockerfile exist, the
/// builder can do what the Dockerfile and the `build:` keys ask, `.dockerignore` parses.
pub fn prepare(
    project: &Project,
    service: &str,
    svc: &Service,
    env: &IndexMap<String, String>,
    opts: &BuildOptions,
    buildkit: bool,
) -> Result<Prepared, BuildError> {
    let Some(b) = &svc.build else {
        return Err(fail(service, "has no `build:` section".into(), Some("add `build: DIR` or set `image:`".into())));
    };
    let buildx = "or build with `docker buildx build -t IMAGE` and run with `--no-build`";
    for (key, set, why) in [
        ("additional_contexts", !b.additional_contexts.is_empty(), "a BuildKit session"),
        ("secrets", !b.secrets.is_empty(), "a BuildKit session"),
        ("ssh", !b.ssh.is_empty(), "a BuildKit session"),
        ("cache_to", !b.cache_to.is_empty(), "a BuildKit cache exporter"),
        ("platforms", b.platforms.len() > 1, "a multi-platform BuildKit exporter"),
    ] {
        if set {
            return Err(fail(
                service,
                format!(
                    "`build.{key}` needs {why}, which wharf does not open (it sends builds to the engine's build API)"
                ),
                Some(format!("remove `build.{key}`, {buildx}")),
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
    let ignore_text = std::fs::read_to_string(root.join(".dockerignore")).ok();
    let mut ignore = match &ignore_text {
        Some(text) => ignore::DockerIgnore::parse(text).map_err(|e| {
            fail(
                service,
                format!("{}: {e}", root.join(".dockerignore").display()),
                Some("fix or remove that line".into()),
            )
        })?,
        None => ignore::DockerIgnore::default(),
    };
    // The Dockerfile: inline, inside the context, or outside it (then sent as an extra file).
    let (inside, text) = if let Some(inline) = &b.dockerfile_inline {
        (None, inline.clone())
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
        let inside = path.strip_prefix(root).ok().filter(|_| !name.contains(".."));
        (inside.map(|i| i.to_string_lossy().replace('\\', "/")), text)
    };
    let file = b.dockerfile.clone().unwrap_or_else(|| {
        if b.dockerfile_inline.is_some() { "dockerfile_inline".into() } else { "Dockerfile".into() }
    });
    // A Dockerfile the builder must read but `COPY` must not see (inline, outside the context,
    // or excluded by `.dockerignore`): the classic builder drops it from the context when the
    // sent `.dockerignore` names it; BuildKit, handed the context as a tar, keeps everything.
    // Such builds go to the classic builder unless the Dockerfile needs BuildKit.
    let hidden = inside.as_ref().is_none_or(|i| ignore.is_excluded(i));
    let buildkit = buildkit && (!hidden || dockerfile::needs_buildkit(&text).is_some());
    let mut warnings = Vec::new();
    if buildkit && hidden {
        warnings.push(format!(
            "service `{service}`: the Dockerfile `{file}` is sent inside the build context for BuildKit, so `COPY .` copies it too (as `{}`)",
            inside.as_deref().unwrap_or(EXTRA_DOCKERFILE)
        ));
    }
    let mut extra = Vec::new();
    let dockerfile = match &inside {
        Some(i) => {
            let _ = ignore.push(&format!("!{i}"));
            i.clone()
        }
        None => {
            extra.push((EXTRA_DOCKERFILE.to_string(), text.clone().into_bytes()));
            EXTRA_DOCKERFILE.to_string()
        }
    };
    if !buildkit {
        // The classic builder reads `.dockerignore` from the context (and drops it, and the
        // Dockerfile, when it names them); an extra Dockerfile is named there for it.
        let _ = ignore.push("!.dockerignore");
        if inside.is_none() {
            let _ = ignore.push(".dockerignore");
            let mut text = ignore_text.clone().unwrap_or_default();
            text.push_str(&format!("\n{EXTRA_DOCKERFILE}\n"));
            extra.push((".dockerignore".to_string(), text.into_bytes()));
        }
    }
    if buildkit && let Some(n) = dockerfile::needs_session(&text) {
        return Err(fail(
            service,
            format!("{file}:{}: {} needs a BuildKit session, which wharf does not open: `{}`", n.line, n.what, n.text),
            Some(format!("rewrite that line (a `type=cache` or `type=bind` mount works), {buildx}")),
        ));
    }
    if !buildkit && let Some(n) = dockerfile::needs_buildkit(&text) {
        return Err(fail(
            service,
            format!(
                "{file}:{}: {} needs BuildKit, and this build uses the engine's classic builder: `{}`",
                n.line, n.what, n.text
            ),
            Some(format!(
                "unset `DOCKER_BUILDKIT=0` if the engine has BuildKit, rewrite that line for the classic builder, {buildx}"
            )),
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
        buildkit,
    };
    let context = context::Context { root: root.to_path_buf(), ignore, extra };
    Ok(Prepared {
        warnings,
        service: service.to_string(),
        request,
        context,
        tags: b.tags.clone(),
        dockerfile_text: text,
        dockerfile_name: file,
    })
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
pub async fn run<E: Engine>(
    e: &E,
    p: Prepared,
    show_output: bool,
    skip_unchanged: bool,
    r: &Report,
) -> Result<String, BuildError> {
    let kind = "Image";
    let tag = p.request.tag.clone();
    let always = p.request.no_cache || p.request.pull;
    let mut p = p;
    pull_private_bases(e, &mut p, r).await?;
    // Nothing changed since this image was built (context, Dockerfile, options, base images):
    // the builder would only replay its cache, so it is not asked.
    let print = if skip_unchanged && !always { fingerprint::of(e, &p).await } else { None };
    if let Some(fp) = &print
        && let Ok(Some(existing)) = e.image_id(&tag).await
        && fingerprint::recorded(fp).as_ref() == Some(&existing)
    {
        for t in &p.tags {
            e.tag_image(&tag, t).await.map_err(|x| fail(&p.service, x.to_string(), None))?;
        }
        r.state(kind, &tag, "Up to date");
        return Ok(existing);
    }
    r.state(kind, &tag, "Building");
    // A build that runs regardless is fingerprinted while the builder works (it reads the context).
    let (built, late) = futures::join!(send(e, &p, show_output, r), async {
        if skip_unchanged && always { fingerprint::of(e, &p).await } else { None }
    });
    let id = built?;
    if let Some(fp) = print.or(late) {
        fingerprint::record(&fp, &id);
    }
    for t in &p.tags {
        e.tag_image(&tag, t).await.map_err(|x| fail(&p.service, x.to_string(), None))?;
    }
    r.state(kind, &tag, "Built");
    Ok(id)
}

/// BuildKit without a session pulls base images anonymously. When the docker config has
/// credentials for a base image's registry, wharf pulls the Dockerfile's base images itself
/// first (with them), and BuildKit takes the local ones.
async fn pull_private_bases<E: Engine>(e: &E, p: &mut Prepared, r: &Report) -> Result<(), BuildError> {
    let Some(bases) = fingerprint::bases(&p.dockerfile_text).filter(|_| p.request.buildkit) else { return Ok(()) };
    if !bases.iter().any(|b| registry::credentials(b).is_some()) {
        return Ok(());
    }
    for b in &bases {
        if p.request.pull || !matches!(e.image_id(b).await, Ok(Some(_))) {
            registry::pull(e, b, false, r).await.map_err(|x| ensure::pull_error(b, x))?;
        }
    }
    p.request.pull = false;
    Ok(())
}

/// Sends the context and follows the builder until it reports the image.
async fn send<E: Engine>(e: &E, p: &Prepared, show_output: bool, r: &Report) -> Result<String, BuildError> {
    let tag = &p.request.tag;
    let (body, sent) = context::stream(p.context.clone());
    let mut stream = e.build_image(&p.request, body);
    let (mut output, mut steps, mut id) = (String::new(), steps::Steps::default(), None);
    let show = |lines: &mut dyn Iterator<Item = String>| {
        for line in lines.filter(|_| show_output) {
            r.line(&format!("{}  {line}", p.service));
        }
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildMessage::Output(text)) => {
                show(&mut text.lines().map(plain).filter(|l| !l.trim().is_empty()));
                output.push_str(&text);
            }
            Ok(BuildMessage::ImageId(i)) => id = Some(i),
            Ok(m) => show(&mut steps.apply(&m).into_iter()),
            Err(err) => {
                let said = steps::tidy(&err.to_string());
                r.detail("Image", tag, "Error", &said);
                let why = match sent.await {
                    Ok(Err(io)) => format!("cannot send the build context: {io}"),
                    _ => said,
                };
                if let Some((message, hint)) = steps::parse_error(&why, &p.dockerfile_name)
                    .or_else(|| steps::frontend_error(&why, &p.dockerfile_name, &p.dockerfile_text))
                {
                    return Err(fail(&p.service, message, Some(hint)));
                }
                let step = steps.failed().unwrap_or_else(|| last_step(&output));
                let message = if step.is_empty() { why } else { format!("{why}\n{step}") };
                return Err(fail(&p.service, message, None));
            }
        }
    }
    if let Ok(Err(io)) = sent.await {
        return Err(fail(&p.service, format!("cannot send the build context: {io}"), None));
    }
    match id {
        Some(i) => Ok(i),
        None => e
            .image_id(tag)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| fail(&p.service, format!("the builder reported no image for `{tag}`"), None)),
    }
}

/// Builds `services` (those with `build:`), at most `opts.parallel` at a time, each image once
/// even when several services share it. Returns `(service, image ID)` in the order given.
pub async fn build_services<E: Engine>(
    e: &E,
    project: &Project,
    services: &[String],
    env: &IndexMap<String, String>,
    opts: &BuildOptions,
    r: &Report,
) -> Result<Vec<(String, String)>, BuildError> {
    let mut prepared: Vec<Prepared> = Vec::new();
    // The tag each service's build makes (services sharing one image build it once).
    let mut tag_of: HashMap<String, String> = HashMap::new();
    let buildkit = use_buildkit(e, opts);
    for name in services {
        let Some(svc) = project.services.get(name) else { continue };
        if svc.build.is_none() {
            continue;
        }
        let p = prepare(project, name, svc, env, opts, buildkit)?;
        p.warnings.iter().for_each(|w| r.warning(w));
        tag_of.insert(name.clone(), p.request.tag.clone());
        if prepared.iter().any(|q| q.request.tag == p.request.tag) {
            continue;
        }
        prepared.push(p);
    }
    // A build waits for the builds of the services it depends on (its `FROM` may be one of
    // their images), as compose orders them; the others run at once, `parallel` at a time.
    let graph = crate::graph::Graph::new(project);
    let mut done: HashMap<String, tokio::sync::watch::Sender<Option<bool>>> = HashMap::new();
    for p in &prepared {
        done.insert(p.request.tag.clone(), tokio::sync::watch::channel(None).0);
    }
    let slots = tokio::sync::Semaphore::new(opts.parallel.max(1));
    let (show, skip) = (opts.show_output, opts.skip_unchanged);
    let work = prepared.into_iter().map(|p| {
        let own = p.request.tag.clone();
        let mut before: Vec<(String, tokio::sync::watch::Receiver<Option<bool>>)> = graph
            .with_dependencies(std::slice::from_ref(&p.service))
            .into_iter()
            .filter_map(|d| tag_of.get(&d).cloned())
            .filter(|t| *t != own)
            .filter_map(|t| done.get(&t).map(|tx| (t, tx.subscribe())))
            .collect();
        before.sort_by(|a, b| a.0.cmp(&b.0));
        before.dedup_by(|a, b| a.0 == b.0);
        let (done, slots) = (&done, &slots);
        async move {
            let s = p.service.clone();
            for (tag, mut rx) in before {
                if rx.wait_for(Option::is_some).await.ok().and_then(|v| *v) != Some(true) {
                    let message = format!("it needs image `{tag}`, whose build failed");
                    if let Some(tx) = done.get(&own) {
                        tx.send_replace(Some(false));
                    }
                    return Err(BuildError { subject: format!("service `{s}`"), message, hint: None });
                }
            }
            let _slot = slots.acquire().await;
            let result = run(e, p, show, skip, r).await.map(|id| (s, id));
            if let Some(tx) = done.get(&own) {
                tx.send_replace(Some(result.is_ok()));
            }
            result
        }
    });
    let results: Vec<Result<(String, String), BuildError>> = futures::future::join_all(work).await;
    results.into_iter().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Project `p` of `yaml` in a new directory, with `files` written there first.
    pub(crate) fn project(yaml: &str, files: &[(&str, &str)]) -> (Project, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = crate::LoadOptions {
            files: vec![dir.path().join("compose.yaml")],
            project_name: Some("p".into()),
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        (crate::load(&opts).unwrap().project, dir)
    }

    /// Prepares service `app` of `yaml`, with `files` written first; `buildkit`: the engine's offer.
    fn prepared(yaml: &str, files: &[(&str, &str)], buildkit: bool) -> Result<Prepared, BuildError> {
        let (project, _dir) = project(yaml, files);
        prepare(&project, "app", &project.services["app"], &IndexMap::new(), &BuildOptions::default(), buildkit)
    }

    const CLASSIC: &str = "FROM scratch\nCOPY . /\n";
    const KIT: &str = "FROM scratch\nRUN --mount=type=cache,target=/c true\n";

    #[test]
    fn buildkit_gets_builds_whose_dockerfile_copy_would_not_see() {
        let build = "services:\n  app: {build: .}\n";
        let p = prepared(build, &[("Dockerfile", CLASSIC), (".dockerignore", ".dockerignore\n")], true).unwrap();
        assert!(p.request.buildkit);
        assert!(p.context.ignore.is_excluded(".dockerignore"), "BuildKit gets the context as `COPY` sees it");
        assert!(p.context.extra.is_empty());
        // Excluded, inline or outside the context: the classic builder, told to drop it.
        let p = prepared(build, &[("Dockerfile", CLASSIC), (".dockerignore", "Dockerfile\n")], true).unwrap();
        assert!(!p.request.buildkit);
        assert!(!p.context.ignore.is_excluded("Dockerfile") && !p.context.ignore.is_excluded(".dockerignore"));
        let inline = "services:\n  app: {build: {context: ., dockerfile_inline: \"FROM scratch\\n\"}}\n";
        let p = prepared(inline, &[("x", "")], true).unwrap();
        assert!(!p.request.buildkit);
        assert_eq!(p.request.dockerfile, EXTRA_DOCKERFILE);
        let names: Vec<&str> = p.context.extra.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [EXTRA_DOCKERFILE, ".dockerignore"]);
        assert!(String::from_utf8_lossy(&p.context.extra[1].1).contains(EXTRA_DOCKERFILE));
        // ... unless only BuildKit can build it.
        let p = prepared(build, &[("Dockerfile", KIT), (".dockerignore", "Dockerfile\n")], true).unwrap();
        assert!(p.request.buildkit);
    }

    #[test]
    fn each_builder_refuses_what_it_cannot_do() {
        let build = "services:\n  app: {build: .}\n";
        let err = prepared(build, &[("Dockerfile", KIT)], false).unwrap_err();
        assert!(err.message.starts_with("Dockerfile:2: `RUN --mount` needs BuildKit"), "{err}");
        let secret = "FROM scratch\nRUN --mount=type=secret,id=a true\n";
        let err = prepared(build, &[("Dockerfile", secret)], true).unwrap_err();
        assert!(err.message.contains("needs a BuildKit session"), "{err}");
        let ssh = "services:\n  app: {build: {context: ., ssh: [default]}}\n";
        let err = prepared(ssh, &[("Dockerfile", CLASSIC)], true).unwrap_err();
        assert!(err.message.starts_with("`build.ssh` needs a BuildKit session"), "{err}");
    }
}
