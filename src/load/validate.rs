//! Semantic validation of a typed project: references to undefined services, networks,
//! volumes, secrets and configs; dependency cycles; keys that contradict each other. All
//! problems are collected, each at the location of the key it concerns. Also the one check made
//! on each file's tree before merging: the shape of `services` and its names.

use crate::diag::{Diagnostic, Diagnostics, Loc, did_you_mean};
use crate::graph::{Graph, implicit_dependencies};
use crate::load::yaml::Node;
use crate::model::Project;

/// Location of `path` in the source tree, or of its deepest existing ancestor.
pub fn loc_of(root: &Node, path: &[&str]) -> Loc {
    let mut cur = root;
    for p in path {
        let next = match p.parse::<usize>() {
            Ok(i) if cur.as_seq().is_some() => cur.as_seq().and_then(|s| s.get(i)),
            _ => cur.get(p),
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur.loc.clone()
}

/// `selected`: the services named on the command line (all when empty). Only they and their
/// dependencies take part in the `container_name` check, as compose checks the project it
/// narrowed to them (`up web` is fine while two other services share a name).
pub fn validate(p: &Project, root: &Node, selected: Option<&[String]>, diags: &mut Diagnostics) {
    // `None`: no `container_name` check at all.
    let (check_names, selected) = (selected.is_some(), selected.unwrap_or_default());
    let mut in_scope: std::collections::HashSet<&str> = selected.iter().map(String::as_str).collect();
    let mut todo: Vec<&str> = in_scope.iter().copied().collect();
    while let Some(s) = todo.pop() {
        for d in p.services.get(s).iter().flat_map(|svc| svc.depends_on.keys()) {
            if in_scope.insert(d.as_str()) {
                todo.push(d.as_str());
            }
        }
    }
    // A service the typed model left out (it has a type error, reported) is still defined:
    // what refers to it is not in error too.
    let in_tree = root.get("services").and_then(Node::as_map);
    let is_defined = |s: &str| p.services.contains_key(s) || in_tree.is_some_and(|m| m.contains_key(s));
    let names: Vec<&str> = match in_tree {
        Some(m) => m.keys().map(String::as_str).collect(),
        None => p.services.keys().map(String::as_str).collect(),
    };
    // The first service to take each `container_name`.
    let mut container_names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let undefined = |kind: &str, what: &str, known: &[&str], disabled: bool| -> (String, Option<String>) {
        let msg = format!("{kind} `{what}` is not defined");
        let hint = if disabled {
            Some(format!(
                "`{what}` is disabled by its profiles: enable one with `--profile`, or mark the dependency `required: false`"
            ))
        } else {
            did_you_mean(what, known.iter().copied()).map(|s| format!("did you mean `{s}`?"))
        };
        (msg, hint)
    };
    let push = |diags: &mut Diagnostics, loc: Loc, path: String, (msg, hint): (String, Option<String>)| {
        let mut d = Diagnostic::error(loc, path, msg);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        diags.push(d);
    };

    for (name, svc) in &p.services {
        let at = |rest: &[&str]| {
            let mut v = vec!["services", name.as_str()];
            v.extend_from_slice(rest);
            loc_of(root, &v)
        };
        if let Some(serde_json::Value::Object(models)) = &svc.models {
            for m in models.keys().filter(|m| !p.models.contains_key(*m)) {
                let known: Vec<&str> = p.models.keys().map(String::as_str).collect();
                push(
                    diags,
                    at(&["models", m]),
                    format!("services.{name}.models.{m}"),
                    undefined("model", m, &known, false),
                );
            }
        }
        // Two services cannot share a container name: the second would take the first's
        // container (compose refuses this before creating anything).
        let checked = check_names && (selected.is_empty() || in_scope.contains(name.as_str()));
        let taken_by =
            svc.container_name.as_deref().filter(|_| checked).and_then(|cn| match container_names.entry(cn) {
                std::collections::hash_map::Entry::Occupied(first) => Some((cn, *first.get())),
                std::collections::hash_map::Entry::Vacant(free) => {
                    free.insert(name);
                    None
                }
            });
        if let Some((cn, other)) = taken_by {
            diags.push(
                Diagnostic::error(
                    at(&["container_name"]),
                    format!("services.{name}.container_name"),
                    format!("container name \"{cn}\" is already in use by service \"{other}\""),
                )
                .with_hint("give each service its own `container_name`, or remove it and let compose name them"),
            );
        }
        if svc.network_mode.is_some() && !svc.networks.is_empty() {
            diags.push(
                Diagnostic::error(
                    at(&["network_mode"]),
                    format!("services.{name}.network_mode"),
                    "`network_mode` and `networks` exclude each other",
                )
                .with_hint("keep `network_mode` (the service shares that network stack) or `networks`, not both"),
            );
        }
        if let (Some(scale), Some(replicas)) = (svc.scale, svc.deploy.as_ref().and_then(|d| d.replicas))
            && scale != replicas
        {
            diags.push(
                Diagnostic::error(
                    at(&["scale"]),
                    format!("services.{name}.scale"),
                    format!("`scale: {scale}` and `deploy.replicas: {replicas}` disagree"),
                )
                .with_hint("set one of them, or give both the same value"),
            );
        }
        if let (Some(platform), Some(b)) = (&svc.platform, &svc.build)
            && !b.platforms.is_empty()
            && !b.platforms.contains(platform)
        {
            diags.push(
                Diagnostic::error(
                    at(&["platform"]),
                    format!("services.{name}.platform"),
                    format!("`platform: {platform}` is not one of `build.platforms` ({})", b.platforms.join(", ")),
                )
                .with_hint(format!("add `{platform}` to `build.platforms`, or change `platform`")),
            );
        }
        if let Some(c) = &svc.container_name
            && !valid_container_name(c)
        {
            diags.push(
                Diagnostic::error(
                    at(&["container_name"]),
                    format!("services.{name}.container_name"),
                    format!("invalid container name {c:?}"),
                )
                .with_hint("a container name starts with a letter or digit, then letters, digits, `_`, `.` or `-`"),
            );
        }
        if svc.image.is_none() && svc.build.is_none() && svc.provider.is_none() {
            diags.push(
                Diagnostic::error(
                    at(&[]),
                    format!("services.{name}"),
                    "the service has neither an `image` nor a `build` section",
                )
                .with_hint("add `image: NAME` or `build: ./DIR`"),
            );
        }
        for (dep, d) in &svc.depends_on {
            if !is_defined(dep) {
                let disabled = p.disabled.contains_key(dep);
                if !d.required {
                    continue;
                }
                push(
                    diags,
                    at(&["depends_on", dep]),
                    format!("services.{name}.depends_on.{dep}"),
                    undefined("service", dep, &names, disabled),
                );
            }
        }
        for (dep, _) in implicit_dependencies(svc) {
            if !is_defined(&dep) {
                let disabled = p.disabled.contains_key(&dep);
                push(diags, at(&[]), format!("services.{name}"), undefined("service", &dep, &names, disabled));
            }
        }
        let nets: Vec<&str> = p.networks.keys().map(String::as_str).collect();
        for net in svc.networks.keys() {
            if !p.networks.contains_key(net) {
                push(
                    diags,
                    at(&["networks", net]),
                    format!("services.{name}.networks.{net}"),
                    undefined("network", net, &nets, false),
                );
            }
        }
        if svc.network_mode.is_some()
            && !svc.networks.is_empty()
            && !(svc.networks.len() == 1 && svc.networks.contains_key("default"))
        {
            diags.push(
                Diagnostic::error(
                    at(&["network_mode"]),
                    format!("services.{name}.network_mode"),
                    "`network_mode` and `networks` cannot be used together",
                )
                .with_hint("remove one of them"),
            );
        }
        let vols: Vec<&str> = p.volumes.keys().map(String::as_str).collect();
        for (i, v) in svc.volumes.iter().enumerate() {
            if v.kind == "volume"
                && let Some(src) = &v.source
                && !p.volumes.contains_key(src)
            {
                let idx = i.to_string();
                let (msg, hint) = undefined("volume", src, &vols, false);
                let mut d = Diagnostic::error(at(&["volumes", &idx]), format!("services.{name}.volumes[{i}]"), msg);
                d = d.with_hint(hint.unwrap_or_else(|| {
                    format!("declare it under the top-level `volumes:` key, or write `./{src}` for a bind mount")
                }));
                diags.push(d);
            }
        }
        for (kind, refs, defined) in [("secret", &svc.secrets, &p.secrets), ("config", &svc.configs, &p.configs)] {
            let known: Vec<&str> = defined.keys().map(String::as_str).collect();
            for (i, r) in refs.iter().enumerate() {
                if !defined.contains_key(&r.source) {
                    let key = format!("{kind}s");
                    let idx = i.to_string();
                    push(
                        diags,
                        at(&[&key, &idx]),
                        format!("services.{name}.{kind}s[{i}]"),
                        undefined(kind, &r.source, &known, false),
                    );
                }
            }
        }
        if svc.container_name.is_some() && svc.replicas() > 1 {
            diags.push(
                Diagnostic::error(
                    at(&["container_name"]),
                    format!("services.{name}.container_name"),
                    format!("`container_name` cannot be used with {} replicas: names must be unique", svc.replicas()),
                )
                .with_hint("remove `container_name`, or set the service to one replica"),
            );
        }
        if let Some(r) = &svc.restart {
            let ok = matches!(r.as_str(), "no" | "always" | "unless-stopped" | "on-failure")
                || r.strip_prefix("on-failure:").is_some_and(|n| n.parse::<u32>().is_ok());
            if !ok {
                // compose accepts any text here (the engine refuses it at create): a warning.
                diags.push(
                    Diagnostic::warning(
                        at(&["restart"]),
                        format!("services.{name}.restart"),
                        format!("unknown restart policy {r:?}: the engine will refuse it"),
                    )
                    .with_hint("use one of `no`, `always`, `on-failure[:N]`, `unless-stopped`"),
                );
            }
        }
        if let Some(pp) = &svc.pull_policy {
            let ok = matches!(
                pp.as_str(),
                "always" | "never" | "missing" | "build" | "if_not_present" | "daily" | "weekly" | "refresh"
            ) || pp.strip_prefix("every_").is_some_and(|d| crate::model::Duration::parse(d).is_ok());
            if !ok {
                diags.push(
                    Diagnostic::error(
                        at(&["pull_policy"]),
                        format!("services.{name}.pull_policy"),
                        format!("invalid pull policy {pp:?}"),
                    )
                    .with_hint("use `always`, `never`, `missing`, `build`, `daily`, `weekly` or `every_<duration>`"),
                );
            }
        }
        if let Some(hc) = &svc.healthcheck
            && let Some(first) = hc.test.first()
            && !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE")
        {
            diags.push(
                Diagnostic::error(
                    at(&["healthcheck", "test"]),
                    format!("services.{name}.healthcheck.test"),
                    format!("a healthcheck test list must start with CMD, CMD-SHELL or NONE, not {first:?}"),
                )
                .with_hint("write [\"CMD\", \"prog\", \"arg\"] or a string for a shell command"),
            );
        }
    }

    for cycle in Graph::new(p).cycles() {
        let first = &cycle[0];
        diags.push(
            Diagnostic::error(
                loc_of(root, &["services", first, "depends_on"]),
                format!("services.{first}.depends_on"),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            )
            .with_hint("services cannot wait on each other: remove one of these dependencies"),
        );
    }
}

/// What compose's schema says of `services` in each file: a mapping (not `services:` with no
/// value), keyed by names of letters, digits, `.`, `_` and `-`.
pub fn check_services(tree: &Node, diags: &mut Diagnostics) {
    // compose's schema wants these sections to be mappings: `networks:` alone is refused.
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(n) = tree.get(kind)
            && n.is_null()
        {
            diags.push(
                Diagnostic::error(n.loc.clone(), kind, format!("`{kind}` must be a mapping, not empty"))
                    .with_hint(format!("remove `{kind}:`, or write `{kind}: {{}}`")),
            );
        }
    }
    let Some(services) = tree.get("services") else { return };
    if services.is_null() {
        diags.push(
            Diagnostic::error(services.loc.clone(), "services", "must be a mapping of services, not empty")
                .with_hint("list the services under it, or write `services: {}`"),
        );
        return;
    }
    for (name, svc) in services.as_map().into_iter().flatten() {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            diags.push(
                Diagnostic::error(
                    svc.loc.clone(),
                    format!("services.{name}"),
                    format!("invalid service name `{name}`"),
                )
                .with_hint("a service name has only ASCII letters, digits, `.`, `_` and `-`"),
            );
        }
    }
}

/// compose's schema pattern for `container_name`, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, which (unanchored,
/// as JSON Schema patterns are) asks for a letter or digit followed by one more name character
/// somewhere in the name.
fn valid_container_name(name: &str) -> bool {
    name.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_alphanumeric() && (w[1].is_ascii_alphanumeric() || matches!(w[1], b'_' | b'.' | b'-')))
}
