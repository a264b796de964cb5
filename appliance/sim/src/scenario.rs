//! A scenario file: the world (weather, rooms, boards), the zone settings and
//! how long to run. The thermostat issue grows this into the full benchmark
//! format (schedules, prices, PV, heat pumps, window openings); what is here
//! is already documented in `docs/simulation.md`.

use crate::board::SimBoardParams;
use crate::devices::{SimHashboard, SimThermometer};
use crate::room::RoomParams;
use crate::weather::WeatherParams;
use crate::world::{SharedWorld, World};
use hearth_control::{
    PolicySettings, Schedule, ScheduleEntry, ZoneConfig, ZoneHardware, ZoneKind, ZoneMode,
    ZoneSettings, ALL_DAYS,
};
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
    /// Explicit hourly weather replacing the daily cycle.
    #[serde(default)]
    pub weather_series: Option<WeatherSeriesSpec>,
    #[serde(default)]
    pub prices: Option<PricesSpec>,
    #[serde(default)]
    pub pv: Option<PvSpec>,
    /// Heat-source policy settings (`hearth_control::PolicySettings`);
    /// defaults when absent, `feed_in_per_kwh` taken from `[prices]`.
    #[serde(default)]
    pub policy: Option<PolicySettings>,
    #[serde(rename = "zone")]
    pub zones: Vec<ZoneSpec>,
}

/// Hourly series from the scenario's start; linear in between, the last
/// value held after the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WeatherSeriesSpec {
    #[serde(default)]
    pub outdoor_c: Vec<f64>,
    #[serde(default)]
    pub solar_w_per_m2: Vec<f64>,
}

/// Electricity prices and what hashing earns. Money is in one unspecified
/// currency throughout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricesSpec {
    /// Grid price per kWh when no time-of-use entry applies.
    #[serde(default = "default_grid_price")]
    pub grid_per_kwh: f64,
    /// Daily time-of-use tariff: from `at`, `per_kwh` (wraps over midnight).
    #[serde(default)]
    pub time_of_use: Vec<TouSpec>,
    /// What exported PV surplus earns per kWh: the cost of using it instead.
    #[serde(default)]
    pub feed_in_per_kwh: f64,
    /// Revenue per TH/s per day.
    #[serde(default)]
    pub hashprice_per_th_day: f64,
}

fn default_grid_price() -> f64 {
    0.30
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouSpec {
    pub at: String,
    pub per_kwh: f64,
}

/// PV surplus (production minus the house's own load), hourly watts from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PvSpec {
    pub surplus_w: Vec<f64>,
}

/// A daily (or per-weekday) setpoint entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// "HH:MM", UTC like the rest of the simulated clock.
    pub at: String,
    pub setpoint_c: f64,
    /// "mon".."sun"; every day when absent.
    #[serde(default)]
    pub days: Option<Vec<String>>,
}

/// An open window: extra conductance to outdoors between two times,
/// in hours since the scenario's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub from_h: f64,
    pub to_h: f64,
    pub extra_w_per_k: f64,
}

/// A daily internal-gains entry: from `at`, `w` watts (replaces `internal_gain_w`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GainSpec {
    pub at: String,
    pub w: f64,
}

/// A daily circulation-pump timer entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CirculationSpec {
    pub at: String,
    pub on: bool,
}

/// A period, in hours since the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSpec {
    pub from_h: f64,
    pub to_h: f64,
}

/// A pool: one well-mixed water mass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub volume_m3: f64,
    pub area_m2: f64,
    /// Convection, radiation and ground, W/K.
    #[serde(default = "default_pool_ua")]
    pub ua_w_per_k: f64,
    /// Evaporation, linearised per m² of surface and kelvin of water over air.
    #[serde(default = "default_pool_evap")]
    pub evaporation_w_per_m2_k: f64,
    /// Share of the sun on the surface that the water keeps.
    #[serde(default = "default_pool_absorb")]
    pub solar_absorption: f64,
}

fn default_pool_ua() -> f64 {
    100.0
}
fn default_pool_evap() -> f64 {
    15.0
}
fn default_pool_absorb() -> f64 {
    0.6
}

impl PoolSpec {
    /// The pool as the 2R2C model with a light "envelope" (the surface layer):
    /// water heat capacity 4.186 MJ/(m³ K), all losses in series through it.
    pub fn as_room(&self) -> RoomParams {
        let g = self.ua_w_per_k + self.evaporation_w_per_m2_k * self.area_m2;
        let ci = self.volume_m3 * 4.186e6;
        RoomParams {
            ci_j_per_k: ci,
            ce_j_per_k: ci * 0.01,
            rie_k_per_w: 0.2 / g,
            rea_k_per_w: 0.8 / g,
            aw_m2: self.area_m2 * self.solar_absorption,
        }
    }

    fn check(&self) -> Result<(), String> {
        for (k, v, lo, hi) in [
            ("volume_m3", self.volume_m3, 0.1, 5000.0),
            ("area_m2", self.area_m2, 0.1, 2000.0),
            ("ua_w_per_k", self.ua_w_per_k, 0.0, 1e5),
            (
                "evaporation_w_per_m2_k",
                self.evaporation_w_per_m2_k,
                0.0,
                200.0,
            ),
            ("solar_absorption", self.solar_absorption, 0.0, 1.0),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(format!("{k} must be between {lo} and {hi}, got {v}"));
            }
        }
        if self.ua_w_per_k + self.evaporation_w_per_m2_k * self.area_m2 <= 0.0 {
            return Err("the pool must lose some heat".into());
        }
        Ok(())
    }
}

/// A heat pump serving the zone besides the boards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatPumpSpec {
    /// `[outdoor °C, COP]` points, linear in between, held beyond the ends.
    pub cop: Vec<[f64; 2]>,
    /// `[outdoor °C, heat W]` points: the most heat it can deliver.
    pub capacity_w: Vec<[f64; 2]>,
    /// Room influence of its own controller: heat less by this much per
    /// kelvin the zone is above its setpoint (more per kelvin below), as
    /// weather-compensated heat pumps with a room sensor do. 0 makes it a
    /// pure weather-compensated base load that ignores the room.
    #[serde(default = "default_room_influence")]
    pub room_influence_w_per_k: f64,
    /// A room thermostat on it: off once the zone is this far above the
    /// setpoint, on again at the setpoint. None (the default): no cut-off.
    #[serde(default)]
    pub room_cutoff_k: Option<f64>,
}

fn default_room_influence() -> f64 {
    1000.0
}

/// Piecewise-linear lookup in `[x, y]` points sorted by x, held beyond the ends.
pub fn curve_at(points: &[[f64; 2]], x: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if x <= first[0] {
        return first[1];
    }
    for w in points.windows(2) {
        if let [a, b] = w {
            if x <= b[0] {
                let f = (x - a[0]) / (b[0] - a[0]);
                return a[1] + f * (b[1] - a[1]);
            }
        }
    }
    points.last().map_or(0.0, |p| p[1])
}

fn check_curve(points: &[[f64; 2]], min_y: f64) -> Result<(), String> {
    if points.is_empty() {
        return Err("needs at least one [outdoor_c, value] point".into());
    }
    for (i, p) in points.iter().enumerate() {
        if !(p[0].is_finite() && p[1].is_finite() && p[1] >= min_y) {
            return Err(format!(
                "point {i}: values must be finite and at least {min_y}"
            ));
        }
        if i > 0 && p[0] <= points[i - 1][0] {
            return Err(format!("point {i}: outdoor temperatures must increase"));
        }
    }
    Ok(())
}

/// "HH:MM" to seconds of the day.
pub fn parse_hhmm(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a time of day HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 || text.len() != 5 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

fn parse_days(days: &Option<Vec<String>>) -> Result<u8, String> {
    let Some(days) = days else {
        return Ok(ALL_DAYS);
    };
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut mask = 0u8;
    for d in days {
        let i = names
            .iter()
            .position(|n| n == d)
            .ok_or_else(|| format!("{d:?} is not one of {names:?}"))?;
        mask |= 1 << i;
    }
    if mask == 0 {
        return Err("an empty list of days".into());
    }
    Ok(mask)
}

/// Which entry of a daily table (sorted by time) is in force at `second_of_day`.
pub fn daily_value(table: &[(u32, f64)], second_of_day: u64) -> Option<f64> {
    table
        .iter()
        .rev()
        .find(|(at, _)| u64::from(*at) <= second_of_day)
        .or_else(|| table.last())
        .map(|(_, v)| *v)
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
    /// The boards' fan law (`quiet` or `firmware`), overriding the
    /// profile's: compares fan laws without a full `board_profile`.
    #[serde(default)]
    pub fan_law: Option<crate::board::FanLaw>,
    /// Setpoint schedule (repeats daily, or per weekday).
    #[serde(default)]
    pub schedule: Vec<ScheduleSpec>,
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
    /// Daily internal-gains table; replaces `internal_gain_w` when given.
    #[serde(default)]
    pub gains: Vec<GainSpec>,
    /// Periods when the zone's thermometer does not answer.
    #[serde(default)]
    pub sensor_failures: Vec<PeriodSpec>,
    /// For `kind = "pool"`: the water (replaces `[zone.room]`).
    #[serde(default)]
    pub pool: Option<PoolSpec>,
    #[serde(default)]
    pub heat_pump: Option<HeatPumpSpec>,
    /// For a pool: the circulation pump's daily timer (from `at`, on or
    /// off); running all day when empty. The pool heats only while it runs.
    #[serde(default)]
    pub circulation: Vec<CirculationSpec>,
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
            fan_law: None,
            schedule: Vec::new(),
            windows: Vec::new(),
            gains: Vec::new(),
            sensor_failures: Vec::new(),
            pool: None,
            heat_pump: None,
            circulation: Vec::new(),
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
        if let Some(p) = &self.policy {
            p.check().map_err(|r| invalid("policy", r))?;
        }
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
            z.setpoint_schedule()
                .map_err(|(k, r)| invalid(key(&k), r))?;
            for (j, w) in z.windows.iter().enumerate() {
                check_period(w.from_h, w.to_h)
                    .map_err(|r| invalid(key(&format!("windows[{j}]")), r))?;
                if !(w.extra_w_per_k.is_finite() && (0.0..=10_000.0).contains(&w.extra_w_per_k)) {
                    return Err(invalid(
                        key(&format!("windows[{j}].extra_w_per_k")),
                        "must be between 0 and 10000 W/K",
                    ));
                }
            }
            z.gain_table().map_err(|(k, r)| invalid(key(&k), r))?;
            z.circulation_table()
                .map_err(|(k, r)| invalid(key(&k), r))?;
            if !z.circulation.is_empty() && z.kind != ZoneKind::Pool {
                return Err(invalid(key("circulation"), "only for kind = \"pool\""));
            }
            for (j, p) in z.sensor_failures.iter().enumerate() {
                check_period(p.from_h, p.to_h)
                    .map_err(|r| invalid(key(&format!("sensor_failures[{j}]")), r))?;
            }
            match (&z.pool, z.kind) {
                (Some(p), ZoneKind::Pool) => p.check().map_err(|r| invalid(key("pool"), r))?,
                (Some(_), _) => return Err(invalid(key("pool"), "only for kind = \"pool\"")),
                (None, _) => {}
            }
            if let Some(hp) = &z.heat_pump {
                check_curve(&hp.cop, 1.0).map_err(|r| invalid(key("heat_pump.cop"), r))?;
                check_curve(&hp.capacity_w, 0.0)
                    .map_err(|r| invalid(key("heat_pump.capacity_w"), r))?;
                if !(hp.room_influence_w_per_k.is_finite()
                    && (0.0..=1e5).contains(&hp.room_influence_w_per_k))
                {
                    return Err(invalid(
                        key("heat_pump.room_influence_w_per_k"),
                        "must be between 0 and 100000",
                    ));
                }
                if hp
                    .room_cutoff_k
                    .is_some_and(|k| !(k.is_finite() && (0.0..=5.0).contains(&k)))
                {
                    return Err(invalid(
                        key("heat_pump.room_cutoff_k"),
                        "must be between 0 and 5",
                    ));
                }
            }
        }
        if let Some(ws) = &self.weather_series {
            for (k, v, lo, hi) in [
                ("weather_series.outdoor_c", &ws.outdoor_c, -60.0, 60.0),
                (
                    "weather_series.solar_w_per_m2",
                    &ws.solar_w_per_m2,
                    0.0,
                    1500.0,
                ),
            ] {
                if let Some(i) = v
                    .iter()
                    .position(|x| !(x.is_finite() && (lo..=hi).contains(x)))
                {
                    return Err(invalid(
                        format!("{k}[{i}]"),
                        format!("must be between {lo} and {hi}"),
                    ));
                }
            }
        }
        if let Some(p) = &self.prices {
            for (k, v) in [
                ("prices.grid_per_kwh", p.grid_per_kwh),
                ("prices.feed_in_per_kwh", p.feed_in_per_kwh),
                ("prices.hashprice_per_th_day", p.hashprice_per_th_day),
            ] {
                if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                    return Err(invalid(k, "must be between 0 and 100"));
                }
            }
            self.tou_table()
                .map_err(|(k, r)| invalid(format!("prices.{k}"), r))?;
        }
        if let Some(pv) = &self.pv {
            if let Some(i) = pv
                .surplus_w
                .iter()
                .position(|x| !(x.is_finite() && (0.0..=1e6).contains(x)))
            {
                return Err(invalid(
                    format!("pv.surplus_w[{i}]"),
                    "must be between 0 and 1e6 W",
                ));
            }
        }
        Ok(())
    }

    /// The time-of-use table as (second of day, price), sorted.
    pub fn tou_table(&self) -> Result<Vec<(u32, f64)>, (String, String)> {
        let Some(p) = &self.prices else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (i, e) in p.time_of_use.iter().enumerate() {
            let at = parse_hhmm(&e.at).map_err(|r| (format!("time_of_use[{i}].at"), r))?;
            if !(e.per_kwh.is_finite() && (0.0..=100.0).contains(&e.per_kwh)) {
                return Err((
                    format!("time_of_use[{i}].per_kwh"),
                    "must be between 0 and 100".into(),
                ));
            }
            out.push((at, e.per_kwh));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }
}

fn check_period(from_h: f64, to_h: f64) -> Result<(), String> {
    if !(from_h.is_finite() && to_h.is_finite() && from_h >= 0.0 && to_h > from_h) {
        return Err(format!("needs 0 <= from_h < to_h, got {from_h}..{to_h}"));
    }
    Ok(())
}

impl ZoneSpec {
    /// The setpoint schedule, if any; errors name the entry's key.
    pub fn setpoint_schedule(&self) -> Result<Option<Schedule>, (String, String)> {
        if self.schedule.is_empty() {
            return Ok(None);
        }
        let limits = self.kind.default_limits();
        let mut entries = Vec::new();
        for (j, e) in self.schedule.iter().enumerate() {
            let k = |f: &str| format!("schedule[{j}].{f}");
            let at_s = parse_hhmm(&e.at).map_err(|r| (k("at"), r))?;
            let days = parse_days(&e.days).map_err(|r| (k("days"), r))?;
            let setpoint_c = limits
                .validate_setpoint(e.setpoint_c)
                .map_err(|r| (k("setpoint_c"), r.to_string()))?;
            entries.push(ScheduleEntry {
                days,
                at_s,
                setpoint_c,
            });
        }
        Schedule::new(entries)
            .map(Some)
            .map_err(|r| ("schedule".to_string(), r))
    }

    /// The internal-gains table as (second of day, W), sorted.
    pub fn gain_table(&self) -> Result<Vec<(u32, f64)>, (String, String)> {
        let mut out = Vec::new();
        for (j, g) in self.gains.iter().enumerate() {
            let at = parse_hhmm(&g.at).map_err(|r| (format!("gains[{j}].at"), r))?;
            if !(g.w.is_finite() && (0.0..=10_000.0).contains(&g.w)) {
                return Err((
                    format!("gains[{j}].w"),
                    "must be between 0 and 10000 W".into(),
                ));
            }
            out.push((at, g.w));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// The circulation timer as (second of day, 1.0 on / 0.0 off).
    pub fn circulation_table(&self) -> Result<Vec<(u32, f64)>, (String, String)> {
        let mut out = Vec::new();
        for (j, c) in self.circulation.iter().enumerate() {
            let at = parse_hhmm(&c.at).map_err(|r| (format!("circulation[{j}].at"), r))?;
            out.push((at, if c.on { 1.0 } else { 0.0 }));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// The thermal parameters the world uses for this zone.
    pub fn thermal_params(&self) -> RoomParams {
        match (&self.pool, self.kind) {
            (Some(p), ZoneKind::Pool) => p.as_room(),
            _ => self.room,
        }
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
            spec.thermal_params(),
            Celsius(spec.initial_c),
            Watts(spec.internal_gain_w),
        );
        let mut profile = spec
            .board_profile
            .clone()
            .unwrap_or_else(SimBoardParams::bm1370_65);
        if let Some(law) = spec.fan_law {
            profile.fan_law = law;
        }
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
    fn benchmark_keys_refuse_unknowns_and_bad_values_by_path() {
        let z = "[[zone]]\nid = \"a\"\n";
        let cases = [
            (
                format!("{z}schedule = [{{ at = \"25:00\", setpoint_c = 20 }}]\n"),
                "zone[0].schedule[0].at",
            ),
            (
                format!("{z}schedule = [{{ at = \"06:00\", setpoint_c = 99 }}]\n"),
                "zone[0].schedule[0].setpoint_c",
            ),
            (
                format!("{z}schedule = [{{ at = \"06:00\", setpoint_c = 20, days = [\"mo\"] }}]\n"),
                "zone[0].schedule[0].days",
            ),
            (
                format!("{z}schedule = [{{ at = \"06:00\", setpiont_c = 20 }}]\n"),
                "setpiont_c",
            ),
            (
                format!("{z}windows = [{{ from_h = 3, to_h = 2, extra_w_per_k = 1 }}]\n"),
                "zone[0].windows[0]",
            ),
            (
                format!("{z}gains = [{{ at = \"06:00\", w = -1 }}]\n"),
                "zone[0].gains[0].w",
            ),
            (
                format!("{z}sensor_failures = [{{ from_h = -1, to_h = 2 }}]\n"),
                "zone[0].sensor_failures[0]",
            ),
            (
                format!("{z}[zone.pool]\nvolume_m3 = 30\narea_m2 = 20\n"),
                "zone[0].pool",
            ),
            (
                format!("{z}[zone.heat_pump]\ncop = [[7, 4], [-7, 2]]\ncapacity_w = [[0, 1]]\n"),
                "zone[0].heat_pump.cop",
            ),
            (
                format!("[prices]\ntime_of_use = [{{ at = \"7:00\", per_kwh = 0.2 }}]\n{z}"),
                "prices.time_of_use[0].at",
            ),
            (format!("[prices]\nhashprice = 1\n{z}"), "hashprice"),
            (format!("[pv]\nsurplus_w = [1, -5]\n{z}"), "pv.surplus_w[1]"),
            (
                format!("[weather_series]\noutdoor_c = [1, 99]\n{z}"),
                "weather_series.outdoor_c[1]",
            ),
        ];
        for (text, key) in cases {
            let err = Scenario::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }

    #[test]
    fn shipped_scenarios_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("docs/scenarios exists") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(!s.name.is_empty());
            n += 1;
        }
        assert!(n >= 6, "{n} scenarios");
    }

    #[test]
    fn schedules_parse_into_weekly_entries() {
        let s = Scenario::from_toml(
            "[[zone]]\nid = \"a\"\nschedule = [{ at = \"06:30\", setpoint_c = 21, days = [\"sat\", \"sun\"] }]\n",
        )
        .expect("valid");
        let sched = s.zones[0]
            .setpoint_schedule()
            .ok()
            .flatten()
            .expect("a schedule");
        assert_eq!(sched.entries()[0].at_s, 6 * 3600 + 1800);
        assert_eq!(sched.entries()[0].days, 0b110_0000);
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
