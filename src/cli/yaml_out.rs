//! A small YAML emitter for JSON values, in the layout `docker compose config` prints: block
//! mappings and sequences indented by two spaces, strings plain when that reads back as the
//! same string and double-quoted (JSON escapes) otherwise.

use serde_json::Value;

/// Renders `v` as a YAML document.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::with_capacity(4096);
    match v {
        Value::Object(o) if !o.is_empty() => block_map(o, 0, &mut out),
        Value::Array(a) if !a.is_empty() => block_seq(a, 0, &mut out),
        other => {
            scalar(other, &mut out);
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn block_map(o: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    for (k, v) in o {
        indent(level, out);
        string(k, out);
        out.push(':');
        value_after_key(v, level, out);
    }
}

fn block_seq(a: &[Value], level: usize, out: &mut String) {
    for v in a {
        indent(level, out);
        out.push_str("- ");
        match v {
            Value::Object(o) if !o.is_empty() => {
                // The first key goes on the dash line; the rest align under it.
                let mut first = true;
                for (k, x) in o {
                    if !first {
                        indent(level + 2, out);
                    }
                    first = false;
                    string(k, out);
                    out.push(':');
                    value_after_key(x, level + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                block_seq(inner, level + 2, out);
            }
            other => {
                scalar(other, out);
                out.push('\n');
            }
        }
    }
}

fn value_after_key(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            out.push('\n');
            block_map(o, level + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_seq(a, level + 2, out);
        }
        other => {
            out.push(' ');
            scalar(other, out);
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, out),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn string(s: &str, out: &mut String) {
    if plain_is_safe(s) {
        out.push_str(s);
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// Whether `s` written plain reads back as the same string in YAML 1.2 (and go-yaml). One pass
/// over the bytes, no allocation: `config` asks this of every string it prints.
fn plain_is_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else { return false };
    if !(first.is_ascii_alphanumeric() || matches!(first, b'/' | b'_' | b'.')) || matches!(last, b' ' | b':') {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        let refused = !(c.is_ascii_graphic() || c == b' ')
            || matches!(
                c,
                b'{' | b'}' | b'[' | b']' | b',' | b'"' | b'\'' | b'`' | b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@'
            )
            || (prev == b':' && c == b' ')
            || (prev == b' ' && c == b'#');
        if refused {
            return false;
        }
        prev = c;
    }
    const WORDS: [&str; 12] = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ".inf", ".nan"];
    if b.len() <= 5 && WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    // Anything that looks like a number (including 0x, 0o, 1e3, 1_000, 12:30) stays quoted.
    !(first.is_ascii_digit() || first == b'.') || s.parse::<f64>().is_err() && !looks_numeric(s)
}

fn looks_numeric(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | 'x' | 'o' | 'X' | 'O' | '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_yaml_parser() {
        let v = serde_json::json!({
            "name": "p",
            "services": {"web": {
                "command": ["sh", "-c", "echo \"$$HOME\" && a: b # c", "8080", "1.5", "true", "", " lead", "x:"],
                "environment": {"A": "yes", "B": "0x1F", "C": "1e3", "D": "12:30", "E": "-x", "F": "plain value"},
                "ports": [{"target": 80, "published": "8080"}],
                "volumes": [],
                "labels": {},
                "nested": [[1, 2], []],
                "n": null
            }}
        });
        let text = to_yaml(&v);
        let back: serde_json::Value = serde_saphyr::from_str_with_options(&text, {
            let mut o = serde_saphyr::options::Options::default();
            o.strict_booleans = true;
            o
        })
        .unwrap();
        assert_eq!(back, v, "{text}");
    }
}
