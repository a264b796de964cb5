//! A simulated Bitmain PIC voltage controller behind an embedded-hal 1.0
//! I2C bus, so `--sim` runs the real `hearth_periph::bitmain_pic` driver
//! byte for byte. It answers the command bytes that driver sends (see that
//! module for the protocol and its sources), converts the rail code back to
//! a per-chip voltage with the board's series-domain count, and forwards
//! voltage and enable to the simulated board's own [`Regulator`].
//!
//! Like the PIC it models it switches the rail off when heartbeats stop
//! ([`SimPic::watchdog_ms`], checked on each bus transaction: the real
//! PIC's timeout is not published). Behaviour the sources do not describe
//! is a choice of this model: commands before JUMP_FROM_LOADER_TO_APP are
//! ignored (except reset and version), a read with nothing to answer
//! returns 0xFF, a frame that breaks off is dropped at the next 0x55.

use embedded_hal::i2c::{
    ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};
use hearth_core::peripherals::Regulator;
use hearth_core::{Clock, Millivolts, Timestamp};
use std::sync::Arc;

/// Command bytes (the same as the driver's).
const RESET_PIC: u8 = 0x07;
const JUMP_FROM_LOADER_TO_APP: u8 = 0x06;
const SET_VOLTAGE: u8 = 0x10;
const ENABLE_VOLTAGE: u8 = 0x15;
const SEND_HEART_BEAT: u8 = 0x16;
const GET_PIC_SOFTWARE_VERSION: u8 = 0x17;
const GET_VOLTAGE: u8 = 0x18;
/// The firmware version this model reports.
pub const SIM_PIC_VERSION: u8 = 0x03;
/// Default heartbeat watchdog (a model figure, not a vendor one).
pub const DEFAULT_WATCHDOG_MS: u64 = 15_000;

/// bmminer's code map, as in the driver.
fn rail_mv_for_code(code: u8) -> f64 {
    (1608.420446 - f64::from(code)) / 170.423497 * 1000.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    /// Waiting for 0x55.
    Idle,
    /// Got 0x55, waiting for 0xAA.
    Prefix,
    /// Got 55 AA, waiting for the command.
    Command,
    /// Waiting for the data byte of this command.
    Data(u8),
}

/// What the model counts, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimPicStats {
    /// Complete command frames handled.
    pub commands: u64,
    /// SEND_HEART_BEAT frames.
    pub heartbeats: u64,
    /// Bytes that were not part of a well-formed frame.
    pub garbage_bytes: u64,
    /// Times the watchdog switched the rail off.
    pub watchdog_trips: u64,
    /// Errors the board's regulator returned.
    pub regulator_errors: u64,
}

/// One simulated controller at one address.
pub struct SimPic {
    address: u8,
    domains: u8,
    regulator: Box<dyn Regulator>,
    clock: Arc<dyn Clock>,
    /// Heartbeats must come at least this often while the rail is on.
    pub watchdog_ms: u64,
    app_running: bool,
    code: Option<u8>,
    enabled: bool,
    last_heartbeat: Option<Timestamp>,
    parse: Parse,
    reply: Option<u8>,
    stats: SimPicStats,
}

impl std::fmt::Debug for SimPic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPic")
            .field("address", &self.address)
            .field("domains", &self.domains)
            .field("code", &self.code)
            .field("enabled", &self.enabled)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl SimPic {
    /// A controller at `address` for a board with `domains` series domains
    /// whose chips are powered by `regulator`. Starts in its loader, rail off.
    pub fn new(
        address: u8,
        domains: u8,
        regulator: Box<dyn Regulator>,
        clock: Arc<dyn Clock>,
    ) -> SimPic {
        SimPic {
            address,
            domains: domains.max(1),
            regulator,
            clock,
            watchdog_ms: DEFAULT_WATCHDOG_MS,
            app_running: false,
            code: None,
            enabled: false,
            last_heartbeat: None,
            parse: Parse::Idle,
            reply: None,
            stats: SimPicStats::default(),
        }
    }

    /// What the model has counted so far.
    pub fn stats(&self) -> SimPicStats {
        self.stats
    }

    /// The rail code held, and whether the rail is on.
    pub fn state(&self) -> (Option<u8>, bool) {
        (self.code, self.enabled)
    }

    fn rail_off(&mut self, now: Timestamp) {
        self.enabled = false;
        if self.regulator.set_enabled(false, now).is_err() {
            self.stats.regulator_errors += 1;
        }
    }

    fn check_watchdog(&mut self, now: Timestamp) {
        if !self.enabled {
            return;
        }
        let starved = self
            .last_heartbeat
            .is_none_or(|at| now.0.saturating_sub(at.0) > self.watchdog_ms);
        if starved {
            self.stats.watchdog_trips += 1;
            self.rail_off(now);
        }
    }

    fn byte(&mut self, b: u8, now: Timestamp) {
        self.parse = match (self.parse, b) {
            (Parse::Idle, 0x55) => Parse::Prefix,
            (Parse::Prefix, 0xAA) => Parse::Command,
            (Parse::Command, SET_VOLTAGE) => Parse::Data(SET_VOLTAGE),
            (Parse::Command, ENABLE_VOLTAGE) => Parse::Data(ENABLE_VOLTAGE),
            (Parse::Command, command) => {
                self.command(command, None, now);
                Parse::Idle
            }
            (Parse::Data(command), data) => {
                self.command(command, Some(data), now);
                Parse::Idle
            }
            (_, 0x55) => {
                self.stats.garbage_bytes += 1;
                Parse::Prefix
            }
            (_, _) => {
                self.stats.garbage_bytes += 1;
                Parse::Idle
            }
        };
    }

    fn command(&mut self, command: u8, data: Option<u8>, now: Timestamp) {
        self.stats.commands += 1;
        match command {
            RESET_PIC => {
                self.rail_off(now);
                self.app_running = false;
                self.code = None;
                self.reply = None;
            }
            JUMP_FROM_LOADER_TO_APP => self.app_running = true,
            GET_PIC_SOFTWARE_VERSION => self.reply = Some(SIM_PIC_VERSION),
            _ if !self.app_running => {}
            SEND_HEART_BEAT => {
                self.stats.heartbeats += 1;
                self.last_heartbeat = Some(now);
            }
            GET_VOLTAGE => self.reply = Some(self.code.unwrap_or(0)),
            SET_VOLTAGE => {
                let Some(code) = data else { return };
                let chip_mv = rail_mv_for_code(code) / f64::from(self.domains);
                match self.regulator.set_vout(Millivolts(chip_mv), now) {
                    Ok(()) => self.code = Some(code),
                    Err(_) => self.stats.regulator_errors += 1,
                }
            }
            ENABLE_VOLTAGE => {
                let on = data == Some(1);
                if on {
                    if self.code.is_none() {
                        return;
                    }
                    match self.regulator.set_enabled(true, now) {
                        Ok(()) => self.enabled = true,
                        Err(_) => self.stats.regulator_errors += 1,
                    }
                } else {
                    self.rail_off(now);
                }
            }
            _ => self.stats.garbage_bytes += 1,
        }
    }
}

impl ErrorType for SimPic {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for SimPic {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != self.address {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        let now = self.clock.now();
        self.check_watchdog(now);
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    for &b in bytes.iter() {
                        self.byte(b, now);
                    }
                }
                Operation::Read(buf) => {
                    // Only the first byte of a read is meaningful (as on the S9).
                    let first = self.reply.take().unwrap_or(0xFF);
                    for (i, slot) in buf.iter_mut().enumerate() {
                        *slot = if i == 0 { first } else { 0xFF };
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_core::peripherals::{DeviceError, RegulatorReading};
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Log {
        vout: Option<f64>,
        on: bool,
    }

    struct Probe(Arc<Mutex<Log>>);

    impl Regulator for Probe {
        fn set_vout(&mut self, vout: Millivolts, _now: Timestamp) -> Result<(), DeviceError> {
            self.0.lock().unwrap().vout = Some(vout.get());
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

    fn pic() -> (SimPic, Arc<Mutex<Log>>, Arc<Mutex<u64>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let t = Arc::new(Mutex::new(0));
        let pic = SimPic::new(
            0x50,
            21,
            Box::new(Probe(log.clone())),
            Arc::new(At(t.clone())),
        );
        (pic, log, t)
    }

    fn send(p: &mut SimPic, bytes: &[u8]) {
        for b in bytes {
            p.write(0x50, &[*b]).unwrap();
        }
    }

    #[test]
    fn loader_ignores_voltage_until_the_app_runs() {
        let (mut p, log, _) = pic();
        send(&mut p, &[0x55, 0xAA, SET_VOLTAGE, 105]);
        assert_eq!(log.lock().unwrap().vout, None);
        send(&mut p, &[0x55, 0xAA, JUMP_FROM_LOADER_TO_APP]);
        send(&mut p, &[0x55, 0xAA, SET_VOLTAGE, 105]);
        let chip_mv = log.lock().unwrap().vout.unwrap();
        assert!((chip_mv - 420.0).abs() < 0.3, "{chip_mv}");
        send(&mut p, &[0x55, 0xAA, GET_VOLTAGE]);
        let mut b = [0u8; 1];
        p.read(0x50, &mut b).unwrap();
        assert_eq!(b[0], 105);
    }

    #[test]
    fn other_addresses_nack_and_garbage_is_counted() {
        let (mut p, _, _) = pic();
        assert_eq!(
            p.write(0x51, &[0x55]),
            Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
        );
        send(
            &mut p,
            &[0x12, 0x55, 0x13, 0x55, 0xAA, GET_PIC_SOFTWARE_VERSION],
        );
        assert_eq!(p.stats().garbage_bytes, 2);
        let mut b = [0u8; 2];
        p.read(0x50, &mut b).unwrap();
        assert_eq!(b, [SIM_PIC_VERSION, 0xFF]);
    }

    #[test]
    fn no_enable_without_a_voltage_and_the_watchdog_cuts_the_rail() {
        let (mut p, log, t) = pic();
        send(&mut p, &[0x55, 0xAA, JUMP_FROM_LOADER_TO_APP]);
        send(&mut p, &[0x55, 0xAA, ENABLE_VOLTAGE, 1]);
        assert!(!log.lock().unwrap().on);
        send(&mut p, &[0x55, 0xAA, SEND_HEART_BEAT]);
        send(
            &mut p,
            &[0x55, 0xAA, SET_VOLTAGE, 105, 0x55, 0xAA, ENABLE_VOLTAGE, 1],
        );
        assert!(log.lock().unwrap().on);
        *t.lock().unwrap() = DEFAULT_WATCHDOG_MS;
        send(&mut p, &[0x55, 0xAA, SEND_HEART_BEAT]);
        assert!(log.lock().unwrap().on, "a beat in time keeps it on");
        *t.lock().unwrap() = 2 * DEFAULT_WATCHDOG_MS + 1;
        send(&mut p, &[0x55, 0xAA, GET_VOLTAGE]);
        assert!(!log.lock().unwrap().on, "starved: rail off");
        assert_eq!(p.stats().watchdog_trips, 1);
        assert_eq!(p.state(), (Some(105), false));
    }
}
