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

/// Parses `text` (compose-go's dotenv rules). A variable in a value is looked up in `lookup`
/// first, then among the lines read before it: a shell value beats the file's own.
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<IndexMap<String, String>, DotenvError> {
    let mut vars = IndexMap::new();
    parse_into(text, &mut vars, lookup)?;
    Ok(vars)
}

/// As [`parse`], adding to `out`: variables already there (earlier files) can be referred to.
/// Returns the keys this text set, in order.
pub fn parse_into(
    text: &str,
    out: &mut IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, DotenvError> {
    let mut set = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser { src: text, pos: 0 };
    while p.statement_start() {
        let line = p.line();
        let (key, inherited) = p.key(line)?;
        if inherited {
            if let Some(v) = lookup(&key) {
                out.insert(key.clone(), v);
                set.push(key);
            }
            continue;
        }
        let value = p.value(line, &|name: &str| lookup(name).or_else(|| out.get(name).cloned()))?;
        out.insert(key.clone(), value);
        set.push(key);
    }
    Ok(set)
}

/// `format: raw`: each `KEY=VALUE` line taken as written, quotes and dollars included.
pub fn parse_raw(text: &str) -> Result<IndexMap<String, String>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = IndexMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.split_once('=') {
            Some((k, v)) => out.insert(k.trim_end().to_string(), v.to_string()),
            None => return Err(DotenvError { line: i + 1, message: format!("expected KEY=VALUE, found {t:?}") }),
        };
    }
    Ok(out)
}

/// compose's whitespace inside a line (no newline).
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// The 1-based line of the current position.
    fn line(&self) -> usize {
        self.src[..self.pos].matches('\n').count() + 1
    }

    /// Skips whitespace and comment lines; false at the end of the text.
    fn statement_start(&mut self) -> bool {
        loop {
            let r = self.rest();
            let Some(i) = r.find(|c: char| !c.is_whitespace()) else {
                self.pos = self.src.len();
                return false;
            };
            self.pos += i;
            if !self.rest().starts_with('#') {
                return true;
            }
            match self.rest().find('\n') {
                Some(j) => self.pos += j,
                None => {
                    self.pos = self.src.len();
                    return false;
                }
            }
        }
    }

    /// The key, and whether it stands alone (its value comes from the environment).
    fn key(&mut self, line: usize) -> Result<(String, bool), DotenvError> {
        let r = self.rest();
        let mut start = 0;
        if let Some(after) = r.strip_prefix("export")
            && after.starts_with(|c: char| c.is_whitespace())
        {
            start = r.len() - after.trim_start_matches(|c: char| is_space(c) || c == '\n').len();
        }
        let body = &r[start..];
        for (i, c) in body.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    let key = body[..i].trim_end_matches(is_space).to_string();
                    if key.contains(' ') {
                        return Err(DotenvError { line, message: "a key cannot contain a space".into() });
                    }
                    if key.is_empty() {
                        return Err(DotenvError { line, message: format!("missing variable name before `{c}`") });
                    }
                    self.pos += start + i + c.len_utf8();
                    if c != '\n' {
                        let rest = self.rest();
                        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
                    }
                    return Ok((key, c == '\n'));
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let first = body.lines().next().unwrap_or("");
                    return Err(DotenvError {
                        line,
                        message: format!("unexpected character {c:?} in variable name {first:?}"),
                    });
                }
            }
        }
        // A bare key on the last line.
        let key = body.trim_end_matches(is_space).to_string();
        if key.contains(' ') {
            return Err(DotenvError { line, message: "a key cannot contain a space".into() });
        }
        self.pos = self.src.len();
        Ok((key, true))
    }

    fn value(&mut self, line: usize, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, DotenvError> {
        let r = self.rest();
        let quote = match r.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                let (value, consumed) = match r.find('\n') {
                    Some(i) => (&r[..i], i + 1),
                    None => (r, r.len()),
                };
                self.pos += consumed;
                let value = value.split(" #").next().unwrap_or("").trim_end();
                return expand(value, lookup, line);
            }
        };
        let mut chars = String::new();
        let mut escaped = false;
        for (i, c) in r.char_indices().skip(1) {
            if c != quote {
                if !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push('\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            self.pos += i + 1;
            return if quote == '"' { expand(&unescape(&chars), lookup, line) } else { Ok(chars) };
        }
        let first = r.lines().next().unwrap_or("");
        Err(DotenvError { line, message: format!("unterminated quoted value {first}") })
    }
}

/// The escapes compose decodes inside double quotes: `\a \b \f \n \r \t \v \" \\`, `\$` (kept
/// literal through interpolation) and octal `\0NNN`; any other backslash stays as written.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] != '\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let simple = match b[i + 1] {
            'a' => Some("\u{7}"),
            'b' => Some("\u{8}"),
            'f' => Some("\u{c}"),
            'n' => Some("\n"),
            'r' => Some("\r"),
            't' => Some("\t"),
            'v' => Some("\u{b}"),
            '"' => Some("\""),
            '\\' => Some("\\"),
            '$' => Some("$$"),
            _ => None,
        };
        if let Some(rep) = simple {
            out.push_str(rep);
            i += 2;
            continue;
        }
        if b[i + 1] == '0' {
            // `\0` then up to three digits: Go reads `\NNN` (exactly three octal digits).
            let digits: String = b[i + 2..].iter().take(3).take_while(|c| c.is_ascii_digit()).collect();
            if digits.len() == 3
                && let Ok(n) = u32::from_str_radix(&digits, 8)
                && n <= 0xff
                && let Some(c) = char::from_u32(n)
            {
                out.push(c);
                i += 2 + 3;
                continue;
            }
            out.extend(&b[i..i + 2 + digits.len()]);
            i += 2 + digits.len();
            continue;
        }
        out.push('\\');
        i += 1;
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
COLON: colon
export	TABBED=1
RARE="\a\v\0101"
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
            ("COLON", "colon"),
            ("TABBED", "1"),
            ("RARE", "\u{7}\u{b}A"),
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
