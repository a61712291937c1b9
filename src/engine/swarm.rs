//! The Swarm part of the engine: services, tasks, secrets and configs of a Docker Swarm, as
//! `wharf stack` needs them. A service's spec travels as the Engine API's own JSON
//! (`ServiceSpec`, built by [`crate::stack`]'s pure conversion), so what is compared, hashed and
//! shown in a dry run is exactly what the engine receives. One implementation on bollard
//! ([`super::docker::DockerEngine`]) and one in memory ([`super::fake::FakeEngine`]).

use std::collections::BTreeMap;
use std::future::Future;

use super::{Engine, Result};

/// What the engine says about its swarm membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmState {
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    pub local_node_state: String,
    /// Whether this engine is a manager (it can deploy).
    pub manager: bool,
    pub node_id: String,
    pub nodes: u64,
}

/// One service as the engine shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    /// The object version an update must name.
    pub version: u64,
    /// Its `Spec`, as the Engine API's JSON.
    pub spec: serde_json::Value,
    /// `UpdateStatus.State` (`updating`, `completed`, `rollback_completed`, `paused`, …).
    pub update_state: Option<String>,
    pub update_message: Option<String>,
}

impl ServiceInfo {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.spec.get("Labels")?.get(key)?.as_str()
    }
}

/// One task of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub id: String,
    pub service_id: String,
    /// The replica slot (replicated services and jobs); global tasks have none.
    pub slot: Option<u64>,
    pub node_id: Option<String>,
    pub desired_state: String,
    /// `Status.State`: new, pending, assigned, accepted, preparing, starting, running,
    /// complete, shutdown, failed, rejected, remove, orphaned.
    pub state: String,
    pub message: String,
    pub error: Option<String>,
    /// `Status.Timestamp` (RFC 3339).
    pub timestamp: String,
    /// `CreatedAt` (RFC 3339).
    pub created: String,
    pub exit_code: Option<i64>,
    pub image: String,
}

impl TaskInfo {
    /// Whether the task is over: its container has stopped for good (complete, shutdown,
    /// failed, rejected, remove, orphaned) and holds no network any more. Docker 20.10 keeps a
    /// finished job's task after its service is removed, so "no tasks left" can take minutes.
    pub fn is_over(&self) -> bool {
        matches!(self.state.as_str(), "complete" | "shutdown" | "failed" | "rejected" | "remove" | "orphaned")
    }
}

/// A secret, config or network of a stack: its ID, name and labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwarmObject {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A secret or config to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub data: Vec<u8>,
}

/// Which of the two immutable data kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataKind {
    Secret,
    Config,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Secret => "secret",
            DataKind::Config => "config",
        }
    }
}

/// The Swarm calls, on top of an [`Engine`] (whose networks calls create the overlay networks).
pub trait Swarm: Engine {
    /// The engine's swarm membership (`docker info`'s `Swarm`).
    fn swarm_state(&self) -> impl Future<Output = Result<SwarmState>> + Send;
    /// Services carrying `label` (`KEY=VALUE`).
    fn services(&self, label: &str) -> impl Future<Output = Result<Vec<ServiceInfo>>> + Send;
    fn create_service(
        &self,
        spec: &serde_json::Value,
        auth: Option<&super::Credentials>,
    ) -> impl Future<Output = Result<String>> + Send;
    /// Updates service `id` at `version` to `spec`; returns the engine's warnings.
    fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: &serde_json::Value,
        auth: Option<&super::Credentials>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn remove_service(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Tasks of service `service` (name or ID), every state.
    fn tasks(&self, service: &str) -> impl Future<Output = Result<Vec<TaskInfo>>> + Send;
    /// Tasks carrying `label` (a service's container labels: the tasks of removed services
    /// too, until their containers are gone).
    fn tasks_labelled(&self, label: &str) -> impl Future<Output = Result<Vec<TaskInfo>>> + Send;
    /// Swarm-scoped networks carrying `label`.
    fn swarm_networks(&self, label: &str) -> impl Future<Output = Result<Vec<SwarmObject>>> + Send;
    /// Secrets or configs carrying `label` (every one when empty).
    fn data_objects(&self, kind: DataKind, label: &str) -> impl Future<Output = Result<Vec<SwarmObject>>> + Send;
    fn create_data(&self, kind: DataKind, spec: &DataSpec) -> impl Future<Output = Result<String>> + Send;
    fn remove_data(&self, kind: DataKind, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// The last `tail` lines of service `id`'s logs (stdout and stderr).
    fn service_logs(&self, id: &str, tail: usize) -> impl Future<Output = Result<Vec<String>>> + Send;
}
