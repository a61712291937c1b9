//! The compose model as Swarm objects: each service as the Engine API's `ServiceSpec` JSON,
//! its networks, and the secrets and configs it uses, named and labelled as `docker stack
//! deploy` names them (`STACK_service`, `com.docker.stack.namespace`), secrets and configs
//! versioned by content. Pure: the caller reads files and resolves images first.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::engine::NetworkSpec;
use crate::engine::swarm::DataKind;
use crate::model::{Condition, Service};
use crate::model::{Duration, Project};

/// `com.docker.stack.namespace`: the stack an object belongs to.
pub const NAMESPACE: &str = "com.docker.stack.namespace";
/// `com.docker.stack.image`: the image as the file names it.
pub const IMAGE: &str = "com.docker.stack.image";
/// The hash of the rest of a service's spec: equal means no update.
pub const SPEC_HASH: &str = "dev.wharf.stack.spec-hash";
/// The content hash of a secret or config.
pub const DATA_HASH: &str = "dev.wharf.stack.data-hash";

/// A secret or config the stack needs: created under `name` when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedData {
    pub kind: DataKind,
    /// Its key under top-level `secrets:`/`configs:`.
    pub key: String,
    pub name: String,
    pub external: bool,
    pub labels: BTreeMap<String, String>,
}

/// One service as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct WantedService {
    /// The compose service name.
    pub service: String,
    /// `STACK_service`.
    pub name: String,
    pub spec: Value,
    pub hash: String,
    pub depends_on: Vec<(String, Condition)>,
    /// `replicated-job` or `global-job`: done when its tasks complete.
    pub job: bool,
}

/// A key Swarm cannot express, ignored: where it is (`services.NAME.KEY`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub path: Vec<String>,
    pub reason: String,
}

/// Everything a stack should have.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Wanted {
    pub stack: String,
    pub networks: Vec<NetworkSpec>,
    /// External networks: must exist.
    pub external_networks: Vec<String>,
    pub data: Vec<WantedData>,
    pub services: Vec<WantedService>,
    pub unsupported: Vec<Unsupported>,
}

/// Service keys the conversion reads (or that mean nothing on a cluster but ordering, which
/// wharf honours).
const CONVERTED: &[&str] = &[
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "depends_on",
    "deploy",
    "dns",
    "dns_opt",
    "dns_search",
    "entrypoint",
    "environment",
    "env_file",
    "extra_hosts",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "logging",
    "networks",
    "ports",
    "profiles",
    "read_only",
    "restart",
    "secrets",
    "stop_grace_period",
    "stop_signal",
    "stdin_open",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
    "pull_policy",
    "build",
];

fn ns(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos())
}

/// A duration given as JSON (a compose duration string, or nanoseconds).
fn json_ns(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => Duration::parse(s).ok().map(|d| d.as_nanos()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn put(m: &mut Map<String, Value>, key: &str, v: Value) {
    let empty = match &v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(key.to_string(), v);
    }
}

fn labels_json(l: &BTreeMap<String, String>) -> Value {
    Value::Object(l.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// `update_config`/`rollback_config` as the API's `UpdateConfig`.
fn update_config(v: Option<&Value>) -> Value {
    let Some(o) = v.and_then(Value::as_object) else { return Value::Null };
    let mut m = Map::new();
    put(&mut m, "Parallelism", o.get("parallelism").cloned().unwrap_or(Value::Null));
    put(&mut m, "Delay", json_ns(o.get("delay")).map(Value::from).unwrap_or(Value::Null));
    put(&mut m, "FailureAction", o.get("failure_action").cloned().unwrap_or(Value::Null));
    put(&mut m, "Monitor", json_ns(o.get("monitor")).map(Value::from).unwrap_or(Value::Null));
    put(&mut m, "MaxFailureRatio", o.get("max_failure_ratio").cloned().unwrap_or(Value::Null));
    put(&mut m, "Order", o.get("order").cloned().unwrap_or(Value::Null));
    Value::Object(m)
}

/// The content-versioned name of a secret or config: `STACK_key-<first 10 of its hash>`, or
/// the `name:` the file gives, with the same suffix.
pub fn data_name(stack: &str, key: &str, given: Option<&str>, hash: &str) -> String {
    let base = given.map(str::to_string).unwrap_or_else(|| format!("{stack}_{key}"));
    format!("{base}-{}", &hash[..hash.len().min(10)])
}

/// Converts `project` into stack `stack`. `images` holds each service's image reference as
/// deployed (pinned to a digest where one was resolved); `hashes` each non-external secret's
/// and config's content hash (by kind and key).
pub fn convert(
    project: &Project,
    stack: &str,
    images: &BTreeMap<String, String>,
    hashes: &BTreeMap<(DataKind, String), String>,
) -> Wanted {
    let mut w = Wanted { stack: stack.to_string(), ..Wanted::default() };
    let ns_label = BTreeMap::from([(NAMESPACE.to_string(), stack.to_string())]);
    // Networks the services use.
    let mut used_nets: Vec<&str> = Vec::new();
    for svc in project.services.values() {
        if svc.networks.is_empty() && svc.network_mode.is_none() {
            used_nets.push("default");
        }
        used_nets.extend(svc.networks.keys().map(String::as_str));
    }
    used_nets.sort();
    used_nets.dedup();
    let net_name = |key: &str| -> String {
        project.networks.get(key).and_then(|n| n.name.clone()).unwrap_or_else(|| format!("{stack}_{key}"))
    };
    for key in &used_nets {
        let def = project.networks.get(*key).cloned().unwrap_or_default();
        if def.external == Some(true) {
            w.external_networks.push(net_name(key));
            continue;
        }
        let mut labels: BTreeMap<String, String> = def.labels.clone().into_iter().collect();
        labels.extend(ns_label.clone());
        w.networks.push(NetworkSpec {
            name: net_name(key),
            driver: Some(def.driver.clone().unwrap_or_else(|| "overlay".into())),
            driver_opts: def.driver_opts.clone().into_iter().collect(),
            internal: def.internal == Some(true),
            attachable: def.attachable == Some(true),
            enable_ipv6: def.enable_ipv6 == Some(true),
            labels,
            ipam: def
                .ipam
                .as_ref()
                .map(|i| i.config.iter().map(|c| (c.subnet.clone(), c.gateway.clone(), c.ip_range.clone())).collect())
                .unwrap_or_default(),
            ipam_driver: def.ipam.as_ref().and_then(|i| i.driver.clone()),
        });
    }
    // Secrets and configs the services use.
    for (kind, defs) in [(DataKind::Secret, &project.secrets), (DataKind::Config, &project.configs)] {
        for (key, def) in defs {
            let used = project.services.values().any(|s| {
                let refs = if kind == DataKind::Secret { &s.secrets } else { &s.configs };
                refs.iter().any(|r| &r.source == key)
            });
            if !used {
                continue;
            }
            if def.external == Some(true) {
                let name = def.name.clone().unwrap_or_else(|| key.clone());
                w.data.push(WantedData { kind, key: key.clone(), name, external: true, labels: BTreeMap::new() });
                continue;
            }
            let hash = hashes.get(&(kind, key.clone())).cloned().unwrap_or_default();
            let mut labels: BTreeMap<String, String> = def.labels.clone().into_iter().collect();
            labels.extend(ns_label.clone());
            labels.insert(DATA_HASH.into(), hash.clone());
            let name = data_name(stack, key, def.name.as_deref(), &hash);
            w.data.push(WantedData { kind, key: key.clone(), name, external: false, labels });
        }
    }
    for (service, svc) in &project.services {
        let image = images.get(service).cloned().unwrap_or_else(|| crate::plan::spec::image_name(stack, service, svc));
        let spec = service_spec(project, stack, service, svc, &image, &w, &net_name);
        let mut hashed = spec.clone();
        let hash = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(crate::hash::canonical_json(&hashed).as_bytes());
            h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
        };
        hashed["Labels"][SPEC_HASH] = Value::String(hash.clone());
        let mode = svc.deploy.as_ref().and_then(|d| d.mode.as_deref()).unwrap_or("replicated");
        w.services.push(WantedService {
            service: service.clone(),
            name: format!("{stack}_{service}"),
            spec: hashed,
            hash,
            depends_on: svc.depends_on.iter().map(|(d, c)| (d.clone(), c.condition)).collect(),
            job: mode.ends_with("-job"),
        });
        // Keys Swarm cannot express.
        if let Some(obj) = serde_json::to_value(svc).ok().as_ref().and_then(Value::as_object) {
            for key in obj.keys() {
                if !CONVERTED.contains(&key.as_str()) && !key.starts_with("x-") {
                    w.unsupported.push(Unsupported {
                        path: vec!["services".into(), service.clone(), key.clone()],
                        reason: "Swarm services have no such setting; ignored".into(),
                    });
                }
            }
        }
        if svc.build.is_some() && svc.image.is_none() {
            w.unsupported.push(Unsupported {
                path: vec!["services".into(), service.clone(), "build".into()],
                reason: format!("nodes cannot build: give the service an `image:` (the build is tagged `{image}`), build and push it with `--build --push`"),
            });
        }
    }
    w
}

#[allow(clippy::too_many_arguments)]
fn service_spec(
    project: &Project,
    stack: &str,
    service: &str,
    svc: &Service,
    image: &str,
    w: &Wanted,
    net_name: &dyn Fn(&str) -> String,
) -> Value {
    let deploy = svc.deploy.clone().unwrap_or_default();
    let ns_label = (NAMESPACE.to_string(), Value::String(stack.to_string()));
    // ContainerSpec
    let mut c = Map::new();
    c.insert("Image".into(), Value::String(image.to_string()));
    let mut clabels: Map<String, Value> =
        svc.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    clabels.insert(ns_label.0.clone(), ns_label.1.clone());
    put(&mut c, "Labels", Value::Object(clabels));
    put(&mut c, "Command", json!(svc.entrypoint));
    put(&mut c, "Args", json!(svc.command));
    put(&mut c, "Hostname", json!(svc.hostname));
    let mut env: Vec<String> =
        svc.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect();
    env.sort();
    put(&mut c, "Env", json!(env));
    put(&mut c, "Dir", json!(svc.working_dir));
    put(&mut c, "User", json!(svc.user));
    put(&mut c, "Groups", json!(svc.group_add));
    put(&mut c, "StopSignal", json!(svc.stop_signal));
    put(&mut c, "StopGracePeriod", json!(ns(svc.stop_grace_period)));
    put(&mut c, "Init", json!(svc.init));
    put(&mut c, "TTY", json!(svc.tty));
    put(&mut c, "OpenStdin", json!(svc.stdin_open));
    put(&mut c, "ReadOnly", json!(svc.read_only));
    put(&mut c, "CapabilityAdd", json!(svc.cap_add));
    put(&mut c, "CapabilityDrop", json!(svc.cap_drop));
    put(&mut c, "Sysctls", json!(svc.sysctls));
    let ulimits: Vec<Value> = svc
        .ulimits
        .iter()
        .map(|(name, u)| {
            let (soft, hard) = match u {
                crate::model::Ulimit::Single(n) => (*n, *n),
                crate::model::Ulimit::Range { soft, hard } => (*soft, *hard),
            };
            json!({"Name": name, "Soft": soft, "Hard": hard})
        })
        .collect();
    put(&mut c, "Ulimits", json!(ulimits));
    // `host:ip` (or `host=ip`) as the engine's hosts file lines, `ip host`.
    let hosts: Vec<String> = svc
        .extra_hosts
        .iter()
        .filter_map(|h| {
            let (host, ip) = h.split_once('=').or_else(|| h.split_once(':'))?;
            Some(format!("{} {host}", ip.trim_start_matches('[').trim_end_matches(']')))
        })
        .collect();
    put(&mut c, "Hosts", json!(hosts));
    let mut dns = Map::new();
    put(&mut dns, "Nameservers", json!(svc.dns));
    put(&mut dns, "Search", json!(svc.dns_search));
    put(&mut dns, "Options", json!(svc.dns_opt));
    put(&mut c, "DNSConfig", Value::Object(dns));
    if let Some(h) = &svc.healthcheck {
        let mut hc = Map::new();
        if h.disable == Some(true) {
            hc.insert("Test".into(), json!(["NONE"]));
        } else {
            put(&mut hc, "Test", json!(h.test));
            put(&mut hc, "Interval", json!(ns(h.interval)));
            put(&mut hc, "Timeout", json!(ns(h.timeout)));
            put(&mut hc, "Retries", json!(h.retries));
            put(&mut hc, "StartPeriod", json!(ns(h.start_period)));
        }
        put(&mut c, "Healthcheck", Value::Object(hc));
    }
    // Mounts.
    let mut mounts = Vec::new();
    for v in &svc.volumes {
        let mut m = Map::new();
        m.insert("Target".into(), json!(v.target));
        put(&mut m, "ReadOnly", json!(v.read_only));
        match v.kind.as_str() {
            "volume" => {
                m.insert("Type".into(), json!("volume"));
                let mut opts = Map::new();
                if let Some(src) = &v.source {
                    let def = project.volumes.get(src).cloned().unwrap_or_default();
                    let name = def.name.clone().unwrap_or_else(|| format!("{stack}_{src}"));
                    m.insert("Source".into(), json!(name));
                    if def.external != Some(true) {
                        let mut l: Map<String, Value> = def.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                        l.insert(ns_label.0.clone(), ns_label.1.clone());
                        opts.insert("Labels".into(), Value::Object(l));
                        if def.driver.is_some() || !def.driver_opts.is_empty() {
                            let mut d = Map::new();
                            put(&mut d, "Name", json!(def.driver));
                            put(&mut d, "Options", json!(def.driver_opts));
                            opts.insert("DriverConfig".into(), Value::Object(d));
                        }
                    }
                }
                if let Some(vo) = &v.volume {
                    put(&mut opts, "NoCopy", json!(vo.nocopy));
                }
                put(&mut m, "VolumeOptions", Value::Object(opts));
            }
            "bind" => {
                m.insert("Type".into(), json!("bind"));
                put(&mut m, "Source", json!(v.source));
                if let Some(b) = &v.bind {
                    let mut bo = Map::new();
                    put(&mut bo, "Propagation", json!(b.propagation));
                    put(&mut m, "BindOptions", Value::Object(bo));
                }
            }
            other => {
                m.insert("Type".into(), json!(other));
                put(&mut m, "Source", json!(v.source));
            }
        }
        mounts.push(Value::Object(m));
    }
    for t in &svc.tmpfs {
        let target = t.split(':').next().unwrap_or(t);
        mounts.push(json!({"Type": "tmpfs", "Target": target}));
    }
    put(&mut c, "Mounts", json!(mounts));
    // Secrets and configs: by name (the engine resolves the ID).
    for (kind, refs, field, default_dir) in
        [(DataKind::Secret, &svc.secrets, "Secrets", ""), (DataKind::Config, &svc.configs, "Configs", "/")]
    {
        let mut list = Vec::new();
        for r in refs {
            let Some(d) = w.data.iter().find(|d| d.kind == kind && d.key == r.source) else { continue };
            let target = r.target.clone().unwrap_or_else(|| format!("{default_dir}{}", r.source));
            let file = json!({
                "Name": target,
                "UID": r.uid.clone().unwrap_or_else(|| "0".into()),
                "GID": r.gid.clone().unwrap_or_else(|| "0".into()),
                "Mode": r.mode.unwrap_or(0o444),
            });
            let (id_key, name_key) =
                if kind == DataKind::Secret { ("SecretID", "SecretName") } else { ("ConfigID", "ConfigName") };
            list.push(json!({"File": file, id_key: "", name_key: d.name}));
        }
        put(&mut c, field, json!(list));
    }
    // TaskTemplate.
    let mut tt = Map::new();
    tt.insert("ContainerSpec".into(), Value::Object(c));
    if let Some(r) = &deploy.resources {
        let res = |x: &Option<crate::model::Resource>, pids: bool| -> Value {
            let Some(x) = x else { return Value::Null };
            let mut m = Map::new();
            put(&mut m, "NanoCPUs", json!(x.cpus.map(|c| (c * 1e9) as i64)));
            put(&mut m, "MemoryBytes", json!(x.memory));
            if pids {
                put(&mut m, "Pids", json!(x.pids));
            }
            Value::Object(m)
        };
        let mut m = Map::new();
        put(&mut m, "Limits", res(&r.limits, true));
        put(&mut m, "Reservations", res(&r.reservations, false));
        put(&mut tt, "Resources", Value::Object(m));
    }
    let mode = deploy.mode.as_deref().unwrap_or("replicated");
    let job = mode.ends_with("-job");
    let restart = match &deploy.restart_policy {
        Some(p) => {
            let mut m = Map::new();
            put(&mut m, "Condition", json!(p.condition));
            put(&mut m, "Delay", json!(ns(p.delay)));
            put(&mut m, "MaxAttempts", json!(p.max_attempts));
            put(&mut m, "Window", json!(ns(p.window)));
            Value::Object(m)
        }
        // `restart:` as the docker CLI reads it; a job is not restarted unless it says so.
        None => match svc.restart.as_deref() {
            _ if job => json!({"Condition": "none"}),
            Some("no") => json!({"Condition": "none"}),
            Some("always") | Some("unless-stopped") => json!({"Condition": "any"}),
            Some(r) if r.starts_with("on-failure") => {
                match r.split_once(':').and_then(|(_, n)| n.parse::<u64>().ok()) {
                    Some(n) => json!({"Condition": "on-failure", "MaxAttempts": n}),
                    None => json!({"Condition": "on-failure"}),
                }
            }
            _ => Value::Null,
        },
    };
    put(&mut tt, "RestartPolicy", restart);
    if let Some(p) = deploy.placement.as_ref().and_then(Value::as_object) {
        let mut m = Map::new();
        put(&mut m, "Constraints", p.get("constraints").cloned().unwrap_or(Value::Null));
        let prefs: Vec<Value> = p
            .get("preferences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter().filter_map(|x| x.get("spread")).map(|s| json!({"Spread": {"SpreadDescriptor": s}})).collect()
            })
            .unwrap_or_default();
        put(&mut m, "Preferences", json!(prefs));
        put(&mut m, "MaxReplicas", p.get("max_replicas_per_node").cloned().unwrap_or(Value::Null));
        put(&mut tt, "Placement", Value::Object(m));
    }
    let mut nets: Vec<(String, Vec<String>)> = Vec::new();
    if svc.networks.is_empty() {
        nets.push((net_name("default"), vec![service.to_string()]));
    }
    for (key, n) in &svc.networks {
        let mut aliases = vec![service.to_string()];
        aliases.extend(n.as_ref().map(|n| n.aliases.clone()).unwrap_or_default());
        nets.push((net_name(key), aliases));
    }
    nets.sort();
    let nets: Vec<Value> = nets.into_iter().map(|(t, a)| json!({"Target": t, "Aliases": a})).collect();
    put(&mut tt, "Networks", json!(nets));
    if let Some(l) = &svc.logging {
        let mut m = Map::new();
        put(&mut m, "Name", json!(l.driver));
        put(&mut m, "Options", json!(l.options));
        put(&mut tt, "LogDriver", Value::Object(m));
    }
    // The service.
    let mut s = Map::new();
    s.insert("Name".into(), json!(format!("{stack}_{service}")));
    let mut labels: BTreeMap<String, String> = deploy.labels.clone().into_iter().collect();
    labels.insert(NAMESPACE.into(), stack.into());
    labels.insert(IMAGE.into(), svc.image.clone().unwrap_or_else(|| image.to_string()));
    s.insert("Labels".into(), labels_json(&labels));
    s.insert("TaskTemplate".into(), Value::Object(tt));
    let replicas = deploy.replicas.or(svc.scale).unwrap_or(1);
    let mode_json = match mode {
        "global" => json!({"Global": {}}),
        "global-job" => json!({"GlobalJob": {}}),
        "replicated-job" => json!({"ReplicatedJob": {"MaxConcurrent": replicas, "TotalCompletions": replicas}}),
        _ => json!({"Replicated": {"Replicas": replicas}}),
    };
    s.insert("Mode".into(), mode_json);
    put(&mut s, "UpdateConfig", update_config(deploy.update_config.as_ref()));
    put(&mut s, "RollbackConfig", update_config(deploy.rollback_config.as_ref()));
    let mut ep = Map::new();
    put(&mut ep, "Mode", json!(deploy.endpoint_mode));
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("Protocol".into(), json!(p.protocol.clone().unwrap_or_else(|| "tcp".into())));
            m.insert("TargetPort".into(), json!(p.target));
            put(&mut m, "PublishedPort", json!(p.published.as_deref().and_then(|x| x.parse::<u16>().ok())));
            m.insert("PublishMode".into(), json!(p.mode.clone().unwrap_or_else(|| "ingress".into())));
            Value::Object(m)
        })
        .collect();
    put(&mut ep, "Ports", json!(ports));
    put(&mut s, "EndpointSpec", Value::Object(ep));
    Value::Object(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn project(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts =
            crate::LoadOptions { cwd: dir.path().to_path_buf(), project_name: Some("st".into()), ..Default::default() };
        crate::load(&opts).unwrap().project
    }

    fn one(yaml: &str) -> Value {
        let w = convert(&project(yaml), "st", &BTreeMap::new(), &BTreeMap::new());
        w.services[0].spec.clone()
    }

    #[test]
    fn a_service_gets_the_docker_cli_names_labels_and_network() {
        let w = convert(
            &project(
                "services:\n  web:\n    image: nginx\n    labels: {a: b}\n    deploy:\n      labels: {tier: front}\n",
            ),
            "st",
            &BTreeMap::from([("web".to_string(), "nginx@sha256:abc".to_string())]),
            &BTreeMap::new(),
        );
        let s = &w.services[0].spec;
        assert_eq!(s["Name"], "st_web");
        assert_eq!(s["Labels"][NAMESPACE], "st");
        assert_eq!(s["Labels"][IMAGE], "nginx");
        assert_eq!(s["Labels"]["tier"], "front");
        assert_eq!(s["TaskTemplate"]["ContainerSpec"]["Image"], "nginx@sha256:abc");
        assert_eq!(s["TaskTemplate"]["ContainerSpec"]["Labels"]["a"], "b");
        assert_eq!(s["TaskTemplate"]["ContainerSpec"]["Labels"][NAMESPACE], "st");
        assert_eq!(s["TaskTemplate"]["Networks"], json!([{"Target": "st_default", "Aliases": ["web"]}]));
        assert_eq!(s["Mode"], json!({"Replicated": {"Replicas": 1}}));
        assert_eq!(w.networks.len(), 1);
        assert_eq!(w.networks[0].name, "st_default");
        assert_eq!(w.networks[0].driver.as_deref(), Some("overlay"));
        assert_eq!(w.networks[0].labels[NAMESPACE], "st");
        assert_eq!(s["Labels"][SPEC_HASH], w.services[0].hash.as_str());
    }

    #[test]
    fn deploy_keys_become_the_api_fields() {
        let s = one(r#"services:
  web:
    image: img
    command: [serve, --port, "80"]
    entrypoint: [/bin/app]
    environment: {B: "2", A: "1"}
    user: "1000"
    working_dir: /srv
    stop_grace_period: 3s
    stop_signal: SIGINT
    init: true
    extra_hosts: ["db:10.0.0.2"]
    healthcheck: {test: [CMD, check], interval: 2s, retries: 4}
    ports: ["8080:80", {target: 81, published: "8081", mode: host}]
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      resources: {limits: {cpus: "0.5", memory: 64M}, reservations: {memory: 32M}}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 2}
      placement: {constraints: ["node.role==worker"], preferences: [{spread: node.labels.zone}], max_replicas_per_node: 2}
      update_config: {parallelism: 2, delay: 5s, failure_action: rollback, order: start-first}
"#);
        let c = &s["TaskTemplate"]["ContainerSpec"];
        assert_eq!(c["Command"], json!(["/bin/app"]));
        assert_eq!(c["Args"], json!(["serve", "--port", "80"]));
        assert_eq!(c["Env"], json!(["A=1", "B=2"]));
        assert_eq!(c["User"], "1000");
        assert_eq!(c["Dir"], "/srv");
        assert_eq!(c["StopGracePeriod"], 3_000_000_000i64);
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(c["Init"], true);
        assert_eq!(c["Hosts"], json!(["10.0.0.2 db"]));
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD", "check"], "Interval": 2_000_000_000i64, "Retries": 4}));
        let t = &s["TaskTemplate"];
        assert_eq!(t["Resources"]["Limits"], json!({"NanoCPUs": 500_000_000, "MemoryBytes": 67_108_864}));
        assert_eq!(t["Resources"]["Reservations"], json!({"MemoryBytes": 33_554_432}));
        assert_eq!(t["RestartPolicy"], json!({"Condition": "on-failure", "Delay": 1_000_000_000i64, "MaxAttempts": 2}));
        assert_eq!(t["Placement"]["Constraints"], json!(["node.role==worker"]));
        assert_eq!(t["Placement"]["Preferences"], json!([{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]));
        assert_eq!(t["Placement"]["MaxReplicas"], 2);
        assert_eq!(s["Mode"]["Replicated"]["Replicas"], 3);
        assert_eq!(
            s["UpdateConfig"],
            json!({"Parallelism": 2, "Delay": 5_000_000_000i64, "FailureAction": "rollback", "Order": "start-first"})
        );
        assert_eq!(s["EndpointSpec"]["Mode"], "dnsrr");
        assert_eq!(
            s["EndpointSpec"]["Ports"],
            json!([
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
                {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "host"},
            ])
        );
    }

    #[test]
    fn jobs_global_services_and_restart() {
        let s = one("services:\n  j:\n    image: i\n    deploy: {mode: replicated-job, replicas: 2}\n");
        assert_eq!(s["Mode"], json!({"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}}));
        assert_eq!(s["TaskTemplate"]["RestartPolicy"]["Condition"], "none");
        let s = one("services:\n  g:\n    image: i\n    deploy: {mode: global}\n");
        assert_eq!(s["Mode"], json!({"Global": {}}));
        let s = one("services:\n  r:\n    image: i\n    restart: on-failure:4\n");
        assert_eq!(s["TaskTemplate"]["RestartPolicy"], json!({"Condition": "on-failure", "MaxAttempts": 4}));
        let s = one("services:\n  r:\n    image: i\n    restart: \"no\"\n");
        assert_eq!(s["TaskTemplate"]["RestartPolicy"], json!({"Condition": "none"}));
    }

    #[test]
    fn volumes_secrets_and_configs() {
        let p = project(
            r#"services:
  db:
    image: i
    volumes: [data:/var/lib/db, /srv:/srv:ro]
    secrets: [{source: pw, target: db_pw, uid: "70", mode: 0400}]
    configs: [conf]
volumes:
  data: {driver_opts: {type: tmpfs}}
secrets:
  pw: {file: ./pw.txt}
configs:
  conf: {content: "x=1"}
"#,
        );
        let hashes = BTreeMap::from([
            ((DataKind::Secret, "pw".to_string()), "0123456789abcdef".to_string()),
            ((DataKind::Config, "conf".to_string()), "fedcba9876543210".to_string()),
        ]);
        let w = convert(&p, "st", &BTreeMap::new(), &hashes);
        let c = &w.services[0].spec["TaskTemplate"]["ContainerSpec"];
        assert_eq!(c["Mounts"][0]["Type"], "volume");
        assert_eq!(c["Mounts"][0]["Source"], "st_data");
        assert_eq!(c["Mounts"][0]["VolumeOptions"]["Labels"][NAMESPACE], "st");
        assert_eq!(c["Mounts"][0]["VolumeOptions"]["DriverConfig"]["Options"]["type"], "tmpfs");
        assert_eq!(c["Mounts"][1], json!({"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": true}));
        assert_eq!(
            c["Secrets"][0],
            json!({"File": {"Name": "db_pw", "UID": "70", "GID": "0", "Mode": 0o400}, "SecretID": "", "SecretName": "st_pw-0123456789"})
        );
        assert_eq!(c["Configs"][0]["ConfigName"], "st_conf-fedcba9876");
        assert_eq!(c["Configs"][0]["File"]["Name"], "/conf");
        let names: Vec<&str> = w.data.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["st_pw-0123456789", "st_conf-fedcba9876"]);
        assert_eq!(w.data[0].labels[DATA_HASH], "0123456789abcdef");
    }

    #[test]
    fn a_changed_secret_changes_the_name_and_the_hash() {
        let p = project("services:\n  a:\n    image: i\n    secrets: [s]\nsecrets:\n  s: {content: x}\n");
        let h = |x: &str| BTreeMap::from([((DataKind::Secret, "s".to_string()), x.repeat(16))]);
        let (one, two) = (convert(&p, "st", &BTreeMap::new(), &h("a")), convert(&p, "st", &BTreeMap::new(), &h("b")));
        assert_ne!(one.data[0].name, two.data[0].name);
        assert_ne!(one.services[0].hash, two.services[0].hash);
        assert_eq!(one.services[0].hash, convert(&p, "st", &BTreeMap::new(), &h("a")).services[0].hash);
    }

    #[test]
    fn keys_swarm_cannot_express_are_named() {
        let w = convert(
            &project(
                "services:\n  a:\n    image: i\n    privileged: true\n    container_name: xy\n    network_mode: host\n",
            ),
            "st",
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        let paths: Vec<String> = w.unsupported.iter().map(|u| u.path.join(".")).collect();
        assert_eq!(paths, ["services.a.container_name", "services.a.network_mode", "services.a.privileged"]);
    }
}
