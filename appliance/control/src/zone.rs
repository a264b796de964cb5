//! Zones and their settings. Validation lives here, once, so the HTTP API,
//! MQTT and the config file all refuse the same bad values for the same reason.

use hearth_core::{Celsius, ZoneId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    Room,
    Pool,
    Greenhouse,
}

impl ZoneKind {
    /// Default limits per kind. The hard maximum is what nothing may
    /// override: people heating pools with miners have overheated them.
    pub fn default_limits(self) -> ZoneLimits {
        match self {
            ZoneKind::Room => ZoneLimits {
                min_setpoint_c: Celsius(5.0),
                max_setpoint_c: Celsius(28.0),
                hard_max_c: Celsius(30.0),
            },
            ZoneKind::Pool => ZoneLimits {
                min_setpoint_c: Celsius(5.0),
                max_setpoint_c: Celsius(32.0),
                hard_max_c: Celsius(34.0),
            },
            ZoneKind::Greenhouse => ZoneLimits {
                min_setpoint_c: Celsius(2.0),
                max_setpoint_c: Celsius(30.0),
                hard_max_c: Celsius(35.0),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneMode {
    Off,
    /// Heat to the setpoint; the schedule is paused.
    Heat,
    /// Heat, following the zone's schedule (a manual setpoint holds until
    /// the next entry).
    Auto,
}

impl ZoneMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneMode::Off => "off",
            ZoneMode::Heat => "heat",
            ZoneMode::Auto => "auto",
        }
    }

    /// Heat or auto: the zone may heat.
    pub fn heats(self) -> bool {
        self != ZoneMode::Off
    }
}

/// The range a setpoint may take, and the temperature at which heating stops
/// whatever the setpoint says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoneLimits {
    pub min_setpoint_c: Celsius,
    pub max_setpoint_c: Celsius,
    pub hard_max_c: Celsius,
}

/// What a user may change at run time; persisted across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoneSettings {
    pub setpoint_c: Celsius,
    pub mode: ZoneMode,
}

/// A zone as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneConfig {
    pub id: ZoneId,
    pub name: String,
    pub kind: ZoneKind,
    pub limits: ZoneLimits,
    pub settings: ZoneSettings,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error("no zone called {0:?}")]
    UnknownZone(String),
    #[error("setpoint must be a finite number")]
    NotFinite,
    #[error("setpoint {value} °C is outside this zone's range {min} to {max} °C")]
    OutOfRange { value: f64, min: f64, max: f64 },
    #[error("setpoint must be a multiple of 0.1 °C")]
    TooFine,
    #[error("{0}")]
    Invalid(String),
}

impl ZoneLimits {
    /// Checks that the limits make sense together (used on config load).
    pub fn check(&self) -> Result<(), String> {
        let (lo, hi, hard) = (
            self.min_setpoint_c.get(),
            self.max_setpoint_c.get(),
            self.hard_max_c.get(),
        );
        if !(lo.is_finite() && hi.is_finite() && hard.is_finite()) {
            return Err("limits must be finite numbers".into());
        }
        if lo >= hi {
            return Err(format!(
                "min_setpoint_c ({lo}) must be below max_setpoint_c ({hi})"
            ));
        }
        if hard < hi {
            return Err(format!(
                "hard_max_c ({hard}) must not be below max_setpoint_c ({hi})"
            ));
        }
        Ok(())
    }

    /// Validates a requested setpoint. Steps of 0.1 °C keep what the user
    /// typed and what is stored identical, and refuse typos like 2150.
    pub fn validate_setpoint(&self, value: f64) -> Result<Celsius, SettingError> {
        if !value.is_finite() {
            return Err(SettingError::NotFinite);
        }
        let (min, max) = (self.min_setpoint_c.get(), self.max_setpoint_c.get());
        if value < min || value > max {
            return Err(SettingError::OutOfRange { value, min, max });
        }
        let tenths = value * 10.0;
        if (tenths - tenths.round()).abs() > 1e-6 {
            return Err(SettingError::TooFine);
        }
        Ok(Celsius(tenths.round() / 10.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setpoint_validation() {
        let l = ZoneKind::Room.default_limits();
        assert_eq!(l.validate_setpoint(21.5), Ok(Celsius(21.5)));
        assert_eq!(l.validate_setpoint(f64::NAN), Err(SettingError::NotFinite));
        assert_eq!(
            l.validate_setpoint(f64::INFINITY),
            Err(SettingError::NotFinite)
        );
        assert!(matches!(
            l.validate_setpoint(45.0),
            Err(SettingError::OutOfRange { .. })
        ));
        assert!(matches!(
            l.validate_setpoint(4.9),
            Err(SettingError::OutOfRange { .. })
        ));
        assert_eq!(l.validate_setpoint(21.55), Err(SettingError::TooFine));
    }

    #[test]
    fn limits_check() {
        for k in [ZoneKind::Room, ZoneKind::Pool, ZoneKind::Greenhouse] {
            assert_eq!(k.default_limits().check(), Ok(()));
        }
        let mut l = ZoneKind::Room.default_limits();
        l.hard_max_c = Celsius(20.0);
        assert!(l.check().is_err());
        l = ZoneKind::Room.default_limits();
        l.min_setpoint_c = Celsius(29.0);
        assert!(l.check().is_err());
    }
}
