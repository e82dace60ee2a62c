//! The server a benchmark may load: a plain `http://` URL whose host is, or resolves only to, a
//! loopback address. Everything else is refused before a single request is sent: load is never
//! aimed at another machine.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Longest accepted URL; a base URL is a host and a port.
pub const URL_CHARS_MAX: usize = 256;

/// A checked benchmark target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The loopback socket address requests go to (resolved once, so a name cannot change
    /// meaning between the check and the load).
    pub addr: SocketAddr,
    /// `http://<addr>`, without a trailing slash; paths are appended to it.
    pub base: String,
}

/// Why a target URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the URL is longer than {URL_CHARS_MAX} characters")]
    TooLong,
    #[error("only http:// URLs are supported (plain HTTP to a loopback server), not {0:?}")]
    Scheme(String),
    #[error("malformed URL {0:?}: expected http://HOST[:PORT] such as http://127.0.0.1:8080")]
    Malformed(String),
    #[error(
        "refusing to load {host}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed"
    )]
    NotLoopback { host: String },
    #[error("cannot resolve {host}: {reason}")]
    Unresolvable { host: String, reason: String },
}

impl TargetError {
    pub fn code(&self) -> &'static str {
        match self {
            TargetError::TooLong => "target_too_long",
            TargetError::Scheme(_) => "target_scheme_unsupported",
            TargetError::Malformed(_) => "target_malformed",
            TargetError::NotLoopback { .. } => "target_not_loopback",
            TargetError::Unresolvable { .. } => "target_unresolvable",
        }
    }
}

impl Target {
    /// Parses `http://HOST[:PORT][/]` and checks that every address HOST names is loopback.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        if url.len() > URL_CHARS_MAX {
            return Err(TargetError::TooLong);
        }
        let malformed = || TargetError::Malformed(url.to_owned());
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(malformed());
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(TargetError::Scheme(scheme.to_owned()));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.contains(['/', '@', '?', '#'])
            || authority
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(malformed());
        }
        let (host, port) = split_host_port(authority).ok_or_else(malformed)?;
        let refused = || TargetError::NotLoopback {
            host: host.to_owned(),
        };
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            // Names are resolved, and every answer must be loopback: "localhost" qualifies, a
            // name that also (or only) points elsewhere does not.
            Err(_) => (host, port)
                .to_socket_addrs()
                .map_err(|err| TargetError::Unresolvable {
                    host: host.to_owned(),
                    reason: err.to_string(),
                })?
                .collect(),
        };
        let addr = *addrs.first().ok_or_else(refused)?;
        if !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(refused());
        }
        Ok(Target {
            addr,
            base: format!("http://{addr}"),
        })
    }

    /// `base` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `host:port`, `[v6]:port`, `host` or `[v6]` (port 80).
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().ok().filter(|&p| p != 0)?
        }
        Some(_) => return None,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_accepted() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(t.base, "http://127.0.0.1:8080");
        assert_eq!(t.url("/v1/x"), "http://127.0.0.1:8080/v1/x");
        assert_eq!(
            Target::parse("http://127.9.8.7:1/").unwrap().base,
            "http://127.9.8.7:1"
        );
        assert_eq!(
            Target::parse("HTTP://[::1]:9000").unwrap().base,
            "http://[::1]:9000"
        );
        assert_eq!(Target::parse("http://127.0.0.1").unwrap().addr.port(), 80);
        let local = Target::parse("http://localhost:8080").unwrap();
        assert!(local.addr.ip().is_loopback(), "{local:?}");
    }

    #[test]
    fn other_hosts_are_refused() {
        for url in [
            "http://10.0.0.1:8080",
            "http://192.168.1.10",
            "http://8.8.8.8:80",
            "http://[2001:db8::1]:8080",
            "http://0.0.0.0:8080",
        ] {
            let err = Target::parse(url).unwrap_err();
            assert_eq!(err.code(), "target_not_loopback", "{url}: {err}");
            assert!(err.to_string().contains("only loopback"), "{err}");
        }
        // A name that is not loopback is refused, whether or not it resolves here.
        let err = Target::parse("http://example.com:8080").unwrap_err();
        assert!(
            matches!(
                err,
                TargetError::NotLoopback { .. } | TargetError::Unresolvable { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_urls_are_refused() {
        assert_eq!(
            Target::parse("https://127.0.0.1").unwrap_err().code(),
            "target_scheme_unsupported"
        );
        for url in [
            "127.0.0.1:8080",
            "http://",
            "http://127.0.0.1:8080/v1",
            "http://user@127.0.0.1",
            "http://127.0.0.1:",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:8x",
            "http://[::1",
            "http://[::1]x",
            "http://127.0.0.1 :80",
        ] {
            assert_eq!(
                Target::parse(url).unwrap_err().code(),
                "target_malformed",
                "{url}"
            );
        }
        let long = format!("http://127.0.0.1/{}", "a".repeat(URL_CHARS_MAX));
        assert_eq!(Target::parse(&long).unwrap_err().code(), "target_too_long");
    }
}
