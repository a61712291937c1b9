//! What builds, pulls and pushes send to the engine and hear back.

use std::collections::BTreeMap;

/// One image build; the context goes separately, as a tar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRequest {
    /// The image reference to tag the result with.
    pub tag: String,
    /// The Dockerfile's path inside the context tar.
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub cache_from: Vec<String>,
    pub network: Option<String>,
    /// `host:ip` entries.
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub no_cache: bool,
    /// Always try to pull newer versions of the base images.
    pub pull: bool,
    pub platform: Option<String>,
    /// Build with the engine's embedded BuildKit instead of the classic builder.
    pub buildkit: bool,
    /// What a BuildKit session serves this build (secrets, SSH agents); `None` builds without
    /// a session, as every build that mounts neither does.
    pub session: Option<BuildSession>,
}

/// What a build's BuildKit session hands the builder when a step asks: secret values and SSH
/// agents, each by the ID a `RUN --mount=type=secret,id=…` or `type=ssh,id=…` names. Values
/// are never printed (its `Debug` shows the IDs only).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BuildSession {
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// The socket of the agent each SSH ID forwards to.
    pub ssh: BTreeMap<String, std::path::PathBuf>,
}

impl std::fmt::Debug for BuildSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildSession")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ssh", &self.ssh)
            .finish()
    }
}

/// What a build reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildMessage {
    /// Builder output (`Step 2/4 : COPY . /app`, the steps' own output), one or more lines.
    Output(String),
    /// The ID of the built image.
    ImageId(String),
    /// A BuildKit step changed state.
    Step(BuildStep),
    /// What a BuildKit step wrote.
    StepOutput { step: String, text: String },
}

/// A BuildKit step (a vertex of its graph) as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStep {
    /// The vertex digest: the key of its [`BuildMessage::StepOutput`]s.
    pub id: String,
    /// `[2/3] COPY . /app`, `[internal] load metadata for …`.
    pub name: String,
    pub cached: bool,
    pub started: bool,
    /// Set once it is over: how long it took.
    pub completed: Option<std::time::Duration>,
    pub error: Option<String>,
}

/// A pull's or push's progress, one layer (or the image, with no `id`) at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferProgress {
    pub id: Option<String>,
    pub status: String,
    pub current: Option<i64>,
    pub total: Option<i64>,
}

/// Registry credentials for one pull or push (never printed).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub server: String,
    /// An OAuth refresh token the registry takes instead of a password.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ server: {:?}, username: {:?}, password: <hidden> }}", self.server, self.username)
    }
}

/// A build context: tar bytes, streamed.
pub type ContextStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;
