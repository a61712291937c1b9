//! A build context as the engine takes it: a tar of the context directory without what
//! `.dockerignore` excludes, written by a blocking task in chunks while the engine reads them, so
//! a large context is never held whole in memory. As the docker CLI does, the Dockerfile and
//! `.dockerignore` are always sent, owners are reset to root, modes and times kept, and symbolic
//! links stored as links.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::ignore::DockerIgnore;
use crate::engine::ContextStream;

/// What to send.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    pub ignore: DockerIgnore,
    /// Files added at the root of the tar (an inline Dockerfile, or one outside the context).
    pub extra: Vec<(String, Vec<u8>)>,
}

/// What was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub files: u64,
    pub bytes: u64,
}

/// The size of the chunks handed to the engine.
const CHUNK: usize = 256 * 1024;

/// Forwards written bytes in chunks over a bounded channel (so the writer waits for the engine).
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    total: u64,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.total += chunk.len() as u64;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Starts writing `ctx` as a tar; returns the byte stream and, once it is all written, a count.
pub fn stream(ctx: Context) -> (ContextStream, oneshot::Receiver<io::Result<Sent>>) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let (done_tx, done_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let result = write_tar(&ctx, ChannelWriter { tx, buf: Vec::with_capacity(CHUNK), total: 0 });
        if let Err(e) = &result {
            // The engine sees the request body fail instead of a truncated context.
            let _ = err_tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        let _ = done_tx.send(result);
    });
    let s = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (s.boxed(), done_rx)
}

fn write_tar(ctx: &Context, w: ChannelWriter) -> io::Result<Sent> {
    let mut b = tar::Builder::new(w);
    let mut files = 0;
    walk(&ctx.root, &ctx.ignore, &mut b, &mut files)?;
    for (name, content) in &ctx.extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, content.as_slice())?;
        files += 1;
    }
    let mut w = b.into_inner()?;
    w.flush()?;
    Ok(Sent { files, bytes: w.total })
}

/// Calls `f(relative path, absolute path, metadata)` for every entry not excluded, directories
/// before their contents, names in byte order; excluded directories are not entered unless a
/// `!` pattern may re-include something inside.
pub fn visit(
    dir: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    f: &mut dyn FnMut(&str, &Path, &std::fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).and_then(|d| d.collect::<io::Result<_>>()).map_err(|e| named(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let rel = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| named(&path, e))?;
        let excluded = ignore.is_excluded(&rel);
        if meta.is_dir() {
            if excluded && ignore.can_skip_dir(&rel) {
                continue;
            }
            if !excluded {
                f(&rel, &path, &meta)?;
            }
            visit(&path, &rel, ignore, f)?;
        } else if !excluded && (meta.is_file() || meta.file_type().is_symlink()) {
            f(&rel, &path, &meta)?;
        }
    }
    Ok(())
}

/// `e` with the path it happened on (`Permission denied` alone does not say which file).
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Appends what is sent from `root` to the tar; counts the regular files in `files`.
fn walk(root: &Path, ignore: &DockerIgnore, b: &mut tar::Builder<ChannelWriter>, files: &mut u64) -> io::Result<()> {
    let mut first = true;
    visit(root, "", ignore, &mut |rel, path, meta| {
        // BuildKit tells a tar context from a Dockerfile by reading one header from the first
        // KiB; a long first name (a GNU long-name record before its header) would not fit.
        if std::mem::take(&mut first) && rel.len() >= 100 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, "./", io::empty())?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("");
        let _ = h.set_groupname("");
        if meta.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, format!("{rel}/"), io::empty())
        } else if meta.file_type().is_symlink() {
            h.set_size(0);
            let target = std::fs::read_link(path).map_err(|e| named(path, e))?;
            b.append_link(&mut h, rel, target)
        } else {
            *files += 1;
            let file = std::fs::File::open(path).map_err(|e| named(path, e))?;
            b.append_data(&mut h, rel, file)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_a_context_that_cannot_be_read_names_the_path() {
        // Issue 24: an unreadable file failed the build with "Permission denied" alone.
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let e = visit(&gone, "", &DockerIgnore::default(), &mut |_, _, _| Ok(())).unwrap_err();
        assert!(e.to_string().starts_with(&gone.display().to_string()), "{e}");
    }

    /// The paths under `root` that are sent, in tar order.
    fn list(root: &Path, ignore: &DockerIgnore) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        visit(root, "", ignore, &mut |rel, _, _| {
            out.push(rel.to_string());
            Ok(())
        })?;
        Ok(out)
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, content) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        d
    }

    #[test]
    fn excluded_files_and_directories_are_left_out_and_reincluded_ones_kept() {
        let d = tree(&[
            ("Dockerfile", "FROM scratch"),
            ("src/main.rs", "fn main() {}"),
            ("node_modules/a/index.js", ""),
            ("docs/keep.md", ""),
            ("docs/drop.md", ""),
            ("x.log", ""),
            ("sub/y.log", ""),
        ]);
        let ignore = DockerIgnore::parse("node_modules\n*.log\ndocs\n!docs/keep.md\n").unwrap();
        let sent = list(d.path(), &ignore).unwrap();
        assert_eq!(sent, ["Dockerfile", "docs/keep.md", "src", "src/main.rs", "sub", "sub/y.log"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_tar_holds_the_files_with_root_owner_and_the_extra_entries() {
        let d = tree(&[("a.txt", "hello"), ("dir/b.txt", "world"), ("skip.tmp", "no")]);
        let ctx = Context {
            root: d.path().to_path_buf(),
            ignore: DockerIgnore::parse("*.tmp").unwrap(),
            extra: vec![(".wharf.Dockerfile".into(), b"FROM scratch\n".to_vec())],
        };
        let (s, done) = stream(ctx);
        let chunks: Vec<Bytes> = s.map(|c| c.unwrap()).collect().await;
        let bytes: Vec<u8> = chunks.concat();
        let sent = done.await.unwrap().unwrap();
        assert_eq!(sent, Sent { files: 3, bytes: bytes.len() as u64 });
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!((e.header().uid().unwrap(), e.header().gid().unwrap()), (0, 0));
            let mut s = String::new();
            io::Read::read_to_string(&mut e, &mut s).unwrap();
            seen.push(format!("{}={s}", e.path().unwrap().display()));
        }
        assert_eq!(seen, ["a.txt=hello", "dir/=", "dir/b.txt=world", ".wharf.Dockerfile=FROM scratch\n"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_long_first_name_still_leaves_a_whole_header_in_the_first_kib() {
        let long = "n".repeat(120);
        let d = tree(&[(long.as_str(), "x")]);
        let ctx = Context { root: d.path().to_path_buf(), ignore: DockerIgnore::default(), extra: vec![] };
        let (s, _) = stream(ctx);
        let bytes: Vec<u8> = s.map(|c| c.unwrap()).collect::<Vec<Bytes>>().await.concat();
        let mut head = tar::Archive::new(&bytes[..1024]);
        let first = head.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(first.path().unwrap().to_str(), Some("./"));
        let names: Vec<String> = tar::Archive::new(bytes.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["./", long.as_str()]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_context_fails_the_stream() {
        let ctx = Context { root: "/nonexistent/wharf".into(), ignore: DockerIgnore::default(), extra: vec![] };
        let (s, done) = stream(ctx);
        let items: Vec<io::Result<Bytes>> = s.collect().await;
        assert!(items.iter().any(|i| i.is_err()));
        assert!(done.await.unwrap().is_err());
    }
}
