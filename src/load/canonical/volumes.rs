//! Service volume short syntax → long form: `[SOURCE:]TARGET[:MODE[,MODE]]`, split as compose
//! splits it. A `:` inside `${…}` does not separate; a one-letter section followed by `:` is a
//! Windows drive (`C:\data`); a spec of one or two characters is a target alone. A source that
//! starts with `.`, `/`, `~`, `\\` or a drive is a bind mount (made absolute); anything else
//! names a volume.

use std::path::Path;

use crate::model::{ServiceVolume, VolumeOptions};

/// The sections of a short volume, as compose-go's `ParseVolume` splits them.
struct Sections {
    source: Option<String>,
    target: Option<String>,
    options: Option<String>,
}

/// Why a short-syntax volume is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("the volume is empty")]
    Empty,
    #[error("empty section between colons")]
    EmptySection,
    #[error("too many colons (expected SOURCE:TARGET[:MODE])")]
    TooManyColons,
}

fn split(spec: &str) -> Result<Sections, VolumeError> {
    let mut out = Sections { source: None, target: None, options: None };
    if spec.chars().count() <= 2 {
        out.target = Some(spec.to_string());
        return Ok(out);
    }
    let bytes = spec.as_bytes();
    let mut buffer = String::new();
    let mut depth = 0usize;
    for item in spec.char_indices().map(Some).chain(std::iter::once(None)) {
        let (end, c) = match item {
            Some((i, c)) => {
                if c == '$' && bytes.get(i + 1) == Some(&b'{') {
                    depth += 1;
                    buffer.push(c);
                    continue;
                }
                if c == '}' && depth > 0 {
                    depth -= 1;
                    buffer.push(c);
                    continue;
                }
                (false, c)
            }
            None => (true, ':'),
        };
        let drive = !end && c == ':' && buffer.chars().count() == 1 && buffer.chars().all(char::is_alphabetic);
        if drive || (!end && (c != ':' || depth > 0)) {
            buffer.push(c);
            continue;
        }
        let section = std::mem::take(&mut buffer);
        if section.is_empty() {
            return Err(VolumeError::EmptySection);
        }
        if out.source.is_none() && end {
            out.target = Some(section);
        } else if out.source.is_none() {
            out.source = Some(section);
        } else if out.target.is_none() {
            out.target = Some(section);
        } else if !end {
            return Err(VolumeError::TooManyColons);
        } else {
            out.options = Some(section);
        }
    }
    Ok(out)
}

/// A source compose mounts from the host: a path, a Windows named pipe or drive.
fn is_file_path(s: &str) -> bool {
    if s.starts_with(['.', '/', '~']) || s.starts_with("\\\\") {
        return true;
    }
    let mut chars = s.chars();
    matches!((chars.next(), chars.next()), (Some(first), Some(':')) if first.is_alphabetic())
}

/// Parses one short-syntax volume; `home` expands a leading `~`.
pub fn parse_volume(spec: &str, base: &Path, home: Option<&str>) -> Result<ServiceVolume, VolumeError> {
    if spec.is_empty() {
        return Err(VolumeError::Empty);
    }
    let sections = split(spec)?;
    let target = sections.target.unwrap_or_default();
    // compose cleans the container path (`/data/` is `/data`).
    let target = if target.len() > 1 && target.starts_with('/') { target.trim_end_matches('/') } else { &target };
    let mut v = ServiceVolume { target: target.to_string(), ..ServiceVolume::default() };
    // A spec of one or two characters is a target alone, of no type compose fills in more.
    if spec.chars().count() <= 2 {
        v.kind = "volume".into();
        return Ok(v);
    }
    // As compose: options it does not know are ignored, and a bind option or `nocopy` is kept
    // whatever the source turns out to be.
    for m in sections.options.iter().flat_map(|m| m.split(',')) {
        match m {
            "ro" => v.read_only = Some(true),
            "rw" => v.read_only = None,
            "nocopy" => v.volume = Some(VolumeOptions { nocopy: Some(true), ..VolumeOptions::default() }),
            "z" | "Z" => v.bind.get_or_insert_with(Default::default).selinux = Some(m.to_string()),
            "shared" | "slave" | "private" | "rshared" | "rslave" | "rprivate" => {
                v.bind.get_or_insert_with(Default::default).propagation = Some(m.to_string())
            }
            _ => {}
        }
    }
    match sections.source {
        Some(s) if is_file_path(&s) => {
            v.kind = "bind".into();
            v.source = Some(resolve_path(&s, base, home));
            v.bind.get_or_insert_with(Default::default).create_host_path = Some(true);
        }
        source => {
            v.kind = "volume".into();
            v.source = source;
            v.volume.get_or_insert_with(VolumeOptions::default);
        }
    }
    Ok(v)
}

/// Makes `p` absolute against `base` as compose does: a leading `~` is the home directory, an
/// absolute path (Unix, or Windows such as `C:\data`) is kept as written, and a relative one is
/// joined to `base` and lexically cleaned like Go's `filepath.Join`.
pub fn resolve_path(p: &str, base: &Path, home: Option<&str>) -> String {
    if let (Some(rest), Some(h)) = (p.strip_prefix('~'), home) {
        return clean(&Path::new(h).join(rest.trim_start_matches('/')));
    }
    if p.starts_with('/') || is_windows_absolute(p) {
        return p.to_string();
    }
    clean(&base.join(p))
}

/// `C:\x`, `C:/x` or `\\server\share`: absolute on Windows, so compose leaves them alone.
pub fn is_windows_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    let sep = |c: u8| c == b'/' || c == b'\\';
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && sep(b[2]))
        || (b.len() >= 2 && b[0] == b'\\' && b[1] == b'\\')
}

fn clean(p: &Path) -> String {
    use std::path::Component;
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(spec: &str) -> ServiceVolume {
        parse_volume(spec, Path::new("/proj"), Some("/home/u")).unwrap()
    }

    #[test]
    fn short_forms() {
        let b = v("./data:/data:ro");
        assert_eq!(
            (b.kind.as_str(), b.source.as_deref(), b.target.as_str(), b.read_only),
            ("bind", Some("/proj/data"), "/data", Some(true))
        );
        assert_eq!(b.bind.unwrap().create_host_path, Some(true));
        let n = v("db-data:/var/lib/db");
        assert_eq!((n.kind.as_str(), n.source.as_deref()), ("volume", Some("db-data")));
        let a = v("/cache");
        assert_eq!((a.kind.as_str(), a.source, a.target.as_str()), ("volume", None, "/cache"));
        assert_eq!(v("~/x:/x").source.as_deref(), Some("/home/u/x"));
        assert_eq!(v("../up:/x").source.as_deref(), Some("/up"));
        assert_eq!(v("/abs:/x:z").bind.unwrap().selinux.as_deref(), Some("z"));
        assert_eq!(v("nv:/x:nocopy").volume.unwrap().nocopy, Some(true));
    }

    #[test]
    fn split_as_compose_splits() {
        // A `:` inside `${…}` does not separate (what `--no-interpolate` leaves).
        let n = v("${DIR:-.}/x:/x");
        assert_eq!((n.source.as_deref(), n.target.as_str()), (Some("${DIR:-.}/x"), "/x"));
        // A one-letter section before `:` is a Windows drive.
        let w = v("C:\\data:/data");
        assert_eq!((w.kind.as_str(), w.source.as_deref(), w.target.as_str()), ("bind", Some("C:\\data"), "/data"));
        let quirk = v("a:b:c:d");
        assert_eq!((quirk.source.as_deref(), quirk.target.as_str()), (Some("/proj/a:b"), "c:d"));
        // One or two characters are a target alone; a relative target is the engine's to refuse.
        let short = v("ab");
        assert_eq!((short.target.as_str(), short.volume.is_none()), ("ab", true));
        assert_eq!(v("data:relative").target, "relative");
        // Options compose does not know are ignored; bind options and `nocopy` are kept as set.
        assert_eq!(v("data:/d:cached").consistency, None);
        assert_eq!(v("data:/d:z").bind.and_then(|b| b.selinux).as_deref(), Some("z"));
    }

    #[test]
    fn invalid() {
        for bad in ["", "ab:cd:ef:gh", ":/x", "/x::ro", "data:/d:ro:extra"] {
            assert!(parse_volume(bad, Path::new("/p"), None).is_err(), "{bad}");
        }
        // As compose: a mode it does not know, or one for another kind of mount, is ignored.
        for ignored in ["n:/x:bogus", "/a:/b:nocopy"] {
            assert!(parse_volume(ignored, Path::new("/p"), None).is_ok(), "{ignored}");
        }
    }
}
