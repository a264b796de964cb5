//! The simulated core regulator of a board, through the driver its profile
//! names: a board with `regulator = "bitmain-pic"` gets the real
//! `hearth_periph::bitmain_pic` driver talking to `hearth_simchip`'s
//! simulated PIC on an in-memory I2C bus, which in turn sets the simulated
//! board's voltage. So `--sim` runs the PIC driver's bytes, range checks
//! and heartbeats, not a shortcut. Other boards get the world's regulator
//! directly, as before.

use hearth_board::config::ConfiguredBoard;
use hearth_board::I2cPart;
use hearth_core::{Clock, Regulator, Timestamp};
use hearth_periph::bitmain_pic::{BitmainPic, VoutRange};
use hearth_sim::devices::SimBoardPeripherals;
use hearth_simchip::pic::SimPic;
use std::sync::Arc;

/// A clock that always reads one instant (for runtimes built without one).
#[derive(Debug, Clone, Copy)]
pub struct FrozenClock(pub Timestamp);

impl Clock for FrozenClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The simulated PIC answers at once: no wait for it.
#[derive(Debug, Clone, Copy)]
struct NoWait;

impl embedded_hal::delay::DelayNs for NoWait {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// The regulator the board runtime drives for a simulated board.
pub fn simulated_regulator(
    periph: &SimBoardPeripherals,
    board: &ConfiguredBoard,
    clock: Arc<dyn Clock>,
) -> Box<dyn Regulator> {
    let world = Box::new(periph.regulator());
    let Some(dev) = board.profile.peripherals().regulator else {
        return world;
    };
    let I2cPart::BitmainPic { series_domains } = dev.part else {
        return world;
    };
    let limits = board.profile.limits();
    let pic = VoutRange::new(limits.min_voltage_mv, limits.max_voltage_mv)
        .ok()
        .and_then(|range| {
            let now = clock.now();
            let sim = SimPic::new(dev.address, series_domains, world, clock);
            let mut driver =
                BitmainPic::new(sim, NoWait, dev.address, series_domains, range).ok()?;
            driver.start(now).ok()?;
            Some(driver)
        });
    match pic {
        Some(driver) => Box::new(driver),
        // Validation already proved the range fits the PIC; should it not,
        // the board still gets a regulator rather than none.
        None => Box::new(periph.regulator()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_board::config::{validate_hashboard, HashboardConfig};
    use hearth_core::{Celsius, Millivolts, Watts};
    use hearth_sim::room::RoomParams;
    use hearth_sim::weather::WeatherParams;
    use hearth_sim::World;

    #[test]
    fn a_pic_board_is_driven_through_the_pic_driver() {
        let cfg = HashboardConfig {
            id: "big".into(),
            zone: "z".into(),
            profile: "generic-bm1370-65".into(),
            regulator: Some("bitmain-pic".into()),
            voltage_domains: Some(8),
            ..HashboardConfig::default()
        };
        let board = validate_hashboard(0, &cfg).unwrap();
        let mut world = World::new(Timestamp(0), 1, WeatherParams::default());
        let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
        let idx = world.add_board(room, crate::backends::sim_params_for(&board));
        let periph = SimBoardPeripherals::attach(world.into_shared(), idx).unwrap();
        let mut reg = simulated_regulator(&periph, &board, Arc::new(FrozenClock(Timestamp(0))));
        // The PIC driver's range check: above the 8-domain ceiling is refused.
        assert!(reg.set_vout(Millivolts(1200.0), Timestamp(0)).is_err());
        reg.set_vout(Millivolts(1100.0), Timestamp(0)).unwrap();
        let read = reg.read(Timestamp(0)).unwrap().vout_mv.unwrap().get();
        assert!((read - 1100.0).abs() < 1.0, "{read}");
    }
}
