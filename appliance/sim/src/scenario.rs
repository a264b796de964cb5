//! A scenario file: the world (weather, rooms, boards), the zone settings and
//! how long to run. The thermostat issue grows this into the full benchmark
//! format (schedules, prices, PV, heat pumps, window openings); what is here
//! is already documented in `docs/simulation.md`.

use crate::board::SimBoardParams;
use crate::devices::{SimHashboard, SimThermometer};
use crate::room::RoomParams;
use crate::weather::WeatherParams;
use crate::world::{SharedWorld, World};
use hearth_control::{ZoneConfig, ZoneHardware, ZoneKind, ZoneMode, ZoneSettings};
use hearth_core::{BoardId, Celsius, Hashboard, Timestamp, Watts, ZoneId};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario file: {0}")]
    Parse(String),
    #[error("scenario: {key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Longest run we accept, so a typo cannot ask for a century of simulation.
pub const MAX_DURATION_HOURS: f64 = 24.0 * 366.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_duration_hours")]
    pub duration_hours: f64,
    /// Control tick in simulated seconds.
    #[serde(default = "default_tick_s")]
    pub tick_s: f64,
    /// Simulated wall-clock start, seconds since the Unix epoch (the time of
    /// day matters for weather and sun).
    #[serde(default)]
    pub start_unix_s: u64,
    #[serde(default)]
    pub weather: WeatherParams,
    #[serde(rename = "zone")]
    pub zones: Vec<ZoneSpec>,
}

fn default_duration_hours() -> f64 {
    24.0
}
fn default_tick_s() -> f64 {
    10.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    pub id: ZoneId,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: ZoneKind,
    #[serde(default = "default_setpoint")]
    pub setpoint_c: f64,
    #[serde(default = "default_mode")]
    pub mode: ZoneMode,
    /// Interior temperature at the start.
    #[serde(default = "default_initial")]
    pub initial_c: f64,
    #[serde(default)]
    pub internal_gain_w: f64,
    #[serde(default)]
    pub room: RoomParams,
    /// Number of simulated boards of `board_profile` heating this zone.
    #[serde(default = "default_boards")]
    pub boards: u32,
    #[serde(default)]
    pub board_profile: Option<SimBoardParams>,
    /// Ids for the boards, in order; missing ones are `<zone>-board-<n>`.
    #[serde(skip)]
    pub board_ids: Vec<BoardId>,
}

fn default_kind() -> ZoneKind {
    ZoneKind::Room
}
fn default_setpoint() -> f64 {
    21.0
}
fn default_mode() -> ZoneMode {
    ZoneMode::Heat
}
fn default_initial() -> f64 {
    17.0
}
fn default_boards() -> u32 {
    1
}

impl ZoneSpec {
    /// The zone a newcomer gets: one living room, one board.
    pub fn default_room() -> ZoneSpec {
        ZoneSpec {
            id: ZoneId::new("living-room").unwrap_or_else(|_| unreachable!("constant id is valid")),
            name: "Living room".into(),
            kind: ZoneKind::Room,
            setpoint_c: default_setpoint(),
            mode: ZoneMode::Heat,
            initial_c: default_initial(),
            internal_gain_w: 0.0,
            room: RoomParams::default(),
            boards: 1,
            board_profile: None,
            board_ids: Vec::new(),
        }
    }
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    pub fn check(&self) -> Result<(), ScenarioError> {
        if !(self.duration_hours.is_finite()
            && self.duration_hours > 0.0
            && self.duration_hours <= MAX_DURATION_HOURS)
        {
            return Err(invalid(
                "duration_hours",
                format!("must be above 0 and at most {MAX_DURATION_HOURS}"),
            ));
        }
        if !(self.tick_s.is_finite() && (1.0..=600.0).contains(&self.tick_s)) {
            return Err(invalid("tick_s", "must be between 1 and 600 seconds"));
        }
        self.weather.check().map_err(|r| invalid("weather", r))?;
        if self.zones.is_empty() {
            return Err(invalid("zone", "at least one zone is needed"));
        }
        for (i, z) in self.zones.iter().enumerate() {
            let key = |k: &str| format!("zone[{i}].{k}");
            if self.zones[..i].iter().any(|o| o.id == z.id) {
                return Err(invalid(
                    key("id"),
                    format!("duplicate zone id {:?}", z.id.as_str()),
                ));
            }
            z.kind
                .default_limits()
                .validate_setpoint(z.setpoint_c)
                .map_err(|e| invalid(key("setpoint_c"), e.to_string()))?;
            if !(z.initial_c.is_finite() && (-40.0..=60.0).contains(&z.initial_c)) {
                return Err(invalid(key("initial_c"), "must be between -40 and 60 °C"));
            }
            if !(z.internal_gain_w.is_finite() && (0.0..=10_000.0).contains(&z.internal_gain_w)) {
                return Err(invalid(
                    key("internal_gain_w"),
                    "must be between 0 and 10000 W",
                ));
            }
            z.room.check().map_err(|r| invalid(key("room"), r))?;
            if z.boards > 16 {
                return Err(invalid(key("boards"), "at most 16 boards per zone"));
            }
            if let Some(p) = &z.board_profile {
                p.check().map_err(|r| invalid(key("board_profile"), r))?;
            }
        }
        Ok(())
    }
}

/// A world built from zone specs, with the control-side view of each zone.
#[derive(Debug)]
pub struct BuiltWorld {
    pub world: SharedWorld,
    pub zones: Vec<(ZoneConfig, ZoneHardware)>,
}

/// Builds the world and a device handle for every sensor and board. Boards are
/// named by `board_ids`, else `<zone>-board-<n>`.
pub fn build_world(
    seed: u64,
    start: Timestamp,
    weather: WeatherParams,
    specs: &[ZoneSpec],
) -> BuiltWorld {
    let mut world = World::new(start, seed, weather);
    let mut layout = Vec::new();
    for spec in specs {
        let room = world.add_room(
            spec.id.as_str(),
            spec.room,
            Celsius(spec.initial_c),
            Watts(spec.internal_gain_w),
        );
        let profile = spec
            .board_profile
            .clone()
            .unwrap_or_else(SimBoardParams::bm1370_65);
        let boards: Vec<usize> = (0..spec.boards)
            .map(|_| world.add_board(room, profile.clone()))
            .collect();
        layout.push((spec, room, boards));
    }
    let world = world.into_shared();
    let zones = layout
        .into_iter()
        .map(|(spec, room, boards)| {
            let thermometer = Box::new(SimThermometer::new(
                world.clone(),
                room,
                format!("{} air", spec.id),
            ));
            let boards = boards
                .into_iter()
                .enumerate()
                .filter_map(|(n, idx)| {
                    let id = match spec.board_ids.get(n) {
                        Some(id) => id.clone(),
                        None => BoardId::new(format!("{}-board-{n}", spec.id)).ok()?,
                    };
                    SimHashboard::new(world.clone(), idx, id)
                        .map(|b| Box::new(b) as Box<dyn Hashboard>)
                })
                .collect();
            let config = ZoneConfig {
                id: spec.id.clone(),
                name: if spec.name.is_empty() {
                    spec.id.to_string()
                } else {
                    spec.name.clone()
                },
                kind: spec.kind,
                limits: spec.kind.default_limits(),
                settings: ZoneSettings {
                    setpoint_c: Celsius(spec.setpoint_c),
                    mode: spec.mode,
                },
            };
            (
                config,
                ZoneHardware {
                    thermometer,
                    boards,
                },
            )
        })
        .collect();
    BuiltWorld { world, zones }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let s = Scenario::from_toml("[[zone]]\nid = \"office\"\n").expect("valid");
        assert_eq!(s.duration_hours, 24.0);
        assert_eq!(s.zones[0].setpoint_c, 21.0);
        assert_eq!(s.zones[0].boards, 1);
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = Scenario::from_toml("seeed = 3\n[[zone]]\nid = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("seeed"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("duration_hours = -1\n[[zone]]\nid = \"a\"\n", "duration_hours"),
            ("[[zone]]\nid = \"a\"\nsetpoint_c = 80\n", "zone[0].setpoint_c"),
            ("[[zone]]\nid = \"a\"\n[[zone]]\nid = \"a\"\n", "zone[1].id"),
            ("[[zone]]\nid = \"a\"\n[zone.room]\nci_j_per_k = 0\nce_j_per_k = 1\nrie_k_per_w = 1\nrea_k_per_w = 1\n", "zone[0].room"),
            ("zone = []\n", "zone"),
        ];
        for (text, key) in cases {
            let err = Scenario::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }
}
