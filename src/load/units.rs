//! Durations and byte sizes as compose reads them: Go durations (`1m30s`, `1.5s`, `500ms`)
//! printed back in Go's canonical form, and sizes like `512m` or `1gb` (binary multipliers).

/// Parses a Go duration into nanoseconds. A bare number is seconds? No: Go requires a unit,
/// except for `0`; compose accepts integers as seconds in some keys, which callers handle.
pub fn parse_duration(s: &str) -> Result<i128, String> {
    let t = s.trim();
    let (neg, mut rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {s:?}")),
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    // Go's durations (compose's, and the engine's) are 64-bit nanoseconds: about 292 years.
    if !total.is_finite() || total.round() > i64::MAX as f64 {
        return Err(format!("invalid duration {s:?}: longer than the longest the engine takes, 2562047h47m16s"));
    }
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

/// Formats nanoseconds the way Go's `time.Duration.String` does.
pub fn format_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (div, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Normalises a duration string to Go's canonical form.
pub fn normalize_duration(s: &str) -> Result<String, String> {
    parse_duration(s).map(format_duration)
}

/// Parses a byte size such as `512m`, `1gb`, `1.5g` or `1024` (docker's `RAMInBytes`).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let num_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let unit = unit.trim().trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0f64.powi(3),
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(format!("invalid size {s:?}")),
    };
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_to_go_form() {
        for (input, want) in [
            ("90s", "1m30s"),
            ("1m30s", "1m30s"),
            ("1.5s", "1.5s"),
            ("500ms", "500ms"),
            ("1h", "1h0m0s"),
            ("2h45m", "2h45m0s"),
            ("0", "0s"),
            ("10us", "10µs"),
            ("100ms", "100ms"),
            ("0.1s", "100ms"),
            ("3s", "3s"),
        ] {
            assert_eq!(normalize_duration(input).as_deref(), Ok(want), "{input}");
        }
        assert!(parse_duration("10").is_err());
        // Regression (issue 24): an overflowing duration was accepted, and the engine refused it.
        assert!(parse_duration("9999999999h").unwrap_err().contains("longer than"));
        assert!(parse_duration("2562047h").is_ok());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
    }

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
            assert_eq!(parse_bytes(input), Ok(want), "{input}");
        }
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1x").is_err());
    }
}
