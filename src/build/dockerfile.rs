//! What a builder cannot do, found before anything is sent, so the user learns which line and
//! what to do instead of a builder error half-way through: Dockerfile syntax that only BuildKit
//! understands (for the classic builder), and mounts that need a BuildKit session (which wharf
//! then opens for that build only).

/// One BuildKit-only construct, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsBuildKit {
    pub line: usize,
    pub what: String,
    pub text: String,
}

/// The `# syntax=` parser directive of `dockerfile`: its 1-based line, the whole line, and the
/// frontend image it names. Directives come first, before any other comment or instruction.
pub fn syntax_directive(dockerfile: &str) -> Option<(usize, &str, &str)> {
    for (i, raw) in dockerfile.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.strip_prefix('#')?.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("syntax") {
            return Some((i + 1, raw, value.trim()));
        }
    }
    None
}

/// The first BuildKit-only construct in `dockerfile`, if any.
pub fn needs_buildkit(dockerfile: &str) -> Option<NeedsBuildKit> {
    let hit = |line: usize, what: &str, text: &str| {
        Some(NeedsBuildKit { line: line + 1, what: what.to_string(), text: text.trim().to_string() })
    };
    if let Some((line, raw, _)) = syntax_directive(dockerfile) {
        return hit(line - 1, "a `# syntax=` parser directive (it selects a BuildKit frontend)", raw);
    }
    let heredoc = regex::Regex::new(r#"<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?\s*($|[\s>|;&])"#).ok()?;
    for (i, raw) in dockerfile.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let instruction = words.next().unwrap_or("").to_ascii_uppercase();
        let flags: Vec<&str> = words.take_while(|w| w.starts_with("--")).collect();
        let flag = |name: &str| flags.iter().find(|f| f.split('=').next() == Some(name)).copied();
        match instruction.as_str() {
            "RUN" => {
                for f in ["--mount", "--network", "--security"] {
                    if flag(f).is_some() {
                        return hit(i, &format!("`RUN {f}`"), raw);
                    }
                }
            }
            "COPY" | "ADD" => {
                for f in ["--link", "--chmod", "--parents", "--exclude", "--checksum", "--keep-git-dir"] {
                    if flag(f).is_some() {
                        return hit(i, &format!("`{instruction} {f}`"), raw);
                    }
                }
            }
            _ => {}
        }
        if matches!(instruction.as_str(), "RUN" | "COPY" | "ADD") && heredoc.is_match(line) {
            return hit(i, &format!("a here-document in `{instruction}`"), raw);
        }
    }
    None
}

/// The first `RUN --mount` that needs a BuildKit session (`type=secret`, `type=ssh`), if any.
pub fn needs_session(dockerfile: &str) -> Option<NeedsBuildKit> {
    for (i, raw) in dockerfile.lines().enumerate() {
        let mut words = raw.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("RUN")) {
            continue;
        }
        for flag in words.take_while(|w| w.starts_with("--")) {
            let Some(spec) = flag.strip_prefix("--mount=") else { continue };
            if let Some(kind @ ("secret" | "ssh")) = spec.split(',').find_map(|kv| kv.strip_prefix("type=")) {
                return Some(NeedsBuildKit {
                    line: i + 1,
                    what: format!("`RUN --mount=type={kind}`"),
                    text: raw.trim().to_string(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_dockerfiles_pass() {
        let ok = "# escape=\\\nFROM scratch\nCOPY --from=build /a /b\nRUN echo '<<' && echo $((1<<2))\nCOPY --chown=1:1 x /x\n";
        assert_eq!(needs_buildkit(ok), None);
    }

    #[test]
    fn buildkit_constructs_are_named_with_their_line() {
        for (text, line, what) in [
            ("# syntax=docker/dockerfile:1\nFROM scratch\n", 1, "a `# syntax=` parser directive"),
            ("FROM busybox\nRUN --mount=type=cache,target=/c make\n", 2, "`RUN --mount`"),
            ("FROM busybox\n\nrun --network=none true\n", 3, "`RUN --network`"),
            ("FROM busybox\nCOPY --link a /a\n", 2, "`COPY --link`"),
            ("FROM busybox\nADD --chmod=755 a /a\n", 2, "`ADD --chmod`"),
            ("FROM busybox\nRUN <<EOF\necho hi\nEOF\n", 2, "a here-document in `RUN`"),
            ("FROM busybox\nCOPY <<-\"END\" /x\nhi\nEND\n", 2, "a here-document in `COPY`"),
        ] {
            let got = needs_buildkit(text).unwrap_or_else(|| panic!("not found in {text:?}"));
            assert_eq!(got.line, line, "{text:?}");
            assert!(got.what.starts_with(what), "{got:?}");
        }
    }

    #[test]
    fn a_syntax_comment_after_an_instruction_is_only_a_comment() {
        assert_eq!(needs_buildkit("FROM scratch\n# syntax=docker/dockerfile:1\n"), None);
        assert_eq!(syntax_directive("# a comment\n# syntax=docker/dockerfile:1\nFROM scratch\n"), None);
        assert_eq!(
            syntax_directive("# escape=\\\n\n# syntax = docker/dockerfile:1.4\nFROM scratch\n"),
            Some((3, "# syntax = docker/dockerfile:1.4", "docker/dockerfile:1.4"))
        );
    }

    #[test]
    fn secret_and_ssh_mounts_need_a_session_cache_mounts_do_not() {
        let df =
            "FROM busybox\nRUN --mount=type=cache,target=/c make\nRUN --mount=id=k,type=secret cat /run/secrets/k\n";
        let got = needs_session(df).unwrap();
        assert_eq!((got.line, got.what.as_str()), (3, "`RUN --mount=type=secret`"));
        assert_eq!(needs_session("FROM busybox\nrun --mount=type=ssh git clone x\n").unwrap().line, 2);
        assert_eq!(needs_session("FROM busybox\nRUN --mount=type=bind,target=/x ls\n"), None);
    }
}
