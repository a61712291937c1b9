//! Multi-file merge with compose's rules (Compose Specification `13-merge.md`): mappings merge
//! recursively and later files win; sequences append, except those merged by key (`ports`,
//! `volumes`, `secrets`, `configs`) or by value (`dns`, `cap_add`, …); `command`, `entrypoint`
//! and `healthcheck.test` are replaced; list-or-map keys (`environment`, `labels`, …) merge as
//! mappings; `!reset` clears a value and `!override` replaces it wholesale.

use crate::load::yaml::{Node, Tag, Value};

/// How a service key is merged, by its path below `services.<name>`.
enum Rule {
    Replace,
    /// list-or-map: both sides become mappings, then merge.
    AsMap,
    /// sequences concatenated, duplicates (by the key function) removed, later wins.
    UniqueBy(fn(&Node) -> String),
    Deep,
}

fn service_rule(path: &[&str]) -> Rule {
    match path {
        ["command"] | ["entrypoint"] | ["healthcheck", "test"] => Rule::Replace,
        ["environment"]
        | ["labels"]
        | ["annotations"]
        | ["sysctls"]
        | ["build", "args"]
        | ["build", "labels"]
        | ["deploy", "labels"]
        | ["extra_hosts"]
        | ["build", "extra_hosts"]
        | ["depends_on"]
        | ["networks"]
        | ["build", "additional_contexts"] => Rule::AsMap,
        ["ports"] => Rule::UniqueBy(|n| format!("{:?}", n.to_json())),
        ["volumes"] => Rule::UniqueBy(volume_target),
        ["secrets"] | ["configs"] => Rule::UniqueBy(secret_key),
        ["dns"]
        | ["dns_search"]
        | ["dns_opt"]
        | ["env_file"]
        | ["tmpfs"]
        | ["cap_add"]
        | ["cap_drop"]
        | ["expose"]
        | ["security_opt"]
        | ["devices"]
        | ["profiles"]
        | ["external_links"]
        | ["links"]
        | ["volumes_from"]
        | ["group_add"]
        | ["label_file"]
        | ["build", "cache_from"]
        | ["build", "tags"] => Rule::UniqueBy(|n| format!("{:?}", n.to_json())),
        _ => Rule::Deep,
    }
}

fn volume_target(n: &Node) -> String {
    if let Some(t) = n.get("target").and_then(Node::as_str) {
        return t.to_string();
    }
    match n.as_str() {
        // short syntax SOURCE:TARGET[:MODE] or TARGET
        Some(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            }
        }
        None => format!("{:?}", n.to_json()),
    }
}

fn secret_key(n: &Node) -> String {
    match n.as_str() {
        Some(s) => s.to_string(),
        None => n
            .get("target")
            .or_else(|| n.get("source"))
            .and_then(Node::scalar_string)
            .unwrap_or_else(|| format!("{:?}", n.to_json())),
    }
}

/// Merges a whole compose file `over` onto `base`.
pub fn merge_files(base: Node, over: Node) -> Node {
    merge_at(base, over, &[])
}

/// Merges one service definition `over` onto `base` (also used by `extends`).
pub fn merge_service(base: Node, over: Node) -> Node {
    merge_at(base, over, &["services", "*"])
}

fn merge_at(base: Node, over: Node, path: &[&str]) -> Node {
    if over.tag == Some(Tag::Override) {
        return Node { tag: None, ..over };
    }
    let rule = if path.len() >= 3 && path[0] == "services" { service_rule(&path[2..]) } else { Rule::Deep };
    match rule {
        Rule::Replace => over,
        Rule::AsMap => {
            let (b, o) = (to_map(base), to_map(over));
            merge_maps(b, o, path)
        }
        Rule::UniqueBy(key) => {
            let (loc, tag) = (over.loc.clone(), over.tag);
            match (as_seq(base).value, as_seq(over).value) {
                (Value::Seq(mut b), Value::Seq(o)) => {
                    for item in o {
                        let k = key(&item);
                        if let Some(pos) = b.iter().position(|x| key(x) == k) {
                            b[pos] = item;
                        } else {
                            b.push(item);
                        }
                    }
                    Node { value: Value::Seq(b), loc, tag: None }
                }
                (_, value) => Node { value, loc, tag },
            }
        }
        Rule::Deep => match (&base.value, &over.value) {
            (Value::Map(_), Value::Map(_)) => merge_maps(base, over, path),
            (Value::Seq(_), Value::Seq(_)) => {
                let (Value::Seq(mut b), Value::Seq(o)) = (base.value, over.value) else { unreachable!() };
                b.extend(o);
                Node { value: Value::Seq(b), loc: over.loc, tag: None }
            }
            _ => over,
        },
    }
}

fn merge_maps(base: Node, over: Node, path: &[&str]) -> Node {
    let loc = over.loc.clone();
    let (Value::Map(mut b), Value::Map(o)) = (base.value, over.value) else {
        return Node::new(Value::Null, loc);
    };
    for (k, v) in o {
        if v.tag == Some(Tag::Reset) {
            b.shift_remove(&k);
            continue;
        }
        let mut child_path: Vec<&str> = path.to_vec();
        // Below `services`, the service name is a wildcard in rule paths.
        child_path.push(if path.len() == 1 && path[0] == "services" { "*" } else { k.as_str() });
        let merged = match b.shift_remove_full(&k) {
            Some((idx, _, old)) => {
                let m = merge_at(old, v, &child_path);
                b.shift_insert(idx, k, m);
                continue;
            }
            None => strip_reset(v),
        };
        b.insert(k, merged);
    }
    Node { value: Value::Map(b), loc, tag: None }
}

/// A single scalar where a list is allowed (`env_file: a.env`, `dns: 1.1.1.1`) as a one-item list.
fn as_seq(n: Node) -> Node {
    match n.value {
        Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let loc = n.loc.clone();
            Node { value: Value::Seq(vec![n]), loc, tag: None }
        }
        _ => n,
    }
}

/// A value tagged `!reset` in a file with nothing to reset is simply absent; nested resets too.
pub fn strip_reset(mut n: Node) -> Node {
    n.tag = None;
    match &mut n.value {
        Value::Map(m) => {
            let keys: Vec<String> =
                m.iter().filter(|(_, v)| v.tag == Some(Tag::Reset)).map(|(k, _)| k.clone()).collect();
            for k in keys {
                m.shift_remove(&k);
            }
            for v in m.values_mut() {
                *v = strip_reset(std::mem::replace(v, Node::new(Value::Null, Default::default())));
            }
        }
        Value::Seq(s) => {
            s.retain(|v| v.tag != Some(Tag::Reset));
        }
        _ => {}
    }
    n
}

/// A list-or-map value (`KEY=VALUE` items, or a mapping) as a mapping node.
pub fn to_map(n: Node) -> Node {
    match n.value {
        Value::Seq(items) => {
            let mut m = crate::load::yaml::YamlMap::default();
            for item in items {
                match &item.value {
                    Value::Str(s) => {
                        let (k, v) = match s.split_once('=') {
                            Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                            None => (s.clone(), Value::Null),
                        };
                        m.insert(k, Node::new(v, item.loc.clone()));
                    }
                    // `depends_on: [db]`-style lists of names, and `networks: [front]`.
                    _ => {
                        if let Some(s) = item.scalar_string() {
                            m.insert(s, Node::new(Value::Null, item.loc.clone()));
                        }
                    }
                }
            }
            Node { value: Value::Map(m), loc: n.loc, tag: n.tag }
        }
        value => Node { value, ..n },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::yaml::parse;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn y(s: &str) -> Node {
        parse(s, &Arc::new(PathBuf::from("/t.yaml"))).unwrap()
    }
    fn merged(a: &str, b: &str) -> serde_json::Value {
        merge_files(y(a), y(b)).to_json()
    }

    #[test]
    fn mappings_merge_and_scalars_override() {
        let m = merged("services:\n  web:\n    image: a\n    init: true\n", "services:\n  web:\n    image: b\n");
        assert_eq!(m["services"]["web"], serde_json::json!({"image": "b", "init": true}));
    }

    #[test]
    fn command_is_replaced_not_appended() {
        let m = merged("services:\n  w:\n    command: [a, b]\n", "services:\n  w:\n    command: [c]\n");
        assert_eq!(m["services"]["w"]["command"], serde_json::json!(["c"]));
    }

    #[test]
    fn environment_list_and_map_merge_by_key() {
        let m = merged(
            "services:\n  w:\n    environment: [A=1, B=2]\n",
            "services:\n  w:\n    environment:\n      B: 3\n      C: 4\n",
        );
        assert_eq!(m["services"]["w"]["environment"], serde_json::json!({"A": "1", "B": 3, "C": 4}));
    }

    #[test]
    fn ports_append_without_duplicates_volumes_by_target() {
        let m = merged(
            "services:\n  w:\n    ports: ['80:80']\n    volumes: ['a:/data', 'b:/other']\n",
            "services:\n  w:\n    ports: ['80:80', '443:443']\n    volumes: ['c:/data']\n",
        );
        assert_eq!(m["services"]["w"]["ports"], serde_json::json!(["80:80", "443:443"]));
        assert_eq!(m["services"]["w"]["volumes"], serde_json::json!(["c:/data", "b:/other"]));
    }

    #[test]
    fn other_sequences_append() {
        let m = merged("services:\n  w:\n    cap_add: [A]\n", "services:\n  w:\n    cap_add: [B, A]\n");
        assert_eq!(m["services"]["w"]["cap_add"], serde_json::json!(["A", "B"]));
    }

    #[test]
    fn reset_and_override() {
        let m = merged(
            "services:\n  w:\n    ports: ['80:80']\n    environment: {A: 1, B: 2}\n",
            "services:\n  w:\n    ports: !reset []\n    environment: !override {C: 3}\n",
        );
        assert_eq!(m["services"]["w"], serde_json::json!({"environment": {"C": 3}}));
    }

    #[test]
    fn depends_on_list_merges_with_map() {
        let m = merged(
            "services:\n  w:\n    depends_on: [db]\n",
            "services:\n  w:\n    depends_on:\n      cache:\n        condition: service_healthy\n",
        );
        assert_eq!(
            m["services"]["w"]["depends_on"],
            serde_json::json!({"db": null, "cache": {"condition": "service_healthy"}})
        );
    }
}
