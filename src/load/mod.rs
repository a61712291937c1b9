//! The loader: compose files → [`Project`]. The pipeline, in order (one module per stage):
//!
//! 1. [`discover`]: which files (`-f`, `COMPOSE_FILE`, or `compose.yaml` found upwards);
//! 2. [`dotenv`]: the project `.env` / `--env-file`s under the shell environment;
//! 3. [`yaml`]: each file parsed with anchors and merge keys applied, locations kept;
//! 4. [`interpolate`]: `${VAR}` in every string value, per file, before merging;
//! 5. `include` (here), then [`extends`], then [`merge`] of the files in order;
//! 6. profiles (here): inactive services set aside;
//! 7. [`canonical`]: short syntax to long form, absolute paths, `env_file` read;
//! 8. [`typed`]: into the typed model, every type error at its source location;
//! 9. [`validate`]: references, cycles, contradictions — all problems at once.

pub mod canonical;
mod casts;
pub mod discover;
pub mod dotenv;
pub mod extends;
pub mod files;
pub mod interpolate;
pub mod merge;
mod node_de;
mod project_name;
pub mod shellwords;
pub mod typed;
mod uninterpolated;
pub mod units;
pub mod validate;
pub mod variables;
pub mod yaml;
mod yaml_events;

pub use project_name::normalize_project_name;
use project_name::project_name;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Diagnostics, Loc, display_path};
use crate::model::Project;
use yaml::{Node, Value};

/// Everything that decides how a project loads. Nothing here is read from the process: the
/// caller passes the environment and the working directory, so loading is reproducible in tests.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order (relative to `cwd`).
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// `--env-file`.
    pub env_files: Vec<PathBuf>,
    /// Services named on the command line: their profiles count as enabled.
    pub services: Vec<String>,
    /// `--no-interpolate`.
    pub no_interpolate: bool,
    /// The process environment.
    pub environment: IndexMap<String, String>,
    /// The current directory.
    pub cwd: PathBuf,
    /// `--all-resources`: keep the networks and volumes no service uses.
    pub all_resources: bool,
    /// `--compatibility` (or `COMPOSE_COMPATIBILITY`): containers named the v1 way.
    pub compatibility: bool,
    /// Leave out the check that no two services share a `container_name`: compose makes it only
    /// where containers are created (and in `config`), so `down` or `logs` work on such a file.
    pub skip_container_name_check: bool,
    /// Keep what compose's YAML rendering of `config` shows and its model's JSON does not: the
    /// `x-*` keys below the top level and the top-level `models` ([`Loaded::yaml_extras`]).
    pub yaml_extras: bool,
}

impl LoadOptions {
    /// Options with the real process environment and current directory.
    pub fn from_process() -> Self {
        LoadOptions {
            environment: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            ..LoadOptions::default()
        }
    }
}

/// A loaded project with what was learnt on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Diagnostics,
    /// The environment used for interpolation: shell over `.env` files, plus `COMPOSE_PROJECT_NAME`.
    pub environment: IndexMap<String, String>,
    /// Every variable the files refer to.
    pub variables: Vec<variables::Variable>,
    /// With `no_interpolate`, the canonical tree as written (variables unexpanded), which is what
    /// `config --no-interpolate` prints: the typed project cannot hold `${PORT}:80` as a port.
    pub tree: Option<serde_json::Value>,
    /// With [`LoadOptions::yaml_extras`]: a sparse tree of the canonical model holding only the
    /// `x-*` keys below the top level and the top-level `models` (sequences keep their length,
    /// `null` where an item has none).
    pub yaml_extras: Option<serde_json::Value>,
}

/// Loads a project. On failure, every problem found is returned, in file order.
pub fn load(opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let os = &opts.environment;
    let abs = |p: &Path| {
        if p.is_absolute() { p.to_path_buf() } else { opts.cwd.join(p) }
    };

    // The working directory decides where `.env` is read and what relative paths mean.
    let mut workdir = match (&opts.project_directory, opts.files.first()) {
        (Some(d), _) => abs(d),
        (None, Some(f)) if f.as_os_str() != "-" => {
            abs(f).parent().map(Path::to_path_buf).unwrap_or_else(|| opts.cwd.clone())
        }
        _ => opts.cwd.clone(),
    };
    let mut dotenv_vars = read_env_files(opts, &workdir, &mut diags);
    let lookup_env = |dv: &IndexMap<String, String>, name: &str| os.get(name).or_else(|| dv.get(name)).cloned();

    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|f| abs(f)).collect()
    } else if let Some(cf) = lookup_env(&dotenv_vars, "COMPOSE_FILE") {
        let sep = lookup_env(&dotenv_vars, "COMPOSE_PATH_SEPARATOR");
        discover::split_compose_file(&cf, sep.as_deref()).iter().map(|f| workdir.join(f)).collect()
    } else {
        match discover::discover(&workdir) {
            Some(found) => {
                for ignored in &found.ignored {
                    diags.push(Diagnostic::warning(
                        Loc::file_only(ignored),
                        "",
                        format!("found several compose files; using `{}`", display_path(&found.files[0])),
                    ));
                }
                let dir = found.files[0].parent().map(Path::to_path_buf).unwrap_or_else(|| workdir.clone());
                if opts.project_directory.is_none() && dir != workdir {
                    workdir = dir;
                    dotenv_vars = read_env_files(opts, &workdir, &mut diags);
                }
                found.files
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        Loc::unknown(),
                        "",
                        format!("no compose file found in `{}` or its parents", display_path(&workdir)),
                    )
                    .with_hint("create `compose.yaml`, or name one with `-f FILE`"),
                );
                return Err(diags);
            }
        }
    };
    if opts.files.is_empty()
        && opts.project_directory.is_none()
        && lookup_env(&dotenv_vars, "COMPOSE_FILE").is_some()
        && let Some(dir) = files.first().and_then(|f| f.parent())
    {
        workdir = dir.to_path_buf();
    }

    // Parse every file first: the project name may come from a `name:` key.
    let mut trees = Vec::new();
    let mut vars = Vec::new();
    for f in &files {
        match read_yaml(f) {
            Ok(t) => {
                variables::collect(&t, &mut vars);
                trees.push((f.clone(), t));
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }

    let base_env: IndexMap<String, String> = {
        let mut e = dotenv_vars.clone();
        for (k, v) in os {
            e.insert(k.clone(), v.clone());
        }
        e
    };
    let name = match project_name(opts, &base_env, &trees, &workdir, &mut diags) {
        Some(n) => n,
        None => return Err(diags.sorted()),
    };
    let mut env = base_env;
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());
    let lookup = |n: &str| env.get(n).cloned();

    let mut ctx = FileCtx {
        lookup: &lookup,
        interpolate: !opts.no_interpolate,
        name: &name,
        unset: BTreeSet::new(),
        include_stack: files.clone(),
        failed_extends: BTreeSet::new(),
        included_env: IndexMap::new(),
    };
    let mut merged: Option<Node> = None;
    let first = trees.first().map(|(f, _)| Loc::line_start(f, 1)).unwrap_or_else(Loc::unknown);
    for (f, tree) in trees {
        let t = ctx.process(f.as_path(), tree, &mut diags);
        validate::check_services(&t, &mut diags);
        merged = Some(match merged {
            None => merge::strip_reset(t),
            Some(m) => merge::merge_files(m, t),
        });
    }
    let mut root = merged.unwrap_or_else(|| Node::map(Loc::unknown()));
    // As compose: files that together say nothing are refused (one empty override is fine).
    if root.as_map().is_some_and(|m| m.is_empty()) {
        diags.push(
            Diagnostic::error(first, "", "empty compose file")
                .with_hint("add a `services:` section (e.g. `services: {web: {image: nginx}}`)"),
        );
        return Err(diags.sorted());
    }
    let mut warned = BTreeSet::new();
    for (var, loc) in std::mem::take(&mut ctx.unset) {
        if warned.insert(var.clone()) {
            diags.push(
                Diagnostic::warning(loc, "", format!("the `{var}` variable is not set; defaulting to a blank string"))
                    .with_hint(format!("set `{var}` in the environment or in `.env`, or write `${{{var}:-default}}`")),
            );
        }
    }
    if let Some(m) = root.as_map_mut() {
        if let Some(v) = m.shift_remove("version") {
            diags.push(
                Diagnostic::warning(v.loc.clone(), "version", "the attribute `version` is obsolete and is ignored")
                    .with_hint("remove it"),
            );
        }
        m.shift_remove("include");
        m.shift_remove("name");
    }

    let enabled = enabled_profiles(opts, &env);
    let disabled_nodes = apply_profiles(&mut root, &enabled, &opts.services);
    let canonical_ctx = canonical::Context {
        project_name: &name,
        project_dir: &workdir,
        lookup: &lookup,
        uninterpolated: opts.no_interpolate,
    };
    // Without interpolation compose prints its model, made from the tree as written.
    let raw = opts.no_interpolate.then(|| root.clone());
    canonical::canonicalize(&mut root, &canonical_ctx, &mut diags);
    // A value canonicalisation already refused (`volumes: ["a:b:c:d"]`) is not reported again
    // as the type error that follows from it: the root cause alone is printed.
    let mut typed_diags = Diagnostics::default();
    let mut project = typed::to_project_with(&root, &name, opts.no_interpolate, &mut typed_diags);
    for d in typed_diags.0 {
        if !diags.errors().any(|e| e.loc == d.loc && e.path == d.path) {
            diags.push(d);
        }
    }
    let yaml_extras = opts.yaml_extras.then(|| {
        let mut extras = extensions_below_top(&root).unwrap_or_else(|| serde_json::json!({}));
        if let (Some(models), Some(o)) = (root.get("models"), extras.as_object_mut()) {
            o.insert("models".into(), models.to_json());
        }
        extras
    });
    let tree = raw.map(|raw| {
        let mut model = root.clone();
        canonical::model_form(&raw, &mut model, &canonical_ctx);
        uninterpolated::printable(model.to_json(), &name)
    });
    for (svc_name, node) in disabled_nodes {
        let mut throwaway = Diagnostics::default();
        let mut one = Node::map(node.loc.clone());
        let mut services = Node::map(node.loc.clone());
        if let Some(m) = services.as_map_mut() {
            m.insert(svc_name.clone(), node);
        }
        if let Some(m) = one.as_map_mut() {
            m.insert("services".into(), services);
        }
        // In long form, as the active services are: `depends_on: [web]` is a mapping in the model.
        canonical::canonicalize(&mut one, &canonical_ctx, &mut throwaway);
        if let Some(s) = typed::to_project(&one, &name, &mut throwaway).services.shift_remove(&svc_name) {
            project.disabled.insert(svc_name, s);
        }
    }
    for s in &opts.services {
        if !project.services.contains_key(s) && !project.disabled.contains_key(s) {
            let known: Vec<&str> = project.services.keys().map(String::as_str).collect();
            let mut d = Diagnostic::error(Loc::unknown(), "", format!("no such service: {s}"));
            if let Some(m) = crate::diag::did_you_mean(s, known) {
                d = d.with_hint(format!("did you mean `{m}`?"));
            }
            diags.push(d);
        }
    }
    // Without interpolation compose checks the model's shape only: references between its
    // parts (undefined volumes, dependency cycles) are checked once the values are known.
    if !opts.no_interpolate {
        let names = (!opts.skip_container_name_check).then_some(opts.services.as_slice());
        validate::validate(&project, &root, names, &mut diags);
    }
    if !opts.all_resources {
        project.retain_used_resources();
    }
    project.compatibility =
        opts.compatibility || opts.environment.get("COMPOSE_COMPATIBILITY").is_some_and(|v| truthy(v));
    project.working_dir = workdir;
    project.config_files = files;
    project.env_files = opts.env_files.iter().map(|f| abs(f)).collect();

    if diags.has_errors() {
        return Err(extends::without_knock_ons(diags, &ctx.failed_extends).sorted());
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    vars.dedup_by(|a, b| a.name == b.name);
    project.environment = env.clone();
    for (k, v) in std::mem::take(&mut ctx.included_env) {
        project.environment.entry(k).or_insert(v);
    }
    Ok(Loaded { project, warnings: diags.sorted(), environment: env, variables: vars, tree, yaml_extras })
}

/// The `x-*` keys of `node` below its top level, in a tree of their own (`None`: none).
fn extensions_below_top(node: &Node) -> Option<serde_json::Value> {
    fn walk(node: &Node, top: bool) -> Option<serde_json::Value> {
        match &node.value {
            yaml::Value::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    if k.starts_with("x-") {
                        if !top {
                            out.insert(k.clone(), v.to_json());
                        }
                    } else if let Some(x) = walk(v, false) {
                        out.insert(k.clone(), x);
                    }
                }
                (!out.is_empty()).then_some(serde_json::Value::Object(out))
            }
            yaml::Value::Seq(items) => {
                let found: Vec<serde_json::Value> =
                    items.iter().map(|i| walk(i, false).unwrap_or(serde_json::Value::Null)).collect();
                found.iter().any(|x| !x.is_null()).then_some(serde_json::Value::Array(found))
            }
            _ => None,
        }
    }
    walk(node, true)
}

fn read_yaml(f: &Path) -> Result<Node, Diagnostic> {
    let text = files::read_text(f).map_err(|e| {
        Diagnostic::error(Loc::file_only(f), "", format!("cannot read `{}`: {e}", display_path(f)))
            .with_hint("check the path given with `-f` or `COMPOSE_FILE`")
    })?;
    let arc = extends::arc(f);
    yaml::parse(&text, &arc)
}

/// `--env-file`s, else `COMPOSE_ENV_FILES`, else `<workdir>/.env` (unless disabled).
fn read_env_files(opts: &LoadOptions, workdir: &Path, diags: &mut Diagnostics) -> IndexMap<String, String> {
    let os = &opts.environment;
    let (files, explicit): (Vec<PathBuf>, bool) = if !opts.env_files.is_empty() {
        (opts.env_files.iter().map(|f| if f.is_absolute() { f.clone() } else { opts.cwd.join(f) }).collect(), true)
    } else if let Some(list) = os.get("COMPOSE_ENV_FILES").filter(|s| !s.is_empty()) {
        (list.split(',').map(|f| opts.cwd.join(f.trim())).collect(), true)
    } else if os.get("COMPOSE_DISABLE_ENV_FILE").is_some_and(|v| truthy(v)) {
        (Vec::new(), false)
    } else {
        // Run from a directory below the project's, compose reads both `.env` files; the one in
        // the working directory is read last, so the nearer one wins.
        let mut v = vec![workdir.join(".env")];
        if opts.cwd != workdir {
            v.push(opts.cwd.join(".env"));
        }
        (v, false)
    };
    let mut vars: IndexMap<String, String> = IndexMap::new();
    for f in files {
        if f.is_dir() && !explicit {
            continue;
        }
        match files::read_text(&f) {
            Ok(text) => {
                let lookup = |n: &str| os.get(n).or_else(|| vars.get(n)).cloned();
                match dotenv::parse(&text, &lookup) {
                    Ok(v) => vars.extend(v),
                    Err(e) => diags.push(env_file_error(&f, &e)),
                }
            }
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {}
            // The project's own `.env` that cannot be read is not silently ignored.
            Err(e) if !explicit => diags.push(
                Diagnostic::warning(Loc::file_only(&f), "", format!("`{}` is ignored: {e}", display_path(&f)))
                    .with_hint("make it readable, or set `COMPOSE_DISABLE_ENV_FILE=1`"),
            ),
            Err(e) => diags.push(
                Diagnostic::error(Loc::file_only(&f), "", format!("cannot read env file `{}`: {e}", display_path(&f)))
                    .with_hint("check the path given with `--env-file` or `COMPOSE_ENV_FILES`"),
            ),
        }
    }
    vars
}

fn env_file_error(file: &Path, e: &dotenv::DotenvError) -> Diagnostic {
    Diagnostic::error(Loc::line_start(file, e.line), "", format!("invalid env file: {}", e.message))
}

/// How compose reads a boolean environment variable (`COMPOSE_DISABLE_ENV_FILE`,
/// `COMPOSE_IGNORE_ORPHANS`, …): Go's `strconv.ParseBool` true values.
pub fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "True" | "TRUE")
}

fn enabled_profiles(opts: &LoadOptions, env: &IndexMap<String, String>) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts
            .profiles
            .iter()
            .flat_map(|p| p.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    env.get("COMPOSE_PROFILES")
        .map(|p| p.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// Removes services whose profiles are not enabled; returns them (for better errors later).
fn apply_profiles(root: &mut Node, enabled: &[String], named: &[String]) -> Vec<(String, Node)> {
    let all = enabled.iter().any(|p| p == "*");
    let Some(services) = root.as_map_mut().and_then(|m| m.get_mut("services")).and_then(Node::as_map_mut) else {
        return Vec::new();
    };
    let inactive: Vec<String> = services
        .iter()
        .filter(|(name, svc)| {
            let profiles: Vec<String> = svc
                .get("profiles")
                .and_then(Node::as_seq)
                .map(|s| s.iter().filter_map(Node::scalar_string).collect())
                .unwrap_or_default();
            !(profiles.is_empty() || all || named.contains(name) || profiles.iter().any(|p| enabled.contains(p)))
        })
        .map(|(n, _)| n.clone())
        .collect();
    inactive.into_iter().filter_map(|n| services.shift_remove(&n).map(|s| (n, s))).collect()
}

/// Per-file processing shared by the main files, included files and `extends` targets.
struct FileCtx<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    interpolate: bool,
    name: &'a str,
    unset: BTreeSet<(String, Loc)>,
    include_stack: Vec<PathBuf>,
    /// Services whose `extends` failed (their other problems are knock-ons).
    failed_extends: BTreeSet<String>,
    /// What included files' own `.env`/`env_file` set and the environment does not: a secret
    /// or config of an included file may come from it (as in compose).
    included_env: IndexMap<String, String>,
}

impl FileCtx<'_> {
    fn interpolate(&mut self, tree: &mut Node, lookup: &dyn Fn(&str) -> Option<String>, diags: &mut Diagnostics) {
        if self.interpolate {
            interpolate::interpolate_tree(tree, "", lookup, &mut self.unset, diags);
            casts::cast_tree(tree, diags);
        }
    }

    /// Interpolate → include → extends, for one file.
    fn process(&mut self, file: &Path, mut tree: Node, diags: &mut Diagnostics) -> Node {
        let lookup = self.lookup;
        self.interpolate(&mut tree, lookup, diags);
        self.includes(file, &mut tree, diags);
        let interpolate = self.interpolate;
        let read = |p: &Path| -> Result<Node, Diagnostic> {
            let mut t = read_yaml(p)?;
            if interpolate {
                let mut d = Diagnostics::default();
                interpolate::interpolate_tree(&mut t, "", lookup, &mut BTreeSet::new(), &mut d);
                casts::cast_tree(&mut t, &mut d);
                if let Some(first) = d.errors().next() {
                    return Err(first.clone());
                }
            }
            Ok(t)
        };
        self.failed_extends.extend(extends::resolve(&mut tree, file, &read, diags));
        tree
    }

    /// Loads each `include` entry as a project of its own and adds its resources.
    fn includes(&mut self, file: &Path, tree: &mut Node, diags: &mut Diagnostics) {
        let Some(entries) = tree.get("include").cloned() else {
            return;
        };
        let Some(items) = entries.as_seq() else {
            diags.push(Diagnostic::error(
                entries.loc.clone(),
                "include",
                format!("expected a list, found {}", entries.kind()),
            ));
            return;
        };
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for (i, item) in items.iter().enumerate() {
            let path = format!("include[{i}]");
            let (paths, project_dir, env_files): (Vec<String>, Option<String>, Vec<String>) = match &item.value {
                Value::Str(s) => (vec![s.clone()], None, Vec::new()),
                Value::Map(m) => {
                    let list = |k: &str| -> Vec<String> {
                        match m.get(k).map(|n| &n.value) {
                            Some(Value::Str(s)) => vec![s.clone()],
                            Some(Value::Seq(v)) => v.iter().filter_map(Node::scalar_string).collect(),
                            _ => Vec::new(),
                        }
                    };
                    (list("path"), m.get("project_directory").and_then(Node::scalar_string), list("env_file"))
                }
                _ => {
                    diags.push(Diagnostic::error(item.loc.clone(), path, "expected a path or a mapping with `path`"));
                    continue;
                }
            };
            if paths.is_empty() {
                diags.push(Diagnostic::error(item.loc.clone(), path, "an include needs a `path`"));
                continue;
            }
            let files: Vec<PathBuf> =
                paths.iter().map(|p| PathBuf::from(canonical::volumes::resolve_path(p, &dir, None))).collect();
            if let Some(cycle) = files.iter().find(|f| self.include_stack.contains(f)) {
                diags.push(Diagnostic::error(
                    item.loc.clone(),
                    path,
                    format!(
                        "`{}` includes itself (through {})",
                        display_path(cycle),
                        self.include_stack.iter().map(|p| display_path(p)).collect::<Vec<_>>().join(" -> ")
                    ),
                ));
                continue;
            }
            let sub_dir = project_dir
                .map(|d| PathBuf::from(canonical::volumes::resolve_path(&d, &dir, None)))
                .unwrap_or_else(|| files[0].parent().unwrap_or(Path::new("/")).to_path_buf());
            // The included project's own `.env` (or `env_file`) under the shell environment.
            let env_paths: Vec<PathBuf> = if env_files.is_empty() {
                vec![sub_dir.join(".env")]
            } else {
                env_files.iter().map(|e| PathBuf::from(canonical::volumes::resolve_path(e, &dir, None))).collect()
            };
            let mut own: IndexMap<String, String> = IndexMap::new();
            for e in env_paths {
                if let Ok(text) = files::read_text(&e) {
                    let l = |n: &str| (self.lookup)(n);
                    match dotenv::parse(&text, &l) {
                        Ok(v) => own.extend(v),
                        Err(err) => diags.push(env_file_error(&e, &err)),
                    }
                }
            }
            let parent = self.lookup;
            for (k, v) in &own {
                if parent(k).is_none() {
                    self.included_env.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let sub_lookup = move |n: &str| parent(n).or_else(|| own.get(n).cloned());
            let mut sub = FileCtx {
                lookup: &sub_lookup,
                interpolate: self.interpolate,
                name: self.name,
                unset: BTreeSet::new(),
                include_stack: self.include_stack.clone(),
                failed_extends: BTreeSet::new(),
                included_env: IndexMap::new(),
            };
            sub.include_stack.extend(files.iter().cloned());
            let mut merged: Option<Node> = None;
            for f in &files {
                match read_yaml(f) {
                    Ok(t) => {
                        let t = sub.process(f, t, diags);
                        merged = Some(match merged {
                            None => merge::strip_reset(t),
                            Some(m) => merge::merge_files(m, t),
                        });
                    }
                    Err(d) => diags.push(Diagnostic { path: path.clone(), ..d }),
                }
            }
            self.unset.extend(sub.unset);
            self.failed_extends.extend(sub.failed_extends);
            for (k, v) in sub.included_env {
                self.included_env.entry(k).or_insert(v);
            }
            let Some(mut inc) = merged else { continue };
            canonical::canonicalize(
                &mut inc,
                &canonical::Context {
                    project_name: self.name,
                    project_dir: &sub_dir,
                    lookup: &sub_lookup,
                    uninterpolated: !self.interpolate,
                },
                diags,
            );
            add_included(tree, inc, &files[0], diags);
        }
    }
}

/// Copies the resources of an included project in; a name defined on both sides is an error.
fn add_included(tree: &mut Node, inc: Node, inc_file: &Path, diags: &mut Diagnostics) {
    let loc = tree.loc.clone();
    let Some(top) = tree.as_map_mut() else { return };
    let Value::Map(inc_top) = inc.value else {
        return;
    };
    for (kind, section) in inc_top {
        if !matches!(kind.as_str(), "services" | "networks" | "volumes" | "secrets" | "configs") {
            continue;
        }
        let Value::Map(items) = section.value else {
            continue;
        };
        let target = top.entry(kind.clone()).or_insert_with(|| Node::map(loc.clone()));
        if target.is_null() {
            *target = Node::map(loc.clone());
        }
        let Some(t) = target.as_map_mut() else {
            continue;
        };
        for (name, def) in items {
            if let Some(existing) = t.get(&name) {
                // An identical network or volume (e.g. the implicit default) is not a conflict.
                if kind != "services" && existing.to_json() == def.to_json() {
                    continue;
                }
                diags.push(
                    Diagnostic::error(
                        existing.loc.clone(),
                        format!("{kind}.{name}"),
                        format!("`{name}` is also defined by the included file `{}`", display_path(inc_file)),
                    )
                    .with_hint("included resources are not merged: rename one of them, or use `extends`"),
                );
                continue;
            }
            t.insert(name, def);
        }
    }
}
