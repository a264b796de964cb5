//! Work sources changed at run time (`PUT /api/v1/settings/work`): the
//! override file that keeps them across restarts, and the plan the work
//! service restarts its sources with.
//!
//! The override holds the ordered source list only: whether our sharechain
//! node is a source (always first when it is) and the Stratum pools in
//! failover order. It replaces the config file's `[[work.pool]]` list and
//! the sharechain-as-source choice; everything else in `[work]` (the
//! simulation pool, `switch_back_after_s`, `version_mask`, `[work.server]`)
//! and `[sharechain]` itself (whether the node runs) stay file-only.

use super::client::PoolConfig;
use super::config::{PoolEntry, WorkConfig};
use super::WorkOptions;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// In the data directory; written whole (0600: it holds pool passwords),
/// then renamed into place.
pub const WORK_SETTINGS_FILE: &str = "work-settings.json";
/// A limit on the list: more fallbacks than this help nobody.
pub const MAX_POOLS: usize = 8;
/// Longest pool password taken.
pub const MAX_PASSWORD_LEN: usize = 256;

/// The ordered source list, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Our sharechain node first in the failover order.
    pub sharechain: bool,
    /// Stratum pools after it, the first reachable feeding the boards.
    pub pools: Vec<PoolEntry>,
}

impl Sources {
    /// `base` (the config file's `[work]`) with this list instead of its pools.
    pub fn over(&self, base: &WorkConfig) -> WorkConfig {
        WorkConfig {
            pools: self.pools.clone(),
            ..base.clone()
        }
    }

    /// The checks the config file gets, and the API's limits on top:
    /// errors name the key (`work.pool[1].url`) and the reason.
    pub fn validate(&self, base: &WorkConfig, sharechain_available: bool) -> Result<(), String> {
        if self.sharechain && !sharechain_available {
            return Err(
                "config key `work.sharechain`: the sharechain node is not running \
                 (enable [sharechain] in the config file first)"
                    .into(),
            );
        }
        if self.pools.len() > MAX_POOLS {
            return Err(format!("config key `work.pool`: at most {MAX_POOLS} pools"));
        }
        for (i, p) in self.pools.iter().enumerate() {
            if p.name == super::own::SOURCE_NAME {
                return Err(format!(
                    "config key `work.pool[{i}].name`: `{}` is our own node's name",
                    super::own::SOURCE_NAME
                ));
            }
            if self.pools[..i].iter().any(|q| q.name == p.name) {
                return Err(format!(
                    "config key `work.pool[{i}].name`: `{}` is used twice",
                    p.name
                ));
            }
            if p.password.len() > MAX_PASSWORD_LEN {
                return Err(format!(
                    "config key `work.pool[{i}].password`: at most {MAX_PASSWORD_LEN} bytes"
                ));
            }
        }
        self.over(base).validate().map_err(|e| e.to_string())
    }
}

/// The override stored in `data_dir`, if any.
pub fn load(data_dir: &Path) -> Result<Option<Sources>> {
    let path = data_dir.join(WORK_SETTINGS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the override durably and owner-only (temp file 0600, fsync,
/// rename, fsync the directory): a power cut leaves the old list or the
/// new, never half of either.
pub fn store(data_dir: &Path, s: &Sources) -> Result<()> {
    let path = data_dir.join(WORK_SETTINGS_FILE);
    let body = serde_json::to_vec_pretty(s)?;
    crate::owner_only::replace(&path, &body).with_context(|| format!("writing {}", path.display()))
}

/// What the work service restarts its sources with.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    pub pools: Vec<PoolConfig>,
    pub own_source: Option<u32>,
}

/// What the daemon knows at start-up to turn a [`Sources`] into a plan.
#[derive(Debug, Clone)]
pub struct Base {
    /// The config file's `[work]`.
    pub work: WorkConfig,
    /// With `--sim`: the in-process pool, used when the list has no pool.
    pub sim_pool: Option<String>,
    /// Whether our sharechain node runs (`[sharechain]`, or `--sim`'s default).
    pub sharechain_available: bool,
}

impl Base {
    pub fn plan(&self, s: &Sources) -> SourcePlan {
        let opts = WorkOptions::from_config(&s.over(&self.work), None, self.sim_pool.clone());
        SourcePlan {
            pools: opts.pools,
            own_source: (s.sharechain && self.sharechain_available)
                .then_some(self.work.version_mask),
        }
    }

    /// The list in the config file.
    pub fn from_file(&self) -> Sources {
        Sources {
            sharechain: self.sharechain_available,
            pools: self.work.pools.clone(),
        }
    }

    /// At start-up: the stored list if there is a valid one (and whether it
    /// was used), else the config file's.
    pub fn initial(&self, data_dir: &Path) -> (Sources, bool) {
        match load(data_dir) {
            Ok(Some(s)) => match s.validate(&self.work, self.sharechain_available) {
                Ok(()) => return (s, true),
                Err(e) => {
                    tracing::warn!(error = %e, "stored work sources ignored; using the config file's")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "stored work sources unreadable; using the config file's")
            }
        }
        (self.from_file(), false)
    }
}

/// What the API holds to read and change the running work sources.
#[derive(Debug)]
pub struct WorkControl {
    pub data_dir: PathBuf,
    pub base: Base,
    state: std::sync::Mutex<(Sources, bool)>,
    tx: watch::Sender<SourcePlan>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error("could not store the work sources: {0}")]
    Storage(String),
}

impl WorkControl {
    /// The control and the receiver the work service follows.
    pub fn new(
        data_dir: PathBuf,
        base: Base,
        current: Sources,
        stored: bool,
    ) -> (WorkControl, watch::Receiver<SourcePlan>) {
        let (tx, rx) = watch::channel(base.plan(&current));
        (
            WorkControl {
                data_dir,
                base,
                state: std::sync::Mutex::new((current, stored)),
                tx,
            },
            rx,
        )
    }

    /// The list in force, and whether it came from the override file.
    pub fn current(&self) -> (Sources, bool) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks `next`, stores it, then has the work service restart its
    /// sources with it. An error before the store changes nothing.
    pub fn change(&self, next: Sources) -> Result<Sources, ChangeError> {
        next.validate(&self.base.work, self.base.sharechain_available)
            .map_err(ChangeError::Invalid)?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        store(&self.data_dir, &next).map_err(|e| ChangeError::Storage(format!("{e:#}")))?;
        *state = (next.clone(), true);
        self.tx.send_replace(self.base.plan(&next));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pool(name: &str, url: &str) -> PoolEntry {
        PoolEntry {
            name: name.into(),
            url: url.into(),
            user: "bc1qexample.heater".into(),
            password: "x".into(),
            follow_reconnect: Default::default(),
        }
    }

    #[test]
    fn the_override_round_trips_owner_only_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let s = Sources {
            sharechain: false,
            pools: vec![pool("a", "stratum+tcp://a.example:3333")],
        };
        store(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(s));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(WORK_SETTINGS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(WORK_SETTINGS_FILE), b"{\"pools\": 1}").unwrap();
        assert!(load(dir.path()).is_err());
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let p = PoolEntry {
            password: "hunter2-pool".into(),
            ..pool("a", "a.example:1")
        };
        let s = Sources {
            sharechain: false,
            pools: vec![p.clone()],
        };
        let base = Base {
            work: WorkConfig::default(),
            sim_pool: None,
            sharechain_available: false,
        };
        let text = format!("{s:?} {:?}", base.plan(&s));
        assert!(
            !text.contains("hunter2-pool") && text.contains("<redacted>"),
            "{text}"
        );
        let m = crate::mqtt::config::MqttConfig {
            password: Some("hunter2-mqtt".into()),
            ..Default::default()
        };
        let text = format!("{m:?} {:?}", crate::mqtt::live::Connection::of(&m));
        assert!(
            !text.contains("hunter2-mqtt") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn refusals_name_their_key() {
        let base = WorkConfig::default();
        let ok = |pools: Vec<PoolEntry>| Sources {
            sharechain: false,
            pools,
        };
        assert!(ok(vec![pool("a", "a.example:1")])
            .validate(&base, false)
            .is_ok());
        let long_pw = PoolEntry {
            password: "p".repeat(MAX_PASSWORD_LEN + 1),
            ..pool("a", "a.example:1")
        };
        for (s, key) in [
            (ok(vec![pool("a", "nope")]), "work.pool[0].url"),
            (
                ok(vec![pool("a", "a.example:1"), pool("a", "b.example:1")]),
                "work.pool[1].name",
            ),
            (
                ok(vec![pool("sharechain", "a.example:1")]),
                "work.pool[0].name",
            ),
            (ok(vec![pool("", "a.example:1")]), "work.pool[0].name"),
            (ok(vec![long_pw]), "work.pool[0].password"),
            (
                ok((0..=MAX_POOLS)
                    .map(|i| pool(&format!("p{i}"), "a.example:1"))
                    .collect()),
                "work.pool",
            ),
            (
                Sources {
                    sharechain: true,
                    pools: vec![],
                },
                "work.sharechain",
            ),
        ] {
            let e = s.validate(&base, false).unwrap_err();
            assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        }
    }

    #[test]
    fn the_plan_follows_the_list_and_the_sim_pool_fills_an_empty_one() {
        let base = Base {
            work: WorkConfig::default(),
            sim_pool: Some("127.0.0.1:9".into()),
            sharechain_available: true,
        };
        let empty = Sources {
            sharechain: true,
            pools: vec![],
        };
        let p = base.plan(&empty);
        assert_eq!(p.own_source, Some(WorkConfig::default().version_mask));
        assert_eq!(p.pools.len(), 1);
        assert_eq!(p.pools[0].name, "sim-pool");
        let two = Sources {
            sharechain: false,
            pools: vec![pool("b", "b.example:2"), pool("a", "a.example:1")],
        };
        let p = base.plan(&two);
        assert_eq!(p.own_source, None);
        let names: Vec<_> = p.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(p.pools[0].address, "b.example:2");
    }

    #[test]
    fn a_refused_change_stores_nothing_and_keeps_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let base = Base {
            work: WorkConfig::default(),
            sim_pool: None,
            sharechain_available: false,
        };
        let (control, rx) = WorkControl::new(
            dir.path().to_path_buf(),
            base.clone(),
            base.from_file(),
            false,
        );
        let bad = Sources {
            sharechain: false,
            pools: vec![pool("a", "nope")],
        };
        assert!(matches!(control.change(bad), Err(ChangeError::Invalid(_))));
        assert!(!dir.path().join(WORK_SETTINGS_FILE).exists());
        assert!(!rx.has_changed().unwrap());
        let good = Sources {
            sharechain: false,
            pools: vec![pool("a", "a.example:1")],
        };
        control.change(good.clone()).unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(control.current(), (good.clone(), true));
        assert_eq!(base.initial(dir.path()), (good, true));
    }
}
