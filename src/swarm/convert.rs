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
