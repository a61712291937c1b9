//! The fake engine's swarm: services kept with their specs and versions, tasks made as a
//! manager would (a replicated service's replicas running, a job's completions complete, a
//! global service's one task running; an update shuts the old tasks down and starts new
//! ones), secrets and configs kept by name. A test can make a service's tasks fail.

use std::collections::BTreeMap;

use serde_json::Value;

use super::FakeEngine;
use crate::engine::swarm::{DataKind, DataSpec, ServiceInfo, Swarm, SwarmObject, SwarmState, TaskInfo};
use crate::engine::{Credentials, EngineError, Result};

#[derive(Debug, Default)]
pub struct FakeSwarm {
    /// Not in a swarm unless a test says so.
    pub active: bool,
    pub services: BTreeMap<String, ServiceInfo>,
    pub tasks: Vec<TaskInfo>,
    pub data: BTreeMap<(DataKind, String), SwarmObject>,
    /// Services (by name) whose tasks fail with this exit code.
    pub failing: BTreeMap<String, i64>,
    /// The order services were created or updated in, by name.
    pub sent: Vec<String>,
    /// Registry credentials sent with a service's create or update: (service, registry).
    pub auth_sent: Vec<(String, String)>,
    /// Finished job tasks of removed services, with their container labels: Docker 20.10 keeps
    /// them after the service is gone, and so does the fake.
    pub kept: Vec<(BTreeMap<String, String>, TaskInfo)>,
    clock: u64,
    next: u64,
}

impl FakeSwarm {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn tick(&mut self) -> String {
        self.clock += 1;
        format!("2026-01-01T00:00:{:02}.{:09}Z", self.clock / 1_000_000_000, self.clock % 1_000_000_000)
    }

    /// Makes the tasks `spec` asks for, for service `id`.
    fn schedule(&mut self, id: &str, spec: &Value) {
        let name = spec["Name"].as_str().unwrap_or_default().to_string();
        let (count, job) = if let Some(n) = spec.pointer("/Mode/Replicated/Replicas").and_then(Value::as_u64) {
            (n, false)
        } else if let Some(n) = spec.pointer("/Mode/ReplicatedJob/TotalCompletions").and_then(Value::as_u64) {
            (n, true)
        } else {
            (1, spec.pointer("/Mode/GlobalJob").is_some())
        };
        let failing = self.failing.get(&name).copied();
        for slot in 1..=count {
            let created = self.tick();
            let task_id = self.id("task");
            let (desired, state, exit, error) = match failing {
                Some(code) => ("shutdown", "failed", Some(code), Some(format!("task: non-zero exit ({code})"))),
                None if job => ("shutdown", "complete", Some(0), None),
                None => ("running", "running", None, None),
            };
            let at = self.tick();
            self.tasks.push(TaskInfo {
                id: task_id,
                service_id: id.to_string(),
                slot: Some(slot),
                node_id: Some("node1".into()),
                desired_state: desired.into(),
                state: state.into(),
                message: state.into(),
                error,
                timestamp: at,
                created,
                exit_code: exit,
                image: spec.pointer("/TaskTemplate/ContainerSpec/Image").and_then(Value::as_str).unwrap_or("").into(),
            });
        }
    }
}

fn labelled(labels: &BTreeMap<String, String>, label: &str) -> bool {
    if label.is_empty() {
        return true;
    }
    match label.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(label),
    }
}

fn spec_labels(spec: &Value) -> BTreeMap<String, String> {
    spec.get("Labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

impl Swarm for FakeEngine {
    async fn swarm_state(&self) -> Result<SwarmState> {
        self.pause().await;
        let st = self.call("swarm_state", "")?;
        let active = st.swarm.active;
        Ok(SwarmState {
            local_node_state: if active { "active" } else { "inactive" }.into(),
            manager: active,
            node_id: "node1".into(),
            nodes: 1,
        })
    }

    async fn services(&self, label: &str) -> Result<Vec<ServiceInfo>> {
        self.pause().await;
        let st = self.call("services", label)?;
        Ok(st.swarm.services.values().filter(|s| labelled(&spec_labels(&s.spec), label)).cloned().collect())
    }

    async fn create_service(&self, spec: &Value, auth: Option<&Credentials>) -> Result<String> {
        self.pause().await;
        let name = spec["Name"].as_str().unwrap_or_default().to_string();
        let mut st = self.call("create_service", &name)?;
        if st.swarm.services.values().any(|s| s.name == name) {
            return Err(EngineError::Conflict { what: format!("service `{name}`"), message: "name conflicts".into() });
        }
        let id = st.swarm.id("svc");
        st.swarm.services.insert(
            id.clone(),
            ServiceInfo {
                id: id.clone(),
                name: name.clone(),
                version: 1,
                spec: spec.clone(),
                update_state: None,
                update_message: None,
            },
        );
        if let Some(a) = auth {
            st.swarm.auth_sent.push((name.clone(), a.server.clone()));
        }
        st.swarm.sent.push(name);
        st.swarm.schedule(&id, spec);
        Ok(id)
    }

    async fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: &Value,
        auth: Option<&Credentials>,
    ) -> Result<Vec<String>> {
        self.pause().await;
        let mut st = self.call("update_service", id)?;
        let Some(s) = st.swarm.services.get_mut(id) else {
            return Err(EngineError::NotFound { what: format!("service {id}") });
        };
        if s.version != version {
            return Err(EngineError::Api {
                operation: format!("updating service {id}"),
                status: 500,
                message: "update out of sequence".into(),
            });
        }
        s.version += 1;
        s.spec = spec.clone();
        let name = s.name.clone();
        if let Some(a) = auth {
            st.swarm.auth_sent.push((name.clone(), a.server.clone()));
        }
        st.swarm.sent.push(name);
        for t in st.swarm.tasks.iter_mut().filter(|t| t.service_id == id && t.desired_state == "running") {
            t.desired_state = "shutdown".into();
            t.state = "shutdown".into();
        }
        st.swarm.schedule(id, spec);
        Ok(Vec::new())
    }

    async fn remove_service(&self, id: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_service", id)?;
        let Some(gone) = st.swarm.services.remove(id) else {
            return Err(EngineError::NotFound { what: format!("service {id}") });
        };
        let job = gone.spec.pointer("/Mode/ReplicatedJob").is_some() || gone.spec.pointer("/Mode/GlobalJob").is_some();
        let c = gone.spec.pointer("/TaskTemplate/ContainerSpec").cloned().unwrap_or(Value::Null);
        let labels = spec_labels(&c);
        let (finished, _): (Vec<TaskInfo>, Vec<TaskInfo>) =
            st.swarm.tasks.iter().filter(|t| t.service_id == id).cloned().partition(|t| job && t.is_over());
        st.swarm.kept.extend(finished.into_iter().map(|t| (labels.clone(), t)));
        st.swarm.tasks.retain(|t| t.service_id != id);
        Ok(())
    }

    async fn tasks(&self, service: &str) -> Result<Vec<TaskInfo>> {
        self.pause().await;
        let st = self.call("tasks", service)?;
        let Some(s) = st.swarm.services.values().find(|s| s.id == service || s.name == service) else {
            return Err(EngineError::NotFound { what: format!("service {service}") });
        };
        Ok(st.swarm.tasks.iter().filter(|t| t.service_id == s.id).cloned().collect())
    }

    async fn tasks_labelled(&self, label: &str) -> Result<Vec<TaskInfo>> {
        self.pause().await;
        let st = self.call("tasks_labelled", label)?;
        let ids: Vec<&String> = st
            .swarm
            .services
            .values()
            .filter(|s| {
                let c = s.spec.pointer("/TaskTemplate/ContainerSpec").cloned().unwrap_or(Value::Null);
                labelled(&spec_labels(&c), label)
            })
            .map(|s| &s.id)
            .collect();
        let kept = st.swarm.kept.iter().filter(|(l, _)| labelled(l, label)).map(|(_, t)| t.clone());
        Ok(st.swarm.tasks.iter().filter(|t| ids.contains(&&t.service_id)).cloned().chain(kept).collect())
    }

    async fn swarm_networks(&self, label: &str) -> Result<Vec<SwarmObject>> {
        self.pause().await;
        let st = self.call("swarm_networks", label)?;
        Ok(st
            .networks
            .values()
            .filter(|n| n.driver.as_deref() == Some("overlay") && labelled(&n.labels, label))
            .map(|n| SwarmObject { id: n.name.clone(), name: n.name.clone(), labels: n.labels.clone() })
            .collect())
    }

    async fn data_objects(&self, kind: DataKind, label: &str) -> Result<Vec<SwarmObject>> {
        self.pause().await;
        let st = self.call("data_objects", kind.as_str())?;
        Ok(st
            .swarm
            .data
            .iter()
            .filter(|((k, _), o)| *k == kind && labelled(&o.labels, label))
            .map(|(_, o)| o.clone())
            .collect())
    }

    async fn create_data(&self, kind: DataKind, spec: &DataSpec) -> Result<String> {
        self.pause().await;
        let mut st = self.call("create_data", &spec.name)?;
        if st.swarm.data.contains_key(&(kind, spec.name.clone())) {
            return Err(EngineError::Conflict {
                what: format!("{} `{}`", kind.as_str(), spec.name),
                message: "already exists".into(),
            });
        }
        let id = st.swarm.id(kind.as_str());
        let o = SwarmObject { id: id.clone(), name: spec.name.clone(), labels: spec.labels.clone() };
        st.swarm.data.insert((kind, spec.name.clone()), o);
        Ok(id)
    }

    async fn remove_data(&self, kind: DataKind, id: &str) -> Result<()> {
        self.pause().await;
        let mut st = self.call("remove_data", id)?;
        let before = st.swarm.data.len();
        st.swarm.data.retain(|(k, _), o| !(*k == kind && o.id == id));
        if st.swarm.data.len() == before {
            return Err(EngineError::NotFound { what: format!("{} {id}", kind.as_str()) });
        }
        Ok(())
    }

    async fn service_logs(&self, id: &str, _: usize) -> Result<Vec<String>> {
        self.pause().await;
        drop(self.call("service_logs", id)?);
        Ok(Vec::new())
    }
}
