//! Driver-level thermal protection, independent of the thermostat.
//!
//! The thermostat decides how much heat a zone wants; this decides whether
//! the board may run at all, and how hard. It sits between the two: every
//! driver tick the board driver feeds it the latest readings and the
//! operating point the control layer asked for, and applies what comes back.
//! Pure and synchronous: time comes in as [`ProtectionInputs::now`].
//!
//! # Rules
//!
//! *Trip* (checked in this order) when
//! 1. the hottest valid chip reading exceeds `chip_trip_c` (75 °C on
//!    Bitaxe-class boards as ESP-Miner does, 80 °C on hashboards), or
//! 2. the regulator exceeds `regulator_trip_c` (105 °C, the TPS546's
//!    over-temperature warning), or
//! 3. no chip reading was valid for more than `max_bad_reads` consecutive
//!    steps or for `stale_after_s` seconds: a board that cannot be measured
//!    is treated as hot (the fan goes to 100 % at the first bad step), or
//! 4. the fan stalled: duty at least `fan_stall_min_duty_percent` while the
//!    tachometer reads below `fan_stall_rpm`, for `fan_stall_after_s`, or
//!    at the first such step while the hottest valid chip is within
//!    `fan_stall_hot_margin_k` of `chip_trip_c` ([`fan_stall_trips`]).
//!
//! A chip reading is *valid* when it is a finite number inside
//! `chip_plausible_min_c..=chip_plausible_max_c` and did not move further
//! from that sensor's last accepted reading than
//! `chip_max_slew_k_per_s * elapsed + chip_slew_noise_k` (a physically
//! impossible jump). A rejected reading does not replace the reference, so
//! the allowance grows with time and a genuine step is accepted a few seconds
//! later. With several sensors, the hottest valid one counts; a sensor that
//! gives no valid reading for more than `max_bad_reads` steps or
//! `stale_after_s` seconds trips the board on its own (its chips are
//! unwatched), and any invalid sensor forces the fan to 100 % for that step.
//!
//! *While tripped*: no operating point is allowed, the fan is forced to
//! 100 %, the core voltage is off and the chips are held in reset.
//!
//! *Recover* when all of these hold: at least `min_cooldown_s` (30 s) since
//! the trip; a valid reading from every chip sensor, all below
//! `chip_recover_c` (45 °C); the regulator below `regulator_recover_c`
//! (95 °C), or never having reported a temperature at all; the fan not
//! stalled.
//!
//! *Stepping down*: each trip caps the operating point one step below the
//! point that was running when it tripped (100 MHz and 100 mV lower, as
//! ESP-Miner restarts), floored at the profile's minimum frequency and
//! voltage. The voltage cap never goes below the V/f table's stable voltage
//! for the capped frequency: an unstable chip makes heat and errors, not
//! hashes. Repeated trips step further down.
//!
//! *Latching*: `latch_after_floor_trips` consecutive trips that happen
//! already at the floor frequency latch the board off
//! ([`ProtectionState::Latched`], a [`BoardEvent::Fault`]); only
//! [`Protection::clear_latch`] (an operator action) releases it, and then it
//! still has to cool down and meet the recovery conditions.
//!
//! *Stepping back up*: after `step_up_after_s` (30 min) of running without a
//! trip, with the hottest chip at least `step_up_margin_k` below the trip
//! limit, the cap rises one step; once it reaches the profile's maximum it is
//! lifted. Time spent idle does not count: only running proves a point safe.
//!
//! Every trip, latch and recovery is a [`BoardEvent`] with a human line in
//! [`ProtectionOutput::messages`]; `BoardEvent::Recovered` carries no reason
//! field in `hearth-core`, so its reason is only in the message.

use crate::profile::{BoardProfile, OperatingLimits, ThermalLimits};
use hearth_core::{
    BoardEvent, BoardState, Celsius, FreqMhz, Millivolts, OperatingPoint, Percent, Timestamp,
    VfTable,
};
use std::fmt;

/// Regulator readings outside this range are treated as no reading.
const REGULATOR_PLAUSIBLE_C: (f64, f64) = (-40.0, 200.0);

/// Whether a fan that has looked stalled for `stalled_for_s` trips the
/// board, with `hottest_chip_c` the hottest valid chip reading. Shared with
/// the simulated board's own protection so the fault campaigns run this rule.
///
/// Why not always wait `fan_stall_after_s`: a loaded hashboard without
/// airflow gains kelvins a second, and once it is over its trip with the fan
/// still stalled, an unpowered chip cools only by natural convection, so the
/// trip would come too late and the chip would stay over the limit for
/// many seconds (harsh campaign seed 1001249: a stall at 74.5 °C under
/// 1.5 kW). Near the trip a stall is acted on at once; further away the
/// delay still filters tach glitches. No reading is not "near": a board
/// without valid readings has its own rule.
pub fn fan_stall_trips(
    th: &ThermalLimits,
    stalled_for_s: f64,
    hottest_chip_c: Option<f64>,
) -> bool {
    stalled_for_s >= th.fan_stall_after_s
        || hottest_chip_c.is_some_and(|h| h >= th.chip_trip_c - th.fan_stall_hot_margin_k)
}

/// What protection looks at in one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProtectionInputs<'a> {
    pub now: Timestamp,
    /// One entry per chip temperature sensor, in a stable order; `None` when
    /// that sensor could not be read this step.
    pub chip_temps_c: &'a [Option<f64>],
    /// Regulator temperature; `None` when not read (or the board has none).
    pub regulator_temp_c: Option<f64>,
    /// Fan tachometer; `None` when not read or not wired.
    pub fan_rpm: Option<f64>,
    /// The duty the fan is being driven at.
    pub fan_duty_percent: Percent,
    /// What the control layer asked for; `None` = off.
    pub requested: Option<OperatingPoint>,
}

/// What the board driver must do after a step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProtectionOutput {
    /// The point the board may run at, never above `requested` in frequency
    /// or voltage; `None` = must be off.
    pub allowed: Option<OperatingPoint>,
    /// Force the fan to this duty instead of the fan loop's output.
    pub fan_override: Option<Percent>,
    /// Hold the chips in reset (RST_N low).
    pub hold_in_reset: bool,
    /// Switch the core voltage off (regulator disabled).
    pub core_voltage_off: bool,
    /// Trips, recoveries and faults since the previous step.
    pub events: Vec<BoardEvent>,
    /// A human line per event, plus notes that are not events (temperature
    /// lost, cap raised).
    pub messages: Vec<String>,
    /// The hottest valid chip reading of this step (for the fan loop and
    /// telemetry); `None` when no reading was valid.
    pub hottest_chip_c: Option<Celsius>,
}

/// Why protection tripped.
#[derive(Debug, Clone, PartialEq)]
pub enum TripReason {
    ChipTemperature {
        celsius: f64,
        limit: f64,
    },
    RegulatorTemperature {
        celsius: f64,
        limit: f64,
    },
    NoValidTemperature {
        bad_reads: u32,
        seconds: f64,
    },
    /// One of several chip sensors stopped giving valid readings.
    SensorLost {
        sensor: usize,
        bad_reads: u32,
        seconds: f64,
    },
    FanStalled {
        rpm: f64,
        duty_percent: f64,
        seconds: f64,
    },
    /// Reported by the driver (a regulator fault, a chain that stopped answering).
    External(String),
}

impl fmt::Display for TripReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TripReason::ChipTemperature { celsius, limit } => {
                write!(f, "chip temperature {celsius:.1} °C is above the {limit:.0} °C limit")
            }
            TripReason::RegulatorTemperature { celsius, limit } => {
                write!(f, "regulator temperature {celsius:.1} °C is above the {limit:.0} °C limit")
            }
            TripReason::NoValidTemperature { bad_reads, seconds } => write!(
                f,
                "no valid chip temperature for {bad_reads} reads ({seconds:.0} s); an unmeasured board is treated as hot"
            ),
            TripReason::SensorLost { sensor, bad_reads, seconds } => write!(
                f,
                "chip temperature sensor {sensor} gave no valid reading for {bad_reads} reads ({seconds:.0} s); its chips are treated as hot"
            ),
            TripReason::FanStalled { rpm, duty_percent, seconds } => {
                write!(f, "fan stalled: {rpm:.0} rpm at {duty_percent:.0} % duty for {seconds:.0} s")
            }
            TripReason::External(s) => f.write_str(s),
        }
    }
}

/// Where the state machine is.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtectionState {
    /// Running is allowed (within the cap).
    Normal,
    /// Off and cooling down; restarts by itself once the recovery conditions hold.
    Tripped {
        since: Timestamp,
        reason: TripReason,
    },
    /// Off until an operator clears it.
    Latched {
        since: Timestamp,
        reason: TripReason,
    },
}

/// What protection remembers about one chip sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SensorTrack {
    /// The last accepted reading.
    last: Option<(Timestamp, f64)>,
    /// Consecutive steps without a valid reading.
    bad_reads: u32,
    /// Since when this sensor is watched (its first step).
    watched_since: Timestamp,
}

/// One step's verdict on the chip readings.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChipAssessment {
    /// The hottest valid reading.
    hottest: Option<f64>,
    /// Every sensor gave a valid reading this step.
    all_valid: bool,
    /// A sensor with no valid reading for too long: (index, bad reads, seconds).
    lost: Option<(usize, u32, f64)>,
}

/// The protection state machine for one board.
#[derive(Debug, Clone)]
pub struct Protection {
    thermal: ThermalLimits,
    limits: OperatingLimits,
    vf: VfTable,
    state: ProtectionState,
    /// Highest point allowed after trips; `None` = the profile's limits.
    cap: Option<OperatingPoint>,
    /// The point allowed in the previous step (what was running).
    last_allowed: Option<OperatingPoint>,
    /// Per chip sensor: the last accepted reading.
    sensors: Vec<SensorTrack>,
    bad_reads: u32,
    last_valid_at: Option<Timestamp>,
    started_at: Option<Timestamp>,
    prev_now: Option<Timestamp>,
    /// Since when the fan looks stalled, and its latest tach reading.
    stall_since: Option<(Timestamp, f64)>,
    regulator_seen: bool,
    /// Seconds run (allowed a point) since the last trip or step-up.
    clean_running_s: f64,
    trips: u64,
    floor_trips: u32,
    rejected_readings: u64,
    lost_announced: bool,
    pending: Vec<(BoardEvent, String)>,
}

impl Protection {
    /// Protection with the profile's thermal limits, operating limits and V/f table.
    pub fn new(profile: &BoardProfile) -> Protection {
        Protection::from_parts(
            *profile.thermal(),
            *profile.limits(),
            profile.vf_table().clone(),
        )
    }

    /// Protection from explicit parts; `thermal` must pass [`ThermalLimits::check`].
    pub fn with_parts(
        thermal: ThermalLimits,
        limits: OperatingLimits,
        vf: VfTable,
    ) -> Result<Protection, String> {
        thermal.check()?;
        Ok(Protection::from_parts(thermal, limits, vf))
    }

    fn from_parts(thermal: ThermalLimits, limits: OperatingLimits, vf: VfTable) -> Protection {
        Protection {
            thermal,
            limits,
            vf,
            state: ProtectionState::Normal,
            cap: None,
            last_allowed: None,
            sensors: Vec::new(),
            bad_reads: 0,
            last_valid_at: None,
            started_at: None,
            prev_now: None,
            stall_since: None,
            regulator_seen: false,
            clean_running_s: 0.0,
            trips: 0,
            floor_trips: 0,
            rejected_readings: 0,
            lost_announced: false,
            pending: Vec::new(),
        }
    }

    pub fn state(&self) -> &ProtectionState {
        &self.state
    }

    /// Tripped or latched: nothing may run.
    pub fn is_tripped(&self) -> bool {
        !matches!(self.state, ProtectionState::Normal)
    }

    pub fn is_latched(&self) -> bool {
        matches!(self.state, ProtectionState::Latched { .. })
    }

    /// The state the board should report, when protection decides it.
    pub fn board_state(&self) -> Option<BoardState> {
        match self.state {
            ProtectionState::Normal => None,
            ProtectionState::Tripped { .. } => Some(BoardState::Tripped),
            ProtectionState::Latched { .. } => Some(BoardState::Fault),
        }
    }

    /// The current cap on the operating point (`None`: the profile's limits).
    pub fn cap(&self) -> Option<OperatingPoint> {
        self.cap
    }

    /// Trips since construction.
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// Chip readings rejected as invalid since construction.
    pub fn rejected_readings(&self) -> u64 {
        self.rejected_readings
    }

    pub fn thermal(&self) -> &ThermalLimits {
        &self.thermal
    }

    /// Trip now for a reason the driver found (regulator fault, lost chain).
    /// Returns the off-state output to apply at once. Tripping while tripped
    /// restarts the cool-down.
    pub fn trip_now(&mut self, now: Timestamp, reason: impl Into<String>) -> ProtectionOutput {
        let reason = TripReason::External(reason.into());
        let mut out = ProtectionOutput::default();
        match &mut self.state {
            ProtectionState::Normal => self.trip(now, reason, &mut out),
            ProtectionState::Tripped { since, .. } => *since = now,
            ProtectionState::Latched { .. } => {}
        }
        self.last_allowed = None;
        Self::off(&mut out);
        out
    }

    /// Operator action: release a latched board. It then behaves as freshly
    /// tripped (cool-down and recovery conditions still apply), at the floor
    /// cap. Returns whether it was latched.
    pub fn clear_latch(&mut self, now: Timestamp) -> bool {
        if !self.is_latched() {
            return false;
        }
        self.state = ProtectionState::Tripped {
            since: now,
            reason: TripReason::External("latched fault cleared by the operator".into()),
        };
        self.floor_trips = 0;
        self.pending.push((
            BoardEvent::Tripped {
                reason: "latched fault cleared by the operator; cooling down before restart".into(),
            },
            "latched fault cleared by the operator; the board restarts once it is cool".into(),
        ));
        true
    }

    /// One step. Call it every driver tick, also while the board is off.
    pub fn step(&mut self, inputs: ProtectionInputs<'_>) -> ProtectionOutput {
        let now = inputs.now;
        let th = self.thermal;
        let started = *self.started_at.get_or_insert(now);
        let dt_s = self.prev_now.map_or(0.0, |p| now.since(p).as_secs_f64());
        self.prev_now = Some(now);

        let mut out = ProtectionOutput::default();
        for (event, message) in self.pending.drain(..) {
            out.events.push(event);
            out.messages.push(message);
        }

        let chips = self.assess_chips(now, inputs.chip_temps_c);
        let hottest = chips.hottest;
        if hottest.is_some() {
            self.bad_reads = 0;
            self.last_valid_at = Some(now);
            self.lost_announced = false;
        } else {
            self.bad_reads = self.bad_reads.saturating_add(1);
        }
        out.hottest_chip_c = hottest.map(Celsius);
        let since_valid_s = now
            .since(self.last_valid_at.unwrap_or(started))
            .as_secs_f64();

        let regulator = inputs.regulator_temp_c.filter(|t| {
            t.is_finite() && (REGULATOR_PLAUSIBLE_C.0..=REGULATOR_PLAUSIBLE_C.1).contains(t)
        });
        if regulator.is_some() {
            self.regulator_seen = true;
        }

        let duty = inputs.fan_duty_percent.get();
        if let Some(rpm) = inputs.fan_rpm.filter(|r| r.is_finite()) {
            if duty >= th.fan_stall_min_duty_percent && rpm < th.fan_stall_rpm {
                let since = self.stall_since.map_or(now, |(t, _)| t);
                self.stall_since = Some((since, rpm));
            } else {
                self.stall_since = None;
            }
        }

        match self.state.clone() {
            ProtectionState::Latched { .. } => {}
            ProtectionState::Tripped { since, reason } => {
                if self.may_recover(now, since, &chips, regulator) {
                    self.recover(now, since, &reason, hottest, regulator, &mut out);
                }
            }
            ProtectionState::Normal => {
                // Running time since the previous step counts toward a step-up.
                if self.last_allowed.is_some() {
                    self.clean_running_s += dt_s;
                }
                let reason = self.trip_reason(now, &chips, regulator, since_valid_s, duty);
                match reason {
                    Some(reason) => self.trip(now, reason, &mut out),
                    None => self.maybe_step_up(hottest, &mut out),
                }
            }
        }

        if self.is_tripped() {
            Self::off(&mut out);
        } else {
            out.allowed = inputs.requested.and_then(|r| self.apply_cap(r));
            if !chips.all_valid || hottest.is_none() || self.stall_since.is_some() {
                out.fan_override = Some(Percent::FULL);
            }
            if hottest.is_none() && !self.lost_announced {
                self.lost_announced = true;
                out.messages
                    .push("no valid chip temperature: fan forced to 100 %".into());
            }
        }
        self.last_allowed = out.allowed;
        out
    }

    fn off(out: &mut ProtectionOutput) {
        out.allowed = None;
        out.fan_override = Some(Percent::FULL);
        out.hold_in_reset = true;
        out.core_voltage_off = true;
    }

    /// Validate this step's chip readings, per sensor.
    fn assess_chips(&mut self, now: Timestamp, temps: &[Option<f64>]) -> ChipAssessment {
        let th = self.thermal;
        if self.sensors.len() != temps.len() {
            let fresh = SensorTrack {
                last: None,
                bad_reads: 0,
                watched_since: now,
            };
            self.sensors.resize(temps.len(), fresh);
        }
        let mut verdict = ChipAssessment {
            hottest: None,
            all_valid: true,
            lost: None,
        };
        let mut rejected = 0u64;
        for (i, (track, reading)) in self.sensors.iter_mut().zip(temps).enumerate() {
            let valid = reading.filter(|t| {
                let in_range =
                    t.is_finite() && *t >= th.chip_plausible_min_c && *t <= th.chip_plausible_max_c;
                let possible = track.last.is_none_or(|(at, last)| {
                    (t - last).abs()
                        <= th.chip_max_slew_k_per_s * now.since(at).as_secs_f64()
                            + th.chip_slew_noise_k
                });
                in_range && possible
            });
            match valid {
                Some(t) => {
                    track.last = Some((now, t));
                    track.bad_reads = 0;
                    verdict.hottest = Some(verdict.hottest.map_or(t, |h: f64| h.max(t)));
                }
                None => {
                    if reading.is_some() {
                        rejected += 1;
                    }
                    verdict.all_valid = false;
                    track.bad_reads = track.bad_reads.saturating_add(1);
                    let since = track.last.map_or(track.watched_since, |(at, _)| at);
                    let seconds = now.since(since).as_secs_f64();
                    if verdict.lost.is_none()
                        && (track.bad_reads > th.max_bad_reads || seconds >= th.stale_after_s)
                    {
                        verdict.lost = Some((i, track.bad_reads, seconds));
                    }
                }
            }
        }
        self.rejected_readings = self.rejected_readings.saturating_add(rejected);
        verdict
    }

    /// The first trip rule that fires, in the documented order.
    fn trip_reason(
        &self,
        now: Timestamp,
        chips: &ChipAssessment,
        regulator: Option<f64>,
        since_valid_s: f64,
        duty: f64,
    ) -> Option<TripReason> {
        let th = &self.thermal;
        let hottest = chips.hottest;
        if let Some(h) = hottest.filter(|h| *h > th.chip_trip_c) {
            return Some(TripReason::ChipTemperature {
                celsius: h,
                limit: th.chip_trip_c,
            });
        }
        if let Some(r) = regulator.filter(|r| *r > th.regulator_trip_c) {
            return Some(TripReason::RegulatorTemperature {
                celsius: r,
                limit: th.regulator_trip_c,
            });
        }
        if hottest.is_none()
            && (self.bad_reads > th.max_bad_reads || since_valid_s >= th.stale_after_s)
        {
            return Some(TripReason::NoValidTemperature {
                bad_reads: self.bad_reads,
                seconds: since_valid_s,
            });
        }
        if let Some((sensor, bad_reads, seconds)) = chips.lost {
            return Some(TripReason::SensorLost {
                sensor,
                bad_reads,
                seconds,
            });
        }
        let (since, rpm) = self.stall_since?;
        let seconds = now.since(since).as_secs_f64();
        fan_stall_trips(th, seconds, hottest).then_some(TripReason::FanStalled {
            rpm,
            duty_percent: duty,
            seconds,
        })
    }

    fn may_recover(
        &self,
        now: Timestamp,
        since: Timestamp,
        chips: &ChipAssessment,
        regulator: Option<f64>,
    ) -> bool {
        let th = &self.thermal;
        let waited = now.since(since).as_secs_f64() >= th.min_cooldown_s;
        // Every sensor must read, and read cool: a sensor that is still
        // missing keeps its chips unwatched.
        let chips_cool = chips.all_valid && chips.hottest.is_some_and(|h| h < th.chip_recover_c);
        let regulator_cool = match regulator {
            Some(r) => r < th.regulator_recover_c,
            None => !self.regulator_seen,
        };
        waited && chips_cool && regulator_cool && self.stall_since.is_none()
    }

    fn trip(&mut self, now: Timestamp, reason: TripReason, out: &mut ProtectionOutput) {
        let th = self.thermal;
        self.trips = self.trips.saturating_add(1);
        self.clean_running_s = 0.0;
        let top = self.vf.point_at(self.limits.max_freq_mhz);
        let base = self.last_allowed.or(self.cap).unwrap_or(top);
        let floor = self.limits.floor();
        let at_floor = base.freq_mhz.get() <= floor.freq_mhz.get() + 1e-9;
        let stepped = OperatingPoint {
            freq_mhz: FreqMhz((base.freq_mhz.get() - th.step_down_mhz).max(floor.freq_mhz.get())),
            voltage_mv: Millivolts(
                (base.voltage_mv.get() - th.step_down_mv).max(floor.voltage_mv.get()),
            ),
        };
        let cap = match self.cap {
            Some(c) => OperatingPoint {
                freq_mhz: c.freq_mhz.min(stepped.freq_mhz),
                voltage_mv: c.voltage_mv.min(stepped.voltage_mv),
            },
            None => stepped,
        };
        self.cap = Some(cap);
        self.floor_trips = if at_floor {
            self.floor_trips.saturating_add(1)
        } else {
            0
        };
        let text = reason.to_string();
        if self.floor_trips >= th.latch_after_floor_trips {
            let why = format!(
                "{text}; tripped {} times in a row at the lowest operating point ({:.0} MHz): latched off until an operator clears it",
                self.floor_trips,
                floor.freq_mhz.get()
            );
            out.events.push(BoardEvent::Fault {
                reason: why.clone(),
            });
            out.messages.push(why);
            self.state = ProtectionState::Latched { since: now, reason };
        } else {
            out.events.push(BoardEvent::Tripped {
                reason: text.clone(),
            });
            out.messages.push(format!(
                "tripped: {text}; fan 100 %, core voltage off, chips held in reset; restarting no higher than {:.0} MHz / {:.0} mV once cool",
                cap.freq_mhz.get(),
                cap.voltage_mv.get()
            ));
            self.state = ProtectionState::Tripped { since: now, reason };
        }
    }

    fn recover(
        &mut self,
        now: Timestamp,
        since: Timestamp,
        reason: &TripReason,
        hottest: Option<f64>,
        regulator: Option<f64>,
        out: &mut ProtectionOutput,
    ) {
        self.state = ProtectionState::Normal;
        self.clean_running_s = 0.0;
        let cap = self.cap.map_or_else(
            || "no cap".to_string(),
            |c| {
                format!(
                    "capped at {:.0} MHz / {:.0} mV",
                    c.freq_mhz.get(),
                    c.voltage_mv.get()
                )
            },
        );
        let regulator =
            regulator.map_or_else(|| "not measured".to_string(), |r| format!("{r:.1} °C"));
        out.events.push(BoardEvent::Recovered);
        out.messages.push(format!(
            "recovered after {:.0} s off (tripped because {reason}): hottest chip {:.1} °C, regulator {regulator}; {cap}",
            now.since(since).as_secs_f64(),
            hottest.unwrap_or(f64::NAN),
        ));
    }

    fn maybe_step_up(&mut self, hottest: Option<f64>, out: &mut ProtectionOutput) {
        let th = self.thermal;
        let Some(cap) = self.cap else { return };
        let cool = hottest.is_some_and(|h| h <= th.chip_trip_c - th.step_up_margin_k);
        if self.clean_running_s < th.step_up_after_s || !cool {
            return;
        }
        let minutes = self.clean_running_s / 60.0;
        self.clean_running_s = 0.0;
        self.floor_trips = 0;
        let f = cap.freq_mhz.get() + th.step_down_mhz;
        if f >= self.limits.max_freq_mhz.get() {
            self.cap = None;
            out.messages.push(format!(
                "ran {minutes:.0} min without a trip: operating-point cap lifted"
            ));
        } else {
            let v = (cap.voltage_mv.get() + th.step_down_mv).min(self.limits.max_voltage_mv.get());
            self.cap = Some(OperatingPoint {
                freq_mhz: FreqMhz(f),
                voltage_mv: Millivolts(v),
            });
            out.messages.push(format!(
                "ran {minutes:.0} min without a trip: cap raised to {f:.0} MHz / {v:.0} mV"
            ));
        }
    }

    /// `requested` limited by the cap and the profile's limits, never above
    /// `requested` in either coordinate. A non-finite or non-positive request
    /// gives `None`.
    fn apply_cap(&self, requested: OperatingPoint) -> Option<OperatingPoint> {
        let (rf, rv) = (requested.freq_mhz.get(), requested.voltage_mv.get());
        if !(rf.is_finite() && rv.is_finite()) || rf <= 0.0 || rv <= 0.0 {
            return None;
        }
        let max_f = self
            .cap
            .map_or(self.limits.max_freq_mhz.get(), |c| c.freq_mhz.get())
            .min(self.limits.max_freq_mhz.get());
        let f = rf.min(max_f);
        let table_v = self.vf.min_voltage(FreqMhz(f)).get();
        let ceiling = self
            .cap
            .map_or(f64::INFINITY, |c| c.voltage_mv.get().max(table_v))
            .min(self.limits.max_voltage_mv.get());
        // A lowered frequency runs at its own stable voltage, not the
        // requested one.
        let wanted = if f < rf { table_v } else { rv };
        let v = wanted.min(ceiling).min(rv);
        Some(OperatingPoint {
            freq_mhz: FreqMhz(f),
            voltage_mv: Millivolts(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{BoardProfile, ProfileKind};
    use proptest::prelude::*;

    fn gamma() -> BoardProfile {
        BoardProfile::by_name("bitaxe-gamma").unwrap()
    }

    fn point(f: f64, v: f64) -> OperatingPoint {
        OperatingPoint {
            freq_mhz: FreqMhz(f),
            voltage_mv: Millivolts(v),
        }
    }

    /// A test rig: one chip sensor, a regulator, a fan with a tach.
    struct Rig {
        p: Protection,
        t: u64,
        requested: Option<OperatingPoint>,
        regulator: Option<f64>,
        rpm: Option<f64>,
        duty: f64,
    }

    impl Rig {
        fn new(profile: &BoardProfile) -> Rig {
            Rig {
                p: Protection::new(profile),
                t: 0,
                requested: Some(profile.default_point()),
                regulator: Some(60.0),
                rpm: Some(4000.0),
                duty: 40.0,
            }
        }

        /// Advance `secs` and step with chip readings `temps`.
        fn step_many(&mut self, secs: u64, temps: &[Option<f64>]) -> ProtectionOutput {
            self.t += secs;
            self.p.step(ProtectionInputs {
                now: Timestamp::from_secs(self.t),
                chip_temps_c: temps,
                regulator_temp_c: self.regulator,
                fan_rpm: self.rpm,
                fan_duty_percent: Percent::new(self.duty),
                requested: self.requested,
            })
        }

        fn step(&mut self, secs: u64, chip: f64) -> ProtectionOutput {
            self.step_many(secs, &[Some(chip)])
        }

        /// Step once a second for `secs` seconds at `chip`, collecting events.
        fn hold(&mut self, secs: u64, chip: f64) -> (ProtectionOutput, Vec<BoardEvent>) {
            let mut events = Vec::new();
            let mut last = ProtectionOutput::default();
            for _ in 0..secs {
                last = self.step(1, chip);
                events.extend(last.events.iter().cloned());
            }
            (last, events)
        }

        /// Warm up to `to` °C gradually (plausible slew) from `from`.
        fn ramp(&mut self, from: f64, to: f64) -> ProtectionOutput {
            let mut t = from;
            let mut out = self.step(1, t);
            while (t - to).abs() > 1e-9 {
                t = if to > t {
                    (t + 5.0).min(to)
                } else {
                    (t - 5.0).max(to)
                };
                out = self.step(1, t);
                if self.p.is_tripped() {
                    break;
                }
            }
            out
        }
    }

    fn assert_off(out: &ProtectionOutput) {
        assert_eq!(out.allowed, None);
        assert_eq!(out.fan_override, Some(Percent::FULL));
        assert!(out.hold_in_reset && out.core_voltage_off);
    }

    fn tripped_reason(out: &ProtectionOutput) -> String {
        match out.events.as_slice() {
            [BoardEvent::Tripped { reason }] => reason.clone(),
            other => panic!("expected one trip event, got {other:?}"),
        }
    }

    #[test]
    fn normal_running_passes_the_request_through() {
        let mut rig = Rig::new(&gamma());
        let out = rig.step(1, 50.0);
        assert_eq!(out.allowed, Some(point(525.0, 1150.0)));
        assert_eq!(out.fan_override, None);
        assert!(!out.hold_in_reset && !out.core_voltage_off);
        assert!(out.events.is_empty());
        assert_eq!(out.hottest_chip_c, Some(Celsius(50.0)));
        assert_eq!(rig.p.board_state(), None);
    }

    #[test]
    fn idle_request_is_off_without_a_trip() {
        let mut rig = Rig::new(&gamma());
        rig.requested = None;
        let out = rig.step(1, 50.0);
        assert_eq!(out.allowed, None);
        assert!(!out.hold_in_reset && !out.core_voltage_off && out.fan_override.is_none());
    }

    #[test]
    fn chip_over_limit_trips() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 60.0);
        rig.step(1, 70.0);
        assert!(!rig.p.is_tripped());
        rig.step(1, 75.0); // at the limit: not above it
        assert!(!rig.p.is_tripped());
        let out = rig.step(1, 75.5);
        assert!(rig.p.is_tripped());
        assert_off(&out);
        assert!(
            tripped_reason(&out).contains("chip temperature 75.5 °C"),
            "{out:?}"
        );
        assert!(
            out.messages[0].contains("restarting no higher than 425 MHz / 1050 mV"),
            "{:?}",
            out.messages
        );
        assert_eq!(rig.p.board_state(), Some(BoardState::Tripped));
    }

    #[test]
    fn hashboard_limit_is_80() {
        let hb = BoardProfile::by_name("generic-bm1370-65").unwrap();
        let mut rig = Rig::new(&hb);
        rig.ramp(60.0, 79.0);
        assert!(!rig.p.is_tripped());
        rig.step(1, 80.5);
        assert!(rig.p.is_tripped());
    }

    #[test]
    fn hottest_of_several_sensors_counts() {
        let hb = BoardProfile::by_name("generic-bm1370-65").unwrap();
        let mut rig = Rig::new(&hb);
        rig.step_many(1, &[Some(60.0), Some(70.0), None]);
        let out = rig.step_many(1, &[Some(60.0), Some(81.0), Some(60.0)]);
        assert!(tripped_reason(&out).contains("81.0"));
    }

    #[test]
    fn one_lost_sensor_of_several_trips_and_blocks_recovery() {
        let hb = BoardProfile::by_name("generic-bm1370-65").unwrap();
        let mut rig = Rig::new(&hb);
        rig.step_many(1, &[Some(60.0), Some(61.0), Some(62.0)]);
        for i in 1..=3 {
            let out = rig.step_many(1, &[Some(60.0), None, Some(62.0)]);
            assert!(!rig.p.is_tripped(), "bad read {i}");
            assert_eq!(out.hottest_chip_c, Some(Celsius(62.0)));
            assert_eq!(out.fan_override, Some(Percent::FULL));
        }
        let out = rig.step_many(1, &[Some(60.0), Some(f64::NAN), Some(62.0)]);
        let reason = tripped_reason(&out);
        assert!(
            reason.contains("sensor 1 gave no valid reading for 4 reads"),
            "{reason}"
        );
        // The others cool down, sensor 1 stays silent: no recovery.
        let mut events = Vec::new();
        for t in 0..60 {
            let c = (62.0 - f64::from(t)).max(30.0);
            events.extend(rig.step_many(1, &[Some(c), None, Some(c)]).events);
        }
        assert!(events.is_empty() && rig.p.is_tripped(), "{events:?}");
        let out = rig.step_many(1, &[Some(30.0), Some(31.0), Some(30.0)]);
        assert_eq!(out.events, vec![BoardEvent::Recovered]);
    }

    #[test]
    fn regulator_over_105_trips_and_recovers_below_95() {
        let mut rig = Rig::new(&gamma());
        rig.regulator = Some(105.0);
        rig.step(1, 50.0);
        assert!(!rig.p.is_tripped());
        rig.regulator = Some(106.0);
        let out = rig.step(1, 50.0);
        assert!(tripped_reason(&out).contains("regulator temperature 106.0"));
        // Chips cold and time passed, but the regulator is still above 95.
        rig.regulator = Some(96.0);
        let (out, _) = rig.hold(60, 40.0);
        assert_off(&out);
        rig.regulator = Some(94.0);
        let out = rig.step(1, 40.0);
        assert_eq!(out.events, vec![BoardEvent::Recovered]);
        assert!(out.allowed.is_some());
    }

    #[test]
    fn a_regulator_that_stops_reporting_blocks_recovery() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 60.0);
        rig.step(1, 76.0);
        assert!(rig.p.is_tripped());
        rig.regulator = None;
        let (out, _) = rig.hold(120, 30.0);
        assert_off(&out);
        // A board that never had a regulator reading recovers on chips alone.
        let mut rig = Rig::new(&gamma());
        rig.regulator = None;
        rig.step(1, 60.0);
        rig.step(1, 76.0);
        assert!(rig.p.is_tripped());
        let (out, events) = rig.hold(40, 30.0);
        assert!(out.allowed.is_some());
        assert_eq!(events, vec![BoardEvent::Recovered]);
    }

    #[test]
    fn hysteresis_keeps_it_off_until_below_45() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 70.0);
        rig.step(1, 76.0);
        // Below the trip limit but above the recovery threshold: stays off.
        let (out, events) = rig.hold(300, 60.0);
        assert_off(&out);
        assert!(events.is_empty());
        let (out, _) = rig.hold(5, 46.0);
        assert_off(&out);
        let out = rig.step(1, 44.9);
        assert_eq!(out.events, vec![BoardEvent::Recovered]);
        assert!(
            out.messages[0].contains("recovered after"),
            "{:?}",
            out.messages
        );
        assert!(
            out.messages[0].contains("chip temperature 76.0"),
            "{:?}",
            out.messages
        );
    }

    #[test]
    fn minimum_wait_of_30_s() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 70.0);
        rig.step(1, 76.0); // trip at t = 2
                           // Readings drop fast; a plausible-looking quick cool-down.
        let mut t: f64 = 76.0;
        let mut recovered_at = None;
        for _ in 0..60 {
            t = (t - 10.0).max(30.0);
            let out = rig.step(1, t);
            if out.events.contains(&BoardEvent::Recovered) {
                recovered_at = Some(rig.t);
                break;
            }
            assert_off(&out);
        }
        assert_eq!(recovered_at, Some(32));
    }

    #[test]
    fn each_trip_steps_down_and_the_floor_latches() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 60.0);
        let mut allowed = Vec::new();
        for round in 0..6 {
            rig.ramp(60.0, 80.0);
            assert!(rig.p.is_tripped(), "round {round}");
            let (out, _) = rig.hold(40, 40.0);
            if rig.p.is_latched() {
                assert_off(&out);
                break;
            }
            let out = rig.step(1, 60.0);
            allowed.push(out.allowed.unwrap());
        }
        // 525/1150 -> 425 (stable voltage 1025) -> floor 400/1000, then three trips at the floor latch.
        assert_eq!(allowed[0], point(425.0, 1025.0));
        assert_eq!(allowed[1], point(400.0, 1000.0));
        assert_eq!(allowed[2], point(400.0, 1000.0));
        assert_eq!(allowed[3], point(400.0, 1000.0));
        assert_eq!(allowed.len(), 4);
        assert!(rig.p.is_latched());
        assert_eq!(rig.p.board_state(), Some(BoardState::Fault));
        assert_eq!(rig.p.trips(), 5);
        // Latched: cold for an hour, still off.
        let (out, events) = rig.hold(3600, 30.0);
        assert_off(&out);
        assert!(events.is_empty());
        // The operator clears it; it restarts at the floor once the wait is over.
        assert!(rig.p.clear_latch(Timestamp::from_secs(rig.t)));
        let out = rig.step(1, 30.0);
        assert!(matches!(
            out.events.as_slice(),
            [BoardEvent::Tripped { .. }]
        ));
        assert_off(&out);
        let (out, events) = rig.hold(30, 30.0);
        assert_eq!(events, vec![BoardEvent::Recovered]);
        assert_eq!(out.allowed, Some(point(400.0, 1000.0)));
    }

    #[test]
    fn latch_event_is_a_fault_with_a_reason() {
        let mut rig = Rig::new(&gamma());
        rig.requested = Some(point(400.0, 1000.0));
        let mut events = Vec::new();
        for _ in 0..3 {
            for t in [60.0, 65.0, 70.0, 75.0, 80.0] {
                events.extend(rig.step(1, t).events);
            }
            events.extend(rig.hold(40, 40.0).1);
        }
        assert!(rig.p.is_latched());
        let Some(BoardEvent::Fault { reason }) = events.last() else {
            panic!("{events:?}")
        };
        assert!(reason.contains("chip temperature 80.0"), "{reason}");
        assert!(
            reason.contains("3 times in a row at the lowest operating point (400 MHz)"),
            "{reason}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, BoardEvent::Tripped { .. }))
                .count(),
            2
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| **e == BoardEvent::Recovered)
                .count(),
            2
        );
    }

    #[test]
    fn sustained_clean_running_steps_back_up() {
        let mut rig = Rig::new(&gamma());
        rig.ramp(60.0, 80.0);
        rig.hold(40, 40.0);
        assert_eq!(rig.p.cap(), Some(point(425.0, 1050.0)));
        // Idle time does not count.
        rig.requested = None;
        rig.hold(4000, 50.0);
        assert_eq!(rig.p.cap(), Some(point(425.0, 1050.0)));
        rig.requested = Some(point(525.0, 1150.0));
        let mut raised = None;
        for s in 0..1900 {
            let out = rig.step(1, 55.0);
            if out
                .messages
                .iter()
                .any(|m| m.contains("cap lifted") || m.contains("cap raised"))
            {
                raised = Some(s);
                break;
            }
        }
        // 30 min of running, counting the ~10 s run right after recovery.
        assert!(
            raised.is_some_and(|s| (1785..1800).contains(&s)),
            "{raised:?}"
        );
        // 425 + 100 = 525 is below the 625 MHz maximum: a raised cap, not lifted.
        assert_eq!(rig.p.cap(), Some(point(525.0, 1150.0)));
        assert_eq!(rig.step(1, 55.0).allowed, Some(point(525.0, 1150.0)));
        // Too warm (within 10 K of the limit): no further step-up.
        for _ in 0..1900 {
            rig.step(1, 66.0);
        }
        assert_eq!(rig.p.cap(), Some(point(525.0, 1150.0)));
        // Cool again: the next step-up lifts the cap entirely.
        let mut t: f64 = 66.0;
        for _ in 0..1900 {
            t = (t - 1.0).max(55.0);
            rig.step(1, t);
        }
        assert_eq!(rig.p.cap(), None);
    }

    #[test]
    fn missing_readings_force_the_fan_then_trip() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        for i in 1..=3 {
            let out = rig.step_many(1, &[None]);
            assert!(!rig.p.is_tripped(), "bad read {i}");
            assert_eq!(out.fan_override, Some(Percent::FULL));
            assert!(out.allowed.is_some());
            assert_eq!(
                out.messages.len(),
                usize::from(i == 1),
                "{:?}",
                out.messages
            );
        }
        let out = rig.step_many(1, &[None]);
        assert!(
            tripped_reason(&out).contains("no valid chip temperature for 4 reads"),
            "{out:?}"
        );
        assert_off(&out);
        // A valid reading again: cold, after the wait, recovers.
        let (_, events) = rig.hold(30, 30.0);
        assert_eq!(events, vec![BoardEvent::Recovered]);
    }

    #[test]
    fn a_long_gap_without_valid_readings_trips_on_time() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        let out = rig.step_many(12, &[None]);
        assert!(tripped_reason(&out).contains("12 s"), "{out:?}");
        // An empty sensor list is no valid reading either.
        let mut rig = Rig::new(&gamma());
        rig.step_many(1, &[]);
        rig.step_many(1, &[]);
        rig.step_many(1, &[]);
        rig.step_many(1, &[]);
        assert!(rig.p.is_tripped());
    }

    #[test]
    fn out_of_range_and_nan_readings_are_invalid() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        for bad in [f64::NAN, f64::INFINITY, 300.0] {
            let out = rig.step(1, bad);
            assert_eq!(out.hottest_chip_c, None, "{bad}");
            assert_eq!(out.fan_override, Some(Percent::FULL));
            assert!(!rig.p.is_tripped());
        }
        rig.step(1, -80.0);
        assert!(rig.p.is_tripped());
        assert_eq!(rig.p.rejected_readings(), 4);
    }

    #[test]
    fn an_impossible_jump_is_rejected_and_a_glitch_does_not_trip() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        // 50 -> 120 °C in one second cannot happen.
        let out = rig.step(1, 120.0);
        assert_eq!(out.hottest_chip_c, None);
        assert!(!rig.p.is_tripped());
        assert_eq!(out.fan_override, Some(Percent::FULL));
        // Back to normal: fine, no trip, fan released.
        let out = rig.step(1, 51.0);
        assert_eq!(out.hottest_chip_c, Some(Celsius(51.0)));
        assert_eq!(out.fan_override, None);
        assert!(!rig.p.is_tripped());
    }

    #[test]
    fn a_persistent_impossible_value_still_trips() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        let mut tripped_at = None;
        for s in 1..=10 {
            let out = rig.step(1, 120.0);
            if rig.p.is_tripped() {
                tripped_at = Some((s, tripped_reason(&out)));
                break;
            }
        }
        // Rejected as a jump four times (bad reads), so it trips as "no valid temperature".
        let (s, reason) = tripped_at.unwrap();
        assert_eq!(s, 4);
        assert!(reason.contains("no valid chip temperature"));
    }

    #[test]
    fn a_real_fast_rise_is_accepted_within_seconds() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        // +40 K after 3 s: within 15 K/s * 3 s + 5 K.
        let out = rig.step(3, 90.0);
        assert!(tripped_reason(&out).contains("90.0"));
    }

    #[test]
    fn fan_stall_trips_after_its_delay() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        rig.rpm = Some(0.0);
        rig.duty = 20.0; // below the stall-detection duty: a slow fan may read 0
        rig.hold(30, 50.0);
        assert!(!rig.p.is_tripped());
        rig.duty = 60.0;
        let out = rig.step(1, 50.0);
        assert_eq!(
            out.fan_override,
            Some(Percent::FULL),
            "a suspected stall forces the fan"
        );
        let (_, events) = rig.hold(9, 50.0);
        assert!(!rig.p.is_tripped(), "{events:?}");
        let out = rig.step(1, 50.0);
        assert!(
            tripped_reason(&out).contains("fan stalled: 0 rpm at 60 % duty for 10 s"),
            "{out:?}"
        );
        // Cold and waited, but the tach still reads 0 at 100 %: stays off.
        rig.duty = 100.0;
        let (out, events) = rig.hold(120, 30.0);
        assert_off(&out);
        assert!(events.is_empty());
        rig.rpm = Some(3000.0);
        let out = rig.step(1, 30.0);
        assert_eq!(out.events, vec![BoardEvent::Recovered]);
    }

    #[test]
    fn a_stall_near_the_trip_trips_at_once() {
        // A hashboard (trip 80 °C) running at 74.5 °C when its fan stops:
        // waiting the 10 s glitch filter would let it cross the trip.
        let mut rig = Rig::new(&BoardProfile::by_name("generic-bm1370-65").unwrap());
        assert_eq!(rig.p.thermal().chip_trip_c, 80.0);
        rig.duty = 100.0;
        rig.ramp(40.0, 74.5);
        assert!(!rig.p.is_tripped());
        rig.rpm = Some(0.0);
        let out = rig.step(1, 74.5);
        assert_off(&out);
        assert!(
            tripped_reason(&out).contains("fan stalled: 0 rpm at 100 % duty for 0 s"),
            "{out:?}"
        );
        // Just outside the margin the glitch filter still applies.
        let mut rig = Rig::new(&BoardProfile::by_name("generic-bm1370-65").unwrap());
        rig.duty = 100.0;
        rig.ramp(40.0, 69.5);
        rig.rpm = Some(0.0);
        let (_, events) = rig.hold(10, 69.5);
        assert!(!rig.p.is_tripped(), "{events:?}");
        let out = rig.step(1, 69.5);
        assert!(tripped_reason(&out).contains("for 10 s"), "{out:?}");
    }

    #[test]
    fn a_tach_that_comes_back_clears_the_suspicion() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        rig.rpm = Some(100.0);
        rig.hold(5, 50.0);
        rig.rpm = Some(2500.0);
        let out = rig.step(1, 50.0);
        assert_eq!(out.fan_override, None);
        rig.rpm = Some(100.0);
        rig.hold(9, 50.0);
        assert!(!rig.p.is_tripped());
    }

    #[test]
    fn external_trip_takes_effect_at_once() {
        let mut rig = Rig::new(&gamma());
        rig.step(1, 50.0);
        let out = rig
            .p
            .trip_now(Timestamp::from_secs(rig.t), "TPS546 reports VOUT_OV_FAULT");
        assert_off(&out);
        assert_eq!(
            out.events,
            vec![BoardEvent::Tripped {
                reason: "TPS546 reports VOUT_OV_FAULT".into()
            }]
        );
        let (_, events) = rig.hold(31, 40.0);
        assert_eq!(events, vec![BoardEvent::Recovered]);
    }

    #[test]
    fn cap_lowers_voltage_only_to_the_stable_curve() {
        let p = gamma();
        let mut prot = Protection::new(&p);
        prot.cap = Some(point(425.0, 1050.0));
        // A request under the frequency cap but over the voltage cap.
        assert_eq!(
            prot.apply_cap(point(400.0, 1150.0)),
            Some(point(400.0, 1050.0))
        );
        // A lower request passes untouched.
        assert_eq!(
            prot.apply_cap(point(400.0, 1000.0)),
            Some(point(400.0, 1000.0))
        );
        // Over the frequency cap: the capped frequency at its stable voltage.
        assert_eq!(
            prot.apply_cap(point(625.0, 1250.0)),
            Some(point(425.0, 1025.0))
        );
        // Garbage requests are refused.
        assert_eq!(prot.apply_cap(point(f64::NAN, 1000.0)), None);
        assert_eq!(prot.apply_cap(point(500.0, -1.0)), None);
        // Without a cap the profile's limits still hold.
        prot.cap = None;
        assert_eq!(
            prot.apply_cap(point(900.0, 1500.0)),
            Some(point(625.0, 1250.0))
        );
    }

    #[test]
    fn with_parts_checks_the_limits() {
        let p = gamma();
        let bad = ThermalLimits {
            chip_recover_c: 80.0,
            ..ThermalLimits::bitaxe()
        };
        assert!(Protection::with_parts(bad, *p.limits(), p.vf_table().clone()).is_err());
        assert!(
            Protection::with_parts(ThermalLimits::bitaxe(), *p.limits(), p.vf_table().clone())
                .is_ok()
        );
    }

    #[derive(Debug, Clone)]
    struct Step {
        dt_ms: u64,
        temps: Vec<Option<f64>>,
        regulator: Option<f64>,
        rpm: Option<f64>,
        duty: f64,
        requested: Option<(f64, f64)>,
    }

    fn reading() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            4 => (0.0f64..110.0).prop_map(Some),
            1 => Just(None),
            1 => Just(Some(f64::NAN)),
            1 => (-100.0f64..300.0).prop_map(Some),
        ]
    }

    fn step_strategy() -> impl Strategy<Value = Step> {
        (
            0u64..20_000,
            prop::collection::vec(reading(), 0..4),
            prop::option::of(0.0f64..130.0),
            prop::option::of(0.0f64..6000.0),
            0.0f64..100.0,
            prop::option::of((0.0f64..900.0, 0.0f64..1600.0)),
        )
            .prop_map(|(dt_ms, temps, regulator, rpm, duty, requested)| Step {
                dt_ms,
                temps,
                regulator,
                rpm,
                duty,
                requested,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_allows_a_point_while_tripped_nor_above_the_request(
            kind in 0usize..6,
            steps in prop::collection::vec(step_strategy(), 1..200),
        ) {
            let profile = BoardProfile::builtin(ProfileKind::ALL[kind]).unwrap_or_else(gamma);
            let limits = *profile.limits();
            let trip = profile.thermal().chip_trip_c;
            let mut p = Protection::new(&profile);
            let mut now = 0u64;
            for s in steps {
                now += s.dt_ms;
                let requested = s.requested.map(|(f, v)| point(f, v));
                let out = p.step(ProtectionInputs {
                    now: Timestamp::from_millis(now),
                    chip_temps_c: &s.temps,
                    regulator_temp_c: s.regulator,
                    fan_rpm: s.rpm,
                    fan_duty_percent: Percent::new(s.duty),
                    requested,
                });
                if p.is_tripped() {
                    prop_assert_eq!(out.allowed, None);
                    prop_assert!(out.hold_in_reset && out.core_voltage_off);
                    prop_assert_eq!(out.fan_override, Some(Percent::FULL));
                }
                if out.hold_in_reset || out.core_voltage_off {
                    prop_assert_eq!(out.allowed, None);
                }
                if let Some(a) = out.allowed {
                    let r = requested.unwrap_or(point(0.0, 0.0));
                    prop_assert!(requested.is_some());
                    prop_assert!(a.freq_mhz <= r.freq_mhz, "{:?} > {:?}", a, r);
                    prop_assert!(a.voltage_mv <= r.voltage_mv, "{:?} > {:?}", a, r);
                    prop_assert!(a.freq_mhz <= limits.max_freq_mhz && a.voltage_mv <= limits.max_voltage_mv);
                    prop_assert!(out.hottest_chip_c.is_none_or(|h| h.get() <= trip));
                    prop_assert!(s.regulator.is_none_or(|r| r <= 105.0));
                }
                let some_invalid = s.temps.iter().any(|t| t.is_none_or(|v| !(-40.0..=150.0).contains(&v)));
                if out.hottest_chip_c.is_none() || some_invalid {
                    prop_assert_eq!(out.fan_override, Some(Percent::FULL));
                }
            }
        }
    }
}
