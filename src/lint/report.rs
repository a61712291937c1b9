//! Findings as text for a terminal, JSON for tools (`schemas/lint.schema.json`) and SARIF 2.1.0
//! for code-scanning services (GitHub shows these on the lines they name).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::rules::RULES;
use super::{Class, Finding, Severity};
use crate::diag::display_path;

/// `wharf lint --format json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    pub findings: Vec<FindingJson>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FindingJson {
    pub rule: String,
    pub severity: Severity,
    pub class: Class,
    /// Relative to the current directory when below it; absent when the finding has no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based; 0 when only the file is known.
    pub line: usize,
    pub column: usize,
    pub path: String,
    pub message: String,
    pub hint: String,
}

impl From<&Finding> for FindingJson {
    fn from(f: &Finding) -> Self {
        FindingJson {
            rule: f.rule.id.into(),
            severity: f.rule.severity,
            class: f.rule.class,
            file: f.loc.file.as_ref().map(|p| display_path(p)),
            line: f.loc.line,
            column: f.loc.col,
            path: f.path.clone(),
            message: f.message.clone(),
            hint: f.hint.clone(),
        }
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// As the loader's diagnostics, without a source snippet: the line may hold the secret.
pub fn text(findings: &[Finding], color: bool) -> String {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    let mut out = String::new();
    for f in findings {
        let sev = severity(f.rule.severity);
        let head = format!("{sev}[{}]", f.rule.id);
        let head = paint(if f.rule.severity == Severity::Error { "1;31" } else { "1;33" }, &head);
        out.push_str(&format!("{head}: {}: {}\n", f.path, f.message));
        if f.loc.file.is_some() {
            out.push_str(&format!("  --> {}\n", f.loc));
        }
        out.push_str(&format!("  {}: {}\n", paint("36", "hint"), f.hint));
    }
    let errors = findings.iter().filter(|f| f.rule.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!("\n{}, {}\n", plural(errors, "error"), plural(warnings, "warning")));
    }
    out
}

pub fn json(findings: &[Finding]) -> String {
    let r = Report { findings: findings.iter().map(FindingJson::from).collect() };
    serde_json::to_string_pretty(&r).unwrap_or_default() + "\n"
}

/// SARIF 2.1.0: one run, every rule described, each finding with its region.
pub fn sarif(findings: &[Finding]) -> String {
    let rules: Vec<_> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "defaultConfiguration": { "level": severity(r.severity) },
                "properties": { "tags": [match r.class { Class::Secret => "security", Class::Correctness => "correctness" }] },
            })
        })
        .collect();
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule.id,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule.id).unwrap_or(0),
                "level": severity(f.rule.severity),
                "message": { "text": format!("{}: {} ({})", f.path, f.message, f.hint) },
            });
            if let Some(file) = &f.loc.file {
                let mut region = serde_json::Map::new();
                if f.loc.line > 0 {
                    region.insert("startLine".into(), f.loc.line.into());
                    region.insert("startColumn".into(), f.loc.col.max(1).into());
                }
                let mut physical = json!({ "artifactLocation": { "uri": display_path(file) } });
                if !region.is_empty() {
                    physical["region"] = serde_json::Value::Object(region);
                }
                result["locations"] = json!([{ "physicalLocation": physical }]);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "wharf",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
