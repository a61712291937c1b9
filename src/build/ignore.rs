//! `.dockerignore` matching with Docker's semantics (moby's `patternmatcher`), which differ from
//! `.gitignore`'s: every pattern is anchored at the context root (`foo` is `./foo` only; write
//! `**/foo` for any depth), `*` and `?` never cross `/`, `**` spans any number of directories,
//! `!` re-includes, the last matching pattern wins, and a path is excluded when it or one of its
//! parent directories is. Used for build contexts and for file watching.

use regex::Regex;

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Rule {
    /// The cleaned pattern, as written after `!` (for messages and for pruning the walk).
    pattern: String,
    re: Regex,
    exclusion: bool,
}

/// A set of `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

/// A pattern that does not compile (an unclosed `[`, for instance), with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: invalid pattern `{pattern}`: {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: BadPattern,
}

/// What is wrong with a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPattern {
    #[error("unclosed `[`")]
    UnclosedClass,
    #[error("empty `[]`")]
    EmptyClass,
    #[error("trailing `\\`")]
    TrailingBackslash,
    #[error("{0}")]
    Regex(String),
}

impl DockerIgnore {
    /// Parses a `.dockerignore` file's text: one pattern per line, `#` comments, blank lines
    /// skipped, surrounding whitespace trimmed.
    pub fn parse(text: &str) -> Result<DockerIgnore, PatternError> {
        let mut d = DockerIgnore::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            d.push(line).map_err(|reason| PatternError { line: i + 1, pattern: line.to_string(), reason })?;
        }
        Ok(d)
    }

    /// Patterns given one by one (watch rules' `ignore:` entries), in the same syntax.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<DockerIgnore, PatternError> {
        let mut d = DockerIgnore::default();
        for (i, p) in patterns.iter().enumerate() {
            let p = p.as_ref().trim();
            d.push(p).map_err(|reason| PatternError { line: i + 1, pattern: p.to_string(), reason })?;
        }
        Ok(d)
    }

    /// Adds one pattern (`!` for a re-inclusion).
    pub fn push(&mut self, pattern: &str) -> Result<(), BadPattern> {
        let (exclusion, body) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, pattern),
        };
        let mut cleaned = clean(body);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        if cleaned.is_empty() {
            return Ok(());
        }
        let re = Regex::new(&to_regex(&cleaned)?).map_err(|e| BadPattern::Regex(e.to_string()))?;
        self.rules.push(Rule { pattern: cleaned, re, exclusion });
        Ok(())
    }

    /// Whether `path` (relative to the root, `/`-separated) is excluded: the last pattern that
    /// matches the path or one of its parent directories decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for r in &self.rules {
            let hit = r.re.is_match(&path) || parents.iter().any(|p| r.re.is_match(p));
            if hit {
                excluded = !r.exclusion;
            }
        }
        excluded
    }

    /// Whether the walk may skip everything under the excluded directory `dir`: true unless a
    /// re-inclusion pattern could match something inside it.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.rules.iter().filter(|r| r.exclusion).all(|r| {
            // The literal part of the pattern before its first wildcard.
            let lit: String = r.pattern.chars().take_while(|c| !matches!(c, '*' | '?' | '[' | '\\')).collect();
            let lit = lit.trim_end_matches('/');
            !(lit.is_empty()
                || lit.starts_with(&format!("{dir}/"))
                || lit == dir
                || dir.starts_with(&format!("{lit}/")))
        })
    }
}

/// Go's `filepath.Clean` for `/`-separated relative paths: no `.` components, no doubled or
/// trailing slashes, `..` resolved where it can be.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Translates a cleaned pattern to an anchored regular expression, as moby does: `**` (and
/// `**/`) spans directories, `*` and `?` stay within one, `[...]` classes pass through, `\`
/// escapes the next character.
fn to_regex(pattern: &str) -> Result<String, BadPattern> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i + 1..].iter().position(|&x| x == ']').ok_or(BadPattern::UnclosedClass)?;
                let class: String = chars[i + 1..i + 1 + end].iter().collect();
                if class.is_empty() {
                    return Err(BadPattern::EmptyClass);
                }
                let class = class.strip_prefix('^').map(|r| format!("^{r}")).unwrap_or(class);
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\").replace('[', "\\["));
                re.push(']');
                i += end + 1;
            }
            '\\' => {
                let next = chars.get(i + 1).ok_or(BadPattern::TrailingBackslash)?;
                re.push_str(&regex::escape(&next.to_string()));
                i += 1;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (patterns, path, excluded?) — cases from Docker's documented semantics and moby's
    /// patternmatcher behaviour.
    const CASES: &[(&[&str], &str, bool)] = &[
        // Anchored at the root: `foo` is ./foo only.
        (&["foo"], "foo", true),
        (&["foo"], "a/foo", false),
        (&["/foo"], "foo", true),
        (&["./foo"], "foo", true),
        (&["foo/"], "foo/bar", true),
        // A directory's exclusion covers what is inside it.
        (&["foo"], "foo/bar/baz.txt", true),
        (&["node_modules"], "node_modules/x/y.js", true),
        // `*` and `?` do not cross `/`.
        (&["*.log"], "a.log", true),
        (&["*.log"], "dir/a.log", false),
        (&["*/*.log"], "dir/a.log", true),
        (&["*/*.log"], "a/b/c.log", false),
        (&["a?c"], "abc", true),
        (&["a?c"], "a/c", false),
        // `**` spans any number of directories, including none.
        (&["**/*.log"], "a.log", true),
        (&["**/*.log"], "a/b/c/d.log", true),
        (&["**/foo"], "foo", true),
        (&["**/foo"], "x/y/foo", true),
        (&["a/**/b"], "a/b", true),
        (&["a/**/b"], "a/x/y/b", true),
        (&["a/**"], "a/x/y", true),
        (&["a/**"], "b/a/x", false),
        (&["**"], "anything/at/all", true),
        // `!` re-includes; the last match wins.
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "CHANGES.md", true),
        (&["!README.md", "*.md"], "README.md", true),
        (&["docs", "!docs/keep.txt"], "docs/keep.txt", false),
        (&["docs", "!docs/keep.txt"], "docs/other.txt", true),
        (&["**", "!src/**"], "src/main.rs", false),
        (&["**", "!src/**"], "target/x", true),
        // Classes and escapes.
        (&["file[0-9].txt"], "file7.txt", true),
        (&["file[0-9].txt"], "fileA.txt", false),
        (&["file[^0-9].txt"], "fileA.txt", true),
        (&["a\\*b"], "a*b", true),
        (&["a\\*b"], "axb", false),
        // Regex metacharacters are literal.
        (&["a.b"], "axb", false),
        (&["a+b(c)"], "a+b(c)", true),
        // Cleaning.
        (&["a/../b"], "b", true),
        (&["a//b/"], "a/b", true),
    ];

    #[test]
    fn table() {
        for (patterns, path, want) in CASES {
            let d = DockerIgnore::from_patterns(patterns).unwrap();
            assert_eq!(d.is_excluded(path), *want, "{patterns:?} on {path}");
        }
    }

    #[test]
    fn parse_skips_comments_and_blank_lines_and_reports_bad_patterns() {
        let d = DockerIgnore::parse("# comment\n\n  *.tmp  \n!keep.tmp\n").unwrap();
        assert!(d.is_excluded("x.tmp"));
        assert!(!d.is_excluded("keep.tmp"));
        assert!(!d.is_excluded("# comment"));
        let e = DockerIgnore::parse("ok\n[unclosed\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), "line 2: invalid pattern `[unclosed`: unclosed `[`");
    }

    #[test]
    fn directories_are_pruned_only_when_nothing_inside_can_come_back() {
        let d = DockerIgnore::from_patterns(&["node_modules", "docs", "!docs/keep.txt"]).unwrap();
        assert!(d.can_skip_dir("node_modules"));
        assert!(!d.can_skip_dir("docs"));
        let any = DockerIgnore::from_patterns(&["**", "!**/*.rs"]).unwrap();
        assert!(!any.can_skip_dir("src"));
    }
}
