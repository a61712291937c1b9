//! `wharf lint`: secrets written where anyone who reads the file or pulls the image can see
//! them, and a few mistakes compose users trip over. Pure: the caller gathers what needs the
//! outside world (which files git tracks, the config of the project's built images) into
//! [`Facts`]; [`check`] turns the project, its files as written and those facts into
//! [`Finding`]s, each at a file, line and column with the rule's name and a fix.

pub mod report;
pub mod rules;
pub mod secrets;
pub mod sources;

use std::collections::BTreeSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use crate::diag::Loc;
use crate::model::Project;
pub use sources::Source;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// What a rule protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A secret where it should not be.
    Secret,
    /// A configuration that does not do what it seems to.
    Correctness,
}

/// A rule: its name, what it protects, how bad a finding is, and what it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub class: Class,
    pub severity: Severity,
    pub summary: &'static str,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    pub loc: Loc,
    /// The key path, e.g. `services.db.environment.POSTGRES_PASSWORD`.
    pub path: String,
    /// What is wrong. Never holds a secret's value.
    pub message: String,
    pub hint: String,
}

/// A local image the project builds (or runs), as the engine describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    pub service: String,
    pub image: String,
    /// Built by the project (`build:`): its config and history are the project's doing.
    pub built: bool,
    pub env: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// `docker history`'s CREATED BY, newest first.
    pub history: Vec<String>,
    pub healthcheck: bool,
}

/// What [`check`] needs from outside the files.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The files git tracks among those the project names (absolute paths); `None` when the
    /// project is not in a git work tree or git is not installed.
    pub tracked: Option<BTreeSet<PathBuf>>,
    /// The local images of the project's services (absent images are not listed).
    pub images: Vec<ImageFacts>,
    /// Whether to walk build contexts (`false` for the quick check `up` runs).
    pub contexts: bool,
}

/// Every finding, sorted by file, line and rule. A value shared through a YAML anchor is
/// reported once, where it is written.
pub fn check(project: &Project, sources: &[Source], facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    rules::literals(sources, &mut out);
    rules::tracked_files(project, sources, facts, &mut out);
    if facts.contexts {
        rules::build_contexts(project, sources, &mut out);
    }
    rules::images(project, sources, facts, &mut out);
    rules::correctness(project, sources, facts, &mut out);
    out.sort_by(|a, b| (&a.loc, a.rule.id, &a.path).cmp(&(&b.loc, b.rule.id, &b.path)));
    out.dedup();
    out
}

/// The secret rules that need nothing but the files: what `up` checks before it starts.
pub fn quick(sources: &[Source]) -> Vec<Finding> {
    let mut out = Vec::new();
    rules::literals(sources, &mut out);
    out
}
