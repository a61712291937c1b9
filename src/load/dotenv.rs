//! `.env` files with compose's rules (docs.docker.com/compose/environment-variables/env-file):
//! `#` comments, an optional `export ` prefix, unquoted values with inline ` #` comments and
//! `${}` interpolation, single-quoted literal values, double-quoted values with escapes and
//! interpolation, multi-line quoted values, and a bare `KEY` that inherits from the environment.
//!
//! dotenvy disagrees with compose on most of these, so this parser is our own.

use indexmap::IndexMap;

use crate::load::interpolate::{InterpolationError, interpolate};

/// A problem in a `.env` file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// Parses `text`; variables are interpolated from earlier lines first, then from `lookup`.
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<IndexMap<String, String>, DotenvError> {
    let mut vars: IndexMap<String, String> = IndexMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let line_no = n + 1;
        let line = lines[n].trim_start();
        n += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let (key, rest) = match line.find(['=', ' ', '\t']) {
            Some(i) => (&line[..i], line[i..].trim_start()),
            None => (line, ""),
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "_.-[]".contains(c)) {
            return Err(DotenvError { line: line_no, message: format!("invalid variable name {key:?}") });
        }
        let Some(raw) = rest.strip_prefix('=') else {
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(DotenvError { line: line_no, message: format!("expected `=` after `{key}`") });
            }
            // A bare `KEY` takes its value from the environment, if it has one.
            if let Some(v) = lookup(key) {
                vars.insert(key.to_string(), v);
            }
            continue;
        };
        let raw = raw.trim_start_matches([' ', '\t']);
        let lookup_vars = |name: &str| vars.get(name).cloned().or_else(|| lookup(name));
        let value = match raw.chars().next() {
            Some(q @ ('\'' | '"')) => {
                // A quoted value may span lines until its unescaped closing quote.
                let mut body = raw[1..].to_string();
                let close = loop {
                    if let Some(i) = find_closing(&body, q) {
                        break i;
                    }
                    if n >= lines.len() {
                        return Err(DotenvError {
                            line: line_no,
                            message: format!("missing closing quote {q} for `{key}`"),
                        });
                    }
                    body.push('\n');
                    body.push_str(lines[n]);
                    n += 1;
                };
                let after = body[close + 1..].trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(DotenvError {
                        line: line_no,
                        message: format!("unexpected text after the closing quote of `{key}`: {after:?}"),
                    });
                }
                let inner = &body[..close];
                if q == '\'' { inner.replace("\\'", "'") } else { expand(&unescape(inner), &lookup_vars, line_no)? }
            }
            _ => {
                // An inline comment starts at a `#` that follows whitespace.
                let mut end = raw.len();
                let b = raw.as_bytes();
                for i in 0..b.len() {
                    if b[i] == b'#' && i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
                        end = i;
                        break;
                    }
                }
                expand(raw[..end].trim(), &lookup_vars, line_no)?
            }
        };
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

fn find_closing(body: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == q {
            return Some(i);
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            // `\$` keeps the dollar literal through interpolation.
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>, line: usize) -> Result<String, DotenvError> {
    interpolate(s, lookup).map(|r| r.value).map_err(|e| DotenvError {
        line,
        message: match e {
            InterpolationError::Required { name, message } => {
                format!("required variable `{name}` is missing: {message}")
            }
            InterpolationError::Invalid { text, reason } => {
                format!("invalid interpolation in {text:?}: {reason}")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "FROM_SHELL").then(|| "shell".to_string())
    }
    fn p(text: &str) -> IndexMap<String, String> {
        parse(text, &env).unwrap()
    }

    #[test]
    fn compose_rules() {
        let vars = p(r#"
# a comment
PLAIN=value
export EXPORTED=1
SPACED = spaced value  
INLINE=value # a comment
HASH=VAL# not a comment
SINGLE='Let\'s go! $PLAIN # kept'
DOUBLE="tab\there $PLAIN # kept"
ESCAPED_DOLLAR="\$PLAIN"
DEFAULTED=${NOPE:-dflt}
REF=${PLAIN:-x}
EMPTY=
FROM_SHELL
NOT_IN_SHELL
MULTI="line one
line two"
"#);
        let want = [
            ("PLAIN", "value"),
            ("EXPORTED", "1"),
            ("SPACED", "spaced value"),
            ("INLINE", "value"),
            ("HASH", "VAL# not a comment"),
            ("SINGLE", "Let's go! $PLAIN # kept"),
            ("DOUBLE", "tab\there value # kept"),
            ("ESCAPED_DOLLAR", "$PLAIN"),
            ("DEFAULTED", "dflt"),
            ("REF", "value"),
            ("EMPTY", ""),
            ("FROM_SHELL", "shell"),
            ("MULTI", "line one\nline two"),
        ];
        for (k, v) in want {
            assert_eq!(vars.get(k).map(String::as_str), Some(v), "key {k}");
        }
        assert!(!vars.contains_key("NOT_IN_SHELL"));
        assert_eq!(vars.len(), want.len());
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("A=1\nB=\"open\n", &env).unwrap_err().line, 2);
        assert_eq!(parse("A=1\n=x\n", &env).unwrap_err().line, 2);
        assert_eq!(parse("A B\n", &env).unwrap_err().line, 1);
        assert_eq!(parse("R=${NOPE:?needed}\n", &env).unwrap_err().line, 1);
    }
}
