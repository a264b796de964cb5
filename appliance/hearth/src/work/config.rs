//! `[work]`: where the boards' work comes from.
//!
//! ```toml
//! [work]
//! # With --sim and no pool configured: mine into an in-process Stratum pool.
//! sim_pool = true
//!
//! [[work.pool]]             # tried in this order; the first reachable feeds the boards
//! name = "solo"
//! url = "stratum+tcp://solo.example.org:3333"
//! user = "bc1q...your-address.heater"
//! password = "x"
//! ```
//!
//! With no reachable pool the boards heat on local heat-only work.

use crate::config::ConfigError;
use hearth_work::stratum::FollowReconnect;
use serde::{Deserialize, Serialize};

/// One pool. `Debug` leaves the password out (it must never reach a log).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolEntry {
    pub name: String,
    /// `stratum+tcp://host:port` or `host:port`.
    pub url: String,
    pub user: String,
    #[serde(default = "default_password")]
    pub password: String,
    /// Which `client.reconnect` targets to follow: `same_host` (default:
    /// the configured host, any port), `any_host`, or `never`.
    #[serde(default, skip_serializing_if = "is_same_host")]
    pub follow_reconnect: FollowReconnect,
}

fn is_same_host(f: &FollowReconnect) -> bool {
    *f == FollowReconnect::SameHost
}

impl std::fmt::Debug for PoolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolEntry")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("follow_reconnect", &self.follow_reconnect)
            .finish()
    }
}

fn default_password() -> String {
    "x".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkConfig {
    #[serde(rename = "pool")]
    pub pools: Vec<PoolEntry>,
    /// With `--sim` and no pool: an in-process Stratum pool.
    pub sim_pool: bool,
    /// Seconds a preferred source must stay up before it takes over again.
    pub switch_back_after_s: u64,
    /// BIP310 mask to ask pools for.
    pub version_mask: u32,
    /// Our sharechain node asks the Bitcoin node for a fresh template (new
    /// transactions, fees) at least this often, without a new block or
    /// share tip; LAN miners and chains get it as a job that is not clean.
    pub template_refresh_s: u64,
    /// `[work.server]`: the LAN Stratum server (off by default).
    pub server: LanServerConfig,
}

/// `[work.server]`: other miners in the house (a Bitaxe, an old S9) point
/// their stock firmware at the Pi and mine on the current source's work.
///
/// ```toml
/// [work.server]
/// enabled = true
/// listen = "0.0.0.0:3333"
/// max_connections = 16
/// difficulty = 1024.0   # start (and, with vardiff = false, fixed) share difficulty
/// vardiff = true        # aim at one share per target_share_interval_s
/// password = "..."      # optional: mining.authorize must carry it
/// ```
///
/// `Debug` leaves the password out (it must never reach a log).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanServerConfig {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
    pub max_connections: usize,
    pub difficulty: f64,
    pub vardiff: bool,
    pub min_difficulty: f64,
    pub max_difficulty: f64,
    pub target_share_interval_s: u64,
    /// When set, every miner's `mining.authorize` must carry exactly this
    /// password; `None` leaves the server open to the LAN.
    pub password: Option<String>,
}

impl std::fmt::Debug for LanServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanServerConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("difficulty", &self.difficulty)
            .field("vardiff", &self.vardiff)
            .field("min_difficulty", &self.min_difficulty)
            .field("max_difficulty", &self.max_difficulty)
            .field("target_share_interval_s", &self.target_share_interval_s)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for LanServerConfig {
    fn default() -> LanServerConfig {
        LanServerConfig {
            enabled: false,
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 3333)),
            max_connections: 16,
            difficulty: 1024.0,
            vardiff: true,
            min_difficulty: 1.0 / 1_048_576.0,
            max_difficulty: 1e12,
            target_share_interval_s: 10,
            password: None,
        }
    }
}

impl LanServerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |d: f64| d.is_finite() && d > 0.0;
        if self.max_connections == 0 || self.max_connections > 1024 {
            return Err(invalid(
                "work.server.max_connections".into(),
                "must be 1-1024",
            ));
        }
        for (key, d) in [
            ("difficulty", self.difficulty),
            ("min_difficulty", self.min_difficulty),
            ("max_difficulty", self.max_difficulty),
        ] {
            if !positive(d) {
                return Err(invalid(
                    format!("work.server.{key}"),
                    "must be a positive number",
                ));
            }
        }
        if self.min_difficulty > self.max_difficulty
            || !(self.min_difficulty..=self.max_difficulty).contains(&self.difficulty)
        {
            return Err(invalid(
                "work.server.difficulty".into(),
                "must lie between min_difficulty and max_difficulty",
            ));
        }
        if !(1..=600).contains(&self.target_share_interval_s) {
            return Err(invalid(
                "work.server.target_share_interval_s".into(),
                "must be 1-600",
            ));
        }
        // Miners' firmware takes short printable passwords; a control
        // character would not survive their settings pages.
        if let Some(p) = &self.password {
            if p.len() < 8 || p.len() > 128 || p.chars().any(char::is_control) {
                return Err(invalid(
                    "work.server.password".into(),
                    "must be 8-128 characters, none of them control characters",
                ));
            }
        }
        Ok(())
    }
}

impl Default for WorkConfig {
    fn default() -> WorkConfig {
        WorkConfig {
            pools: Vec::new(),
            sim_pool: true,
            switch_back_after_s: 30,
            version_mask: 0x1FFF_E000,
            template_refresh_s: 30,
            server: LanServerConfig::default(),
        }
    }
}

fn invalid(key: String, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// `host:port` from a pool URL.
pub fn pool_address(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("stratum+tcp://")
        .or_else(|| url.strip_prefix("stratum://"))
        .unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    if host.is_empty()
        || host.contains('/')
        || port.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return None;
    }
    Some(rest.to_string())
}

impl WorkConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, p) in self.pools.iter().enumerate() {
            if p.name.is_empty() || p.name.len() > 64 {
                return Err(invalid(
                    format!("work.pool[{i}].name"),
                    "must be 1-64 characters",
                ));
            }
            if pool_address(&p.url).is_none() {
                return Err(invalid(
                    format!("work.pool[{i}].url"),
                    "must be stratum+tcp://host:port",
                ));
            }
            if p.user.is_empty() || p.user.len() > 128 {
                return Err(invalid(
                    format!("work.pool[{i}].user"),
                    "must be 1-128 characters",
                ));
            }
        }
        if self.switch_back_after_s > 3600 {
            return Err(invalid(
                "work.switch_back_after_s".into(),
                "must be at most 3600",
            ));
        }
        if self.version_mask & 0xE000_1FFF != 0 {
            return Err(invalid(
                "work.version_mask".into(),
                "may only contain BIP320's general-purpose bits 0x1fffe000",
            ));
        }
        if !(1..=600).contains(&self.template_refresh_s) {
            return Err(invalid("work.template_refresh_s".into(), "must be 1-600"));
        }
        self.server.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_bad_entries() {
        assert_eq!(
            pool_address("stratum+tcp://pool.example:3333").as_deref(),
            Some("pool.example:3333")
        );
        assert_eq!(pool_address("127.0.0.1:1").as_deref(), Some("127.0.0.1:1"));
        for bad in [
            "pool.example",
            "stratum+tcp://:3333",
            "x:0",
            "x:99999",
            "http://a/b:1",
        ] {
            assert!(pool_address(bad).is_none(), "{bad}");
        }
        let mut c = WorkConfig::default();
        assert!(c.validate().is_ok());
        c.pools.push(PoolEntry {
            name: "p".into(),
            url: "nope".into(),
            user: "u".into(),
            password: "x".into(),
            follow_reconnect: FollowReconnect::default(),
        });
        assert!(c.validate().is_err());
        let c = WorkConfig {
            version_mask: 0xFFFF_FFFF,
            ..WorkConfig::default()
        };
        assert!(c.validate().is_err());
        for (s, ok) in [(0, false), (1, true), (600, true), (601, false)] {
            let c = WorkConfig {
                template_refresh_s: s,
                ..WorkConfig::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "template_refresh_s = {s}");
        }
    }

    #[test]
    fn follow_reconnect_defaults_to_the_same_host_and_takes_three_words() {
        let pool = |extra: &str| {
            toml::from_str::<WorkConfig>(&format!(
                "[[pool]]\nname = \"p\"\nurl = \"p.example:1\"\nuser = \"u\"\n{extra}"
            ))
        };
        let c = pool("").unwrap();
        assert_eq!(c.pools[0].follow_reconnect, FollowReconnect::SameHost);
        for (word, want) in [
            ("same_host", FollowReconnect::SameHost),
            ("any_host", FollowReconnect::AnyHost),
            ("never", FollowReconnect::Never),
        ] {
            let c = pool(&format!("follow_reconnect = \"{word}\"")).unwrap();
            assert_eq!(c.pools[0].follow_reconnect, want);
        }
        let err = pool("follow_reconnect = \"sometimes\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sometimes") && err.contains("any_host"),
            "{err}"
        );
    }

    #[test]
    fn the_lan_server_is_off_by_default_and_bad_values_name_their_key() {
        let c: WorkConfig = toml::from_str("").unwrap();
        assert!(!c.server.enabled);
        let c: WorkConfig = toml::from_str(
            "[server]\nenabled = true\nlisten = \"127.0.0.1:3334\"\ndifficulty = 0.5\n",
        )
        .unwrap();
        assert!(c.server.enabled && c.validate().is_ok());
        for (toml_text, key) in [
            ("[server]\nmax_connections = 0\n", "max_connections"),
            ("[server]\ndifficulty = 0.0\n", "difficulty"),
            ("[server]\ndifficulty = nan\n", "difficulty"),
            ("[server]\ndifficulty = 1e13\n", "difficulty"),
            (
                "[server]\ntarget_share_interval_s = 0\n",
                "target_share_interval_s",
            ),
            ("[server]\npassword = \"short\"\n", "password"),
            ("[server]\npassword = \"\"\n", "password"),
            ("[server]\npassword = \"with\\nnewline\"\n", "password"),
        ] {
            let c: WorkConfig = toml::from_str(toml_text).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{toml_text}: {e}");
        }
        assert!(toml::from_str::<WorkConfig>("[server]\nlisten = \"nope\"\n").is_err());
        assert!(toml::from_str::<WorkConfig>("[server]\nbogus = 1\n").is_err());
        let c: WorkConfig = toml::from_str("[server]\npassword = \"stove-pipe-42\"\n").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.server.password.as_deref(), Some("stove-pipe-42"));
        let shown = format!("{:?}", c.server);
        assert!(
            !shown.contains("stove-pipe-42") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
