//! Who may ask the server anything: the `Host` check (no DNS rebinding) and, off loopback, the
//! token.
//!
//! Invariant: the `Host` check is never off. A request's `Host` must be a name the server was
//! bound to or told to allow, `localhost`, or an IP literal (loopback ones only, on a
//! loopback bind) — a page of another site that rebinds its own name to this address sends
//! that name and is refused. Off loopback, every request must also carry the token printed at
//! start (`?token=` in the URL, remembered in an `HttpOnly`, `SameSite=Strict` cookie).

use std::net::IpAddr;

use super::message::Response;

/// The cookie that carries the token after the first request.
const COOKIE: &str = "tracing_rollout_token";

/// The server's admission rules.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// Bound to a loopback address: only loopback IP literals pass as `Host`.
    loopback: bool,
    /// Names allowed as `Host` besides `localhost` and IP literals (lowercase, no port).
    names: Vec<String>,
    /// Required off loopback.
    token: Option<String>,
}

/// What an admitted request needs besides its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// The token came in the URL: set the cookie so the page's own requests carry it.
    pub(crate) set_cookie: bool,
}

impl Access {
    /// Rules for a server bound to a `loopback` address, allowing `names` as `Host` and
    /// requiring `token` if given.
    pub(crate) fn new(loopback: bool, names: Vec<String>, token: Option<String>) -> Access {
        let names = names
            .into_iter()
            .map(|n| host_name(&n).to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        Access {
            loopback,
            names,
            token,
        }
    }

    /// The token, if one is required.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `Set-Cookie` value that remembers the token.
    pub(crate) fn cookie(&self) -> Option<String> {
        self.token
            .as_ref()
            .map(|t| format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict"))
    }

    /// Admits a request with these `Host`, `?token=` and `Cookie` values, or refuses it.
    pub(crate) fn admit(
        &self,
        host: Option<&str>,
        query_token: Option<&str>,
        cookies: Option<&str>,
    ) -> Result<Admitted, Response> {
        if let Some(host) = host {
            if !self.host_allowed(host) {
                return Err(Response::text(
                    403,
                    "refused: the Host header names neither this server nor an address",
                ));
            }
        }
        let Some(token) = &self.token else {
            return Ok(Admitted { set_cookie: false });
        };
        if query_token.is_some_and(|t| same(t, token)) {
            return Ok(Admitted { set_cookie: true });
        }
        let from_cookie = cookies.into_iter().flat_map(|c| c.split(';')).any(|pair| {
            pair.trim()
                .strip_prefix(COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|t| same(t, token))
        });
        if from_cookie {
            return Ok(Admitted { set_cookie: false });
        }
        Err(Response::text(
            403,
            "refused: this server needs the token it printed at start (?token=…)",
        ))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name == "localhost" || self.names.contains(&name) {
            return true;
        }
        match name.parse::<IpAddr>() {
            // An IP literal cannot be a rebound name.
            Ok(ip) => !self.loopback || ip.is_loopback(),
            Err(_) => false,
        }
    }
}

/// The name part of a `Host` value or an address: without the port, without IPv6 brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        // One colon: name:port. More: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Compares two tokens in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A fresh random token: 128 bits as 32 hex digits, from the system's random source.
pub(crate) fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_server_admits_loopback_names_only() {
        let access = Access::new(true, vec!["127.0.0.1:8040".to_owned()], None);
        for host in [
            "127.0.0.1:8040",
            "localhost",
            "LOCALHOST:1",
            "[::1]:80",
            "127.0.0.2",
        ] {
            assert!(access.admit(Some(host), None, None).is_ok(), "{host}");
        }
        for host in ["attacker.example", "10.0.0.1", "localhost.attacker.example"] {
            assert_eq!(
                access.admit(Some(host), None, None).map_err(|r| r.status),
                Err(403),
                "{host}"
            );
        }
        assert!(access.admit(None, None, None).is_ok(), "HTTP/1.0");
    }

    #[test]
    fn off_loopback_the_host_check_stays_and_the_token_is_required() {
        let token = "0123456789abcdef0123456789abcdef".to_owned();
        let access = Access::new(false, vec!["box.lan:8040".to_owned()], Some(token.clone()));
        let refused = |host, query, cookie| {
            access
                .admit(Some(host), query, cookie)
                .map_err(|r| r.status)
                .err()
        };
        assert_eq!(
            refused("attacker.example", Some(token.as_str()), None),
            Some(403)
        );
        assert_eq!(refused("box.lan", None, None), Some(403), "no token");
        assert_eq!(refused("box.lan", Some("0123"), None), Some(403));
        assert_eq!(
            access.admit(Some("box.lan:8040"), Some(&token), None),
            Ok(Admitted { set_cookie: true })
        );
        let cookie = format!("a=b; {COOKIE}={token}");
        assert_eq!(
            access.admit(Some("192.168.1.5:8040"), None, Some(&cookie)),
            Ok(Admitted { set_cookie: false })
        );
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (
            new_token().unwrap_or_default(),
            new_token().unwrap_or_default(),
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
