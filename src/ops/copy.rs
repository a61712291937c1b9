//! `cp`: files and folders between a service container and the host, both directions, with
//! `docker cp`'s rules: into an existing directory the source keeps its name; otherwise it takes
//! the destination's name. Into a service, every replica unless an index names one; from a
//! service, the first replica unless an index names another.

use std::path::{Component, Path, PathBuf};

use crate::engine::{ContainerInfo, Engine, EngineError};
use crate::model::Project;
use crate::model::labels::SERVICE;
use crate::scheduler::verbs;

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `SERVICE:PATH`.
    Service {
        service: String,
        path: String,
    },
    Host(PathBuf),
}

impl Place {
    /// `SERVICE:PATH` when SERVICE is one of the project's services, else a host path.
    pub fn parse(project: &Project, arg: &str) -> Place {
        match arg.split_once(':').filter(|(s, _)| project.services.contains_key(*s)) {
            Some((service, path)) => Place::Service { service: service.into(), path: path.into() },
            None => Place::Host(PathBuf::from(arg)),
        }
    }
}

/// `cp`, resolved.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub from: Place,
    pub to: Place,
    /// The replica; see the module docs for the default.
    pub index: Option<u32>,
    /// Keep the host files' owners (else root's).
    pub archive: bool,
    /// Do not write the host's files (the engine's writes are the dry-run engine's to skip).
    pub dry_run: bool,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// From this container to the host (not written in a dry run).
    ToHost { container: String },
    /// Into these containers.
    IntoContainers(Vec<String>),
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("`cp` copies between a service container and the host")]
    Usage,
    #[error("service `{service}` has no container number {index}")]
    NoReplica { service: String, index: u32 },
    /// `place`: a container's name, or "the host".
    #[error("no such file or directory {}: {path}", in_place(place))]
    NoSuchFile { place: String, path: String },
    #[error("no such directory {}: {dir}", in_place(place))]
    NoDirectory { place: String, dir: String },
    #[error("refusing the archive entry {path}")]
    UnsafeEntry { path: String },
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("{0}")]
    Engine(#[from] EngineError),
}

fn in_place(place: &str) -> String {
    if place == "the host" { "on the host".into() } else { format!("in {place}") }
}

impl CopyError {
    pub fn hint(&self) -> Option<String> {
        match self {
            CopyError::Usage => Some("write one side as SERVICE:PATH, e.g. `wharf cp web:/etc/hosts ./hosts`".into()),
            CopyError::NoReplica { .. } => Some("create it with `wharf up -d`".into()),
            CopyError::Engine(e) => e.hint(),
            _ => None,
        }
    }
}

fn io(what: &str, e: std::io::Error) -> CopyError {
    CopyError::Io { what: what.to_string(), reason: e.to_string() }
}

fn base(path: &str) -> String {
    Path::new(path.trim_end_matches('/')).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The containers a copy works on, from one list call: the `index` replica (default the
/// first), or with `every` and no `index`, every replica of the service.
async fn containers<E: Engine>(
    engine: &E,
    project: &Project,
    service: &str,
    index: Option<u32>,
    every: bool,
) -> Result<Vec<ContainerInfo>, CopyError> {
    let list = verbs::targets(project, engine.list_containers(&project.name).await?, &[]);
    let found: Vec<ContainerInfo> = match (every, index) {
        (true, None) => {
            let mut all: Vec<_> = list.into_iter().filter(|c| c.label(SERVICE) == Some(service)).collect();
            all.sort_by(|x, y| x.name.cmp(&y.name));
            all
        }
        _ => verbs::replica(list, service, index.unwrap_or(1)).into_iter().collect(),
    };
    if found.is_empty() {
        return Err(CopyError::NoReplica { service: service.to_string(), index: index.unwrap_or(1) });
    }
    Ok(found)
}

/// Copies as `req` says.
pub async fn copy<E: Engine>(engine: &E, project: &Project, req: &CopyRequest) -> Result<Copied, CopyError> {
    match (&req.from, &req.to) {
        (Place::Service { service, path: src }, Place::Host(dest)) => {
            let c = containers(engine, project, service, req.index, false).await?.remove(0);
            let tar = engine.download_archive(&c.id, src).await.map_err(|e| match e {
                EngineError::NotFound { .. } => CopyError::NoSuchFile { place: c.name.clone(), path: src.clone() },
                other => other.into(),
            })?;
            if !req.dry_run {
                unpack(&tar, &base(src), dest)?;
            }
            Ok(Copied::ToHost { container: c.name })
        }
        (Place::Host(src), Place::Service { service, path: dest }) => {
            let targets = containers(engine, project, service, req.index, true).await?;
            if !src.exists() {
                return Err(CopyError::NoSuchFile { place: "the host".into(), path: src.display().to_string() });
            }
            let source = src.to_string_lossy().into_owned();
            let mut names = Vec::new();
            for c in targets {
                // Into an existing directory, the source keeps its name.
                let dest_is_dir = match engine.download_archive(&c.id, dest).await {
                    Ok(tar) => first_is_dir(&tar),
                    Err(EngineError::NotFound { .. }) => false,
                    Err(e) => return Err(e.into()),
                };
                let (dir, name) = if dest_is_dir {
                    (dest.to_string(), base(&source))
                } else {
                    let p = Path::new(dest);
                    let parent = p.parent().map(|d| d.to_string_lossy().into_owned()).filter(|d| !d.is_empty());
                    (parent.unwrap_or_else(|| "/".into()), base(dest))
                };
                let tar = pack(src, &name, req.archive).map_err(|e| io(&format!("reading {source}"), e))?;
                engine.upload_archive(&c.id, &dir, tar).await.map_err(|e| match e {
                    EngineError::NotFound { .. } => CopyError::NoDirectory { place: c.name.clone(), dir: dir.clone() },
                    other => other.into(),
                })?;
                names.push(c.name);
            }
            Ok(Copied::IntoContainers(names))
        }
        _ => Err(CopyError::Usage),
    }
}

fn first_is_dir(tar: &[u8]) -> bool {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .ok()
        .and_then(|mut e| e.next())
        .and_then(|e| e.ok())
        .is_some_and(|e| e.header().entry_type() == tar::EntryType::Directory)
}

/// A tar of host path `src` with `name` as its top entry; ownership root's unless `keep_owner`.
fn pack(src: &Path, name: &str, keep_owner: bool) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut add = |path: &Path, rel: &Path| -> std::io::Result<()> {
        let meta = std::fs::symlink_metadata(path)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        if !keep_owner {
            h.set_uid(0);
            h.set_gid(0);
        }
        if meta.is_file() {
            b.append_data(&mut h, rel, std::fs::File::open(path)?)
        } else if meta.is_dir() {
            b.append_data(&mut h, rel, std::io::empty())
        } else if meta.file_type().is_symlink() {
            b.append_link(&mut h, rel, std::fs::read_link(path)?)
        } else {
            Ok(())
        }
    };
    let mut stack = vec![(src.to_path_buf(), PathBuf::from(name))];
    while let Some((path, rel)) = stack.pop() {
        add(&path, &rel)?;
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?;
                stack.push((entry.path(), rel.join(entry.file_name())));
            }
        }
    }
    b.into_inner()
}

/// Unpacks a `docker cp` archive whose top entry is `top` to host path `dest`: inside it when it
/// is an existing directory, else as `dest` itself.
fn unpack(tar: &[u8], top: &str, dest: &Path) -> Result<(), CopyError> {
    let (root, rename) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(CopyError::NoDirectory { place: "the host".into(), dir: parent.display().to_string() });
        }
        (parent.to_path_buf(), dest.file_name().map(|n| n.to_os_string()))
    };
    let mut ar = tar::Archive::new(tar);
    for entry in ar.entries().map_err(|e| io("reading the archive", e))? {
        let mut entry = entry.map_err(|e| io("reading the archive", e))?;
        let path = entry.path().map_err(|e| io("reading the archive", e))?.into_owned();
        if path.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(CopyError::UnsafeEntry { path: path.display().to_string() });
        }
        let mut comps = path.components();
        let first = comps.next().map(|c| c.as_os_str().to_os_string()).unwrap_or_default();
        let target = match (&rename, first.to_string_lossy() == top) {
            // (Joining an empty rest would add a `/`: a file copied to a new name.)
            (Some(new), true) if comps.as_path().as_os_str().is_empty() => root.join(new),
            (Some(new), true) => root.join(new).join(comps.as_path()),
            _ => root.join(&path),
        };
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| io(&format!("creating {}", p.display()), e))?;
        }
        entry.unpack(&target).map_err(|e| io(&format!("writing {}", target.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn regression_a_file_copied_out_to_a_new_name_is_that_file() {
        // `cp web:/tmp/default.txt ./from-default.txt` failed: the new name got a trailing `/`.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("from-default.txt");
        unpack(&archive_of("default.txt", b"hello world\n"), "default.txt", &dest).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello world\n");
    }

    #[test]
    fn a_file_copied_into_a_directory_keeps_its_name() {
        let dir = tempfile::tempdir().unwrap();
        unpack(&archive_of("default.txt", b"x"), "default.txt", dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("default.txt")).unwrap(), "x");
    }
}
