//! The create-container request body: a [`ContainerSpec`] in bollard's terms (API 1.41: one
//! network at create, the others connected afterwards).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount as BMount, MountBindOptions, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkingConfig, PortBinding as BPortBinding, ResourcesUlimits, RestartPolicy,
};

use crate::engine::ContainerSpec;

pub(super) fn endpoint_settings(e: &crate::engine::Endpoint) -> EndpointSettings {
    EndpointSettings {
        aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
        links: (!e.links.is_empty()).then(|| e.links.clone()),
        ipam_config: (e.ipv4.is_some() || e.ipv6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: e.ipv4.clone(),
            ipv6_address: e.ipv6.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(super) fn map_if_any(m: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub(super) fn create_body(s: &ContainerSpec, start_interval: bool) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<BPortBinding>>> = HashMap::new();
    for b in &s.port_bindings {
        port_bindings
            .entry(b.container.clone())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(BPortBinding { host_ip: b.host_ip.clone(), host_port: Some(b.host_port.clone()) });
    }
    // A bind whose host path is created when missing (the short syntax `./dir:/data`, or
    // `bind.create_host_path`) goes as a legacy `Binds` entry: the engine creates its source
    // there, while the Mounts API refuses a missing one ("bind source path does not exist")
    // before API 1.42's `CreateMountpoint`. As compose does.
    let (binds, mounts): (Vec<&crate::engine::Mount>, Vec<&crate::engine::Mount>) =
        s.mounts.iter().partition(|m| m.kind == "bind" && m.create_host_path && m.source.is_some());
    let binds: Vec<String> = binds.into_iter().map(legacy_bind).collect();
    let mounts = mounts
        .into_iter()
        .map(|m| BMount {
            target: Some(m.target.clone()),
            source: m.source.clone(),
            typ: m.kind.parse::<MountType>().ok(),
            read_only: m.read_only.then_some(true),
            bind_options: (m.kind == "bind").then(|| MountBindOptions {
                propagation: m.propagation.as_deref().and_then(|p| p.parse().ok()),
                create_mountpoint: m.create_host_path.then_some(true),
                ..Default::default()
            }),
            volume_options: (m.kind == "volume" && m.nocopy)
                .then(|| MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
            tmpfs_options: (m.kind == "tmpfs" && (m.tmpfs_size.is_some() || m.tmpfs_mode.is_some())).then(|| {
                MountTmpfsOptions { size_bytes: m.tmpfs_size, mode: m.tmpfs_mode.map(i64::from), ..Default::default() }
            }),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let host = HostConfig {
        binds: none_if_empty(binds),
        mounts: none_if_empty(mounts),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        network_mode: s.network_mode.clone(),
        restart_policy: s
            .restart_policy
            .as_ref()
            .map(|(name, max)| RestartPolicy { name: name.parse().ok(), maximum_retry_count: *max }),
        init: s.init,
        privileged: s.privileged.then_some(true),
        auto_remove: s.auto_remove.then_some(true),
        readonly_rootfs: s.read_only.then_some(true),
        cap_add: none_if_empty(s.cap_add.clone()),
        cap_drop: none_if_empty(s.cap_drop.clone()),
        security_opt: none_if_empty(s.security_opt.clone()),
        dns: none_if_empty(s.dns.clone()),
        dns_search: none_if_empty(s.dns_search.clone()),
        dns_options: none_if_empty(s.dns_options.clone()),
        extra_hosts: none_if_empty(s.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect()),
        ulimits: none_if_empty(
            s.ulimits
                .iter()
                .map(|(n, soft, hard)| ResourcesUlimits { name: Some(n.clone()), soft: Some(*soft), hard: Some(*hard) })
                .collect(),
        ),
        sysctls: map_if_any(&s.sysctls),
        tmpfs: map_if_any(&s.tmpfs),
        devices: none_if_empty(
            s.devices
                .iter()
                .map(|(h, c, p)| DeviceMapping {
                    path_on_host: Some(h.clone()),
                    path_in_container: Some(c.clone()),
                    cgroup_permissions: Some(p.clone()),
                })
                .collect(),
        ),
        pid_mode: s.pid.clone(),
        ipc_mode: s.ipc.clone(),
        uts_mode: s.uts.clone(),
        userns_mode: s.userns_mode.clone(),
        shm_size: s.shm_size,
        memory: s.memory,
        memory_reservation: s.memory_reservation,
        memory_swap: s.memory_swap,
        nano_cpus: s.nano_cpus,
        cpu_shares: s.cpu_shares,
        cpuset_cpus: s.cpuset.clone(),
        pids_limit: s.pids_limit,
        volumes_from: none_if_empty(s.volumes_from.clone()),
        log_config: s
            .log_driver
            .as_ref()
            .map(|d| HostConfigLogConfig { typ: Some(d.clone()), config: map_if_any(&s.log_opts) }),
        group_add: none_if_empty(s.group_add.clone()),
        oom_score_adj: s.oom_score_adj,
        runtime: s.runtime.clone(),
        cgroup_parent: s.cgroup_parent.clone(),
        links: none_if_empty(s.links.clone()),
        ..Default::default()
    };
    // API ≥ 1.44 takes the MAC address on the endpoint (older ones ignore it there: see
    // `raw`).
    let networking_config = s.endpoints.first().map(|e| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            e.network.clone(),
            EndpointSettings { mac_address: s.mac_address.clone(), ..endpoint_settings(e) },
        )])),
    });
    ContainerCreateBody {
        image: Some(s.image.clone()),
        cmd: s.cmd.clone(),
        entrypoint: s.entrypoint.clone(),
        env: none_if_empty(s.env.clone()),
        labels: map_if_any(&s.labels),
        working_dir: s.working_dir.clone(),
        user: s.user.clone(),
        hostname: s.hostname.clone(),
        domainname: s.domainname.clone(),
        exposed_ports: none_if_empty(s.exposed_ports.clone()),
        tty: s.tty.then_some(true),
        open_stdin: (s.stdin_open || s.stdin_once).then_some(true),
        stdin_once: s.stdin_once.then_some(true),
        attach_stdin: s.stdin_once.then_some(true),
        attach_stdout: s.stdin_once.then_some(true),
        attach_stderr: s.stdin_once.then_some(true),
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_timeout,
        healthcheck: s.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval_ns,
            timeout: h.timeout_ns,
            retries: h.retries,
            start_period: h.start_period_ns,
            start_interval: if start_interval { h.start_interval_ns } else { None },
        }),
        host_config: Some(host),
        networking_config,
        ..Default::default()
    }
}

/// `SOURCE:TARGET[:ro][,PROPAGATION]`, as `HostConfig.Binds` takes a bind mount.
fn legacy_bind(m: &crate::engine::Mount) -> String {
    let mut opts: Vec<&str> = Vec::new();
    if m.read_only {
        opts.push("ro");
    }
    if let Some(p) = m.propagation.as_deref() {
        opts.push(p);
    }
    let base = format!("{}:{}", m.source.as_deref().unwrap_or_default(), m.target);
    if opts.is_empty() { base } else { format!("{base}:{}", opts.join(",")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_that_creates_its_host_path_is_a_legacy_bind() {
        let m = crate::engine::Mount {
            kind: "bind".into(),
            source: Some("/srv/new".into()),
            target: "/data".into(),
            read_only: true,
            create_host_path: true,
            propagation: Some("rshared".into()),
            ..Default::default()
        };
        assert_eq!(legacy_bind(&m), "/srv/new:/data:ro,rshared");
        assert_eq!(legacy_bind(&crate::engine::Mount { read_only: false, propagation: None, ..m }), "/srv/new:/data");
    }
}
