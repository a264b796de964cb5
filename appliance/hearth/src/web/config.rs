//! The `[web]` configuration section: who may read, and where the owner's
//! first password comes from.

use serde::Deserialize;
use std::path::PathBuf;

/// Longest page login a config may ask for (90 days).
const MAX_SESSION_HOURS: u64 = 24 * 90;
/// Highest request rate a config may allow one client.
const MAX_REQUESTS_PER_S: u32 = 100_000;
/// Largest request burst a config may allow one client.
const MAX_REQUEST_BURST: u32 = 1_000_000;
/// Most connections a config may allow: half the soft file limit a systemd
/// service gets (1024), so the rest of the daemon always has descriptors.
const MAX_CONNECTIONS: u32 = 512;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Read-only endpoints (status, history, events, `/metrics`, the live
    /// stream) answer without logging in. Writes always need the owner.
    pub public_read: bool,
    /// A file holding the owner's first password, written by the installer.
    /// Read only while no password is stored; after that the stored hash wins.
    pub owner_password_file: Option<PathBuf>,
    /// How long a page login lasts.
    pub session_hours: u64,
    /// Requests one client (an IPv4 address, or an IPv6 /64) may make per
    /// second, sustained; more get `429 Too Many Requests`.
    pub requests_per_s: u32,
    /// Requests one client may make at once before the rate applies.
    pub request_burst: u32,
    /// Connections held open at once, all clients together.
    pub max_connections: u32,
    /// Connections one client may hold open at once.
    pub max_connections_per_client: u32,
    /// With `tls_key_file`: serve HTTPS only, with this certificate chain
    /// (PEM, the server's certificate first).
    pub tls_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            public_read: false,
            owner_password_file: None,
            session_hours: 24 * 7,
            // A page load is ~10 requests and the page then follows the live
            // stream; a script or an integration polling fast stays far
            // below this. It bounds what a flood can make the Pi do.
            requests_per_s: 100,
            request_burst: 400,
            // Well under the daemon's file limit (1024), leaving room for
            // boards, peers, the node, MQTT and SQLite.
            max_connections: 128,
            // A browser opens at most 6 per host, plus the live stream.
            max_connections_per_client: 16,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl WebConfig {
    /// `Err((key, reason))` for the first bad key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_SESSION_HOURS).contains(&self.session_hours) {
            return Err((
                "web.session_hours",
                format!("must be between 1 and {MAX_SESSION_HOURS}"),
            ));
        }
        if !(1..=MAX_REQUESTS_PER_S).contains(&self.requests_per_s) {
            return Err((
                "web.requests_per_s",
                format!("must be between 1 and {MAX_REQUESTS_PER_S}"),
            ));
        }
        if !(1..=MAX_REQUEST_BURST).contains(&self.request_burst) {
            return Err((
                "web.request_burst",
                format!("must be between 1 and {MAX_REQUEST_BURST}"),
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err((
                "web.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            ));
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_client) {
            return Err((
                "web.max_connections_per_client",
                "must be between 1 and web.max_connections".into(),
            ));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err((
                    "web.tls_key_file",
                    "must be set with web.tls_cert_file".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "web.tls_cert_file",
                    "must be set with web.tls_key_file".into(),
                ))
            }
            _ => {}
        }
        for (key, path) in [
            ("web.tls_cert_file", &self.tls_cert_file),
            ("web.tls_key_file", &self.tls_key_file),
        ] {
            if path.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err((key, "must be an absolute path".into()));
            }
        }
        if let Some(path) = &self.owner_password_file {
            if !path.is_absolute() {
                return Err(("web.owner_password_file", "must be an absolute path".into()));
            }
        }
        Ok(())
    }
}
