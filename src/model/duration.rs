//! Durations as compose reads them: Go durations (`1m30s`, `1.5s`, `500ms`), kept as
//! nanoseconds and printed back in Go's canonical form (`90s` prints as `1m30s`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Go duration (64-bit nanoseconds, as compose and the engine have it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i64,
}

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}")]
    Invalid(String),
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
    #[error("invalid duration {0:?}: longer than the longest the engine takes, 2562047h47m16s")]
    TooLong(String),
}

impl Duration {
    pub const ZERO: Duration = Duration { nanos: 0 };

    pub fn from_nanos(nanos: i64) -> Duration {
        Duration { nanos }
    }

    pub fn from_secs(secs: i64) -> Duration {
        Duration { nanos: secs.saturating_mul(1_000_000_000) }
    }

    pub fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whole seconds, rounded down (the engine's `StopTimeout`).
    pub fn as_secs(self) -> i64 {
        self.nanos / 1_000_000_000
    }

    /// As a `std::time::Duration`; a negative duration is zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.max(0) as u64)
    }

    /// Parses a Go duration. Go requires a unit except for `0`; compose accepts a bare number
    /// as seconds in some keys, which the loader handles before this.
    pub fn parse(s: &str) -> Result<Duration, DurationError> {
        let t = s.trim();
        let (neg, mut rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        let invalid = || DurationError::Invalid(s.to_string());
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if num_end == 0 {
                return Err(invalid());
            }
            let n: f64 = rest[..num_end].parse().map_err(|_| invalid())?;
            rest = &rest[num_end..];
            let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let mult: f64 = match &rest[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(DurationError::MissingUnit(s.to_string())),
                u => return Err(DurationError::UnknownUnit { unit: u.to_string(), text: s.to_string() }),
            };
            rest = &rest[unit_end..];
            total += n * mult;
        }
        if !total.is_finite() || total.round() > i64::MAX as f64 {
            return Err(DurationError::TooLong(s.to_string()));
        }
        let ns = total.round() as i64;
        Ok(Duration { nanos: if neg { -ns } else { ns } })
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Duration, DurationError> {
        Duration::parse(s)
    }
}

/// Go's `time.Duration.String`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0s");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let u = u128::from(self.nanos.unsigned_abs());
        if u < 1_000_000_000 {
            let (div, unit) = if u < 1_000 {
                (1, "ns")
            } else if u < 1_000_000 {
                (1_000, "µs")
            } else {
                (1_000_000, "ms")
            };
            return write!(f, "{}{unit}", frac(u, div));
        }
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        write!(f, "{}s", frac(u % 60_000_000_000, 1_000_000_000))
    }
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

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Written as a string in the schema, as in a compose file.
impl schemars::JsonSchema for Duration {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }
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
            ("-2s", "-2s"),
        ] {
            assert_eq!(Duration::parse(input).map(|d| d.to_string()).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(Duration::parse("10"), Err(DurationError::MissingUnit("10".into())));
        // Regression (issue 24): an overflowing duration was accepted, and the engine refused it.
        assert!(Duration::parse("9999999999h").unwrap_err().to_string().contains("longer than"));
        assert!(Duration::parse("2562047h").is_ok());
        assert!(matches!(Duration::parse("10x"), Err(DurationError::UnknownUnit { .. })));
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn conversions() {
        let d = Duration::parse("1m30.5s").unwrap();
        assert_eq!(d.as_secs(), 90);
        assert_eq!(d.as_nanos(), 90_500_000_000);
        assert_eq!(d.to_std(), std::time::Duration::from_millis(90_500));
        assert_eq!(Duration::from_nanos(-5).to_std(), std::time::Duration::ZERO);
        assert_eq!(serde_json::to_string(&Duration::from_secs(90)).unwrap(), "\"1m30s\"");
        assert_eq!(serde_json::from_str::<Duration>("\"1.5s\"").unwrap().as_nanos(), 1_500_000_000);
    }
}
