//! The variables a project refers to, for `wharf config --variables`: each name with whether it
//! is required and its default or alternate value, read from the files before interpolation.

use crate::load::interpolate::{matching_brace, operator, split_name};
use crate::load::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Variable {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub alternate: Option<String>,
}

/// Adds every `$VAR` / `${VAR…}` written in string values of `node` to `out`.
pub fn collect(node: &Node, out: &mut Vec<Variable>) {
    match &node.value {
        Value::Str(s) if s.contains('$') => scan(s, out, 0),
        Value::Seq(items) => items.iter().for_each(|n| collect(n, out)),
        Value::Map(m) => m.values().for_each(|n| collect(n, out)),
        _ => {}
    }
}

/// Deeper than interpolation goes ([`crate::load::interpolate::MAX_NESTING`]) the file is
/// refused anyway: not scanned (each level would copy and rescan all the levels inside it).
fn scan(s: &str, out: &mut Vec<Variable>, depth: usize) {
    if depth > crate::load::interpolate::MAX_NESTING {
        return;
    }
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] != '$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some('$') => i += 2,
            Some('{') => {
                let Some(close) = matching_brace(&b, i + 2) else { break };
                let inner: String = b[i + 2..close].iter().collect();
                let (name, rest) = split_name(&inner);
                if !name.is_empty() {
                    let mut v = Variable { name: name.to_string(), required: false, default: None, alternate: None };
                    if let Some((op, arg)) = operator(rest) {
                        match op {
                            ":-" | "-" => v.default = Some(arg.to_string()),
                            ":?" | "?" => v.required = true,
                            _ => v.alternate = Some(arg.to_string()),
                        }
                        scan(arg, out, depth + 1);
                    }
                    out.push(v);
                }
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_') {
                    j += 1;
                }
                out.push(Variable {
                    name: b[i + 1..j].iter().collect(),
                    required: false,
                    default: None,
                    alternate: None,
                });
                i = j;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_defaults_and_required() {
        let mut v = Vec::new();
        scan("$A ${B:-x} ${C:?err} ${D:+alt} $$E ${F:-${G}}", &mut v, 0);
        let names: Vec<&str> = v.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, vec!["A", "B", "C", "D", "G", "F"]);
        assert_eq!(v[1].default.as_deref(), Some("x"));
        assert!(v[2].required);
        assert_eq!(v[3].alternate.as_deref(), Some("alt"));
    }
}
