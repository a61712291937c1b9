//! What a test command run against a stack is told (`wharf test -- CMD`, or a test suite using
//! [`crate::stack::Stack::environment`]): `COMPOSE_PROJECT_NAME`, and for each published port
//! of each service's first container `WHARF_HOST_<SERVICE>` and
//! `WHARF_PORT_<SERVICE>_<CONTAINERPORT>` (names upper-cased, other characters as `_`; other
//! protocols than tcp get a suffix, `_UDP`).

use std::collections::BTreeMap;

use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::model::labels::{NUMBER, SERVICE};

/// `NAME` upper-cased with every non-alphanumeric turned into `_`.
pub fn env_key(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The variables for `project` as it runs now.
pub async fn environment<E: Engine>(engine: &E, project: &Project) -> Result<BTreeMap<String, String>, EngineError> {
    let list = engine.list_containers(&project.name).await?;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("COMPOSE_PROJECT_NAME".into(), project.name.clone());
    for c in list.iter().filter(|c| c.label(NUMBER) == Some("1")) {
        let svc = env_key(c.label(SERVICE).unwrap_or(""));
        for p in &c.ports {
            let Some(public) = p.public else { continue };
            let host = match p.ip.as_deref() {
                None | Some("") | Some("0.0.0.0") | Some("::") => "127.0.0.1",
                Some(ip) => ip,
            };
            env.entry(format!("WHARF_HOST_{svc}")).or_insert_with(|| host.to_string());
            let key = match p.protocol.as_str() {
                "tcp" => format!("WHARF_PORT_{svc}_{}", p.private),
                proto => format!("WHARF_PORT_{svc}_{}_{}", p.private, env_key(proto)),
            };
            env.entry(key).or_insert_with(|| public.to_string());
        }
    }
    Ok(env)
}

/// Warnings for ports published on a fixed host port: parallel runs of one file collide.
pub fn fixed_port_warnings(project: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        for p in svc.ports.iter().filter(|p| p.published.as_deref().is_some_and(|x| !x.is_empty())) {
            out.push(format!(
                "service `{name}` publishes the fixed host port {}: parallel test runs of this file will collide; write `\"{}\"` for an ephemeral port",
                p.published.as_deref().unwrap_or(""),
                p.target
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_become_variable_names() {
        assert_eq!(env_key("my-web.1"), "MY_WEB_1");
        assert_eq!(env_key("udp"), "UDP");
    }
}
