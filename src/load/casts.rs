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

/// `*` matches any mapping key, `[]` any list item.
const CASTS: &[(&[&str], Cast)] = {
    use Cast::*;
    &[
        (&["services", "*", "cpu_count"], Int),
        (&["services", "*", "cpu_percent"], Float),
        (&["services", "*", "cpu_period"], Int),
        (&["services", "*", "cpu_quota"], Int),
        (&["services", "*", "cpu_rt_period"], Int),
        (&["services", "*", "cpu_rt_runtime"], Int),
        (&["services", "*", "cpus"], Float),
        (&["services", "*", "cpu_shares"], Int),
        (&["services", "*", "init"], Bool),
        (&["services", "*", "depends_on", "*", "required"], Bool),
        (&["services", "*", "depends_on", "*", "restart"], Bool),
        (&["services", "*", "deploy", "replicas"], Int),
        (&["services", "*", "deploy", "update_config", "parallelism"], Int),
        (&["services", "*", "deploy", "update_config", "max_failure_ratio"], Float),
        (&["services", "*", "deploy", "rollback_config", "parallelism"], Int),
        (&["services", "*", "deploy", "rollback_config", "max_failure_ratio"], Float),
        (&["services", "*", "deploy", "restart_policy", "max_attempts"], Int),
        (&["services", "*", "deploy", "placement", "max_replicas_per_node"], Int),
        (&["services", "*", "healthcheck", "retries"], Int),
        (&["services", "*", "healthcheck", "disable"], Bool),
        (&["services", "*", "oom_kill_disable"], Bool),
        (&["services", "*", "oom_score_adj"], Int),
        (&["services", "*", "pids_limit"], Int),
        (&["services", "*", "ports", "[]", "target"], Int),
        (&["services", "*", "privileged"], Bool),
        (&["services", "*", "read_only"], Bool),
        (&["services", "*", "scale"], Int),
        (&["services", "*", "stdin_open"], Bool),
        (&["services", "*", "tty"], Bool),
        (&["services", "*", "ulimits", "*"], Int),
        (&["services", "*", "ulimits", "*", "hard"], Int),
        (&["services", "*", "ulimits", "*", "soft"], Int),
        (&["services", "*", "volumes", "[]", "read_only"], Bool),
        (&["services", "*", "volumes", "[]", "volume", "nocopy"], Bool),
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

/// Casts the strings of `root` at the keys of [`CASTS`]; a string that is not a value of its
/// type is an error at its location.
pub fn cast_tree(root: &mut Node, diags: &mut Diagnostics) {
    for (pattern, cast) in CASTS {
        visit(root, pattern, String::new(), *cast, diags);
    }
}

fn visit(node: &mut Node, pattern: &[&str], path: String, cast: Cast, diags: &mut Diagnostics) {
    let Some((first, rest)) = pattern.split_first() else {
        apply(node, &path, cast, diags);
        return;
    };
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (&mut node.value, *first) {
        (Value::Seq(items), "[]") => {
            for (i, it) in items.iter_mut().enumerate() {
                visit(it, rest, format!("{path}[{i}]"), cast, diags);
            }
        }
        (Value::Map(m), "*") => {
            for (k, v) in m.iter_mut() {
                visit(v, rest, join(k), cast, diags);
            }
        }
        (Value::Map(m), key) => {
            if let Some(v) = m.get_mut(key) {
                visit(v, rest, join(key), cast, diags);
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
