//! Canonical form: every short syntax becomes its long form, relative paths become absolute,
//! durations and sizes are normalised, `env_file`s are read into `environment`, and the implicit
//! `default` network appears. Works on the merged source tree so each problem keeps its location;
//! shapes it does not recognise are left for typed validation to report.

mod depends_on;
mod env_file;
mod model_form;
pub mod ports;
mod shapes;
pub mod volumes;

use crate::load::yaml::YamlMap;
use std::path::Path;

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::merge::to_map;
use crate::load::yaml::{Node, Value};
use depends_on::implied_dependencies;
use env_file::{env_files, label_files, read_env_files, read_label_files};
use shapes::{
    bytes, command, duration, extra_hosts, file_refs, float, is_remote_context, lf_items, map_of_strings,
    resolve_null_values, string_list, stringify_values,
};
use volumes::resolve_path;

pub use model_form::model_form;

/// What canonicalisation needs to know about the project.
pub struct Context<'a> {
    pub project_name: &'a str,
    pub project_dir: &'a Path,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Variables were left unexpanded (`--no-interpolate`): a value holding `$` is kept as text.
    pub uninterpolated: bool,
}

impl Context<'_> {
    fn home(&self) -> Option<String> {
        (self.lookup)("HOME")
    }
}

/// Canonicalises the whole project tree in place.
pub fn canonicalize(root: &mut Node, ctx: &Context, diags: &mut Diagnostics) {
    let Some(top) = root.as_map_mut() else { return };
    let mut uses_default_network = false;
    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for (name, svc) in services.iter_mut() {
            if svc.is_null() {
                *svc = Node::map(svc.loc.clone());
            }
            let path = format!("services.{name}");
            service(svc, &path, ctx, diags);
            if let Some(m) = svc.as_map()
                && m.get("networks").and_then(Node::as_map).is_some_and(|n| n.contains_key("default"))
            {
                uses_default_network = true;
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(section) = top.get_mut(kind) else {
            continue;
        };
        if section.is_null() {
            *section = Node::map(section.loc.clone());
        }
        let Some(m) = section.as_map_mut() else {
            continue;
        };
        for (key, def) in m.iter_mut() {
            if def.is_null() {
                *def = Node::map(def.loc.clone());
            }
            top_level_object(key, def, ctx);
            if kind == "volumes" {
                local_bind_device(def, ctx);
            }
        }
    }
    let loc = root.loc.clone();
    if uses_default_network && let Some(top) = root.as_map_mut() {
        let nets = top.entry("networks".to_string()).or_insert_with(|| Node::map(loc.clone()));
        if let Some(n) = nets.as_map_mut()
            && !n.contains_key("default")
        {
            let mut def = Node::map(loc);
            top_level_object("default", &mut def, ctx);
            n.insert("default".into(), def);
        }
    }
}

/// A `local` volume that is a bind mount in disguise (`o: bind`): its `device` is a path, made
/// absolute against the project directory as compose does.
fn local_bind_device(def: &mut Node, ctx: &Context) {
    let Some(m) = def.as_map_mut() else { return };
    if m.get("driver").and_then(Node::as_str) != Some("local") {
        return;
    }
    let Some(opts) = m.get_mut("driver_opts").and_then(Node::as_map_mut) else { return };
    if opts.get("o").and_then(Node::as_str) != Some("bind") {
        return;
    }
    if let Some(d) = opts.get_mut("device")
        && let Some(s) = d.as_str()
    {
        d.value = Value::Str(resolve_path(s, ctx.project_dir, ctx.home().as_deref()));
    }
}

/// A top-level network, volume, secret or config: default `name`, legacy `external`, absolute `file`.
fn top_level_object(key: &str, def: &mut Node, ctx: &Context) {
    let def_loc = def.loc.clone();
    let Some(m) = def.as_map_mut() else { return };
    // Legacy `external: {name: x}` means `external: true, name: x`.
    if let Some(ext) = m.get("external").cloned()
        && let Some(name) = ext.get("name").and_then(Node::scalar_string)
    {
        m.insert("external".into(), Node::new(Value::Bool(true), ext.loc.clone()));
        m.insert("name".into(), Node::str(name, ext.loc.clone()));
    }
    let external = matches!(m.get("external").map(|n| &n.value), Some(Value::Bool(true)));
    if !m.contains_key("name") {
        let name = if external { key.to_string() } else { format!("{}_{key}", ctx.project_name) };
        m.insert("name".into(), Node::str(name, def_loc));
    }
    for k in ["labels", "driver_opts"] {
        map_of_strings(m, k);
    }
    if let Some(f) = m.get_mut("file")
        && let Some(s) = f.as_str()
    {
        f.value = Value::Str(resolve_path(s, ctx.project_dir, ctx.home().as_deref()));
    }
}

fn service(svc: &mut Node, path: &str, ctx: &Context, diags: &mut Diagnostics) {
    let loc = svc.loc.clone();
    let Some(m) = svc.as_map_mut() else { return };
    let home = ctx.home();
    let home = home.as_deref();
    // compose does not print (and so does not keep) a scalar key that is empty, typically one
    // that interpolated to nothing: `image: ${IMAGE}` with IMAGE unset is no image at all.
    m.retain(|k, v| {
        !matches!(&v.value, Value::Str(s) if s.is_empty())
            || matches!(k.as_str(), "container_name" | "command" | "entrypoint")
    });

    // build
    if let Some(b) = m.get_mut("build") {
        if let Some(s) = b.as_str() {
            let mut bm = YamlMap::default();
            bm.insert("context".to_string(), Node::str(s, b.loc.clone()));
            b.value = Value::Map(bm);
        }
        let bl = b.loc.clone();
        if let Some(bm) = b.as_map_mut() {
            let ctx_dir = bm.get("context").and_then(Node::as_str).unwrap_or(".").to_string();
            let abs = if is_remote_context(&ctx_dir) { ctx_dir } else { resolve_path(&ctx_dir, ctx.project_dir, home) };
            bm.insert("context".into(), Node::str(abs, bl.clone()));
            if !bm.contains_key("dockerfile") && !bm.contains_key("dockerfile_inline") {
                bm.insert("dockerfile".into(), Node::str("Dockerfile", bl.clone()));
            }
            if let Some(args) = bm.get_mut("args") {
                *args = to_map(args.clone());
                resolve_null_values(args, ctx);
                // An argument without a value that the environment does not set is dropped.
                if let Some(am) = args.as_map_mut() {
                    am.retain(|_, v| !v.is_null());
                }
                stringify_values(args);
            }
            for k in ["labels", "additional_contexts"] {
                map_of_strings(bm, k);
            }
            if let Some(extra) = bm.get_mut("additional_contexts").and_then(Node::as_map_mut) {
                for v in extra.values_mut() {
                    if let Some(s) = v.as_str()
                        && !s.contains("://")
                        && !s.starts_with("service:")
                        && !is_remote_context(s)
                    {
                        v.value = Value::Str(resolve_path(s, ctx.project_dir, home));
                    }
                }
            }
            extra_hosts(bm);
            if let Some(s) = bm.get_mut("shm_size") {
                bytes(s, &format!("{path}.build.shm_size"), diags);
            }
            for k in ["cache_from", "cache_to", "tags", "platforms", "ssh"] {
                string_list(bm, k);
            }
            if let Some(secrets) = bm.get_mut("secrets") {
                file_refs(secrets);
            }
        }
    }

    for key in ["command", "entrypoint"] {
        if let Some(c) = m.get_mut(key) {
            command(c, &format!("{path}.{key}"), diags);
        }
    }

    // environment, then env_file values underneath it (environment wins)
    if let Some(e) = m.get_mut("environment") {
        *e = to_map(e.clone());
        resolve_null_values(e, ctx);
        stringify_values(e);
    }
    // Like compose, the files are read into `environment` and then dropped.
    if let Some(mut files) = m.shift_remove("env_file") {
        env_files(&mut files, ctx);
        let svc_env: IndexMap<String, String> = m
            .get("environment")
            .and_then(Node::as_map)
            .map(|e| e.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
            .unwrap_or_default();
        let loaded = read_env_files(&files, path, ctx, &|k| svc_env.get(k).cloned(), diags);
        if !loaded.is_empty() {
            let env = m.entry("environment".to_string()).or_insert_with(|| Node::map(loc.clone()));
            if let Some(em) = env.as_map_mut() {
                for (k, v) in loaded {
                    em.entry(k).or_insert(v);
                }
            }
        }
    }

    for k in ["labels", "annotations", "sysctls"] {
        map_of_strings(m, k);
    }
    for k in [
        "dns",
        "dns_search",
        "dns_opt",
        "tmpfs",
        "label_file",
        "expose",
        "cap_add",
        "cap_drop",
        "security_opt",
        "group_add",
    ] {
        string_list(m, k);
    }
    // Like compose, label files are read into `labels` (which win) and then dropped.
    if let Some(mut lf) = m.shift_remove("label_file") {
        label_files(&mut lf, ctx);
        let loaded = read_label_files(&lf, path, ctx, diags);
        if !loaded.is_empty() {
            let labels = m.entry("labels".to_string()).or_insert_with(|| Node::map(loc.clone()));
            if let Some(lm) = labels.as_map_mut() {
                for (k, v) in loaded {
                    lm.entry(k).or_insert(v);
                }
            }
        }
    }
    extra_hosts(m);

    if let Some(p) = m.get_mut("ports") {
        ports(p, &format!("{path}.ports"), ctx.uninterpolated, diags);
    }
    if let Some(v) = m.get_mut("volumes") {
        service_volumes(v, &format!("{path}.volumes"), ctx, diags);
    }
    if let Some(d) = m.get_mut("depends_on") {
        *d = to_map(d.clone());
        if let Some(dm) = d.as_map_mut() {
            for dep in dm.values_mut() {
                if dep.is_null() {
                    *dep = Node::map(dep.loc.clone());
                }
                let l = dep.loc.clone();
                if let Some(x) = dep.as_map_mut() {
                    x.entry("condition".into()).or_insert_with(|| Node::str("service_started", l.clone()));
                    x.entry("required".into()).or_insert_with(|| Node::new(Value::Bool(true), l));
                }
            }
        }
    }
    implied_dependencies(m, &loc);
    if m.get("pull_policy").and_then(Node::as_str) == Some("if_not_present") {
        m.insert("pull_policy".into(), Node::str("missing", loc.clone()));
    }
    if let Some(n) = m.get_mut("networks") {
        *n = to_map(n.clone());
    }
    // A service run by a provider joins no network.
    if !m.contains_key("network_mode")
        && !m.contains_key("provider")
        && m.get("networks").and_then(Node::as_map).is_none_or(|n| n.is_empty())
    {
        let mut nets = YamlMap::default();
        nets.insert("default".to_string(), Node::new(Value::Null, loc.clone()));
        m.insert("networks".into(), Node::new(Value::Map(nets), loc.clone()));
    }
    if let Some(h) = m.get_mut("healthcheck")
        && let Some(hm) = h.as_map_mut()
    {
        if let Some(t) = hm.get_mut("test")
            && let Some(s) = t.as_str()
        {
            let s = s.to_string();
            t.value = Value::Seq(vec![Node::str("CMD-SHELL", t.loc.clone()), Node::str(s, t.loc.clone())]);
        }
        for k in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(d) = hm.get_mut(k) {
                duration(d, &format!("{path}.healthcheck.{k}"), diags);
            }
        }
    }
    if let Some(d) = m.get_mut("stop_grace_period") {
        duration(d, &format!("{path}.stop_grace_period"), diags);
    }
    for k in ["mem_limit", "mem_reservation", "memswap_limit", "shm_size"] {
        if let Some(b) = m.get_mut(k) {
            bytes(b, &format!("{path}.{k}"), diags);
        }
    }
    if let Some(c) = m.get_mut("cpus") {
        float(c);
    }
    if let Some(b) = m.get_mut("blkio_config").and_then(Node::as_map_mut) {
        for k in ["device_read_bps", "device_read_iops", "device_write_bps", "device_write_iops"] {
            for (i, dev) in b.get_mut(k).and_then(lf_items).into_iter().flatten().enumerate() {
                if let Some(r) = dev.as_map_mut().and_then(|d| d.get_mut("rate")) {
                    bytes(r, &format!("{path}.blkio_config.{k}[{i}].rate"), diags);
                }
            }
        }
    }
    if let Some(c) = m.get_mut("configs") {
        // compose leaves a config's target unset (the engine side puts it at `/<source>`).
        file_refs(c);
    }
    for (k, default_dir) in [("secrets", "/run/secrets/")] {
        if let Some(s) = m.get_mut(k) {
            file_refs(s);
            for it in lf_items(s).into_iter().flatten() {
                let l = it.loc.clone();
                if let Some(fm) = it.as_map_mut()
                    && !fm.contains_key("target")
                    && let Some(src) = fm.get("source").and_then(Node::as_str)
                {
                    let t = format!("{default_dir}{src}");
                    fm.insert("target".into(), Node::str(t, l));
                }
            }
        }
    }
    if let Some(d) = m.get_mut("devices")
        && let Some(items) = lf_items(d)
    {
        for it in items {
            if let Some(s) = it.as_str() {
                let parts: Vec<&str> = s.split(':').collect();
                let mut dm = YamlMap::default();
                let l = it.loc.clone();
                dm.insert("source".to_string(), Node::str(parts[0], l.clone()));
                dm.insert("target".to_string(), Node::str(*parts.get(1).unwrap_or(&parts[0]), l.clone()));
                dm.insert("permissions".to_string(), Node::str(*parts.get(2).unwrap_or(&"rwm"), l));
                it.value = Value::Map(dm);
            }
        }
    }
    // `models: [a]` is `models: {a: null}`.
    if let Some(md) = m.get_mut("models") {
        *md = to_map(md.clone());
    }
    // `gpus: all` is one request for every device, as compose writes it.
    if let Some(g) = m.get_mut("gpus")
        && g.as_str() == Some("all")
    {
        let mut req = YamlMap::default();
        req.insert("count".to_string(), Node::new(Value::Int(-1), g.loc.clone()));
        g.value = Value::Seq(vec![Node::new(Value::Map(req), g.loc.clone())]);
    }
    // A provider's options are lists of strings (a scalar is a list of one).
    if let Some(opts) =
        m.get_mut("provider").and_then(Node::as_map_mut).and_then(|p| p.get_mut("options")).and_then(Node::as_map_mut)
    {
        for v in opts.values_mut() {
            let items: Vec<Node> = match &v.value {
                Value::Seq(items) => items.clone(),
                _ => vec![v.clone()],
            };
            let strings =
                items.into_iter().map(|it| Node::str(it.scalar_string().unwrap_or_default(), it.loc.clone())).collect();
            v.value = Value::Seq(strings);
        }
    }
    if let Some(dep) = m.get_mut("deploy")
        && let Some(dm) = dep.as_map_mut()
    {
        map_of_strings(dm, "labels");
        for cfg in ["update_config", "rollback_config"] {
            if let Some(c) = dm.get_mut(cfg).and_then(Node::as_map_mut) {
                for k in ["delay", "monitor"] {
                    if let Some(d) = c.get_mut(k) {
                        duration(d, &format!("{path}.deploy.{cfg}.{k}"), diags);
                    }
                }
            }
        }
        if let Some(rp) = dm.get_mut("restart_policy").and_then(Node::as_map_mut) {
            for k in ["delay", "window"] {
                if let Some(d) = rp.get_mut(k) {
                    duration(d, &format!("{path}.deploy.restart_policy.{k}"), diags);
                }
            }
        }
        if let Some(res) = dm.get_mut("resources").and_then(Node::as_map_mut) {
            for which in ["limits", "reservations"] {
                if let Some(r) = res.get_mut(which).and_then(Node::as_map_mut) {
                    if let Some(c) = r.get_mut("cpus") {
                        float(c);
                    }
                    if let Some(b) = r.get_mut("memory") {
                        bytes(b, &format!("{path}.deploy.resources.{which}.memory"), diags);
                    }
                }
            }
        }
    }
    for k in ["post_start", "pre_stop"] {
        if let Some(hooks) = m.get_mut(k)
            && let Some(items) = lf_items(hooks)
        {
            for h in items {
                hook(h, path, diags);
            }
        }
    }
    if let Some(dev) = m.get_mut("develop")
        && let Some(watch) = dev.as_map_mut().and_then(|d| d.get_mut("watch")).and_then(|w| lf_items(w))
    {
        for rule in watch {
            if let Some(rm) = rule.as_map_mut() {
                if let Some(p) = rm.get_mut("path")
                    && let Some(s) = p.as_str()
                {
                    p.value = Value::Str(resolve_path(s, ctx.project_dir, home));
                }
                if let Some(e) = rm.get_mut("exec") {
                    hook(e, path, diags);
                }
                string_list(rm, "ignore");
                string_list(rm, "include");
            }
        }
    }
    if let Some(u) = m.get_mut("ulimits").and_then(Node::as_map_mut) {
        for v in u.values_mut() {
            if let Some(s) = v.as_str()
                && let Ok(n) = s.parse::<i64>()
            {
                v.value = Value::Int(n);
            }
        }
    }
    // `expose` values are strings in canonical form.
    if let Some(e) = m.get_mut("expose")
        && let Some(items) = lf_items(e)
    {
        for it in items {
            if let Some(s) = it.scalar_string() {
                it.value = Value::Str(s);
            }
        }
    }
}

fn hook(h: &mut Node, path: &str, diags: &mut Diagnostics) {
    if let Some(hm) = h.as_map_mut() {
        if let Some(c) = hm.get_mut("command") {
            command(c, &format!("{path}.command"), diags);
        }
        if let Some(e) = hm.get_mut("environment") {
            *e = to_map(e.clone());
            stringify_values(e);
        }
    }
}

fn ports(p: &mut Node, path: &str, uninterpolated: bool, diags: &mut Diagnostics) {
    let Some(items) = lf_items(p) else { return };
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.drain(..).enumerate() {
        match &it.value {
            Value::Str(_) | Value::Int(_) => {
                let spec = it.scalar_string().unwrap_or_default();
                if uninterpolated && spec.contains('$') {
                    out.push(it);
                    continue;
                }
                match ports::parse_port(&spec) {
                    Ok(parsed) => out.extend(parsed.iter().map(|port| {
                        Node::from_json(&serde_json::to_value(port).unwrap_or_default(), &it.loc)
                    })),
                    Err(e) => diags.push(
                        Diagnostic::error(it.loc.clone(), format!("{path}[{i}]"), format!("invalid port {spec:?}: {e}"))
                            .with_hint("use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. \"8080:80\" or \"127.0.0.1:5432:5432/tcp\""),
                    ),
                }
            }
            Value::Map(_) => {
                let mut it = it;
                let l = it.loc.clone();
                if let Some(m) = it.as_map_mut() {
                    if let Some(pb) = m.get_mut("published")
                        && let Some(s) = pb.scalar_string()
                    {
                        pb.value = Value::Str(s);
                    }
                    if let Some(t) = m.get_mut("target")
                        && let Some(s) = t.as_str()
                        && let Ok(n) = s.parse::<i64>()
                    {
                        t.value = Value::Int(n);
                    }
                    m.entry("mode".into()).or_insert_with(|| Node::str("ingress", l.clone()));
                    m.entry("protocol".into()).or_insert_with(|| Node::str("tcp", l));
                }
                out.push(it);
            }
            _ => out.push(it),
        }
    }
    *items = out;
}

fn service_volumes(v: &mut Node, path: &str, ctx: &Context, diags: &mut Diagnostics) {
    let home = ctx.home();
    let Some(items) = lf_items(v) else { return };
    for (i, it) in items.iter_mut().enumerate() {
        match &it.value {
            Value::Str(spec) => match volumes::parse_volume(spec, ctx.project_dir, home.as_deref()) {
                Ok(parsed) => *it = Node::from_json(&serde_json::to_value(&parsed).unwrap_or_default(), &it.loc),
                Err(e) => diags.push(
                    Diagnostic::error(it.loc.clone(), format!("{path}[{i}]"), format!("invalid volume {spec:?}: {e}"))
                        .with_hint("use SOURCE:TARGET[:ro], e.g. \"./data:/data\" or \"db-data:/var/lib/db:ro\""),
                ),
            },
            Value::Map(_) => {
                let Some(m) = it.as_map_mut() else { continue };
                // compose cleans the container path (`/data/` is `/data`).
                if let Some(t) = m.get_mut("target")
                    && let Some(s) = t.as_str()
                    && s.len() > 1
                    && s.ends_with('/')
                {
                    t.value = Value::Str(s.trim_end_matches('/').to_string());
                }
                let is_bind = m.get("type").and_then(Node::as_str) == Some("bind");
                if is_bind
                    && let Some(src) = m.get_mut("source")
                    && let Some(s) = src.as_str()
                {
                    src.value = Value::Str(resolve_path(s, ctx.project_dir, home.as_deref()));
                }
                if let Some(t) = m.get_mut("tmpfs").and_then(Node::as_map_mut)
                    && let Some(size) = t.get_mut("size")
                {
                    bytes(size, &format!("{path}[{i}].tmpfs.size"), diags);
                }
            }
            _ => {}
        }
    }
}
