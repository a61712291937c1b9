//! The labels docker compose writes, so a stack can move between compose and wharf.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENV_FILE: &str = "com.docker.compose.project.environment_file";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const REPLACE: &str = "com.docker.compose.replace";

/// wharf's hash of a network's or volume's configuration, to recreate it when that changes.
/// Not compose's `config-hash` (compose hashes its own model's JSON): with a label of its own,
/// wharf leaves alone what compose created, and compose what wharf created.
pub const RESOURCE_HASH: &str = "dev.wharf.config-hash";

/// The compose version we write in `com.docker.compose.version` (the compose v2 release whose
/// behaviour wharf follows), so compose does not consider the containers foreign.
pub const COMPOSE_VERSION: &str = "2.40.3";
