//! Where a pool's `client.reconnect` may send us.
//!
//! `client.reconnect [host, port, wait]` asks a miner to log in again,
//! usually elsewhere. Followed blindly, it lets whoever can inject one line
//! into the session (a pool, or anyone on the path of a plain-TCP Stratum
//! connection) send our user and password, and our hashrate, to a host of
//! their choosing (docs/security.md, "malicious pool"). Pools use it
//! mostly to move miners between ports or front ends of the *same* host
//! name, so by default only that is followed: the configured host with
//! the port the pool names. Another host is followed only when the pool is
//! configured with `follow_reconnect = "any_host"`.

use serde::{Deserialize, Serialize};

/// Which `client.reconnect` targets a pool connection follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowReconnect {
    /// The configured host only (any port). The default.
    #[default]
    SameHost,
    /// Any host the pool names.
    AnyHost,
    /// None: reconnect to the configured address.
    Never,
}

/// Why a `client.reconnect` was not followed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconnectRefused {
    #[error(
        "the pool asked to reconnect to another host ({asked}); staying on {configured} \
         (follow_reconnect = \"any_host\" on this pool allows it)"
    )]
    OtherHost { asked: String, configured: String },
    #[error("the pool asked to reconnect to {asked}; staying on {configured} (follow_reconnect = \"never\")")]
    Disabled { asked: String, configured: String },
    #[error("the pool asked to reconnect to a host that is not a host name or address ({0:?})")]
    BadHost(String),
    #[error("the configured address {0:?} is not host:port")]
    BadConfigured(String),
}

/// The longest host name a reconnect may name (DNS's limit).
const MAX_HOST_LEN: usize = 253;

/// The address to connect to after `client.reconnect` with `host` and
/// `port` (each optional: absent or empty means the current one), given
/// the configured `host:port` (IPv6 in brackets). Host names compare
/// without case and without a trailing dot.
pub fn reconnect_address(
    configured: &str,
    host: Option<&str>,
    port: Option<u16>,
    follow: FollowReconnect,
) -> Result<String, ReconnectRefused> {
    let (conf_host, conf_port) = split_host_port(configured)
        .ok_or_else(|| ReconnectRefused::BadConfigured(configured.to_string()))?;
    let asked_host = host.map(str::trim).filter(|h| !h.is_empty());
    if let Some(h) = asked_host {
        if h.len() > MAX_HOST_LEN
            || !h.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
            })
        {
            return Err(ReconnectRefused::BadHost(h.chars().take(64).collect()));
        }
    }
    let asked_host = asked_host.map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    let new_host = asked_host.unwrap_or(conf_host);
    let new_port = port.filter(|p| *p != 0).unwrap_or(conf_port);
    let target = join_host_port(new_host, new_port);
    let same = same_host(new_host, conf_host);
    match follow {
        FollowReconnect::Never if target != join_host_port(conf_host, conf_port) => {
            Err(ReconnectRefused::Disabled {
                asked: target,
                configured: configured.to_string(),
            })
        }
        FollowReconnect::Never => Ok(target),
        FollowReconnect::SameHost if !same => Err(ReconnectRefused::OtherHost {
            asked: target,
            configured: configured.to_string(),
        }),
        // The configured spelling of the host, the pool's port.
        FollowReconnect::SameHost => Ok(join_host_port(conf_host, new_port)),
        FollowReconnect::AnyHost => Ok(target),
    }
}

fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// `host:port` or `[v6]:port` into its parts (the host without brackets).
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port != 0).then_some((host, port))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FollowReconnect::*;

    #[test]
    fn the_same_host_on_another_port_is_followed_by_default() {
        let go = |h, p| reconnect_address("pool.example.org:3333", h, p, SameHost);
        assert_eq!(
            go(Some("pool.example.org"), Some(4444)),
            Ok("pool.example.org:4444".into())
        );
        // Case and a trailing dot make no other host; the configured
        // spelling is kept.
        assert_eq!(
            go(Some("POOL.Example.org."), Some(4444)),
            Ok("pool.example.org:4444".into())
        );
        // No host, or an empty one: this host. No port, or 0: this port.
        assert_eq!(go(None, Some(25)), Ok("pool.example.org:25".into()));
        assert_eq!(go(Some(""), None), Ok("pool.example.org:3333".into()));
        assert_eq!(go(Some("  "), Some(0)), Ok("pool.example.org:3333".into()));
        assert_eq!(
            reconnect_address("[fd00::1]:3333", Some("[FD00::1]"), Some(3334), SameHost),
            Ok("[fd00::1]:3334".into())
        );
    }

    #[test]
    fn another_host_is_refused_unless_the_pool_allows_it() {
        let asked = (Some("evil.example.net"), Some(3333));
        let refused = reconnect_address("pool.example.org:3333", asked.0, asked.1, SameHost);
        assert_eq!(
            refused,
            Err(ReconnectRefused::OtherHost {
                asked: "evil.example.net:3333".into(),
                configured: "pool.example.org:3333".into(),
            })
        );
        let why = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(why.contains("any_host"), "{why}");
        // A sub-domain or a look-alike is another host too.
        for h in [
            "eu.pool.example.org",
            "pool.example.org.evil.net",
            "10.0.0.5",
        ] {
            assert!(
                reconnect_address("pool.example.org:3333", Some(h), None, SameHost).is_err(),
                "{h}"
            );
        }
        assert_eq!(
            reconnect_address("pool.example.org:3333", asked.0, asked.1, AnyHost),
            Ok("evil.example.net:3333".into())
        );
        assert_eq!(
            reconnect_address("pool.example.org:3333", Some("fd00::2"), Some(1), AnyHost),
            Ok("[fd00::2]:1".into())
        );
    }

    #[test]
    fn never_stays_on_the_configured_address() {
        let c = "pool.example.org:3333";
        assert!(matches!(
            reconnect_address(c, None, Some(4444), Never),
            Err(ReconnectRefused::Disabled { .. })
        ));
        // A reconnect to where we are is just a reconnect.
        assert_eq!(reconnect_address(c, None, None, Never), Ok(c.into()));
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let c = "pool.example.org:3333";
        for h in [
            "pool example",
            "host/../x",
            "a\nb",
            "\u{202e}moc.live",
            &"a".repeat(300),
        ] {
            assert!(
                matches!(
                    reconnect_address(c, Some(h), None, AnyHost),
                    Err(ReconnectRefused::BadHost(_))
                ),
                "{h:?}"
            );
        }
        for bad in ["no-port", "host:", ":3333", "host:99999", "host:0"] {
            assert!(
                matches!(
                    reconnect_address(bad, None, None, SameHost),
                    Err(ReconnectRefused::BadConfigured(_))
                ),
                "{bad}"
            );
        }
    }
}
