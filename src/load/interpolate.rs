//! Variable interpolation as the Compose Specification defines it (`12-interpolation.md`):
//! `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR:+alt}`,
//! `${VAR+alt}`, nesting inside the default/alternative, and `$$` for a literal `$`.
//!
//! The environment is a parameter, so tests never touch the process environment. Only string
//! values are interpolated, never keys. Unset variables without a default become the empty
//! string and are reported once each by the caller.

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::load::yaml::{Node, Value};
use std::collections::BTreeSet;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${VAR:?msg}` / `${VAR?msg}` on an unset (or empty) variable.
    Required { name: String, message: String },
    /// Syntax we do not understand, e.g. `${}` or `${VAR` without a closing brace.
    Invalid { text: String, reason: String },
}

/// The result of interpolating one string.
#[derive(Debug, Default)]
pub struct Interpolated {
    pub value: String,
    /// Variables referenced without a default that were not set.
    pub unset: Vec<String>,
}

/// Interpolates `input`, looking names up with `lookup`.
pub fn interpolate(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Interpolated, InterpolationError> {
    let mut out = Interpolated::default();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.value.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.value.push('$');
                i += 2;
            }
            Some('{') => {
                let close = matching_brace(&chars, i + 2).ok_or_else(|| InterpolationError::Invalid {
                    text: input.to_string(),
                    reason: "`${` without a closing `}`".into(),
                })?;
                let inner: String = chars[i + 2..close].iter().collect();
                let v = braced(&inner, input, lookup, &mut out.unset)?;
                out.value.push_str(&v);
                i = close + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.value.push_str(&v),
                    None => out.unset.push(name),
                }
                i = j;
            }
            _ => {
                // A `$` not followed by a name or `{` stays as it is.
                out.value.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}
fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Index of the `}` closing a `${` whose content starts at `start`, counting nested `${`.
pub(crate) fn matching_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 1;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'$') => i += 1,
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The content of `${…}` split into the variable name and what follows it.
pub(crate) fn split_name(inner: &str) -> (&str, &str) {
    let end = inner.char_indices().find(|(_, c)| !is_name_char(*c)).map(|(i, _)| i).unwrap_or(inner.len());
    inner.split_at(end)
}

/// The operator (`:-`, `-`, `:?`, `?`, `:+`, `+`) that starts `rest`, and its argument.
pub(crate) fn operator(rest: &str) -> Option<(&'static str, &str)> {
    [":-", ":?", ":+", "-", "?", "+"].into_iter().find_map(|op| rest.strip_prefix(op).map(|a| (op, a)))
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let (name, rest) = split_name(inner);
    let invalid = |reason: &str| InterpolationError::Invalid { text: whole.to_string(), reason: reason.to_string() };
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(invalid("a variable name must start with a letter or `_`"));
    }
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(match value {
            Some(v) => v,
            None => {
                unset.push(name.to_string());
                String::new()
            }
        });
    }
    let (op, arg) = operator(rest).ok_or_else(|| invalid(&format!("unsupported operator in `${{{inner}}}`")))?;
    // The argument is itself interpolated, but only when it is used.
    let mut expand = |s: &str| -> Result<String, InterpolationError> {
        let r = interpolate(s, lookup)?;
        unset.extend(r.unset);
        Ok(r.value)
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match op {
        ":-" => {
            if non_empty {
                value.unwrap_or_default()
            } else {
                expand(arg)?
            }
        }
        "-" => {
            if set {
                value.unwrap_or_default()
            } else {
                expand(arg)?
            }
        }
        ":+" => {
            if non_empty {
                expand(arg)?
            } else {
                String::new()
            }
        }
        "+" => {
            if set {
                expand(arg)?
            } else {
                String::new()
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if ok {
                value.unwrap_or_default()
            } else {
                let msg = expand(arg)?;
                return Err(InterpolationError::Required { name: name.to_string(), message: msg });
            }
        }
        _ => unreachable!("operators are listed above"),
    })
}

/// Interpolates every string value in `node` in place (keys are left alone), collecting errors
/// with their locations and the names of unset variables.
pub fn interpolate_tree(
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut BTreeSet<(String, Loc)>,
    diags: &mut Diagnostics,
) {
    match &mut node.value {
        Value::Str(s) => {
            if !s.contains('$') {
                return;
            }
            match interpolate(s, lookup) {
                Ok(r) => {
                    for name in r.unset {
                        unset.insert((name, node.loc.clone()));
                    }
                    *s = r.value;
                }
                Err(e) => diags.push(interpolation_diagnostic(e, node.loc.clone(), path)),
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), lookup, unset, diags);
            }
        }
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                interpolate_tree(v, &p, lookup, unset, diags);
            }
        }
        _ => {}
    }
}

pub fn interpolation_diagnostic(e: InterpolationError, loc: Loc, path: &str) -> Diagnostic {
    match e {
        InterpolationError::Required { name, message } => {
            let msg = if message.is_empty() {
                format!("required variable `{name}` is missing a value")
            } else {
                format!("required variable `{name}` is missing a value: {message}")
            };
            Diagnostic::error(loc, path, msg)
                .with_hint(format!("set `{name}` in the environment or in the project's `.env` file"))
        }
        InterpolationError::Invalid { text, reason } => {
            Diagnostic::error(loc, path, format!("invalid interpolation in {text:?}: {reason}"))
                .with_hint("write `$$` for a literal `$`")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("val".into()),
            "EMPTY" => Some(String::new()),
            "lower" => Some("low".into()),
            "NEST" => Some("SET".into()),
            _ => None,
        }
    }
    fn i(s: &str) -> String {
        interpolate(s, &env).map(|r| r.value).unwrap_or_else(|e| format!("ERR {e:?}"))
    }

    #[test]
    fn table() {
        let cases = [
            ("plain", "plain"),
            ("$SET", "val"),
            ("${SET}", "val"),
            ("a${SET}b", "avalb"),
            ("$SET-x", "val-x"),
            ("$lower", "low"),
            ("${UNSET}", ""),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${UNSET-d}", "d"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${SET}}", "val"),
            ("${UNSET:-${UNSET2:-deep}}", "deep"),
            ("${UNSET:-a}}", "a}"),
            ("$$SET", "$SET"),
            ("$${SET}", "${SET}"),
            ("cost: 5$", "cost: 5$"),
            ("$1", "$1"),
            ("${SET:-}", "val"),
            ("${UNSET:-x:y}", "x:y"),
            ("${UNSET:-$$}", "$"),
        ];
        for (input, want) in cases {
            assert_eq!(i(input), want, "input {input:?}");
        }
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let e = interpolate("${UNSET:?must be set}", &env).unwrap_err();
        assert_eq!(e, InterpolationError::Required { name: "UNSET".into(), message: "must be set".into() });
        assert!(interpolate("${EMPTY:?x}", &env).is_err());
        assert_eq!(interpolate("${EMPTY?x}", &env).unwrap().value, "");
        assert_eq!(interpolate("${SET?x}", &env).unwrap().value, "val");
    }

    #[test]
    fn reports_unset_names() {
        let r = interpolate("$A ${B} ${C:-x} ${SET}", &env).unwrap();
        assert_eq!(r.unset, vec!["A".to_string(), "B".to_string()]);
    }

    #[test]
    fn invalid_syntax() {
        assert!(matches!(interpolate("${", &env), Err(InterpolationError::Invalid { .. })));
        assert!(matches!(interpolate("${}", &env), Err(InterpolationError::Invalid { .. })));
        assert!(matches!(interpolate("${A/b/c}", &env), Err(InterpolationError::Invalid { .. })));
    }
}
