//! The service config hash stored in `com.docker.compose.config-hash`: a SHA-256 over an
//! explicit list of service fields in canonical JSON (keys sorted). Fields that do not change
//! the container (`build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on`, `profiles`,
//! `develop`, `x-*`) are left out, so changing them never recreates anything. The list and a
//! version tag are part of the hashed input; golden tests pin the output so a wharf upgrade
//! cannot silently recreate every container (the fault of docker/compose#11335).

use sha2::{Digest, Sha256};

use crate::model::Service;

/// Bumped only with a deliberate, documented change of the hashed input.
pub const HASH_VERSION: &str = "wharf-config-hash-v1";

/// The service fields that take part in the hash (canonical names).
pub const HASHED_FIELDS: &[&str] = &[
    "annotations",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "environment",
    "expose",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "read_only",
    "restart",
    "runtime",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// The hash of a service's container-relevant configuration, as lowercase hex.
pub fn service_hash(svc: &Service) -> String {
    let full = serde_json::to_value(svc).unwrap_or_default();
    let mut picked = serde_json::Map::new();
    if let Some(obj) = full.as_object() {
        for f in HASHED_FIELDS {
            if let Some(v) = obj.get(*f) {
                picked.insert((*f).to_string(), v.clone());
            }
        }
    }
    // Replicas are not part of a container's identity.
    if let Some(d) = picked.get_mut("deploy").and_then(|d| d.as_object_mut()) {
        d.remove("replicas");
    }
    let canonical = canonical_json(&serde_json::Value::Object(picked));
    let mut h = Sha256::new();
    h.update(HASH_VERSION.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON with object keys sorted at every level: one text for one value.
pub fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap_or_default(), canonical_json(&o[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        J::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Condition, DependsOn};

    fn web() -> Service {
        let mut s = Service {
            image: Some("busybox".into()),
            command: Some(vec!["httpd".into(), "-f".into()]),
            ..Service::default()
        };
        s.environment.insert("A".into(), Some("1".into()));
        s.networks.insert("default".into(), None);
        s
    }

    /// Golden value: changing it recreates every container users have. Do not update casually.
    #[test]
    fn golden() {
        assert_eq!(service_hash(&web()), "af06ea0e9fccd908b369233520d24ab1d990bb35ee100d68e6d133643c4cc044");
    }

    #[test]
    fn ignores_fields_that_do_not_change_the_container() {
        let mut s = web();
        s.scale = Some(3);
        s.profiles = vec!["dev".into()];
        s.depends_on
            .insert("db".into(), DependsOn { condition: Condition::ServiceHealthy, restart: false, required: true });
        s.pull_policy = Some("always".into());
        assert_eq!(service_hash(&s), service_hash(&web()));
    }

    #[test]
    fn changes_with_the_container_config() {
        let mut s = web();
        s.environment.insert("A".into(), Some("2".into()));
        assert_ne!(service_hash(&s), service_hash(&web()));
    }

    #[test]
    fn key_order_does_not_matter() {
        let mut a = web();
        a.labels.insert("x".into(), "1".into());
        a.labels.insert("y".into(), "2".into());
        let mut b = web();
        b.labels.insert("y".into(), "2".into());
        b.labels.insert("x".into(), "1".into());
        assert_eq!(service_hash(&a), service_hash(&b));
    }
}
