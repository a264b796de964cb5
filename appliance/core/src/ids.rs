//! Identifiers for zones and boards. They appear in URLs, MQTT topics and
//! database keys, so they are restricted to a safe, stable alphabet.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id we accept: long enough for "greenhouse-north-bench-2", short
/// enough to stay a readable topic segment.
pub const MAX_ID_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error(
        "id {0:?} may only contain a-z, 0-9, '-' and '_', and must start with a letter or digit"
    )]
    BadCharacter(String),
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok || !s.chars().all(ok_char) {
        return Err(IdError::BadCharacter(s.to_string()));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<$name, IdError> {
                let s = s.into();
                validate(&s)?;
                Ok($name(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<$name, IdError> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A heated zone: a room, a pool, a greenhouse.
    ZoneId
);
id_type!(
    /// One hashboard (one chain, one regulator).
    BoardId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_ids() {
        assert!(ZoneId::new("living-room").is_ok());
        assert!(BoardId::new("board_0").is_ok());
        assert!(ZoneId::new("2nd-floor").is_ok());
    }

    #[test]
    fn refuses_unsafe_ids() {
        assert_eq!(ZoneId::new(""), Err(IdError::Empty));
        assert_eq!(ZoneId::new("a".repeat(33)), Err(IdError::TooLong));
        assert!(matches!(
            ZoneId::new("Living Room"),
            Err(IdError::BadCharacter(_))
        ));
        assert!(matches!(ZoneId::new("-x"), Err(IdError::BadCharacter(_))));
        assert!(matches!(BoardId::new("a/b"), Err(IdError::BadCharacter(_))));
    }
}
