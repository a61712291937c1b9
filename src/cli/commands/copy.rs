//! `cp`: files and folders between a service container and the host, both directions, with
//! `docker cp`'s rules: into an existing directory the source keeps its name; otherwise it takes
//! the destination's name.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::engine::{Engine, EngineError};
use crate::model::labels::SERVICE;
use crate::scheduler::verbs;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Index of the container if service has multiple replicas (default: every replica when
    /// copying into the service, the first when copying from it)
    #[arg(long)]
    pub index: Option<u32>,
    /// `SERVICE:SRC_PATH` or a host path
    pub source: String,
    /// `SERVICE:DEST_PATH` or a host path
    pub destination: String,
}

/// `SERVICE:PATH` when SERVICE is one of the project's services.
fn split<'a>(project: &crate::model::Project, arg: &'a str) -> Option<(&'a str, &'a str)> {
    arg.split_once(':').filter(|(s, _)| project.services.contains_key(*s))
}

fn io_err(what: &str, e: std::io::Error) -> CliError {
    CliError::msg(format!("{what}: {e}"))
}

fn base(path: &str) -> String {
    Path::new(path.trim_end_matches('/')).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn cp(g: &GlobalArgs, a: &CpArgs) -> Result<ExitCode, CliError> {
    let project = g.load(&[], false)?.project;
    let (from, to) = (split(&project, &a.source), split(&project, &a.destination));
    let usage = || CliError::Message {
        message: "`cp` copies between a service container and the host".into(),
        hint: Some("write one side as SERVICE:PATH, e.g. `wharf cp web:/etc/hosts ./hosts`".into()),
        code: 1,
    };
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        // The containers `cp` works on, from one list call: the `--index` replica (default the
        // first), or with `every` and no `--index`, every replica of the service.
        let find = |service: &str, every: bool| {
            let (engine, project) = (&engine, &project);
            let service = service.to_string();
            async move {
                let list = verbs::targets(project, engine.list_containers(&project.name).await?, &[]);
                let index = a.index.unwrap_or(1);
                let found: Vec<_> = match (every, a.index) {
                    (true, None) => {
                        let mut all: Vec<_> =
                            list.into_iter().filter(|c| c.label(SERVICE) == Some(service.as_str())).collect();
                        all.sort_by(|x, y| x.name.cmp(&y.name));
                        all
                    }
                    _ => verbs::replica(list, &service, index).into_iter().collect(),
                };
                if found.is_empty() {
                    return Err(CliError::Message {
                        message: format!("service `{service}` has no container number {index}"),
                        hint: Some("create it with `wharf up -d`".into()),
                        code: 1,
                    });
                }
                Ok(found)
            }
        };
        match (from, to) {
            (Some((service, src)), None) => {
                let c = find(service, false).await?.remove(0);
                let tar = engine.download_archive(&c.id, src).await.map_err(|e| match e {
                    EngineError::NotFound { .. } => {
                        CliError::msg(format!("no such file or directory in {}: {src}", c.name))
                    }
                    other => CliError::from(other),
                })?;
                if engine.is_dry() {
                    // The one write that is not the engine's: the host's files.
                    let what = format!("copy from container {} to host {}", c.name, a.destination);
                    println!("{what:<48} (dry run: {src})");
                } else {
                    unpack(&tar, &base(src), Path::new(&a.destination))?;
                }
            }
            (None, Some((service, dest))) => {
                // Into the service: every replica, as compose copies, unless `--index` names one.
                let targets = find(service, true).await?;
                let src = Path::new(&a.source);
                if !src.exists() {
                    return Err(CliError::msg(format!("no such file or directory on the host: {}", a.source)));
                }
                for c in targets {
                    // Into an existing directory, the source keeps its name.
                    let dest_is_dir = match engine.download_archive(&c.id, dest).await {
                        Ok(tar) => first_is_dir(&tar),
                        Err(EngineError::NotFound { .. }) => false,
                        Err(e) => return Err(CliError::from(e)),
                    };
                    let (dir, name) = if dest_is_dir {
                        (dest.to_string(), base(&a.source))
                    } else {
                        let p = Path::new(dest);
                        let parent = p.parent().map(|d| d.to_string_lossy().into_owned()).filter(|d| !d.is_empty());
                        (parent.unwrap_or_else(|| "/".into()), base(dest))
                    };
                    let tar = pack(src, &name, a.archive).map_err(|e| io_err(&format!("reading {}", a.source), e))?;
                    engine.upload_archive(&c.id, &dir, tar).await.map_err(|e| match e {
                        EngineError::NotFound { .. } => {
                            CliError::msg(format!("no such directory in {}: {dir}", c.name))
                        }
                        other => CliError::from(other),
                    })?;
                }
            }
            _ => return Err(usage()),
        }
        Ok(ExitCode::SUCCESS)
    })
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
fn unpack(tar: &[u8], top: &str, dest: &Path) -> Result<(), CliError> {
    let (root, rename) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(CliError::msg(format!("no such directory on the host: {}", parent.display())));
        }
        (parent.to_path_buf(), dest.file_name().map(|n| n.to_os_string()))
    };
    let mut ar = tar::Archive::new(tar);
    for entry in ar.entries().map_err(|e| io_err("reading the archive", e))? {
        let mut entry = entry.map_err(|e| io_err("reading the archive", e))?;
        let path = entry.path().map_err(|e| io_err("reading the archive", e))?.into_owned();
        if path.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(CliError::msg(format!("refusing the archive entry {}", path.display())));
        }
        let mut comps = path.components();
        let first = comps.next().map(|c| c.as_os_str().to_os_string()).unwrap_or_default();
        let target = match (&rename, first.to_string_lossy() == top) {
            (Some(new), true) => root.join(new).join(comps.as_path()),
            _ => root.join(&path),
        };
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| io_err(&format!("creating {}", p.display()), e))?;
        }
        entry.unpack(&target).map_err(|e| io_err(&format!("writing {}", target.display()), e))?;
    }
    Ok(())
}
