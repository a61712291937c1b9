//! Diagnostics: a problem found in the user's files, with where it is (file, line, column),
//! the key path it concerns (`services.web.ports[1]`), what was expected, and a likely fix.
//!
//! Every stage of the loader reports through [`Diagnostic`]; only the CLI renders them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a source file. Lines and columns start at 1; 0 means unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Loc {
    pub file: Option<Arc<PathBuf>>,
    pub line: usize,
    pub col: usize,
}

impl Loc {
    pub fn new(file: &Arc<PathBuf>, line: usize, col: usize) -> Self {
        Loc { file: Some(file.clone()), line, col }
    }
    pub fn file_only(file: &Path) -> Self {
        Loc { file: Some(Arc::new(file.to_path_buf())), line: 0, col: 0 }
    }
    /// The start of line `line` of `file` (for line-oriented files such as `.env`).
    pub fn line_start(file: &Path, line: usize) -> Self {
        Loc { line, col: 1, ..Loc::file_only(file) }
    }
    pub fn unknown() -> Self {
        Loc::default()
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            None => f.write_str("<command line>"),
            Some(p) if self.line == 0 => write!(f, "{}", display_path(p)),
            Some(p) => write!(f, "{}:{}:{}", display_path(p), self.line, self.col),
        }
    }
}

/// Paths are shown relative to the current directory when they are below it.
pub fn display_path(p: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = p.strip_prefix(&cwd)
        && !rel.as_os_str().is_empty()
    {
        return rel.display().to_string();
    }
    p.display().to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the user's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Loc,
    /// The key path, e.g. `services.web.ports[1]`; empty when the problem is not about one key.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, loc, path: path.into(), message: message.into(), hint: None }
    }
    pub fn warning(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(loc, path, message) }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the diagnostic with a source snippet when the file can be read.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.path.is_empty() {
            out.push_str(&format!("{sev}: {}\n", self.message));
        } else {
            out.push_str(&format!("{sev}: {}: {}\n", self.path, self.message));
        }
        if self.loc.file.is_some() {
            out.push_str(&format!("  --> {}\n", self.loc));
        }
        if let Some(snippet) = self.snippet() {
            out.push_str(&snippet);
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
        out
    }

    fn snippet(&self) -> Option<String> {
        let file = self.loc.file.as_ref()?;
        if self.loc.line == 0 {
            return None;
        }
        let text = std::fs::read_to_string(file.as_path()).ok()?;
        let line = text.lines().nth(self.loc.line - 1)?;
        let num = self.loc.line.to_string();
        let pad = " ".repeat(num.len());
        let caret_pad: String =
            line.chars().take(self.loc.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        Some(format!("{pad} |\n{num} | {line}\n{pad} | {caret_pad}^\n"))
    }

    /// Sort key: errors in file order, so output is stable.
    fn sort_key(&self) -> (Option<Arc<PathBuf>>, usize, usize, String, String) {
        (self.loc.file.clone(), self.loc.line, self.loc.col, self.path.clone(), self.message.clone())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.loc)?;
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// All the problems found while loading: reported together, in a stable order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        if !self.0.contains(&d) {
            self.0.push(d);
        }
    }
    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.0 {
            self.push(d);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    pub fn sorted(mut self) -> Self {
        self.0.sort_by_key(|d| d.sort_key());
        self
    }
    pub fn render(&self) -> String {
        self.0.iter().map(|d| d.render()).collect::<Vec<_>>().join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(did_you_mean("restrat", ["restart", "read_only"]), Some("restart"));
        assert_eq!(did_you_mean("imgae", ["image", "init"]), Some("image"));
        assert_eq!(did_you_mean("zzzzzz", ["image", "init"]), None);
    }

    #[test]
    fn renders_location_path_and_hint() {
        let d = Diagnostic::error(Loc::file_only(Path::new("/nonexistent/compose.yaml")), "services.web", "bad")
            .with_hint("fix it");
        assert_eq!(d.to_string(), "/nonexistent/compose.yaml: services.web: bad (hint: fix it)");
    }
}
