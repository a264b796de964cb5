//! The one place where real or simulated hardware is chosen. Everything after
//! this sees only the seam traits.

use crate::config::Validated;
use anyhow::{bail, Result};
use hearth_control::{ZoneConfig, ZoneHardware, ZoneSettings};
use hearth_core::{Clock, Timestamp};
use hearth_sim::clock::ScaledClock;
use hearth_sim::scenario::{build_world, ZoneSpec};
use hearth_sim::SharedWorld;
use std::sync::Arc;

/// Devices for every zone, the clock to run them on, and (in simulation) the
/// world behind them.
pub struct Hardware {
    pub zones: Vec<(ZoneConfig, ZoneHardware)>,
    pub clock: Arc<dyn Clock>,
    pub world: Option<SharedWorld>,
}

impl std::fmt::Debug for Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hardware")
            .field("zones", &self.zones)
            .field("simulated", &self.world.is_some())
            .finish()
    }
}

/// The wall clock, for real hardware.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

pub fn build(config: &Validated, simulate: bool, speed_override: Option<f64>) -> Result<Hardware> {
    if simulate {
        return Ok(simulated(config, speed_override));
    }
    // Real backends arrive with the hashboard-drivers work; until then say so
    // plainly instead of starting a heater that controls nothing.
    let boards: Vec<String> = config
        .zones
        .iter()
        .flat_map(|z| z.boards.iter().map(|(_, p)| p.clone()))
        .collect();
    bail!(
        "this build has no real hardware backend yet for {}; start with --sim to run against the simulator",
        if boards.is_empty() { "zone thermometers".to_string() } else { format!("board profile(s) {}", boards.join(", ")) }
    )
}

/// Simulated devices for every configured zone and board, on a clock that
/// starts at the wall time (so the simulated day matches the real one) and
/// runs `speed` times faster.
fn simulated(config: &Validated, speed_override: Option<f64>) -> Hardware {
    let start = SystemClock.now();
    let specs: Vec<ZoneSpec> = config
        .zones
        .iter()
        .map(|z| ZoneSpec {
            id: z.id.clone(),
            name: z.name.clone(),
            kind: z.kind,
            setpoint_c: z.setpoint_c.get(),
            mode: z.mode,
            initial_c: z.sim.initial_c,
            internal_gain_w: z.sim.internal_gain_w,
            room: z.sim.room,
            boards: u32::try_from(z.boards.len()).unwrap_or(u32::MAX),
            // Every known profile is a 65-chip BM1370 board today.
            board_profile: None,
            board_ids: z.boards.iter().map(|(id, _)| id.clone()).collect(),
        })
        .collect();
    let built = build_world(config.raw.sim.seed, start, config.raw.sim.weather, &specs);
    let zones = built
        .zones
        .into_iter()
        .zip(&config.zones)
        .map(|((mut zc, hw), vz)| {
            zc.limits = vz.limits;
            zc.settings = ZoneSettings {
                setpoint_c: vz.setpoint_c,
                mode: vz.mode,
            };
            (zc, hw)
        })
        .collect();
    let speed = speed_override.unwrap_or(config.raw.sim.speed);
    Hardware {
        zones,
        clock: Arc::new(ScaledClock::new(start, speed)),
        world: Some(built.world),
    }
}
