//! Parsing of durations, `host:port`, dependency URLs and plain-HTTP URLs.
//!
//! No URL crate: the agent only needs the authority of a connection string
//! and the path of an `http://` URL.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty value")]
    Empty,
    #[error("invalid duration {0:?} (use e.g. 500ms, 2s, 5m, 1h or plain seconds)")]
    Duration(String),
    #[error("no host in {0:?}")]
    NoHost(String),
    #[error("invalid port in {0:?}")]
    Port(String),
    #[error("no port in {0:?} and scheme {1:?} has no known default port")]
    NoPort(String, String),
    #[error("unsupported scheme {0:?} (plain http:// only; the agent has no TLS)")]
    Scheme(String),
}

/// `500ms`, `2s`, `5m`, `1h`, `1.5s` or a plain number of seconds (`300`).
pub fn duration(s: &str) -> Result<Duration, ParseError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ParseError::Empty);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| ParseError::Duration(s.into()))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(ParseError::Duration(s.into())),
    };
    if !secs.is_finite() || !(0.0..=365.0 * 86400.0).contains(&secs) {
        return Err(ParseError::Duration(s.into()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A host (name, IPv4 or IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The well-known port of a connection-string scheme.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => 5432,
        "redis" | "rediss" => 6379,
        "amqp" => 5672,
        "amqps" => 5671,
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "mysql" | "mariadb" => 3306,
        "mongodb" => 27017,
        "nats" => 4222,
        "kafka" => 9092,
        "memcached" => 11211,
        "ldap" => 389,
        "ldaps" => 636,
        "smtp" => 25,
        "clickhouse" => 9000,
        "elasticsearch" | "opensearch" => 9200,
        "minio" | "s3" => 9000,
        _ => return None,
    })
}

/// Split an authority (`user:pw@host:port`, `[::1]:5432`, `host`) into host and
/// optional port. Userinfo is dropped (everything up to the LAST `@`).
fn split_authority(authority: &str, whole: &str) -> Result<(String, Option<u16>), ParseError> {
    let hp = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    let port_of = |p: &str| -> Result<Option<u16>, ParseError> {
        if p.is_empty() {
            return Ok(None);
        }
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(ParseError::Port(whole.into())),
            Ok(n) => Ok(Some(n)),
        }
    };
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| ParseError::NoHost(whole.into()))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if after.is_empty() => None,
            None => return Err(ParseError::Port(whole.into())),
        };
        (host.to_string(), port)
    } else if hp.matches(':').count() > 1 {
        // A bare IPv6 address: no port.
        (hp.to_string(), None)
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), port_of(p)?),
            None => (hp.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(ParseError::NoHost(whole.into()));
    }
    Ok((host, port))
}

/// `host:port` or `[v6]:port`; the port is required.
pub fn host_port(s: &str) -> Result<HostPort, ParseError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ParseError::Empty);
    }
    match split_authority(t, t)? {
        (host, Some(port)) => Ok(HostPort { host, port }),
        (_, None) => Err(ParseError::Port(t.into())),
    }
}

/// The `host:port` of a dependency given as an env value: a URL
/// (`postgres://user:pass@db:5432/app`, `redis://:pw@cache/0`,
/// `amqp://mq`, `http://api:8080/x`, `jdbc:postgresql://db/app`) or a plain
/// `host:port`. A URL without a port takes its scheme's default port
/// ([`default_port`]). For a multi-host URL (`postgres://a:5432,b:5432/db`)
/// the first host is taken.
pub fn dependency_target(value: &str) -> Result<HostPort, ParseError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(ParseError::Empty);
    }
    let t = t.strip_prefix("jdbc:").unwrap_or(t);
    let Some((scheme, rest)) = t.split_once("://") else {
        return host_port(t);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Multi-host: keep the first; userinfo (which may contain ',') comes first.
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    let first = hosts.split(',').next().unwrap_or("");
    let (host, port) = split_authority(&format!("{userinfo}{first}"), value)?;
    let port = match port {
        Some(p) => p,
        None => {
            default_port(scheme).ok_or_else(|| ParseError::NoPort(value.into(), scheme.into()))?
        }
    };
    Ok(HostPort { host, port })
}

/// A plain `http://` URL split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub target: HostPort,
    /// Path and query, at least `/`.
    pub path_and_query: String,
    /// Value of the Host header (`host` or `host:port` when not 80).
    pub host_header: String,
}

/// Parse `http://host[:port][/path][?query]`. `https://` is refused (no TLS).
pub fn http_url(s: &str) -> Result<HttpUrl, ParseError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ParseError::Empty);
    }
    let (scheme, rest) = t.split_once("://").unwrap_or(("http", t));
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(ParseError::Scheme(scheme.into()));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = split_authority(authority, t)?;
    let port = port.unwrap_or(80);
    let tail = tail.split('#').next().unwrap_or("");
    let path_and_query = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    let target = HostPort { host, port };
    let host_header = if port == 80 {
        if target.host.contains(':') {
            format!("[{}]", target.host)
        } else {
            target.host.clone()
        }
    } else {
        target.to_string()
    };
    Ok(HttpUrl {
        target,
        path_and_query,
        host_header,
    })
}

/// The value of query parameter `key` in `path?a=1&b=2`.
pub fn query_param<'a>(path_and_query: &'a str, key: &str) -> Option<&'a str> {
    let (_, q) = path_and_query.split_once('?')?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(h: &str, p: u16) -> HostPort {
        HostPort::new(h, p)
    }

    #[test]
    fn durations() {
        assert_eq!(duration("120s").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(duration("").is_err());
        assert!(duration("abc").is_err());
        assert!(duration("5d").is_err());
        assert!(duration("-1s").is_err());
    }

    #[test]
    fn plain_host_port() {
        assert_eq!(host_port("db:5432").unwrap(), hp("db", 5432));
        assert_eq!(host_port("127.0.0.1:6379").unwrap(), hp("127.0.0.1", 6379));
        assert_eq!(host_port("[::1]:80").unwrap(), hp("::1", 80));
        assert_eq!(hp("::1", 80).to_string(), "[::1]:80");
        assert!(host_port("db").is_err());
        assert!(host_port("db:").is_err());
        assert!(host_port("db:0").is_err());
        assert!(host_port("db:99999").is_err());
        assert!(host_port(":5432").is_err());
    }

    #[test]
    fn dependency_urls() {
        let cases = [
            (
                "postgres://user:pass@db.ns.svc:5432/app",
                hp("db.ns.svc", 5432),
            ),
            (
                "postgresql://user:pass@db/app?sslmode=disable",
                hp("db", 5432),
            ),
            ("redis://:pw@cache:6380/0", hp("cache", 6380)),
            ("redis://:pw@cache/0", hp("cache", 6379)),
            ("redis://cache", hp("cache", 6379)),
            ("amqp://guest:guest@mq:5672/%2f", hp("mq", 5672)),
            ("amqp://mq", hp("mq", 5672)),
            ("amqps://mq", hp("mq", 5671)),
            ("http://api:8080/health", hp("api", 8080)),
            ("http://api", hp("api", 80)),
            ("https://api/x", hp("api", 443)),
            ("mongodb://u:p@mongo", hp("mongo", 27017)),
            ("jdbc:postgresql://db:5433/app", hp("db", 5433)),
            ("postgres://u:p@a:5432,b:5432/db", hp("a", 5432)),
            ("postgres://u:p@w@rd@db/app", hp("db", 5432)),
            ("postgres://[fd00::1]:5432/db", hp("fd00::1", 5432)),
            ("postgres://[fd00::1]/db", hp("fd00::1", 5432)),
            ("db:5432", hp("db", 5432)),
            ("  minio:9000 ", hp("minio", 9000)),
        ];
        for (input, want) in cases {
            assert_eq!(dependency_target(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "db",
            "foo://db",
            "postgres://:5432/db",
            "postgres://u:p@/db",
            "redis://cache:abc",
        ] {
            assert!(dependency_target(bad).is_err(), "{bad:?} should fail");
        }
        assert!(matches!(
            dependency_target("foo://db"),
            Err(ParseError::NoPort(..))
        ));
    }

    #[test]
    fn http_urls() {
        let u = http_url("http://svc:8103/healthcheck").unwrap();
        assert_eq!(u.target, hp("svc", 8103));
        assert_eq!(u.path_and_query, "/healthcheck");
        assert_eq!(u.host_header, "svc:8103");
        let u = http_url("http://svc").unwrap();
        assert_eq!(
            (
                u.target.port,
                u.path_and_query.as_str(),
                u.host_header.as_str()
            ),
            (80, "/", "svc")
        );
        let u = http_url("http://127.0.0.1:9/burn?ms=5#frag").unwrap();
        assert_eq!(u.path_and_query, "/burn?ms=5");
        let u = http_url("svc:81?x=1").unwrap();
        assert_eq!((u.target.port, u.path_and_query.as_str()), (81, "/?x=1"));
        assert!(matches!(
            http_url("https://svc/"),
            Err(ParseError::Scheme(_))
        ));
        assert!(http_url("http:///x").is_err());
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("/burn?ms=200", "ms"), Some("200"));
        assert_eq!(query_param("/burn?a=1&ms=7", "ms"), Some("7"));
        assert_eq!(query_param("/burn", "ms"), None);
    }
}
