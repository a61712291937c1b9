//! Splits a string `command:` or `entrypoint:` into words the way compose does
//! (mattn/go-shellwords `Parse`): whitespace separates words; single quotes are literal; double
//! quotes and backslashes escape; `#` is an ordinary character; an unquoted `;`, `&`, `|`, `<`
//! or `>` ends the command.

/// Why a command cannot be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("a trailing `\\` escapes nothing")]
    TrailingBackslash,
    #[error("a single quote is not closed")]
    UnclosedSingle,
    #[error("a double quote is not closed")]
    UnclosedDouble,
}

/// Splits `s` into words, or says why it cannot.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(SplitError::UnclosedSingle),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(SplitError::UnclosedDouble),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(SplitError::UnclosedDouble),
                    }
                }
            }
            ';' | '&' | '|' | '<' | '>' => break,
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &[&str])] = &[
            ("echo hello world", &["echo", "hello", "world"]),
            ("sh -c 'echo $HOME'", &["sh", "-c", "echo $HOME"]),
            ("echo \"a b\" c", &["echo", "a b", "c"]),
            ("echo \"say \\\"hi\\\"\"", &["echo", "say \"hi\""]),
            ("echo a\\ b", &["echo", "a b"]),
            ("echo foo #bar", &["echo", "foo", "#bar"]),
            ("echo ''", &["echo", ""]),
            ("  spaced   out  ", &["spaced", "out"]),
            ("echo a; echo b", &["echo", "a"]),
            ("", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(split(input).unwrap(), want.to_vec(), "{input}");
        }
        assert!(split("echo 'open").is_err());
        assert!(split("echo \"open").is_err());
    }
}
