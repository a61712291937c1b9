//! Canonical source tree → typed [`Project`]. Each service and top-level object is converted on
//! its own, and every type error in it is reported, mapped back to the file, line and column of
//! the key it concerns.

use crate::load::yaml::YamlMap;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::load::node_de::NodeDe;
use crate::load::yaml::{Node, Value};
use crate::model::{FileObject, Model, Network, Project, Service, Volume};

pub const TOP_LEVEL_KEYS: [&str; 9] =
    ["name", "services", "networks", "volumes", "secrets", "configs", "models", "include", "version"];

/// Converts the canonical tree; problems go to `diags`, the objects in error are left out.
pub fn to_project(root: &Node, name: &str, diags: &mut Diagnostics) -> Project {
    to_project_with(root, name, false, diags)
}

/// As [`to_project`]; with `uninterpolated` (`config --no-interpolate`), an object that holds
/// `$` text is not checked for types it can only have once interpolated (`ports: ["${P}:80"]`).
pub fn to_project_with(root: &Node, name: &str, uninterpolated: bool, diags: &mut Diagnostics) -> Project {
    let mut project = Project { name: name.to_string(), ..Project::default() };
    let Some(top) = root.as_map() else {
        diags.push(Diagnostic::error(
            root.loc.clone(),
            "",
            format!("a compose file must be a mapping, found {}", root.kind()),
        ));
        return project;
    };
    for (k, v) in top {
        if k.starts_with("x-") {
            project.extensions.insert(k.clone(), v.to_json());
        } else if !TOP_LEVEL_KEYS.contains(&k.as_str()) {
            let mut d = Diagnostic::error(v.loc.clone(), k.clone(), format!("unknown top-level key `{k}`"));
            if let Some(s) = did_you_mean(k, TOP_LEVEL_KEYS) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
    if let Some(services) = section(top, "services", diags) {
        // Converted one by one straight into the project: a service is large, and a list of
        // them all beside the project added 4 MiB to the peak on 1000 services. (Two threads
        // were tried too: no faster, and a second allocator arena cost more memory.)
        // A service is 4 KiB: growing the map step by step would move them all again and again.
        project.services.reserve(services.len());
        for (name, node) in services {
            let (svc, own) = convert_service(name, node, uninterpolated);
            diags.extend(own);
            if let Some(svc) = svc {
                project.services.insert(name.clone(), svc);
            }
        }
    }
    objects::<Network>(top, "networks", &mut project.networks, diags);
    objects::<Volume>(top, "volumes", &mut project.volumes, diags);
    objects::<FileObject>(top, "secrets", &mut project.secrets, diags);
    objects::<FileObject>(top, "configs", &mut project.configs, diags);
    objects::<Model>(top, "models", &mut project.models, diags);
    project
}

/// One service converted, with its own problems.
fn convert_service(name: &str, node: &Node, uninterpolated: bool) -> (Option<Service>, Diagnostics) {
    let mut own = Diagnostics::default();
    let converted = convert::<Service>(node, &format!("services.{name}"), &mut own).map(|mut svc| {
        if let Some(m) = node.as_map() {
            svc.extensions =
                m.iter().filter(|(k, _)| k.starts_with("x-")).map(|(k, v)| (k.clone(), v.to_json())).collect();
        }
        svc
    });
    if uninterpolated && has_dollar(node) {
        own = Diagnostics::default();
    }
    (converted, own)
}

fn has_dollar(n: &Node) -> bool {
    match &n.value {
        Value::Str(s) => s.contains('$'),
        Value::Seq(items) => items.iter().any(has_dollar),
        Value::Map(m) => m.iter().any(|(k, v)| k.contains('$') || has_dollar(v)),
        _ => false,
    }
}

fn section<'a>(top: &'a YamlMap, key: &str, diags: &mut Diagnostics) -> Option<&'a YamlMap> {
    let node = top.get(key)?;
    match &node.value {
        Value::Map(m) => Some(m),
        Value::Null => None,
        _ => {
            diags.push(Diagnostic::error(node.loc.clone(), key, format!("expected a mapping, found {}", node.kind())));
            None
        }
    }
}

fn objects<T: DeserializeOwned>(top: &YamlMap, key: &str, out: &mut IndexMap<String, T>, diags: &mut Diagnostics) {
    if let Some(m) = section(top, key, diags) {
        for (name, node) in m {
            if let Some(v) = convert::<T>(node, &format!("{key}.{name}"), diags) {
                out.insert(name.clone(), v);
            }
        }
    }
}

/// At most this many type errors are reported for one object.
const MAX_ERRORS_PER_OBJECT: usize = 20;

/// Deserialises one object; every type error in it is reported at its source location, in the
/// order of the file.
///
/// serde stops at the first error, so after each one the value in error is taken out of a copy
/// of the object and the copy is read again, until it reads or nothing more can be taken out.
/// A key the reading then misses because it was taken out is a knock-on of the error already
/// reported, and is not reported again.
fn convert<T: DeserializeOwned>(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<T> {
    // Most objects are right: read them without tracking paths, which only an error needs.
    if let Ok(v) = T::deserialize(NodeDe::new(node)) {
        return Some(v);
    }
    let e = match serde_path_to_error::deserialize::<_, T>(NodeDe::new(node)) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let mut work = node.clone();
    let mut removed: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next.take() {
        let segments: Vec<Segment> = e.path().iter().cloned().collect();
        let inner = e.into_inner().to_string();
        let (loc_node, full_path) = locate(&work, path, &segments);
        let d = describe(&inner, loc_node, &full_path);
        let knock_on = missing_field(&inner).is_some_and(|f| removed.contains(&format!("{full_path}.{f}")));
        let reported = d.path.clone();
        if !knock_on {
            diags.push(d);
        }
        if removed.len() >= MAX_ERRORS_PER_OBJECT {
            break;
        }
        // Take the value in error out: the unknown key itself, or the deepest node reached (for
        // a knock-on, the object that misses a key).
        let mut target = segments;
        if let Some(field) = unknown_field(&inner)
            && !matches!(target.last(), Some(Segment::Map { key }) if key == field)
        {
            target.push(Segment::Map { key: field.to_string() });
        }
        if target.is_empty() || !remove(&mut work, &target) {
            break;
        }
        if !knock_on {
            removed.push(reported);
        }
        if let Err(e) = serde_path_to_error::deserialize::<_, T>(NodeDe::new(&work)) {
            next = Some(e);
        }
    }
    None
}

fn unknown_field(inner: &str) -> Option<&str> {
    inner.strip_prefix("unknown field `")?.split('`').next()
}

fn missing_field(inner: &str) -> Option<&str> {
    inner.strip_prefix("missing field `")?.split('`').next()
}

/// Removes the node at `segments`; false when the path does not lead to one.
fn remove(node: &mut Node, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else { return false };
    let mut cur = node;
    for s in parents {
        let next = match (s, &mut cur.value) {
            (Segment::Map { key }, Value::Map(m)) => m.get_mut(key),
            (Segment::Seq { index }, Value::Seq(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, &mut cur.value) {
        (Segment::Map { key }, Value::Map(m)) => m.shift_remove(key).is_some(),
        (Segment::Seq { index }, Value::Seq(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

/// The deepest node the error path reaches, and the path written out.
fn locate<'a>(node: &'a Node, base: &str, segments: &[Segment]) -> (&'a Node, String) {
    let mut cur = node;
    let mut path = base.to_string();
    for s in segments {
        match s {
            Segment::Map { key } => {
                path.push('.');
                path.push_str(key);
                if let Some(n) = cur.get(key) {
                    cur = n;
                }
            }
            Segment::Seq { index } => {
                path.push_str(&format!("[{index}]"));
                if let Some(n) = cur.as_seq().and_then(|s| s.get(*index)) {
                    cur = n;
                }
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    (cur, path)
}

fn describe(inner: &str, node: &Node, path: &str) -> Diagnostic {
    // serde: "unknown field `restrat`, expected one of `a`, `b`"
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> =
            rest.split('`').skip(1).enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, s)| s).collect();
        let key_path = if path.ends_with(&format!(".{field}")) { path.to_string() } else { format!("{path}.{field}") };
        let loc = node.get(field).map(|n| n.loc.clone()).unwrap_or_else(|| node.loc.clone());
        let mut d = Diagnostic::error(loc, key_path, format!("unknown key `{field}`"));
        d = match did_you_mean(field, expected.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint("wharf follows the Compose Specification; extension keys must start with `x-`"),
        };
        return d;
    }
    // Serde's names for shapes, and its internal type names, in the words of a compose file.
    if inner.contains("did not match any variant of untagged enum Ulimit") {
        return Diagnostic::error(
            node.loc.clone(),
            path,
            format!("expected a number or `{{soft: N, hard: N}}`, found {}", node.kind()),
        );
    }
    if inner.starts_with("data did not match any variant of untagged enum ") {
        return Diagnostic::error(node.loc.clone(), path, format!("this value has the wrong shape ({})", node.kind()));
    }
    static WORDS: std::sync::OnceLock<[(regex::Regex, &str); 4]> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        let re = |p: &str| regex::Regex::new(p).expect("a fixed pattern");
        [
            (re(r"\b(a )?map\b"), "a mapping"),
            (re(r"\b(a )?sequence\b"), "a list"),
            (re(r"\bstruct "), ""),
            (re(r"^invalid type: "), ""),
        ]
    });
    let mut msg = inner.to_string();
    for (re, to) in words {
        msg = re.replace_all(&msg, *to).into_owned();
    }
    let msg = rust_types_in_words(&msg);
    let msg = if msg.contains(", expected") { format!("wrong type: found {msg}") } else { msg };
    if let Some(field) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        return Diagnostic::error(node.loc.clone(), path, format!("missing required key `{field}`"));
    }
    Diagnostic::error(node.loc.clone(), path, msg)
}

/// serde names the Rust type it expected (`expected u16`); a compose file knows numbers.
fn rust_types_in_words(msg: &str) -> String {
    let Some((head, expected)) = msg.rsplit_once(", expected ") else { return msg.to_string() };
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" => "a string",
        other => other,
    };
    format!("{head}, expected {words}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::yaml::parse;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn diags(text: &str) -> Vec<String> {
        let n = parse(text, &Arc::new(PathBuf::from("/c.yaml"))).unwrap();
        let mut d = Diagnostics::default();
        to_project(&n, "p", &mut d);
        d.0.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn unknown_keys_suggest_the_right_one() {
        let d = diags("services:\n  web:\n    image: x\n    restrat: always\n");
        assert_eq!(d, vec!["/c.yaml:4:5: services.web.restrat: unknown key `restrat` (hint: did you mean `restart`?)"]);
    }

    #[test]
    fn one_error_per_service_all_reported() {
        let d = diags("services:\n  a:\n    imgae: x\n  b:\n    init: maybe\nservces: {}\n");
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("did you mean `services`"), "{d:?}");
    }

    #[test]
    fn every_type_error_of_a_service_is_reported_in_file_order() {
        let d = diags(
            "services:\n  a:\n    image: x\n    privileged: [1]\n    restrat: always\n    ports: [{target: nope}]\n    init: maybe\n",
        );
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].starts_with("/c.yaml:4:5: services.a.privileged"), "{d:?}");
        assert!(d[1].starts_with("/c.yaml:5:5: services.a.restrat: unknown key"), "{d:?}");
        assert!(
            d[2].contains(
                "services.a.ports[0].target: wrong type: found string \"nope\", expected a non-negative integer"
            ),
            "{d:?}"
        );
        assert!(d[3].starts_with("/c.yaml:7:5: services.a.init"), "{d:?}");
    }

    #[test]
    fn a_required_key_taken_out_after_its_error_is_not_reported_missing() {
        // `target` of a long port is required: its wrong type is the root cause, and "missing
        // `target`" only follows from it.
        let d = diags("services:\n  a:\n    image: x\n    ports: [{target: [1]}]\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(!d[0].contains("missing"), "{d:?}");
    }

    #[test]
    fn many_services_convert_in_order_with_their_errors() {
        let mut text = String::from("services:\n");
        for i in 0..450 {
            let init = if i == 300 { "maybe" } else { "true" };
            text.push_str(&format!("  s{i}:\n    image: x\n    init: {init}\n"));
        }
        let n = parse(&text, &Arc::new(PathBuf::from("/c.yaml"))).unwrap();
        let mut d = Diagnostics::default();
        let p = to_project(&n, "p", &mut d);
        let names: Vec<String> = p.services.keys().cloned().collect();
        let expected: Vec<String> = (0..450).filter(|i| *i != 300).map(|i| format!("s{i}")).collect();
        assert_eq!(names, expected);
        assert_eq!(d.0.len(), 1, "{:?}", d.0);
        assert_eq!(d.0[0].path, "services.s300.init");
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let d = diags("services:\n  a:\n    image: x\n    privileged: [1]\n");
        assert!(d[0].starts_with("/c.yaml:4:5: services.a.privileged: wrong type"), "{d:?}");
    }

    #[test]
    fn extension_keys_are_kept() {
        let n =
            parse("x-top: 1\nservices:\n  a:\n    image: x\n    x-mine: {a: 1}\n", &Arc::new(PathBuf::from("/c.yaml")))
                .unwrap();
        let mut d = Diagnostics::default();
        let p = to_project(&n, "p", &mut d);
        assert!(d.0.is_empty());
        assert_eq!(p.extensions["x-top"], 1);
        assert_eq!(p.services["a"].extensions["x-mine"]["a"], 1);
    }
}
