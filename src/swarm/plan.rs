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
