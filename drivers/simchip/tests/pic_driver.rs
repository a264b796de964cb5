//! The real PIC driver (`hearth_periph::bitmain_pic`) against the simulated
//! PIC: the bytes `--sim` exchanges are the ones a hashboard would see.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use embedded_hal::delay::DelayNs;
use hearth_core::peripherals::{DeviceError, Regulator, RegulatorReading};
use hearth_core::{Clock, Millivolts, Timestamp};
use hearth_periph::bitmain_pic::{BitmainPic, VoutRange, EXPECTED_VERSION};
use hearth_simchip::pic::SimPic;
use std::sync::{Arc, Mutex};

struct NoDelay;
impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

#[derive(Default)]
struct Rail {
    chip_mv: Option<f64>,
    on: bool,
}

struct BoardRail(Arc<Mutex<Rail>>);
impl Regulator for BoardRail {
    fn set_vout(&mut self, vout: Millivolts, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.lock().unwrap().chip_mv = Some(vout.get());
        Ok(())
    }
    fn set_enabled(&mut self, on: bool, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.lock().unwrap().on = on;
        Ok(())
    }
    fn read(&mut self, _now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        Ok(RegulatorReading::default())
    }
}

struct At(Arc<Mutex<u64>>);
impl Clock for At {
    fn now(&self) -> Timestamp {
        Timestamp(*self.0.lock().unwrap())
    }
}

#[test]
fn driver_and_simulated_pic_agree_on_every_step() {
    let rail = Arc::new(Mutex::new(Rail::default()));
    let t = Arc::new(Mutex::new(0u64));
    let sim = SimPic::new(
        0x51,
        8,
        Box::new(BoardRail(rail.clone())),
        Arc::new(At(t.clone())),
    );
    let range = VoutRange::new(Millivolts(1000.0), Millivolts(1150.0)).unwrap();
    let mut pic = BitmainPic::new(sim, NoDelay, 0x51, 8, range).unwrap();
    assert_eq!(pic.start(Timestamp(0)).unwrap(), EXPECTED_VERSION);
    assert!(!rail.lock().unwrap().on);

    pic.set_vout(Millivolts(1100.0), Timestamp(0)).unwrap();
    pic.set_enabled(true, Timestamp(0)).unwrap();
    {
        let r = rail.lock().unwrap();
        assert!(r.on);
        // One rail code is ~5.9 mV, so ~0.7 mV per chip on 8 domains.
        let mv = r.chip_mv.unwrap();
        assert!((mv - 1100.0).abs() < 0.8, "{mv}");
    }
    let read = pic.read(Timestamp(0)).unwrap().vout_mv.unwrap().get();
    assert!((read - 1100.0).abs() < 0.8, "{read}");

    // Regular reads keep the watchdog fed for far longer than its timeout.
    for s in 1..=60u64 {
        *t.lock().unwrap() = s * 1_000;
        pic.read(Timestamp(s * 1_000)).unwrap();
    }
    assert!(rail.lock().unwrap().on);
    assert_eq!(
        rail.lock().unwrap().chip_mv.map(|mv| mv > 1099.0),
        Some(true)
    );

    // Off is off.
    let late = 61_000;
    pic.set_enabled(false, Timestamp(late)).unwrap();
    assert!(!rail.lock().unwrap().on);

    // Out of range: refused, the rail untouched.
    assert!(pic.set_vout(Millivolts(1200.0), Timestamp(late)).is_err());
    assert!(!rail.lock().unwrap().on);
}

#[test]
fn a_starved_pic_reads_as_a_fault() {
    let rail = Arc::new(Mutex::new(Rail::default()));
    let t = Arc::new(Mutex::new(0u64));
    let mut sim = SimPic::new(
        0x50,
        8,
        Box::new(BoardRail(rail.clone())),
        Arc::new(At(t.clone())),
    );
    sim.watchdog_ms = 2_000;
    let range = VoutRange::new(Millivolts(1000.0), Millivolts(1150.0)).unwrap();
    let mut pic = BitmainPic::new(sim, NoDelay, 0x50, 8, range).unwrap();
    pic.start(Timestamp(0)).unwrap();
    pic.set_vout(Millivolts(1050.0), Timestamp(0)).unwrap();
    pic.set_enabled(true, Timestamp(0)).unwrap();
    // The simulated PIC's clock runs on while the driver is silent.
    *t.lock().unwrap() = 5_000;
    // The driver's heartbeat is due, but the PIC checks its watchdog first;
    // the rail code still reads back, so the read itself succeeds.
    pic.read(Timestamp(5_000)).unwrap();
    assert!(!rail.lock().unwrap().on, "the PIC cut the rail");
}
