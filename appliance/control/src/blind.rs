//! Heat for a zone that has lost its temperature.
//!
//! A zone whose sensor (or Home Assistant's feed) is gone has no reading
//! to steer on. With an outdoor temperature and learned losses the
//! controller's own safety demand covers it
//! ([`crate::ZoneController::fallback_demand`]). Without an outdoor
//! temperature it used to get nothing, and a room in January went cold
//! for as long as the input stayed away (the harsh fault campaign: 556
//! zone-hours below the setpoint, blind and unheated).
//!
//! [`BlindHeat`] remembers the power that last *held* the setpoint (the
//! zone within [`HOLD_BAND_K`] of it, averaged over [`LEARN_TAU_S`]) and,
//! once blind, gives a falling fraction of it: [`START_FRACTION`] at
//! first, halving every [`HALF_LIFE_S`] of blindness, never below
//! [`FLOOR_FRACTION`], and never more than [`MAX_DEMAND`] of the zone's
//! power. Why this is safe without a thermometer: less power than held
//! the setpoint settles the zone *below* the setpoint in the weather it
//! was learned in. Warmer weather than that could lift it above; the fall
//! to 40 % bounds that (a room held at 21 °C on 0 °C outdoors by P settles
//! at 15 + 0.4 * 21 = 23.4 °C on 15 °C with 0.4 P, far from the 30 °C
//! hard limit). A held power learned long ago, or for a setpoint above the
//! one in force, is not used at all. A greenhouse gets none: its sun, which
//! nothing sees without a sensor, can take it near its hard limit by
//! itself, and the power that held it through the night would add to that
//! (the appliance leaves greenhouses out).
//!
//! Time here is the sum of the ticks' steps, each capped at
//! [`MAX_STEP_S`]: a clock that jumps (NTP, a dead RTC) neither ages the
//! learned power nor the blindness by hours in one tick, and one that
//! steps back does not rejuvenate them.

use hearth_core::units::{Celsius, Watts};

/// The zone counts as holding its setpoint within this much of it.
pub const HOLD_BAND_K: f64 = 0.3;
/// The held power is a moving average over about this long.
pub const LEARN_TAU_S: f64 = 2.0 * 3600.0;
/// Holding for less than this (in all) teaches nothing yet.
pub const MIN_LEARNED_S: f64 = 1800.0;
/// A held power last seen more than this long before the zone went blind
/// is too old to say anything about today's weather.
pub const MAX_AGE_S: f64 = 24.0 * 3600.0;
/// Blind heat starts at this fraction of the held power...
pub const START_FRACTION: f64 = 0.8;
/// ...halves every this much blindness...
pub const HALF_LIFE_S: f64 = 12.0 * 3600.0;
/// ...and never falls below this fraction.
pub const FLOOR_FRACTION: f64 = 0.4;
/// Never more than this of the zone's power, whatever held it.
pub const MAX_DEMAND: f64 = 0.8;
/// The longest step one tick counts (ticks are seconds apart).
pub const MAX_STEP_S: f64 = 600.0;

/// The held power of one zone and how long it has been blind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlindHeat {
    /// Average power while holding, and the setpoint it held.
    held: Option<(Watts, Celsius)>,
    /// Seconds of holding folded into `held` (saturates at `MIN_LEARNED_S`).
    learned_s: f64,
    /// Seconds since `held` last learned.
    since_learned_s: f64,
    /// Seconds blind so far, while blind.
    blind_s: Option<f64>,
    /// `since_learned_s` when the zone went blind.
    age_at_blind_s: f64,
}

/// What [`BlindHeat::demand`] decided, for the zone's status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlindDemand {
    /// 0..=[`MAX_DEMAND`] of the zone's power.
    pub demand: f64,
    /// The fraction of the held power it gives.
    pub fraction: f64,
    /// The power that held the setpoint.
    pub held_w: Watts,
    pub blind_s: f64,
}

impl BlindHeat {
    /// A tick with a temperature: ends blindness, and learns from the
    /// power `delivered_w` this tick when the zone is within the band of
    /// `aim` (`None`: the zone was held off for a reason of its own, an
    /// open window say, which teaches nothing).
    pub fn observe(
        &mut self,
        temperature: Celsius,
        aim: Celsius,
        delivered_w: Option<Watts>,
        dt_s: f64,
    ) {
        let dt = step(dt_s);
        self.blind_s = None;
        let holding = (temperature.get() - aim.get()).abs() < HOLD_BAND_K;
        let p = match delivered_w {
            Some(w) if holding && w.get().is_finite() => w.get().max(0.0),
            _ => {
                self.since_learned_s += dt;
                return;
            }
        };
        self.held = Some(match self.held {
            // A new setpoint starts a new average.
            Some((w, sp)) if (sp.get() - aim.get()).abs() < HOLD_BAND_K => {
                let a = (dt / LEARN_TAU_S).min(1.0);
                (Watts(w.get() + a * (p - w.get())), aim)
            }
            _ => {
                self.learned_s = 0.0;
                (Watts(p), aim)
            }
        });
        self.learned_s = (self.learned_s + dt).min(MIN_LEARNED_S);
        self.since_learned_s = 0.0;
    }

    /// A tick without a temperature, whatever else holds the zone: the
    /// blind time goes on.
    pub fn blind_tick(&mut self, dt_s: f64) {
        let dt = step(dt_s);
        self.blind_s = Some(match self.blind_s {
            Some(s) => s + dt,
            None => {
                self.age_at_blind_s = self.since_learned_s;
                0.0
            }
        });
        self.since_learned_s += dt;
    }

    /// The demand to give `aim` now while blind, if what was learned
    /// allows any ([`BlindHeat::blind_tick`] first, each tick).
    pub fn demand(&self, aim: Celsius, max_power: Watts) -> Option<BlindDemand> {
        let blind_s = self.blind_s?;
        let (held_w, held_sp) = self.held?;
        if self.learned_s < MIN_LEARNED_S
            || self.age_at_blind_s > MAX_AGE_S
            || !aim.is_finite()
            || aim.get() < held_sp.get() - HOLD_BAND_K
            || max_power.get() <= 0.0
            || held_w.get() <= 0.0
        {
            return None;
        }
        let fraction = (START_FRACTION * 0.5_f64.powf(blind_s / HALF_LIFE_S)).max(FLOOR_FRACTION);
        let demand = (fraction * held_w.get() / max_power.get()).clamp(0.0, MAX_DEMAND);
        Some(BlindDemand {
            demand,
            fraction,
            held_w,
            blind_s,
        })
    }

    /// The power that held the setpoint, once enough was learned.
    pub fn held_w(&self) -> Option<Watts> {
        self.held
            .filter(|_| self.learned_s >= MIN_LEARNED_S)
            .map(|(w, _)| w)
    }
}

fn step(dt_s: f64) -> f64 {
    if dt_s.is_finite() {
        dt_s.clamp(0.0, MAX_STEP_S)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Watts = Watts(2000.0);

    fn hold(b: &mut BlindHeat, temp: f64, aim: f64, power_w: f64, seconds: u64) {
        for _ in 0..seconds / 10 {
            b.observe(Celsius(temp), Celsius(aim), Some(Watts(power_w)), 10.0);
        }
    }

    /// An hour at 21 °C with 900 W delivered, in 10 s ticks.
    fn held_at_900_w() -> BlindHeat {
        let mut b = BlindHeat::default();
        hold(&mut b, 21.05, 21.0, 900.0, 3600);
        b
    }

    fn blind_for(b: &mut BlindHeat, aim: f64, max: Watts, seconds: u64) -> Option<BlindDemand> {
        let mut last = None;
        for _ in 0..seconds / 10 {
            b.blind_tick(10.0);
            last = b.demand(Celsius(aim), max);
        }
        last
    }

    #[test]
    fn a_blind_zone_gets_a_falling_share_of_what_held_it() {
        let mut b = held_at_900_w();
        assert_eq!(b.held_w(), Some(Watts(900.0)));
        assert_eq!(b.demand(Celsius(21.0), MAX), None, "not blind yet");
        let first = blind_for(&mut b, 21.0, MAX, 10).expect("learned");
        assert!(
            (first.demand - 0.8 * 900.0 / 2000.0).abs() < 1e-9,
            "{first:?}"
        );
        let half_day = blind_for(&mut b, 21.0, MAX, 12 * 3600).expect("learned");
        assert!((half_day.fraction - 0.4).abs() < 1e-3, "{half_day:?}");
        let two_days = blind_for(&mut b, 21.0, MAX, 36 * 3600).expect("learned");
        assert_eq!(two_days.fraction, FLOOR_FRACTION, "{two_days:?}");
        assert!((two_days.demand - 0.4 * 900.0 / 2000.0).abs() < 1e-9);
        // Six hours in: between the two.
        let mut b = held_at_900_w();
        let six = blind_for(&mut b, 21.0, MAX, 6 * 3600).expect("learned");
        assert!((six.fraction - 0.8 / 2f64.sqrt()).abs() < 1e-3, "{six:?}");
    }

    #[test]
    fn never_more_than_the_cap_however_much_held_it() {
        let mut b = BlindHeat::default();
        hold(&mut b, 21.0, 21.0, 2000.0, 3600);
        let d = blind_for(&mut b, 21.0, MAX, 10).expect("learned");
        assert!((d.demand - 0.8).abs() < 1e-9, "{d:?}");
        // A board dropped off: the same watts are a larger share, capped.
        let d = b.demand(Celsius(21.0), Watts(1000.0)).expect("learned");
        assert_eq!(d.demand, MAX_DEMAND);
        assert_eq!(b.demand(Celsius(21.0), Watts(0.0)), None, "no boards");
    }

    #[test]
    fn nothing_without_enough_holding_or_for_a_lower_setpoint_or_when_old() {
        // Never near the setpoint (warming up from cold): nothing learned.
        let mut b = BlindHeat::default();
        hold(&mut b, 17.0, 21.0, 2000.0, 3600);
        assert_eq!(blind_for(&mut b, 21.0, MAX, 10), None);
        // Ten minutes of holding: not enough.
        let mut b = BlindHeat::default();
        hold(&mut b, 21.0, 21.0, 900.0, 600);
        assert_eq!(blind_for(&mut b, 21.0, MAX, 10), None);
        // Held, but off for a reason of its own (an open window): learns
        // nothing either.
        let mut b = BlindHeat::default();
        for _ in 0..360 {
            b.observe(Celsius(21.0), Celsius(21.0), None, 10.0);
        }
        assert_eq!(blind_for(&mut b, 21.0, MAX, 10), None);
        // Held at 21 °C; now the aim is a 17 °C setback: no heat (nothing
        // says what holds 17 °C, and less heat is the safe side).
        let mut b = held_at_900_w();
        assert_eq!(blind_for(&mut b, 17.0, MAX, 600), None);
        // Back at 21 °C, still blind: heat again, on the same clock.
        let d = blind_for(&mut b, 21.0, MAX, 10).expect("learned");
        assert_eq!(d.blind_s, 600.0);
        // Learned, then two warm days with a sensor (no heat, above the
        // setpoint), then blind: too old.
        let mut b = held_at_900_w();
        hold(&mut b, 23.0, 21.0, 0.0, 48 * 3600);
        assert_eq!(blind_for(&mut b, 21.0, MAX, 10), None);
    }

    #[test]
    fn the_average_follows_the_power_that_holds_and_a_new_setpoint_restarts_it() {
        let mut b = held_at_900_w();
        // Colder weather: 1200 W holds it now. Two time constants later
        // the average is most of the way there.
        hold(&mut b, 20.9, 21.0, 1200.0, 4 * 3600);
        let w = b.held_w().expect("learned").get();
        assert!(w > 1150.0 && w < 1200.0, "{w}");
        // Boards cycling on and off around the setpoint average out.
        let mut c = BlindHeat::default();
        for i in 0..(12 * 360) {
            let p = if i % 2 == 0 { 1200.0 } else { 0.0 };
            c.observe(Celsius(21.0), Celsius(21.0), Some(Watts(p)), 10.0);
        }
        let w = c.held_w().expect("learned").get();
        assert!((w - 600.0).abs() < 10.0, "{w}");
        // A new setpoint: what held 21 °C says nothing about 23 °C.
        hold(&mut b, 23.0, 23.0, 1500.0, 10);
        assert_eq!(b.held_w(), None, "not enough at the new setpoint yet");
    }

    #[test]
    fn clock_jumps_count_as_one_capped_step() {
        let mut b = held_at_900_w();
        b.blind_tick(10.0);
        // The clock jumps a day ahead: one tick of at most ten minutes.
        b.blind_tick(86_400.0);
        let d = b.demand(Celsius(21.0), MAX).expect("learned");
        assert_eq!(d.blind_s, MAX_STEP_S);
        assert!(d.fraction > 0.79, "{d:?}");
        // Bad steps count as nothing.
        b.blind_tick(f64::NAN);
        b.blind_tick(-5.0);
        b.blind_tick(f64::INFINITY);
        let d = b.demand(Celsius(21.0), MAX).expect("learned");
        assert_eq!(d.blind_s, MAX_STEP_S);
        assert_eq!(b.demand(Celsius(f64::NAN), MAX), None);
        // A reading ends blindness; the next blind spell starts at the top.
        b.observe(Celsius(21.0), Celsius(21.0), Some(Watts(900.0)), 10.0);
        let d = blind_for(&mut b, 21.0, MAX, 10).expect("learned");
        assert_eq!(d.blind_s, 0.0);
    }
}
