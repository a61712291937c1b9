//! Engine events, typed once where they enter: what happened to which container.

use std::collections::BTreeMap;

/// What happened to a container, as one engine event says it; parsed once, where the event
/// enters (`engine/docker/`), so nothing above matches the engine's action text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Start,
    /// Its process ended; the exit code, when the engine gave one.
    Die {
        exit_code: Option<i64>,
    },
    /// A health probe changed its health.
    Health(HealthStatus),
    /// Anything else (`create`, `stop`, `destroy`, `pause`, `oom`, `exec_start: …`, …), as the
    /// engine names it.
    Other(String),
}

/// A container's health, as its healthcheck reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

impl EventKind {
    /// The engine's action text and attributes (`die` carries `exitCode`).
    pub fn parse(action: &str, attributes: &BTreeMap<String, String>) -> EventKind {
        match action {
            "start" => EventKind::Start,
            "die" => EventKind::Die { exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()) },
            "health_status: healthy" => EventKind::Health(HealthStatus::Healthy),
            "health_status: unhealthy" => EventKind::Health(HealthStatus::Unhealthy),
            "health_status: starting" => EventKind::Health(HealthStatus::Starting),
            other => EventKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for EventKind {
    /// The engine's own name for it (`docker events` prints these).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventKind::Start => f.write_str("start"),
            EventKind::Die { .. } => f.write_str("die"),
            EventKind::Health(h) => write!(f, "health_status: {}", h.as_str()),
            EventKind::Other(a) => f.write_str(a),
        }
    }
}

/// One engine event about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub id: String,
    /// The container's name and labels (the engine sends both as attributes).
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Event {
    /// An event of `kind` about container `id` named `name`.
    pub fn new(kind: EventKind, id: &str, name: &str) -> Event {
        let attributes = BTreeMap::from([("name".to_string(), name.to_string())]);
        Event { kind, id: id.to_string(), attributes, time_nano: 0 }
    }
    /// Its exit code, for a `die` event that carries one.
    pub fn exit_code(&self) -> Option<i64> {
        match self.kind {
            EventKind::Die { exit_code } => exit_code,
            _ => None,
        }
    }
    pub fn name(&self) -> &str {
        self.attributes.get("name").map(String::as_str).unwrap_or("")
    }
    pub fn label(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_actions_are_typed_once_and_print_as_the_engine_names_them() {
        let code = BTreeMap::from([("exitCode".to_string(), "3".to_string())]);
        let none = BTreeMap::new();
        assert_eq!(EventKind::parse("die", &code), EventKind::Die { exit_code: Some(3) });
        assert_eq!(EventKind::parse("die", &none), EventKind::Die { exit_code: None });
        assert_eq!(EventKind::parse("start", &none), EventKind::Start);
        let unhealthy = EventKind::parse("health_status: unhealthy", &none);
        assert_eq!(unhealthy, EventKind::Health(HealthStatus::Unhealthy));
        assert_eq!(
            EventKind::parse("exec_start: sh -c true", &none),
            EventKind::Other("exec_start: sh -c true".into())
        );
        for action in ["start", "die", "health_status: healthy", "health_status: starting", "destroy"] {
            assert_eq!(EventKind::parse(action, &none).to_string(), action);
        }
    }
}
