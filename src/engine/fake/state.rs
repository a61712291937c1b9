//! The fake engine's containers: how one is held, found (by ID, ID prefix or name, as Docker
//! does) and listed.

use super::FakeState;
use crate::engine::{ContainerInfo, ContainerSpec, EngineError, LogChunk, MountInfo, PortInfo, Result, State};

/// One container as the fake engine holds it.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub id: String,
    pub spec: ContainerSpec,
    pub image_id: String,
    pub state: State,
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    /// Archives copied in: (destination directory, tar bytes).
    pub uploads: Vec<(String, Vec<u8>)>,
    /// Times started.
    pub starts: u32,
    /// What the container printed (see [`FakeEngine::say`]).
    pub output: Vec<LogChunk>,
}

impl FakeState {
    pub(super) fn find(&self, id_or_name: &str) -> Result<String> {
        self.containers
            .values()
            .find(|c| c.id == id_or_name || c.spec.name == id_or_name || c.id.starts_with(id_or_name))
            .map(|c| c.id.clone())
            .ok_or_else(|| EngineError::NotFound { what: format!("container `{id_or_name}`") })
    }

    pub(super) fn get(&mut self, id_or_name: &str) -> Result<&mut FakeContainer> {
        let id = self.find(id_or_name)?;
        self.containers.get_mut(&id).ok_or_else(|| EngineError::NotFound { what: format!("container `{id}`") })
    }

    pub(super) fn info(&self, c: &FakeContainer) -> ContainerInfo {
        ContainerInfo {
            id: c.id.clone(),
            name: c.spec.name.clone(),
            image: c.spec.image.clone(),
            image_id: c.image_id.clone(),
            command: c.spec.cmd.clone().unwrap_or_default().join(" "),
            created: 0,
            state: c.state,
            status: match c.state {
                State::Exited => format!("Exited ({})", c.exit_code.unwrap_or(0)),
                State::Running => "Up".into(),
                s => s.as_str().to_string(),
            },
            labels: c.spec.labels.clone(),
            mounts: c
                .spec
                .mounts
                .iter()
                .map(|m| MountInfo {
                    kind: m.kind.clone(),
                    name: if m.kind == "volume" { m.source.clone() } else { None },
                    source: m.source.clone().unwrap_or_default(),
                    destination: m.target.clone(),
                })
                .collect(),
            ports: c
                .spec
                .port_bindings
                .iter()
                .map(|p| {
                    let (private, proto) = p.container.split_once('/').unwrap_or((&p.container, "tcp"));
                    PortInfo {
                        ip: p.host_ip.clone(),
                        private: private.parse().unwrap_or(0),
                        public: p.host_port.parse().ok(),
                        protocol: proto.into(),
                    }
                })
                .collect(),
            networks: c.spec.endpoints.iter().map(|e| e.network.clone()).collect(),
        }
    }
}
