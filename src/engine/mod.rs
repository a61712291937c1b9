//! The engine boundary: domain types and the [`Engine`] trait that everything above it uses.
//! [`docker`] is the one implementation against the Docker Engine API (the only module that
//! imports bollard).

pub mod docker;
pub mod dry_run;
mod event;
pub mod fake;
pub mod reference;
pub mod swarm;
pub mod time;
pub mod trace;
mod transfer;
pub use event::{Event, EventKind, HealthStatus};
pub use transfer::{BuildMessage, BuildRequest, BuildSession, BuildStep, ContextStream, Credentials, TransferProgress};

use std::collections::BTreeMap;
use std::future::Future;

/// What went wrong talking to the engine, with the subject named.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("cannot connect to the Docker Engine at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// The engine's 409: a name taken, a container already paused, not running, being removed…
    #[error("{what}: {message}")]
    Conflict { what: String, message: String },
    #[error("image `{image}` is not available locally and cannot be pulled: {reason}")]
    ImageMissing { image: String, reason: String },
    #[error("host port {port} is already allocated")]
    PortAllocated { port: String },
    /// A container name taken by a container that is not the one asked for.
    #[error("the container name `{name}` is already in use by container {by}, which is not part of this project")]
    NameInUse { name: String, by: String },
    #[error("{network} still has active endpoints")]
    NetworkInUse { network: String },
    #[error("the engine refused {operation}: {message}")]
    Api { operation: String, status: u16, message: String },
    /// A call the engine did not answer within the deadline (`COMPOSE_HTTP_TIMEOUT`).
    #[error("the Docker Engine at {endpoint} did not answer {operation} within {waited_s} s")]
    Timeout { endpoint: String, operation: String, waited_s: u64 },
}

impl EngineError {
    /// A likely fix, for the CLI's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Unreachable { .. } => Some(
                "is the Docker daemon running? set `DOCKER_HOST` (e.g. `unix:///var/run/docker.sock`) if it listens elsewhere"
                    .into(),
            ),
            EngineError::ImageMissing { image, .. } => {
                Some(format!("build or load `{image}` locally (`docker build -t {image} …`); no registry is reachable"))
            }
            EngineError::NetworkInUse { .. } => Some(
                "a container still uses it, or the engine kept a stale endpoint (Docker 20.10 does after racing forced removals): `docker network inspect` it; a stale endpoint goes away when the daemon restarts"
                    .into(),
            ),
            EngineError::NameInUse { by, .. } => Some(format!(
                "remove or rename that container (`docker rm -f {by}`), or give this project another name with `-p`"
            )),
            EngineError::Timeout { .. } => Some(
                "the engine may be wedged (Docker 20.10 can deadlock its network layer): check whether `docker network ls` answers, and restart the daemon if it hangs; a slow engine can be given longer with `COMPOSE_HTTP_TIMEOUT=SECONDS`"
                    .into(),
            ),
            // Seen after the engine and its containerd were killed and restarted: the dead
            // task's directory is left, and the engine cannot start that container again.
            EngineError::Api { message, .. } if message.contains("failed to start shim") && message.contains("file exists") => {
                Some(
                    "the engine kept a dead container's runtime state after an unclean stop (containerd): `wharf up -d --force-recreate` replaces the container (or restart the Docker daemon)"
                        .into(),
                )
            }
            EngineError::PortAllocated { port } => {
                Some(format!("another container or process uses host port {port}: free it or change the published port"))
            }
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// The state of a container as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl State {
    pub fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "paused" => State::Paused,
            "restarting" => State::Restarting,
            "removing" => State::Removing,
            "exited" => State::Exited,
            "dead" => State::Dead,
            _ => State::Created,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }
}

/// A volume mounted in a container, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub kind: String,
    /// The volume name for `volume` mounts.
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
}

/// A published port, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub ip: Option<String>,
    pub private: u16,
    pub public: Option<u16>,
    pub protocol: String,
}

/// What `commit` makes of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// `REPOSITORY[:TAG]`; none: an untagged image.
    pub reference: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions applied to the image (`-c 'ENV A=1'`).
    pub changes: Vec<String>,
    /// Pause the container while committing.
    pub pause: bool,
}

/// A container as one list call reports it: enough for `ps` and for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub state: State,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<MountInfo>,
    pub ports: Vec<PortInfo>,
    /// Network names the container is attached to.
    pub networks: Vec<String>,
}

impl ContainerInfo {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Details only an inspect gives: health and exit code (and, for an inspect by name, which
/// container that is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDetails {
    /// The container's full ID.
    pub id: String,
    /// Its name, without the engine's leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    /// `starting`, `healthy`, `unhealthy`, or `None` without a healthcheck.
    pub health: Option<String>,
    /// The output of the last health probe.
    pub last_health_output: Option<String>,
    pub exit_code: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    /// (subnet, gateway, ip_range)
    pub ipam: Vec<(Option<String>, Option<String>, Option<String>)>,
    pub ipam_driver: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// How a container joins one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// `links` (`container:alias`): on a user-defined network the engine resolves a link's
    /// alias only when the endpoint carries it (the container's own `Links` serve the default
    /// bridge).
    pub links: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub create_host_path: bool,
    pub nocopy: bool,
    pub propagation: Option<String>,
    pub tmpfs_size: Option<i64>,
    pub tmpfs_mode: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortBinding {
    /// `80/tcp`
    pub container: String,
    pub host_ip: Option<String>,
    /// Empty for an ephemeral port.
    pub host_port: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub test: Vec<String>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub start_period_ns: Option<i64>,
    /// Sent only to engines with API ≥ 1.44; older ones get it emulated by the scheduler.
    pub start_interval_ns: Option<i64>,
    pub retries: Option<i64>,
}

/// Which output a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// A TTY container's single stream.
    Console,
}

/// A chunk of a container's output (one line for line-buffered programs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: LogStream,
    pub bytes: Vec<u8>,
}

/// Which logs to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub timestamps: bool,
    /// `all` or a number of lines.
    pub tail: Option<String>,
    /// Seconds since the epoch.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// How [`Engine::exec_with`] runs its command.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub user: Option<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub privileged: bool,
    /// Start it and return at once (exit code 0, no output).
    pub detach: bool,
    /// Send the output here as it comes, instead of collecting it in [`ExecOutput::output`].
    pub stream: Option<tokio::sync::mpsc::UnboundedSender<LogChunk>>,
}

/// The result of a command run to completion inside a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved as they came.
    pub output: String,
}

/// One resource-usage sample of a container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub pids: u64,
}

/// A local image, as `images` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size: i64,
    /// When it was last tagged (pulled, built or tagged), else created: seconds since the epoch.
    pub tagged: i64,
    pub labels: BTreeMap<String, String>,
    /// `ENV` of the image's config, `NAME=value`.
    pub env: Vec<String>,
    /// Whether the image's config declares a `HEALTHCHECK` (other than `NONE`).
    pub healthcheck: bool,
    /// That healthcheck's test as the engine keeps it (`["CMD", …]`, `["CMD-SHELL", "…"]`);
    /// empty without one.
    pub health_test: Vec<String>,
    /// `name@sha256:…` for each registry the image was pushed to or pulled from.
    pub repo_digests: Vec<String>,
}

/// The caller's side of an attached container or TTY exec.
#[derive(Debug)]
pub struct Terminal {
    /// Bytes for the process's stdin (`None`: stdin is not attached).
    pub input: Option<tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>>,
    /// What the process writes, as it comes.
    pub output: tokio::sync::mpsc::UnboundedSender<LogChunk>,
    /// The terminal's size (rows, columns) for a TTY; each change is passed on.
    pub size: Option<tokio::sync::watch::Receiver<(u16, u16)>>,
}

/// A process running in a container with its stdin open (see [`Engine::exec_session`]).
#[derive(Debug)]
pub struct ExecSession {
    /// Bytes for its stdin; dropping the sender closes stdin.
    pub input: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    /// Its stdout and stderr, merged, as they come; closed when it exits.
    pub output: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
}

/// A stream of engine results that outlives the call that opened it.
pub type EngineStream<T> = futures::stream::BoxStream<'static, Result<T>>;

/// A file copied into a container after it is created and before it starts (secrets and
/// configs whose content does not come from a file on the host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCopy {
    /// Absolute path in the container.
    pub path: String,
    pub content: Vec<u8>,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
}

/// Everything needed to create one container, in engine terms but free of bollard types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mac_address: Option<String>,
    pub exposed_ports: Vec<String>,
    pub tty: bool,
    pub stdin_open: bool,
    /// A one-off's stdin is attached by its caller, and closed when the caller's ends.
    pub stdin_once: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub healthcheck: Option<Health>,
    pub mounts: Vec<Mount>,
    pub port_bindings: Vec<PortBinding>,
    pub network_mode: Option<String>,
    /// The first endpoint is given at create; the others are connected afterwards (API < 1.44).
    pub endpoints: Vec<Endpoint>,
    pub restart_policy: Option<(String, Option<i64>)>,
    pub init: Option<bool>,
    pub privileged: bool,
    /// The engine removes the container when it exits (`run --rm -d`).
    pub auto_remove: bool,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub ulimits: Vec<(String, i64, i64)>,
    pub sysctls: BTreeMap<String, String>,
    pub tmpfs: BTreeMap<String, String>,
    /// (host path, container path, permissions)
    pub devices: Vec<(String, String, String)>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub userns_mode: Option<String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset: Option<String>,
    pub pids_limit: Option<i64>,
    pub volumes_from: Vec<String>,
    pub log_driver: Option<String>,
    pub log_opts: BTreeMap<String, String>,
    pub group_add: Vec<String>,
    pub oom_score_adj: Option<i64>,
    pub runtime: Option<String>,
    pub cgroup_parent: Option<String>,
    pub links: Vec<String>,
    /// Files to copy in before the first start.
    pub files: Vec<FileCopy>,
}

/// The operations wharf needs from a container engine. Futures are `Send` so the scheduler can
/// run them on any worker thread.
pub trait Engine: Clone + Send + Sync + 'static {
    /// Containers of `project` (one list call), running or not.
    fn list_containers(&self, project: &str) -> impl Future<Output = Result<Vec<ContainerInfo>>> + Send;
    /// Every project with containers on the engine: (name, states of its containers, config files).
    fn list_projects(&self) -> impl Future<Output = Result<Vec<ContainerInfo>>> + Send;
    /// Every container carrying `label` (`KEY` or `KEY=VALUE`), running or not: one list call.
    fn list_labelled(&self, label: &str) -> impl Future<Output = Result<Vec<ContainerInfo>>> + Send;
    /// The labels of every network and volume that carries `label`: what a stack killed before
    /// its first container leaves.
    fn labelled_leftovers(&self, label: &str) -> impl Future<Output = Result<Vec<BTreeMap<String, String>>>> + Send;
    fn list_networks(&self, project: &str) -> impl Future<Output = Result<Vec<NetworkInfo>>> + Send;
    fn list_volumes(&self, project: &str) -> impl Future<Output = Result<Vec<VolumeInfo>>> + Send;
    /// `Ok(None)` when the network does not exist.
    fn network_exists(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;
    fn volume_exists(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;
    fn create_network(&self, spec: &NetworkSpec) -> impl Future<Output = Result<String>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
    /// Connects container `id` to `endpoint.network`, with its aliases and addresses.
    fn connect_network(&self, id: &str, endpoint: &Endpoint) -> impl Future<Output = Result<()>> + Send;
    /// Disconnects container `id` (running or not) from `network`.
    fn disconnect_network(&self, id: &str, network: &str) -> impl Future<Output = Result<()>> + Send;
    fn create_volume(&self, spec: &VolumeSpec) -> impl Future<Output = Result<()>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
    /// The image's ID, or `None` when it is not present locally.
    fn image_id(&self, image: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Creates the container (attached to its first endpoint) and connects the other endpoints.
    fn create_container(&self, spec: &ContainerSpec) -> impl Future<Output = Result<String>> + Send;
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    fn stop_container(&self, id: &str, timeout_s: Option<i64>) -> impl Future<Output = Result<()>> + Send;
    fn kill_container(&self, id: &str, signal: &str) -> impl Future<Output = Result<()>> + Send;
    fn pause_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    fn unpause_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    fn remove_container(&self, id: &str, force: bool, volumes: bool) -> impl Future<Output = Result<()>> + Send;
    fn rename_container(&self, id: &str, name: &str) -> impl Future<Output = Result<()>> + Send;
    fn inspect_container(&self, id: &str) -> impl Future<Output = Result<ContainerDetails>> + Send;
    /// How many processes exec'd into the container run now (the engine's own health probes
    /// too; an exec created but never started does not count).
    fn running_execs(&self, id: &str) -> impl Future<Output = Result<usize>> + Send;
    /// A tar archive of `path` in a container (its last component at the archive's top).
    fn download_archive(&self, id: &str, path: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// Extracts a tar archive into directory `dir` of a (created or running) container.
    fn upload_archive(&self, id: &str, dir: &str, tar: Vec<u8>) -> impl Future<Output = Result<()>> + Send;
    fn remove_image(&self, image: &str) -> impl Future<Output = Result<()>> + Send;
    /// `docker commit`: an image of container `id` as it is now; the new image's ID.
    fn commit_container(&self, id: &str, commit: &Commit) -> impl Future<Output = Result<String>> + Send;
    /// `docker export`: the container's filesystem as a tar stream.
    fn export_container(&self, id: &str) -> EngineStream<Vec<u8>>;
    /// Runs `cmd` in a running container with a TTY of `size` (rows, columns): bytes from `input`
    /// go to its terminal, its terminal's output goes to `output`. Returns the exit code.
    fn exec_tty(
        &self,
        id: &str,
        cmd: &[String],
        opts: &ExecOptions,
        size: tokio::sync::watch::Receiver<(u16, u16)>,
        input: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Attaches to a created or running container (its output since it started, then as it
    /// comes; stdin when given); returns when its output ends.
    fn attach_container(&self, id: &str, terminal: Terminal) -> impl Future<Output = Result<()>> + Send;
    /// Changes a container's restart policy (`no`, `always`, `on-failure`, `unless-stopped`).
    fn set_restart_policy(
        &self,
        id: &str,
        name: &str,
        max_retries: Option<i64>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Starts `cmd` in a running container with stdin open and no TTY, and leaves it running
    /// (the file-watch loop keeps a shell per container this way).
    fn exec_session(&self, id: &str, cmd: &[String]) -> impl Future<Output = Result<ExecSession>> + Send;
    /// The processes of a running container: column titles and rows (`ps -ef`).
    fn top(&self, id: &str) -> impl Future<Output = Result<(Vec<String>, Vec<Vec<String>>)>> + Send;
    /// One usage sample (the engine measures over about a second).
    fn stats(&self, id: &str) -> impl Future<Output = Result<Stats>> + Send;
    /// A local image, or `None` when absent.
    fn image_info(&self, image: &str) -> impl Future<Output = Result<Option<ImageInfo>>> + Send;
    /// The command that made each layer of a local image (`docker history`'s CREATED BY),
    /// newest first.
    fn image_history(&self, image: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Whether the engine runs `healthcheck.start_interval` itself (API ≥ 1.44).
    fn supports_start_interval(&self) -> bool;
    /// Builds an image from a tar context, with BuildKit or the classic builder.
    fn build_image(&self, req: &BuildRequest, context: ContextStream) -> EngineStream<BuildMessage>;
    /// Whether [`BuildRequest::buildkit`] builds can run here (the classic builder always can).
    fn supports_buildkit(&self) -> bool {
        false
    }
    /// Pulls `image` (`name[:tag]` or `name@digest`).
    fn pull_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress>;
    /// Pushes `image` (`name[:tag]`) to its registry.
    fn push_image(&self, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress>;
    /// Gives `image` another reference, `target` (`name[:tag]`).
    fn tag_image(&self, image: &str, target: &str) -> impl Future<Output = Result<()>> + Send;
    /// Container events of `project` from now on (one subscription serves a whole run).
    fn events(&self, project: &str) -> EngineStream<Event>;
    /// Container events of `project` since `since_s` (seconds since the epoch) until now, as
    /// far back as the engine keeps them.
    fn recent_events(&self, project: &str, since_s: i64) -> impl Future<Output = Result<Vec<Event>>> + Send;
    /// A container's output.
    fn logs(&self, id: &str, opts: &LogOptions) -> EngineStream<LogChunk>;
    /// Runs `cmd` in a running container and waits for it to finish.
    fn exec(&self, id: &str, cmd: &[String]) -> impl Future<Output = Result<ExecOutput>> + Send {
        async move { self.exec_with(id, cmd, &ExecOptions::default()).await }
    }
    /// [`Engine::exec`] as a given user, with extra environment, in a directory, privileged.
    fn exec_with(
        &self,
        id: &str,
        cmd: &[String],
        opts: &ExecOptions,
    ) -> impl Future<Output = Result<ExecOutput>> + Send;
}
