//! What a secret looks like: a literal value under a secret-sounding name (the words BuildKit's
//! `SecretsUsedInArgOrEnv` check looks for), or a value of a well-known token shape (cloud keys,
//! private-key blocks, GitHub/GitLab/Slack tokens, JWTs, credentials in a URL), or a long
//! random-looking string. A value that comes from a variable (`${DB_PASSWORD}`) is fine: it is
//! not written in the file.

use std::sync::LazyLock;

use regex::Regex;

/// Why a value looks like a secret. Never holds the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A literal value under a name such as `DB_PASSWORD` or `apiToken`.
    Name { word: &'static str },
    /// A known token shape: `an AWS access key ID`, `a private key`, …
    Shape(&'static str),
    /// A URL with a password in it.
    UrlPassword,
    /// A long random-looking string.
    Entropy,
}

impl Why {
    /// `"looks like a GitHub token"`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Why::Name { word } => format!("a literal value under a name with `{word}` in it"),
            Why::Shape(what) => format!("a value that looks like {what}"),
            Why::UrlPassword => "a URL with a literal password in it".to_string(),
            Why::Entropy => "a long random-looking value".to_string(),
        }
    }
}

/// Words that make a name a secret's, whatever its value (as long as it is a literal).
const STRONG: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pword",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "privatekey",
];
/// Words that make a name a secret's only when the value also looks random (`KEY_PREFIX: app`,
/// `AUTH_METHOD: md5` are not secrets).
const WEAK: &[&str] = &["key", "auth", "pass"];
/// A last word that says the value is about the secret, not the secret: `DB_PASSWORD_FILE`,
/// `TOKEN_TTL`, `SECRET_NAME`.
const ABOUT: &[&str] = &[
    "file",
    "files",
    "path",
    "dir",
    "id",
    "name",
    "names",
    "user",
    "username",
    "length",
    "len",
    "size",
    "ttl",
    "timeout",
    "expiry",
    "expires",
    "expiration",
    "lifetime",
    "prefix",
    "header",
    "type",
    "alg",
    "algorithm",
    "method",
    "mode",
    "enabled",
    "enable",
    "disabled",
    "required",
    "policy",
    "min",
    "max",
    "count",
    "url",
    "uri",
    "endpoint",
    "host",
    "port",
    "version",
    "store",
    "provider",
    "source",
    "format",
    "env",
    "location",
    "rotation",
    "hash",
];
/// Values that say "nothing here" rather than a secret.
const PLACEHOLDERS: &[&str] =
    &["", "none", "null", "nil", "unset", "disabled", "false", "true", "yes", "no", "on", "off", "-"];

/// Splits a name into lower-case words at `_`, `-`, `.`, spaces and camelCase humps:
/// `apiToken` → `api`, `token`; `DB_PASSWORD` → `db`, `password`.
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The secret word in `name`, and whether it is a strong one; `None` when the name is not a
/// secret's, or is about one (`…_FILE`, `…_TTL`).
fn secret_word(name: &str) -> Option<(&'static str, bool)> {
    let w = words(name);
    let last = w.last()?;
    if ABOUT.contains(&last.as_str()) || w.iter().any(|x| x == "public") {
        return None;
    }
    // `API_KEY`, `PRIVATE_KEY`: two words that together are a strong one.
    for pair in w.windows(2) {
        let joined = format!("{}{}", pair[0], pair[1]);
        if let Some(s) = STRONG.iter().find(|s| **s == joined) {
            return Some((s, true));
        }
    }
    if let Some(s) = w.iter().find_map(|x| STRONG.iter().find(|s| **s == x)) {
        return Some((s, true));
    }
    w.iter().find_map(|x| WEAK.iter().find(|s| **s == x)).map(|s| (*s, false))
}

/// Whether `value` is (or contains) a variable reference: then the secret is not in the file.
/// `$$` is an escaped dollar, not a reference.
pub fn interpolated(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            match b.get(i + 1) {
                Some(b'$') => i += 2,
                Some(c) if *c == b'{' || c.is_ascii_alphabetic() || *c == b'_' => return true,
                _ => i += 1,
            }
        } else {
            i += 1;
        }
    }
    false
}

struct Shape {
    what: &'static str,
    re: Regex,
}

static SHAPES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    let s = |what, re: &str| Shape { what, re: Regex::new(re).expect("a valid pattern") };
    vec![
        s("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        s("an AWS access key ID", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
        s("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
        s("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        s("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        s("a Slack webhook URL", r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        s("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        s("a Stripe secret key", r"\b[rs]k_live_[0-9A-Za-z]{20,}\b"),
        s("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        s("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ]
});

static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@").expect("a valid pattern"));

/// Shannon entropy of `s` in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let n = s.chars().count() as f64;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    counts.values().map(|&k| k as f64 / n).map(|p| -p * p.log2()).sum()
}

/// A whitespace-free run that looks random: long, mixed letters and digits, high entropy.
/// Hex strings (commit and image digests) fall short of the bar by design: a hex secret is
/// found by its name.
fn random_looking(s: &str, min_len: usize, min_entropy: f64) -> bool {
    s.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '"' || c == '\'').any(|t| {
        let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        t.len() >= min_len
            && !t.contains('/')
            && !t.contains("sha256:")
            && t.chars().any(|c| c.is_ascii_digit())
            && t.chars().any(|c| c.is_ascii_uppercase())
            && t.chars().any(|c| c.is_ascii_lowercase())
            && entropy(t) >= min_entropy
    })
}

/// A shape or password-in-URL found anywhere in `value`, whatever its name.
pub fn shape(value: &str) -> Option<Why> {
    if let Some(s) = SHAPES.iter().find(|s| s.re.is_match(value)) {
        return Some(Why::Shape(s.what));
    }
    if let Some(c) = URL_PASSWORD.captures(value) {
        let pw = c.get(1).map_or("", |m| m.as_str());
        if !interpolated(pw) && !pw.starts_with('*') {
            return Some(Why::UrlPassword);
        }
    }
    None
}

/// Why `value`, written under `name` (an environment variable, a build argument, a label, an
/// `x-*` key), looks like a secret; `None` when it does not.
pub fn classify(name: Option<&str>, value: &str) -> Option<Why> {
    if interpolated(value) {
        return None;
    }
    if let Some(why) = shape(value) {
        return Some(why);
    }
    let v = value.trim();
    let looks_like_data = PLACEHOLDERS.contains(&v.to_ascii_lowercase().as_str())
        || v.parse::<f64>().is_ok()
        || v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("~/");
    if let Some((word, strong)) = name.and_then(secret_word)
        && !looks_like_data
        && (strong || random_looking(v, 16, 3.5))
    {
        return Some(Why::Name { word });
    }
    if random_looking(v, 24, 4.2) {
        return Some(Why::Entropy);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("DB_PASSWORD"), vec!["db", "password"]);
        assert_eq!(words("apiToken"), vec!["api", "token"]);
        assert_eq!(words("com.example.api-key"), vec!["com", "example", "api", "key"]);
        assert_eq!(words("OAuth2Secret"), vec!["oauth2", "secret"]);
    }

    /// (name, value, finding expected). Token shapes are split with `concat!` so that secret
    /// scanners do not take this file for a leak.
    const CASES: &[(&str, &str, bool)] = &[
        // Literal values under secret names.
        ("POSTGRES_PASSWORD", "example", true),
        ("DB_PASSWD", "hunter2", true),
        ("apiToken", "abc123", true),
        ("API_KEY", "0123456789abcdef", true),
        ("PRIVATE_KEY", "MIIEvQIBADANBgkqh", true),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true),
        ("SESSION_KEY", "q8Fz3LmP0vXk2RtY7bNw", true),
        ("MYSQL_ROOT_PASSWORD", "root", true),
        // From a variable, or an escaped dollar followed by one.
        ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}", false),
        ("POSTGRES_PASSWORD", "$POSTGRES_PASSWORD", false),
        ("API_TOKEN", "${API_TOKEN:?set it}", false),
        ("DSN", "postgres://app:${DB_PASSWORD}@db/app", false),
        ("PASSWORD", "$$${PW}", false),
        // About a secret, not one.
        ("POSTGRES_PASSWORD_FILE", "/run/secrets/db_password", false),
        ("TOKEN_TTL", "3600", false),
        ("SECRET_NAME", "prod-db", false),
        ("JWT_ALGORITHM", "HS256", false),
        ("POSTGRES_HOST_AUTH_METHOD", "trust", false),
        ("PASSWORD_MIN_LENGTH", "8", false),
        ("AWS_ACCESS_KEY_ID_FILE", "/run/secrets/aws", false),
        ("REQUIRE_AUTH", "true", false),
        ("PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3", false),
        // Weak words need a random-looking value.
        ("KEY_PREFIX", "app:", false),
        ("CACHE_KEY", "v2", false),
        ("AUTH", "basic", false),
        ("REDIS_PASS", "", false),
        // Ordinary settings.
        ("LOG_LEVEL", "debug", false),
        ("DATABASE_URL", "postgres://app@db:5432/app", false),
        ("GIT_COMMIT", "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f", false),
        ("IMAGE_DIGEST", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", false),
        ("JAVA_OPTS", "-Xmx512m -Dspring.profiles.active=prod", false),
        ("TZ", "Europe/Berlin", false),
        // Shapes, whatever the name.
        ("NOTE", concat!("AKIA", "IOSFODNN7EXAMPLE"), true),
        ("GH", concat!("gh", "p_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"), true),
        ("CI", concat!("gl", "pat-aBcDeFgHiJkLmNoPqRsT"), true),
        ("HOOK", concat!("https://hooks.slack.com/", "services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"), true),
        ("BOT", concat!("xo", "xb-123456789012-abcdefABCDEF"), true),
        ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIE", true),
        ("CERT", "-----BEGIN OPENSSH PRIVATE KEY-----", true),
        ("CERT", "-----BEGIN CERTIFICATE-----", false),
        (
            "SESSION",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            true,
        ),
        ("DATABASE_URL", "postgres://app:s3cr3t@db:5432/app", true),
        ("DATABASE_URL", "postgres://app:****@db:5432/app", false),
        ("BLOB", "Zx8Qm2Lp9Tv4Rk7Wn3Yb6Hd1Jf5Gs0Ac", true),
        ("SENTENCE", "The quick brown fox jumps over the lazy dog 42 times", false),
    ];

    #[test]
    fn table() {
        for (name, value, expected) in CASES {
            let got = classify(Some(name), value);
            assert_eq!(got.is_some(), *expected, "{name}={value:?}: {got:?}");
        }
    }

    #[test]
    fn interpolation_is_recognised() {
        assert!(interpolated("${A}"));
        assert!(interpolated("x$A"));
        assert!(!interpolated("$$A"));
        assert!(!interpolated("price: 5$"));
        assert!(interpolated("$$$A"));
    }
}
