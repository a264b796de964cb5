//! Zone controllers: from a temperature, a setpoint and what else is known
//! (outdoor temperature, the next scheduled setpoint) to a heat demand 0..=1,
//! a fraction of the zone's maximum power.
//!
//! * [`Hearth`]: ours. Boards modulate, so it controls power continuously: PI
//!   with anti-windup around an outdoor-temperature feed-forward learned from
//!   the zone's own losses, and pre-heat so a scheduled setpoint is met on time.
//! * [`Hysteresis`]: Home Assistant's generic_thermostat, full power on/off.
//! * [`Tpi`]: the TPI formula of European thermostats (Versatile Thermostat),
//!   a duty cycle over fixed cycles at full power.
//!
//! The two baselines exist to be benchmarked against (`hearth sim --controller`).

use crate::pi::{PiController, PiGains};
use hearth_core::{Celsius, Timestamp, Watts};
use serde::{Deserialize, Serialize};

/// What a controller sees each tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneInputs {
    pub temperature: Celsius,
    /// The setpoint in force now.
    pub setpoint: Celsius,
    /// Outdoor temperature, when a source exists.
    pub outdoor: Option<Celsius>,
    /// The next scheduled setpoint change, if the zone has a schedule.
    pub next_setpoint: Option<(Timestamp, Celsius)>,
    /// The zone's maximum heating power (all its boards).
    pub max_power: Watts,
    /// Seconds since the previous step (0 on the first).
    pub dt_s: f64,
}

/// One zone's controller. Implementations are pure state machines.
pub trait ZoneController: std::fmt::Debug + Send {
    /// Demand 0..=1 for this tick.
    fn step(&mut self, inputs: &ZoneInputs, now: Timestamp) -> f64;
    /// Forget accumulated state (mode change, hard limit reached).
    fn reset(&mut self);
    /// Demand while the thermometer is stale, from what the controller has
    /// learned; 0 unless it knows better.
    fn fallback_demand(&self, _setpoint: Celsius, _outdoor: Option<Celsius>, _max: Watts) -> f64 {
        0.0
    }
    /// Whether the zone gets blind heat ([`crate::blind`]) while it has no
    /// temperature. Off by default: the baselines stand for the plain
    /// thermostats Hearth is measured against, which have no safety mode.
    fn blind_heat(&self) -> bool {
        false
    }
}

/// Which controller an [`crate::Appliance`] builds for each zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerKind {
    Hearth(PiGains),
    Hysteresis,
    Tpi,
}

impl ControllerKind {
    pub fn build(self) -> Box<dyn ZoneController> {
        match self {
            ControllerKind::Hearth(g) => Box::new(Hearth::new(g)),
            ControllerKind::Hysteresis => Box::new(Hysteresis::new(0.3, 0.3)),
            ControllerKind::Tpi => Box::new(Tpi::new(0.6, 0.01, 600.0)),
        }
    }

    /// Minimum on/off times for whole-board switching. The baselines run as
    /// their reference implementations define them: no minimum cycle.
    pub fn dwell(self) -> crate::split::Dwell {
        match self {
            ControllerKind::Hearth(_) => crate::split::Dwell::default(),
            ControllerKind::Hysteresis | ControllerKind::Tpi => crate::split::Dwell {
                min_on: std::time::Duration::ZERO,
                min_off: std::time::Duration::ZERO,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ControllerKind::Hearth(_) => "hearth",
            ControllerKind::Hysteresis => "hysteresis",
            ControllerKind::Tpi => "tpi",
        }
    }
}

/// Home Assistant's generic_thermostat: heat at full power from
/// `setpoint - cold_tolerance` until `setpoint + hot_tolerance`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hysteresis {
    cold_k: f64,
    hot_k: f64,
    on: bool,
}

impl Hysteresis {
    pub fn new(cold_tolerance_k: f64, hot_tolerance_k: f64) -> Hysteresis {
        Hysteresis {
            cold_k: cold_tolerance_k,
            hot_k: hot_tolerance_k,
            on: false,
        }
    }
}

impl ZoneController for Hysteresis {
    fn step(&mut self, i: &ZoneInputs, _now: Timestamp) -> f64 {
        let (t, sp) = (i.temperature.get(), i.setpoint.get());
        if !(t.is_finite() && sp.is_finite()) {
            self.on = false;
        } else if t <= sp - self.cold_k {
            self.on = true;
        } else if t >= sp + self.hot_k {
            self.on = false;
        }
        if self.on {
            1.0
        } else {
            0.0
        }
    }

    fn reset(&mut self) {
        self.on = false;
    }
}

/// TPI: `on% = clamp(coef_int (Tset - Tin) + coef_ext (Tset - Tout), 0, 1)`,
/// computed at the start of each cycle and applied as full power for that
/// share of the cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Tpi {
    coef_int: f64,
    coef_ext: f64,
    cycle_s: f64,
    cycle_start: Option<Timestamp>,
    on_fraction: f64,
}

impl Tpi {
    pub fn new(coef_int: f64, coef_ext: f64, cycle_s: f64) -> Tpi {
        Tpi {
            coef_int,
            coef_ext,
            cycle_s,
            cycle_start: None,
            on_fraction: 0.0,
        }
    }
}

impl ZoneController for Tpi {
    fn step(&mut self, i: &ZoneInputs, now: Timestamp) -> f64 {
        let new_cycle = match self.cycle_start {
            None => true,
            Some(start) => now.since(start).as_secs_f64() >= self.cycle_s,
        };
        if new_cycle {
            self.cycle_start = Some(now);
            let sp = i.setpoint.get();
            let ext = i.outdoor.map_or(0.0, |o| sp - o.get());
            let on = self.coef_int * (sp - i.temperature.get()) + self.coef_ext * ext;
            self.on_fraction = if on.is_finite() {
                on.clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        let into = self.cycle_start.map_or(0.0, |s| now.since(s).as_secs_f64());
        if into < self.on_fraction * self.cycle_s {
            1.0
        } else {
            0.0
        }
    }

    fn reset(&mut self) {
        self.cycle_start = None;
        self.on_fraction = 0.0;
    }
}

/// Warm-up rate assumed until one is measured, K/h: conservative for a room.
const DEFAULT_WARMUP_K_PER_H: f64 = 1.5;
/// Pre-heat never starts earlier than this before a scheduled rise.
const MAX_PREHEAT_S: f64 = 2.5 * 3600.0;
/// Time constant of the loss-coefficient estimate.
const UA_TAU_S: f64 = 6.0 * 3600.0;

/// Ours: feed-forward + PI + pre-heat.
///
/// * Feed-forward `UA (Tset - Tout) / Pmax`: the power that holds the
///   setpoint against the current outdoor temperature, with the zone's loss
///   coefficient UA learned while it holds its setpoint (power / (T - Tout)).
///   The PI then only corrects what the model misses, so a cold night or a
///   setpoint step do not have to be integrated up first.
/// * Anti-windup: conditional integration (the integral only moves when the
///   output is not saturated in the direction of the error).
/// * Pre-heat: with a higher setpoint scheduled, the effective setpoint moves
///   to it early enough, given the measured warm-up rate at full power, that
///   it is reached at its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Hearth {
    pi: PiController,
    ua_w_per_k: Option<f64>,
    warmup_k_per_h: f64,
    /// Start of the current full-power stretch: (time, temperature).
    saturated_since: Option<(Timestamp, f64)>,
    last_demand: f64,
}

impl Hearth {
    pub fn new(gains: PiGains) -> Hearth {
        Hearth {
            pi: PiController::new(gains),
            ua_w_per_k: None,
            warmup_k_per_h: DEFAULT_WARMUP_K_PER_H,
            saturated_since: None,
            last_demand: 0.0,
        }
    }

    pub fn ua_w_per_k(&self) -> Option<f64> {
        self.ua_w_per_k
    }

    fn feed_forward(&self, setpoint: Celsius, outdoor: Option<Celsius>, max: Watts) -> f64 {
        match (self.ua_w_per_k, outdoor) {
            (Some(ua), Some(o)) if max.get() > 0.0 => {
                (ua * (setpoint.get() - o.get()) / max.get()).clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }

    /// The setpoint to aim at now: the next scheduled one if it is higher and
    /// close enough that warming up has to start.
    fn effective_setpoint(&self, i: &ZoneInputs, now: Timestamp) -> Celsius {
        let Some((at, next)) = i.next_setpoint else {
            return i.setpoint;
        };
        if next <= i.setpoint {
            return i.setpoint;
        }
        let rise_k = next.get() - i.temperature.get();
        if rise_k <= 0.0 {
            return next;
        }
        let lead_s = (rise_k / self.warmup_k_per_h * 3600.0 * 1.25 + 600.0).min(MAX_PREHEAT_S);
        if at.since(now).as_secs_f64() <= lead_s {
            next
        } else {
            i.setpoint
        }
    }

    fn learn(&mut self, i: &ZoneInputs, sp: Celsius, now: Timestamp) {
        let t = i.temperature.get();
        // Warm-up rate: measured over full-power stretches of 20 min or more.
        if self.last_demand >= 0.999 {
            match self.saturated_since {
                None => self.saturated_since = Some((now, t)),
                Some((t0, temp0)) => {
                    let h = now.since(t0).as_secs_f64() / 3600.0;
                    if h >= 1.0 / 3.0 {
                        let rate = (t - temp0) / h;
                        if rate.is_finite() && rate > 0.2 {
                            self.warmup_k_per_h = (0.5 * self.warmup_k_per_h + 0.5 * rate)
                                .clamp(0.3, 2.0 * DEFAULT_WARMUP_K_PER_H);
                        }
                        self.saturated_since = Some((now, t));
                    }
                }
            }
        } else {
            self.saturated_since = None;
        }
        // Loss coefficient: only near the setpoint, with headroom both ways,
        // where the power drawn is what the zone loses.
        if let Some(o) = i.outdoor {
            let dt_out = t - o.get();
            let near = (t - sp.get()).abs() < 0.2;
            let unsaturated = self.last_demand > 0.02 && self.last_demand < 0.98;
            if near && unsaturated && dt_out > 3.0 && i.max_power.get() > 0.0 {
                let sample = self.last_demand * i.max_power.get() / dt_out;
                let a = (i.dt_s.clamp(0.0, 600.0) / UA_TAU_S).min(1.0);
                self.ua_w_per_k = Some(match self.ua_w_per_k {
                    None => sample,
                    Some(ua) => ua + a * (sample - ua),
                });
            }
        }
    }
}

impl ZoneController for Hearth {
    fn step(&mut self, i: &ZoneInputs, now: Timestamp) -> f64 {
        if !(i.temperature.is_finite() && i.setpoint.is_finite()) {
            self.last_demand = 0.0;
            return 0.0;
        }
        let sp = self.effective_setpoint(i, now);
        // Learning moves the feed-forward; the integral gives back the same
        // amount, so a better loss estimate never kicks the output.
        let before = self.feed_forward(sp, i.outdoor, i.max_power);
        self.learn(i, sp, now);
        let ff = self.feed_forward(sp, i.outdoor, i.max_power);
        self.pi.shift_integral(before - ff);
        let demand = self.pi.step_with_bias(sp, i.temperature, i.dt_s, ff);
        self.last_demand = demand;
        demand
    }

    fn reset(&mut self) {
        self.pi.reset();
        self.saturated_since = None;
        self.last_demand = 0.0;
    }

    fn fallback_demand(&self, setpoint: Celsius, outdoor: Option<Celsius>, max: Watts) -> f64 {
        // Without a thermometer, hold a little under the learned loss at the
        // setpoint: the zone drifts slowly cool instead of going cold, and
        // cannot overheat for lack of a sensor.
        (0.9 * self.feed_forward(setpoint, outdoor, max)).min(0.8)
    }

    fn blind_heat(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(t: f64, sp: f64) -> ZoneInputs {
        ZoneInputs {
            temperature: Celsius(t),
            setpoint: Celsius(sp),
            outdoor: Some(Celsius(0.0)),
            next_setpoint: None,
            max_power: Watts(1500.0),
            dt_s: 10.0,
        }
    }

    #[test]
    fn hysteresis_switches_at_its_tolerances_only() {
        let mut h = Hysteresis::new(0.3, 0.3);
        let now = Timestamp::from_secs(0);
        assert_eq!(h.step(&inputs(20.8, 21.0), now), 0.0, "inside the band");
        assert_eq!(h.step(&inputs(20.7, 21.0), now), 1.0, "at cold edge");
        assert_eq!(h.step(&inputs(21.2, 21.0), now), 1.0, "keeps heating");
        assert_eq!(h.step(&inputs(21.3, 21.0), now), 0.0, "hot edge");
        assert_eq!(h.step(&inputs(20.9, 21.0), now), 0.0, "stays off");
    }

    #[test]
    fn tpi_runs_its_share_of_each_cycle() {
        let mut c = Tpi::new(0.6, 0.01, 600.0);
        // 0.6 * 0.5 + 0.01 * 21 = 0.51: on for 306 s of each 600 s.
        let mut on_s = 0;
        for s in (0..1200).step_by(10) {
            if c.step(&inputs(20.5, 21.0), Timestamp::from_secs(s)) > 0.5 {
                on_s += 10;
            }
        }
        assert_eq!(on_s, 2 * 310, "{on_s}");
        let mut c = Tpi::new(0.6, 0.01, 600.0);
        assert_eq!(c.step(&inputs(25.0, 21.0), Timestamp::from_secs(0)), 0.0);
    }

    #[test]
    fn hearth_learns_losses_and_feeds_them_forward() {
        let mut c = Hearth::new(PiGains::default());
        // Holding 21 °C at 0 °C outdoors with 0.7 of 1500 W: UA = 50 W/K.
        c.last_demand = 0.7;
        for s in 0..5000 {
            c.learn(
                &inputs(21.0, 21.0),
                Celsius(21.0),
                Timestamp::from_secs(s * 10),
            );
        }
        let ua = c.ua_w_per_k().unwrap_or(0.0);
        assert!((ua - 50.0).abs() < 1.0, "{ua}");
        let cold = c.feed_forward(Celsius(21.0), Some(Celsius(-9.0)), Watts(1500.0));
        assert!((cold - 1.0).abs() < 1e-9);
        let mild = c.feed_forward(Celsius(21.0), Some(Celsius(6.0)), Watts(1500.0));
        assert!((mild - 0.5).abs() < 0.02, "{mild}");
        // Stale sensor: a little under the learned holding power.
        let fb = c.fallback_demand(Celsius(21.0), Some(Celsius(6.0)), Watts(1500.0));
        assert!(fb > 0.4 && fb < 0.5, "{fb}");
        assert_eq!(
            Hearth::new(PiGains::default()).fallback_demand(Celsius(21.0), None, Watts(1500.0)),
            0.0
        );
    }

    #[test]
    fn hearth_preheats_for_a_scheduled_rise_but_not_too_early() {
        let c = Hearth::new(PiGains::default());
        let now = Timestamp::from_secs(0);
        let mut i = inputs(18.0, 18.0);
        // 3 K at 1.5 K/h: 2 h * 1.25 + 10 min = 2 h 40 min, capped at 2.5 h.
        i.next_setpoint = Some((Timestamp::from_secs(2 * 3600), Celsius(21.0)));
        assert_eq!(c.effective_setpoint(&i, now), Celsius(21.0));
        i.next_setpoint = Some((Timestamp::from_secs(3 * 3600), Celsius(21.0)));
        assert_eq!(c.effective_setpoint(&i, now), Celsius(18.0));
        // A scheduled drop is not anticipated.
        i.next_setpoint = Some((Timestamp::from_secs(60), Celsius(16.0)));
        assert_eq!(c.effective_setpoint(&i, now), Celsius(18.0));
    }

    #[test]
    fn hearth_modulates_near_setpoint() {
        let mut c = Hearth::new(PiGains::default());
        let d = c.step(&inputs(20.8, 21.0), Timestamp::from_secs(0));
        assert!(d > 0.0 && d < 1.0, "{d}");
        assert_eq!(c.step(&inputs(15.0, 21.0), Timestamp::from_secs(10)), 1.0);
        assert_eq!(c.step(&inputs(24.0, 21.0), Timestamp::from_secs(20)), 0.0);
    }
}
