//! Image references (`[registry/]path[:tag][@digest]`): which registry serves one, and its
//! repository and tag, as the engine's pull and push endpoints take them.

/// The registry host of `image`, or `docker.io` when its first component is not a host (it has
/// no `.` or `:` and is not `localhost`).
pub fn registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// `(repository, tag or digest)`: the tag defaults to `latest`; a digest keeps its `@`.
pub fn split(image: &str) -> (&str, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, format!("@{digest}"));
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], image[slash + i + 1..].to_string()),
        None => (image, "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_tags() {
        for (image, reg, repo, tag) in [
            ("busybox", "docker.io", "busybox", "latest"),
            ("library/redis:7", "docker.io", "library/redis", "7"),
            ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "127.0.0.1:5000/team/app", "latest"),
            ("localhost/app:dev", "localhost", "localhost/app", "dev"),
            ("ghcr.io/o/app:1.2@sha256:abc", "ghcr.io", "ghcr.io/o/app:1.2", "@sha256:abc"),
            ("registry:5000/app:v1", "registry:5000", "registry:5000/app", "v1"),
        ] {
            assert_eq!(registry(image), reg, "{image}");
            assert_eq!(split(image), (repo, tag.to_string()), "{image}");
        }
    }
}
