//! Presets: named setpoints a user picks instead of a number (Home
//! Assistant's climate presets). `boost` is comfort plus a margin for a
//! limited time, after which the zone returns to the setpoint it had.
//! `frost` is also the floor every zone is held above whatever else says
//! "don't heat" (a policy block, an open window, presence).

use crate::zone::{SettingError, ZoneKind, ZoneLimits};
use hearth_core::Celsius;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a boost lasts.
pub const BOOST_FOR: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Comfort,
    Eco,
    Away,
    Boost,
    Frost,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Comfort,
        Preset::Eco,
        Preset::Away,
        Preset::Boost,
        Preset::Frost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Comfort => "comfort",
            Preset::Eco => "eco",
            Preset::Away => "away",
            Preset::Boost => "boost",
            Preset::Frost => "frost",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The setpoint of each preset for one zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetTable {
    pub comfort_c: Celsius,
    pub eco_c: Celsius,
    pub away_c: Celsius,
    pub boost_c: Celsius,
    pub frost_c: Celsius,
}

impl PresetTable {
    /// Defaults per kind: a room at 21/19/16 °C, a pool at 28/26/20 °C, a
    /// greenhouse at 16/12/8 °C; frost protection at 7, 5 and 3 °C.
    pub fn defaults(kind: ZoneKind) -> PresetTable {
        let t = |c, e, a, b, f| PresetTable {
            comfort_c: Celsius(c),
            eco_c: Celsius(e),
            away_c: Celsius(a),
            boost_c: Celsius(b),
            frost_c: Celsius(f),
        };
        match kind {
            ZoneKind::Room => t(21.0, 19.0, 16.0, 23.0, 7.0),
            ZoneKind::Pool => t(28.0, 26.0, 20.0, 30.0, 5.0),
            ZoneKind::Greenhouse => t(16.0, 12.0, 8.0, 20.0, 3.0),
        }
    }

    pub fn setpoint(&self, p: Preset) -> Celsius {
        match p {
            Preset::Comfort => self.comfort_c,
            Preset::Eco => self.eco_c,
            Preset::Away => self.away_c,
            Preset::Boost => self.boost_c,
            Preset::Frost => self.frost_c,
        }
    }

    /// Every preset must be a valid setpoint for the zone, frost lowest.
    pub fn check(&self, limits: &ZoneLimits) -> Result<(), String> {
        for p in Preset::ALL {
            limits
                .validate_setpoint(self.setpoint(p).get())
                .map_err(|e: SettingError| format!("preset {}: {e}", p.as_str()))?;
            if p != Preset::Frost && self.setpoint(p) < self.frost_c {
                return Err(format!("preset {} is below frost", p.as_str()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_for_their_kind_and_names_round_trip() {
        for k in [ZoneKind::Room, ZoneKind::Pool, ZoneKind::Greenhouse] {
            assert_eq!(PresetTable::defaults(k).check(&k.default_limits()), Ok(()));
        }
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.as_str()), Some(p));
        }
        assert_eq!(Preset::parse("sauna"), None);
        let mut t = PresetTable::defaults(ZoneKind::Room);
        t.eco_c = Celsius(6.0);
        assert!(t.check(&ZoneKind::Room.default_limits()).is_err());
        t = PresetTable::defaults(ZoneKind::Room);
        t.boost_c = Celsius(40.0);
        assert!(t
            .check(&ZoneKind::Room.default_limits())
            .unwrap_err()
            .contains("boost"));
    }
}
