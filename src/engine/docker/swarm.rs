//! [`Swarm`] on bollard: services, tasks, secrets and configs. Service specs go as the Engine
//! API's JSON, read into bollard's `ServiceSpec`; what comes back is read as JSON the same way.

use std::collections::HashMap;

use bollard::models::{ConfigSpec, SecretSpec, ServiceSpec};
use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListNetworksOptionsBuilder, ListSecretsOptionsBuilder, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, LogsOptionsBuilder, UpdateServiceOptionsBuilder,
};
use futures::StreamExt;
use serde_json::Value;

use super::DockerEngine;
use super::errors::map_err;
use crate::engine::swarm::{DataKind, DataSpec, ServiceInfo, Swarm, SwarmObject, SwarmState, TaskInfo};
use crate::engine::{Credentials, EngineError, Result};

fn label_filter(label: &str) -> HashMap<String, Vec<String>> {
    if label.is_empty() { HashMap::new() } else { HashMap::from([("label".to_string(), vec![label.to_string()])]) }
}

fn creds(c: Option<&Credentials>) -> Option<bollard::auth::DockerCredentials> {
    super::image::creds(c.cloned())
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut at = v;
    for p in path {
        at = at.get(p)?;
    }
    at.as_str().map(str::to_string)
}

fn number(v: &Value, path: &[&str]) -> Option<u64> {
    let mut at = v;
    for p in path {
        at = at.get(p)?;
    }
    at.as_u64()
}

fn labels(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn spec_of(spec: &Value, what: &str) -> Result<ServiceSpec> {
    serde_json::from_value(spec.clone()).map_err(|e| EngineError::Api {
        operation: format!("sending the spec of service `{what}`"),
        status: 0,
        message: e.to_string(),
    })
}

impl DockerEngine {
    async fn task_list(&self, f: HashMap<String, Vec<String>>) -> Result<Vec<TaskInfo>> {
        let opts = ListTasksOptionsBuilder::default().filters(&f).build();
        let list = self.docker.list_tasks(Some(opts)).await.map_err(|e| map_err(e, "listing", "tasks"))?;
        Ok(list
            .into_iter()
            .map(|t| {
                let v = serde_json::to_value(t).unwrap_or_default();
                TaskInfo {
                    id: text(&v, &["ID"]).unwrap_or_default(),
                    service_id: text(&v, &["ServiceID"]).unwrap_or_default(),
                    slot: number(&v, &["Slot"]),
                    node_id: text(&v, &["NodeID"]),
                    desired_state: text(&v, &["DesiredState"]).unwrap_or_default(),
                    state: text(&v, &["Status", "State"]).unwrap_or_default(),
                    message: text(&v, &["Status", "Message"]).unwrap_or_default(),
                    error: text(&v, &["Status", "Err"]),
                    timestamp: text(&v, &["Status", "Timestamp"]).unwrap_or_default(),
                    created: text(&v, &["CreatedAt"]).unwrap_or_default(),
                    exit_code: v.pointer("/Status/ContainerStatus/ExitCode").and_then(Value::as_i64),
                    image: text(&v, &["Spec", "ContainerSpec", "Image"]).unwrap_or_default(),
                }
            })
            .collect())
    }
}

impl Swarm for DockerEngine {
    async fn swarm_state(&self) -> Result<SwarmState> {
        let info = self.docker.info().await.map_err(|e| map_err(e, "reading", "the engine's info"))?;
        let s = serde_json::to_value(info.swarm.unwrap_or_default()).unwrap_or_default();
        Ok(SwarmState {
            local_node_state: text(&s, &["LocalNodeState"]).unwrap_or_else(|| "inactive".into()),
            manager: s.get("ControlAvailable").and_then(Value::as_bool).unwrap_or(false),
            node_id: text(&s, &["NodeID"]).unwrap_or_default(),
            nodes: number(&s, &["Nodes"]).unwrap_or(0),
        })
    }

    async fn services(&self, label: &str) -> Result<Vec<ServiceInfo>> {
        let f = label_filter(label);
        let opts = ListServicesOptionsBuilder::default().filters(&f).build();
        let list = self.docker.list_services(Some(opts)).await.map_err(|e| map_err(e, "listing", "services"))?;
        Ok(list
            .into_iter()
            .map(|s| {
                let v = serde_json::to_value(s).unwrap_or_default();
                let spec = v.get("Spec").cloned().unwrap_or(Value::Null);
                ServiceInfo {
                    id: text(&v, &["ID"]).unwrap_or_default(),
                    name: text(&spec, &["Name"]).unwrap_or_default(),
                    version: number(&v, &["Version", "Index"]).unwrap_or(0),
                    spec,
                    update_state: text(&v, &["UpdateStatus", "State"]),
                    update_message: text(&v, &["UpdateStatus", "Message"]),
                }
            })
            .collect())
    }

    async fn create_service(&self, spec: &Value, auth: Option<&Credentials>) -> Result<String> {
        let name = text(spec, &["Name"]).unwrap_or_default();
        let r = self
            .docker
            .create_service(spec_of(spec, &name)?, creds(auth))
            .await
            .map_err(|e| map_err(e, "creating", &format!("service `{name}`")))?;
        Ok(r.id.unwrap_or_default())
    }

    async fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: &Value,
        auth: Option<&Credentials>,
    ) -> Result<Vec<String>> {
        let name = text(spec, &["Name"]).unwrap_or_default();
        let opts = UpdateServiceOptionsBuilder::default().version(version as i32).build();
        let r = self
            .docker
            .update_service(id, spec_of(spec, &name)?, opts, creds(auth))
            .await
            .map_err(|e| map_err(e, "updating", &format!("service `{name}`")))?;
        Ok(r.warnings.unwrap_or_default())
    }

    async fn remove_service(&self, id: &str) -> Result<()> {
        self.docker.delete_service(id).await.map_err(|e| map_err(e, "removing", &format!("service {id}")))
    }

    async fn tasks(&self, service: &str) -> Result<Vec<TaskInfo>> {
        self.task_list(HashMap::from([("service".to_string(), vec![service.to_string()])])).await
    }

    async fn tasks_labelled(&self, label: &str) -> Result<Vec<TaskInfo>> {
        self.task_list(label_filter(label)).await
    }

    async fn swarm_networks(&self, label: &str) -> Result<Vec<SwarmObject>> {
        let mut f = label_filter(label);
        f.insert("scope".into(), vec!["swarm".into()]);
        let opts = ListNetworksOptionsBuilder::new().filters(&f).build();
        let list = self.docker.list_networks(Some(opts)).await.map_err(|e| map_err(e, "listing", "networks"))?;
        Ok(list
            .into_iter()
            .map(|n| SwarmObject {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
            })
            .collect())
    }

    async fn data_objects(&self, kind: DataKind, label: &str) -> Result<Vec<SwarmObject>> {
        let f = label_filter(label);
        let values: Vec<Value> = match kind {
            DataKind::Secret => {
                let opts = ListSecretsOptionsBuilder::default().filters(&f).build();
                let l = self.docker.list_secrets(Some(opts)).await.map_err(|e| map_err(e, "listing", "secrets"))?;
                l.into_iter().map(|s| serde_json::to_value(s).unwrap_or_default()).collect()
            }
            DataKind::Config => {
                let opts = ListConfigsOptionsBuilder::default().filters(&f).build();
                let l = self.docker.list_configs(Some(opts)).await.map_err(|e| map_err(e, "listing", "configs"))?;
                l.into_iter().map(|s| serde_json::to_value(s).unwrap_or_default()).collect()
            }
        };
        Ok(values
            .iter()
            .map(|v| SwarmObject {
                id: text(v, &["ID"]).unwrap_or_default(),
                name: text(v, &["Spec", "Name"]).unwrap_or_default(),
                labels: labels(v.pointer("/Spec/Labels").unwrap_or(&Value::Null)),
            })
            .collect())
    }

    async fn create_data(&self, kind: DataKind, spec: &DataSpec) -> Result<String> {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(&spec.data);
        let labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        let what = format!("{} `{}`", kind.as_str(), spec.name);
        let r = match kind {
            DataKind::Secret => self
                .docker
                .create_secret(SecretSpec {
                    name: Some(spec.name.clone()),
                    labels: Some(labels),
                    data: Some(data),
                    ..Default::default()
                })
                .await
                .map_err(|e| map_err(e, "creating", &what))?,
            DataKind::Config => self
                .docker
                .create_config(ConfigSpec {
                    name: Some(spec.name.clone()),
                    labels: Some(labels),
                    data: Some(data),
                    ..Default::default()
                })
                .await
                .map_err(|e| map_err(e, "creating", &what))?,
        };
        Ok(r.id)
    }

    async fn remove_data(&self, kind: DataKind, id: &str) -> Result<()> {
        let what = format!("{} {id}", kind.as_str());
        match kind {
            DataKind::Secret => self.docker.delete_secret(id).await,
            DataKind::Config => self.docker.delete_config(id).await,
        }
        .map_err(|e| map_err(e, "removing", &what))
    }

    async fn service_logs(&self, id: &str, tail: usize) -> Result<Vec<String>> {
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&tail.to_string()).build();
        let mut stream = self.docker.service_logs(id, Some(opts));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => out.extend(String::from_utf8_lossy(&c.into_bytes()).lines().map(str::to_string)),
                Err(e) => return Err(map_err(e, "reading the logs of", &format!("service {id}"))),
            }
        }
        Ok(out)
    }
}
