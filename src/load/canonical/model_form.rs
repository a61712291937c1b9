//! `config --no-interpolate` prints compose's *model*: the files after compose-go's canonical
//! transforms, before the typed project is made. Those transforms reshape a few keys only
//! (ports, volumes, devices, depends_on, networks, secrets and configs, env and label files,
//! `build`'s context, `dns`, develop paths); every other key is printed as written
//! (`command: echo hi`, `environment: [A=1]`, `mem_limit: 1g`), and env and label files are
//! listed, not read.

use crate::load::yaml::YamlMap;

use super::Context;
use super::env_file::{env_files, label_files};
use crate::load::yaml::{Node, Value};

/// Service keys compose-go's canonical step rewrites; the canonical value is printed for them.
const TRANSFORMED: &[&str] = &[
    "build",
    "depends_on",
    "env_file",
    "label_file",
    "extends",
    "gpus",
    "networks",
    "models",
    "volumes",
    "dns",
    "devices",
    "secrets",
    "configs",
    "ports",
    "develop",
];

/// `build` keys compose-go's canonical step rewrites (the rest are printed as written).
const BUILD_TRANSFORMED: &[&str] = &["context", "dockerfile", "additional_contexts", "secrets", "ssh", "args"];

/// Rewrites the services of `canonical` to compose's model form, from `raw` (the same tree
/// before canonicalisation).
pub fn model_form(raw: &Node, canonical: &mut Node, ctx: &Context) {
    let Some(raw_services) = raw.get("services").and_then(Node::as_map) else { return };
    let Some(services) = canonical.as_map_mut().and_then(|m| m.get_mut("services")).and_then(Node::as_map_mut) else {
        return;
    };
    for (name, svc) in services.iter_mut() {
        let (Some(raw_svc), Some(m)) = (raw_services.get(name).and_then(Node::as_map), svc.as_map_mut()) else {
            continue;
        };
        service(raw_svc, m, ctx);
    }
}

/// `key` as written in `raw`, or absent when `raw` has none.
fn as_written(m: &mut YamlMap, raw: &YamlMap, key: &str) {
    match raw.get(key) {
        Some(v) => {
            m.insert(key.to_string(), v.clone());
        }
        None => {
            m.shift_remove(key);
        }
    }
}

fn service(raw: &YamlMap, m: &mut YamlMap, ctx: &Context) {
    for (k, v) in raw {
        if !TRANSFORMED.contains(&k.as_str()) && m.contains_key(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    // Env and label files are listed (paths resolved), not read into `environment` and
    // `labels`, which stay as written.
    as_written(m, raw, "environment");
    as_written(m, raw, "labels");
    if let Some(files) = raw.get("env_file") {
        let mut files = files.clone();
        env_files(&mut files, ctx);
        m.insert("env_file".into(), files);
    }
    if let Some(files) = raw.get("label_file") {
        let mut files = files.clone();
        label_files(&mut files, ctx);
        m.insert("label_file".into(), files);
    }
    // Ports are rewritten only when every one of them parses: one holding a variable does not,
    // and the list stays as written.
    if let Some(ports) = raw.get("ports")
        && ports.as_seq().is_some_and(|items| items.iter().any(|p| p.as_str().is_some_and(|s| s.contains('$'))))
    {
        m.insert("ports".into(), ports.clone());
    }
    if let (Some(raw_build), Some(build)) =
        (raw.get("build").and_then(Node::as_map), m.get_mut("build").and_then(Node::as_map_mut))
    {
        for (k, v) in raw_build {
            if !BUILD_TRANSFORMED.contains(&k.as_str()) && build.contains_key(k) {
                build.insert(k.clone(), v.clone());
            }
        }
        // Arguments as written, less those without a value.
        if let Some(args) = raw_build.get("args") {
            let mut args = args.clone();
            match &mut args.value {
                Value::Seq(items) => items.retain(|i| i.as_str().is_none_or(|s| s.contains('='))),
                Value::Map(am) => am.retain(|_, v| !v.is_null()),
                _ => {}
            }
            build.insert("args".into(), args);
        }
    }
}
