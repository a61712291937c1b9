//! The one error the CLI reports: load diagnostics or a message with an optional hint, and the
//! exit code it maps to. Library errors turn into it through `From`, so verbs use `?`.

use crate::build::BuildError;
use crate::diag::Diagnostics;
use crate::engine::EngineError;
use crate::scheduler::RunError;

/// A failure to report: diagnostics from loading, or a plain message.
#[derive(Debug)]
pub enum CliError {
    Load(Diagnostics),
    Message { message: String, hint: Option<String>, code: u8 },
}

impl CliError {
    pub fn msg(message: impl Into<String>) -> Self {
        CliError::Message { message: message.into(), hint: None, code: 1 }
    }
    pub fn render(&self) -> String {
        match self {
            CliError::Load(d) => {
                let errors = d.errors().count();
                let mut s = d.render();
                s.push_str(&format!(
                    "\n{} error{} in the compose project\n",
                    errors,
                    if errors == 1 { "" } else { "s" }
                ));
                s
            }
            CliError::Message { message, hint, .. } => match hint {
                Some(h) => format!("error: {message}\n  hint: {h}\n"),
                None => format!("error: {message}\n"),
            },
        }
    }
    pub fn exit_code(&self) -> u8 {
        match self {
            // compose v2 exits 1 for a project it cannot load, as for any other error.
            CliError::Load(_) => 1,
            CliError::Message { code, .. } => *code,
        }
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        CliError::Message { hint: e.hint(), message: e.to_string(), code: 1 }
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Engine(e) => e.into(),
            RunError::Service { service, reason } => CliError::msg(format!("service `{service}`: {reason}")),
            e @ (RunError::NotReady { .. } | RunError::Hook { .. }) => CliError::msg(e.to_string()),
            RunError::ExternalNetworkMissing { ref name } => CliError::Message {
                hint: Some(format!("create it with `docker network create {name}`")),
                message: e.to_string(),
                code: 1,
            },
            RunError::ExternalVolumeMissing { ref name } => CliError::Message {
                hint: Some(format!("create it with `docker volume create {name}`")),
                message: e.to_string(),
                code: 1,
            },
            RunError::InService { service, error } => {
                CliError::Message { message: format!("service `{service}`: {error}"), hint: error.hint(), code: 1 }
            }
        }
    }
}

impl From<crate::watch::Error> for CliError {
    fn from(e: crate::watch::Error) -> Self {
        CliError::msg(e.to_string())
    }
}

impl From<BuildError> for CliError {
    fn from(e: BuildError) -> Self {
        CliError::Message { message: e.to_string(), hint: e.hint, code: 1 }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Load(d)
    }
}

impl From<crate::ops::Error> for CliError {
    fn from(e: crate::ops::Error) -> Self {
        match e {
            crate::ops::Error::Run(r) => r.into(),
            crate::ops::Error::Engine(x) => x.into(),
            other => CliError::Message { hint: other.hint(), message: other.to_string(), code: 1 },
        }
    }
}
