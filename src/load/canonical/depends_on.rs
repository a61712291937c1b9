//! The dependencies a service has without writing them in `depends_on`.

use crate::load::yaml::YamlMap;

use crate::diag::Loc;
use crate::load::yaml::{Node, Value};

/// `links`, `volumes_from` and the `service:X` namespaces make the service depend on X, as
/// compose's normaliser records it (`restart: true` except for `volumes_from`); an explicit
/// `depends_on` entry wins.
pub(super) fn implied_dependencies(m: &mut YamlMap, loc: &Loc) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    if let Some(items) = m.get("links").and_then(Node::as_seq) {
        for l in items.iter().filter_map(Node::as_str) {
            implied.push((l.split(':').next().unwrap_or(l).to_string(), true));
        }
    }
    for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(other) = m.get(ns).and_then(Node::as_str).and_then(|r| r.strip_prefix("service:")) {
            implied.push((other.to_string(), true));
        }
    }
    if let Some(items) = m.get("volumes_from").and_then(Node::as_seq) {
        for v in items.iter().filter_map(Node::as_str).filter(|v| !v.starts_with("container:")) {
            implied.push((v.split(':').next().unwrap_or(v).to_string(), false));
        }
    }
    if implied.is_empty() {
        return;
    }
    let deps = m.entry("depends_on".to_string()).or_insert_with(|| Node::map(loc.clone()));
    let Some(dm) = deps.as_map_mut() else { return };
    for (name, restart) in implied {
        dm.entry(name).or_insert_with(|| {
            let mut d = YamlMap::default();
            d.insert("condition".to_string(), Node::str("service_started", loc.clone()));
            d.insert("restart".to_string(), Node::new(Value::Bool(restart), loc.clone()));
            d.insert("required".to_string(), Node::new(Value::Bool(true), loc.clone()));
            Node::new(Value::Map(d), loc.clone())
        });
    }
}
