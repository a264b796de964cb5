//! MQTT connection settings changed at run time (`PUT /api/v1/settings/mqtt`):
//! the override file that keeps them across restarts, and the supervisor
//! that restarts the MQTT client when they change. The config file's
//! `[mqtt]` section stays the base; the override replaces only the
//! connection keys below (TLS and the house inputs stay file-only).

use super::config::MqttConfig;
use super::entities::Catalog;
use crate::state::Shared;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// In the data directory; written whole, then renamed into place.
pub const MQTT_SETTINGS_FILE: &str = "mqtt-settings.json";
/// Longest an old client may take to say `offline` before the new one starts.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection keys the API may change. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub base_topic: String,
    pub discovery_prefix: String,
    pub keep_alive_s: u64,
    pub state_interval_s: u64,
    pub max_backoff_s: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("client_id", &self.client_id)
            .field("base_topic", &self.base_topic)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub fn of(c: &MqttConfig) -> Connection {
        Connection {
            enabled: c.enabled,
            host: c.host.clone(),
            port: c.port,
            username: c.username.clone(),
            password: c.password.clone(),
            client_id: c.client_id.clone(),
            base_topic: c.base_topic.clone(),
            discovery_prefix: c.discovery_prefix.clone(),
            keep_alive_s: c.keep_alive_s,
            state_interval_s: c.state_interval_s,
            max_backoff_s: c.max_backoff_s,
        }
    }

    /// `base` with these connection keys.
    pub fn over(&self, base: &MqttConfig) -> MqttConfig {
        MqttConfig {
            enabled: self.enabled,
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            password: self.password.clone(),
            client_id: self.client_id.clone(),
            base_topic: self.base_topic.clone(),
            discovery_prefix: self.discovery_prefix.clone(),
            keep_alive_s: self.keep_alive_s,
            state_interval_s: self.state_interval_s,
            max_backoff_s: self.max_backoff_s,
            ..base.clone()
        }
    }
}

/// The override stored in `data_dir`, if any.
pub fn load(data_dir: &Path) -> Result<Option<Connection>> {
    let path = data_dir.join(MQTT_SETTINGS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the override durably (temp file, fsync, rename, fsync the dir):
/// a power cut leaves the old settings or the new, never half of either.
pub fn store(data_dir: &Path, c: &Connection) -> Result<()> {
    // Owner-only: it holds the broker password.
    let path = data_dir.join(MQTT_SETTINGS_FILE);
    let body = serde_json::to_vec_pretty(c)?;
    crate::owner_only::replace(&path, &body).with_context(|| format!("writing {}", path.display()))
}

/// What the API holds to read and change the running MQTT settings.
#[derive(Debug)]
pub struct MqttControl {
    pub data_dir: PathBuf,
    pub zone_ids: Vec<String>,
    tx: watch::Sender<MqttConfig>,
}

impl MqttControl {
    pub fn current(&self) -> MqttConfig {
        self.tx.borrow().clone()
    }

    /// Checks `next`, stores it, then restarts the client with it. An error
    /// before the store changes nothing.
    pub fn change(&self, next: &Connection) -> Result<MqttConfig, ChangeError> {
        let cfg = next.over(&self.current());
        let zones: Vec<&str> = self.zone_ids.iter().map(String::as_str).collect();
        cfg.validate(&zones)
            .map_err(|e| ChangeError::Invalid(e.to_string()))?;
        store(&self.data_dir, next).map_err(|e| ChangeError::Storage(format!("{e:#}")))?;
        self.tx.send_replace(cfg.clone());
        Ok(cfg)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error("could not store the MQTT settings: {0}")]
    Storage(String),
}

/// Starts the supervisor: it runs the MQTT client for the current settings
/// (none while disabled) and restarts it whenever they change, until `stop`.
pub fn supervise(
    shared: Arc<Shared>,
    catalog: Catalog,
    initial: MqttConfig,
    data_dir: PathBuf,
    zone_ids: Vec<String>,
    mut stop: watch::Receiver<bool>,
) -> (Arc<MqttControl>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(initial);
    let control = Arc::new(MqttControl {
        data_dir: data_dir.clone(),
        zone_ids,
        tx,
    });
    let task = tokio::spawn(async move {
        loop {
            let cfg = rx.borrow_and_update().clone();
            let (child_stop, child_rx) = watch::channel(false);
            let handle = if cfg.enabled {
                match super::spawn(shared.clone(), catalog.clone(), &cfg, &data_dir, child_rx) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "MQTT client not started");
                        None
                    }
                }
            } else {
                None
            };
            let more = tokio::select! {
                _ = stop.wait_for(|s| *s) => false,
                r = rx.changed() => r.is_ok(),
            };
            let _ = child_stop.send(true);
            if let Some(h) = handle {
                if tokio::time::timeout(STOP_TIMEOUT, h.join()).await.is_err() {
                    tracing::warn!("MQTT client did not stop within 5 s");
                }
            }
            if !more || *stop.borrow() {
                return;
            }
            tracing::info!("MQTT settings changed: client restarted");
        }
    });
    (control, task)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_override_round_trips_and_keeps_file_only_keys() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let base = MqttConfig {
            base_topic: "house".into(),
            ..MqttConfig::default()
        };
        let mut c = Connection::of(&base);
        c.enabled = true;
        c.host = "broker.lan".into();
        c.username = Some("hearth".into());
        c.password = Some("s3cret".into());
        store(dir.path(), &c).unwrap();
        let back = load(dir.path()).unwrap().unwrap();
        assert_eq!(back, c);
        let merged = back.over(&base);
        assert_eq!(merged.host, "broker.lan");
        assert_eq!(merged.inputs, base.inputs);
        assert_eq!(merged.discovery, base.discovery);
        std::fs::write(dir.path().join(MQTT_SETTINGS_FILE), b"{\"enabled\": 1}").unwrap();
        assert!(
            load(dir.path()).is_err(),
            "a damaged file is an error, not defaults"
        );
    }
}
