//! After interpolation a value written `${RO}` is a string; compose casts the strings at typed
//! keys back to booleans and numbers (its `interpolateTypeCastMapping`), so `read_only: ${RO}`
//! and `scale: "3"` load as they do there. The table below is that list of keys.

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::yaml::{Node, Value};

#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

/// Keys of a service (under `services.*`); `*` matches any mapping key, `[]` any list item.
const SERVICE_CASTS: &[(&[&str], Cast)] = {
    use Cast::*;
    &[
        (&["cpu_count"], Int),
        (&["cpu_percent"], Float),
        (&["cpu_period"], Int),
        (&["cpu_quota"], Int),
        (&["cpu_rt_period"], Int),
        (&["cpu_rt_runtime"], Int),
        (&["cpus"], Float),
        (&["cpu_shares"], Int),
        (&["init"], Bool),
        (&["depends_on", "*", "required"], Bool),
        (&["depends_on", "*", "restart"], Bool),
        (&["deploy", "replicas"], Int),
        (&["deploy", "update_config", "parallelism"], Int),
        (&["deploy", "update_config", "max_failure_ratio"], Float),
        (&["deploy", "rollback_config", "parallelism"], Int),
        (&["deploy", "rollback_config", "max_failure_ratio"], Float),
        (&["deploy", "restart_policy", "max_attempts"], Int),
        (&["deploy", "placement", "max_replicas_per_node"], Int),
        (&["healthcheck", "retries"], Int),
        (&["healthcheck", "disable"], Bool),
        (&["oom_kill_disable"], Bool),
        (&["oom_score_adj"], Int),
        (&["pids_limit"], Int),
        (&["ports", "[]", "target"], Int),
        (&["privileged"], Bool),
        (&["read_only"], Bool),
        (&["scale"], Int),
        (&["stdin_open"], Bool),
        (&["tty"], Bool),
        (&["ulimits", "*"], Int),
        (&["ulimits", "*", "hard"], Int),
        (&["ulimits", "*", "soft"], Int),
        (&["volumes", "[]", "read_only"], Bool),
        (&["volumes", "[]", "volume", "nocopy"], Bool),
    ]
};

/// Keys of the top-level objects.
const TOP_LEVEL_CASTS: &[(&[&str], Cast)] = {
    use Cast::*;
    &[
        (&["networks", "*", "external"], Bool),
        (&["networks", "*", "internal"], Bool),
        (&["networks", "*", "attachable"], Bool),
        (&["networks", "*", "enable_ipv4"], Bool),
        (&["networks", "*", "enable_ipv6"], Bool),
        (&["volumes", "*", "external"], Bool),
        (&["secrets", "*", "external"], Bool),
        (&["configs", "*", "external"], Bool),
    ]
};

/// Casts the strings of `root` at the keys of [`SERVICE_CASTS`] and [`TOP_LEVEL_CASTS`]; a string
/// that is not a value of its type is an error at its location.
pub fn cast_tree(root: &mut Node, diags: &mut Diagnostics) {
    // One path buffer for the whole walk: the path is only read to name an error.
    let mut path = String::new();
    if let Some(services) = root.as_map_mut().and_then(|m| m.get_mut("services")).and_then(Node::as_map_mut) {
        for (name, svc) in services.iter_mut() {
            path.clear();
            path.push_str("services.");
            path.push_str(name);
            for (pattern, cast) in SERVICE_CASTS {
                visit(svc, pattern, &mut path, *cast, diags);
            }
        }
    }
    for (pattern, cast) in TOP_LEVEL_CASTS {
        path.clear();
        visit(root, pattern, &mut path, *cast, diags);
    }
}

fn visit(node: &mut Node, pattern: &[&str], path: &mut String, cast: Cast, diags: &mut Diagnostics) {
    let Some((first, rest)) = pattern.split_first() else {
        apply(node, path, cast, diags);
        return;
    };
    let len = path.len();
    let join = |path: &mut String, k: &str| {
        if len > 0 {
            path.push('.');
        }
        path.push_str(k);
    };
    match (&mut node.value, *first) {
        (Value::Seq(items), "[]") => {
            for (i, it) in items.iter_mut().enumerate() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                visit(it, rest, path, cast, diags);
                path.truncate(len);
            }
        }
        (Value::Map(m), "*") => {
            for (k, v) in m.iter_mut() {
                join(path, k);
                visit(v, rest, path, cast, diags);
                path.truncate(len);
            }
        }
        (Value::Map(m), key) => {
            if let Some(v) = m.get_mut(key) {
                join(path, key);
                visit(v, rest, path, cast, diags);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn apply(node: &mut Node, path: &str, cast: Cast, diags: &mut Diagnostics) {
    let Value::Str(s) = &node.value else { return };
    let value = match cast {
        Cast::Int => s.trim().parse::<i64>().ok().map(Value::Int),
        Cast::Float => s.trim().parse::<f64>().ok().map(Value::Float),
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "on" => Some(Value::Bool(true)),
            "false" | "n" | "no" | "off" => Some(Value::Bool(false)),
            _ => None,
        },
    };
    match value {
        Some(v) => node.value = v,
        None => {
            let what = match cast {
                Cast::Int => "an integer",
                Cast::Float => "a number",
                Cast::Bool => "a boolean (`true` or `false`)",
            };
            diags.push(
                Diagnostic::error(node.loc.clone(), path, format!("{s:?} is not {what}"))
                    .with_hint(format!("write {what} here, or set the variable it comes from to one")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn interpolated_strings_become_typed() {
        let mut t = crate::load::yaml::parse(
            "services:\n  a:\n    scale: '3'\n    read_only: 'True'\n    cpus: '0.5'\n    environment:\n      scale: '3'\n",
            &Arc::new(PathBuf::from("/c.yaml")),
        )
        .unwrap();
        let mut d = Diagnostics::default();
        cast_tree(&mut t, &mut d);
        let a = t.get("services").and_then(|s| s.get("a")).unwrap();
        assert_eq!(a.get("scale").unwrap().value, Value::Int(3));
        assert_eq!(a.get("read_only").unwrap().value, Value::Bool(true));
        assert_eq!(a.get("cpus").unwrap().value, Value::Float(0.5));
        assert_eq!(a.get("environment").and_then(|e| e.get("scale")).unwrap().value, Value::Str("3".into()));
        let mut t =
            crate::load::yaml::parse("services:\n  a:\n    tty: maybe\n", &Arc::new(PathBuf::from("/c.yaml"))).unwrap();
        cast_tree(&mut t, &mut d);
        assert!(d.has_errors());
    }
}
