//! Deciding what to do: labels, container specs, and `reconcile(project, observed) -> Plan`.
//! Everything here is pure: no engine calls, so plans are tested as text.

/// The compose labels live with the model; kept here under their old path.
pub use crate::model::labels;
pub mod select;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::engine::{ContainerInfo, ContainerSpec, Endpoint, Mount, NetworkInfo, NetworkSpec, VolumeInfo, VolumeSpec};
use crate::hash::service_hash;
use crate::model::Project;
use labels::*;

/// What exists on the engine for a project, from one list call per resource kind.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub containers: Vec<ContainerInfo>,
    pub networks: Vec<NetworkInfo>,
    pub volumes: Vec<VolumeInfo>,
    /// Image reference → local image ID (`None`: not present).
    pub images: HashMap<String, Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    pub ignore_orphans: bool,
    pub renew_anon_volumes: bool,
    /// `-y`: a volume whose configuration changed is recreated (its data is lost), with the
    /// containers that mount it. Without it such a volume is kept, with a warning.
    pub recreate_volumes: bool,
    pub no_start: bool,
    /// `--scale SERVICE=N`.
    pub scale: HashMap<String, u32>,
    /// Services to converge (empty: all of them).
    pub services: Vec<String>,
    /// `--all-resources`: networks and volumes no service uses are created too.
    pub all_resources: bool,
    /// wharf will stay attached and supervise: containers it creates for services whose exits
    /// it handles get the engine restart policy `no` (handed back when it detaches).
    pub supervised: bool,
}

/// One engine-level change and why it is needed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateNetwork(NetworkSpec),
    /// Replace a volume whose configuration changed (`up -y`), as compose does: the containers
    /// mounting it are stopped and removed (they are created anew with their services), then
    /// the volume is removed and created again. Its data is lost.
    RecreateVolume {
        spec: VolumeSpec,
        /// (id, name, stop timeout)
        users: Vec<(String, String, Option<i64>)>,
    },
    /// Replace a network whose configuration changed, as compose does: the containers on it
    /// are stopped (`stop`) and disconnected, the network removed and created anew, and the same
    /// containers connected to it again (they are started with the services).
    RecreateNetwork {
        spec: NetworkSpec,
        attached: Vec<Attached>,
    },
    CreateVolume(VolumeSpec),
    /// Create a new container; started later unless `--no-start`.
    CreateContainer {
        service: String,
        spec: Box<ContainerSpec>,
    },
    /// Replace `old` with a container made from `spec`: create under a temporary name, stop and
    /// remove the old one, rename the new one.
    Recreate {
        service: String,
        old_id: String,
        old_name: String,
        spec: Box<ContainerSpec>,
    },
    /// Start an existing container that is not running.
    Start {
        service: String,
        id: String,
        name: String,
    },
    /// Stop and start a running container once its dependencies are ready again
    /// (`depends_on.<dep>.restart: true` and the dependency was recreated or restarted).
    Restart {
        service: String,
        id: String,
        name: String,
    },
    /// Stop and remove a container (orphan or surplus replica).
    Remove {
        service: String,
        id: String,
        name: String,
    },
}

/// A container on a network being recreated, and how it joins the new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    pub id: String,
    pub name: String,
    /// Running now, so stopped first (within `timeout` seconds).
    pub stop: bool,
    pub timeout: Option<i64>,
    pub endpoint: Endpoint,
}

impl Action {
    /// The service a container action belongs to; `None` for networks and volumes.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::CreateContainer { service, .. }
            | Action::Recreate { service, .. }
            | Action::Start { service, .. }
            | Action::Restart { service, .. }
            | Action::Remove { service, .. } => Some(service),
            Action::CreateNetwork(_)
            | Action::RecreateNetwork { .. }
            | Action::CreateVolume(_)
            | Action::RecreateVolume { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    pub cause: String,
}

/// The changes that make the engine match the project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Containers left as they are: (service, name).
    pub unchanged: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Something that makes the plan impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("service `{service}` needs image `{image}`, which is not available locally")]
    ImageMissing { service: String, image: String },
    /// A secret or config of the service that cannot be honoured.
    #[error(transparent)]
    FileObject(#[from] spec::FileObjectError),
    /// `network_mode`/`ipc`/`pid: service:X` or `volumes_from: [X]` with no container of `X`,
    /// which this run does not create either (`up --no-deps`). Compose's words.
    #[error("cannot share {what} with service {service}: container missing")]
    DonorMissing { what: &'static str, service: String },
}

/// The services whose container `svc` needs at creation (`network_mode`, `ipc` and `pid` of
/// the form `service:X`, `volumes_from`), each with what it shares.
fn donors(svc: &crate::model::Service) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    let modes = [("network namespace", &svc.network_mode), ("IPC namespace", &svc.ipc), ("PID namespace", &svc.pid)];
    for (what, mode) in modes {
        if let Some(dep) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
            out.push((what, dep));
        }
    }
    for vf in &svc.volumes_from {
        let src = vf.split(':').next().unwrap_or(vf);
        if !vf.starts_with("container:") {
            out.push(("volume", src));
        }
    }
    out
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let what = match &s.action {
                Action::CreateNetwork(n) => format!("create network {}", n.name),
                Action::RecreateNetwork { spec, .. } => format!("recreate network {}", spec.name),
                Action::RecreateVolume { spec, .. } => format!("recreate volume {}", spec.name),
                Action::CreateVolume(v) => format!("create volume {}", v.name),
                Action::CreateContainer { spec, .. } => format!("create container {}", spec.name),
                Action::Recreate { old_name, .. } => format!("recreate container {old_name}"),
                Action::Start { name, .. } => format!("start container {name}"),
                Action::Restart { name, .. } => format!("restart container {name}"),
                Action::Remove { name, .. } => format!("remove container {name}"),
            };
            writeln!(f, "{what:<48} ({})", s.cause)?;
        }
        for (_, name) in &self.unchanged {
            writeln!(f, "{:<48} (up to date)", format!("keep container {name}"))?;
        }
        Ok(())
    }
}

/// The labels of a project network or volume.
fn resource_labels(
    project: &str,
    key_label: &str,
    key: &str,
    own: &indexmap::IndexMap<String, String>,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = own.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    l.insert(PROJECT.into(), project.into());
    l.insert(key_label.into(), key.into());
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    l
}

/// Whether wharf, while attached, handles `svc`'s exits itself (a `deploy.restart_policy` and no
/// `restart:`); its containers then have the engine policy `no` for that time.
pub fn wharf_restarts(svc: &crate::model::Service) -> bool {
    svc.restart.is_none() && svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()).is_some()
}

/// Decides what to change. Pure: `observed` is everything known about the engine.
pub fn reconcile(p: &Project, observed: &Observed, opts: &UpOptions) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let selected: Vec<String> = if opts.services.is_empty() {
        p.services.keys().cloned().collect()
    } else {
        crate::graph::Graph::new(p).with_dependencies(&opts.services).into_iter().collect()
    };

    // Networks and volumes used by the selected services.
    let mut used_nets = std::collections::BTreeSet::new();
    let mut used_vols = std::collections::BTreeSet::new();
    for name in &selected {
        let svc = &p.services[name];
        used_nets.extend(svc.networks.keys().cloned());
        used_vols.extend(svc.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.clone()));
    }
    // Networks recreated: their containers are stopped, so those kept must be started again.
    let mut recreated_nets: Vec<String> = Vec::new();
    for (key, n) in &p.networks {
        if !(used_nets.contains(key) || opts.all_resources) || n.external == Some(true) {
            continue;
        }
        let name = p.network_name(key);
        let mut spec = NetworkSpec {
            name: name.clone(),
            driver: n.driver.clone(),
            driver_opts: n.driver_opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            internal: n.internal.unwrap_or(false),
            attachable: n.attachable.unwrap_or(false),
            enable_ipv6: n.enable_ipv6.unwrap_or(false),
            labels: resource_labels(&p.name, NETWORK, key, &n.labels),
            ipam: n
                .ipam
                .iter()
                .flat_map(|i| i.config.iter())
                .map(|c| (c.subnet.clone(), c.gateway.clone(), c.ip_range.clone()))
                .collect(),
            ipam_driver: n.ipam.as_ref().and_then(|i| i.driver.clone()),
        };
        let hash = network_hash(&spec);
        spec.labels.insert(RESOURCE_HASH.into(), hash.clone());
        match observed.networks.iter().find(|o| o.name == name) {
            None => plan.steps.push(Step { action: Action::CreateNetwork(spec), cause: "missing".into() }),
            // A network without wharf's hash (made by compose, or an older wharf) is kept, as
            // compose keeps one without its own.
            Some(o) if o.labels.get(RESOURCE_HASH).is_some_and(|h| *h != hash) => {
                let attached = observed
                    .containers
                    .iter()
                    .filter(|c| c.networks.contains(&name))
                    .map(|c| attached_to(p, c, &name))
                    .collect();
                plan.steps.push(Step {
                    action: Action::RecreateNetwork { spec, attached },
                    cause: "configuration changed".into(),
                });
                recreated_nets.push(name);
            }
            Some(_) => {}
        }
    }
    // Containers removed with a recreated volume: their services create them anew.
    let mut dropped: Vec<String> = Vec::new();
    for (key, v) in &p.volumes {
        if !(used_vols.contains(key) || opts.all_resources) || v.external == Some(true) {
            continue;
        }
        let name = p.volume_name(key);
        let mut spec = VolumeSpec {
            name: name.clone(),
            driver: v.driver.clone(),
            driver_opts: v.driver_opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            labels: resource_labels(&p.name, VOLUME, key, &v.labels),
        };
        let hash = resource_hash(&serde_json::json!({
            "driver": spec.driver.as_deref().unwrap_or("local"),
            "driver_opts": spec.driver_opts,
            "labels": spec.labels,
        }));
        spec.labels.insert(RESOURCE_HASH.into(), hash.clone());
        match observed.volumes.iter().find(|o| o.name == name) {
            None => plan.steps.push(Step { action: Action::CreateVolume(spec), cause: "missing".into() }),
            Some(o) if o.labels.get(RESOURCE_HASH).is_some_and(|h| *h != hash) => {
                if !opts.recreate_volumes {
                    plan.warnings.push(format!(
                        "volume {name} exists but doesn't match configuration in compose file: it is kept; recreate it (its data will be lost) with `up -y`"
                    ));
                    continue;
                }
                let users: Vec<&ContainerInfo> = observed
                    .containers
                    .iter()
                    .filter(|c| c.mounts.iter().any(|m| m.name.as_deref() == Some(name.as_str())))
                    .collect();
                dropped.extend(users.iter().map(|c| c.id.clone()));
                let users = users
                    .iter()
                    .map(|c| {
                        let t = c.label(SERVICE).and_then(|s| p.services.get(s)).and_then(spec::stop_timeout);
                        (c.id.clone(), c.name.clone(), t)
                    })
                    .collect();
                plan.steps.push(Step {
                    action: Action::RecreateVolume { spec, users },
                    cause: "configuration changed (-y)".into(),
                });
            }
            Some(_) => {}
        }
    }

    // Containers, service by service.
    let mine = |c: &&ContainerInfo| c.label(ONEOFF) != Some("True");
    for name in &selected {
        for (what, dep) in donors(&p.services[name]) {
            let made_here = selected.iter().any(|s| s == dep);
            if !made_here && !observed.containers.iter().filter(mine).any(|c| c.label(SERVICE) == Some(dep)) {
                return Err(PlanError::DonorMissing { what, service: dep.to_string() });
            }
        }
    }
    for name in &selected {
        let svc = &p.services[name];
        let image = spec::image_name(&p.name, name, svc);
        let image_id = match observed.images.get(&image) {
            Some(Some(id)) => id.clone(),
            _ => return Err(PlanError::ImageMissing { service: name.clone(), image }),
        };
        spec::file_objects(p, name, svc)?;
        let want = opts.scale.get(name).copied().unwrap_or_else(|| svc.replicas());
        let hash = service_hash(svc);
        let mut existing: Vec<&ContainerInfo> = observed
            .containers
            .iter()
            .filter(mine)
            .filter(|c| c.label(SERVICE) == Some(name) && !dropped.contains(&c.id))
            .collect();
        let number = |c: &ContainerInfo| c.label(NUMBER).and_then(|n| n.parse::<u32>().ok()).unwrap_or(u32::MAX);
        existing.sort_by_key(|c| number(c));
        // Two containers with one replica number are what an interrupted `up` leaves (killed
        // between creating a replacement and removing the original). The replacement stays and
        // the original goes: the engine may still be carrying out the stop the killed `up` asked
        // for, so a kept original would exit on its own after this `up` converged (issue 24).
        // The replacement has the newer configuration, and gets the proper name below.
        let mut dupes = Vec::new();
        existing.dedup_by(|later, first| {
            if number(later) != number(first) {
                return false;
            }
            let canonical = spec::container_name(p, name, svc, number(first));
            if first.name == canonical && later.name != canonical {
                std::mem::swap(later, first);
            }
            dupes.push(*later);
            true
        });
        for c in dupes {
            plan.steps.push(Step {
                action: Action::Remove { service: name.clone(), id: c.id.clone(), name: c.name.clone() },
                cause: "duplicate replica (interrupted up)".into(),
            });
        }
        // Surplus replicas go, highest numbers first.
        let split = existing.len().min(want as usize);
        let (keep, surplus) = existing.split_at(split);
        for c in surplus.iter().rev() {
            plan.steps.push(Step {
                action: Action::Remove { service: name.clone(), id: c.id.clone(), name: c.name.clone() },
                cause: format!("scaled to {want}"),
            });
        }
        let taken: Vec<u32> = keep.iter().map(|c| number(c)).collect();
        for c in keep {
            let n = number(c);
            let cause = if opts.no_recreate {
                None
            } else if opts.force_recreate {
                Some("--force-recreate")
            } else if c.label(CONFIG_HASH) != Some(hash.as_str()) {
                Some("config hash changed")
            } else if c.label(IMAGE) != Some(image_id.as_str()) {
                Some("image changed")
            } else if let Some(why) = not_as_declared(p, svc, c) {
                Some(why)
            } else if c.name != spec::container_name(p, name, svc, n) {
                Some("name changed (interrupted up)")
            } else {
                None
            };
            match cause {
                Some(cause) => {
                    let mut s = spec_for(p, name, n, &image_id, opts);
                    if !opts.renew_anon_volumes {
                        carry_anonymous_volumes(c, &mut s);
                    }
                    plan.steps.push(Step {
                        action: Action::Recreate {
                            service: name.clone(),
                            old_id: c.id.clone(),
                            old_name: c.name.clone(),
                            spec: Box::new(s),
                        },
                        cause: cause.into(),
                    });
                }
                None if c.state != crate::engine::State::Running
                    && c.state != crate::engine::State::Restarting
                    && !opts.no_start =>
                {
                    plan.steps.push(Step {
                        action: Action::Start { service: name.clone(), id: c.id.clone(), name: c.name.clone() },
                        cause: c.state.as_str().to_string(),
                    });
                }
                None if !opts.no_start && c.networks.iter().any(|n| recreated_nets.contains(n)) => {
                    plan.steps.push(Step {
                        action: Action::Start { service: name.clone(), id: c.id.clone(), name: c.name.clone() },
                        cause: "its network was recreated".into(),
                    });
                }
                None => plan.unchanged.push((name.clone(), c.name.clone())),
            }
        }
        // Missing replicas take the lowest free numbers.
        let mut n = 1;
        for _ in keep.len()..want as usize {
            while taken.contains(&n) {
                n += 1;
            }
            let s = spec_for(p, name, n, &image_id, opts);
            plan.steps.push(Step {
                action: Action::CreateContainer { service: name.clone(), spec: Box::new(s) },
                cause: "missing".into(),
            });
            n += 1;
        }
    }

    // `restart: true`: a dependent kept as it is restarts when its dependency is recreated (or
    // restarted itself, transitively).
    let mut changed: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Recreate { service, .. } => Some(service.clone()),
            _ => None,
        })
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let dep = changed[i].clone();
        for name in &selected {
            let restart = p.services[name].depends_on.get(&dep).is_some_and(|c| c.restart);
            if !restart || changed.contains(name) {
                continue;
            }
            let (kept, rest): (Vec<_>, Vec<_>) = plan.unchanged.drain(..).partition(|(svc, _)| svc == name);
            plan.unchanged = rest;
            for (_, cname) in kept {
                if let Some(c) = observed.containers.iter().find(|c| c.name == cname) {
                    plan.steps.push(Step {
                        action: Action::Restart { service: name.clone(), id: c.id.clone(), name: cname },
                        cause: format!("dependency `{dep}` recreated or restarted (restart: true)"),
                    });
                }
            }
            changed.push(name.clone());
        }
        i += 1;
    }

    // Orphans: containers of the project whose service is gone, and exited one-offs.
    if opts.services.is_empty() {
        for c in observed.containers.iter().filter(|c| select::is_orphan(p, c)) {
            let svc = c.label(SERVICE).unwrap_or("");
            if opts.remove_orphans {
                plan.steps.push(Step {
                    action: Action::Remove { service: svc.into(), id: c.id.clone(), name: c.name.clone() },
                    cause: "orphan".into(),
                });
            } else if !opts.ignore_orphans {
                plan.warnings.push(format!(
                    "found orphan container `{}` for service `{svc}`, which is not in the project; remove it with `--remove-orphans`, or set COMPOSE_IGNORE_ORPHANS=1 to silence this",
                    c.name
                ));
            }
        }
    }
    Ok(plan)
}

/// Why container `c`, whose configuration is up to date, still does not match `svc`: a named
/// volume it does not mount (the volume a key names changed: an external volume switched), or,
/// when running, a network it is not on. As compose checks.
fn not_as_declared(p: &Project, svc: &crate::model::Service, c: &ContainerInfo) -> Option<&'static str> {
    let mounted = |name: &str| c.mounts.iter().any(|m| m.kind == "volume" && m.name.as_deref() == Some(name));
    let volumes = svc.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.as_deref());
    if volumes.map(|src| p.volume_name(src)).any(|name| !mounted(&name)) {
        return Some("a volume it should mount changed");
    }
    let running = c.state == crate::engine::State::Running;
    if running && svc.network_mode.is_none() && svc.networks.keys().any(|k| !c.networks.contains(&p.network_name(k))) {
        return Some("a network it should be on changed");
    }
    None
}

/// wharf's hash of a network's configuration (labels but its own included), for
/// [`RESOURCE_HASH`].
fn network_hash(spec: &NetworkSpec) -> String {
    resource_hash(&serde_json::json!({
        "driver": spec.driver,
        "driver_opts": spec.driver_opts,
        "internal": spec.internal,
        "attachable": spec.attachable,
        "enable_ipv6": spec.enable_ipv6,
        "labels": spec.labels,
        "ipam": spec.ipam,
        "ipam_driver": spec.ipam_driver,
    }))
}

/// SHA-256 of a resource's configuration in JSON (its keys in a fixed order).
fn resource_hash(canonical: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How container `c`, on network `network` that is being recreated, joins the new one: the
/// endpoint its service declares (aliases, addresses), or a plain one for a container the
/// project does not describe (an orphan, a one-off).
fn attached_to(p: &Project, c: &ContainerInfo, network: &str) -> Attached {
    let service = c.label(SERVICE).and_then(|s| p.services.get(s).map(|svc| (s, svc)));
    let number = c.label(NUMBER).and_then(|n| n.parse().ok()).unwrap_or(1);
    let declared = service.filter(|_| c.label(ONEOFF) != Some("True")).and_then(|(s, svc)| {
        spec::container_spec(p, s, svc, number, "").endpoints.into_iter().find(|e| e.network == network)
    });
    Attached {
        id: c.id.clone(),
        name: c.name.clone(),
        stop: c.state == crate::engine::State::Running && c.label(ONEOFF) != Some("True"),
        timeout: service.and_then(|(_, svc)| spec::stop_timeout(svc)),
        endpoint: declared.unwrap_or_else(|| Endpoint { network: network.to_string(), ..Endpoint::default() }),
    }
}

/// Anonymous volumes of the old container are mounted again in the new one, so data survives.
/// The container spec of replica `n`, with the engine's restart policy left to wharf when it
/// supervises the service.
fn spec_for(p: &Project, name: &str, n: u32, image_id: &str, opts: &UpOptions) -> ContainerSpec {
    let svc = &p.services[name];
    let mut s = spec::container_spec(p, name, svc, n, image_id);
    if opts.supervised && wharf_restarts(svc) {
        s.restart_policy = Some(("no".into(), None));
    }
    s
}

fn carry_anonymous_volumes(old: &ContainerInfo, spec: &mut ContainerSpec) {
    for m in &old.mounts {
        let Some(name) = &m.name else { continue };
        let anonymous = m.kind == "volume" && name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit());
        if !anonymous {
            continue;
        }
        if let Some(mount) =
            spec.mounts.iter_mut().find(|x| x.target == m.destination && x.kind == "volume" && x.source.is_none())
        {
            mount.source = Some(name.clone());
        } else if !spec.mounts.iter().any(|x| x.target == m.destination) {
            spec.mounts.push(Mount {
                kind: "volume".into(),
                source: Some(name.clone()),
                target: m.destination.clone(),
                ..Mount::default()
            });
        }
    }
}
