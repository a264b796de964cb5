//! The network side of a fault campaign's world: a Home Assistant that
//! publishes the zone's temperature over an MQTT broker, and the work
//! sources (our sharechain, which needs the Bitcoin node and peers, and a
//! pool) behind the daemon's own failover ([`hearth_work::failover`]). The
//! `mqtt_gone`, `node_gone`, `peers_gone` and `pool_gone` faults take these
//! pieces away; the campaign checks what the appliance does meanwhile and
//! that it recovers. Pure: time and health are arguments.
//!
//! * **MQTT-fed zone.** In a run that draws an `mqtt_gone` fault, the zone
//!   has no local probe: its temperature is Home Assistant's sensor (the
//!   campaign's faulty thermometer, so sensor faults still apply to it),
//!   published every [`HA_PUBLISH_EVERY_S`] and handed to the controller as
//!   an external temperature stamped at receipt, as the daemon's MQTT
//!   input does. With the broker gone, nothing arrives: after
//!   [`ZONE_TEMP_MAX_AGE`] the value is stale and the zone must be in its
//!   stale-sensor safety mode (no temperature), never steering on the old
//!   number; when the broker is back, the next publish restores control.
//! * **Work.** Sources in the daemon's order, sharechain first, pool
//!   second. Each tick their health follows the faults; the failover picks
//!   one or none (local heat-only work). Shares found are counted per
//!   origin: those found on heat-only work are never submitted anywhere.

use hearth_control::house::ZONE_TEMP_MAX_AGE;
use hearth_core::{Celsius, DeviceError, Thermometer, Timestamp};
use hearth_work::failover::{Failover, SourceHealth};
use std::time::Duration;

/// Home Assistant publishes the zone's temperature this often.
pub const HA_PUBLISH_EVERY_S: f64 = 60.0;
/// A returning source must stay up this long before it takes over from a
/// lower one (`switch_back_after_s`).
pub const SWITCH_BACK_AFTER: Duration = Duration::from_secs(60);
/// Expected shares per TH (10^12 hashes) at the campaign's share
/// difficulty: difficulty 2^20 (one share per 2^52 hashes), so a 1 kW
/// board (~60 TH/s) finds a share every ~75 s.
const SHARES_PER_TH: f64 = 1e12 / 4_503_599_627_370_496.0;

/// The zone's own thermometer in an MQTT-fed zone: there is none.
#[derive(Debug)]
pub struct NoLocalProbe;

impl Thermometer for NoLocalProbe {
    fn name(&self) -> &str {
        "no local probe (temperature from Home Assistant)"
    }

    fn read_temp(&mut self, _now: Timestamp) -> Result<Celsius, DeviceError> {
        Err(DeviceError::Fault("no local probe in this zone".into()))
    }
}

/// Home Assistant and the broker between it and the daemon.
pub struct HomeAssistantFeed {
    sensor: Box<dyn Thermometer>,
    next_publish_s: f64,
    /// The last value the daemon received, stamped with its clock.
    pub last_delivered: Option<(Celsius, Timestamp)>,
    /// Publishes lost to the broker being gone.
    pub lost: u64,
}

impl std::fmt::Debug for HomeAssistantFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeAssistantFeed")
            .field("sensor", &self.sensor.name())
            .field("last_delivered", &self.last_delivered)
            .field("lost", &self.lost)
            .finish()
    }
}

impl HomeAssistantFeed {
    pub fn new(sensor: Box<dyn Thermometer>) -> HomeAssistantFeed {
        HomeAssistantFeed {
            sensor,
            next_publish_s: 0.0,
            last_delivered: None,
            lost: 0,
        }
    }

    /// At true time `t_s`: the value that reaches the daemon now, if any. A
    /// sensor that does not answer publishes nothing (Home Assistant marks
    /// it unavailable); with the broker gone the publish is lost.
    pub fn step(
        &mut self,
        t_s: f64,
        sensor_now: Timestamp,
        controller_now: Timestamp,
        broker_up: bool,
    ) -> Option<(Celsius, Timestamp)> {
        if t_s < self.next_publish_s {
            return None;
        }
        self.next_publish_s = t_s + HA_PUBLISH_EVERY_S;
        let value = self.sensor.read_temp(sensor_now).ok()?;
        if !broker_up {
            self.lost += 1;
            return None;
        }
        self.last_delivered = Some((value, controller_now));
        self.last_delivered
    }

    /// Whether the last delivered value is stale at `controller_now` (by
    /// the controller's own rule) or there is none.
    pub fn stale(&self, controller_now: Timestamp) -> bool {
        self.last_delivered
            .is_none_or(|(_, at)| controller_now.since(at) > ZONE_TEMP_MAX_AGE)
    }
}

/// Which network pieces are up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkUp {
    pub broker: bool,
    pub node: bool,
    pub peers: bool,
    pub pool: bool,
}

impl NetworkUp {
    pub const ALL: NetworkUp = NetworkUp {
        broker: true,
        node: true,
        peers: true,
        pool: true,
    };
}

/// The work sources behind the daemon's failover, and the shares found.
#[derive(Debug)]
pub struct WorkSide {
    failover: Failover,
    /// Fractional shares carried between ticks, per origin.
    carry: [f64; 3],
    /// Shares submitted to the sharechain, to the pool, and found on
    /// heat-only work (never submitted).
    pub shares: [u64; 3],
    /// Simulated seconds on heat-only work.
    pub heat_only_s: f64,
}

/// Index of the heat-only origin in [`WorkSide::shares`].
pub const HEAT_ONLY: usize = 2;

impl WorkSide {
    pub fn new() -> WorkSide {
        WorkSide {
            failover: Failover::new(vec!["sharechain".into(), "pool".into()], SWITCH_BACK_AFTER),
            carry: [0.0; 3],
            shares: [0; 3],
            heat_only_s: 0.0,
        }
    }

    /// One tick of `dt_s` at `now` (a monotonic clock: the daemon's work
    /// pipeline runs on tokio time): health from `up`, the failover's
    /// choice, and the shares the boards' `hashrate_ths` found on it.
    /// Returns the active source (`None`: heat-only work).
    pub fn step(
        &mut self,
        now: Timestamp,
        up: NetworkUp,
        hashrate_ths: f64,
        dt_s: f64,
    ) -> Option<usize> {
        let health = |ok: bool| {
            if ok {
                SourceHealth::Up
            } else {
                SourceHealth::Down
            }
        };
        self.failover
            .set_health(0, health(up.node && up.peers), now);
        self.failover.set_health(1, health(up.pool), now);
        let active = self.failover.decide(now);
        let origin = active.unwrap_or(HEAT_ONLY).min(HEAT_ONLY);
        if active.is_none() {
            self.heat_only_s += dt_s;
        }
        self.carry[origin] += hashrate_ths.max(0.0) * dt_s * SHARES_PER_TH;
        let whole = self.carry[origin].floor();
        self.carry[origin] -= whole;
        self.shares[origin] += whole as u64;
        active
    }

    /// Whether the source at `index` is up now (by the failover's record).
    pub fn source_up(&self, index: usize) -> bool {
        self.failover.health(index) == Some(SourceHealth::Up)
    }
}

impl Default for WorkSide {
    fn default() -> WorkSide {
        WorkSide::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(f64);
    impl Thermometer for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn read_temp(&mut self, _now: Timestamp) -> Result<Celsius, DeviceError> {
            Ok(Celsius(self.0))
        }
    }

    #[test]
    fn a_broker_outage_makes_the_input_stale_and_the_next_publish_fixes_it() {
        let mut ha = HomeAssistantFeed::new(Box::new(Fixed(20.0)));
        let t = |s: u64| Timestamp::from_secs(s);
        assert!(ha.stale(t(0)));
        assert!(ha.step(0.0, t(0), t(0), true).is_some());
        assert!(ha.step(30.0, t(30), t(30), true).is_none(), "not due");
        assert!(!ha.stale(t(300)));
        for s in (60..=600).step_by(60) {
            assert!(ha.step(s as f64, t(s), t(s), false).is_none());
        }
        assert_eq!(ha.lost, 10);
        assert!(ha.stale(t(301)));
        assert!(ha.step(660.0, t(660), t(660), true).is_some());
        assert!(!ha.stale(t(661)));
    }

    #[test]
    fn work_falls_to_heat_only_and_back_to_the_preferred_source() {
        let mut w = WorkSide::new();
        let t = |s: u64| Timestamp::from_secs(s);
        let down = NetworkUp {
            node: false,
            pool: false,
            ..NetworkUp::ALL
        };
        assert_eq!(w.step(t(0), NetworkUp::ALL, 60.0, 10.0), Some(0));
        assert_eq!(w.step(t(100), down, 60.0, 1000.0), None);
        assert!(w.shares[HEAT_ONLY] > 0, "heat-only work still finds shares");
        let before = w.shares;
        // The pool back first: taken at once from heat-only.
        let pool_only = NetworkUp {
            node: false,
            ..NetworkUp::ALL
        };
        assert_eq!(w.step(t(200), pool_only, 60.0, 10.0), Some(1));
        assert_eq!(w.shares[HEAT_ONLY], before[HEAT_ONLY]);
        // The sharechain back: preferred again after the switch-back wait.
        assert_eq!(w.step(t(210), NetworkUp::ALL, 60.0, 10.0), Some(1));
        assert_eq!(w.step(t(270), NetworkUp::ALL, 60.0, 10.0), Some(0));
        assert!(w.heat_only_s >= 1000.0);
    }
}
