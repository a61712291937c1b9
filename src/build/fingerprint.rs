//! A build's fingerprint: a hash of everything the classic builder's cache looks at — the
//! filtered context's paths, modes and contents, the Dockerfile, the build options, and the IDs
//! of the base images. Each build records `fingerprint → image ID` in a small file in the user's
//! cache directory (a label would cost the classic builder one more step on every build); when
//! the next build's fingerprint maps to the image its tag already names, the builder would only
//! replay its cache, so wharf skips it (a cached rebuild costs a walk of the context instead of
//! sending it).

use std::io::Read;

use sha2::Digest;

use super::Prepared;
use crate::engine::Engine;

/// At most this many fingerprints are kept (the oldest go first).
const KEEP: usize = 2000;

/// The file of recorded fingerprints: `$XDG_CACHE_HOME/wharf/build-fingerprints`, else
/// `~/.cache/wharf/build-fingerprints`.
fn store() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    Some(base.join("wharf").join("build-fingerprints"))
}

/// The image ID last built with fingerprint `fp`.
pub fn recorded(fp: &str) -> Option<String> {
    let text = std::fs::read_to_string(store()?).ok()?;
    text.lines().rev().find_map(|l| l.strip_prefix(fp)?.strip_prefix(' ').map(str::to_string))
}

/// Notes that fingerprint `fp` built image `id` (best effort: without it, builds are not skipped).
pub fn record(fp: &str, id: &str) {
    use std::io::Write;
    let Some(path) = store() else { return };
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new("/")));
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = old.lines().collect();
    if lines.len() >= KEEP {
        let kept = lines[lines.len() - KEEP / 2..].join("\n");
        let _ = std::fs::write(&path, format!("{kept}\n{fp} {id}\n"));
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = f.write_all(format!("{fp} {id}\n").as_bytes());
    }
}

/// The base images of a Dockerfile (`FROM` references that are not earlier stages or
/// `scratch`), or `None` when one cannot be known before building (it uses a variable).
pub fn bases(dockerfile: &str) -> Option<Vec<String>> {
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let image = rest.first()?.to_string();
        if image.contains('$') {
            return None;
        }
        if image != "scratch" && !stages.contains(&image.to_ascii_lowercase()) {
            out.push(image);
        }
        if let [_, as_kw, name] = rest.as_slice()
            && as_kw.eq_ignore_ascii_case("AS")
        {
            stages.push(name.to_ascii_lowercase());
        }
    }
    Some(out)
}

/// The fingerprint of `p`, or `None` when it cannot be known (a base image is missing or
/// named through a variable, or the context cannot be read).
pub async fn of<E: Engine>(e: &E, p: &Prepared) -> Option<String> {
    let mut base_ids = Vec::new();
    for b in bases(&p.dockerfile_text)? {
        base_ids.push(e.image_id(&b).await.ok().flatten()?);
    }
    let (ctx, req) = (p.context.clone(), p.request.clone());
    tokio::task::spawn_blocking(move || {
        let mut h = sha2::Sha256::new();
        h.update(format!("v1 {:?} {:?} {:?}\n", req.dockerfile, base_ids, ctx.extra));
        let mut r = req;
        // What names the result and whether the cache is used do not change the inputs.
        r.tag.clear();
        r.no_cache = false;
        r.pull = false;
        h.update(format!("{r:?}\n"));
        let mut buf = vec![0u8; 64 * 1024];
        super::context::visit(&ctx.root, "", &ctx.ignore, &mut |rel, path, meta| {
            use std::os::unix::fs::PermissionsExt;
            h.update(format!("{rel}\0{:o}\0{}\0", meta.permissions().mode(), meta.len()));
            if meta.file_type().is_symlink() {
                h.update(std::fs::read_link(path)?.to_string_lossy().as_bytes());
            } else if meta.is_file() {
                let mut f = std::fs::File::open(path)?;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            Ok(())
        })
        .ok()?;
        Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    })
    .await
    .ok()?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_skip_stages_and_scratch_and_give_up_on_variables() {
        let df = "FROM golang:1.22 AS build\nRUN make\nFROM scratch\nCOPY --from=build /a /a\nFROM build\nFROM build AS again\nfrom --platform=linux/amd64 alpine:3\n";
        assert_eq!(bases(df), Some(vec!["golang:1.22".to_string(), "alpine:3".to_string()]));
        assert_eq!(bases("ARG V=1\nFROM busybox:$V\n"), None);
    }
}
