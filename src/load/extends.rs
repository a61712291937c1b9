//! `extends`: a service starts from another service's definition, in the same file or another
//! one, and merges its own keys on top with the multi-file merge rules. Chains are followed;
//! a cycle is reported with its whole chain (`a -> b -> a`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::load::canonical::volumes::resolve_path;
use crate::load::merge::merge_service;
use crate::load::yaml::{Node, Value};

/// Reads and interpolates another compose file, as the loader does for its own files.
pub type FileReader<'a> = dyn Fn(&Path) -> Result<Node, Diagnostic> + 'a;

/// Resolves every `extends` in `tree` (a whole compose file loaded from `file`).
/// Applies every service's `extends`; returns the services whose `extends` failed (reported, or
/// the knock-on of a base that failed).
pub fn resolve(tree: &mut Node, file: &Path, read: &FileReader, diags: &mut Diagnostics) -> Vec<String> {
    let mut r = Resolver { read, other_files: HashMap::new(), diags, cycles: Vec::new() };
    // Only a service with `extends` changes (and is copied).
    let names: Vec<String> = tree
        .get("services")
        .and_then(Node::as_map)
        .map(|m| m.iter().filter(|(_, s)| s.get("extends").is_some()).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut resolved = Vec::new();
    let mut failed = Vec::new();
    for name in names {
        let svc = r.service(tree, file, &name, &mut Vec::new());
        resolved.push((name, svc));
    }
    if let Some(services) = tree.as_map_mut().and_then(|m| m.get_mut("services")).and_then(Node::as_map_mut) {
        for (name, svc) in resolved {
            match svc {
                Some(s) => {
                    services.insert(name, s);
                }
                // Already reported: keep the service without `extends` so nothing else trips on it.
                None => {
                    if let Some(m) = services.get_mut(&name).and_then(Node::as_map_mut) {
                        m.shift_remove("extends");
                    }
                    failed.push(name);
                }
            }
        }
    }
    failed
}

struct Resolver<'a, 'd> {
    read: &'a FileReader<'a>,
    other_files: HashMap<PathBuf, Node>,
    diags: &'d mut Diagnostics,
    /// Cycles already reported, as sorted member lists (one report per cycle).
    cycles: Vec<Vec<String>>,
}

impl Resolver<'_, '_> {
    /// The service `name` of `tree` with its `extends` applied, or `None` after an error.
    fn service(&mut self, tree: &Node, file: &Path, name: &str, stack: &mut Vec<(PathBuf, String)>) -> Option<Node> {
        let svc = tree.get("services")?.get(name)?.clone();
        let Some(ext) = svc.get("extends").cloned() else {
            return Some(svc);
        };
        let path = format!("services.{name}.extends");
        let key = (file.to_path_buf(), name.to_string());
        if stack.contains(&key) {
            let start = stack.iter().position(|k| *k == key).unwrap_or(0);
            let mut chain: Vec<String> = stack[start..].iter().map(|(_, s)| s.clone()).collect();
            let mut members = chain.clone();
            members.sort();
            if self.cycles.contains(&members) {
                return None;
            }
            self.cycles.push(members);
            chain.push(name.to_string());
            self.diags.push(
                Diagnostic::error(ext.loc.clone(), path, format!("`extends` forms a cycle: {}", chain.join(" -> ")))
                    .with_hint("remove one of the `extends` in the chain"),
            );
            return None;
        }
        let (base_name, other) = match &ext.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(m) => {
                let Some(s) = m.get("service").and_then(Node::as_str) else {
                    self.diags.push(Diagnostic::error(ext.loc.clone(), path, "`extends` needs a `service`"));
                    return None;
                };
                (s.to_string(), m.get("file").and_then(Node::as_str).map(str::to_string))
            }
            _ => {
                self.diags.push(Diagnostic::error(
                    ext.loc.clone(),
                    path,
                    format!("expected a service name or a mapping, found {}", ext.kind()),
                ));
                return None;
            }
        };
        stack.push(key);
        let base = match other {
            None => {
                if tree.get("services").and_then(|s| s.get(&base_name)).is_none() {
                    self.missing(&ext, &path, &base_name, file);
                    stack.pop();
                    return None;
                }
                self.service(tree, file, &base_name, stack)
            }
            Some(f) => {
                let dir = file.parent().unwrap_or(Path::new("/"));
                let other_path = PathBuf::from(resolve_path(&f, dir, None));
                self.service_in_file(&other_path, &base_name, &ext, &path, stack)
            }
        };
        stack.pop();
        let base = base?;
        let mut own = svc;
        if let Some(m) = own.as_map_mut() {
            m.shift_remove("extends");
        }
        Some(merge_service(base, own))
    }

    fn service_in_file(
        &mut self,
        other: &Path,
        base_name: &str,
        ext: &Node,
        path: &str,
        stack: &mut Vec<(PathBuf, String)>,
    ) -> Option<Node> {
        if !self.other_files.contains_key(other) {
            match (self.read)(other) {
                Ok(t) => {
                    self.other_files.insert(other.to_path_buf(), t);
                }
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(ext.loc.clone(), path, format!("cannot load `extends.file`: {}", e.message))
                            .with_hint("the path is relative to the file that declares `extends`"),
                    );
                    return None;
                }
            }
        }
        let tree = self.other_files.get(other)?.clone();
        if tree.get("services").and_then(|s| s.get(base_name)).is_none() {
            self.missing(ext, path, base_name, other);
            return None;
        }
        let mut svc = self.service(&tree, other, base_name, stack)?;
        rebase_paths(&mut svc, other.parent().unwrap_or(Path::new("/")));
        Some(svc)
    }

    fn missing(&mut self, ext: &Node, path: &str, base: &str, file: &Path) {
        self.diags.push(Diagnostic::error(
            ext.loc.clone(),
            path,
            format!("extends undefined service `{base}` (in `{}`)", crate::diag::display_path(file)),
        ));
    }
}

/// Makes the relative paths of a service absolute against `dir` (the file it was written in).
pub fn rebase_paths(svc: &mut Node, dir: &Path) {
    let Some(m) = svc.as_map_mut() else { return };
    let abs = |s: &str| {
        if s.starts_with('/') || s.contains("://") { s.to_string() } else { resolve_path(s, dir, None) }
    };
    if let Some(b) = m.get_mut("build") {
        match &mut b.value {
            Value::Str(s) => *s = abs(s),
            Value::Map(bm) => {
                if let Some(c) = bm.get_mut("context")
                    && let Value::Str(s) = &mut c.value
                {
                    *s = abs(s);
                }
            }
            _ => {}
        }
    }
    if let Some(e) = m.get_mut("env_file") {
        match &mut e.value {
            Value::Str(s) => *s = abs(s),
            Value::Seq(items) => {
                for it in items {
                    match &mut it.value {
                        Value::Str(s) => *s = abs(s),
                        Value::Map(im) => {
                            if let Some(p) = im.get_mut("path")
                                && let Value::Str(s) = &mut p.value
                            {
                                *s = abs(s);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Seq(items)) = m.get_mut("volumes").map(|v| &mut v.value) {
        for it in items {
            match &mut it.value {
                Value::Str(s) if s.starts_with('.') => {
                    if let Some((src, rest)) = s.split_once(':') {
                        *s = format!("{}:{rest}", abs(src));
                    }
                }
                Value::Map(vm) if vm.get("type").and_then(Node::as_str) == Some("bind") => {
                    if let Some(src) = vm.get_mut("source")
                        && let Value::Str(s) = &mut src.value
                        && s.starts_with('.')
                    {
                        *s = abs(s);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Shared `Arc` of a path for diagnostics.
pub fn arc(p: &Path) -> Arc<PathBuf> {
    Arc::new(p.to_path_buf())
}

/// A service whose `extends` failed is only half defined: what is then wrong with it (no image,
/// a missing key) follows from that failure, and only the failure is reported.
pub fn without_knock_ons(diags: Diagnostics, failed_extends: &BTreeSet<String>) -> Diagnostics {
    if failed_extends.is_empty() {
        return diags;
    }
    let knock_on = |d: &Diagnostic| {
        failed_extends.iter().any(|name| {
            let own = format!("services.{name}");
            let inside =
                d.path == own || d.path.starts_with(&format!("{own}.")) || d.path.starts_with(&format!("{own}["));
            inside && !d.path.starts_with(&format!("{own}.extends"))
        })
    };
    Diagnostics(diags.0.into_iter().filter(|d| !(d.severity == Severity::Error && knock_on(d))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::yaml::parse;

    fn load(text: &str) -> (Node, Diagnostics) {
        let file = PathBuf::from("/proj/compose.yaml");
        let mut tree = parse(text, &arc(&file)).unwrap();
        let mut diags = Diagnostics::default();
        let read = |p: &Path| -> Result<Node, Diagnostic> {
            if p == Path::new("/proj/common/base.yaml") {
                Ok(parse("services:\n  base:\n    image: base\n    build: ./ctx\n    env_file: a.env\n", &arc(p))
                    .unwrap())
            } else {
                Err(Diagnostic::error(Default::default(), "", "no such file"))
            }
        };
        resolve(&mut tree, &file, &read, &mut diags);
        (tree, diags)
    }

    #[test]
    fn same_file_chain() {
        let (t, d) = load(
            "services:\n  a:\n    image: x\n    environment: [A=1]\n  b:\n    extends: a\n    environment: [B=2]\n  c:\n    extends: {service: b}\n    image: y\n",
        );
        assert!(d.0.is_empty(), "{d}");
        let c = t.get("services").unwrap().get("c").unwrap().to_json();
        assert_eq!(c, serde_json::json!({"image": "y", "environment": {"A": "1", "B": "2"}}));
    }

    #[test]
    fn other_file_paths_are_rebased() {
        let (t, d) = load("services:\n  w:\n    extends: {file: common/base.yaml, service: base}\n");
        assert!(d.0.is_empty(), "{d}");
        let w = t.get("services").unwrap().get("w").unwrap().to_json();
        assert_eq!(w["build"], "/proj/common/ctx");
        assert_eq!(w["env_file"], "/proj/common/a.env");
    }

    #[test]
    fn cycles_print_the_chain() {
        let (_, d) = load("services:\n  a:\n    extends: b\n  b:\n    extends: c\n  c:\n    extends: a\n");
        assert!(d.0.iter().any(|x| x.message.contains("a -> b -> c -> a")), "{d}");
    }

    #[test]
    fn undefined_base() {
        let (_, d) = load("services:\n  a:\n    extends: nope\n");
        assert!(d.0[0].message.contains("undefined service `nope`"), "{d}");
        assert_eq!(d.0[0].loc.line, 3);
    }
}
