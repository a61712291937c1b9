//! The typed Compose model in canonical form: what the loader produces and everything after it
//! consumes. Pure data; every key of the Compose Specification's service definition has a field
//! here. Short syntaxes never reach these types: the loader turns them into long form first.
//!
//! Field order follows compose's own output (alphabetical), so `wharf config` reads the same.

pub(crate) mod compose_form;
mod duration;
pub mod labels;
mod service;
pub use duration::{Duration, DurationError};
pub use service::*;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub type Extensions = IndexMap<String, serde_json::Value>;

/// A loaded project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: String,
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Network>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Volume>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, FileObject>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub configs: IndexMap<String, FileObject>,
    /// Top-level `models` (AI models a service may use). compose v2 validates them and leaves
    /// them out of `config`'s output; so does wharf.
    #[serde(default, skip_serializing)]
    pub models: IndexMap<String, Model>,
    /// Top-level `x-*` keys, kept as written.
    #[serde(skip)]
    #[schemars(skip)]
    pub extensions: Extensions,
    /// Services disabled by profiles (kept so references to them can be explained).
    #[serde(skip)]
    #[schemars(skip)]
    pub disabled: IndexMap<String, Service>,
    /// The project directory: relative paths were resolved against it.
    #[serde(skip)]
    #[schemars(skip)]
    pub working_dir: std::path::PathBuf,
    /// The compose files, absolute, in load order.
    #[serde(skip)]
    #[schemars(skip)]
    pub config_files: Vec<std::path::PathBuf>,
    /// The `--env-file`s in effect.
    #[serde(skip)]
    #[schemars(skip)]
    pub env_files: Vec<std::path::PathBuf>,
    /// The environment the project was loaded with (shell over `.env`), where secrets and
    /// configs with an `environment:` source read their value.
    #[serde(skip)]
    #[schemars(skip)]
    pub environment: IndexMap<String, String>,
    /// `--compatibility`: containers are named `PROJECT_SERVICE_N`, as compose v1 did.
    #[serde(skip)]
    #[schemars(skip)]
    pub compatibility: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub aux_addresses: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// A top-level model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
}

/// A top-level secret or config: from a file, an environment variable, inline content, or external.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
}

impl Project {
    /// The labels of every service, network and volume, for labelling them all alike.
    pub fn labels_mut(&mut self) -> impl Iterator<Item = &mut IndexMap<String, String>> {
        self.services
            .values_mut()
            .map(|s| &mut s.labels)
            .chain(self.networks.values_mut().map(|n| &mut n.labels))
            .chain(self.volumes.values_mut().map(|v| &mut v.labels))
    }

    /// The engine name of network `key` (the loader sets `name` on every declared network).
    pub fn network_name(&self, key: &str) -> String {
        self.networks.get(key).and_then(|n| n.name.clone()).unwrap_or_else(|| format!("{}_{key}", self.name))
    }

    /// The engine name of volume `key` (the loader sets `name` on every declared volume).
    pub fn volume_name(&self, key: &str) -> String {
        self.volumes.get(key).and_then(|v| v.name.clone()).unwrap_or_else(|| format!("{}_{key}", self.name))
    }

    /// The name of the first container of `service` (for `service:x`, `volumes_from`, `links`).
    pub fn first_container_name(&self, service: &str) -> String {
        self.container_name(service, 1)
    }

    /// The name of replica `n` of `service`: its `container_name`, else
    /// `PROJECT-SERVICE-N` (`PROJECT_SERVICE_N` under `--compatibility`).
    pub fn container_name(&self, service: &str, n: u32) -> String {
        match self.services.get(service).and_then(|s| s.container_name.clone()) {
            Some(name) => name,
            None if self.compatibility => format!("{}_{service}_{n}", self.name),
            None => format!("{}-{service}-{n}", self.name),
        }
    }

    /// Drops the top-level networks, volumes, secrets and configs that no service of the project
    /// uses, as compose does before `config` prints a project and before `up` creates one.
    pub fn retain_used_resources(&mut self) {
        use std::collections::HashSet;
        let mut networks = HashSet::new();
        let mut volumes = HashSet::new();
        let mut secrets = HashSet::new();
        let mut configs = HashSet::new();
        let mut models = HashSet::new();
        for s in self.services.values() {
            if let Some(serde_json::Value::Object(m)) = &s.models {
                models.extend(m.keys().cloned());
            }
            networks.extend(s.networks.keys().cloned());
            volumes.extend(s.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.clone()));
            secrets.extend(s.secrets.iter().map(|r| r.source.clone()));
            if let Some(b) = &s.build {
                secrets.extend(b.secrets.iter().map(|r| r.source.clone()));
            }
            configs.extend(s.configs.iter().map(|r| r.source.clone()));
        }
        self.networks.retain(|k, _| networks.contains(k));
        self.volumes.retain(|k, _| volumes.contains(k));
        self.secrets.retain(|k, _| secrets.contains(k));
        self.configs.retain(|k, _| configs.contains(k));
        self.models.retain(|k, _| models.contains(k));
    }

    /// The project as compose's `config` prints it: canonical JSON with `x-*` keys restored.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            if let Some(services) = obj.get_mut("services").and_then(|s| s.as_object_mut()) {
                for (name, svc) in &self.services {
                    if let Some(o) = services.get_mut(name).and_then(|s| s.as_object_mut()) {
                        for (k, x) in &svc.extensions {
                            o.insert(k.clone(), x.clone());
                        }
                    }
                }
            }
            for (k, x) in &self.extensions {
                obj.insert(k.clone(), x.clone());
            }
        }
        compose_form::apply(&mut v);
        v
    }
}
