//! The [`Engine`] on the Docker Engine API, through bollard. The only module that imports
//! bollard. Written for API 1.41 (Docker 20.10): a container is created on one network and
//! connected to the others afterwards; `start_interval` is not sent.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, RestartPolicy,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};

use super::{
    ContainerDetails, ContainerInfo, ContainerSpec, Engine, EngineError, MountInfo, NetworkInfo, NetworkSpec, PortInfo,
    Result, State, VolumeInfo, VolumeSpec,
};
use crate::model::labels::PROJECT;

mod body;
mod buildkit;
mod errors;
use errors::{endpoint, map_err, short};
mod exec;
mod image;
mod raw;
mod session;
mod swarm;
use body::{create_body, endpoint_settings, map_if_any};

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
        let endpoint = endpoint();
        let unreachable = |reason: String| EngineError::Unreachable { endpoint: endpoint.clone(), reason };
        let timeout_s = errors::timeout_from_env();
        errors::TIMEOUT_S.store(timeout_s, std::sync::atomic::Ordering::Relaxed);
        // On a local socket one ping does both, as the docker CLI negotiates: its answer
        // carries the engine's API version (the engine's `/version`, which bollard asks, takes
        // 5-6 ms on Docker 20.10 and was a fifth of a no-op `up`). Anything unexpected takes
        // the long way below, which names what failed.
        if let Some(buildkit::Socket::Unix(path)) = buildkit::Socket::parse(&endpoint)
            && let Some(v) = raw::ping_version(&path, Duration::from_secs(timeout_s))
                .await
                .map_err(|()| map_err(BollardError::RequestTimeoutError, "a ping", ""))?
            && let Some((major, minor)) = v.split_once('.')
            && let (Ok(major), Ok(minor)) = (major.parse::<usize>(), minor.parse::<usize>())
        {
            let newest = bollard::API_DEFAULT_VERSION;
            let version = match (major, minor) < (newest.major_version, newest.minor_version) {
                true => bollard::ClientVersion { major_version: major, minor_version: minor },
                false => *newest,
            };
            if let Ok(docker) = Docker::connect_with_socket(&path, timeout_s, &version) {
                return Ok(DockerEngine { docker, endpoint });
            }
        }
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| unreachable(e.to_string()))?
            .with_timeout(Duration::from_secs(timeout_s));
        // A wedged engine is named as one; any other failure means no engine there.
        let failed = |e: BollardError, call: &str| match e {
            BollardError::RequestTimeoutError => map_err(e, call, ""),
            other => unreachable(short(&other)),
        };
        let docker = docker.negotiate_version().await.map_err(|e| failed(e, "the version negotiation"))?;
        docker.ping().await.map_err(|e| failed(e, "a ping"))?;
        Ok(DockerEngine { docker, endpoint })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Before API 1.44 a container's MAC address is `Config.MacAddress`, which bollard's body no
    /// longer has: such a create goes as a raw request (`None`: not needed, or no plain socket
    /// to send it over; the endpoint then carries the address).
    async fn mac_address_create(
        &self,
        spec: &ContainerSpec,
    ) -> Option<std::result::Result<bollard::models::ContainerCreateResponse, BollardError>> {
        let mac = spec.mac_address.as_ref()?;
        let v = self.docker.client_version();
        if (v.major_version, v.minor_version) >= (1, 44) {
            return None;
        }
        let socket = buildkit::Socket::parse(&self.endpoint)?;
        let mut body = serde_json::to_value(create_body(spec, false)).ok()?;
        body["MacAddress"] = serde_json::Value::String(mac.clone());
        let name: String = form_urlencoded::byte_serialize(spec.name.as_bytes()).collect();
        let path = format!("/v{}.{}/containers/create?name={name}", v.major_version, v.minor_version);
        let deadline = std::time::Duration::from_secs(errors::TIMEOUT_S.load(std::sync::atomic::Ordering::Relaxed));
        Some(match raw::post_json(&socket, &path, &body, deadline).await {
            Ok((201, bytes)) => serde_json::from_slice(&bytes)
                .map_err(|e| BollardError::DockerResponseServerError { status_code: 500, message: e.to_string() }),
            Ok((status_code, bytes)) => {
                let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
                Err(BollardError::DockerResponseServerError { status_code, message })
            }
            Err(why) if why == raw::NO_ANSWER => Err(BollardError::RequestTimeoutError),
            Err(why) => Err(BollardError::IOError { err: std::io::Error::other(why) }),
        })
    }

    /// Leaves one network named `name` (the smallest ID; every racer picks the same), removing
    /// the others when nothing uses them. Returns the survivor's ID.
    async fn dedupe_network(&self, name: &str) -> Result<String> {
        let filters = HashMap::from([("name".to_string(), vec![format!("^{name}$")])]);
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let list = self.docker.list_networks(Some(opts)).await.map_err(|e| map_err(e, "listing", "networks"))?;
        let mut ids: Vec<String> =
            list.into_iter().filter(|n| n.name.as_deref() == Some(name)).filter_map(|n| n.id).collect();
        ids.sort();
        let Some(keep) = ids.first().cloned() else {
            return Err(EngineError::NotFound { what: format!("network `{name}`") });
        };
        for extra in &ids[1..] {
            let _ = self.docker.remove_network(extra).await;
        }
        Ok(keep)
    }

    /// All containers, running or not, matching one label filter (`key` or `key=value`).
    async fn containers_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(|e| map_err(e, "listing", "containers"))?;
        Ok(list.into_iter().map(container_info).collect())
    }
}

fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{PROJECT}={project}")])])
}

/// Now as the engine's `since`/`until` take it: seconds and nanoseconds.
fn now_stamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// `project`'s container events from `since` (and until `until`, when given: the stream then
/// ends), typed as they enter.
fn event_stream(
    docker: &Docker,
    project: &str,
    since: String,
    until: Option<String>,
) -> super::EngineStream<super::Event> {
    use futures::StreamExt;
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), vec![format!("{PROJECT}={project}")]),
    ]);
    let opts = bollard::query_parameters::EventsOptions { since: Some(since), until, filters: Some(filters) };
    docker
        .events(Some(opts))
        .map(|r| {
            let m = r.map_err(|e| map_err(e, "reading", "engine events"))?;
            let actor = m.actor.unwrap_or_default();
            let attributes = btree(actor.attributes);
            Ok(super::Event {
                kind: super::EventKind::parse(m.action.as_deref().unwrap_or_default(), &attributes),
                id: actor.id.unwrap_or_default(),
                attributes,
                time_nano: m.time_nano.unwrap_or_default(),
            })
        })
        .boxed()
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

impl Engine for DockerEngine {
    async fn list_containers(&self, project: &str) -> Result<Vec<ContainerInfo>> {
        self.containers_labelled(&format!("{PROJECT}={project}")).await
    }

    async fn list_projects(&self) -> Result<Vec<ContainerInfo>> {
        self.containers_labelled(PROJECT).await
    }

    async fn list_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>> {
        self.containers_labelled(label).await
    }

    async fn labelled_leftovers(&self, label: &str) -> Result<Vec<BTreeMap<String, String>>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let nets = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let vols = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let (nets, vols) = tokio::join!(self.docker.list_networks(Some(nets)), self.docker.list_volumes(Some(vols)));
        let nets = nets.map_err(|e| map_err(e, "listing", "networks"))?;
        let vols = vols.map_err(|e| map_err(e, "listing", "volumes"))?;
        Ok(nets
            .into_iter()
            .map(|n| n.labels.unwrap_or_default().into_iter().collect())
            .chain(vols.volumes.unwrap_or_default().into_iter().map(|v| v.labels.into_iter().collect()))
            .collect())
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
        // API 1.41 creates a second network of the same name unless asked not to, and bollard's
        // request has no `CheckDuplicate`: a create racing another (say, of a killed `up`) can
        // leave two. Keep the one with the smallest ID, as every racer will.
        Ok(self.dedupe_network(&spec.name).await.unwrap_or(r.id))
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.docker.remove_network(name).await.map_err(|e| map_err(e, "removing", &format!("network `{name}`")))
    }

    async fn connect_network(&self, id: &str, endpoint: &crate::engine::Endpoint) -> Result<()> {
        let req =
            NetworkConnectRequest { container: id.to_string(), endpoint_config: Some(endpoint_settings(endpoint)) };
        self.docker
            .connect_network(&endpoint.network, req)
            .await
            .map_err(|err| map_err(err, "connecting", &format!("container `{id}` to network `{}`", endpoint.network)))
    }

    async fn disconnect_network(&self, id: &str, network: &str) -> Result<()> {
        let req = NetworkDisconnectRequest { container: id.to_string(), force: Some(true) };
        self.docker
            .disconnect_network(network, req)
            .await
            .map_err(|err| map_err(err, "disconnecting", &format!("container `{id}` from network `{network}`")))
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
        let create = || async {
            match self.mac_address_create(spec).await {
                Some(r) => r,
                None => {
                    self.docker
                        .create_container(Some(opts.clone()), create_body(spec, self.supports_start_interval()))
                        .await
                }
            }
        };
        let r = match create().await {
            // Two networks of one name (see `dedupe_network`): keep one, and try again.
            Err(BollardError::DockerResponseServerError { message, .. }) if message.contains("is ambiguous") => {
                for e in &spec.endpoints {
                    let _ = self.dedupe_network(&e.network).await;
                }
                create().await
            }
            r => r,
        };
        let r = r.map_err(|e| match e {
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
        let start = || self.docker.start_container(id, None::<bollard::query_parameters::StartContainerOptions>);
        match start().await {
            // Two networks of one name (see `dedupe_network`): keep one, and try again.
            Err(BollardError::DockerResponseServerError { message, .. }) if message.contains("is ambiguous") => {
                if let Some(net) = message.split("network ").nth(1).and_then(|r| r.split(" is ambiguous").next()) {
                    let _ = self.dedupe_network(net).await;
                }
                start().await.map_err(|e| map_err(e, "starting", &format!("container `{id}`")))
            }
            r => r.map_err(|e| map_err(e, "starting", &format!("container `{id}`"))),
        }
    }

    async fn stop_container(&self, id: &str, timeout_s: Option<i64>) -> Result<()> {
        let mut b = StopContainerOptionsBuilder::new();
        if let Some(t) = timeout_s {
            b = b.t(t as i32);
        }
        // bollard's per-request timeout (120 s) must outlast the grace period.
        let grace = timeout_s.unwrap_or(10).max(0) as u64;
        let deadline = (grace + 60).max(errors::TIMEOUT_S.load(std::sync::atomic::Ordering::Relaxed));
        let client = self.docker.clone().with_timeout(Duration::from_secs(deadline));
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
        let labels = c.config.and_then(|x| x.labels).map(|l| l.into_iter().collect()).unwrap_or_default();
        Ok(ContainerDetails {
            id: c.id.unwrap_or_default(),
            name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
            labels,
            state: State::parse(&st.status.map(|s| s.to_string()).unwrap_or_default()),
            health,
            last_health_output: last,
            exit_code: st.exit_code,
        })
    }

    async fn running_execs(&self, id: &str) -> Result<usize> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| map_err(e, "inspecting", &format!("container `{id}`")))?;
        let ids = c.exec_ids.unwrap_or_default();
        let execs = futures::future::join_all(ids.iter().map(|x| self.docker.inspect_exec(x))).await;
        Ok(execs.into_iter().filter_map(|e| e.ok()).filter(|e| e.running == Some(true)).count())
    }

    async fn upload_archive(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<()> {
        let opts = UploadToContainerOptionsBuilder::new().path(dir).build();
        let body = bollard::body_stream(futures::stream::once(async move { bytes::Bytes::from(tar) }));
        self.docker
            .upload_to_container(id, Some(opts), body)
            .await
            .map_err(|e| map_err(e, "copying files into", &format!("container `{id}`")))
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let opts = RemoveImageOptionsBuilder::new().build();
        self.docker
            .remove_image(image, Some(opts), None)
            .await
            .map(|_| ())
            .map_err(|e| map_err(e, "removing", &format!("image `{image}`")))
    }

    async fn commit_container(&self, id: &str, commit: &super::Commit) -> Result<String> {
        image::commit(&self.docker, id, commit).await
    }

    fn export_container(&self, id: &str) -> super::EngineStream<Vec<u8>> {
        image::export(&self.docker, id)
    }

    fn build_image(
        &self,
        req: &super::BuildRequest,
        context: super::ContextStream,
    ) -> super::EngineStream<super::BuildMessage> {
        match (req.buildkit, buildkit::Socket::parse(&self.endpoint)) {
            (true, Some(socket)) => {
                let v = self.docker.client_version();
                buildkit::build(socket, format!("{}.{}", v.major_version, v.minor_version), req, context)
            }
            _ => image::build(&self.docker, req, context),
        }
    }

    fn supports_buildkit(&self) -> bool {
        let v = self.docker.client_version();
        buildkit::Socket::parse(&self.endpoint).is_some() && (v.major_version, v.minor_version) >= (1, 39)
    }

    fn pull_image(
        &self,
        image: &str,
        auth: Option<super::Credentials>,
    ) -> super::EngineStream<super::TransferProgress> {
        image::pull(&self.docker, image, auth)
    }

    fn push_image(
        &self,
        image: &str,
        auth: Option<super::Credentials>,
    ) -> super::EngineStream<super::TransferProgress> {
        image::push(&self.docker, image, auth)
    }

    async fn tag_image(&self, image: &str, target: &str) -> Result<()> {
        image::tag(&self.docker, image, target).await
    }

    fn events(&self, project: &str) -> super::EngineStream<super::Event> {
        // `since` now: the request goes out when the stream is first polled, and the engine
        // replays what happened in between, so nothing after this call is missed.
        event_stream(&self.docker, project, now_stamp(), None)
    }

    async fn recent_events(&self, project: &str, since_s: i64) -> Result<Vec<super::Event>> {
        use futures::TryStreamExt;
        event_stream(&self.docker, project, since_s.to_string(), Some(now_stamp())).try_collect().await
    }

    fn logs(&self, id: &str, opts: &super::LogOptions) -> super::EngineStream<super::LogChunk> {
        use bollard::container::LogOutput;
        use futures::StreamExt;
        let o = bollard::query_parameters::LogsOptions {
            follow: opts.follow,
            stdout: true,
            stderr: true,
            since: opts.since.unwrap_or(0) as i32,
            until: opts.until.unwrap_or(0) as i32,
            timestamps: opts.timestamps,
            tail: opts.tail.clone().unwrap_or_else(|| "all".into()),
        };
        let subject = format!("the logs of container `{id}`");
        self.docker
            .logs(id, Some(o))
            .map(move |r| {
                let (stream, message) = match r.map_err(|e| map_err(e, "reading", &subject))? {
                    LogOutput::StdOut { message } => (super::LogStream::Stdout, message),
                    LogOutput::StdErr { message } => (super::LogStream::Stderr, message),
                    LogOutput::Console { message } => (super::LogStream::Console, message),
                    LogOutput::StdIn { message } => (super::LogStream::Console, message),
                };
                Ok(super::LogChunk { stream, bytes: message.to_vec() })
            })
            .boxed()
    }

    fn supports_start_interval(&self) -> bool {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version) >= (1, 44)
    }

    async fn set_restart_policy(&self, id: &str, name: &str, max_retries: Option<i64>) -> Result<()> {
        let body = bollard::models::ContainerUpdateBody {
            restart_policy: Some(RestartPolicy {
                name: Some(name.parse().unwrap_or(bollard::models::RestartPolicyNameEnum::NO)),
                maximum_retry_count: max_retries,
            }),
            ..Default::default()
        };
        self.docker
            .update_container(id, body)
            .await
            .map_err(|e| map_err(e, "updating the restart policy of", &format!("container `{id}`")))
    }

    async fn top(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let opts = bollard::query_parameters::TopOptions { ps_args: "-ef".into() };
        let r = self
            .docker
            .top_processes(id, Some(opts))
            .await
            .map_err(|e| map_err(e, "listing the processes of", &format!("container `{id}`")))?;
        Ok((r.titles.unwrap_or_default(), r.processes.unwrap_or_default()))
    }

    async fn image_info(&self, image: &str) -> Result<Option<super::ImageInfo>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(super::ImageInfo {
                id: i.id.unwrap_or_default(),
                repo_digests: i.repo_digests.clone().unwrap_or_default(),
                tags: i.repo_tags.unwrap_or_default(),
                size: i.size.unwrap_or_default(),
                env: i.config.as_ref().and_then(|c| c.env.clone()).unwrap_or_default(),
                healthcheck: i
                    .config
                    .as_ref()
                    .and_then(|c| c.healthcheck.as_ref())
                    .and_then(|h| h.test.as_ref())
                    .and_then(|t| t.first())
                    .is_some_and(|t| t != "NONE"),
                health_test: i
                    .config
                    .as_ref()
                    .and_then(|c| c.healthcheck.as_ref())
                    .and_then(|h| h.test.clone())
                    .filter(|t| t.first().is_some_and(|f| f != "NONE"))
                    .unwrap_or_default(),
                labels: btree(i.config.and_then(|c| c.labels)),
                tagged: i
                    .metadata
                    .and_then(|m| m.last_tag_time)
                    .or(i.created)
                    .and_then(|t| super::time::parse_rfc3339(&t))
                    .map(|(s, _)| s)
                    .unwrap_or(0),
            })),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(map_err(e, "inspecting", &format!("image `{image}`"))),
        }
    }

    async fn image_history(&self, image: &str) -> Result<Vec<String>> {
        match self.docker.image_history(image).await {
            Ok(layers) => Ok(layers.into_iter().map(|l| l.created_by).collect()),
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {
                Err(EngineError::NotFound { what: format!("image `{image}`") })
            }
            Err(e) => Err(map_err(e, "reading the history of", &format!("image `{image}`"))),
        }
    }

    async fn download_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        use futures::StreamExt;
        let opts = bollard::query_parameters::DownloadFromContainerOptions { path: path.to_string() };
        let mut stream = self.docker.download_from_container(id, Some(opts));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match e {
                BollardError::DockerResponseServerError { status_code: 404, .. } => {
                    EngineError::NotFound { what: format!("`{path}` in container `{id}`") }
                }
                other => map_err(other, "copying from", &format!("container `{id}`")),
            })?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn exec_with(&self, id: &str, cmd: &[String], opts: &super::ExecOptions) -> Result<super::ExecOutput> {
        self.exec_collect(id, cmd, opts).await
    }

    async fn exec_tty(
        &self,
        id: &str,
        cmd: &[String],
        opts: &super::ExecOptions,
        size: tokio::sync::watch::Receiver<(u16, u16)>,
        input: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Result<i64> {
        self.exec_terminal(id, cmd, opts, size, input, output).await
    }

    async fn attach_container(&self, id: &str, terminal: super::Terminal) -> Result<()> {
        self.attach(id, terminal).await
    }

    async fn exec_session(&self, id: &str, cmd: &[String]) -> Result<super::ExecSession> {
        DockerEngine::exec_session(self, id, cmd).await
    }

    async fn stats(&self, id: &str) -> Result<super::Stats> {
        self.stats_sample(id).await
    }
}
