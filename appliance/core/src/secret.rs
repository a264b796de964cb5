//! A secret from the configuration (an MQTT password, a pool password, an
//! API token) that cannot end up in a log by accident: `Debug` and `Display`
//! print `***`, it does not implement `Serialize`, and the only way to the
//! text is [`Secret::expose`], which is easy to find in review.

use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the one call that needs it (a login).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares in time independent of where the first difference is, for
    /// checking a presented token against the configured one.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Mqtt {
        #[allow(dead_code)] // read through Debug below
        user: String,
        password: Secret,
    }

    #[test]
    fn never_prints_itself() {
        let m: Result<Mqtt, _> = toml::from_str("user = \"heater\"\npassword = \"hunter2\"");
        assert!(m.is_ok(), "{m:?}");
        let Ok(m) = m else { return };
        let shown = format!("{m:?} {} {:?}", m.password, m.password);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("heater"));
        assert_eq!(m.password.expose(), "hunter2");
    }

    #[test]
    fn matches_only_the_same_text() {
        let s = Secret::new("abc");
        assert!(s.matches("abc"));
        for other in ["", "ab", "abd", "abcd", "ABC"] {
            assert!(!s.matches(other), "{other}");
        }
    }
}
