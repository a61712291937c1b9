//! What `wharf graph` shows: the scheduling graph of a project as plain data (services with
//! their start wave, labelled edges, the networks and volumes they use). Its renderings are in
//! [`super::render`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use indexmap::{IndexMap, IndexSet};
use schemars::JsonSchema;
use serde::Serialize;

pub use super::render::Show;
use super::{Edge, Graph};
use crate::model::{Condition, Project, Service};

/// A project's dependency graph, as `wharf graph --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct View {
    pub project: String,
    /// In project order.
    pub services: Vec<ServiceNode>,
    /// From a service to what it needs.
    pub edges: Vec<EdgeView>,
    /// Top-level networks used by the services shown.
    pub networks: Vec<String>,
    /// Named volumes used by the services shown.
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ServiceNode {
    pub name: String,
    /// The start wave: 0 for a service that needs nothing, else one more than the deepest of
    /// what it needs. Services of one wave start together.
    pub depth: usize,
    /// False for a service of a profile that is not enabled (shown with `--profiles`).
    pub active: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Built by the project (`build:`).
    pub build: bool,
    pub replicas: u32,
    pub healthcheck: bool,
    /// Published ports, `[HOST_IP:][PUBLISHED:]TARGET/PROTOCOL`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Mounts, `SOURCE:TARGET` (`TARGET` alone for an anonymous volume).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EdgeView {
    pub from: String,
    pub to: String,
    /// `depends_on`, or the key that implies the edge: `links`, `volumes_from`,
    /// `network_mode`, `ipc`, `pid`.
    pub kind: String,
    /// For `depends_on`: `started`, `healthy` or `completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `depends_on` with `required: false`: the dependent starts even if this one fails.
    pub required: bool,
    /// `depends_on` with `restart: true`: restarting this one restarts the dependent.
    pub restart: bool,
}

impl EdgeView {
    pub fn implied(&self) -> bool {
        self.kind != "depends_on"
    }

    /// `healthy`, `healthy, optional, restart`, `links`, `network_mode, restart`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.implied() {
            parts.push(self.kind.clone());
        }
        match self.condition.as_deref() {
            Some("started") if self.implied() => {}
            Some(c) => parts.push(c.to_string()),
            None => {}
        }
        if !self.required {
            parts.push("optional".into());
        }
        if self.restart {
            parts.push("restart".into());
        }
        parts.join(", ")
    }
}

/// Which parts of the project to show.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// Services named on the command line: these and what they need (all when empty).
    pub services: Vec<String>,
    /// Also the services of profiles that are not enabled.
    pub profiles: bool,
}

fn condition(c: Condition) -> &'static str {
    match c {
        Condition::ServiceStarted => "started",
        Condition::ServiceHealthy => "healthy",
        Condition::ServiceCompletedSuccessfully => "completed",
    }
}

impl View {
    pub fn new(project: &Project, opts: &ViewOptions) -> View {
        // Inactive services take part in the graph only when asked for, after the active ones.
        let mut all = project.clone();
        if opts.profiles {
            for (name, svc) in &project.disabled {
                all.services.entry(name.clone()).or_insert_with(|| svc.clone());
            }
        }
        let graph = Graph::new(&all);
        let shown: IndexSet<String> = if opts.services.is_empty() {
            all.services.keys().cloned().collect()
        } else {
            graph.with_dependencies(&opts.services)
        };
        let depth = depths(&graph, &shown);
        let mut services = Vec::new();
        let mut edges = Vec::new();
        let mut networks = IndexSet::new();
        let mut volumes = IndexSet::new();
        for (name, svc) in all.services.iter().filter(|(n, _)| shown.contains(*n)) {
            let active = project.services.contains_key(name);
            let node = service_node(name, svc, depth[name], active, &project.working_dir);
            networks.extend(node.networks.iter().cloned());
            volumes.extend(svc.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.clone()));
            services.push(node);
            let mut deps = graph.dependencies(name);
            deps.sort_by_key(|(to, _)| all.services.get_index_of(to));
            // The loader writes implied dependencies into `depends_on` (as compose does), so
            // the key that implies one is found again here.
            let implied = super::implicit_dependencies(svc);
            let why = |to: &str| implied.iter().find(|(d, _)| d == to).map(|(_, why)| why.key().to_string());
            for (to, edge) in deps {
                edges.push(match edge {
                    Edge::DependsOn { condition: c, required, restart } => EdgeView {
                        from: name.clone(),
                        kind: why(&to).unwrap_or_else(|| "depends_on".into()),
                        to,
                        condition: Some(condition(c).into()),
                        required,
                        restart,
                    },
                    Edge::Implied(why) => EdgeView {
                        from: name.clone(),
                        to,
                        kind: why.key().into(),
                        condition: None,
                        required: true,
                        restart: false,
                    },
                });
            }
        }
        let networks = networks.into_iter().filter(|n| all.networks.contains_key(n)).collect();
        let volumes = volumes.into_iter().filter(|v| all.volumes.contains_key(v)).collect();
        View { project: project.name.clone(), services, edges, networks, volumes }
    }

    pub(super) fn service(&self, name: &str) -> Option<&ServiceNode> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The services of each start wave, in order.
    pub fn waves(&self) -> Vec<Vec<&str>> {
        let mut waves: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for s in &self.services {
            waves.entry(s.depth).or_default().push(&s.name);
        }
        waves.into_values().collect()
    }
}

/// Longest chain of dependencies below each service; a cycle (refused by the loader) counts
/// its back edge as nothing.
fn depths(graph: &Graph, shown: &IndexSet<String>) -> IndexMap<String, usize> {
    fn visit(g: &Graph, n: &str, memo: &mut IndexMap<String, usize>, on_path: &mut IndexSet<String>) -> usize {
        if let Some(&d) = memo.get(n) {
            return d;
        }
        if !on_path.insert(n.to_string()) {
            return 0;
        }
        let d = g
            .dependencies(n)
            .into_iter()
            .filter(|(to, _)| to != n)
            .map(|(to, _)| visit(g, &to, memo, on_path) + 1)
            .max()
            .unwrap_or(0);
        on_path.shift_remove(n);
        memo.insert(n.to_string(), d);
        d
    }
    let mut memo = IndexMap::new();
    for n in shown {
        visit(graph, n, &mut memo, &mut IndexSet::new());
    }
    memo
}

fn service_node(name: &str, svc: &Service, depth: usize, active: bool, dir: &std::path::Path) -> ServiceNode {
    let ports = svc
        .ports
        .iter()
        .map(|p| {
            let mut s = String::new();
            if let Some(ip) = &p.host_ip {
                s.push_str(if ip.contains(':') { format!("[{ip}]:") } else { format!("{ip}:") }.as_str());
            }
            if let Some(h) = &p.published {
                let _ = write!(s, "{h}:");
            } else if !s.is_empty() {
                s.push(':');
            }
            let _ = write!(s, "{}/{}", p.target, p.protocol.as_deref().unwrap_or("tcp"));
            s
        })
        .collect();
    let volumes = svc
        .volumes
        .iter()
        .map(|v| match &v.source {
            // Bind mounts below the project directory as they are usually written: `./www`.
            Some(src)
                if v.kind == "bind" && !dir.as_os_str().is_empty() && std::path::Path::new(src).starts_with(dir) =>
            {
                let rel = std::path::Path::new(src).strip_prefix(dir).unwrap_or(std::path::Path::new(src));
                format!("./{}:{}", rel.display(), v.target)
            }
            Some(src) if !src.is_empty() => format!("{src}:{}", v.target),
            _ => v.target.clone(),
        })
        .collect();
    ServiceNode {
        name: name.to_string(),
        depth,
        active,
        profiles: svc.profiles.clone(),
        image: svc.image.clone(),
        build: svc.build.is_some(),
        replicas: svc.replicas(),
        healthcheck: svc
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.disable != Some(true) && h.test.first().is_none_or(|t| t != "NONE")),
        ports,
        networks: svc.networks.keys().cloned().collect(),
        volumes,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::DependsOn;

    pub(in crate::graph) fn project() -> Project {
        let mut p = Project { name: "shop".into(), ..Project::default() };
        let dep = |c, required, restart| DependsOn { condition: c, required, restart };
        let healthcheck = crate::model::Healthcheck { test: vec!["CMD".into(), "true".into()], ..Default::default() };
        let db = Service { healthcheck: Some(healthcheck), ..Service::default() };
        let mut api = Service::default();
        api.depends_on.insert("db".into(), dep(Condition::ServiceHealthy, true, true));
        api.depends_on.insert("cache".into(), dep(Condition::ServiceStarted, false, false));
        let web = Service { links: vec!["api:backend".into()], ..Service::default() };
        p.services.insert("db".into(), db);
        p.services.insert("cache".into(), Service::default());
        p.services.insert("api".into(), api);
        p.services.insert("web".into(), web);
        let mut debug = Service { profiles: vec!["debug".into()], ..Service::default() };
        debug.depends_on.insert("web".into(), dep(Condition::ServiceStarted, true, false));
        p.disabled.insert("debug".into(), debug);
        p
    }

    #[test]
    fn depth_is_the_start_wave() {
        let v = View::new(&project(), &ViewOptions::default());
        let d: Vec<(&str, usize)> = v.services.iter().map(|s| (s.name.as_str(), s.depth)).collect();
        assert_eq!(d, vec![("db", 0), ("cache", 0), ("api", 1), ("web", 2)]);
        assert_eq!(v.waves(), vec![vec!["db", "cache"], vec!["api"], vec!["web"]]);
    }

    #[test]
    fn edges_carry_condition_and_why() {
        let v = View::new(&project(), &ViewOptions::default());
        let labels: Vec<(String, String, String)> =
            v.edges.iter().map(|e| (e.from.clone(), e.to.clone(), e.label())).collect();
        assert_eq!(
            labels,
            vec![
                ("api".into(), "db".into(), "healthy, restart".into()),
                ("api".into(), "cache".into(), "started, optional".into()),
                ("web".into(), "api".into(), "links".into()),
            ]
        );
    }

    #[test]
    fn inactive_profiles_only_when_asked() {
        let p = project();
        assert!(View::new(&p, &ViewOptions::default()).service("debug").is_none());
        let v = View::new(&p, &ViewOptions { profiles: true, ..Default::default() });
        let debug = v.service("debug").unwrap();
        assert!(!debug.active);
        assert_eq!(debug.depth, 3);
    }

    #[test]
    fn selection_keeps_what_is_needed() {
        let v = View::new(&project(), &ViewOptions { services: vec!["api".into()], ..Default::default() });
        let names: Vec<&str> = v.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["db", "cache", "api"]);
    }

    #[test]
    fn a_shared_subtree_is_printed_once() {
        let mut p = project();
        let mut admin = Service::default();
        admin
            .depends_on
            .insert("api".into(), DependsOn { condition: Condition::ServiceStarted, required: true, restart: false });
        p.services.insert("admin".into(), admin);
        let tree = View::new(&p, &ViewOptions::default()).tree(Show::default());
        assert_eq!(tree.matches("api [").count(), 2, "{tree}");
        assert_eq!(tree.matches("(*)").count(), 1, "{tree}");
    }
}
