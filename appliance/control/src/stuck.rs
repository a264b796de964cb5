//! A thermometer stuck at one value while its zone heats hard.
//!
//! A sensor that stops updating but keeps answering (a frozen 1-wire
//! driver, an I2C sensor returning its last conversion, a probe reporting a
//! cached value) looks healthy to every other check, and a reading stuck
//! below the setpoint makes the controller heat at full power forever. The
//! fault campaign found exactly that: a room driven past its hard limit by
//! boards behind a stuck sensor (docs/reliability.md).
//!
//! A zone given a lot of heat does not stay inside one quantisation step
//! (1/16 K for TMP75 and DS18B20). So a reading that stays bit-identical
//! while demand is at or above [`HARD_DEMAND`] (half: the campaign showed
//! a stuck reading a few kelvin below the setpoint holds demand between
//! 50 and 90 %, which four boards turn into an overheated room) and the
//! boards were asked
//! for [`STUCK_ENERGY_J`] in all (1.5 kW for ten minutes; two and a half
//! minutes for 6 kW) is declared stuck, and stays so until the reading
//! changes. Counting energy rather than time keeps the overshoot a stuck
//! sensor allows about the same however many boards heat the zone. The
//! price of a false alarm (a zone at full power that really is not warming,
//! in a cold snap beyond the boards' capacity) is a pause of the heat until
//! the reading moves: safe, and counted.
//!
//! A pool is different: 30 m³ of water takes 7.9 MJ per 1/16 K, so at
//! 3 kW (less ~2 kW of evaporation and losses in summer) its reading
//! rightly stays on one step for an hour or two. The room threshold
//! declared such a pool's sensor stuck several times a day and paused its
//! heat (the pool scenario's eight "safety events"). A pool's watch waits
//! for [`POOL_STUCK_ENERGY_J`] instead: three 1/16 K steps of 30 m³
//! without losses, i.e. about 2 h at 3 kW. That much heat lifts such a
//! pool by 0.2 K, so a stuck sensor still cannot take it far; a small
//! basin (a 2 m³ tub: 2.8 K) is the price, and its hard maximum only
//! binds while the sensor is honest.
//!
//! Hard demand alone misses a reading stuck just under the setpoint in a
//! zone with several boards: the harsh campaign's seed 1001766 froze a
//! room's reading 0.28 K low with four boards (6 kW); the PI integral
//! raised demand from 26 % to 48 %, never half, while the asked power rose
//! from 1.6 to 2.9 kW and took the room past its 30 °C hard limit in 80
//! minutes. So the watch also counts the *excess* energy: power asked
//! above what the zone was asked for when the reading last changed. At an
//! honest steady state that excess stays near zero (the power that held
//! the reading still holds it), so the rule cannot fire there; heat beyond
//! it must warm the zone, and an honest reading moves within the same
//! [`STUCK_ENERGY_J`] (or the pool's limit).

use hearth_core::{Celsius, Timestamp, Watts};

use crate::zone::ZoneKind;

pub const STUCK_ENERGY_J: f64 = 1500.0 * 600.0;
/// The pool's threshold: 3 x 1/16 K x 30 m³ of water (4.186 MJ/m³K).
pub const POOL_STUCK_ENERGY_J: f64 = 3.0 * 0.0625 * 30.0 * 4.186e6;
pub const HARD_DEMAND: f64 = 0.5;
/// Gaps between readings longer than this count as this (a hung loop must
/// not make one reading look like an hour of heat).
const MAX_STEP_S: f64 = 60.0;

#[derive(Debug, Clone)]
pub struct StuckWatch {
    last_bits: Option<u64>,
    last_at: Option<Timestamp>,
    /// Energy asked for at hard demand since the reading last changed, J.
    energy_j: f64,
    /// Energy after which an unchanged reading counts as stuck, J.
    limit_j: f64,
    /// Power asked when the reading last changed, W, and the energy asked
    /// above it since, J.
    base_w: f64,
    excess_j: f64,
    latched: bool,
}

impl Default for StuckWatch {
    /// A room's (and a greenhouse's) watch.
    fn default() -> StuckWatch {
        StuckWatch {
            last_bits: None,
            last_at: None,
            energy_j: 0.0,
            limit_j: STUCK_ENERGY_J,
            base_w: 0.0,
            excess_j: 0.0,
            latched: false,
        }
    }
}

impl StuckWatch {
    /// The watch for a zone of `kind`: a pool's water needs far more heat
    /// to move its reading than a room's air.
    pub fn for_kind(kind: ZoneKind) -> StuckWatch {
        let limit_j = match kind {
            ZoneKind::Pool => POOL_STUCK_ENERGY_J,
            ZoneKind::Room | ZoneKind::Greenhouse => STUCK_ENERGY_J,
        };
        StuckWatch {
            limit_j,
            ..StuckWatch::default()
        }
    }

    /// Observes a reading taken at `now`; `demand` is the zone's demand and
    /// `max_power` its boards' total since the previous reading. Returns true
    /// while the sensor counts as stuck.
    pub fn observe(
        &mut self,
        reading: Celsius,
        demand: f64,
        max_power: Watts,
        now: Timestamp,
    ) -> bool {
        let dt_s = self
            .last_at
            .map_or(0.0, |t| now.since(t).as_secs_f64().min(MAX_STEP_S));
        self.last_at = Some(now);
        let power_w = max_power.get();
        let asked_w = if demand.is_finite() && power_w.is_finite() && power_w > 0.0 {
            demand.clamp(0.0, 1.0) * power_w
        } else {
            0.0
        };
        let bits = reading.get().to_bits();
        if self.last_bits != Some(bits) {
            self.last_bits = Some(bits);
            self.energy_j = 0.0;
            self.base_w = asked_w;
            self.excess_j = 0.0;
            self.latched = false;
            return false;
        }
        if self.latched {
            return true;
        }
        // Heat beyond what held the reading when it last moved.
        self.excess_j += (asked_w - self.base_w).max(0.0) * dt_s;
        if demand.is_nan() || demand < HARD_DEMAND {
            self.energy_j = 0.0;
        } else {
            self.energy_j += asked_w * dt_s;
        }
        if self.energy_j >= self.limit_j || self.excess_j >= self.limit_j {
            self.latched = true;
        }
        self.latched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn a_frozen_reading_under_full_demand_is_stuck_until_it_moves() {
        let mut w = StuckWatch::default();
        let c = Celsius(18.0625);
        let p = Watts(1500.0);
        assert!(!w.observe(c, 1.0, p, at(0)));
        for s in (10..600).step_by(10) {
            assert!(!w.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(w.observe(c, 1.0, p, at(600)));
        // Latched: the heat stopping (demand falls) does not clear it.
        assert!(w.observe(c, 0.0, p, at(620)));
        assert!(w.observe(c, 0.0, p, at(5000)));
        // A changed reading does.
        assert!(!w.observe(Celsius(18.125), 0.0, p, at(5010)));
    }

    #[test]
    fn a_pool_waits_for_hours_of_heat_a_room_for_minutes() {
        let c = Celsius(26.5);
        let p = Watts(3000.0);
        let mut room = StuckWatch::for_kind(ZoneKind::Room);
        let mut pool = StuckWatch::for_kind(ZoneKind::Pool);
        assert!(!room.observe(c, 1.0, p, at(0)));
        assert!(!pool.observe(c, 1.0, p, at(0)));
        // 900 kJ at 3 kW: the room's watch fires after 300 s...
        for s in (10..300).step_by(10) {
            assert!(!room.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(room.observe(c, 1.0, p, at(300)));
        // ...the pool's after 23.5 MJ, 7848 s, and not a tick before.
        let fires_s = (POOL_STUCK_ENERGY_J / 3000.0 / 10.0).ceil() as u64 * 10;
        assert_eq!(fires_s, 7850);
        for s in (10..fires_s).step_by(10) {
            assert!(!pool.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(pool.observe(c, 1.0, p, at(fires_s)));
        // A greenhouse's air is a room's.
        let mut gh = StuckWatch::for_kind(ZoneKind::Greenhouse);
        for s in (0..300).step_by(60) {
            assert!(!gh.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(gh.observe(c, 1.0, p, at(300)));
    }

    #[test]
    fn more_power_means_a_shorter_wait() {
        let mut w = StuckWatch::default();
        let c = Celsius(20.0);
        let p = Watts(6000.0);
        assert!(!w.observe(c, 1.0, p, at(0)));
        for s in (10..150).step_by(10) {
            assert!(!w.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(w.observe(c, 1.0, p, at(150)));
    }

    #[test]
    fn rising_partial_demand_on_a_frozen_reading_is_stuck() {
        // Seed 1001766's shape: four boards (6 kW), a reading frozen just
        // under the setpoint, demand creeping up from 26 % and never
        // reaching half. 900 kJ above the 1.56 kW it started at: demand
        // rising 0.0005 per 10 s gives 30 W more each tick, so the excess
        // reaches 900 kJ after 2,450 s, at 38 % demand.
        let mut w = StuckWatch::default();
        let c = Celsius(24.974);
        let p = Watts(6000.0);
        let demand = |s: u64| 0.26 + 0.0005 * (s / 10) as f64;
        assert!(!w.observe(c, demand(0), p, at(0)));
        let mut fired = None;
        for s in (10..6000).step_by(10) {
            assert!(demand(s) < HARD_DEMAND, "the old rule never fires");
            if w.observe(c, demand(s), p, at(s)) {
                fired = Some(s);
                break;
            }
        }
        let fired = fired.expect("the excess rule fires");
        assert!((2400..=2500).contains(&fired), "{fired}");
        // The same demand (below half, where only the new rule counts)
        // with an honest reading that moves every ten minutes never fires.
        let mut honest = StuckWatch::default();
        for s in (0..4700).step_by(10) {
            assert!(demand(s) < HARD_DEMAND);
            let moving = Celsius(24.974 + (s / 600) as f64 * 0.0625);
            assert!(!honest.observe(moving, demand(s), p, at(s)), "{s}");
        }
    }

    #[test]
    fn a_steady_room_at_partial_demand_is_not_stuck() {
        let mut w = StuckWatch::default();
        let c = Celsius(21.0);
        let p = Watts(1500.0);
        for s in 0..10_000 {
            assert!(!w.observe(c, 0.4, p, at(s * 10)));
        }
        // Hard demand interrupted restarts the count.
        assert!(!w.observe(c, 1.0, p, at(200_000)));
        assert!(!w.observe(c, 1.0, p, at(200_300)));
        assert!(!w.observe(c, 0.3, p, at(200_310)));
        assert!(!w.observe(c, 1.0, p, at(200_320)));
        // A gap (a hung loop) counts for at most a minute, not its length.
        assert!(!w.observe(c, 1.0, p, at(300_000)));
        assert!(!w.observe(c, 1.0, p, at(400_000)));
        // 195 kJ so far (10 s + two capped minutes): 705 kJ more, 470 s.
        for s in (400_010..400_470).step_by(10) {
            assert!(!w.observe(c, 1.0, p, at(s)), "{s}");
        }
        assert!(w.observe(c, 1.0, p, at(400_470)));
    }
}
