//! The [`Engine`] on the Docker Engine API, through bollard. The only module that imports
//! bollard. Written for API 1.41 (Docker 20.10): a container is created on one network and
//! connected to the others afterwards; `start_interval` is not sent.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Ipam, IpamConfig, Mount as BMount, MountBindOptions, MountTmpfsOptions, MountType,
    MountVolumeOptions, NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding as BPortBinding,
    ResourcesUlimits, RestartPolicy, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::{
    ContainerDetails, ContainerInfo, ContainerSpec, Engine, EngineError, MountInfo, NetworkInfo, NetworkSpec, PortInfo,
    Result, State, VolumeInfo, VolumeSpec,
};
use crate::plan::labels::PROJECT;

/// A connection to a Docker Engine.
#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
    endpoint: String,
}

impl DockerEngine {
    /// Connects like the docker CLI: `DOCKER_HOST` (unix://), else `/var/run/docker.sock`; the API
    /// version is negotiated once, and the engine is pinged so a dead daemon is reported here.
    pub async fn connect() -> Result<DockerEngine> {
        let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unreachable = |reason: String| EngineError::Unreachable { endpoint: endpoint.clone(), reason };
        let docker = Docker::connect_with_local_defaults().map_err(|e| unreachable(e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| unreachable(short(&e)))?;
        docker.ping().await.map_err(|e| unreachable(short(&e)))?;
        Ok(DockerEngine { docker, endpoint })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// All containers, running or not, matching one label filter (`key` or `key=value`).
    async fn containers_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(|e| map_err(e, "listing", "containers"))?;
        Ok(list.into_iter().map(container_info).collect())
    }
}

fn short(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        other => {
            let s = other.to_string();
            if s.contains("No such file") || s.contains("os error 2") {
                "no socket there".into()
            } else if s.contains("Connection refused") || s.contains("os error 111") {
                "connection refused".into()
            } else {
                s
            }
        }
    }
}

/// Turns a bollard error into ours, naming what was being done.
fn map_err(e: BollardError, operation: &str, subject: &str) -> EngineError {
    match e {
        BollardError::DockerResponseServerError { status_code, message } => match status_code {
            404 => EngineError::NotFound { what: subject.to_string() },
            409 => EngineError::Conflict { what: subject.to_string() },
            _ if message.contains("port is already allocated") || message.contains("address already in use") => {
                let port = message
                    .split("0.0.0.0:")
                    .nth(1)
                    .or_else(|| message.split("127.0.0.1:").nth(1))
                    .map(|s| s.split_whitespace().next().unwrap_or(s).trim_end_matches(':').to_string())
                    .unwrap_or_else(|| message.clone());
                EngineError::PortAllocated { port }
            }
            _ if message.contains("has active endpoints") => EngineError::NetworkInUse { network: subject.to_string() },
            _ => EngineError::Api { operation: format!("{operation} {subject}"), status: status_code, message },
        },
        other => EngineError::Unreachable { endpoint: "the Docker Engine".into(), reason: short(&other) },
    }
}

fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{PROJECT}={project}")])])
}

fn btree(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
}

fn container_info(c: bollard::models::ContainerSummary) -> ContainerInfo {
    let name = c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_string();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name,
        image: c.image.unwrap_or_default(),
        image_id: c.image_id.unwrap_or_default(),
        command: c.command.unwrap_or_default(),
        created: c.created.unwrap_or_default(),
        state: State::parse(&c.state.map(|s| s.to_string()).unwrap_or_default()),
        status: c.status.unwrap_or_default(),
        labels: btree(c.labels),
        mounts: c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| MountInfo {
                kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                name: m.name,
                source: m.source.unwrap_or_default(),
                destination: m.destination.unwrap_or_default(),
            })
            .collect(),
        ports: c
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| PortInfo {
                ip: p.ip,
                private: p.private_port,
                public: p.public_port,
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            })
            .collect(),
        networks: c.network_settings.and_then(|n| n.networks).map(|n| n.into_keys().collect()).unwrap_or_default(),
    }
}

fn endpoint_settings(e: &super::Endpoint) -> EndpointSettings {
    EndpointSettings {
        aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
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

fn map_if_any(m: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn create_body(s: &ContainerSpec) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<BPortBinding>>> = HashMap::new();
    for b in &s.port_bindings {
        port_bindings
            .entry(b.container.clone())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(BPortBinding { host_ip: b.host_ip.clone(), host_port: Some(b.host_port.clone()) });
    }
    let mounts = s
        .mounts
        .iter()
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
        mounts: none_if_empty(mounts),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        network_mode: s.network_mode.clone(),
        restart_policy: s
            .restart_policy
            .as_ref()
            .map(|(name, max)| RestartPolicy { name: name.parse().ok(), maximum_retry_count: *max }),
        init: s.init,
        privileged: s.privileged.then_some(true),
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
    let networking_config = s.endpoints.first().map(|e| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(e.network.clone(), endpoint_settings(e))])),
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
        open_stdin: s.stdin_open.then_some(true),
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_timeout,
        healthcheck: s.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval_ns,
            timeout: h.timeout_ns,
            retries: h.retries,
            start_period: h.start_period_ns,
            start_interval: None,
        }),
        host_config: Some(host),
        networking_config,
        ..Default::default()
    }
}

impl Engine for DockerEngine {
    async fn list_containers(&self, project: &str) -> Result<Vec<ContainerInfo>> {
        self.containers_labelled(&format!("{PROJECT}={project}")).await
    }

    async fn list_projects(&self) -> Result<Vec<ContainerInfo>> {
        self.containers_labelled(PROJECT).await
    }

    async fn list_networks(&self, project: &str) -> Result<Vec<NetworkInfo>> {
        let opts = ListNetworksOptionsBuilder::new().filters(&project_filter(project)).build();
        let list = self.docker.list_networks(Some(opts)).await.map_err(|e| map_err(e, "listing", "networks"))?;
        Ok(list
            .into_iter()
            .map(|n| NetworkInfo {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: btree(n.labels),
            })
            .collect())
    }

    async fn list_volumes(&self, project: &str) -> Result<Vec<VolumeInfo>> {
        let opts = ListVolumesOptionsBuilder::new().filters(&project_filter(project)).build();
        let list = self.docker.list_volumes(Some(opts)).await.map_err(|e| map_err(e, "listing", "volumes"))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo { name: v.name, labels: v.labels.into_iter().collect() })
            .collect())
    }

    async fn network_exists(&self, name: &str) -> Result<bool> {
        match self.docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(map_err(e, "inspecting", &format!("network `{name}`"))),
        }
    }

    async fn volume_exists(&self, name: &str) -> Result<bool> {
        match self.docker.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(map_err(e, "inspecting", &format!("volume `{name}`"))),
        }
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        let req = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: spec.driver.clone(),
            internal: spec.internal.then_some(true),
            attachable: spec.attachable.then_some(true),
            enable_ipv6: spec.enable_ipv6.then_some(true),
            options: map_if_any(&spec.driver_opts),
            labels: map_if_any(&spec.labels),
            ipam: (!spec.ipam.is_empty() || spec.ipam_driver.is_some()).then(|| Ipam {
                driver: spec.ipam_driver.clone(),
                config: Some(
                    spec.ipam
                        .iter()
                        .map(|(subnet, gateway, ip_range)| IpamConfig {
                            subnet: subnet.clone(),
                            gateway: gateway.clone(),
                            ip_range: ip_range.clone(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = self
            .docker
            .create_network(req)
            .await
            .map_err(|e| map_err(e, "creating", &format!("network `{}`", spec.name)))?;
        Ok(r.id)
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.docker.remove_network(name).await.map_err(|e| map_err(e, "removing", &format!("network `{name}`")))
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<()> {
        let req = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            driver: spec.driver.clone(),
            driver_opts: map_if_any(&spec.driver_opts),
            labels: map_if_any(&spec.labels),
            ..Default::default()
        };
        self.docker.create_volume(req).await.map_err(|e| map_err(e, "creating", &format!("volume `{}`", spec.name)))?;
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
            .map_err(|e| map_err(e, "removing", &format!("volume `{name}`")))
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(map_err(e, "inspecting", &format!("image `{image}`"))),
        }
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let opts = CreateContainerOptionsBuilder::new().name(&spec.name).build();
        let subject = format!("container `{}`", spec.name);
        let r = self.docker.create_container(Some(opts), create_body(spec)).await.map_err(|e| match e {
            BollardError::DockerResponseServerError { status_code: 404, message } if message.contains("image") => {
                EngineError::ImageMissing { image: spec.image.clone(), reason: message }
            }
            other => map_err(other, "creating", &subject),
        })?;
        // API 1.41 takes one network at create; the others are connected one by one.
        for e in spec.endpoints.iter().skip(1) {
            let req = NetworkConnectRequest { container: r.id.clone(), endpoint_config: Some(endpoint_settings(e)) };
            self.docker
                .connect_network(&e.network, req)
                .await
                .map_err(|err| map_err(err, "connecting", &format!("{subject} to network `{}`", e.network)))?;
        }
        Ok(r.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| map_err(e, "starting", &format!("container `{id}`")))
    }

    async fn stop_container(&self, id: &str, timeout_s: Option<i64>) -> Result<()> {
        let mut b = StopContainerOptionsBuilder::new();
        if let Some(t) = timeout_s {
            b = b.t(t as i32);
        }
        // bollard's per-request timeout (120 s) must outlast the grace period.
        let client = self.docker.clone().with_timeout(Duration::from_secs(timeout_s.unwrap_or(10).max(0) as u64 + 60));
        client
            .stop_container(id, Some(b.build()))
            .await
            .map_err(|e| map_err(e, "stopping", &format!("container `{id}`")))
    }

    async fn kill_container(&self, id: &str, signal: &str) -> Result<()> {
        let opts = KillContainerOptionsBuilder::new().signal(signal).build();
        self.docker
            .kill_container(id, Some(opts))
            .await
            .map_err(|e| map_err(e, "killing", &format!("container `{id}`")))
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        self.docker.pause_container(id).await.map_err(|e| map_err(e, "pausing", &format!("container `{id}`")))
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        self.docker.unpause_container(id).await.map_err(|e| map_err(e, "unpausing", &format!("container `{id}`")))
    }

    async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::new().force(force).v(volumes).build();
        self.docker
            .remove_container(id, Some(opts))
            .await
            .map_err(|e| map_err(e, "removing", &format!("container `{id}`")))
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let opts = RenameContainerOptionsBuilder::new().name(name).build();
        self.docker.rename_container(id, opts).await.map_err(|e| map_err(e, "renaming", &format!("container `{id}`")))
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| map_err(e, "inspecting", &format!("container `{id}`")))?;
        let st = c.state.unwrap_or_default();
        let health =
            st.health.as_ref().and_then(|h| h.status.map(|s| s.to_string())).filter(|s| !s.is_empty() && s != "none");
        let last =
            st.health.as_ref().and_then(|h| h.log.as_ref()).and_then(|l| l.last()).and_then(|r| r.output.clone());
        Ok(ContainerDetails {
            state: State::parse(&st.status.map(|s| s.to_string()).unwrap_or_default()),
            health,
            last_health_output: last,
            exit_code: st.exit_code,
        })
    }
}
