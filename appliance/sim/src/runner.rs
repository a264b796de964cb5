//! Faster-than-real-time runs: a virtual clock, the same control tick as the
//! daemon, and a summary of what happened. The thermostat issue adds the full
//! KPI set and alternative controllers.

use crate::scenario::{build_world, Scenario};
use crate::world::lock;
use hearth_control::{Appliance, PiGains, ZoneMode};
use hearth_core::{BoardEvent, Timestamp};
use serde::Serialize;
use std::time::Duration;

/// Per-zone results of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub id: String,
    pub final_temperature_c: f64,
    pub min_temperature_c: f64,
    pub max_temperature_c: f64,
    /// Kelvin-hours below setpoint − 0.5 K while heating was wanted.
    pub discomfort_kh: f64,
    /// Largest excess over the setpoint.
    pub max_overshoot_k: f64,
    /// RMS of (temperature − setpoint) after the first hour (warm-up).
    pub rms_error_k: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    pub simulated_hours: f64,
    pub ticks: u64,
    pub energy_kwh: f64,
    pub heat_kwh: f64,
    pub hashes: f64,
    pub hashes_per_joule: f64,
    pub safety_events: u64,
    pub zones: Vec<ZoneSummary>,
}

#[derive(Debug, Default)]
struct ZoneAcc {
    min: f64,
    max: f64,
    last: f64,
    discomfort_kh: f64,
    overshoot: f64,
    sq_err: f64,
    n_err: u64,
}

/// Runs `scenario` with the default controller. Deterministic: the same
/// scenario (seed included) gives the same summary, bit for bit.
pub fn run(scenario: &Scenario) -> RunSummary {
    let start = Timestamp::from_secs(scenario.start_unix_s);
    let built = build_world(scenario.seed, start, scenario.weather, &scenario.zones);
    let mut appliance = Appliance::new(built.zones, PiGains::default());
    let tick = Duration::from_secs_f64(scenario.tick_s);
    let end = start.plus(Duration::from_secs_f64(scenario.duration_hours * 3600.0));
    let warmup_end = start.plus(Duration::from_secs(3600));
    let dt_h = scenario.tick_s / 3600.0;

    let mut accs: Vec<ZoneAcc> = scenario
        .zones
        .iter()
        .map(|_| ZoneAcc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..ZoneAcc::default()
        })
        .collect();
    let (mut energy_wh, mut hashes, mut safety_events, mut ticks) = (0.0, 0.0, 0u64, 0u64);
    let mut now = start;
    while now < end {
        let report = appliance.tick(now);
        ticks += 1;
        for (zone, acc) in report.zones.iter().zip(accs.iter_mut()) {
            let Some(t) = zone.temperature_c.map(|t| t.get()) else {
                continue;
            };
            let sp = zone.setpoint_c.get();
            acc.min = acc.min.min(t);
            acc.max = acc.max.max(t);
            acc.last = t;
            if zone.mode == ZoneMode::Heat {
                acc.discomfort_kh += (sp - 0.5 - t).max(0.0) * dt_h;
                acc.overshoot = acc.overshoot.max(t - sp);
                if now >= warmup_end {
                    acc.sq_err += (t - sp).powi(2);
                    acc.n_err += 1;
                }
            }
        }
        for b in &report.boards {
            energy_wh += b.telemetry.power_w.get() * dt_h;
            hashes += b.telemetry.hashrate_ghs.get() * 1e9 * scenario.tick_s;
        }
        safety_events += report
            .events
            .iter()
            .filter(|(_, e)| matches!(e, BoardEvent::Tripped { .. }))
            .count() as u64;
        now = now.plus(tick);
    }
    let heat_wh = lock(&built.world).heat_delivered_wh();
    RunSummary {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        simulated_hours: scenario.duration_hours,
        ticks,
        energy_kwh: energy_wh / 1000.0,
        heat_kwh: heat_wh / 1000.0,
        hashes,
        hashes_per_joule: if energy_wh > 0.0 {
            hashes / (energy_wh * 3600.0)
        } else {
            0.0
        },
        safety_events,
        zones: scenario
            .zones
            .iter()
            .zip(accs)
            .map(|(z, a)| ZoneSummary {
                id: z.id.to_string(),
                final_temperature_c: a.last,
                min_temperature_c: a.min,
                max_temperature_c: a.max,
                discomfort_kh: a.discomfort_kh,
                max_overshoot_k: a.overshoot.max(0.0),
                rms_error_k: if a.n_err > 0 {
                    (a.sq_err / a.n_err as f64).sqrt()
                } else {
                    0.0
                },
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ZoneSpec;
    use crate::weather::WeatherParams;

    fn day(seed: u64) -> Scenario {
        Scenario {
            name: "test day".into(),
            seed,
            duration_hours: 24.0,
            tick_s: 10.0,
            start_unix_s: 0,
            weather: WeatherParams::default(),
            zones: vec![ZoneSpec::default_room()],
        }
    }

    #[test]
    fn same_seed_same_result_twice() {
        let a = run(&day(42));
        let b = run(&day(42));
        assert_eq!(a, b);
        let c = run(&day(43));
        assert_ne!(
            a.zones[0].final_temperature_c.to_bits(),
            c.zones[0].final_temperature_c.to_bits()
        );
    }

    #[test]
    fn the_default_room_reaches_and_holds_its_setpoint() {
        let s = run(&day(1));
        let z = &s.zones[0];
        assert!((z.final_temperature_c - 21.0).abs() < 0.5, "{z:?}");
        assert!(z.max_overshoot_k < 1.0, "{z:?}");
        assert!(s.energy_kwh > 5.0 && s.energy_kwh < 40.0, "{s:?}");
        // All electrical energy became heat (within one tick of rounding).
        assert!(
            (s.heat_kwh - s.energy_kwh).abs() / s.energy_kwh < 0.02,
            "{s:?}"
        );
        assert_eq!(s.safety_events, 0);
    }

    #[test]
    fn mode_off_gives_no_heat() {
        let mut sc = day(1);
        sc.zones[0].mode = ZoneMode::Off;
        let s = run(&sc);
        assert_eq!(s.energy_kwh, 0.0);
        assert!(s.zones[0].final_temperature_c < 17.0);
    }
}
