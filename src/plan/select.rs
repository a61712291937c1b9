//! Picking containers out of what the engine listed, by the compose labels: a project's service
//! containers of some services, one replica of a service. Pure; used by every verb and by
//! readiness.

use crate::engine::ContainerInfo;
use crate::model::Project;
use crate::model::labels::{NUMBER, ONEOFF, SERVICE};

/// The project's service containers (not one-offs) of `services` (all when empty).
pub fn targets(project: &Project, containers: Vec<ContainerInfo>, services: &[String]) -> Vec<ContainerInfo> {
    containers
        .into_iter()
        .filter(|c| c.label(ONEOFF) != Some("True"))
        .filter(|c| {
            let svc = c.label(SERVICE).unwrap_or("");
            project.services.contains_key(svc) && (services.is_empty() || services.iter().any(|s| s == svc))
        })
        .collect()
}

/// An orphan, as compose counts them: a service container whose service the project has not
/// (enabled or disabled by a profile), or a one-off that has exited (one still running is left
/// alone).
pub fn is_orphan(project: &Project, c: &ContainerInfo) -> bool {
    if c.label(ONEOFF) == Some("True") {
        return matches!(c.state, crate::engine::State::Exited | crate::engine::State::Dead);
    }
    let svc = c.label(SERVICE).unwrap_or("");
    !project.services.contains_key(svc) && !project.disabled.contains_key(svc)
}

/// Replica `n` of `service` among `containers`.
pub fn replica(containers: Vec<ContainerInfo>, service: &str, n: u32) -> Option<ContainerInfo> {
    let n = n.to_string();
    containers.into_iter().find(|c| c.label(SERVICE) == Some(service) && c.label(NUMBER) == Some(n.as_str()))
}
