//! Fault-injection campaigns on the simulated world.
//!
//! A campaign file says how many runs, how long each, and which kinds of
//! fault to draw from. Run `n` uses seed `first_seed + n`: the seed alone
//! decides the zone, the boards and every fault's kind, start, length and
//! size ([`plan`]), so a failing seed replays bit for bit with
//! `hearth sim --faults FILE --seed N`.
//!
//! Each run drives the same `Appliance::tick` as the daemon over device
//! wrappers that inject the faults, and checks invariants against the
//! world's truth once per simulated second:
//!
//! * no zone's true temperature above its hard limit;
//! * no board's chip above its trip temperature for longer than
//!   `trip_grace_s`;
//! * after the last fault clears, the zone heats again (boards draw power)
//!   or is already near its setpoint within `recovery_window_min`;
//! * no panic (each run is caught; a panic is a violation with its message);
//! * the network faults' own invariants (see [`crate::netfaults`]): an
//!   MQTT-fed zone never steers on a stale input and regains its input after
//!   the broker returns; work falls to local heat-only work while no source
//!   is up, heat goes on meanwhile, and the preferred source takes over again.
//!
//! Time is kept twice: the world's true time, and the controller's clock,
//! which a `clock_jump` fault steps. Device wrappers ignore the controller's
//! `now` and advance the world on true time, as real hardware would.

use crate::board::SimBoardParams;
use crate::devices::{SimHashboard, SimThermometer};
use crate::netfaults::{
    HomeAssistantFeed, NetworkUp, NoLocalProbe, WorkSide, HA_PUBLISH_EVERY_S, SWITCH_BACK_AFTER,
};
use crate::rng::SimRng;
use crate::room::RoomParams;
use crate::weather::WeatherParams;
use crate::world::{lock, SharedWorld, World};
use hearth_control::{
    Appliance, PiGains, ZoneConfig, ZoneHardware, ZoneKind, ZoneMode, ZoneSettings,
};
use hearth_core::board::BoardPoll;
use hearth_core::{
    BoardEvent, BoardId, BoardInfo, BoardState, BoardTelemetry, Celsius, CommandLease, DeviceError,
    GhPerSec, Hashboard, HashboardError, Job, Percent, Thermometer, Timestamp, Watts, ZoneId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds, so a typo cannot ask for a year of CPU.
pub const MAX_RUNS: u32 = 1_000_000;
pub const MAX_HOURS: f64 = 48.0;
pub const MAX_FAULTS_PER_RUN: u32 = 8;
pub const MAX_BOARDS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("campaign file: {0}")]
    Parse(String),
    #[error("campaign: {key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> CampaignError {
    CampaignError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Every fault the campaign knows. The network ones act on the world's
/// network side ([`crate::netfaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The zone thermometer keeps returning the value it had at the start.
    SensorStuck,
    /// The zone thermometer drifts by `magnitude` K/h (either sign).
    SensorDrift,
    /// The zone thermometer stops answering.
    SensorGone,
    /// A board's fan stops turning.
    FanStall,
    /// `magnitude` chips of a board stop hashing (power and hashrate fall;
    /// the controller still believes the old maximum).
    ChipDrop,
    /// A board's regulator/heatsink runs `magnitude` K hotter than the fan
    /// explains (the model's regulator temperature follows the chips).
    RegulatorOvertemp,
    /// A board stops answering: commands fail, polls report a fault, and the
    /// board no longer hears the controller (its command lease runs out).
    BoardSilent,
    /// The control loop hangs: no tick for the fault's duration.
    ControlHang,
    /// The controller's clock steps by `magnitude` seconds (either sign) and
    /// steps back when the fault ends.
    ClockJump,
    /// The MQTT broker is gone: Home Assistant's publishes are lost.
    MqttGone,
    /// The Bitcoin node is gone: the sharechain source is down.
    NodeGone,
    /// Every sharechain peer is gone: the sharechain source is down.
    PeersGone,
    /// The pool is gone: the pool source is down.
    PoolGone,
}

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::SensorStuck,
        FaultKind::SensorDrift,
        FaultKind::SensorGone,
        FaultKind::FanStall,
        FaultKind::ChipDrop,
        FaultKind::RegulatorOvertemp,
        FaultKind::BoardSilent,
        FaultKind::ControlHang,
        FaultKind::ClockJump,
        FaultKind::MqttGone,
        FaultKind::NodeGone,
        FaultKind::PeersGone,
        FaultKind::PoolGone,
    ];

    /// The default campaign's kinds: every one.
    pub const EFFECTIVE: [FaultKind; 13] = FaultKind::ALL;

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::SensorStuck => "sensor_stuck",
            FaultKind::SensorDrift => "sensor_drift",
            FaultKind::SensorGone => "sensor_gone",
            FaultKind::FanStall => "fan_stall",
            FaultKind::ChipDrop => "chip_drop",
            FaultKind::RegulatorOvertemp => "regulator_overtemp",
            FaultKind::BoardSilent => "board_silent",
            FaultKind::ControlHang => "control_hang",
            FaultKind::ClockJump => "clock_jump",
            FaultKind::MqttGone => "mqtt_gone",
            FaultKind::NodeGone => "node_gone",
            FaultKind::PeersGone => "peers_gone",
            FaultKind::PoolGone => "pool_gone",
        }
    }

    fn is_network(self) -> bool {
        matches!(
            self,
            FaultKind::MqttGone | FaultKind::NodeGone | FaultKind::PeersGone | FaultKind::PoolGone
        )
    }
}

/// A campaign file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_first_seed")]
    pub first_seed: u64,
    #[serde(default = "default_runs")]
    pub runs: u32,
    /// Simulated hours per run.
    #[serde(default = "default_hours")]
    pub hours: f64,
    /// Control tick, simulated seconds.
    #[serde(default = "default_tick_s")]
    pub tick_s: f64,
    /// Faults drawn per run (kinds may repeat).
    #[serde(default = "default_faults_per_run")]
    pub faults_per_run: u32,
    /// Kinds to draw from; default: every kind the world reacts to.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<FaultKind>,
    /// Longest a board may stay above its trip temperature.
    #[serde(default = "default_trip_grace_s")]
    pub trip_grace_s: f64,
    /// After the last fault clears, heat must resume within this.
    #[serde(default = "default_recovery_window_min")]
    pub recovery_window_min: f64,
    /// Boards per zone are drawn from 1..=max_boards.
    #[serde(default = "default_max_boards")]
    pub max_boards: u32,
}

fn default_first_seed() -> u64 {
    1
}
fn default_runs() -> u32 {
    100
}
fn default_hours() -> f64 {
    6.0
}
fn default_tick_s() -> f64 {
    10.0
}
fn default_faults_per_run() -> u32 {
    2
}
fn default_kinds() -> Vec<FaultKind> {
    FaultKind::EFFECTIVE.to_vec()
}
fn default_trip_grace_s() -> f64 {
    10.0
}
fn default_recovery_window_min() -> f64 {
    60.0
}
fn default_max_boards() -> u32 {
    2
}

impl Default for Campaign {
    fn default() -> Campaign {
        Campaign {
            name: "default".into(),
            first_seed: default_first_seed(),
            runs: default_runs(),
            hours: default_hours(),
            tick_s: default_tick_s(),
            faults_per_run: default_faults_per_run(),
            kinds: default_kinds(),
            trip_grace_s: default_trip_grace_s(),
            recovery_window_min: default_recovery_window_min(),
            max_boards: default_max_boards(),
        }
    }
}

impl Campaign {
    pub fn from_toml(text: &str) -> Result<Campaign, CampaignError> {
        let c: Campaign = toml::from_str(text).map_err(|e| CampaignError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    pub fn check(&self) -> Result<(), CampaignError> {
        if self.runs == 0 || self.runs > MAX_RUNS {
            return Err(invalid("runs", format!("must be 1 to {MAX_RUNS}")));
        }
        if self.first_seed.checked_add(u64::from(self.runs)).is_none() {
            return Err(invalid("first_seed", "first_seed + runs overflows"));
        }
        if !(self.hours.is_finite() && self.hours >= 1.0 && self.hours <= MAX_HOURS) {
            return Err(invalid("hours", format!("must be 1 to {MAX_HOURS}")));
        }
        if !(self.tick_s.is_finite() && (1.0..=60.0).contains(&self.tick_s)) {
            return Err(invalid("tick_s", "must be 1 to 60 seconds"));
        }
        if self.faults_per_run == 0 || self.faults_per_run > MAX_FAULTS_PER_RUN {
            return Err(invalid(
                "faults_per_run",
                format!("must be 1 to {MAX_FAULTS_PER_RUN}"),
            ));
        }
        if self.kinds.is_empty() {
            return Err(invalid("kinds", "at least one fault kind is needed"));
        }
        if !(self.trip_grace_s.is_finite() && (1.0..=600.0).contains(&self.trip_grace_s)) {
            return Err(invalid("trip_grace_s", "must be 1 to 600 seconds"));
        }
        let window_h = self.recovery_window_min / 60.0;
        if !(self.recovery_window_min.is_finite()
            && self.recovery_window_min >= 10.0
            && window_h <= self.hours / 2.0)
        {
            return Err(invalid(
                "recovery_window_min",
                "must be at least 10 minutes and at most half the run",
            ));
        }
        if self.max_boards == 0 || self.max_boards > MAX_BOARDS {
            return Err(invalid("max_boards", format!("must be 1 to {MAX_BOARDS}")));
        }
        Ok(())
    }
}

/// One fault of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// Which board (board faults), modulo the zone's boards.
    pub board: usize,
    pub start_s: f64,
    pub duration_s: f64,
    /// Kind-specific size: K/h (drift), K (over-temperature), chips (chip
    /// drop), seconds (clock jump); unused otherwise.
    pub magnitude: f64,
}

impl RunPlan {
    /// Whether the zone's temperature comes over MQTT (a run with an
    /// `mqtt_gone` fault; otherwise the broker would not matter).
    pub fn mqtt_fed(&self) -> bool {
        self.faults.iter().any(|f| f.kind == FaultKind::MqttGone)
    }

    fn last_end_of(&self, kinds: &[FaultKind]) -> Option<f64> {
        self.faults
            .iter()
            .filter(|f| kinds.contains(&f.kind))
            .map(Fault::end_s)
            .reduce(f64::max)
    }
}

impl Fault {
    fn active(&self, t_s: f64) -> bool {
        t_s >= self.start_s && t_s < self.start_s + self.duration_s
    }

    fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }
}

/// Everything a seed decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPlan {
    pub seed: u64,
    pub setpoint_c: f64,
    pub initial_c: f64,
    pub outdoor_mean_c: f64,
    pub boards: u32,
    /// Interior heat capacity scale (small rooms heat fast).
    pub room_scale: f64,
    pub faults: Vec<Fault>,
}

/// The run for `seed` under `campaign`. Faults start in the first half of the
/// run, last 1 minute to 90 minutes, and all end before the recovery window.
pub fn plan(campaign: &Campaign, seed: u64) -> RunPlan {
    let mut rng = SimRng::new(seed ^ 0xFA17_5EED);
    let total_s = campaign.hours * 3600.0;
    let window_s = campaign.recovery_window_min * 60.0;
    let boards = 1 + (rng.uniform() * f64::from(campaign.max_boards)) as u32;
    let boards = boards.min(campaign.max_boards);
    let setpoint_c = 16.0 + (rng.uniform() * 40.0).floor() / 4.0; // 16..=25.75
    let initial_c = 12.0 + rng.uniform() * 10.0;
    let outdoor_mean_c = -10.0 + rng.uniform() * 20.0;
    let room_scale = 0.5 + rng.uniform();
    let latest_end_s = (total_s - window_s).max(60.0);
    let mut faults = Vec::new();
    for _ in 0..campaign.faults_per_run {
        let idx = (rng.uniform() * campaign.kinds.len() as f64) as usize;
        let Some(&kind) = campaign.kinds.get(idx.min(campaign.kinds.len() - 1)) else {
            continue;
        };
        let start_s = rng.uniform() * total_s * 0.5;
        let duration_s = (60.0 + rng.uniform() * 5340.0).min((latest_end_s - start_s).max(60.0));
        let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        let magnitude = match kind {
            // A sensor ageing or a probe slipping out of its pocket: up to 2 K/h.
            FaultKind::SensorDrift => sign * (0.2 + rng.uniform() * 1.8),
            // Hot enough to trip under load, not so hot that an unpowered
            // board stays above trip (no software could help then).
            FaultKind::RegulatorOvertemp => 10.0 + rng.uniform() * 35.0,
            FaultKind::ChipDrop => (1.0 + rng.uniform() * 8.0).floor(),
            // NTP correcting a Pi that booted without a clock, or worse.
            FaultKind::ClockJump => sign * (60.0 + rng.uniform() * 86_400.0),
            _ => 0.0,
        };
        let board = (rng.uniform() * f64::from(boards)) as usize;
        faults.push(Fault {
            kind,
            board,
            start_s,
            duration_s,
            magnitude,
        });
    }
    RunPlan {
        seed,
        setpoint_c,
        initial_c,
        outdoor_mean_c,
        boards,
        room_scale,
        faults,
    }
}

/// The faults in force right now, shared by the device wrappers.
#[derive(Debug, Default)]
pub struct Injected {
    /// True time in ms (the world's clock); wrappers advance the world to it.
    pub true_now: Timestamp,
    pub sensor_stuck_c: Option<f64>,
    /// Accumulated sensor drift, K.
    pub sensor_offset_k: f64,
    pub sensor_gone: bool,
    /// Board index -> silent.
    pub board_silent: BTreeMap<usize, bool>,
    /// Network pieces currently gone ([`crate::netfaults`]).
    pub network_down: Vec<FaultKind>,
}

type SharedInjected = Arc<Mutex<Injected>>;

fn inj(i: &SharedInjected) -> MutexGuard<'_, Injected> {
    i.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
struct FaultyThermometer {
    inner: SimThermometer,
    faults: SharedInjected,
}

impl Thermometer for FaultyThermometer {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn read_temp(&mut self, _controller_now: Timestamp) -> Result<Celsius, DeviceError> {
        let (now, stuck, offset, gone) = {
            let f = inj(&self.faults);
            (
                f.true_now,
                f.sensor_stuck_c,
                f.sensor_offset_k,
                f.sensor_gone,
            )
        };
        let reading = self.inner.read_temp(now)?;
        if gone {
            return Err(DeviceError::Timeout);
        }
        if let Some(c) = stuck {
            return Ok(Celsius(c));
        }
        Ok(Celsius(reading.get() + offset))
    }
}

/// A board handle that can go silent. The lease is the board's own side: it
/// idles the board when the controller's commands stop reaching it.
#[derive(Debug)]
struct FaultyBoard {
    inner: SimHashboard,
    index: usize,
    faults: SharedInjected,
}

impl FaultyBoard {
    fn silent(&self) -> (bool, Timestamp) {
        let f = inj(&self.faults);
        (
            f.board_silent.get(&self.index).copied().unwrap_or(false),
            f.true_now,
        )
    }
}

fn silent_poll() -> BoardPoll {
    BoardPoll {
        telemetry: BoardTelemetry {
            state: BoardState::Fault,
            power_w: Watts::ZERO,
            power_target_w: Watts::ZERO,
            hashrate_ghs: GhPerSec::ZERO,
            chip_temp_c: None,
            regulator_temp_c: None,
            fan_duty: Percent::FULL,
            fan_rpm: None,
            operating_point: None,
        },
        events: vec![BoardEvent::Fault {
            reason: "board does not answer".into(),
        }],
        nonces: Vec::new(),
    }
}

impl Hashboard for FaultyBoard {
    fn info(&self) -> &BoardInfo {
        self.inner.info()
    }

    fn set_power_target(&mut self, target: Watts, _now: Timestamp) -> Result<(), HashboardError> {
        let (silent, now) = self.silent();
        if silent {
            return Err(HashboardError::Disconnected("board does not answer".into()));
        }
        self.inner.set_power_target(target, now)
    }

    fn set_job(&mut self, job: Job, _now: Timestamp) -> Result<(), HashboardError> {
        let (silent, now) = self.silent();
        if silent {
            return Err(HashboardError::Disconnected("board does not answer".into()));
        }
        self.inner.set_job(job, now)
    }

    fn poll(&mut self, _now: Timestamp) -> BoardPoll {
        let (silent, now) = self.silent();
        let real = self.inner.poll(now);
        if silent {
            return silent_poll();
        }
        real
    }

    fn stop_safely(&mut self, _now: Timestamp) -> Result<(), HashboardError> {
        let (silent, now) = self.silent();
        if silent {
            return Err(HashboardError::Disconnected("board does not answer".into()));
        }
        self.inner.stop_safely(now)
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub at_s: f64,
    pub detail: String,
}

/// Result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    pub plan: RunPlan,
    pub violations: Vec<Violation>,
    pub max_zone_c: f64,
    pub hard_max_c: f64,
    pub longest_over_trip_s: f64,
    pub board_trips: u64,
    /// Seconds from the last fault clearing to heat flowing again (or the
    /// zone being near its setpoint); `None` if it never did.
    pub resumed_after_s: Option<f64>,
    /// Heat the boards delivered while the control loop was hung, Wh.
    pub hang_heat_wh: f64,
    /// Simulated seconds the zone had no temperature (blind).
    pub blind_s: f64,
    /// Of those, seconds it was given no heat while the room was truly
    /// more than [`COLD_BELOW_SETPOINT_K`] under its setpoint.
    pub blind_unheated_cold_s: f64,
    /// The network side's figures.
    pub net: NetFigures,
}

/// A blind zone this far under its setpoint (by the true temperature) and
/// given nothing counts as going cold unheated.
pub const COLD_BELOW_SETPOINT_K: f64 = 0.5;

/// What the network side of one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetFigures {
    /// The zone's temperature came over MQTT.
    pub mqtt_fed: bool,
    /// Home Assistant publishes lost to the broker being gone.
    pub publishes_lost: u64,
    /// Control ticks in the stale-input safety mode (no temperature).
    pub safety_mode_ticks: u64,
    /// From the last `mqtt_gone` clearing to the zone having a temperature
    /// again, s.
    pub mqtt_recovered_after_s: Option<f64>,
    /// Simulated seconds on local heat-only work.
    pub heat_only_s: f64,
    /// Shares submitted to the sharechain and the pool, and found on
    /// heat-only work (never submitted).
    pub shares: [u64; 3],
    /// From the last node/peers/pool fault clearing to the sharechain being
    /// the source again, s.
    pub work_resumed_after_s: Option<f64>,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Board physics per simulated second, the invariants' own watch.
struct Watch {
    over_trip_s: Vec<f64>,
    longest_over_trip_s: f64,
    max_zone_c: f64,
}

/// The world and its devices for one plan.
/// The world, its zone, and for an MQTT-fed zone ([`RunPlan::mqtt_fed`])
/// Home Assistant's feed.
type Built = (
    SharedWorld,
    Vec<(ZoneConfig, ZoneHardware)>,
    ZoneKind,
    Option<HomeAssistantFeed>,
);

fn build(plan: &RunPlan, start: Timestamp, faults: &SharedInjected) -> Built {
    let weather = WeatherParams {
        mean_c: plan.outdoor_mean_c,
        ..WeatherParams::default()
    };
    let mut world = World::new(start, plan.seed, weather);
    let base = RoomParams::default();
    let params = RoomParams {
        ci_j_per_k: base.ci_j_per_k * plan.room_scale,
        ce_j_per_k: base.ce_j_per_k * plan.room_scale,
        ..base
    };
    let room = world.add_room("zone", params, Celsius(plan.initial_c), Watts(100.0));
    let board_idx: Vec<usize> = (0..plan.boards)
        .map(|_| world.add_board(room, SimBoardParams::bm1370_65()))
        .collect();
    let world = world.into_shared();
    let kind = ZoneKind::Room;
    let zone_id = ZoneId::new("zone").unwrap_or_else(|_| unreachable!("constant id is valid"));
    let boards: Vec<Box<dyn Hashboard>> = board_idx
        .iter()
        .enumerate()
        .filter_map(|(n, &idx)| {
            let id = BoardId::new(format!("board-{n}")).ok()?;
            let inner = SimHashboard::new(world.clone(), idx, id)?;
            Some(Box::new(FaultyBoard {
                inner,
                index: n,
                faults: faults.clone(),
            }) as Box<dyn Hashboard>)
        })
        .collect();
    let config = ZoneConfig {
        id: zone_id,
        name: "zone".into(),
        kind,
        limits: kind.default_limits(),
        settings: ZoneSettings {
            setpoint_c: Celsius(plan.setpoint_c),
            mode: ZoneMode::Heat,
        },
    };
    let sensor: Box<dyn Thermometer> = Box::new(FaultyThermometer {
        inner: SimThermometer::new(world.clone(), room, "zone air"),
        faults: faults.clone(),
    });
    // An MQTT-fed zone: the sensor is Home Assistant's, the zone has none.
    let (thermometer, feed): (Box<dyn Thermometer>, _) = if plan.mqtt_fed() {
        (Box::new(NoLocalProbe), Some(HomeAssistantFeed::new(sensor)))
    } else {
        (sensor, None)
    };
    let hw = ZoneHardware {
        thermometer,
        boards,
    };
    (world, vec![(config, hw)], kind, feed)
}

/// Applies the faults active at `t_s` to the world and the wrappers. Called
/// once per simulated second, so drift accumulates per second.
fn apply_faults(plan: &RunPlan, t_s: f64, world: &mut World, f: &mut Injected, boards: usize) {
    let mut stuck = false;
    let mut gone = false;
    let mut drift_k_per_h = 0.0;
    let mut silent = vec![false; boards];
    let mut fan = vec![false; boards];
    let mut hot_k = vec![0.0; boards];
    let mut dropped = vec![0u32; boards];
    f.network_down.clear();
    for fault in plan.faults.iter().filter(|x| x.active(t_s)) {
        let b = fault.board % boards.max(1);
        match fault.kind {
            FaultKind::SensorStuck => stuck = true,
            FaultKind::SensorDrift => drift_k_per_h += fault.magnitude,
            FaultKind::SensorGone => gone = true,
            FaultKind::FanStall => fan[b] = true,
            FaultKind::ChipDrop => dropped[b] += fault.magnitude as u32,
            // Two overheating causes at once: the worse one counts (their sum
            // could exceed what an unpowered board sheds, which no software
            // can answer).
            FaultKind::RegulatorOvertemp => hot_k[b] = f64::max(hot_k[b], fault.magnitude),
            FaultKind::BoardSilent => silent[b] = true,
            FaultKind::ControlHang | FaultKind::ClockJump => {}
            k @ (FaultKind::MqttGone
            | FaultKind::NodeGone
            | FaultKind::PeersGone
            | FaultKind::PoolGone) => f.network_down.push(k),
        }
    }
    if stuck {
        if f.sensor_stuck_c.is_none() {
            let truth = world.room(0).map_or(20.0, |r| r.state.interior_c.get());
            f.sensor_stuck_c = Some(truth + f.sensor_offset_k);
        }
    } else {
        f.sensor_stuck_c = None;
    }
    f.sensor_gone = gone;
    // Drift accumulates while active and is gone once the sensor is
    // replaced (the fault clearing).
    if drift_k_per_h != 0.0 {
        f.sensor_offset_k += drift_k_per_h / 3600.0;
    } else {
        f.sensor_offset_k = 0.0;
    }
    let chips = SimBoardParams::bm1370_65().power.chips;
    for b in 0..boards {
        f.board_silent.insert(b, silent[b]);
        if let Some(board) = world.board_mut(b) {
            board.set_fan_stalled(fan[b]);
            board.set_thermal_fault(hot_k[b]);
            board.params.power.chips = chips.saturating_sub(dropped[b]).max(1);
        }
    }
}

/// A clock step voids the age of every value stamped before it (the
/// controller drops them: `hearth_control::house::known_age`), so the
/// input can only be back one publish after the step: `bound_s` moved past
/// each step (a `clock_jump` fault's start or end) between `from_s` and it
/// by `after_s`. The safety side (no steering on a stale input) is checked
/// on the true clock and is not moved.
fn extend_past_clock_steps(plan: &RunPlan, from_s: f64, bound_s: f64, after_s: f64) -> f64 {
    let mut steps: Vec<f64> = plan
        .faults
        .iter()
        .filter(|f| f.kind == FaultKind::ClockJump)
        .flat_map(|f| [f.start_s, f.end_s()])
        .collect();
    steps.sort_by(f64::total_cmp);
    steps
        .into_iter()
        .filter(|s| *s >= from_s)
        .fold(bound_s, |bound, s| {
            if s <= bound {
                bound.max(s + after_s)
            } else {
                bound
            }
        })
}

/// Runs one plan, catching panics.
pub fn run_plan(campaign: &Campaign, plan: &RunPlan) -> RunOutcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_plan_inner(campaign, plan)
    }));
    match result {
        Ok(outcome) => outcome,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            RunOutcome {
                plan: plan.clone(),
                violations: vec![Violation {
                    invariant: "no_panic",
                    at_s: f64::NAN,
                    detail: msg,
                }],
                max_zone_c: f64::NAN,
                hard_max_c: f64::NAN,
                longest_over_trip_s: f64::NAN,
                board_trips: 0,
                resumed_after_s: None,
                hang_heat_wh: f64::NAN,
                blind_s: 0.0,
                blind_unheated_cold_s: 0.0,
                net: NetFigures::default(),
            }
        }
    }
}

fn run_plan_inner(campaign: &Campaign, plan: &RunPlan) -> RunOutcome {
    run_with_lease(campaign, plan, hearth_core::lease::DEFAULT_LEASE)
}

// Board indices run over several parallel per-board vectors and the world.
#[allow(clippy::needless_range_loop)]
fn run_with_lease(campaign: &Campaign, plan: &RunPlan, lease: Duration) -> RunOutcome {
    // Mid-January noon, so the weather's daily cycle is in play.
    let start = Timestamp::from_secs(1_768_478_400);
    let faults: SharedInjected = Arc::new(Mutex::new(Injected {
        true_now: start,
        ..Injected::default()
    }));
    let (world, zones, kind, mut feed) = build(plan, start, &faults);
    let hard_max_c = kind.default_limits().hard_max_c.get();
    let trip_c = SimBoardParams::bm1370_65().trip_chip_c;
    let boards = plan.boards as usize;
    let mut appliance = Appliance::new(zones, PiGains::default());
    let mut leases = vec![CommandLease::new(lease); boards];
    let mut hang_heat_wh = 0.0;
    let (mut blind_s, mut blind_unheated_cold_s) = (0.0, 0.0);
    let mut violations = Vec::new();
    let mut watch = Watch {
        over_trip_s: vec![0.0; boards],
        longest_over_trip_s: 0.0,
        max_zone_c: f64::NEG_INFINITY,
    };
    let total_s = (campaign.hours * 3600.0).round() as u64;
    let tick_s = campaign.tick_s.round().max(1.0) as u64;
    let window_s = campaign.recovery_window_min * 60.0;
    let last_clear_s = plan.faults.iter().map(Fault::end_s).fold(0.0_f64, f64::max);
    let mut resumed_after_s: Option<f64> = None;
    let mut board_trips = 0u64;
    let mut reported_over = vec![false; boards];
    // The network side.
    let mut work = WorkSide::new();
    let mut net = NetFigures {
        mqtt_fed: feed.is_some(),
        ..NetFigures::default()
    };
    let stale_after_s = hearth_control::house::ZONE_TEMP_MAX_AGE.as_secs_f64();
    // True time of the last value the daemon received, and the one waiting
    // for the next tick.
    let mut delivered_at_s: Option<f64> = None;
    let mut pending_input = None;
    // The zone regains its input this long after the broker and Home
    // Assistant's sensor are back (gone, or stuck: a frozen value is not
    // trusted until it moves, `hearth_control::stuck`): two publishes and
    // two ticks; and one publish and two ticks after a clock step inside
    // that time.
    let sensor_end_s = plan.last_end_of(&[FaultKind::SensorGone, FaultKind::SensorStuck]);
    let mqtt_bound_s = plan.last_end_of(&[FaultKind::MqttGone]).map(|end| {
        let base =
            end.max(sensor_end_s.unwrap_or(0.0)) + 2.0 * HA_PUBLISH_EVERY_S + 2.0 * tick_s as f64;
        extend_past_clock_steps(plan, end, base, HA_PUBLISH_EVERY_S + 2.0 * tick_s as f64)
    });
    let mqtt_end_s = plan.last_end_of(&[FaultKind::MqttGone]);
    let work_end_s = plan.last_end_of(&[
        FaultKind::NodeGone,
        FaultKind::PeersGone,
        FaultKind::PoolGone,
    ]);
    let work_bound_s =
        work_end_s.map(|e| e + SWITCH_BACK_AFTER.as_secs_f64() + 2.0 * tick_s as f64);
    let (mut mqtt_checked, mut work_checked) = (false, false);
    // The controller asked for heat on heat-only work at the last tick,
    // with no fault but network ones in force.
    let mut asked_on_local_work = false;

    for t in 1..=total_s {
        let t_s = t as f64;
        let now = start.plus(Duration::from_secs(t));
        {
            let mut w = lock(&world);
            w.advance_to(now);
            let mut f = inj(&faults);
            f.true_now = now;
            apply_faults(plan, t_s, &mut w, &mut f, boards);
            // The board side: a lease not renewed idles the board.
            for (b, lease) in leases.iter_mut().enumerate() {
                if lease.expired(now) {
                    if let Some(board) = w.board_mut(b) {
                        board.set_power_target(Watts::ZERO);
                    }
                    lease.clear();
                }
            }
            // Invariants on the truth, every second.
            if let Some(room) = w.room(0) {
                let c = room.state.interior_c.get();
                watch.max_zone_c = watch.max_zone_c.max(c);
                if c > hard_max_c && violations.len() < 16 {
                    violations.push(Violation {
                        invariant: "zone_below_hard_limit",
                        at_s: t_s,
                        detail: format!("zone at {c:.2} °C, hard limit {hard_max_c} °C"),
                    });
                }
            }
            for b in 0..boards {
                let chip = w.board(b).map_or(0.0, |x| x.chip_temp().get());
                if chip > trip_c {
                    watch.over_trip_s[b] += 1.0;
                } else {
                    watch.over_trip_s[b] = 0.0;
                    reported_over[b] = false;
                }
                watch.longest_over_trip_s = watch.longest_over_trip_s.max(watch.over_trip_s[b]);
                if watch.over_trip_s[b] > campaign.trip_grace_s && !reported_over[b] {
                    reported_over[b] = true;
                    violations.push(Violation {
                        invariant: "board_below_trip",
                        at_s: t_s,
                        detail: format!(
                            "board-{b} chip {chip:.1} °C above trip {trip_c} °C for {:.0} s",
                            watch.over_trip_s[b]
                        ),
                    });
                }
            }
            if t_s >= last_clear_s && resumed_after_s.is_none() {
                let heating =
                    (0..boards).any(|b| w.board(b).is_some_and(|x| x.power_w().get() > 0.0));
                let near = w
                    .room(0)
                    .is_some_and(|r| r.state.interior_c.get() >= plan.setpoint_c - 1.0);
                if heating || near {
                    resumed_after_s = Some(t_s - last_clear_s);
                }
            }
        }
        let jump_s: f64 = plan
            .faults
            .iter()
            .filter(|x| x.kind == FaultKind::ClockJump && x.active(t_s))
            .map(|x| x.magnitude)
            .sum();
        let controller_ms = (now.as_millis() as f64 + jump_s * 1000.0).max(0.0);
        let controller_now = Timestamp::from_millis(controller_ms as u64);
        let up = {
            let f = inj(&faults);
            let gone = |k| f.network_down.contains(&k);
            NetworkUp {
                broker: !gone(FaultKind::MqttGone),
                node: !gone(FaultKind::NodeGone),
                peers: !gone(FaultKind::PeersGone),
                pool: !gone(FaultKind::PoolGone),
            }
        };
        // Home Assistant publishes whether or not the control loop runs; the
        // daemon's MQTT side stamps a value with its clock on receipt.
        if let Some(ha) = feed.as_mut() {
            if let Some(v) = ha.step(t_s, now, controller_now, up.broker) {
                delivered_at_s = Some(t_s);
                pending_input = Some(v);
            }
            net.publishes_lost = ha.lost;
        }
        if t % tick_s != 0 {
            continue;
        }
        // The work pipeline runs beside the control loop (a hang does not
        // stop it).
        // The failover on the world's true (monotonic) clock.
        let (hashrate_ths, true_power_w) = {
            let w = lock(&world);
            (0..boards)
                .filter_map(|b| w.board(b))
                .fold((0.0, 0.0), |(h, p), x| {
                    (h + x.hashrate().get() / 1000.0, p + x.power_w().get())
                })
        };
        let active = work.step(now, up, hashrate_ths, tick_s as f64);
        if let Some(i) = active {
            if !work.source_up(i) && violations.len() < 16 {
                violations.push(Violation {
                    invariant: "work_from_a_live_source",
                    at_s: t_s,
                    detail: format!("source {i} is active while it is down"),
                });
            }
        }
        if let (Some(end), Some(bound)) = (work_end_s, work_bound_s) {
            if t_s >= end && active == Some(0) && net.work_resumed_after_s.is_none() {
                net.work_resumed_after_s = Some(t_s - end);
            }
            if t_s >= bound && !work_checked {
                work_checked = true;
                if active != Some(0) {
                    violations.push(Violation {
                        invariant: "work_resumes",
                        at_s: t_s,
                        detail: format!(
                            "source {active:?}, not the sharechain, {:.0} s after the last outage",
                            t_s - end
                        ),
                    });
                }
            }
        }
        let hung = plan
            .faults
            .iter()
            .any(|x| x.kind == FaultKind::ControlHang && x.active(t_s));
        if hung {
            let w = lock(&world);
            hang_heat_wh += (0..boards)
                .filter_map(|b| w.board(b).map(|x| x.power_w().get()))
                .sum::<f64>()
                * tick_s as f64
                / 3600.0;
            continue;
        }
        if let Some(v) = pending_input.take() {
            let _ = appliance.set_external_temperature("zone", Some(v));
        }
        let report = appliance.tick(controller_now);
        let zone = report.zones.first();
        let temperature = zone.and_then(|z| z.temperature_c);
        if zone.is_some() && temperature.is_none() {
            blind_s += tick_s as f64;
            let cold = lock(&world).room(0).is_some_and(|r| {
                r.state.interior_c.get() < plan.setpoint_c - COLD_BELOW_SETPOINT_K
            });
            if cold && zone.is_some_and(|z| z.power_target_w.get() <= 0.0) {
                blind_unheated_cold_s += tick_s as f64;
            }
        }
        if feed.is_some() {
            if temperature.is_none() {
                net.safety_mode_ticks += 1;
            }
            // Stale by the true clock (whatever the controller's says): the
            // zone must not be steering on it.
            let age_s = delivered_at_s.map_or(f64::INFINITY, |d| t_s - d);
            if age_s > stale_after_s + tick_s as f64
                && temperature.is_some()
                && violations.len() < 16
            {
                violations.push(Violation {
                    invariant: "no_control_on_stale_input",
                    at_s: t_s,
                    detail: format!(
                        "the zone steers on {:?} from MQTT although the last value arrived {age_s:.0} s ago",
                        temperature.map(|c| c.get())
                    ),
                });
            }
            if let (Some(end), Some(bound)) = (mqtt_end_s, mqtt_bound_s) {
                if t_s >= end && temperature.is_some() && net.mqtt_recovered_after_s.is_none() {
                    net.mqtt_recovered_after_s = Some(t_s - end);
                }
                if t_s >= bound && !mqtt_checked {
                    mqtt_checked = true;
                    if temperature.is_none() {
                        violations.push(Violation {
                            invariant: "mqtt_input_recovers",
                            at_s: t_s,
                            detail: format!(
                                "no temperature {:.0} s after the broker came back",
                                t_s - end
                            ),
                        });
                    }
                }
            }
        }
        // Heat goes on without work: what the controller asked for at the
        // last tick is being drawn (the boards hash local work).
        let only_network = plan
            .faults
            .iter()
            .filter(|x| x.active(t_s) || (x.end_s() <= t_s && t_s - x.end_s() < 1800.0))
            .all(|x| x.kind.is_network());
        if asked_on_local_work
            && active.is_none()
            && only_network
            && true_power_w <= 0.0
            && violations.len() < 16
        {
            violations.push(Violation {
                invariant: "heat_continues_on_local_work",
                at_s: t_s,
                detail: "heat asked for on heat-only work, none drawn".into(),
            });
        }
        asked_on_local_work =
            active.is_none() && only_network && zone.is_some_and(|z| z.power_target_w.get() > 50.0);

        // Commands that reached a board renew its lease (true time: the
        // board has its own clock).
        let silent: Vec<bool> = {
            let f = inj(&faults);
            (0..boards)
                .map(|b| f.board_silent.get(&b).copied().unwrap_or(false))
                .collect()
        };
        for (b, lease) in leases.iter_mut().enumerate() {
            if !silent.get(b).copied().unwrap_or(false) {
                lease.renew(now);
            }
        }
        board_trips += report
            .events
            .iter()
            .filter(|(_, e)| matches!(e, BoardEvent::Tripped { .. }))
            .count() as u64;
    }
    if resumed_after_s.is_none_or(|s| s > window_s) {
        violations.push(Violation {
            invariant: "heat_resumes",
            at_s: last_clear_s,
            detail: format!(
                "no heat within {:.0} min of the last fault clearing",
                campaign.recovery_window_min
            ),
        });
    }
    RunOutcome {
        plan: plan.clone(),
        violations,
        max_zone_c: watch.max_zone_c,
        hard_max_c,
        longest_over_trip_s: watch.longest_over_trip_s,
        board_trips,
        resumed_after_s,
        hang_heat_wh,
        blind_s,
        blind_unheated_cold_s,
        net: NetFigures {
            heat_only_s: work.heat_only_s,
            shares: work.shares,
            ..net
        },
    }
}

/// Per fault kind: how often it was injected and in how many runs that
/// passed every invariant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindTally {
    pub kind: String,
    pub injected: u64,
    pub survived: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignReport {
    pub name: String,
    pub runs: u32,
    pub passed: u32,
    pub first_seed: u64,
    pub simulated_hours: f64,
    pub by_kind: Vec<KindTally>,
    /// Seeds that broke an invariant, with their first violation.
    pub failures: Vec<(u64, Violation)>,
    pub max_zone_margin_k: f64,
    pub longest_over_trip_s: f64,
    pub board_trips: u64,
    /// Worst time from the last fault clearing to heat again, s.
    pub worst_resume_s: f64,
    /// Zone-hours without a temperature, over all runs.
    pub blind_hours: f64,
    /// Of those, hours given no heat while truly cold
    /// ([`RunOutcome::blind_unheated_cold_s`]).
    pub blind_unheated_cold_hours: f64,
    /// The network side, summed over the runs.
    pub net: NetTotals,
}

/// [`NetFigures`] over a campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetTotals {
    /// Runs whose zone was MQTT-fed.
    pub mqtt_fed_runs: u32,
    pub publishes_lost: u64,
    pub safety_mode_ticks: u64,
    /// Worst time from the broker's return to the zone's input, s.
    pub worst_mqtt_recovery_s: f64,
    pub heat_only_hours: f64,
    /// Shares submitted to the sharechain, the pool, and found on
    /// heat-only work (never submitted).
    pub shares: [u64; 3],
    /// Worst time from the last work outage to the sharechain again, s.
    pub worst_work_resume_s: f64,
}

/// Most failures kept in a report; the count of failed runs is exact.
pub const MAX_REPORTED_FAILURES: usize = 50;

/// Runs every seed of the campaign.
pub fn run_campaign(campaign: &Campaign) -> CampaignReport {
    let mut tallies: BTreeMap<FaultKind, KindTally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut margin = f64::INFINITY;
    let (mut longest, mut trips, mut worst_resume) = (0.0_f64, 0u64, 0.0_f64);
    let mut net = NetTotals::default();
    let (mut blind_hours, mut blind_unheated_cold_hours) = (0.0, 0.0);
    for n in 0..campaign.runs {
        let seed = campaign.first_seed + u64::from(n);
        let p = plan(campaign, seed);
        let out = run_plan(campaign, &p);
        let ok = out.passed();
        if ok {
            passed += 1;
        } else if failures.len() < MAX_REPORTED_FAILURES {
            if let Some(v) = out.violations.first() {
                failures.push((seed, v.clone()));
            }
        }
        for f in &p.faults {
            let t = tallies.entry(f.kind).or_insert_with(|| KindTally {
                kind: f.kind.name().into(),
                ..KindTally::default()
            });
            t.injected += 1;
            if ok {
                t.survived += 1;
            }
        }
        if out.max_zone_c.is_finite() {
            margin = margin.min(out.hard_max_c - out.max_zone_c);
        }
        if out.longest_over_trip_s.is_finite() {
            longest = longest.max(out.longest_over_trip_s);
        }
        trips += out.board_trips;
        blind_hours += out.blind_s / 3600.0;
        blind_unheated_cold_hours += out.blind_unheated_cold_s / 3600.0;
        if let Some(s) = out.resumed_after_s {
            worst_resume = worst_resume.max(s);
        }
        let n = &out.net;
        net.mqtt_fed_runs += u32::from(n.mqtt_fed);
        net.publishes_lost += n.publishes_lost;
        net.safety_mode_ticks += n.safety_mode_ticks;
        net.worst_mqtt_recovery_s = net
            .worst_mqtt_recovery_s
            .max(n.mqtt_recovered_after_s.unwrap_or(0.0));
        net.heat_only_hours += n.heat_only_s / 3600.0;
        for (sum, x) in net.shares.iter_mut().zip(n.shares) {
            *sum += x;
        }
        net.worst_work_resume_s = net
            .worst_work_resume_s
            .max(n.work_resumed_after_s.unwrap_or(0.0));
    }
    CampaignReport {
        name: campaign.name.clone(),
        runs: campaign.runs,
        passed,
        first_seed: campaign.first_seed,
        simulated_hours: campaign.hours * f64::from(campaign.runs),
        by_kind: tallies.into_values().collect(),
        failures,
        max_zone_margin_k: margin,
        longest_over_trip_s: longest,
        board_trips: trips,
        worst_resume_s: worst_resume,
        blind_hours,
        blind_unheated_cold_hours,
        net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfaults::HEAT_ONLY;

    fn small() -> Campaign {
        Campaign {
            runs: 4,
            hours: 3.0,
            ..Campaign::default()
        }
    }

    #[test]
    fn the_seed_decides_the_plan() {
        let c = small();
        assert_eq!(plan(&c, 7), plan(&c, 7));
        assert_ne!(plan(&c, 7), plan(&c, 8));
        let p = plan(&c, 7);
        assert_eq!(p.faults.len(), 2);
        for f in &p.faults {
            assert!(
                f.end_s() <= c.hours * 3600.0 - c.recovery_window_min * 60.0 + 1e-6,
                "{f:?}"
            );
        }
    }

    #[test]
    fn a_run_replays_bit_for_bit() {
        let c = small();
        let p = plan(&c, 11);
        let a = run_plan(&c, &p);
        let b = run_plan(&c, &p);
        assert_eq!(a.max_zone_c.to_bits(), b.max_zone_c.to_bits());
        assert_eq!(a, b);
    }

    fn one_fault(kind: FaultKind, magnitude: f64) -> (Campaign, RunPlan) {
        let c = Campaign {
            hours: 4.0,
            ..Campaign::default()
        };
        let p = RunPlan {
            seed: 3,
            setpoint_c: 22.0,
            initial_c: 18.0,
            outdoor_mean_c: 0.0,
            boards: 2,
            room_scale: 0.6,
            faults: vec![Fault {
                kind,
                board: 0,
                start_s: 1800.0,
                duration_s: 3600.0,
                magnitude,
            }],
        };
        (c, p)
    }

    #[test]
    fn a_stalled_fan_trips_the_board_within_the_grace_and_heat_resumes() {
        let (c, p) = one_fault(FaultKind::FanStall, 0.0);
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{out:?}");
        assert!(out.board_trips > 0, "the stall must have tripped: {out:?}");
        assert!(out.longest_over_trip_s <= c.trip_grace_s, "{out:?}");
        assert!(out.resumed_after_s.is_some(), "{out:?}");
    }

    #[test]
    fn harsh_seed_1001249_a_stall_on_a_hot_board_stays_below_trip() {
        // Replays the harsh campaign's seed 1001249: a regulator fault of
        // +41.7 K from 839 s, then the fan stalls at 844 s with the chip at
        // 74.5 °C under 1.5 kW. The board's protection waited out the stall
        // filter, the chip reached 102 °C in the next second and stayed over
        // its 80 °C trip for 16 s; a stall within 10 K of the trip now trips
        // at once (hearth_board::protection::fan_stall_trips).
        let c = Campaign::from_toml(include_str!("../campaigns/harsh.toml")).unwrap();
        let p = plan(&c, 1_001_249);
        let has = |kind: FaultKind, from_s: f64| {
            p.faults
                .iter()
                .any(|f| f.kind == kind && f.board == 0 && (f.start_s - from_s).abs() < 1.0)
        };
        assert!(
            p.boards == 1
                && has(FaultKind::FanStall, 844.0)
                && has(FaultKind::RegulatorOvertemp, 839.0),
            "the planner no longer draws this run: {p:?}"
        );
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.longest_over_trip_s, 0.0, "{out:?}");
        assert!(
            out.board_trips >= 1,
            "the stall must trip the board: {out:?}"
        );
    }

    /// The harsh campaign's run for `seed`, checked to still be the run a
    /// regression test was written for: `kinds` with their starts (s).
    fn harsh_run(seed: u64, kinds: &[(FaultKind, f64)]) -> (Campaign, RunPlan) {
        campaign_run(include_str!("../campaigns/harsh.toml"), seed, kinds)
    }

    /// [`harsh_run`] for the campaign in `toml`.
    fn campaign_run(toml: &str, seed: u64, kinds: &[(FaultKind, f64)]) -> (Campaign, RunPlan) {
        let c = Campaign::from_toml(toml).unwrap();
        let p = plan(&c, seed);
        for (kind, from_s) in kinds {
            assert!(
                p.faults
                    .iter()
                    .any(|f| f.kind == *kind && (f.start_s - from_s).abs() < 1.0),
                "the planner no longer draws seed {seed}'s run: {p:?}"
            );
        }
        (c, p)
    }

    #[test]
    fn harsh_seed_1000335_a_clock_step_back_voids_the_mqtt_value() {
        // The clock runs 63,970 s fast from 2,886 s and steps back at
        // 6,026 s, with the broker gone since 5,933 s. The last value,
        // stamped on the fast clock, then lay 17.7 h in the future, read as
        // fresh, and the MQTT-fed zone steered on a 469 s old 13.9 °C (and
        // would have for hours). Now the step drops it: the zone runs blind
        // until the broker is back.
        let (c, p) = harsh_run(
            1_000_335,
            &[
                (FaultKind::ClockJump, 2886.0),
                (FaultKind::MqttGone, 5933.0),
            ],
        );
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.net.mqtt_fed);
        // Blind from about 6,026 s to the broker's return at 10,424 s.
        assert!(out.net.safety_mode_ticks >= 400, "{:?}", out.net);
    }

    #[test]
    fn harsh_seed_1000643_a_value_from_before_a_step_stays_void_after_the_clock_catches_up() {
        // The clock runs 1,383 s fast until 1,895 s; the broker is gone
        // from 1,286 s. After the step back the last value's stamp came
        // within a few seconds of the clock by 2,640 s, and a rule on the
        // stamp alone took it for a 3 s old value (1,379 s old in truth).
        let (c, p) = harsh_run(
            1_000_643,
            &[(FaultKind::ClockJump, 494.0), (FaultKind::MqttGone, 1286.0)],
        );
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
    }

    #[test]
    fn harsh_seed_1001580_a_frozen_home_assistant_sensor_does_not_overheat_the_room() {
        // Three boards, an MQTT-fed room, Home Assistant's sensor frozen
        // from 21,250 s for an hour: its value kept arriving with fresh
        // stamps and the room reached 32.7 °C (hard limit 30 °C). The
        // external value now has its own stuck watch.
        let (c, p) = harsh_run(
            1_001_580,
            &[
                (FaultKind::SensorStuck, 21_250.0),
                (FaultKind::MqttGone, 20_104.0),
            ],
        );
        assert_eq!(p.boards, 3);
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.max_zone_c < out.hard_max_c - 2.0, "{out:?}");
    }

    #[test]
    fn harsh_seed_1001766_a_reading_frozen_below_the_setpoint_at_partial_demand_is_caught() {
        // Four boards, a room's own sensor frozen 0.28 K under the setpoint
        // at 829 s: demand crept from 26 % to 48 %, never the stuck rule's
        // half, and 1.6-2.9 kW took the room to 30.4 °C. The excess-energy
        // rule (hearth_control::stuck) catches it.
        let (c, p) = harsh_run(1_001_766, &[(FaultKind::SensorStuck, 829.0)]);
        assert_eq!(p.boards, 4);
        assert!(!p.mqtt_fed());
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.max_zone_c < 29.0, "{out:?}");
    }

    #[test]
    fn harsh_seed_1001181_a_blind_mqtt_fed_room_keeps_heating_without_an_outdoor_temperature() {
        // Three boards, an MQTT-fed room at 21.25 °C on about -1 °C
        // outdoors: the broker is gone from 10,803 s, then Home
        // Assistant's sensor from 14,448 s, 2.4 h blind in all. The zone
        // has no outdoor temperature, so no learned-loss safety demand:
        // it used to get no heat at all while blind. It now gets a share
        // of the power that held its setpoint (hearth_control::blind).
        let (c, p) = harsh_run(
            1_001_181,
            &[
                (FaultKind::MqttGone, 10_803.0),
                (FaultKind::SensorGone, 14_448.0),
            ],
        );
        assert!(p.mqtt_fed() && p.boards == 3, "{p:?}");
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.blind_s >= 2.0 * 3600.0, "{out:?}");
        assert!(out.blind_unheated_cold_s <= 600.0, "{out:?}");
        assert!(out.max_zone_c < p.setpoint_c + 1.0, "{out:?}");
    }

    #[test]
    fn ci_seed_70_a_room_whose_own_sensor_dies_keeps_heating() {
        // Two boards, 21.25 °C on about 7 °C outdoors, the room's own
        // sensor gone from 10,155 s for 80 min.
        let (c, p) = campaign_run(
            include_str!("../campaigns/ci.toml"),
            70,
            &[(FaultKind::SensorGone, 10_155.0)],
        );
        assert!(!p.mqtt_fed(), "{p:?}");
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.blind_s >= 3600.0, "{out:?}");
        assert!(out.blind_unheated_cold_s <= 600.0, "{out:?}");
    }

    #[test]
    fn harsh_seed_1001473_the_mqtt_input_returns_one_publish_after_a_clock_step() {
        // The broker is back at 8,998 s; the clock steps 52,468 s ahead at
        // 9,130 s, which makes the value received since look 14.6 h old:
        // the zone waits for the next publish (by 9,190 s). The recovery
        // bound now allows that publish after a step.
        let (c, p) = harsh_run(
            1_001_473,
            &[
                (FaultKind::ClockJump, 9130.0),
                (FaultKind::MqttGone, 8346.0),
            ],
        );
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.net.mqtt_recovered_after_s.is_some(), "{:?}", out.net);
    }

    #[test]
    fn the_mqtt_recovery_bound_moves_past_clock_steps_only_inside_it() {
        let mut p = plan(&Campaign::default(), 1);
        let jump = |start_s: f64, duration_s: f64| Fault {
            kind: FaultKind::ClockJump,
            board: 0,
            start_s,
            duration_s,
            magnitude: 600.0,
        };
        p.faults = vec![jump(1100.0, 50.0), jump(5000.0, 60.0)];
        // Steps at 1,100 and 1,150 s: each inside the bound moves it.
        assert_eq!(extend_past_clock_steps(&p, 1000.0, 1140.0, 80.0), 1230.0);
        // Steps before the broker's return or after the bound do not.
        assert_eq!(extend_past_clock_steps(&p, 1200.0, 1340.0, 80.0), 1340.0);
        assert_eq!(extend_past_clock_steps(&p, 1000.0, 1090.0, 80.0), 1090.0);
    }

    #[test]
    fn a_hung_control_loop_idles_boards_through_the_lease() {
        let (c, mut p) = one_fault(FaultKind::ControlHang, 0.0);
        // The room is cold and wants full heat when the loop hangs.
        p.setpoint_c = 25.0;
        p.initial_c = 14.0;
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{out:?}");
        // Without the lease the boards heat on through the hour-long hang.
        let unguarded = run_with_lease(&c, &p, Duration::from_secs(100 * 3600));
        assert!(unguarded.hang_heat_wh > 1000.0, "{unguarded:?}");
        // With it, about 30 s of heat before the boards idle by themselves.
        assert!(out.hang_heat_wh < 40.0, "{out:?}");
    }

    #[test]
    fn a_broker_outage_puts_an_mqtt_fed_zone_in_safety_mode_until_it_returns() {
        let (c, p) = one_fault(FaultKind::MqttGone, 0.0);
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(out.net.mqtt_fed);
        // An hour without the broker: 60 publishes lost; after 5 min the
        // zone has no temperature (every tick of the remaining 55 min).
        assert_eq!(out.net.publishes_lost, 60);
        assert!(
            out.net.safety_mode_ticks >= 55 * 6,
            "{}",
            out.net.safety_mode_ticks
        );
        let back = out.net.mqtt_recovered_after_s.expect("input back");
        assert!(back <= 2.0 * HA_PUBLISH_EVERY_S, "{back}");
    }

    #[test]
    fn with_node_and_pool_gone_work_is_heat_only_and_the_sharechain_returns() {
        let (c, mut p) = one_fault(FaultKind::NodeGone, 0.0);
        p.faults.push(Fault {
            kind: FaultKind::PoolGone,
            ..p.faults[0]
        });
        let out = run_plan(&c, &p);
        assert!(out.passed(), "{:?}", out.violations);
        assert!(!out.net.mqtt_fed);
        assert!(
            (out.net.heat_only_s - 3600.0).abs() <= 20.0,
            "{}",
            out.net.heat_only_s
        );
        assert!(
            out.net.shares[HEAT_ONLY] > 0,
            "the boards kept hashing (and heating)"
        );
        assert!(out.net.shares[0] > 0);
        assert!(out.net.work_resumed_after_s.is_some_and(|s| s <= 20.0));
    }

    #[test]
    fn the_invariants_can_fail() {
        // A heatsink so detached that even an unpowered board stays above
        // its trip: no software can help, and the campaign must say so.
        let (c, p) = one_fault(FaultKind::RegulatorOvertemp, 80.0);
        let out = run_plan(&c, &p);
        assert!(
            out.violations
                .iter()
                .any(|v| v.invariant == "board_below_trip"),
            "{out:?}"
        );
        // A thermometer drifting 30 K/h low overheats the room: one sensor cannot
        // tell a drift from a cold room (see docs/reliability.md).
        let (c, mut p) = one_fault(FaultKind::SensorDrift, -30.0);
        p.faults[0].duration_s = 3.0 * 3600.0;
        p.setpoint_c = 25.0;
        let c = Campaign { hours: 6.0, ..c };
        let out = run_plan(&c, &p);
        assert!(
            out.violations
                .iter()
                .any(|v| v.invariant == "zone_below_hard_limit"),
            "{out:?}"
        );
    }

    #[test]
    fn campaign_files_are_checked() {
        assert!(Campaign::from_toml("runs = 10\nhours = 2").is_ok());
        for (text, key) in [
            ("runs = 0", "runs"),
            ("hours = 0.5", "hours"),
            ("tick_s = 0", "tick_s"),
            ("faults_per_run = 9", "faults_per_run"),
            ("kinds = []", "kinds"),
            ("recovery_window_min = 500", "recovery_window_min"),
            ("max_boards = 9", "max_boards"),
            ("first_seed = 18446744073709551615", "first_seed"),
        ] {
            match Campaign::from_toml(text) {
                Err(CampaignError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            Campaign::from_toml("kinds = [\"meteor\"]"),
            Err(CampaignError::Parse(_))
        ));
        assert!(matches!(
            Campaign::from_toml("bogus = 1"),
            Err(CampaignError::Parse(_))
        ));
    }

    #[test]
    fn a_small_campaign_passes_and_tallies_every_fault() {
        let c = Campaign {
            runs: 20,
            hours: 3.0,
            kinds: FaultKind::ALL.to_vec(),
            ..Campaign::default()
        };
        let r = run_campaign(&c);
        assert_eq!(r.runs, 20);
        let injected: u64 = r.by_kind.iter().map(|k| k.injected).sum();
        assert_eq!(injected, 40);
        assert_eq!(r.passed, 20, "{:?}", r.failures);
    }
}
