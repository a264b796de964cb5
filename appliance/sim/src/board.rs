//! Physics of one simulated hashboard. Electrical power follows the operating
//! point through the CMOS power model; all of it ends up as heat in the room.
//! Chip temperature follows power through a thermal resistance that falls as
//! the fan speeds up; hashrate follows frequency.
//!
//! This is the board as the room sees it. The byte-level chip simulator (the
//! hashboard-drivers issue) will sit underneath the same physics.

use hearth_board::protection::fan_stall_trips;
use hearth_board::{FanTuning, QuietFan, QuietTuning, ThermalLimits};
use hearth_core::opoint::FREQ_STEP_MHZ;
use hearth_core::{
    BoardEvent, BoardState, BoardTelemetry, Celsius, FreqMhz, GhPerSec, Millivolts, OperatingPoint,
    Percent, PowerModel, Rpm, VfPoint, VfTable, Watts,
};
use serde::{Deserialize, Serialize};

/// Frequency ramps 6.25 MHz per 100 ms, as the real chips are ramped.
const RAMP_MHZ_PER_S: f64 = FREQ_STEP_MHZ * 10.0;
/// Events kept between polls; older ones are dropped and counted.
const MAX_PENDING_EVENTS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimBoardParams {
    pub model: String,
    pub power: PowerModel,
    pub vf_table: VfTable,
    /// Chip-to-air thermal resistance at full fan, K/W.
    pub r_th_full_fan_k_per_w: f64,
    /// Chip thermal time constant at full fan, s. The chip and its heat
    /// sink are one heat capacity, `chip_tau_s / r_th_full_fan_k_per_w`;
    /// with less airflow the resistance rises and the time constant with
    /// it (a stalled fan: 12.5 times as long).
    pub chip_tau_s: f64,
    /// Fan speed at 100 % duty.
    pub fan_max_rpm: f64,
    /// Electrical power of the board's share of fans at 100 % speed, W.
    /// Fan power follows the affinity law, `fan_max_w * speed^3`, so a fan
    /// at half speed draws an eighth of it. Scenario files written before
    /// this field get the BM1370 figure.
    #[serde(default = "default_fan_max_w")]
    pub fan_max_w: f64,
    /// Protection: trip above this chip temperature...
    pub trip_chip_c: f64,
    /// ...and restart once below this, after at least `trip_min_wait_s`.
    pub recover_chip_c: f64,
    pub trip_min_wait_s: f64,
    /// Which fan law the board's own controller runs (the byte-level
    /// path's fan is commanded by the driver's `BoardRuntime` instead).
    #[serde(default)]
    pub fan_law: FanLaw,
}

/// The fan law of a [`SimBoard`] that runs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanLaw {
    /// `hearth_board::QuietFan`, as the daemon's board runtime runs it: the
    /// lowest duty that holds the chips 3 K below the fan target (trip −
    /// 10 K), from chip temperature and heat power, rate-limited.
    #[default]
    Quiet,
    /// Stock-firmware style: 25 % at 55 °C plus 5 % per kelvin, at least
    /// 20 % (the comparison for the quiet law).
    Firmware,
}

impl SimBoardParams {
    /// A 65-chip BM1370 board (S21 Pro class): about 410 W at its lowest
    /// point (200 MHz, 1.00 V) to about 1.56 kW at 600 MHz / 1.22 V.
    /// Per-chip figures are fitted to a Bitaxe BM1370 (525 MHz, 1.15 V,
    /// ~17 W per chip).
    pub fn bm1370_65() -> SimBoardParams {
        let p = |f, v| VfPoint {
            freq_mhz: f,
            min_voltage_mv: v,
        };
        let table = vec![
            p(200.0, 1000.0),
            p(300.0, 1030.0),
            p(400.0, 1080.0),
            p(500.0, 1140.0),
            p(600.0, 1220.0),
        ];
        SimBoardParams {
            model: "sim-bm1370-65".into(),
            power: PowerModel {
                chips: 65,
                cores_per_chip: 2040,
                c_dyn_w_per_mhz_v2: 0.023,
                leak_w_per_v2: 0.8,
                regulator_efficiency: 0.92,
                // The board's own controller (MCU, sensors, LDOs) while the
                // chips run: a few watts. Fans are modelled apart, below.
                overhead_w: CONTROL_OVERHEAD_W,
            },
            // The table above is valid by construction; the fallback can
            // never be taken but keeps this function panic-free.
            vf_table: VfTable::new(table).unwrap_or_else(|_| unreachable_table()),
            r_th_full_fan_k_per_w: 0.03,
            chip_tau_s: 20.0,
            fan_max_rpm: 6000.0,
            fan_max_w: default_fan_max_w(),
            trip_chip_c: 80.0,
            recover_chip_c: 50.0,
            trip_min_wait_s: 30.0,
            fan_law: FanLaw::Quiet,
        }
    }

    /// The quiet fan's tuning for this board: the hashboard gains, the
    /// target 10 K and the full-duty threshold 3 K below the trip (70 and
    /// 77 °C for an 80 °C trip; the loop aims 3 K under the target). Warmer
    /// than `hearth_board`'s conservative hashboard default of 65 °C, which
    /// a user raises with the board's `fan_target_c`: quiet comes from
    /// letting the chips run warm, with margins on both sides.
    pub fn quiet_fan_tuning(&self) -> FanTuning {
        FanTuning {
            target_c: self.trip_chip_c - 10.0,
            full_duty_above_c: self.trip_chip_c - 3.0,
            ..FanTuning::hashboard()
        }
    }

    /// Where the quiet fan holds the chips.
    pub fn quiet_fan_aim_c(&self) -> f64 {
        self.quiet_fan_tuning().target_c - QuietTuning::default().margin_k
    }

    pub fn check(&self) -> Result<(), String> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        pos("r_th_full_fan_k_per_w", self.r_th_full_fan_k_per_w)?;
        pos("chip_tau_s", self.chip_tau_s)?;
        pos("fan_max_rpm", self.fan_max_rpm)?;
        if !(self.fan_max_w.is_finite() && self.fan_max_w >= 0.0) {
            return Err(format!(
                "fan_max_w must be a number >= 0, got {}",
                self.fan_max_w
            ));
        }
        pos("power.c_dyn_w_per_mhz_v2", self.power.c_dyn_w_per_mhz_v2)?;
        pos(
            "power.regulator_efficiency",
            self.power.regulator_efficiency,
        )?;
        if self.power.regulator_efficiency > 1.0 {
            return Err("power.regulator_efficiency must be at most 1".into());
        }
        if self.power.chips == 0 || self.power.cores_per_chip == 0 {
            return Err("power.chips and power.cores_per_chip must be at least 1".into());
        }
        if self.recover_chip_c >= self.trip_chip_c {
            return Err("recover_chip_c must be below trip_chip_c".into());
        }
        Ok(())
    }
}

/// Control electronics on the hashboard itself, W. An estimate (MCU,
/// temperature sensors, level shifters and LDOs run to a few watts); the Pi
/// that runs Hearth is not part of a board.
const CONTROL_OVERHEAD_W: f64 = 5.0;

/// A board's share of the fans at full speed, W. S19/S21-class units cool
/// three boards with four 12038 12 V fans at about 6000 rpm; a fan of that
/// class is rated around 12 V x 2.5 A = 30 W, so 4 x 30 W / 3 boards = 40 W
/// per board at 100 %. At partial speed the affinity law (power ~ speed^3)
/// applies: 20 % speed draws 0.8 % of it.
fn default_fan_max_w() -> f64 {
    40.0
}

/// Fraction of full airflow at `duty` (the fan's speed follows its duty).
fn airflow_at(duty: Percent) -> f64 {
    0.25 + 0.75 * duty.fraction()
}

/// Firmware-style proportional fan control on chip temperature: 25 % at
/// 55 °C plus 5 % per kelvin, never below 20 %.
fn fan_duty_for_chip(chip_c: f64) -> Percent {
    Percent::new((25.0 + (chip_c - 55.0) * 5.0).clamp(20.0, 100.0))
}

impl SimBoardParams {
    /// Electrical fan power at `duty` by the affinity law.
    pub fn fan_power_w(&self, duty: Percent) -> Watts {
        let speed = duty.fraction().clamp(0.0, 1.0);
        Watts(self.fan_max_w * speed * speed * speed)
    }

    /// Steady state of a board running at `op` in air at `ambient`: the fan
    /// duty its fan loop settles at and the wall power including that fan.
    /// The fan's answer to chip temperature falls as its duty rises, so the
    /// duty where they agree is found by bisection.
    pub fn steady_state(&self, op: OperatingPoint, ambient: Celsius) -> (Percent, Watts) {
        let chip_w = self.power.power(op).get();
        if self.fan_law == FanLaw::Quiet {
            // The loop's integral settles where the chip sits at its aim:
            // the airflow that holds it there, within the duty's range.
            let rise_k = self.quiet_fan_aim_c() - ambient.get();
            let airflow = if rise_k > 0.0 {
                chip_w * self.r_th_full_fan_k_per_w / rise_k
            } else {
                1.0
            };
            let duty = Percent::new(((airflow - 0.25) / 0.75 * 100.0).clamp(20.0, 100.0));
            return (duty, Watts(chip_w) + self.fan_power_w(duty));
        }
        let answer = |duty: f64| {
            let r_th = self.r_th_full_fan_k_per_w / airflow_at(Percent::new(duty));
            fan_duty_for_chip(ambient.get() + chip_w * r_th).get() - duty
        };
        let (mut lo, mut hi) = (20.0, 100.0);
        let duty = if answer(hi) >= 0.0 {
            hi
        } else if answer(lo) <= 0.0 {
            lo
        } else {
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if answer(mid) > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let duty = Percent::new(duty);
        (duty, Watts(chip_w) + self.fan_power_w(duty))
    }
}

fn unreachable_table() -> VfTable {
    // Two rows that always validate.
    let p = |f, v| VfPoint {
        freq_mhz: f,
        min_voltage_mv: v,
    };
    match VfTable::new(vec![p(200.0, 1000.0), p(600.0, 1220.0)]) {
        Ok(t) => t,
        Err(_) => unreachable!("constant table is valid"),
    }
}

/// What the byte-level path commands directly: in this mode the board's
/// frequency comes from the simulated chips' PLL registers, its voltage and
/// power from the simulated regulator, its fan from the simulated fan, and
/// protection is the real driver's business, not the model's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExternalDrive {
    pub freq_mhz: f64,
    pub voltage_mv: f64,
    pub regulator_enabled: bool,
    pub reset_held: bool,
    pub fan_duty: Percent,
}

impl Default for ExternalDrive {
    /// Power-on state of real hardware: regulator off, chips in reset, fan
    /// at full speed until a controller says otherwise.
    fn default() -> ExternalDrive {
        ExternalDrive {
            freq_mhz: 0.0,
            voltage_mv: 0.0,
            regulator_enabled: false,
            reset_held: true,
            fan_duty: Percent::FULL,
        }
    }
}

impl ExternalDrive {
    /// Chips draw power and hash only when powered, out of reset and clocked.
    pub fn running(&self) -> bool {
        self.regulator_enabled && !self.reset_held && self.freq_mhz > 0.0 && self.voltage_mv > 0.0
    }
}

#[derive(Debug, Clone)]
pub struct SimBoard {
    pub params: SimBoardParams,
    state: BoardState,
    power_target_w: Watts,
    target: Option<OperatingPoint>,
    freq_mhz: f64,
    voltage_mv: f64,
    chip_c: f64,
    fan_duty: Percent,
    tripped_for_s: f64,
    fan_stalled: bool,
    /// How long the tach has read a stall at a duty that should spin the
    /// fan, as the driver's protection times it; `None` = not stalled.
    stall_seen_s: Option<f64>,
    /// Extra chip temperature rise (a detached heatsink, dust), fault injection.
    thermal_fault_k: f64,
    /// The chip temperature sensor stops answering, fault injection.
    pub chip_sensor_failed: bool,
    external: Option<ExternalDrive>,
    events: Vec<BoardEvent>,
    dropped_events: u64,
    quiet_fan: QuietFan,
}

impl SimBoard {
    pub fn new(params: SimBoardParams, ambient: Celsius) -> SimBoard {
        // The model's fan starts at its idle 20 %, and so does the loop.
        let quiet_fan = QuietFan::new(params.quiet_fan_tuning(), QuietTuning::default())
            .starting_at(Percent::new(20.0));
        SimBoard {
            quiet_fan,
            params,
            state: BoardState::Idle,
            power_target_w: Watts::ZERO,
            target: None,
            freq_mhz: 0.0,
            voltage_mv: 0.0,
            chip_c: ambient.get(),
            fan_duty: Percent::new(20.0),
            tripped_for_s: 0.0,
            fan_stalled: false,
            stall_seen_s: None,
            thermal_fault_k: 0.0,
            chip_sensor_failed: false,
            external: None,
            events: Vec::new(),
            dropped_events: 0,
        }
    }

    pub fn power_range(&self) -> (Watts, Watts) {
        self.params.power.power_range(&self.params.vf_table)
    }

    pub fn set_power_target(&mut self, target: Watts) {
        if self.state == BoardState::Stopped {
            return;
        }
        self.power_target_w = target;
        self.target = self
            .params
            .power
            .point_for_power(&self.params.vf_table, target);
    }

    pub fn stop(&mut self) {
        if self.state != BoardState::Stopped {
            self.push_event(BoardEvent::Stopped);
        }
        self.state = BoardState::Stopped;
        self.power_target_w = Watts::ZERO;
        self.target = None;
        self.freq_mhz = 0.0;
        self.voltage_mv = 0.0;
    }

    /// Hands control to the byte-level path (see [`ExternalDrive`]).
    pub fn drive_externally(&mut self) {
        self.external = Some(ExternalDrive::default());
    }

    pub fn external(&self) -> Option<&ExternalDrive> {
        self.external.as_ref()
    }

    pub fn external_mut(&mut self) -> Option<&mut ExternalDrive> {
        self.external.as_mut()
    }

    /// Fault injection: the chips run `extra_k` hotter than the fan explains.
    pub fn set_thermal_fault(&mut self, extra_k: f64) {
        self.thermal_fault_k = if extra_k.is_finite() {
            extra_k.max(0.0)
        } else {
            0.0
        };
    }

    pub fn fan_stalled(&self) -> bool {
        self.fan_stalled
    }

    /// Fault injection: the fan stops turning whatever its duty.
    pub fn set_fan_stalled(&mut self, stalled: bool) {
        self.fan_stalled = stalled;
    }

    fn push_event(&mut self, e: BoardEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.dropped_events += 1;
        } else {
            self.events.push(e);
        }
    }

    pub fn take_events(&mut self) -> Vec<BoardEvent> {
        std::mem::take(&mut self.events)
    }

    fn running(&self) -> bool {
        self.freq_mhz > 0.0
    }

    fn operating_point(&self) -> Option<OperatingPoint> {
        self.running().then_some(OperatingPoint {
            freq_mhz: FreqMhz(self.freq_mhz),
            voltage_mv: Millivolts(self.voltage_mv),
        })
    }

    /// Electrical power drawn now, chips plus fans; all of it becomes heat
    /// in the room. Under external drive, power follows the commands at
    /// once (a regulator reads the new load within microseconds); heat
    /// integrates it in the world's steps.
    pub fn power_w(&self) -> Watts {
        let chips = self.chip_power_w();
        if chips == Watts::ZERO {
            // Idle, tripped or stopped: the model books no fan power (an
            // idle fan at its 20 % floor draws 0.3 W).
            return Watts::ZERO;
        }
        chips + self.fan_power_w()
    }

    /// Fan power now by the affinity law; zero while stalled.
    pub fn fan_power_w(&self) -> Watts {
        if self.fan_stalled {
            Watts::ZERO
        } else {
            self.params.fan_power_w(self.fan_duty)
        }
    }

    /// Power of the chips and the board's control electronics, without fans:
    /// what heats the chips.
    fn chip_power_w(&self) -> Watts {
        if let Some(ext) = self.external {
            if !ext.running() {
                return Watts::ZERO;
            }
            let op = OperatingPoint {
                freq_mhz: FreqMhz(ext.freq_mhz),
                voltage_mv: Millivolts(ext.voltage_mv),
            };
            return self.params.power.power(op);
        }
        self.operating_point()
            .map_or(Watts::ZERO, |op| self.params.power.power(op))
    }

    pub fn hashrate(&self) -> GhPerSec {
        if self.running() {
            self.params.power.hashrate(FreqMhz(self.freq_mhz))
        } else {
            GhPerSec::ZERO
        }
    }

    fn effective_airflow(&self) -> f64 {
        if self.fan_stalled {
            // Natural convection only.
            0.08
        } else {
            airflow_at(self.fan_duty)
        }
    }

    /// Advances the board by `dt_s` with the room air at `ambient`.
    pub fn step(&mut self, dt_s: f64, ambient: Celsius) {
        if let Some(ext) = self.external {
            let on = ext.running();
            self.freq_mhz = if on { ext.freq_mhz } else { 0.0 };
            self.voltage_mv = if on { ext.voltage_mv } else { 0.0 };
            self.fan_duty = ext.fan_duty;
            self.power_target_w = Watts::ZERO;
            self.state = if on {
                BoardState::Running
            } else {
                BoardState::Idle
            };
        } else {
            self.step_protection(dt_s);
            self.step_frequency(dt_s);
        }
        let p = self.chip_power_w().get();
        let airflow = self.effective_airflow();
        let r_th = self.params.r_th_full_fan_k_per_w / airflow;
        let target_c = ambient.get() + p * r_th + self.thermal_fault_k;
        // One heat capacity C behind the resistance: tau = R_th * C grows as
        // the airflow falls, so a stall heats the chip at P / C (about
        // 2.3 K/s at 1.5 kW), not at the full-fan pace toward a far hotter
        // target, and an unpowered board without airflow cools slowly.
        let tau_s = self.params.chip_tau_s / airflow;
        let a = 1.0 - (-dt_s / tau_s).exp();
        self.chip_c += (target_c - self.chip_c) * a;
        if self.external.is_none() {
            self.step_fan(dt_s);
        }
    }

    /// The driver's stall rule ([`fan_stall_trips`]) with this board's trip.
    fn stall_limits(&self) -> ThermalLimits {
        ThermalLimits {
            chip_trip_c: self.params.trip_chip_c,
            ..ThermalLimits::hashboard()
        }
    }

    fn step_protection(&mut self, dt_s: f64) {
        // The tach as the driver's protection reads it: a stall counts only
        // at a duty that should spin the fan.
        let limits = self.stall_limits();
        let looks_stalled = self.fan_rpm().get() < limits.fan_stall_rpm
            && self.fan_duty.get() >= limits.fan_stall_min_duty_percent;
        self.stall_seen_s = looks_stalled.then(|| self.stall_seen_s.map_or(0.0, |s| s + dt_s));
        let stall_trip = self
            .stall_seen_s
            .is_some_and(|s| fan_stall_trips(&limits, s, Some(self.chip_c)));
        match self.state {
            BoardState::Stopped => {}
            BoardState::Tripped => {
                self.tripped_for_s += dt_s;
                // Like the driver: no restart while the fan is still stalled.
                if self.tripped_for_s >= self.params.trip_min_wait_s
                    && self.chip_c < self.params.recover_chip_c
                    && self.stall_seen_s.is_none()
                {
                    self.state = BoardState::Idle;
                    self.push_event(BoardEvent::Recovered);
                }
            }
            _ if self.chip_c > self.params.trip_chip_c => {
                self.state = BoardState::Tripped;
                self.tripped_for_s = 0.0;
                self.freq_mhz = 0.0;
                self.voltage_mv = 0.0;
                let reason = format!(
                    "chip temperature {:.1} °C above {:.1} °C",
                    self.chip_c, self.params.trip_chip_c
                );
                self.push_event(BoardEvent::Tripped { reason });
            }
            _ if stall_trip && self.running() => {
                self.state = BoardState::Tripped;
                self.tripped_for_s = 0.0;
                self.freq_mhz = 0.0;
                self.voltage_mv = 0.0;
                let reason = format!(
                    "fan stalled at {:.0} % duty, chip temperature {:.1} °C",
                    self.fan_duty.get(),
                    self.chip_c
                );
                self.push_event(BoardEvent::Tripped { reason });
            }
            _ => {}
        }
    }

    fn step_frequency(&mut self, dt_s: f64) {
        if matches!(self.state, BoardState::Stopped | BoardState::Tripped) {
            return;
        }
        let Some(target) = self.target else {
            self.freq_mhz = 0.0;
            self.voltage_mv = 0.0;
            self.state = BoardState::Idle;
            return;
        };
        let table = &self.params.vf_table;
        let goal = target.freq_mhz.get();
        // From idle, start at the lowest point and ramp from there.
        let current = if self.running() {
            self.freq_mhz
        } else {
            table.min_freq().get()
        };
        let max_step = RAMP_MHZ_PER_S * dt_s;
        self.freq_mhz = current + (goal - current).clamp(-max_step, max_step);
        self.voltage_mv = table.min_voltage(FreqMhz(self.freq_mhz.max(goal))).get();
        self.state = if (self.freq_mhz - goal).abs() < 1e-9 {
            BoardState::Running
        } else {
            BoardState::Ramping
        };
    }

    /// The board's fan law while it runs, full speed when tripped (the
    /// model's protection wins over the law), 20 % while idle.
    fn step_fan(&mut self, dt_s: f64) {
        let duty = match self.state {
            BoardState::Tripped => 100.0,
            _ if !self.running() => 20.0,
            _ if self.params.fan_law == FanLaw::Firmware => fan_duty_for_chip(self.chip_c).get(),
            _ => {
                let full_w = self.power_range().1.get();
                let fraction = if full_w > 0.0 {
                    self.chip_power_w().get() / full_w
                } else {
                    1.0
                };
                let dt = std::time::Duration::from_secs_f64(dt_s.max(0.0));
                let sensed = (!self.chip_sensor_failed).then_some(Celsius(self.chip_c));
                self.quiet_fan.step(sensed, fraction, dt).get()
            }
        };
        if !self.running() || self.state == BoardState::Tripped {
            // Start the quiet loop afresh from what the fan does now.
            self.quiet_fan = QuietFan::new(self.params.quiet_fan_tuning(), QuietTuning::default())
                .starting_at(Percent::new(duty));
        }
        self.fan_duty = Percent::new(duty.max(20.0));
    }

    pub fn fan_rpm(&self) -> Rpm {
        Rpm(if self.fan_stalled {
            0.0
        } else {
            self.params.fan_max_rpm * self.fan_duty.fraction()
        })
    }

    pub fn chip_temp(&self) -> Celsius {
        Celsius(self.chip_c)
    }

    /// The regulator runs a little above the air, more under load.
    pub fn regulator_temp(&self) -> Celsius {
        Celsius(self.chip_c * 0.6 + 0.01 * self.power_w().get())
    }

    pub fn telemetry(&self) -> BoardTelemetry {
        let rpm = self.fan_rpm().get();
        BoardTelemetry {
            state: self.state,
            power_w: self.power_w(),
            power_target_w: self.power_target_w,
            hashrate_ghs: self.hashrate(),
            chip_temp_c: Some(Celsius(self.chip_c)),
            regulator_temp_c: Some(self.regulator_temp()),
            fan_duty: self.fan_duty,
            fan_rpm: Some(Rpm(rpm)),
            operating_point: self.operating_point(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(board: &mut SimBoard, seconds: u32) {
        for _ in 0..seconds {
            board.step(1.0, Celsius(20.0));
        }
    }

    #[test]
    fn default_profile_is_valid_and_spans_a_useful_range() {
        let p = SimBoardParams::bm1370_65();
        assert_eq!(p.check(), Ok(()));
        let (lo, hi) = SimBoard::new(p, Celsius(20.0)).power_range();
        assert!(lo.get() > 300.0 && lo.get() < 500.0, "{lo}");
        assert!(hi.get() > 1400.0 && hi.get() < 1700.0, "{hi}");
    }

    #[test]
    fn ramps_to_target_and_draws_at_most_it() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(900.0));
        b.step(1.0, Celsius(20.0));
        assert_eq!(b.telemetry().state, BoardState::Ramping);
        run(&mut b, 20);
        let t = b.telemetry();
        assert_eq!(t.state, BoardState::Running);
        assert!(
            t.power_w.get() <= 900.0 && t.power_w.get() > 850.0,
            "{}",
            t.power_w
        );
        let f = t.operating_point.map(|op| op.freq_mhz.get()).unwrap_or(0.0);
        assert!((t.hashrate_ghs.get() - f * 2040.0 * 65.0 / 1000.0).abs() < 1e-6);
    }

    #[test]
    fn a_stall_heats_the_chip_at_its_heat_capacitys_pace_and_it_cools_slowly_unpowered() {
        let params = SimBoardParams::bm1370_65();
        let heat_capacity_j_per_k = params.chip_tau_s / params.r_th_full_fan_k_per_w;
        let mut b = SimBoard::new(params, Celsius(20.0));
        b.set_power_target(Watts(1500.0));
        run(&mut b, 600);
        assert_eq!(b.telemetry().state, BoardState::Running);
        let p = b.chip_power_w().get();
        let before = b.chip_temp().get();
        b.set_fan_stalled(true);
        b.step(1.0, Celsius(20.0));
        let rise = b.chip_temp().get() - before;
        // dT/dt = P / C less what natural convection still takes away.
        let pace = p / heat_capacity_j_per_k;
        assert!(
            rise > 0.7 * pace && rise <= pace,
            "{rise:.2} K in 1 s at {p:.0} W; P/C = {pace:.2} K/s"
        );
        // Unpowered with the fan still stalled, it cools at natural
        // convection's pace: tenths of a kelvin a second, not kelvins.
        b.stop();
        run(&mut b, 5);
        let hot = b.chip_temp().get();
        b.step(1.0, Celsius(20.0));
        let fall = hot - b.chip_temp().get();
        assert!(fall > 0.0 && fall < 0.5, "cooled {fall:.2} K in 1 s");
    }

    #[test]
    fn lower_power_gives_more_hashes_per_joule() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(600.0));
        run(&mut b, 30);
        let low = b.hashrate().get() / b.power_w().get();
        b.set_power_target(Watts(1600.0));
        run(&mut b, 30);
        let high = b.hashrate().get() / b.power_w().get();
        assert!(low > high * 1.1, "{low} vs {high}");
    }

    #[test]
    fn fan_power_follows_the_cube_of_its_speed() {
        let p = SimBoardParams::bm1370_65();
        assert_eq!(p.fan_power_w(Percent::FULL), Watts(40.0));
        assert!((p.fan_power_w(Percent::new(50.0)).get() - 5.0).abs() < 1e-12);
        assert!((p.fan_power_w(Percent::new(20.0)).get() - 0.32).abs() < 1e-12);
    }

    #[test]
    fn steady_state_matches_the_stepped_board() {
        // The fixed point the ceiling uses is where the stepped board settles.
        let params = SimBoardParams::bm1370_65();
        for target_w in [500.0, 900.0, 1600.0] {
            let mut b = SimBoard::new(params.clone(), Celsius(20.0));
            b.set_power_target(Watts(target_w));
            run(&mut b, 600);
            let op = b.telemetry().operating_point;
            let Some(op) = op else {
                panic!("board runs at {target_w} W")
            };
            let (duty, power) = params.steady_state(op, Celsius(20.0));
            assert!(
                (duty.get() - b.telemetry().fan_duty.get()).abs() < 0.5,
                "{target_w} W: {duty:?} vs {:?}",
                b.telemetry().fan_duty
            );
            assert!((power - b.power_w()).get().abs() < 0.5, "{target_w} W");
        }
    }

    #[test]
    fn a_slower_fan_at_low_power_draws_far_less() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(600.0));
        run(&mut b, 600);
        let low = b.fan_power_w();
        b.set_power_target(Watts(1600.0));
        run(&mut b, 600);
        let high = b.fan_power_w();
        assert!(high.get() > 5.0 * low.get(), "{low:?} vs {high:?}");
    }

    #[test]
    fn stalled_fan_trips_and_recovers_after_the_fan_returns() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(1500.0));
        b.set_fan_stalled(true);
        run(&mut b, 300);
        let events = b.take_events();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, BoardEvent::Tripped { .. })),
            "{events:?}"
        );
        assert!(b.telemetry().chip_temp_c.map_or(0.0, |c| c.get()) < 90.0);
        b.set_fan_stalled(false);
        run(&mut b, 300);
        assert!(b.take_events().contains(&BoardEvent::Recovered));
        assert!(b.power_w().get() > 0.0, "heats again after recovery");
    }

    #[test]
    fn a_stall_on_a_hot_board_trips_before_the_chip_passes_its_trip() {
        // Full power with a heatsink fault: the chip sits a few kelvin under
        // its 80 °C trip, then the fan stops.
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(1600.0));
        run(&mut b, 120);
        b.set_thermal_fault(10.0);
        run(&mut b, 120);
        let before = b.chip_temp().get();
        assert!(before > 70.0 && before < 80.0, "{before}");
        assert!(b.take_events().is_empty());
        b.set_fan_stalled(true);
        let mut hottest = before;
        for _ in 0..300 {
            b.step(1.0, Celsius(20.0));
            hottest = hottest.max(b.chip_temp().get());
        }
        assert!(hottest <= 80.0, "{hottest}");
        let events = b.take_events();
        assert!(
            matches!(events.as_slice(), [BoardEvent::Tripped { reason }] if reason.contains("fan stalled")),
            "{events:?}"
        );
        // No restart while the fan is still stalled, however cool.
        assert_eq!(b.power_w(), Watts::ZERO);
    }

    #[test]
    fn externally_driven_board_follows_its_commands() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.drive_externally();
        run(&mut b, 5);
        assert_eq!(
            b.power_w(),
            Watts::ZERO,
            "power-on state: regulator off, chips in reset"
        );
        if let Some(ext) = b.external_mut() {
            ext.regulator_enabled = true;
            ext.voltage_mv = 1140.0;
            ext.freq_mhz = 500.0;
            ext.reset_held = false;
            ext.fan_duty = Percent::new(50.0);
        }
        run(&mut b, 60);
        let expected = b.params.power.power(OperatingPoint {
            freq_mhz: FreqMhz(500.0),
            voltage_mv: Millivolts(1140.0),
        }) + Watts(5.0); // the fan at 50 %: 40 W x 0.5^3
        assert!((b.power_w() - expected).get().abs() < 1e-9);
        assert_eq!(b.telemetry().fan_duty, Percent::new(50.0));
        // The model's own protection stays out of it, however hot.
        b.set_thermal_fault(200.0);
        run(&mut b, 120);
        assert!(b.chip_temp().get() > 200.0);
        assert!((b.power_w() - expected).get().abs() < 1e-9);
        if let Some(ext) = b.external_mut() {
            ext.reset_held = true;
        }
        run(&mut b, 1);
        assert_eq!(b.power_w(), Watts::ZERO);
    }

    #[test]
    fn stopped_board_ignores_power() {
        let mut b = SimBoard::new(SimBoardParams::bm1370_65(), Celsius(20.0));
        b.set_power_target(Watts(900.0));
        run(&mut b, 10);
        b.stop();
        b.set_power_target(Watts(900.0));
        run(&mut b, 10);
        assert_eq!(b.power_w(), Watts::ZERO);
        assert_eq!(b.telemetry().state, BoardState::Stopped);
    }
}
