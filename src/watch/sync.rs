//! Moving changes into a container: changed files (and new directories, with what is in them)
//! go as one tar extracted at `/` (the engine creates missing parent directories); deleted paths
//! are removed with one `rm -rf`. A path that resolves outside the rule's watched path (through
//! a symbolic link) is never sent.

use std::io;
use std::path::{Path, PathBuf};

use super::rules::Rule;
use crate::engine::Engine;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    pub copied: usize,
    pub deleted: usize,
    /// Paths refused because they resolve outside the watched path.
    pub refused: Vec<PathBuf>,
}

/// The tar of `paths` (host paths covered by `rule`), entries named by their container paths,
/// and the container paths to delete (host paths that no longer exist).
pub fn prepare(rule: &Rule, paths: &[PathBuf]) -> io::Result<(Vec<u8>, Vec<String>, Synced)> {
    let root = rule.path.canonicalize().unwrap_or_else(|_| rule.path.clone());
    let mut b = tar::Builder::new(Vec::new());
    let mut done = Synced::default();
    let mut deletes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let Some(rel) = rule.relative(p) else { continue };
        // The rule's own `path` is followed when it is a link (to the directory it names):
        // sent as a link, it would dangle in the container. Links below it are sent as links.
        let is_root = p == &rule.path;
        let meta = match if is_root { std::fs::metadata(p) } else { std::fs::symlink_metadata(p) } {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                deletes.push(rule.container_path(&rel));
                done.deleted += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        // Never follow a link (or a path through one) out of the watched tree.
        match p.canonicalize() {
            Ok(real) if real.starts_with(&root) => {}
            Ok(_) => {
                done.refused.push(p.clone());
                continue;
            }
            Err(_) if meta.file_type().is_symlink() => {
                // A dangling link: nothing to send.
                done.refused.push(p.clone());
                continue;
            }
            // Gone since the event: its removal is what the container should see.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                deletes.push(rule.container_path(&rel));
                done.deleted += 1;
                continue;
            }
            Err(e) => return Err(e),
        }
        if meta.is_dir() {
            add(&mut b, rule, &rel, p, &meta, &mut seen, &mut done)?;
            add_tree(&mut b, rule, &root, &rel, p, &mut seen, &mut done)?;
        } else {
            add(&mut b, rule, &rel, p, &meta, &mut seen, &mut done)?;
        }
    }
    Ok((b.into_inner()?, deletes, done))
}

/// What is inside directory `dir` (`rel` under the rule's path), minus what the rule ignores.
fn add_tree(
    b: &mut tar::Builder<Vec<u8>>,
    rule: &Rule,
    root: &Path,
    rel: &str,
    dir: &Path,
    seen: &mut std::collections::HashSet<String>,
    done: &mut Synced,
) -> io::Result<()> {
    // Files come and go while a batch is read (a burst of writes and removals): what vanished
    // meanwhile is skipped here, and its removal arrives as an event of the next batch.
    let Some(list) = vanished_is_none(std::fs::read_dir(dir))? else { return Ok(()) };
    let mut entries: Vec<_> = list.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        let sub = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let path = entry.path();
        let Some(meta) = vanished_is_none(std::fs::symlink_metadata(&path))? else { continue };
        if meta.is_dir() {
            if rule.skips_dir(&sub) {
                continue;
            }
            if !rule.ignored(&sub) {
                add(b, rule, &sub, &path, &meta, seen, done)?;
            }
            add_tree(b, rule, root, &sub, &path, seen, done)?;
        } else if !rule.ignored(&sub) {
            if meta.file_type().is_symlink() && !path.canonicalize().is_ok_and(|r| r.starts_with(root)) {
                done.refused.push(path);
                continue;
            }
            add(b, rule, &sub, &path, &meta, seen, done)?;
        }
    }
    Ok(())
}

/// `Ok(None)` for a path that no longer exists.
fn vanished_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn add(
    b: &mut tar::Builder<Vec<u8>>,
    rule: &Rule,
    rel: &str,
    path: &Path,
    meta: &std::fs::Metadata,
    seen: &mut std::collections::HashSet<String>,
    done: &mut Synced,
) -> io::Result<()> {
    let name = rule.container_path(rel).trim_start_matches('/').to_string();
    if name.is_empty() || !seen.insert(name.clone()) {
        return Ok(());
    }
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_uid(0);
    h.set_gid(0);
    if meta.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, format!("{name}/"), io::empty())
    } else if meta.file_type().is_symlink() {
        h.set_size(0);
        b.append_link(&mut h, &name, std::fs::read_link(path)?)
    } else if meta.is_file() {
        done.copied += 1;
        // The file may change or vanish between the event and now: send what is there.
        match std::fs::read(path) {
            Ok(bytes) => {
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, &name, bytes.as_slice())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    } else {
        Ok(())
    }
}

/// Sends `paths` of `rule` into container `id`.
pub async fn apply<E: Engine>(
    e: &E,
    courier: &super::courier::Courier,
    id: &str,
    rule: &Rule,
    paths: &[PathBuf],
) -> Result<Synced, super::Error> {
    let (rule2, paths2) = (rule.clone(), paths.to_vec());
    let (tar, deletes, done) = tokio::task::spawn_blocking(move || prepare(&rule2, &paths2))
        .await
        .map_err(|e| super::Error::Task(e.to_string()))??;
    courier.deliver(e, id, &deletes, tar).await?;
    Ok(done)
}

/// Every file of `rule` (a full sync: at start with `initial_sync`, and after the container
/// restarted or was recreated).
pub fn everything(rule: &Rule) -> Vec<PathBuf> {
    vec![rule.path.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::ignore::DockerIgnore;
    use crate::watch::rules::Action;

    fn rule(root: &Path) -> Rule {
        Rule {
            service: "web".into(),
            index: 0,
            path: root.to_path_buf(),
            target: "/app".into(),
            action: Action::Sync,
            ignore: DockerIgnore::from_patterns(&["**/node_modules"]).unwrap(),
            dockerignore: None,
            include: None,
            initial_sync: false,
            exec: None,
        }
    }

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
    }

    #[test]
    fn regression_a_rule_path_that_is_a_link_sends_the_directory_it_names() {
        // Issue 24: with `initial_sync`, a `path` that is a symlink to a directory became a
        // dangling symlink in the container.
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::fs::write(real.join("sub/a.txt"), "a").unwrap();
        let link = d.path().join("src");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let r = rule(&link);
        let (tar, _, done) = prepare(&r, &everything(&r)).unwrap();
        let entries: Vec<(String, tar::EntryType)> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().entry_type())
            })
            .collect();
        assert!(entries.iter().all(|(_, t)| *t != tar::EntryType::Symlink), "{entries:?}");
        assert!(entries.iter().any(|(p, _)| p == "app/sub/a.txt"), "{entries:?}");
        assert_eq!(done.copied, 1);
    }

    #[test]
    fn a_directory_that_vanished_while_the_batch_is_read_is_skipped() {
        // Regression: a burst of writes and removals failed a whole batch with "No such file or
        // directory" when a directory went between the event and the read.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("src");
        std::fs::create_dir_all(&root).unwrap();
        let (mut b, mut seen, mut done) = (tar::Builder::new(Vec::new()), Default::default(), Synced::default());
        let gone = root.join("gone");
        assert!(add_tree(&mut b, &rule(&root), &root, "gone", &gone, &mut seen, &mut done).is_ok());
        assert_eq!(done.copied, 0);
    }

    #[test]
    fn changes_become_container_paths_and_missing_ones_deletions() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("src");
        std::fs::create_dir_all(root.join("new/deep")).unwrap();
        std::fs::create_dir_all(root.join("new/node_modules")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("new/deep/b.txt"), "b").unwrap();
        std::fs::write(root.join("new/node_modules/x.js"), "x").unwrap();
        std::fs::write(root.join("new/.b.txt.swp"), "x").unwrap();
        let r = rule(&root);
        let paths = [root.join("a.txt"), root.join("new"), root.join("gone.txt")];
        let (tar, deletes, done) = prepare(&r, &paths).unwrap();
        assert_eq!(names(&tar), ["app/a.txt", "app/new/", "app/new/deep/", "app/new/deep/b.txt"]);
        assert_eq!(deletes, ["/app/gone.txt"]);
        assert_eq!((done.copied, done.deleted), (2, 1));
    }

    #[test]
    fn parent_components_never_reach_outside_the_target() {
        // Issue 22: a changed path spelled through `..` must not copy or delete outside `/app`.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("src");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        let r = rule(&root);
        let paths = [root.join("../secret"), root.join("../gone"), root.join("a/../../gone")];
        let (tar, deletes, done) = prepare(&r, &paths).unwrap();
        assert!(names(&tar).is_empty(), "{:?}", names(&tar));
        assert!(deletes.is_empty(), "{deletes:?}");
        assert_eq!((done.copied, done.deleted), (0, 0));
    }

    #[test]
    fn a_directory_that_becomes_a_link_out_mid_run_is_refused() {
        // Issue 22: `sub` is a directory when the change is seen and a link to a directory
        // outside the tree when the batch is read; nothing from outside is sent.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("src");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "inside").unwrap();
        let outside = d.path().join("etc");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), "outside").unwrap();
        std::fs::remove_dir_all(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
        let r = rule(&root);
        let (tar, deletes, done) = prepare(&r, &[root.join("sub/f"), root.join("sub")]).unwrap();
        assert!(names(&tar).is_empty(), "{:?}", names(&tar));
        assert!(deletes.is_empty(), "{deletes:?}");
        assert_eq!(done.refused, [root.join("sub/f"), root.join("sub")]);
    }

    #[test]
    fn links_out_of_the_watched_tree_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("src");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("leak")).unwrap();
        std::fs::write(root.join("ok"), "o").unwrap();
        std::os::unix::fs::symlink(root.join("ok"), root.join("inside")).unwrap();
        let r = rule(&root);
        let (tar, _, done) = prepare(&r, std::slice::from_ref(&root)).unwrap();
        assert_eq!(names(&tar), ["app/", "app/inside", "app/ok"]);
        assert_eq!(done.refused, [root.join("leak")]);
    }
}
