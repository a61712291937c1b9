//! Byte sizes as compose reads them: `512m`, `1gb`, `1.5g` or `1024` (binary multipliers).
//! Durations are typed in the model ([`crate::model::Duration`]).

/// A text that is not a byte size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {0:?}")]
pub struct SizeError(pub String);

/// Parses a byte size such as `512m`, `1gb`, `1.5g` or `1024` (docker's `RAMInBytes`).
pub fn parse_bytes(s: &str) -> Result<i64, SizeError> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let num_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| SizeError(s.to_string()))?;
    let unit = unit.trim().trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0f64.powi(3),
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(SizeError(s.to_string())),
    };
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        for (input, want) in [
            ("1024", 1024),
            ("1k", 1024),
            ("512m", 512 * 1024 * 1024),
            ("1g", 1 << 30),
            ("1gb", 1 << 30),
            ("1GiB", 1 << 30),
            ("1.5g", 3 << 29),
            ("64M", 64 << 20),
        ] {
            assert_eq!(parse_bytes(input).ok(), Some(want), "{input}");
        }
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1x").is_err());
    }
}
