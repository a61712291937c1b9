//! Building services' images: each service's `build:` becomes a [`BuildRequest`] plus a streamed
//! context ([`context`]) filtered by `.dockerignore` ([`ignore`]), built by the engine's embedded
//! BuildKit (as compose v2 does; with a session only for a build that mounts secrets or an SSH
//! agent) or, with `DOCKER_BUILDKIT=0`, its classic builder. What the chosen builder cannot do
//! is refused up front ([`dockerfile`]). Builds run concurrently within a bound; a failure names
//! the service and shows the failing step's output ([`steps`]). Pulling and pushing live in
//! [`registry`].

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

use crate::engine::{BuildMessage, BuildRequest, BuildSession, Engine};
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

impl Prepared {
    /// Which path the build takes, for the progress line: `classic builder`, `BuildKit`, or
    /// `BuildKit with a session (secrets a, b; ssh default)`; IDs only, never values.
    pub fn builder(&self) -> String {
        match (&self.request.session, self.request.buildkit) {
            (_, false) => "classic builder".into(),
            (None, true) => "BuildKit".into(),
            (Some(s), true) => {
                let mut parts = Vec::new();
                if !s.secrets.is_empty() {
                    parts.push(format!("secrets {}", s.secrets.keys().cloned().collect::<Vec<_>>().join(", ")));
                }
                if !s.ssh.is_empty() {
                    parts.push(format!("ssh {}", s.ssh.keys().cloned().collect::<Vec<_>>().join(", ")));
                }
                if parts.is_empty() {
                    "BuildKit with a session".into()
                } else {
                    format!("BuildKit with a session ({})", parts.join("; "))
                }
            }
        }
    }
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
    if !b.additional_contexts.is_empty() {
        // Named contexts reach the builder through the session's file sync (which wharf does not
        // serve) and need Dockerfile frontend 1.4 or later (Docker 20.10's built-in one is older,
        // and a `# syntax=` frontend must be pulled).
        return Err(fail(
            service,
            "`build.additional_contexts` needs named build contexts, which wharf does not send (they need the BuildKit session's file sync and Dockerfile frontend 1.4 or later)".into(),
            Some(format!("copy what the build needs into `build.context` (a multi-stage `COPY --from=IMAGE` also reads another image), {buildx}")),
        ));
    }
    for (key, set, why) in [
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
    let mut warnings = Vec::new();
    let mounts = dockerfile::needs_session(&text);
    let session = session(project, service, b, &mut warnings)?;
    let wants_session = session.is_some() || mounts.is_some();
    let buildkit = buildkit && (!hidden || wants_session || dockerfile::needs_buildkit(&text).is_some());
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
    if !buildkit
        && let Some(key) = [("secrets", !b.secrets.is_empty()), ("ssh", !b.ssh.is_empty())].iter().find(|k| k.1)
    {
        return Err(fail(
            service,
            format!("`build.{}` needs BuildKit, and this build uses the engine's classic builder", key.0),
            Some(format!("unset `DOCKER_BUILDKIT=0` if the engine has BuildKit, {buildx}")),
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
        // A Dockerfile that mounts a secret or an agent the file does not provide still gets a
        // session: an optional secret is then absent and a required one fails in the builder,
        // as with compose.
        session: (buildkit && wants_session).then(|| session.unwrap_or_default()),
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

/// What `b`'s BuildKit session serves: `build.secrets` (from a file, or the project's
/// environment, named by `target` or else the secret's name, as compose does) and `build.ssh`
/// (`default` is `$SSH_AUTH_SOCK`; `ID=PATH` names an agent's socket). `None` when the build
/// names neither.
fn session(
    project: &Project,
    service: &str,
    b: &crate::model::Build,
    warnings: &mut Vec<String>,
) -> Result<Option<BuildSession>, BuildError> {
    if b.secrets.is_empty() && b.ssh.is_empty() {
        return Ok(None);
    }
    let mut out = BuildSession::default();
    for r in &b.secrets {
        let id = r.target.clone().unwrap_or_else(|| r.source.clone());
        let Some(def) = project.secrets.get(&r.source) else {
            return Err(fail(
                service,
                format!("`build.secrets` names `{}`, which the top-level `secrets:` does not define", r.source),
                Some(format!("add `secrets: {{{}: {{file: PATH}}}}` at the top level", r.source)),
            ));
        };
        if r.uid.is_some() || r.gid.is_some() || r.mode.is_some() {
            warnings.push(format!(
                "service `{service}`: build secret `{}`: `uid`, `gid` and `mode` do not apply to builds (set them on the `RUN --mount`), ignored",
                r.source
            ));
        }
        match (&def.file, &def.environment) {
            (Some(file), _) => {
                let value = std::fs::read(file).map_err(|e| {
                    fail(
                        service,
                        format!("cannot read build secret `{}` from {file}: {e}", r.source),
                        Some(format!("fix `secrets.{}.file` (relative paths are resolved against the project directory)", r.source)),
                    )
                })?;
                out.secrets.insert(id, value);
            }
            (None, Some(var)) => match project.environment.get(var) {
                Some(v) => {
                    out.secrets.insert(id, v.clone().into_bytes());
                }
                None => warnings.push(format!(
                    "service `{service}`: build secret `{}` reads `{var}`, which is not set: a step that requires it fails",
                    r.source
                )),
            },
            (None, None) => {
                return Err(fail(
                    service,
                    format!("build secret `{}`: `build.secrets` takes only secrets from a `file` or an `environment` variable", r.source),
                    Some("define it with `file:` or `environment:`, or remove it from `build.secrets`".into()),
                ));
            }
        }
    }
    for entry in &b.ssh {
        let (id, path) = match entry.split_once('=') {
            Some((id, path)) => (id.trim().to_string(), Some(path.trim().to_string())),
            None => (entry.trim().to_string(), None),
        };
        let path = match path.filter(|p| !p.is_empty()) {
            Some(p) => match p.strip_prefix("~/") {
                Some(rest) => {
                    std::env::var("HOME").map(|h| Path::new(&h).join(rest)).unwrap_or_else(|_| p.clone().into())
                }
                None => project.working_dir.join(&p),
            },
            None => match std::env::var_os("SSH_AUTH_SOCK").filter(|v| !v.is_empty()) {
                Some(s) => s.into(),
                None => {
                    return Err(fail(
                        service,
                        format!("`build.ssh: [{entry}]` forwards the SSH agent, and `SSH_AUTH_SOCK` is not set"),
                        Some(format!(
                            "start an agent (`eval $(ssh-agent)`, `ssh-add KEY`), or name its socket: `{id}=PATH`"
                        )),
                    ));
                }
            },
        };
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                out.ssh.insert(id, path);
            }
            Ok(_) => {
                return Err(fail(
                    service,
                    format!(
                        "`build.ssh: [{entry}]`: {} is not an SSH agent's socket (wharf forwards agents, not key files)",
                        path.display()
                    ),
                    Some(format!(
                        "load the key into an agent (`ssh-add {}`) and use `{id}` or `{id}=AGENT_SOCKET`",
                        path.display()
                    )),
                ));
            }
            Err(e) => {
                return Err(fail(
                    service,
                    format!("`build.ssh: [{entry}]`: cannot use {}: {e}", path.display()),
                    Some("fix the path, or start an agent and use `default`".into()),
                ));
            }
        }
    }
    Ok(Some(out))
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
    r.detail(kind, &tag, "Building", &p.builder());
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
    let masked = Masked::of(p.request.session.as_ref());
    let show = |lines: &mut dyn Iterator<Item = String>| {
        for line in lines.filter(|_| show_output) {
            r.line(&format!("{}  {}", p.service, masked.apply(&line)));
        }
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(BuildMessage::Output(text)) => {
                let text = masked.apply(&text);
                show(&mut text.lines().map(plain).filter(|l| !l.trim().is_empty()));
                output.push_str(&text);
            }
            Ok(BuildMessage::ImageId(i)) => id = Some(i),
            Ok(BuildMessage::StepOutput { step, text }) => {
                show(&mut steps.apply(&BuildMessage::StepOutput { step, text: masked.apply(&text) }).into_iter())
            }
            Ok(m) => show(&mut steps.apply(&m).into_iter()),
            Err(err) => {
                let said = masked.apply(&steps::tidy(&err.to_string()));
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

/// The build secrets' values, to be replaced by `****` wherever a step prints one (a `cat` of
/// the secret, a tool echoing its token): wharf's output and errors never show them. Values
/// shorter than four bytes are left alone (masking them would garble ordinary output).
struct Masked(Vec<String>);

impl Masked {
    fn of(session: Option<&BuildSession>) -> Masked {
        let mut values: Vec<String> = session
            .map(|s| s.secrets.values().filter_map(|v| std::str::from_utf8(v).ok()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|v| [v.to_string(), v.trim().to_string()])
            .filter(|v| v.len() >= 4)
            .collect();
        // Longest first, so a value containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Masked(values)
    }

    fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.0 {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "****");
            }
        }
        out
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
        let secrets = "services:\n  app: {build: {context: ., secrets: [s]}}\nsecrets:\n  s: {file: ./s.txt}\n";
        let err = prepared(secrets, &[("Dockerfile", CLASSIC), ("s.txt", "v")], false).unwrap_err();
        assert!(
            err.message.starts_with("`build.secrets` needs BuildKit, and this build uses the engine's classic"),
            "{err}"
        );
        let contexts = "services:\n  app: {build: {context: ., additional_contexts: {x: ./x}}}\n";
        let err = prepared(contexts, &[("Dockerfile", CLASSIC), ("x/a", "")], true).unwrap_err();
        assert!(err.message.starts_with("`build.additional_contexts` needs named build contexts"), "{err}");
    }

    #[test]
    fn a_build_that_mounts_a_secret_or_an_agent_gets_a_session_and_others_do_not() {
        let yaml = "services:\n  app:\n    build:\n      context: .\n      secrets: [f, {source: e, target: tok, mode: 0400}, unset]\nsecrets:\n  f: {file: ./f.txt}\n  e: {environment: E}\n  unset: {environment: NOT_SET_ANYWHERE}\n";
        let files = [("Dockerfile", CLASSIC), ("f.txt", "file-value"), (".env", "E=env-value\n")];
        let p = prepared(yaml, &files, true).unwrap();
        assert!(p.request.buildkit);
        let session = p.request.session.as_ref().unwrap();
        assert_eq!(session.secrets.get("f").map(Vec::as_slice), Some(&b"file-value"[..]));
        assert_eq!(session.secrets.get("tok").map(Vec::as_slice), Some(&b"env-value"[..]), "`target` is the ID");
        assert!(!session.secrets.contains_key("unset"));
        assert_eq!(p.builder(), "BuildKit with a session (secrets f, tok)");
        assert!(!format!("{:?}", p.request).contains("value"), "Debug shows no value: {:?}", p.request);
        let said = p.warnings.join("\n");
        assert!(said.contains("`uid`, `gid` and `mode` do not apply to builds"), "{said}");
        assert!(said.contains("reads `NOT_SET_ANYWHERE`, which is not set"), "{said}");
        // A Dockerfile that mounts a secret the file does not provide: a session with nothing in it.
        let mounts = "FROM scratch\nRUN --mount=type=secret,id=a true\n";
        let p = prepared("services:\n  app: {build: .}\n", &[("Dockerfile", mounts)], true).unwrap();
        assert_eq!(p.request.session, Some(BuildSession::default()));
        // Neither: no session.
        let p = prepared("services:\n  app: {build: .}\n", &[("Dockerfile", KIT)], true).unwrap();
        assert_eq!((p.request.session.is_none(), p.builder().as_str()), (true, "BuildKit"));
    }

    #[test]
    fn build_secrets_and_ssh_entries_that_cannot_work_are_refused_with_a_fix() {
        let external = "services:\n  app: {build: {context: ., secrets: [x]}}\nsecrets:\n  x: {external: true}\n";
        let err = prepared(external, &[("Dockerfile", CLASSIC)], true).unwrap_err();
        assert!(err.message.contains("takes only secrets from a `file` or an `environment`"), "{err}");
        let missing = "services:\n  app: {build: {context: ., secrets: [x]}}\nsecrets:\n  x: {file: ./nope}\n";
        let err = prepared(missing, &[("Dockerfile", CLASSIC)], true).unwrap_err();
        assert!(err.message.starts_with("cannot read build secret `x` from "), "{err}");
        let key = "services:\n  app: {build: {context: ., ssh: [\"k=./id_ed25519\"]}}\n";
        let err = prepared(key, &[("Dockerfile", CLASSIC), ("id_ed25519", "KEY")], true).unwrap_err();
        assert!(err.message.contains("is not an SSH agent's socket"), "{err}");
        assert!(err.hint.unwrap().starts_with("load the key into an agent (`ssh-add "));
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let agent = format!("services:\n  app: {{build: {{context: ., ssh: [\"default={}\"]}}}}\n", sock.display());
        let p = prepared(&agent, &[("Dockerfile", CLASSIC)], true).unwrap();
        assert_eq!(p.request.session.unwrap().ssh.get("default"), Some(&sock));
    }

    #[test]
    fn printed_secret_values_are_masked() {
        let mut s = BuildSession::default();
        s.secrets.insert("a".into(), b"hunter2-long\n".to_vec());
        s.secrets.insert("b".into(), b"abc".to_vec());
        let m = Masked::of(Some(&s));
        assert_eq!(m.apply("token=hunter2-long; abc stays"), "token=****; abc stays");
        assert_eq!(Masked::of(None).apply("x"), "x");
    }
}
