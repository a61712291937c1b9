//! Port short syntax → long form: `[HOST_IP:][HOST_PORT[-END]:]CONTAINER[-END][/PROTOCOL]`.
//! A container port range becomes one entry per port, as compose does.

use crate::model::Port;

/// Which side of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    Container,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Host => "host",
            Side::Container => "container",
        })
    }
}

/// Why a short-syntax port spec is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("unknown protocol {0:?} (expected tcp, udp or sctp)")]
    UnknownProtocol(String),
    #[error("an IPv6 address must be followed by `]:`")]
    Ipv6,
    #[error("too many `:` separators")]
    TooManyColons,
    #[error("{side} port: {text:?} is not a port number (0-65535)")]
    NotAPort { side: Side, text: String },
    #[error("{side} port: range {text:?} ends before it starts")]
    Backwards { side: Side, text: String },
    #[error("the host and container port ranges have different lengths")]
    RangeLengths,
}

/// Parses one short-syntax port spec.
pub fn parse_port(spec: &str) -> Result<Vec<Port>, PortError> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => {
            if !matches!(p, "tcp" | "udp" | "sctp") {
                return Err(PortError::UnknownProtocol(p.to_string()));
            }
            (r, p.to_string())
        }
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is written in brackets: `[::1]:8080:80`.
    let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r.split_once("]:").ok_or(PortError::Ipv6)?;
        (Some(ip.to_string()), after)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, container) = match (host_ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [ip, h, c]) => (Some(ip.to_string()), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        (Some(ip), [c]) => (Some(ip), None, *c),
        _ => return Err(PortError::TooManyColons),
    };
    let published = published.filter(|p| !p.is_empty());
    let (c_start, c_end) = range(container, Side::Container)?;
    let host = match published {
        Some(p) => Some(range(p, Side::Host)?),
        None => None,
    };
    let count = c_end - c_start + 1;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let published = match host {
            None => None,
            Some((hs, he)) if he - hs + 1 == count => Some((hs + i).to_string()),
            Some((hs, he)) if count == 1 => Some(if hs == he { hs.to_string() } else { format!("{hs}-{he}") }),
            Some(_) => {
                return Err(PortError::RangeLengths);
            }
        };
        out.push(Port {
            mode: Some("ingress".into()),
            host_ip: host_ip.clone(),
            target: (c_start + i) as u16,
            published,
            protocol: Some(protocol.clone()),
            ..Port::default()
        });
    }
    Ok(out)
}

fn range(s: &str, side: Side) -> Result<(u32, u32), PortError> {
    let not_a_port = |text: &str| PortError::NotAPort { side, text: text.to_string() };
    let port = |p: &str| -> Result<u32, PortError> {
        match p.parse::<u32>() {
            Ok(n) if (0..=65535).contains(&n) => Ok(n),
            _ => Err(not_a_port(p)),
        }
    };
    match s.split_once('-') {
        // `-1`, `80-`: not a range, and no port either; named whole.
        Some((a, b)) if a.is_empty() || b.is_empty() => Err(not_a_port(s)),
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(PortError::Backwards { side, text: s.to_string() });
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_a_negative_host_port_is_named_as_written() {
        // Issue 24: `-1:80` was reported as `""`.
        assert_eq!(parse_port("-1:80").unwrap_err().to_string(), "host port: \"-1\" is not a port number (0-65535)");
        assert_eq!(parse_port("80-:80").unwrap_err().to_string(), "host port: \"80-\" is not a port number (0-65535)");
    }

    fn one(spec: &str) -> (Option<String>, Option<String>, u16, String) {
        let p = parse_port(spec).unwrap();
        assert_eq!(p.len(), 1, "{spec}");
        let p = &p[0];
        (p.host_ip.clone(), p.published.clone(), p.target, p.protocol.clone().unwrap())
    }

    #[test]
    fn short_forms() {
        assert_eq!(one("80"), (None, None, 80, "tcp".into()));
        assert_eq!(one("8080:80"), (None, Some("8080".into()), 80, "tcp".into()));
        assert_eq!(one("127.0.0.1:8080:80/udp"), (Some("127.0.0.1".into()), Some("8080".into()), 80, "udp".into()));
        assert_eq!(one("127.0.0.1::80"), (Some("127.0.0.1".into()), None, 80, "tcp".into()));
        assert_eq!(one("[::1]:6000:6000"), (Some("::1".into()), Some("6000".into()), 6000, "tcp".into()));
        assert_eq!(one("8000-8010:80"), (None, Some("8000-8010".into()), 80, "tcp".into()));
    }

    #[test]
    fn ranges_expand() {
        let p = parse_port("9090-9091:8080-8081").unwrap();
        assert_eq!(
            p.iter().map(|p| (p.published.clone().unwrap(), p.target)).collect::<Vec<_>>(),
            vec![("9090".to_string(), 8080), ("9091".to_string(), 8081)]
        );
        assert_eq!(parse_port("3000-3002").unwrap().len(), 3);
    }

    #[test]
    fn invalid() {
        for bad in ["http", "80:80:80:80", "70000", "80/tcpx", "9-1", "1-3:5-6"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }
}
