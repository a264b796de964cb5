//! The configuration file: one TOML file, every key documented in
//! `docs/configuration.md`. Unknown keys and bad values are refused at start
//! with the key's path and the reason; nothing starts half-configured.

use hearth_board::config::{validate_hashboards, ConfiguredBoard, HashboardConfig};
use hearth_control::{ZoneKind, ZoneLimits, ZoneMode};
use hearth_core::{Celsius, ZoneId};
use hearth_sim::room::RoomParams;
use hearth_sim::weather::WeatherParams;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/hearth/hearth.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub sim: SimConfig,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfigFile>,
    #[serde(default, rename = "hashboard")]
    pub hashboards: Vec<HashboardConfig>,
    /// Work sources (Stratum pools) and heat-only work; see `crate::work`.
    #[serde(default)]
    pub work: crate::work::WorkConfig,
    /// Home Assistant over MQTT (`[mqtt]`, off unless `enabled = true`).
    #[serde(default)]
    pub mqtt: crate::mqtt::config::MqttConfig,
    /// The web app, its authentication and what is public (issue 9).
    #[serde(default)]
    pub web: crate::web::WebConfig,
    #[serde(default)]
    pub sharechain: crate::sharechain::config::SharechainSection,
    /// SG-Ready output relays (two GPIO lines; none: not driven).
    #[serde(default)]
    pub sg_ready_output: crate::sg_relays::SgReadyOutputConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Control loop period.
    pub tick_ms: u64,
    /// How often a telemetry sample is stored.
    pub record_interval_s: u64,
    /// HTTP listen address; `--http` overrides it.
    pub http: Option<SocketAddr>,
    /// Data directory; `--data-dir` overrides it.
    pub data_dir: Option<PathBuf>,
}

impl Default for DaemonConfig {
    fn default() -> DaemonConfig {
        DaemonConfig {
            tick_ms: 1000,
            record_interval_s: 10,
            http: None,
            data_dir: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Raw samples are kept this long, then averaged into 5-minute buckets.
    pub raw_retention_hours: u64,
    /// 5-minute buckets are kept this long, then averaged into hours.
    pub five_minute_retention_days: u64,
    /// Hourly buckets are kept this long, then deleted.
    pub hourly_retention_days: u64,
}

impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            raw_retention_hours: 48,
            five_minute_retention_days: 30,
            hourly_retention_days: 730,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated seconds per real second for rooms and weather in
    /// `hearth run --sim`. Simulated chips always run in real time.
    pub speed: f64,
    /// How boards are simulated: `chips` (byte-level BM13xx chips behind a
    /// pseudo-terminal, driven by the real chain driver) or `model` (the
    /// board's physics only, no chain traffic). Unset: `chips` at speed 1,
    /// `model` when rooms run faster (chips only run in real time).
    pub boards: Option<SimBoards>,
    pub weather: WeatherParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimBoards {
    Chips,
    Model,
}

impl SimConfig {
    /// How boards are simulated at `speed`, or why that cannot be.
    pub fn effective_boards(&self, speed: f64) -> Result<SimBoards, String> {
        match self.boards {
            Some(SimBoards::Chips) if speed != 1.0 => Err(format!(
                "simulated chips run in real time and cannot be combined with speed {speed}; \
                 set sim.boards = \"model\" or run at speed 1"
            )),
            Some(b) => Ok(b),
            None if speed == 1.0 => Ok(SimBoards::Chips),
            None => Ok(SimBoards::Model),
        }
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            speed: 1.0,
            boards: None,
            weather: WeatherParams::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfigFile {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_kind")]
    pub kind: ZoneKind,
    /// Initial setpoint; a setpoint changed at run time is stored and wins.
    #[serde(default = "default_setpoint")]
    pub setpoint_c: f64,
    #[serde(default = "default_mode")]
    pub mode: ZoneMode,
    pub min_setpoint_c: Option<f64>,
    pub max_setpoint_c: Option<f64>,
    pub hard_max_c: Option<f64>,
    /// The zone's temperature input on real hardware: `"ds18b20:first"` or
    /// `"ds18b20:28-0000075a1b2c"`. Ignored with `--sim`.
    pub sensor: Option<String>,
    #[serde(default)]
    pub sim: ZoneSimConfig,
    /// A pool's circulation pump on a GPIO input line (overrides MQTT and
    /// the API); see `crate::circulation_input`.
    #[serde(default)]
    pub circulation_gpio: Option<crate::circulation_input::CirculationGpioConfig>,
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

/// How the simulator models this zone (used only with `--sim`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoneSimConfig {
    pub initial_c: f64,
    pub internal_gain_w: f64,
    pub room: RoomParams,
    /// With `circulation_gpio`: the simulated line's state at start.
    pub circulation_running: bool,
}

impl Default for ZoneSimConfig {
    fn default() -> ZoneSimConfig {
        ZoneSimConfig {
            initial_c: 17.0,
            internal_gain_w: 0.0,
            room: RoomParams::default(),
            circulation_running: true,
        }
    }
}

/// Where a zone's temperature comes from on real hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSensor {
    Ds18b20(hearth_linux::ProbeSelector),
}

impl std::str::FromStr for ZoneSensor {
    type Err = String;
    fn from_str(s: &str) -> Result<ZoneSensor, String> {
        match s.split_once(':') {
            Some(("ds18b20", which)) => which
                .parse::<hearth_linux::ProbeSelector>()
                .map(ZoneSensor::Ds18b20)
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "unknown sensor {s:?}; expected \"ds18b20:first\" or \"ds18b20:<id>\""
            )),
        }
    }
}

/// A validated configuration: ids parsed, limits consistent, references resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub raw: Config,
    pub zones: Vec<ValidatedZone>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedZone {
    pub id: ZoneId,
    pub name: String,
    pub kind: ZoneKind,
    pub limits: ZoneLimits,
    pub setpoint_c: Celsius,
    pub mode: ZoneMode,
    pub sim: ZoneSimConfig,
    pub sensor: Option<ZoneSensor>,
    pub boards: Vec<ConfiguredBoard>,
    /// Checked: a pool zone's only, with a valid line.
    pub circulation_gpio: Option<crate::circulation_input::CirculationGpioConfig>,
}

impl Config {
    /// The configuration `hearth run --sim` uses when there is no file: one
    /// living room heated by one 65-chip board.
    pub fn sim_default() -> Config {
        Config {
            daemon: DaemonConfig::default(),
            storage: StorageConfig::default(),
            sim: SimConfig::default(),
            sharechain: Default::default(),
            sg_ready_output: Default::default(),
            zones: vec![ZoneConfigFile {
                id: "living-room".into(),
                name: Some("Living room".into()),
                kind: ZoneKind::Room,
                setpoint_c: 21.0,
                mode: ZoneMode::Heat,
                min_setpoint_c: None,
                max_setpoint_c: None,
                hard_max_c: None,
                sensor: None,
                sim: ZoneSimConfig::default(),
                circulation_gpio: None,
            }],
            hashboards: vec![HashboardConfig {
                id: "board-0".into(),
                zone: "living-room".into(),
                profile: "generic-bm1370-65".into(),
                ..HashboardConfig::default()
            }],
            work: crate::work::WorkConfig::default(),
            mqtt: Default::default(),
            web: crate::web::WebConfig::default(),
        }
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Validated, ConfigError> {
        let raw: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        raw.validate()
    }

    pub fn load(path: &Path) -> Result<Validated, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    pub fn validate(self) -> Result<Validated, ConfigError> {
        self.work.validate()?;
        if let Err(e) = self.sharechain.settings() {
            return Err(invalid(format!("sharechain.{}", e.key), e.reason));
        }
        let d = &self.daemon;
        if !(100..=60_000).contains(&d.tick_ms) {
            return Err(invalid(
                "daemon.tick_ms",
                "must be between 100 and 60000 ms",
            ));
        }
        if !(1..=3600).contains(&d.record_interval_s) {
            return Err(invalid(
                "daemon.record_interval_s",
                "must be between 1 and 3600 s",
            ));
        }
        if let Err((key, reason)) = self.web.validate() {
            return Err(invalid(key, reason));
        }
        if let Err(reason) = self.sg_ready_output.check() {
            return Err(invalid("sg_ready_output", reason));
        }
        let s = &self.storage;
        if !(1..=24 * 30).contains(&s.raw_retention_hours) {
            return Err(invalid(
                "storage.raw_retention_hours",
                "must be between 1 and 720 hours",
            ));
        }
        if !(1..=366).contains(&s.five_minute_retention_days) {
            return Err(invalid(
                "storage.five_minute_retention_days",
                "must be between 1 and 366 days",
            ));
        }
        if !(1..=3660).contains(&s.hourly_retention_days) {
            return Err(invalid(
                "storage.hourly_retention_days",
                "must be between 1 and 3660 days",
            ));
        }
        if !(self.sim.speed.is_finite() && (0.01..=10_000.0).contains(&self.sim.speed)) {
            return Err(invalid("sim.speed", "must be between 0.01 and 10000"));
        }
        self.sim
            .weather
            .check()
            .map_err(|r| invalid("sim.weather", r))?;
        self.sim
            .effective_boards(self.sim.speed)
            .map_err(|r| invalid("sim.boards", r))?;
        if self.zones.is_empty() {
            return Err(invalid("zone", "at least one [[zone]] is needed"));
        }
        let mut zones = Vec::new();
        for (i, z) in self.zones.iter().enumerate() {
            zones.push(validate_zone(i, z, &zones)?);
        }
        let boards = validate_hashboards(&self.hashboards).map_err(|e| invalid(e.key, e.reason))?;
        crate::heatsink_probes::check_room_probes(&zones, &boards)
            .map_err(|(key, reason)| invalid(key, reason))?;
        for (i, board) in boards.into_iter().enumerate() {
            let Some(zone) = zones.iter_mut().find(|z| z.id.as_str() == board.zone) else {
                return Err(invalid(
                    format!("hashboard[{i}].zone"),
                    format!("no [[zone]] with id {:?}", board.zone),
                ));
            };
            zone.boards.push(board);
        }
        let zone_ids: Vec<&str> = zones.iter().map(|z| z.id.as_str()).collect();
        self.mqtt
            .validate(&zone_ids)
            .map_err(|e| invalid(e.key, e.reason))?;
        Ok(Validated { raw: self, zones })
    }
}

fn validate_zone(
    i: usize,
    z: &ZoneConfigFile,
    earlier: &[ValidatedZone],
) -> Result<ValidatedZone, ConfigError> {
    let key = |k: &str| format!("zone[{i}].{k}");
    let id = ZoneId::new(z.id.clone()).map_err(|e| invalid(key("id"), e.to_string()))?;
    if earlier.iter().any(|o| o.id == id) {
        return Err(invalid(key("id"), format!("duplicate zone id {:?}", z.id)));
    }
    let defaults = z.kind.default_limits();
    let limits = ZoneLimits {
        min_setpoint_c: z.min_setpoint_c.map_or(defaults.min_setpoint_c, Celsius),
        max_setpoint_c: z.max_setpoint_c.map_or(defaults.max_setpoint_c, Celsius),
        hard_max_c: z.hard_max_c.map_or(defaults.hard_max_c, Celsius),
    };
    limits
        .check()
        .map_err(|r| invalid(key("min_setpoint_c/max_setpoint_c/hard_max_c"), r))?;
    // A configured hard limit may be lowered, never raised above the kind's:
    // that limit is what keeps a pool from being cooked.
    if limits.hard_max_c > defaults.hard_max_c {
        return Err(invalid(
            key("hard_max_c"),
            format!(
                "may not exceed {} for a {:?} zone",
                defaults.hard_max_c, z.kind
            ),
        ));
    }
    let setpoint = limits
        .validate_setpoint(z.setpoint_c)
        .map_err(|e| invalid(key("setpoint_c"), e.to_string()))?;
    if !(z.sim.initial_c.is_finite() && (-40.0..=60.0).contains(&z.sim.initial_c)) {
        return Err(invalid(
            key("sim.initial_c"),
            "must be between -40 and 60 °C",
        ));
    }
    if !(z.sim.internal_gain_w.is_finite() && (0.0..=10_000.0).contains(&z.sim.internal_gain_w)) {
        return Err(invalid(
            key("sim.internal_gain_w"),
            "must be between 0 and 10000 W",
        ));
    }
    z.sim
        .room
        .check()
        .map_err(|r| invalid(key("sim.room"), r))?;
    let sensor = z
        .sensor
        .as_deref()
        .map(str::parse::<ZoneSensor>)
        .transpose()
        .map_err(|r| invalid(key("sensor"), r))?;
    if let Some(c) = &z.circulation_gpio {
        if z.kind != ZoneKind::Pool {
            return Err(invalid(
                key("circulation_gpio"),
                format!(
                    "only a pool zone has a circulation pump (this one is {:?})",
                    z.kind
                ),
            ));
        }
        c.check().map_err(|r| invalid(key("circulation_gpio"), r))?;
    }
    Ok(ValidatedZone {
        id,
        name: z.name.clone().unwrap_or_else(|| z.id.clone()),
        kind: z.kind,
        limits,
        setpoint_c: setpoint,
        mode: z.mode,
        sim: z.sim.clone(),
        sensor,
        boards: Vec::new(),
        circulation_gpio: z.circulation_gpio.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Validated, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    const MINIMAL: &str = "[[zone]]\nid = \"office\"\n[[hashboard]]\nid = \"b0\"\nzone = \"office\"\nprofile = \"generic-bm1370-65\"\n";

    #[test]
    fn minimal_config_is_valid() {
        let v = parse(MINIMAL).expect("valid");
        assert_eq!(v.zones.len(), 1);
        assert_eq!(v.zones[0].boards.len(), 1);
        assert_eq!(v.zones[0].setpoint_c, Celsius(21.0));
        assert_eq!(v.raw.daemon.tick_ms, 1000);
    }

    #[test]
    fn the_images_default_config_is_valid() {
        let text = include_str!("../../../image-build/rootfs/usr/share/hearth/hearth.toml");
        let v = parse(text).expect("the image's hearth.toml");
        assert_eq!(
            v.raw.web.owner_password_file.as_deref(),
            Some(Path::new("/data/hearth/owner-password")),
            "the file image-build/rootfs/usr/libexec/hearth/setup writes"
        );
    }

    #[test]
    fn sim_default_is_valid() {
        assert!(Config::sim_default().validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, name) in [
            (
                "[daemon]\ntick_msec = 5\n[[zone]]\nid = \"a\"\n",
                "tick_msec",
            ),
            ("colour = 1\n[[zone]]\nid = \"a\"\n", "colour"),
            ("[[zone]]\nid = \"a\"\nsetpiont_c = 20\n", "setpiont_c"),
            ("[[zone]]\nid = \"a\"\n[zone.sim.room]\nci = 1\n", "ci"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains("unknown field"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn bad_values_are_named_with_reason() {
        let cases = [
            ("[daemon]\ntick_ms = 5\n[[zone]]\nid = \"a\"\n", "daemon.tick_ms"),
            ("[sim]\nspeed = 0\n[[zone]]\nid = \"a\"\n", "sim.speed"),
            ("[sim]\nspeed = 5\nboards = \"chips\"\n[[zone]]\nid = \"a\"\n", "sim.boards"),
            ("[[zone]]\nid = \"Living Room\"\n", "zone[0].id"),
            ("[[zone]]\nid = \"a\"\nsetpoint_c = 99\n", "zone[0].setpoint_c"),
            ("[[zone]]\nid = \"a\"\nkind = \"pool\"\nhard_max_c = 50\nmax_setpoint_c = 40\n", "zone[0].hard_max_c"),
            ("[[zone]]\nid = \"a\"\n[[zone]]\nid = \"a\"\n", "zone[1].id"),
            ("[[zone]]\nid = \"a\"\n[[hashboard]]\nid = \"b\"\nzone = \"nope\"\nprofile = \"generic-bm1370-65\"\n", "hashboard[0].zone"),
            ("[[zone]]\nid = \"a\"\n[[hashboard]]\nid = \"b\"\nzone = \"a\"\nprofile = \"s9000\"\n", "hashboard[0].profile"),
            ("zone = []\n", "`zone`"),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }

    #[test]
    fn wrong_types_are_refused() {
        let err = parse("[daemon]\ntick_ms = \"fast\"\n[[zone]]\nid = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tick_ms"), "{err}");
        let err = parse("[[zone]]\nid = \"a\"\nmode = \"cool\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cool"), "{err}");
    }

    #[test]
    fn a_room_probe_is_never_a_heatsink_probe() {
        let board = "[[hashboard]]\nid = \"b\"\nzone = \"a\"\nprofile = \"generic-bm1370-65\"\nheatsink_probes = [\"28-0000075a1b2c\"]\n";
        for (sensor, want) in [
            (
                "ds18b20:first",
                "\"first\" may pick a board's heatsink probe",
            ),
            (
                "ds18b20:28-0000075A1B2C",
                "28-0000075a1b2c is board b's heatsink probe",
            ),
        ] {
            let text = format!("[[zone]]\nid = \"a\"\nsensor = \"{sensor}\"\n{board}");
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(want) && err.contains("`zone[0].sensor`"),
                "{sensor}: {err}"
            );
        }
        let text = format!("[[zone]]\nid = \"a\"\nsensor = \"ds18b20:28-00000b0b0b0b\"\n{board}");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Config::load(Path::new("/nonexistent/hearth.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/hearth.toml"), "{err}");
    }
}
