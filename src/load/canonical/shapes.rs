//! Normalising the shape of one value: list-or-map to map, scalar-or-list to list, strings for
//! scalars, commands split into words, durations and sizes in canonical form.

use crate::load::yaml::YamlMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::merge::to_map;
use crate::load::shellwords;
use crate::load::units::parse_bytes;
use crate::load::yaml::{Node, Value};
use crate::model::Duration;

use super::Context;

pub(super) fn is_remote_context(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

pub(super) fn lf_items(n: &mut Node) -> Option<&mut Vec<Node>> {
    match &mut n.value {
        Value::Seq(s) => Some(s),
        _ => None,
    }
}

/// A string becomes its words; a list keeps its items, as strings.
pub(super) fn command(c: &mut Node, path: &str, diags: &mut Diagnostics) {
    match &c.value {
        Value::Str(s) => match shellwords::split(s) {
            Ok(words) => c.value = Value::Seq(words.into_iter().map(|w| Node::str(w, c.loc.clone())).collect()),
            Err(e) => diags.push(
                Diagnostic::error(c.loc.clone(), path, format!("cannot split the command: {e}"))
                    .with_hint("write the command as a list, e.g. [\"sh\", \"-c\", \"...\"]"),
            ),
        },
        Value::Seq(_) => {
            if let Some(items) = lf_items(c) {
                for it in items {
                    if let Some(s) = it.scalar_string() {
                        it.value = Value::Str(s);
                    }
                }
            }
        }
        _ => {}
    }
}

pub(super) fn resolve_null_values(n: &mut Node, ctx: &Context) {
    if let Some(m) = n.as_map_mut() {
        for (k, v) in m.iter_mut() {
            if v.is_null()
                && let Some(val) = (ctx.lookup)(k)
            {
                v.value = Value::Str(val);
            }
        }
    }
}

/// Scalar values of a mapping become strings (`1` → `"1"`, `true` → `"true"`).
pub(super) fn stringify_values(n: &mut Node) {
    if let Some(m) = n.as_map_mut() {
        for v in m.values_mut() {
            if let Some(s) = v.scalar_string()
                && !matches!(v.value, Value::Str(_))
            {
                v.value = Value::Str(s);
            }
        }
    }
}

pub(super) fn map_of_strings(m: &mut YamlMap, key: &str) {
    if let Some(n) = m.get_mut(key) {
        *n = to_map(n.clone());
        if let Some(mm) = n.as_map_mut() {
            for v in mm.values_mut() {
                if v.is_null() {
                    v.value = Value::Str(String::new());
                }
            }
        }
        stringify_values(n);
    }
}

/// A single string becomes a one-item list; items become strings.
pub(super) fn string_list(m: &mut YamlMap, key: &str) {
    // Keys compose's schema types `string_or_list`; the others must be lists already.
    const STRING_OR_LIST: &[&str] = &["dns", "dns_search", "tmpfs", "label_file"];
    if let Some(n) = m.get_mut(key) {
        if let Some(s) = n.scalar_string()
            && STRING_OR_LIST.contains(&key)
        {
            n.value = Value::Seq(vec![Node::str(s, n.loc.clone())]);
        }
        if let Some(items) = lf_items(n) {
            for it in items {
                if let Some(s) = it.scalar_string() {
                    it.value = Value::Str(s);
                }
            }
        }
    }
}

/// `extra_hosts` as `host=ip` items, from a mapping or `host:ip` / `host=ip` items.
pub(super) fn extra_hosts(m: &mut YamlMap) {
    let Some(n) = m.get_mut("extra_hosts") else {
        return;
    };
    let loc = n.loc.clone();
    let items: Vec<Node> = match &n.value {
        Value::Map(mm) => mm
            .iter()
            .flat_map(|(k, v)| match &v.value {
                Value::Seq(ips) => ips
                    .iter()
                    .filter_map(|ip| ip.scalar_string())
                    .map(|ip| Node::str(format!("{k}={ip}"), v.loc.clone()))
                    .collect::<Vec<_>>(),
                _ => vec![Node::str(format!("{k}={}", v.scalar_string().unwrap_or_default()), v.loc.clone())],
            })
            .collect(),
        Value::Seq(s) => s
            .iter()
            .map(|it| match it.as_str() {
                Some(x) if !x.contains('=') => match x.split_once(':') {
                    Some((h, ip)) => Node::str(format!("{h}={ip}"), it.loc.clone()),
                    None => it.clone(),
                },
                _ => it.clone(),
            })
            .collect(),
        _ => return,
    };
    *n = Node::new(Value::Seq(items), loc);
}

pub(super) fn file_refs(n: &mut Node) {
    if let Some(items) = lf_items(n) {
        for it in items {
            if let Some(s) = it.as_str() {
                let mut m = YamlMap::default();
                m.insert("source".to_string(), Node::str(s, it.loc.clone()));
                it.value = Value::Map(m);
            }
            if let Some(m) = it.as_map_mut() {
                for k in ["uid", "gid"] {
                    if let Some(v) = m.get_mut(k)
                        && let Some(s) = v.scalar_string()
                    {
                        v.value = Value::Str(s);
                    }
                }
                // `mode: 0440` is octal in compose files; YAML 1.2 reads it as decimal 440.
                if let Some(mode) = m.get_mut("mode")
                    && let Some(s) = mode.scalar_string()
                    && let Ok(n) = u32::from_str_radix(s.trim_start_matches("0o"), 8)
                {
                    mode.value = Value::Int(n as i64);
                }
            }
        }
    }
}

pub(super) fn duration(d: &mut Node, path: &str, diags: &mut Diagnostics) {
    let Some(s) = d.scalar_string() else { return };
    // A bare number is seconds (as compose accepts for some keys).
    let s = if matches!(d.value, Value::Int(_) | Value::Float(_)) { format!("{s}s") } else { s };
    match Duration::parse(&s) {
        Ok(v) => d.value = Value::Str(v.to_string()),
        Err(e) => {
            diags.push(
                Diagnostic::error(d.loc.clone(), path, e.to_string())
                    .with_hint("write a duration like `30s`, `1m30s` or `500ms`"),
            );
            // Reported once, here: the typed model would refuse it again.
            d.value = Value::Null;
        }
    }
}

pub(super) fn bytes(b: &mut Node, path: &str, diags: &mut Diagnostics) {
    match &b.value {
        Value::Int(_) => {}
        Value::Str(s) => match parse_bytes(s) {
            Ok(n) => b.value = Value::Int(n),
            Err(e) => diags.push(
                Diagnostic::error(b.loc.clone(), path, e.to_string()).with_hint("write a size like `512m` or `1g`"),
            ),
        },
        _ => {}
    }
}

pub(super) fn float(c: &mut Node) {
    match &c.value {
        Value::Str(s) => {
            if let Ok(f) = s.parse::<f64>() {
                c.value = Value::Float(f);
            }
        }
        Value::Int(i) => c.value = Value::Float(*i as f64),
        _ => {}
    }
}
