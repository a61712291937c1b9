//! What a deploy changes: each object of the stack created, updated (with the fields that
//! changed) or removed. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::convert::{NAMESPACE, SPEC_HASH, Wanted};
use crate::engine::swarm::{DataKind, ServiceInfo, SwarmObject};

/// What the cluster has of the stack.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub services: Vec<ServiceInfo>,
    pub networks: Vec<SwarmObject>,
    /// Every network name on the cluster (external ones must be there).
    pub all_networks: BTreeSet<String>,
    pub data: Vec<(DataKind, SwarmObject)>,
    /// Names of every secret and config on the cluster (external ones must be there).
    pub all_data: BTreeSet<(DataKind, String)>,
}

/// One step of a deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateNetwork {
        name: String,
    },
    CreateData {
        kind: DataKind,
        name: String,
    },
    CreateService {
        service: String,
        name: String,
    },
    /// `fields`: the top-level paths of the spec that differ.
    UpdateService {
        service: String,
        name: String,
        id: String,
        version: u64,
        fields: Vec<String>,
    },
    /// Unchanged: nothing is sent.
    KeepService {
        service: String,
        name: String,
    },
    RemoveService {
        name: String,
        id: String,
    },
    /// A version of a secret or config no service of the stack uses any more.
    RemoveData {
        kind: DataKind,
        name: String,
        id: String,
    },
    RemoveNetwork {
        name: String,
        id: String,
    },
}

impl Action {
    /// One line for `--dry-run` and the progress output.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateNetwork { name } => format!("create network {name}"),
            Action::CreateData { kind, name } => format!("create {} {name}", kind.as_str()),
            Action::CreateService { name, .. } => format!("create service {name}"),
            Action::UpdateService { name, fields, .. } => format!("update service {name} ({})", fields.join(", ")),
            Action::KeepService { name, .. } => format!("service {name} unchanged"),
            Action::RemoveService { name, .. } => format!("remove service {name}"),
            Action::RemoveData { kind, name, .. } => format!("remove {} {name}", kind.as_str()),
            Action::RemoveNetwork { name, .. } => format!("remove network {name}"),
        }
    }
}

/// The plan, and what must exist before it can run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// External networks, secrets or configs that are not on the cluster.
    pub missing: Vec<String>,
}

/// A value the engine fills in when a spec leaves it out.
fn trivial(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "default" || s == "container",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(trivial),
    }
}

/// Paths (`TaskTemplate.ContainerSpec.Env`, …) where `a` and `b` differ, two levels deep.
fn differing(a: &Value, b: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if depth > 0 => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differing(v, w, &p, depth - 1, out),
                    // What the engine fills in by default is no difference.
                    (Some(v), None) | (None, Some(v)) if trivial(v) => {}
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Compares `wanted` with `current`. `prune`: services and networks of the stack the file no
/// longer has are removed. Versions of secrets and configs no wanted service uses are always
/// removed (after the services move off them).
pub fn plan(wanted: &Wanted, current: &Current, prune: bool) -> Plan {
    let mut p = Plan::default();
    for n in &wanted.external_networks {
        if !current.all_networks.contains(n) {
            p.missing.push(format!("network `{n}` (external)"));
        }
    }
    for n in &wanted.networks {
        if !current.networks.iter().any(|c| c.name == n.name) {
            p.actions.push(Action::CreateNetwork { name: n.name.clone() });
        }
    }
    for d in &wanted.data {
        let here = current.all_data.contains(&(d.kind, d.name.clone()));
        match (d.external, here) {
            (true, false) => p.missing.push(format!("{} `{}` (external)", d.kind.as_str(), d.name)),
            (false, false) => p.actions.push(Action::CreateData { kind: d.kind, name: d.name.clone() }),
            _ => {}
        }
    }
    for s in &wanted.services {
        match current.services.iter().find(|c| c.name == s.name) {
            None => p.actions.push(Action::CreateService { service: s.service.clone(), name: s.name.clone() }),
            Some(c) if c.label(SPEC_HASH) == Some(s.hash.as_str()) => {
                p.actions.push(Action::KeepService { service: s.service.clone(), name: s.name.clone() })
            }
            Some(c) => {
                let mut fields = Vec::new();
                differing(&c.spec, &s.spec, "", 3, &mut fields);
                fields.retain(|f| f != &format!("Labels.{SPEC_HASH}"));
                if fields.is_empty() {
                    fields.push("Labels".into());
                }
                p.actions.push(Action::UpdateService {
                    service: s.service.clone(),
                    name: s.name.clone(),
                    id: c.id.clone(),
                    version: c.version,
                    fields,
                });
            }
        }
    }
    if prune {
        for c in &current.services {
            if !wanted.services.iter().any(|s| s.name == c.name) {
                p.actions.push(Action::RemoveService { name: c.name.clone(), id: c.id.clone() });
            }
        }
    }
    let wanted_data: BTreeSet<(DataKind, &str)> = wanted.data.iter().map(|d| (d.kind, d.name.as_str())).collect();
    // Services kept (not pruned) may still use an old version: only versions no remaining
    // service names go.
    let mut still_used: BTreeSet<(DataKind, String)> = BTreeSet::new();
    if !prune {
        for c in current.services.iter().filter(|c| !wanted.services.iter().any(|s| s.name == c.name)) {
            for (kind, field, name_key) in
                [(DataKind::Secret, "Secrets", "SecretName"), (DataKind::Config, "Configs", "ConfigName")]
            {
                for r in c
                    .spec
                    .pointer(&format!("/TaskTemplate/ContainerSpec/{field}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = r.get(name_key).and_then(Value::as_str) {
                        still_used.insert((kind, n.to_string()));
                    }
                }
            }
        }
    }
    for (kind, d) in &current.data {
        if d.labels.get(NAMESPACE).map(String::as_str) == Some(wanted.stack.as_str())
            && !wanted_data.contains(&(*kind, d.name.as_str()))
            && !still_used.contains(&(*kind, d.name.clone()))
        {
            p.actions.push(Action::RemoveData { kind: *kind, name: d.name.clone(), id: d.id.clone() });
        }
    }
    if prune {
        let wanted_nets: BTreeMap<&str, ()> = wanted.networks.iter().map(|n| (n.name.as_str(), ())).collect();
        for n in &current.networks {
            if !wanted_nets.contains_key(n.name.as_str()) {
                p.actions.push(Action::RemoveNetwork { name: n.name.clone(), id: n.id.clone() });
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::convert;

    fn wanted(yaml: &str) -> Wanted {
        convert(&crate::swarm::convert::tests::project(yaml), "st", &BTreeMap::new(), &BTreeMap::new())
    }

    /// What the cluster would have after `w` was deployed (specs as sent).
    fn deployed(w: &Wanted) -> Current {
        Current {
            services: w
                .services
                .iter()
                .enumerate()
                .map(|(i, s)| ServiceInfo {
                    id: format!("id{i}"),
                    name: s.name.clone(),
                    version: 10,
                    spec: s.spec.clone(),
                    update_state: None,
                    update_message: None,
                })
                .collect(),
            networks: w
                .networks
                .iter()
                .map(|n| SwarmObject { id: n.name.clone(), name: n.name.clone(), labels: n.labels.clone() })
                .collect(),
            ..Current::default()
        }
    }

    const TWO: &str = "services:\n  a:\n    image: i\n  b:\n    image: i\n    environment: {X: \"1\"}\n";

    #[test]
    fn a_new_stack_creates_everything() {
        let p = plan(&wanted(TWO), &Current::default(), false);
        let lines: Vec<String> = p.actions.iter().map(Action::describe).collect();
        assert_eq!(lines, ["create network st_default", "create service st_a", "create service st_b"]);
    }

    #[test]
    fn nothing_changed_sends_nothing() {
        let w = wanted(TWO);
        let p = plan(&w, &deployed(&w), true);
        assert!(p.actions.iter().all(|a| matches!(a, Action::KeepService { .. })), "{p:?}");
    }

    #[test]
    fn a_change_updates_that_service_with_its_fields() {
        let cur = deployed(&wanted(TWO));
        let p = plan(&wanted(&TWO.replace("X: \"1\"", "X: \"2\"")), &cur, false);
        assert_eq!(p.actions[0], Action::KeepService { service: "a".into(), name: "st_a".into() });
        assert_eq!(
            p.actions[1],
            Action::UpdateService {
                service: "b".into(),
                name: "st_b".into(),
                id: "id1".into(),
                version: 10,
                fields: vec!["TaskTemplate.ContainerSpec.Env".into()],
            }
        );
    }

    #[test]
    fn prune_removes_what_the_file_dropped_and_old_versions_always_go() {
        let mut cur = deployed(&wanted(TWO));
        cur.networks.push(SwarmObject { id: "n2".into(), name: "st_old".into(), labels: BTreeMap::new() });
        let old = SwarmObject {
            id: "s1".into(),
            name: "st_pw-0000000000".into(),
            labels: BTreeMap::from([(NAMESPACE.to_string(), "st".to_string())]),
        };
        cur.data.push((DataKind::Secret, old));
        let only_a = wanted("services:\n  a:\n    image: i\n");
        let kept = plan(&only_a, &cur, false);
        assert!(!kept.actions.iter().any(|a| matches!(a, Action::RemoveService { .. } | Action::RemoveNetwork { .. })));
        assert!(kept.actions.iter().any(|a| matches!(a, Action::RemoveData { id, .. } if id == "s1")));
        let pruned = plan(&only_a, &cur, true);
        assert!(pruned.actions.contains(&Action::RemoveService { name: "st_b".into(), id: "id1".into() }));
        assert!(pruned.actions.contains(&Action::RemoveNetwork { name: "st_old".into(), id: "n2".into() }));
    }

    #[test]
    fn external_objects_must_exist() {
        let w = wanted(
            "services:\n  a:\n    image: i\n    networks: [edge]\n    secrets: [k]\nnetworks:\n  edge: {external: true}\nsecrets:\n  k: {external: true}\n",
        );
        let p = plan(&w, &Current::default(), false);
        assert_eq!(p.missing, ["network `edge` (external)", "secret `k` (external)"]);
        let mut cur = Current::default();
        cur.all_networks.insert("edge".into());
        cur.all_data.insert((DataKind::Secret, "k".into()));
        assert!(plan(&w, &cur, false).missing.is_empty());
    }
}
