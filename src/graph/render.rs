//! `wharf graph`'s renderings of a [`View`]: a tree for the terminal, Graphviz DOT, Mermaid
//! and JSON.

use std::fmt::Write as _;

use indexmap::{IndexMap, IndexSet};

use super::view::{EdgeView, ServiceNode, View};

/// What the text renderings add to each service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Show {
    pub networks: bool,
    pub volumes: bool,
    pub ports: bool,
    /// ANSI colour (the tree only).
    pub color: bool,
}

/// Resource nodes as (key, name) and links as (service, key); see [`View::attachments`].
type Attachments<'a> = (Vec<(String, &'a str)>, Vec<(&'a str, String)>);

/// What DOT and Mermaid draw besides services.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Network,
    Volume,
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
}

impl View {
    /// A tree per service nothing else needs, its dependencies below it (as `cargo tree`:
    /// a subtree already printed is shown once and then marked `(*)`), then the start waves.
    pub fn tree(&self, show: Show) -> String {
        let paint = Paint(show.color);
        let needed: IndexSet<&str> = self.edges.iter().map(|e| e.to.as_str()).collect();
        let mut roots: Vec<&ServiceNode> = self.services.iter().filter(|s| !needed.contains(s.name.as_str())).collect();
        if roots.is_empty() {
            roots = self.services.iter().collect();
        }
        let mut out = String::new();
        let mut printed = IndexSet::new();
        for root in roots {
            self.tree_node(root, None, "", "", &show, &paint, &mut printed, &mut out);
        }
        if !self.services.is_empty() {
            out.push('\n');
            out.push_str(&paint.wrap("1", "start order"));
            out.push('\n');
            for (i, wave) in self.waves().iter().enumerate() {
                let names: Vec<String> = wave
                    .iter()
                    .map(|n| match self.service(n) {
                        Some(s) if !s.active => paint.wrap("2", &format!("{n} (not enabled)")),
                        _ => n.to_string(),
                    })
                    .collect();
                let _ = writeln!(out, "  {}. {}", i + 1, names.join(", "));
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn tree_node(
        &self,
        svc: &ServiceNode,
        via: Option<&EdgeView>,
        first: &str,
        rest: &str,
        show: &Show,
        paint: &Paint,
        printed: &mut IndexSet<String>,
        out: &mut String,
    ) {
        let mut line =
            format!("{first}{}", if svc.active { paint.wrap("1", &svc.name) } else { paint.wrap("2", &svc.name) });
        if let Some(e) = via {
            let label = format!("[{}]", e.label());
            line.push(' ');
            line.push_str(&if e.implied() { paint.wrap("33", &label) } else { paint.wrap("36", &label) });
        }
        if !svc.active {
            line.push(' ');
            line.push_str(&paint.wrap("2", &format!("(profile {}, not enabled)", svc.profiles.join(", "))));
        }
        let children: Vec<&EdgeView> = self.edges.iter().filter(|e| e.from == svc.name).collect();
        let again = !children.is_empty() && printed.contains(&svc.name);
        if again {
            line.push_str(" (*)");
        } else {
            for extra in self.extras(svc, show) {
                line.push_str("  ");
                line.push_str(&paint.wrap("2", &extra));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if again {
            return;
        }
        printed.insert(svc.name.clone());
        for (i, e) in children.iter().enumerate() {
            let Some(child) = self.service(&e.to) else { continue };
            let last = i + 1 == children.len();
            let (f, r) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
            self.tree_node(child, Some(e), &format!("{rest}{f}"), &format!("{rest}{r}"), show, paint, printed, out);
        }
    }

    fn extras(&self, svc: &ServiceNode, show: &Show) -> Vec<String> {
        let mut v = Vec::new();
        if show.ports && !svc.ports.is_empty() {
            v.push(format!("ports: {}", svc.ports.join(", ")));
        }
        if show.networks && !svc.networks.is_empty() {
            v.push(format!("networks: {}", svc.networks.join(", ")));
        }
        if show.volumes && !svc.volumes.is_empty() {
            v.push(format!("volumes: {}", svc.volumes.join(", ")));
        }
        v
    }

    /// Graphviz DOT: an arrow from each service to what it needs, one rank per start wave,
    /// implied edges dashed, optional ones dotted, inactive services grey.
    pub fn dot(&self, show: Show) -> String {
        let mut out = format!("digraph {} {{\n", quote(&self.project));
        out.push_str("  rankdir=BT;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for s in &self.services {
            let mut label = s.name.clone();
            for extra in self.extras(s, &Show { networks: false, volumes: false, ..show }) {
                label.push('\n');
                label.push_str(&extra);
            }
            let style = if s.active {
                String::new()
            } else {
                ", style=\"rounded,dashed\", fontcolor=gray50, color=gray50".into()
            };
            let _ = writeln!(out, "  {} [label={}{style}];", quote(&s.name), quote(&label));
        }
        for wave in self.waves() {
            let names: Vec<String> = wave.iter().map(|n| quote(n)).collect();
            let _ = writeln!(out, "  {{ rank=same; {}; }}", names.join("; "));
        }
        for e in &self.edges {
            let mut attrs = vec![format!("label={}", quote(&e.label()))];
            if e.implied() {
                attrs.push("style=dashed".into());
            } else if !e.required {
                attrs.push("style=dotted".into());
            }
            if e.restart {
                attrs.push("penwidth=2".into());
            }
            let _ = writeln!(out, "  {} -> {} [{}];", quote(&e.from), quote(&e.to), attrs.join(", "));
        }
        for (kind, shown, shape) in
            [(Kind::Network, show.networks, "hexagon"), (Kind::Volume, show.volumes, "cylinder")]
        {
            if !shown {
                continue;
            }
            let (nodes, links) = self.attachments(kind);
            for (key, name) in nodes {
                let _ = writeln!(out, "  {} [label={}, shape={shape}, style=\"\"];", quote(&key), quote(name));
            }
            for (service, key) in links {
                let _ = writeln!(out, "  {} -> {} [arrowhead=none, color=gray50];", quote(service), quote(&key));
            }
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart (GitHub renders these in Markdown): dependents above what they need,
    /// implied edges dotted, `restart: true` thick, inactive services dashed.
    pub fn mermaid(&self, show: Show) -> String {
        let ids = mermaid_ids(self);
        let mut out = String::from("flowchart TD\n");
        for s in &self.services {
            let mut label = s.name.clone();
            for extra in self.extras(s, &Show { networks: false, volumes: false, ..show }) {
                label.push_str("<br/>");
                label.push_str(&extra);
            }
            let _ = writeln!(out, "  {}[\"{}\"]", ids[&s.name], mermaid_text(&label));
        }
        for e in &self.edges {
            let arrow = if e.implied() || !e.required {
                "-.->"
            } else if e.restart {
                "==>"
            } else {
                "-->"
            };
            let _ = writeln!(out, "  {} {arrow}|{}| {}", ids[&e.from], mermaid_text(&e.label()), ids[&e.to]);
        }
        for (kind, shown) in [(Kind::Network, show.networks), (Kind::Volume, show.volumes)] {
            if !shown {
                continue;
            }
            let (nodes, links) = self.attachments(kind);
            for (key, name) in nodes {
                let text = mermaid_text(name);
                let _ = match kind {
                    Kind::Network => writeln!(out, "  {}{{{{\"{text}\"}}}}", ids[&key]),
                    Kind::Volume => writeln!(out, "  {}[(\"{text}\")]", ids[&key]),
                };
            }
            for (service, key) in links {
                let _ = writeln!(out, "  {} --- {}", ids[service], ids[&key]);
            }
        }
        let inactive: Vec<&str> = self.services.iter().filter(|s| !s.active).map(|s| ids[&s.name].as_str()).collect();
        if !inactive.is_empty() {
            out.push_str("  classDef inactive stroke-dasharray: 5 5,color:#888;\n");
            let _ = writeln!(out, "  class {} inactive", inactive.join(","));
        }
        out
    }

    /// The networks (or named volumes) shown, as (node key, name), and each service's link to
    /// one, as (service, node key), in service order.
    fn attachments(&self, kind: Kind) -> Attachments<'_> {
        let (names, prefix) = match kind {
            Kind::Network => (&self.networks, "network"),
            Kind::Volume => (&self.volumes, "volume"),
        };
        let nodes = names.iter().map(|n| (format!("{prefix}:{n}"), n.as_str())).collect();
        let mut links = Vec::new();
        for s in &self.services {
            let used: Vec<&str> = match kind {
                Kind::Network => s.networks.iter().map(String::as_str).collect(),
                Kind::Volume => s.volumes.iter().filter_map(|m| m.split_once(':').map(|(src, _)| src)).collect(),
            };
            for n in used.into_iter().filter(|n| names.iter().any(|x| x == n)) {
                links.push((s.name.as_str(), format!("{prefix}:{n}")));
            }
        }
        (nodes, links)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// A DOT string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// Text inside a Mermaid `"…"` label: quotes as entities.
fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// Mermaid node ids: letters, digits and `_` only, unique.
fn mermaid_ids(v: &View) -> IndexMap<String, String> {
    let mut ids = IndexMap::new();
    let mut used = IndexSet::new();
    let keys = v
        .services
        .iter()
        .map(|s| s.name.clone())
        .chain(v.networks.iter().map(|n| format!("network:{n}")))
        .chain(v.volumes.iter().map(|n| format!("volume:{n}")));
    for key in keys {
        let base: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let mut id = base.clone();
        let mut n = 2;
        while !used.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        ids.insert(key, id);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::view::ViewOptions;
    use crate::model::{Project, Service};

    #[test]
    fn names_are_quoted_for_each_format() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        let mut p = Project { name: "x".into(), ..Project::default() };
        p.services.insert("my-app".into(), Service::default());
        p.services.insert("my.app".into(), Service::default());
        let ids = mermaid_ids(&View::new(&p, &ViewOptions::default()));
        assert_eq!(ids.values().collect::<Vec<_>>(), vec!["my_app", "my_app_2"]);
    }
}
