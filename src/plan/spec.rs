//! Service → [`ContainerSpec`]: what one replica's container looks like. Pure.

use std::collections::BTreeMap;

use crate::engine::{ContainerSpec, Endpoint, FileCopy, Health, Mount, PortBinding};
use crate::hash::service_hash;
use crate::model::labels::*;
use crate::model::{Project, Service};

/// The container name of replica `n` (compose: `<project>-<service>-<n>`; `svc`'s own
/// `container_name` when it has one; the v1 form under `--compatibility`).
pub fn container_name(p: &Project, service: &str, svc: &Service, n: u32) -> String {
    match &svc.container_name {
        Some(name) => name.clone(),
        None if p.compatibility => format!("{}_{service}_{n}", p.name),
        None => format!("{}-{service}-{n}", p.name),
    }
}

/// The image a service runs: `image`, else the name compose gives a built image.
pub fn image_name(project: &str, service: &str, svc: &Service) -> String {
    svc.image.clone().unwrap_or_else(|| format!("{project}-{service}"))
}

/// The stop grace period in seconds (default 10, as the engine).
pub fn stop_timeout(svc: &Service) -> Option<i64> {
    svc.stop_grace_period.map(|d| d.as_secs())
}

/// The container healthcheck of `svc` (`disable: true` becomes `NONE`).
pub fn health(svc: &Service) -> Option<Health> {
    let h = svc.healthcheck.as_ref()?;
    if h.disable == Some(true) {
        return Some(Health { test: vec!["NONE".into()], ..Health::default() });
    }
    Some(Health {
        test: h.test.clone(),
        interval_ns: h.interval.map(|d| d.as_nanos()),
        timeout_ns: h.timeout.map(|d| d.as_nanos()),
        start_period_ns: h.start_period.map(|d| d.as_nanos()),
        start_interval_ns: h.start_interval.map(|d| d.as_nanos()),
        retries: h.retries.map(|r| r as i64),
    })
}

/// The labels every container of `service` carries.
pub fn container_labels(p: &Project, service: &str, svc: &Service, n: u32, image_id: &str) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = svc.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    l.insert(PROJECT.into(), p.name.clone());
    l.insert(SERVICE.into(), service.into());
    l.insert(NUMBER.into(), n.to_string());
    l.insert(ONEOFF.into(), "False".into());
    l.insert(CONFIG_HASH.into(), service_hash(svc));
    l.insert(WORKING_DIR.into(), p.working_dir.display().to_string());
    l.insert(CONFIG_FILES.into(), p.config_files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(","));
    if !p.env_files.is_empty() {
        l.insert(ENV_FILE.into(), p.env_files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(","));
    }
    let deps: Vec<String> =
        svc.depends_on.iter().map(|(d, c)| format!("{d}:{}:{}", c.condition.as_str(), c.restart)).collect();
    l.insert(DEPENDS_ON.into(), deps.join(","));
    l.insert(IMAGE.into(), image_id.to_string());
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    l
}

/// A secret or config (`kind`) of a service that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileObjectError {
    #[error("service `{service}` uses {kind} `{name}`, which is not declared under `{kind}s:`")]
    Undeclared { service: String, kind: &'static str, name: String },
    #[error(
        "service `{service}`: external {kind} `{name}` needs Docker Swarm; declare it with `file:`, `environment:` or `content:`"
    )]
    External { service: String, kind: &'static str, name: String },
    #[error("service `{service}`: {kind} `{name}`: uid/gid `{value}` is not a number")]
    NotANumber { service: String, kind: &'static str, name: String, value: String },
    #[error("service `{service}`: cannot read {kind} `{name}` from {file}: {reason}")]
    Read { service: String, kind: &'static str, name: String, file: String, reason: String },
    #[error("service `{service}`: {kind} `{name}` comes from the environment variable `{variable}`, which is not set")]
    Unset { service: String, kind: &'static str, name: String, variable: String },
    #[error("service `{service}`: {kind} `{name}` has no source: give it `file:`, `environment:` or `content:`")]
    NoSource { service: String, kind: &'static str, name: String },
}

/// Secrets and configs: a host file without ownership or mode is bind-mounted read-only (it
/// stays live, as in compose); anything else (inline `content`, an `environment` variable, a
/// file with `uid`/`gid`/`mode`) is copied in before the first start, with its owner and mode.
/// A source that cannot be honoured is an error naming the service and the source.
pub fn file_objects(p: &Project, service: &str, svc: &Service) -> Result<(Vec<Mount>, Vec<FileCopy>), FileObjectError> {
    let mut mounts = Vec::new();
    let mut files = Vec::new();
    for (kind, refs, defs, default_mode) in
        [("secret", &svc.secrets, &p.secrets, 0o444), ("config", &svc.configs, &p.configs, 0o444)]
    {
        for r in refs {
            let subject = || (service.to_string(), kind, r.source.clone());
            let def = defs.get(&r.source).ok_or_else(|| {
                let (service, kind, name) = subject();
                FileObjectError::Undeclared { service, kind, name }
            })?;
            let target = match &r.target {
                Some(t) if t.starts_with('/') => t.clone(),
                Some(t) if kind == "secret" => format!("/run/secrets/{t}"),
                Some(t) => format!("/{t}"),
                None if kind == "secret" => format!("/run/secrets/{}", r.source),
                None => format!("/{}", r.source),
            };
            if def.external == Some(true) {
                let (service, kind, name) = subject();
                return Err(FileObjectError::External { service, kind, name });
            }
            let id = |v: &Option<String>| -> Result<u64, FileObjectError> {
                v.as_deref().map_or(Ok(0), |x| {
                    x.parse().map_err(|_| {
                        let (service, kind, name) = subject();
                        FileObjectError::NotANumber { service, kind, name, value: x.to_string() }
                    })
                })
            };
            let (uid, gid) = (id(&r.uid)?, id(&r.gid)?);
            let mode = r.mode.unwrap_or(default_mode);
            let content = match (&def.file, &def.environment, &def.content) {
                (Some(file), _, _) if r.uid.is_none() && r.gid.is_none() && r.mode.is_none() => {
                    mounts.push(Mount {
                        kind: "bind".into(),
                        source: Some(file.clone()),
                        target,
                        read_only: true,
                        ..Mount::default()
                    });
                    continue;
                }
                (Some(file), _, _) => std::fs::read(file).map_err(|e| {
                    let (service, kind, name) = subject();
                    FileObjectError::Read { service, kind, name, file: file.clone(), reason: e.to_string() }
                })?,
                (None, Some(var), _) => p
                    .environment
                    .get(var)
                    .ok_or_else(|| {
                        let (service, kind, name) = subject();
                        FileObjectError::Unset { service, kind, name, variable: var.clone() }
                    })?
                    .clone()
                    .into_bytes(),
                (None, None, Some(c)) => c.clone().into_bytes(),
                (None, None, None) => {
                    let (service, kind, name) = subject();
                    return Err(FileObjectError::NoSource { service, kind, name });
                }
            };
            files.push(FileCopy { path: target, content, uid, gid, mode });
        }
    }
    Ok((mounts, files))
}

/// The full container spec for replica `n` of `service`.
pub fn container_spec(p: &Project, service: &str, svc: &Service, n: u32, image_id: &str) -> ContainerSpec {
    let name = container_name(p, service, svc, n);
    let mut s = ContainerSpec {
        name: name.clone(),
        image: image_name(&p.name, service, svc),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        // A variable without a value (`environment: [NAME]` unset for the caller) goes bare, so
        // the engine unsets what the image set, as compose does.
        env: svc
            .environment
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect(),
        labels: container_labels(p, service, svc, n, image_id),
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        mac_address: svc.mac_address.clone(),
        tty: svc.tty.unwrap_or(false),
        stdin_open: svc.stdin_open.unwrap_or(false),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: stop_timeout(svc),
        init: svc.init,
        privileged: svc.privileged.unwrap_or(false),
        read_only: svc.read_only.unwrap_or(false),
        cap_add: svc.cap_add.clone(),
        cap_drop: svc.cap_drop.clone(),
        security_opt: svc.security_opt.clone(),
        dns: svc.dns.clone(),
        dns_search: svc.dns_search.clone(),
        dns_options: svc.dns_opt.clone(),
        extra_hosts: svc.extra_hosts.clone(),
        sysctls: svc.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        pid: svc.pid.clone(),
        ipc: svc.ipc.clone(),
        uts: svc.uts.clone(),
        userns_mode: svc.userns_mode.clone(),
        shm_size: svc.shm_size,
        memory: svc.mem_limit,
        memory_reservation: svc.mem_reservation,
        memory_swap: svc.memswap_limit,
        cpu_shares: svc.cpu_shares,
        cpuset: svc.cpuset.clone(),
        pids_limit: svc.pids_limit,
        group_add: svc.group_add.clone(),
        oom_score_adj: svc.oom_score_adj,
        runtime: svc.runtime.clone(),
        cgroup_parent: svc.cgroup_parent.clone(),
        ..ContainerSpec::default()
    };
    s.nano_cpus = svc.cpus.map(|c| (c * 1e9) as i64);
    if let Some(limits) = svc.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.limits.as_ref()) {
        s.memory = s.memory.or(limits.memory);
        s.nano_cpus = s.nano_cpus.or(limits.cpus.map(|c| (c * 1e9) as i64));
        s.pids_limit = s.pids_limit.or(limits.pids);
    }
    if let Some(r) = svc.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.reservations.as_ref()) {
        s.memory_reservation = s.memory_reservation.or(r.memory);
    }
    s.restart_policy = svc.restart.as_ref().map(|r| match r.split_once(':') {
        Some((name, n)) => (name.to_string(), n.parse().ok()),
        None => (r.clone(), None),
    });
    // `deploy.restart_policy`, when `restart` is not set, as compose maps it for the engine
    // (`delay` and `window` have no engine equivalent).
    if s.restart_policy.is_none()
        && let Some(rp) = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref())
    {
        let name = match rp.condition.as_deref() {
            Some("none") => "no",
            Some("on-failure") => "on-failure",
            _ => "always",
        };
        let max = rp.max_attempts.filter(|_| name == "on-failure").map(i64::from);
        s.restart_policy = Some((name.to_string(), max));
    }
    s.healthcheck = health(svc);
    for (k, u) in &svc.ulimits {
        let (soft, hard) = match u {
            crate::model::Ulimit::Single(n) => (*n, *n),
            crate::model::Ulimit::Range { soft, hard } => (*soft, *hard),
        };
        s.ulimits.push((k.clone(), soft, hard));
    }
    for t in &svc.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        s.tmpfs.insert(path.to_string(), opts.to_string());
    }
    for d in &svc.devices {
        s.devices.push((d.source.clone(), d.target.clone(), d.permissions.clone().unwrap_or_else(|| "rwm".into())));
    }
    if let Some(l) = &svc.logging {
        s.log_driver = l.driver.clone().or_else(|| Some("json-file".into()).filter(|_| !l.options.is_empty()));
        s.log_opts = l.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    for v in &svc.volumes {
        let source =
            if v.kind == "volume" { v.source.as_ref().map(|src| p.volume_name(src)) } else { v.source.clone() };
        s.mounts.push(Mount {
            kind: v.kind.clone(),
            source,
            target: v.target.clone(),
            read_only: v.read_only.unwrap_or(false),
            create_host_path: v.bind.as_ref().and_then(|b| b.create_host_path).unwrap_or(false),
            nocopy: v.volume.as_ref().and_then(|o| o.nocopy).unwrap_or(false),
            propagation: v.bind.as_ref().and_then(|b| b.propagation.clone()),
            tmpfs_size: v.tmpfs.as_ref().and_then(|t| t.size),
            tmpfs_mode: v.tmpfs.as_ref().and_then(|t| t.mode),
        });
    }
    // Each port exposed once, in order; a set keeps a range of thousands of ports linear.
    let mut exposed: std::collections::HashSet<String> = s.exposed_ports.iter().cloned().collect();
    for port in &svc.ports {
        let proto = port.protocol.clone().unwrap_or_else(|| "tcp".into());
        let key = format!("{}/{proto}", port.target);
        if exposed.insert(key.clone()) {
            s.exposed_ports.push(key.clone());
        }
        s.port_bindings.push(PortBinding {
            container: key,
            host_ip: port.host_ip.clone(),
            host_port: port.published.clone().unwrap_or_default(),
        });
    }
    for e in &svc.expose {
        let key = if e.contains('/') { e.clone() } else { format!("{e}/tcp") };
        if exposed.insert(key.clone()) {
            s.exposed_ports.push(key);
        }
    }
    // `service:x` references resolve to that service's first container.
    let resolve = |v: &str| match v.strip_prefix("service:") {
        Some(dep) => format!("container:{}", p.first_container_name(dep)),
        None => v.to_string(),
    };
    s.pid = s.pid.as_deref().map(resolve);
    s.ipc = s.ipc.as_deref().map(resolve);
    for vf in &svc.volumes_from {
        let (src, mode) = vf.split_once(':').map(|(a, b)| (a, Some(b))).unwrap_or((vf, None));
        let target = match src.strip_prefix("container:") {
            Some(c) => c.to_string(),
            None => p.first_container_name(src),
        };
        s.volumes_from.push(match mode {
            Some(m) => format!("{target}:{m}"),
            None => target,
        });
    }
    for l in &svc.links {
        let (dep, alias) = l.split_once(':').unwrap_or((l, l));
        s.links.push(format!("{}:{alias}", p.first_container_name(dep)));
    }
    match &svc.network_mode {
        Some(mode) => s.network_mode = Some(resolve(mode)),
        None => {
            // Highest priority first, as compose does; the first one is given at create.
            let mut nets: Vec<(&String, Option<&crate::model::ServiceNetwork>)> =
                svc.networks.iter().map(|(k, v)| (k, v.as_ref())).collect();
            nets.sort_by_key(|(_, v)| std::cmp::Reverse(v.and_then(|c| c.priority).unwrap_or(0)));
            for (key, cfg) in nets {
                let net_name = p.network_name(key);
                let mut aliases = vec![service.to_string()];
                if let Some(c) = cfg {
                    aliases.extend(c.aliases.iter().cloned());
                }
                s.endpoints.push(Endpoint {
                    network: net_name,
                    aliases,
                    ipv4: cfg.and_then(|c| c.ipv4_address.clone()),
                    ipv6: cfg.and_then(|c| c.ipv6_address.clone()),
                    links: s.links.clone(),
                });
            }
            if let Some(first) = s.endpoints.first() {
                s.network_mode = Some(first.network.clone());
            }
        }
    }
    // Errors here were reported by `reconcile` before any spec is built.
    if let Ok((mounts, files)) = file_objects(p, service, svc) {
        s.mounts.extend(mounts);
        s.files = files;
    }
    s
}
