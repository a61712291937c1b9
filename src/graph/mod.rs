//! The service dependency graph: `depends_on` plus the implicit dependencies compose derives
//! from `network_mode: service:x`, `ipc`/`pid: service:x`, `volumes_from` and `links`.
//! petgraph does validation and ordering; [`Graph::walk`] orders the run-time work of up,
//! start, stop, restart and down.

mod render;
pub mod view;
mod walk;

pub use walk::{Before, Order, Turn, Walk};

use indexmap::{IndexMap, IndexSet};
use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use crate::model::{Condition, Project};

/// Why one service depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    DependsOn {
        condition: Condition,
        required: bool,
        restart: bool,
    },
    /// `network_mode`, `ipc`, `pid` (`service:x`), `volumes_from` or `links`: started first.
    Implied(Implied),
}

/// The key that makes one service depend on another without `depends_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Implied {
    NetworkMode,
    Ipc,
    Pid,
    VolumesFrom,
    Links,
}

impl Implied {
    /// The compose key, as written in the file.
    pub fn key(self) -> &'static str {
        match self {
            Implied::NetworkMode => "network_mode",
            Implied::Ipc => "ipc",
            Implied::Pid => "pid",
            Implied::VolumesFrom => "volumes_from",
            Implied::Links => "links",
        }
    }
}

/// Services as nodes (by their index in the project), edges from a service to what it needs.
#[derive(Debug, Clone)]
pub struct Graph {
    names: Vec<String>,
    index: IndexMap<String, usize>,
    g: DiGraphMap<usize, Edge>,
}

/// The services `network_mode`/`ipc`/`pid`/`volumes_from`/`links` make `svc` depend on.
pub fn implicit_dependencies(svc: &crate::model::Service) -> Vec<(String, Implied)> {
    let mut out = Vec::new();
    let modes = [(&svc.network_mode, Implied::NetworkMode), (&svc.ipc, Implied::Ipc), (&svc.pid, Implied::Pid)];
    for (v, why) in modes {
        if let Some(s) = v.as_deref().and_then(|v| v.strip_prefix("service:")) {
            out.push((s.to_string(), why));
        }
    }
    for v in &svc.volumes_from {
        if !v.starts_with("container:") {
            out.push((v.split(':').next().unwrap_or(v).to_string(), Implied::VolumesFrom));
        }
    }
    for l in &svc.links {
        out.push((l.split(':').next().unwrap_or(l).to_string(), Implied::Links));
    }
    out
}

impl Graph {
    pub fn new(project: &Project) -> Graph {
        let names: Vec<String> = project.services.keys().cloned().collect();
        let index: IndexMap<String, usize> = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let mut g = DiGraphMap::new();
        for i in 0..names.len() {
            g.add_node(i);
        }
        for (name, svc) in &project.services {
            let from = index[name];
            for (dep, why) in implicit_dependencies(svc) {
                if let Some(&to) = index.get(&dep) {
                    g.add_edge(from, to, Edge::Implied(why));
                }
            }
            for (dep, d) in &svc.depends_on {
                if let Some(&to) = index.get(dep) {
                    g.add_edge(
                        from,
                        to,
                        Edge::DependsOn { condition: d.condition, required: d.required, restart: d.restart },
                    );
                }
            }
        }
        Graph { names, index, g }
    }

    /// Each dependency cycle as a chain that returns to its start: `["a", "b", "a"]`.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.g) {
            let self_loop = scc.len() == 1 && self.g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min().unwrap_or(&scc[0]);
            out.push(self.chain_from(start, &scc));
        }
        out.sort();
        out
    }

    /// A path from `start` back to itself inside one strongly connected component.
    fn chain_from(&self, start: usize, scc: &[usize]) -> Vec<String> {
        let members: IndexSet<usize> = scc.iter().copied().collect();
        let mut path = vec![start];
        let mut seen = IndexSet::new();
        seen.insert(start);
        let mut cur = start;
        loop {
            let mut next: Vec<usize> = self.g.neighbors(cur).filter(|n| members.contains(n)).collect();
            next.sort();
            if next.contains(&start) {
                path.push(start);
                break;
            }
            match next.into_iter().find(|n| !seen.contains(n)) {
                Some(n) => {
                    seen.insert(n);
                    path.push(n);
                    cur = n;
                }
                None => {
                    path.push(start);
                    break;
                }
            }
        }
        path.into_iter().map(|i| self.names[i].clone()).collect()
    }

    /// What `service` needs, with why.
    pub fn dependencies(&self, service: &str) -> Vec<(String, Edge)> {
        let Some(&i) = self.index.get(service) else {
            return Vec::new();
        };
        self.g.edges(i).map(|(_, to, e)| (self.names[to].clone(), *e)).collect()
    }

    /// The services that need `service`.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        let Some(&i) = self.index.get(service) else {
            return Vec::new();
        };
        self.g.neighbors_directed(i, petgraph::Direction::Incoming).map(|n| self.names[n].clone()).collect()
    }

    /// `selected` and everything they need, transitively, in project order.
    pub fn with_dependencies(&self, selected: &[String]) -> IndexSet<String> {
        let mut keep = IndexSet::new();
        let mut stack: Vec<usize> = selected.iter().filter_map(|s| self.index.get(s).copied()).collect();
        while let Some(i) = stack.pop() {
            if keep.insert(i) {
                stack.extend(self.g.neighbors(i));
            }
        }
        let mut v: Vec<usize> = keep.into_iter().collect();
        v.sort();
        v.into_iter().map(|i| self.names[i].clone()).collect()
    }

    /// Dependencies before dependents; ties in project order. `None` if there is a cycle.
    pub fn start_order(&self) -> Option<Vec<String>> {
        let n = self.names.len();
        let mut missing: Vec<usize> = (0..n).map(|i| self.g.neighbors(i).filter(|&d| d != i).count()).collect();
        let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
        let mut out = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            out.push(self.names[i].clone());
            for d in self.g.neighbors_directed(i, petgraph::Direction::Incoming).filter(|&d| d != i) {
                missing[d] -= 1;
                if missing[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        (out.len() == n).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DependsOn, Service};

    pub(super) fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (name, deps) in edges {
            let mut s = Service::default();
            for d in *deps {
                s.depends_on.insert(
                    d.to_string(),
                    DependsOn { condition: Condition::ServiceStarted, restart: false, required: true },
                );
            }
            p.services.insert(name.to_string(), s);
        }
        p
    }

    #[test]
    fn order_and_selection() {
        let p = project(&[("web", &["api"]), ("api", &["db", "cache"]), ("db", &[]), ("cache", &[]), ("other", &[])]);
        let g = Graph::new(&p);
        assert_eq!(g.start_order().unwrap(), vec!["db", "cache", "api", "web", "other"]);
        assert_eq!(g.with_dependencies(&["api".into()]).into_iter().collect::<Vec<_>>(), vec!["api", "db", "cache"]);
        assert_eq!(g.dependents("db"), vec!["api"]);
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn cycles_print_as_chains() {
        let p = project(&[("web", &["api"]), ("api", &["db"]), ("db", &["api"]), ("solo", &["solo"])]);
        let g = Graph::new(&p);
        assert_eq!(g.cycles(), vec![vec!["api", "db", "api"], vec!["solo", "solo"]]);
        assert!(g.start_order().is_none());
    }

    #[test]
    fn implicit_edges() {
        let mut p = project(&[("vpn", &[]), ("app", &[])]);
        p.services["app"].network_mode = Some("service:vpn".into());
        assert_eq!(Graph::new(&p).start_order().unwrap(), vec!["vpn", "app"]);
    }
}
