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
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolEntry {
    pub name: String,
    /// `stratum+tcp://host:port` or `host:port`.
    pub url: String,
    pub user: String,
    #[serde(default = "default_password")]
    pub password: String,
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
}

impl Default for WorkConfig {
    fn default() -> WorkConfig {
        WorkConfig {
            pools: Vec::new(),
            sim_pool: true,
            switch_back_after_s: 30,
            version_mask: 0x1FFF_E000,
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
        });
        assert!(c.validate().is_err());
        let c = WorkConfig {
            version_mask: 0xFFFF_FFFF,
            ..WorkConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
