//! Service volume short syntax → long form: `[SOURCE:]TARGET[:MODE[,MODE]]`. A source that
//! starts with `.`, `/` or `~` is a bind mount (made absolute); anything else names a volume.

use std::path::Path;

use crate::model::{BindOptions, ServiceVolume, VolumeOptions};

/// Parses one short-syntax volume; `home` expands a leading `~`.
pub fn parse_volume(spec: &str, base: &Path, home: Option<&str>) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err("too many `:` separators (expected SOURCE:TARGET[:MODE])".into()),
    };
    if target.is_empty() {
        return Err("the container path is empty".into());
    }
    if !target.starts_with('/') {
        return Err(format!("the container path {target:?} must be absolute"));
    }
    // compose cleans the container path (`/data/` is `/data`).
    let target = if target.len() > 1 { target.trim_end_matches('/') } else { target };
    let mut v = ServiceVolume { target: target.to_string(), ..ServiceVolume::default() };
    let is_path = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    match source {
        None => {
            v.kind = "volume".into();
            v.volume = Some(VolumeOptions::default());
        }
        Some("") => return Err("the source is empty".into()),
        Some(s) if is_path(s) => {
            v.kind = "bind".into();
            v.source = Some(resolve_path(s, base, home));
            v.bind = Some(BindOptions { create_host_path: Some(true), ..BindOptions::default() });
        }
        Some(s) => {
            v.kind = "volume".into();
            v.source = Some(s.to_string());
            v.volume = Some(VolumeOptions::default());
        }
    }
    for m in mode.into_iter().flat_map(|m| m.split(',')) {
        match m {
            "ro" => v.read_only = Some(true),
            "rw" => v.read_only = None,
            "z" | "Z" if v.kind == "bind" => v.bind.get_or_insert_with(Default::default).selinux = Some(m.to_string()),
            "nocopy" if v.kind == "volume" => v.volume.get_or_insert_with(Default::default).nocopy = Some(true),
            "cached" | "delegated" | "consistent" => v.consistency = Some(m.to_string()),
            "shared" | "slave" | "private" | "rshared" | "rslave" | "rprivate" if v.kind == "bind" => {
                v.bind.get_or_insert_with(Default::default).propagation = Some(m.to_string())
            }
            // compose ignores a mode it does not know.
            _ => {}
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
        assert_eq!(v("n:/x:nocopy").volume.unwrap().nocopy, Some(true));
    }

    #[test]
    fn invalid() {
        for bad in ["a:b:c:d", "data:relative", ":/x"] {
            assert!(parse_volume(bad, Path::new("/p"), None).is_err(), "{bad}");
        }
        // As compose: a mode it does not know, or one for another kind of mount, is ignored.
        for ignored in ["n:/x:bogus", "/a:/b:nocopy"] {
            assert!(parse_volume(ignored, Path::new("/p"), None).is_ok(), "{ignored}");
        }
    }
}
