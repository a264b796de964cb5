//! The `[web]` configuration section: who may read, and where the owner's
//! first password comes from.

use serde::Deserialize;
use std::path::PathBuf;

/// Longest page login a config may ask for (90 days).
const MAX_SESSION_HOURS: u64 = 24 * 90;

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
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            public_read: false,
            owner_password_file: None,
            session_hours: 24 * 7,
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
        if let Some(path) = &self.owner_password_file {
            if !path.is_absolute() {
                return Err(("web.owner_password_file", "must be an absolute path".into()));
            }
        }
        Ok(())
    }
}
