//! The PIC voltage controller on Bitmain hashboards of the S9 generation
//! (a PIC16F1704 on the board's signal connector), over I2C.
//!
//! The PIC sets the board's supply rail, which feeds the chips' series
//! voltage domains: a board with `d` domains gives each chip about
//! `rail / d`. Hearth's profiles speak per-chip voltage, so this driver
//! takes and reports **per-chip** millivolts and converts with the
//! configured domain count. Facts (public; none verified on hardware by
//! this project, see docs/hardware.md):
//!
//! - 7-bit address `0x50 + slot - 1` for hashboard slots 1..=8.
//! - Every command is `55 AA <command> <data...>`, written **one byte per
//!   I2C write transaction**; a read command is the same frame followed by
//!   single-byte I2C reads (multi-byte reads return one valid byte and
//!   garbage on the S9's bus).
//! - Commands used here: RESET_PIC `0x07` (the PIC NAKs for about 500 ms
//!   while it boots), JUMP_FROM_LOADER_TO_APP `0x06` (100 ms), SET_VOLTAGE
//!   `0x10 <code>` (100 ms), ENABLE_VOLTAGE `0x15 <0|1>`, SEND_HEART_BEAT
//!   `0x16`, GET_PIC_SOFTWARE_VERSION `0x17` (1 byte; 0x03 expected),
//!   GET_VOLTAGE `0x18` (1 byte).
//! - The rail code is `round(1608.420446 - 170.423497 x V)` (bmminer's
//!   conversion), so code 0 = 9.438 V and code 255 = 7.941 V; a higher
//!   code is a **lower** voltage.
//! - Without a heartbeat the PIC switches the rail off (its timeout is
//!   not published; Braiins sends one every second, bmminer every 10 s).
//!   [`BitmainPic`] sends one on any call once [`HEARTBEAT_EVERY_MS`] has
//!   passed, so the board runtime's regular reads keep it alive and a hung
//!   daemon lets the board go dark.
//!
//! Safety: a voltage outside the configured per-chip range is refused
//! before anything is written; the rail is never enabled before a voltage
//! was set; and when a write fails, the driver tries to switch the rail
//! off before it returns the error.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use hearth_core::peripherals::{DeviceError, Regulator, RegulatorReading};
use hearth_core::{Millivolts, Timestamp};

pub use crate::tps546::VoutRange;

/// Address of the controller on hashboard slot 1.
pub const BASE_ADDRESS: u8 = 0x50;
/// Hashboard slots the addressing scheme covers.
pub const MAX_SLOT: u8 = 8;
/// The firmware version Braiins OS expects from the PIC application.
pub const EXPECTED_VERSION: u8 = 0x03;
/// A heartbeat at least this often (Braiins OS's period).
pub const HEARTBEAT_EVERY_MS: u64 = 1_000;

/// Frame prefix of every command.
const PREFIX: [u8; 2] = [0x55, 0xAA];
/// Command bytes.
pub mod command {
    pub const JUMP_FROM_LOADER_TO_APP: u8 = 0x06;
    pub const RESET_PIC: u8 = 0x07;
    pub const SET_VOLTAGE: u8 = 0x10;
    pub const ENABLE_VOLTAGE: u8 = 0x15;
    pub const SEND_HEART_BEAT: u8 = 0x16;
    pub const GET_PIC_SOFTWARE_VERSION: u8 = 0x17;
    pub const GET_VOLTAGE: u8 = 0x18;
}

/// Wait after RESET_PIC before the PIC answers again.
const RESET_WAIT_MS: u32 = 500;
/// Wait after JUMP_FROM_LOADER_TO_APP and SET_VOLTAGE (bmminer's figure).
const COMMAND_WAIT_MS: u32 = 100;

/// bmminer's linear map between rail volts and the PIC's code.
const CODE_AT_ZERO_V: f64 = 1608.420446;
const CODES_PER_V: f64 = 170.423497;

/// The rail voltage a code gives, in millivolts.
#[must_use]
pub fn rail_mv_for_code(code: u8) -> f64 {
    (CODE_AT_ZERO_V - f64::from(code)) / CODES_PER_V * 1000.0
}

/// The code nearest a rail voltage; `None` outside the codes' range
/// (7,941..=9,438 mV) or for a non-finite request.
#[must_use]
pub fn code_for_rail_mv(rail_mv: f64) -> Option<u8> {
    if !rail_mv.is_finite() {
        return None;
    }
    let code = (CODE_AT_ZERO_V - CODES_PER_V * rail_mv / 1000.0).round();
    if (0.0..=255.0).contains(&code) {
        // In 0..=255 after the check: the cast is exact.
        Some(code as u8)
    } else {
        None
    }
}

/// The lowest and highest rail voltage a code can give, in millivolts.
#[must_use]
pub fn rail_range_mv() -> (f64, f64) {
    (rail_mv_for_code(u8::MAX), rail_mv_for_code(0))
}

/// The 7-bit address of the controller on a hashboard slot (1..=8).
#[must_use]
pub fn address_for_slot(slot: u8) -> Option<u8> {
    (1..=MAX_SLOT)
        .contains(&slot)
        .then(|| BASE_ADDRESS + slot - 1)
}

/// PIC driver errors.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    #[error("I2C error: {0:?}")]
    I2c(E),
    /// A per-chip voltage outside the configured range; nothing written.
    #[error("core voltage {requested} outside the safe range {min}..={max}; not written")]
    VoutOutOfRange {
        requested: Millivolts,
        min: Millivolts,
        max: Millivolts,
    },
    /// The rail voltage the request needs has no PIC code.
    #[error("rail voltage {rail_mv:.0} mV (per chip {requested} x {domains} domains) is outside the PIC's {min_mv:.0}..={max_mv:.0} mV")]
    RailOutOfRange {
        requested: Millivolts,
        domains: u8,
        rail_mv: f64,
        min_mv: f64,
        max_mv: f64,
    },
    /// Enabling the rail before any voltage was set is refused.
    #[error("the rail is not enabled before a voltage has been set")]
    NoVoltageSet,
    /// GET_VOLTAGE does not read back what was set (a PIC that reset or
    /// cut the rail on its own, or a garbled byte).
    #[error("PIC reads back voltage code {read} but {set} was set")]
    ReadBackMismatch { set: u8, read: u8 },
}

impl<E: embedded_hal::i2c::Error> From<Error<E>> for DeviceError {
    fn from(e: Error<E>) -> DeviceError {
        match e {
            Error::I2c(bus) => crate::bus_error(&bus),
            other => DeviceError::Fault(other.to_string()),
        }
    }
}

/// Bad construction parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("series voltage domains must be at least 1")]
    NoDomains,
    #[error("per-chip range {min}..={max} x {domains} domains needs {lo_mv:.0}..={hi_mv:.0} mV on the rail; the PIC sets {min_mv:.0}..={max_mv:.0} mV")]
    RangeOutsidePic {
        min: Millivolts,
        max: Millivolts,
        domains: u8,
        lo_mv: f64,
        hi_mv: f64,
        min_mv: f64,
        max_mv: f64,
    },
}

/// The per-chip voltage range a PIC rail can give with `domains` series
/// domains, intersected with `wanted`; `None` when they do not overlap.
#[must_use]
pub fn usable_chip_range(domains: u8, wanted: VoutRange) -> Option<VoutRange> {
    if domains == 0 {
        return None;
    }
    let (lo, hi) = rail_range_mv();
    let d = f64::from(domains);
    // Inside the codes' range by a hair, so rounding never leaves it.
    let min = wanted.min().get().max((lo + 0.5) / d);
    let max = wanted.max().get().min((hi - 0.5) / d);
    VoutRange::new(Millivolts(min), Millivolts(max)).ok()
}

/// Whether `domains` series domains at per-chip voltages inside `range`
/// stay inside the rail voltages the PIC can set.
///
/// # Errors
/// [`ConfigError`] naming the rail voltages needed and available.
pub fn check_range(domains: u8, range: VoutRange) -> Result<(), ConfigError> {
    if domains == 0 {
        return Err(ConfigError::NoDomains);
    }
    let d = f64::from(domains);
    let (lo_mv, hi_mv) = (range.min().get() * d, range.max().get() * d);
    if code_for_rail_mv(lo_mv).is_none() || code_for_rail_mv(hi_mv).is_none() {
        let (min_mv, max_mv) = rail_range_mv();
        return Err(ConfigError::RangeOutsidePic {
            min: range.min(),
            max: range.max(),
            domains,
            lo_mv,
            hi_mv,
            min_mv,
            max_mv,
        });
    }
    Ok(())
}

/// The controller of one hashboard.
pub struct BitmainPic<I2C, D> {
    i2c: I2C,
    delay: D,
    address: u8,
    domains: u8,
    range: VoutRange,
    /// The code last written, if any since start.
    code: Option<u8>,
    last_heartbeat: Option<Timestamp>,
}

impl<I2C, D> core::fmt::Debug for BitmainPic<I2C, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BitmainPic")
            .field("address", &self.address)
            .field("domains", &self.domains)
            .field("range", &self.range)
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl<I2C, E, D> BitmainPic<I2C, D>
where
    I2C: I2c<Error = E>,
    D: DelayNs,
{
    /// A driver for the controller at `address` feeding `domains` series
    /// domains, commanding per-chip voltages inside `range` only. No bus
    /// traffic.
    ///
    /// # Errors
    /// [`ConfigError`] when `range` does not fit the PIC's rail range.
    pub fn new(
        i2c: I2C,
        delay: D,
        address: u8,
        domains: u8,
        range: VoutRange,
    ) -> Result<Self, ConfigError> {
        check_range(domains, range)?;
        Ok(BitmainPic {
            i2c,
            delay,
            address,
            domains,
            range,
            code: None,
            last_heartbeat: None,
        })
    }

    /// Give the bus and the delay back.
    pub fn destroy(self) -> (I2C, D) {
        (self.i2c, self.delay)
    }

    pub fn address(&self) -> u8 {
        self.address
    }

    /// Send one command frame, a byte per write transaction.
    fn send(&mut self, command: u8, data: &[u8]) -> Result<(), Error<E>> {
        for byte in PREFIX.iter().chain([command].iter()).chain(data.iter()) {
            self.i2c
                .write(self.address, core::slice::from_ref(byte))
                .map_err(Error::I2c)?;
        }
        Ok(())
    }

    /// A command whose answer is one byte.
    fn query(&mut self, command: u8) -> Result<u8, Error<E>> {
        self.send(command, &[])?;
        let mut byte = [0u8];
        self.i2c.read(self.address, &mut byte).map_err(Error::I2c)?;
        Ok(byte[0])
    }

    /// Reset the PIC, start its application, switch the rail off and
    /// return its firmware version. Blocks about 600 ms (the PIC's own
    /// start-up); call it once when the board is opened.
    pub fn start(&mut self, now: Timestamp) -> Result<u8, Error<E>> {
        self.send(command::RESET_PIC, &[])?;
        self.delay.delay_ms(RESET_WAIT_MS);
        self.send(command::JUMP_FROM_LOADER_TO_APP, &[])?;
        self.delay.delay_ms(COMMAND_WAIT_MS);
        let version = self.query(command::GET_PIC_SOFTWARE_VERSION)?;
        self.send(command::ENABLE_VOLTAGE, &[0])?;
        self.code = None;
        self.heartbeat(now)?;
        Ok(version)
    }

    /// Tell the PIC we are alive.
    pub fn heartbeat(&mut self, now: Timestamp) -> Result<(), Error<E>> {
        self.send(command::SEND_HEART_BEAT, &[])?;
        self.last_heartbeat = Some(now);
        Ok(())
    }

    /// A heartbeat if the last one is [`HEARTBEAT_EVERY_MS`] old.
    fn heartbeat_if_due(&mut self, now: Timestamp) -> Result<(), Error<E>> {
        let due = self
            .last_heartbeat
            .is_none_or(|at| now.0.saturating_sub(at.0) >= HEARTBEAT_EVERY_MS || now.0 < at.0);
        if due {
            self.heartbeat(now)?;
        }
        Ok(())
    }

    /// The rail code for a per-chip voltage, range-checked.
    pub fn code_for(&self, vout: Millivolts) -> Result<u8, Error<E>> {
        if !self.range.contains(vout) {
            return Err(Error::VoutOutOfRange {
                requested: vout,
                min: self.range.min(),
                max: self.range.max(),
            });
        }
        let rail_mv = vout.get() * f64::from(self.domains);
        code_for_rail_mv(rail_mv).ok_or_else(|| {
            let (min_mv, max_mv) = rail_range_mv();
            Error::RailOutOfRange {
                requested: vout,
                domains: self.domains,
                rail_mv,
                min_mv,
                max_mv,
            }
        })
    }

    /// The per-chip voltage a code gives on this board.
    pub fn chip_mv_for_code(&self, code: u8) -> Millivolts {
        Millivolts(rail_mv_for_code(code) / f64::from(self.domains))
    }

    /// Set the per-chip core voltage (blocks 100 ms for the PIC).
    pub fn set_chip_voltage(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), Error<E>> {
        let code = self.code_for(vout)?;
        self.heartbeat_if_due(now)?;
        self.send(command::SET_VOLTAGE, &[code])?;
        self.delay.delay_ms(COMMAND_WAIT_MS);
        self.code = Some(code);
        Ok(())
    }

    /// Switch the rail on or off; on only after a voltage was set.
    pub fn set_rail_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), Error<E>> {
        if on && self.code.is_none() {
            return Err(Error::NoVoltageSet);
        }
        self.heartbeat_if_due(now)?;
        self.send(command::ENABLE_VOLTAGE, &[u8::from(on)])
    }

    /// The code the PIC holds.
    pub fn read_code(&mut self) -> Result<u8, Error<E>> {
        self.query(command::GET_VOLTAGE)
    }

    /// Heartbeat when due, then the voltage the PIC holds, checked against
    /// what was set.
    pub fn read_checked(&mut self, now: Timestamp) -> Result<RegulatorReading, Error<E>> {
        self.heartbeat_if_due(now)?;
        let read = self.read_code()?;
        if let Some(set) = self.code {
            if set != read {
                return Err(Error::ReadBackMismatch { set, read });
            }
        }
        Ok(RegulatorReading {
            vout_mv: self.code.map(|c| self.chip_mv_for_code(c)),
            ..RegulatorReading::default()
        })
    }

    /// After a failed command: try to switch the rail off (best effort,
    /// the original error is what the caller sees).
    fn fail_safe(&mut self) {
        if self.send(command::ENABLE_VOLTAGE, &[0]).is_ok() {
            self.code = None;
        }
    }
}

impl<I2C, D> Regulator for BitmainPic<I2C, D>
where
    I2C: I2c + Send,
    D: DelayNs + Send,
{
    fn set_vout(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), DeviceError> {
        match self.set_chip_voltage(vout, now) {
            Ok(()) => Ok(()),
            // Refused before any write: the rail keeps its safe voltage.
            Err(e @ (Error::VoutOutOfRange { .. } | Error::RailOutOfRange { .. })) => Err(e.into()),
            Err(e) => {
                self.fail_safe();
                Err(e.into())
            }
        }
    }

    fn set_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), DeviceError> {
        match self.set_rail_enabled(on, now) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail_safe();
                Err(e.into())
            }
        }
    }

    fn read(&mut self, now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        self.read_checked(now).map_err(DeviceError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = 0x50;
    const DOMAINS: u8 = 21;

    fn range() -> VoutRange {
        // 21 domains: 8,400..=9,240 mV on the rail.
        VoutRange::new(Millivolts(400.0), Millivolts(440.0)).unwrap()
    }

    fn dev(expect: &[T]) -> BitmainPic<Mock, NoopDelay> {
        BitmainPic::new(Mock::new(expect), NoopDelay::new(), A, DOMAINS, range()).unwrap()
    }

    fn finish(d: BitmainPic<Mock, NoopDelay>) {
        d.destroy().0.done();
    }

    /// The byte-per-transaction writes of one command frame.
    fn frame(command: u8, data: &[u8]) -> Vec<T> {
        [0x55, 0xAA, command]
            .iter()
            .chain(data)
            .map(|b| T::write(A, vec![*b]))
            .collect()
    }

    fn nack() -> ErrorKind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
    }

    #[test]
    fn code_map_matches_bmminer_end_points() {
        assert!((rail_mv_for_code(0) - 9437.8).abs() < 0.1);
        assert!((rail_mv_for_code(255) - 7941.5).abs() < 0.1);
        // S9's 9.4 V open-core voltage.
        assert_eq!(code_for_rail_mv(9400.0), Some(6));
        assert_eq!(code_for_rail_mv(9441.0), None);
        assert_eq!(code_for_rail_mv(7930.0), None);
        assert_eq!(code_for_rail_mv(f64::NAN), None);
        for code in 0..=u8::MAX {
            assert_eq!(code_for_rail_mv(rail_mv_for_code(code)), Some(code));
        }
    }

    #[test]
    fn slots_map_to_addresses() {
        assert_eq!(address_for_slot(1), Some(0x50));
        assert_eq!(address_for_slot(8), Some(0x57));
        assert_eq!(address_for_slot(0), None);
        assert_eq!(address_for_slot(9), None);
    }

    #[test]
    fn construction_checks_the_range_against_the_pic() {
        let wide = VoutRange::new(Millivolts(1000.0), Millivolts(1250.0)).unwrap();
        let e = check_range(13, wide).unwrap_err();
        assert!(
            matches!(e, ConfigError::RangeOutsidePic { domains: 13, .. }),
            "{e}"
        );
        assert_eq!(check_range(0, range()), Err(ConfigError::NoDomains));
        assert_eq!(check_range(DOMAINS, range()), Ok(()));
        // usable_chip_range clips a wide range to what the PIC gives.
        let usable = usable_chip_range(8, wide).unwrap();
        assert_eq!(usable.min().get(), 1000.0);
        assert!((usable.max().get() - 1179.7).abs() < 0.1, "{usable:?}");
        assert_eq!(check_range(8, usable), Ok(()));
        let d = BitmainPic::new(Mock::new(&[]), NoopDelay::new(), A, 8, usable).unwrap();
        finish(d);
        assert!(usable_chip_range(13, wide).is_none());
        assert!(usable_chip_range(0, wide).is_none());
    }

    #[test]
    fn start_resets_starts_the_app_switches_off_and_beats() {
        let mut expect = frame(command::RESET_PIC, &[]);
        expect.extend(frame(command::JUMP_FROM_LOADER_TO_APP, &[]));
        expect.extend(frame(command::GET_PIC_SOFTWARE_VERSION, &[]));
        expect.push(T::read(A, vec![EXPECTED_VERSION]));
        expect.extend(frame(command::ENABLE_VOLTAGE, &[0]));
        expect.extend(frame(command::SEND_HEART_BEAT, &[]));
        let mut d = dev(&expect);
        assert_eq!(d.start(Timestamp(0)).unwrap(), EXPECTED_VERSION);
        finish(d);
    }

    #[test]
    fn set_vout_writes_the_rail_code_for_the_domains() {
        // 420 mV x 21 = 8,820 mV -> round(1608.420446 - 170.423497 x 8.82) = 105.
        assert_eq!(code_for_rail_mv(8820.0), Some(105));
        let mut expect = frame(command::SEND_HEART_BEAT, &[]);
        expect.extend(frame(command::SET_VOLTAGE, &[105]));
        expect.extend(frame(command::ENABLE_VOLTAGE, &[1]));
        // Reads within the heartbeat period send none.
        expect.extend(frame(command::GET_VOLTAGE, &[]));
        expect.push(T::read(A, vec![105]));
        // A second later a heartbeat goes first.
        expect.extend(frame(command::SEND_HEART_BEAT, &[]));
        expect.extend(frame(command::GET_VOLTAGE, &[]));
        expect.push(T::read(A, vec![105]));
        let mut d = dev(&expect);
        d.set_vout(Millivolts(420.0), Timestamp(0)).unwrap();
        d.set_enabled(true, Timestamp(10)).unwrap();
        let reading = d.read(Timestamp(500)).unwrap();
        let vout = reading.vout_mv.unwrap().get();
        assert!((vout - 420.0).abs() < 0.3, "{vout}");
        assert_eq!(reading.iout_a, None);
        assert_eq!(reading.temp_c, None);
        d.read(Timestamp(1_000)).unwrap();
        finish(d);
    }

    #[test]
    fn out_of_range_is_refused_with_no_bus_traffic() {
        let mut d = dev(&[]);
        for bad in [399.0, 441.0, f64::NAN, 0.0, -5.0] {
            let e = d.set_vout(Millivolts(bad), Timestamp(0)).unwrap_err();
            assert!(
                matches!(e, DeviceError::Fault(ref m) if m.contains("outside the safe range")),
                "{bad}: {e}"
            );
        }
        finish(d);
    }

    #[test]
    fn enabling_before_a_voltage_is_refused_and_switches_off() {
        // The refusal still makes sure the rail is off.
        let expect = frame(command::ENABLE_VOLTAGE, &[0]);
        let mut d = dev(&expect);
        let e = d.set_enabled(true, Timestamp(0)).unwrap_err();
        assert!(
            matches!(e, DeviceError::Fault(ref m) if m.contains("before a voltage")),
            "{e}"
        );
        finish(d);
    }

    #[test]
    fn a_failed_write_switches_the_rail_off() {
        let mut expect = frame(command::SEND_HEART_BEAT, &[]);
        expect.extend(frame(command::SET_VOLTAGE, &[105])[..2].iter().cloned());
        expect.push(T::write(A, vec![command::SET_VOLTAGE]).with_error(ErrorKind::Other));
        expect.extend(frame(command::ENABLE_VOLTAGE, &[0]));
        let mut d = dev(&expect);
        let e = d.set_vout(Millivolts(420.0), Timestamp(0)).unwrap_err();
        assert!(matches!(e, DeviceError::Bus(_)), "{e}");
        finish(d);
    }

    #[test]
    fn an_absent_pic_is_absent() {
        let expect = vec![
            T::write(A, vec![0x55]).with_error(nack()),
            // fail_safe tries to switch off, and cannot either.
            T::write(A, vec![0x55]).with_error(nack()),
        ];
        let mut d = dev(&expect);
        assert_eq!(
            d.set_vout(Millivolts(420.0), Timestamp(0)),
            Err(DeviceError::Absent)
        );
        finish(d);
    }

    #[test]
    fn a_pic_that_lost_its_voltage_is_a_fault() {
        let mut expect = frame(command::SEND_HEART_BEAT, &[]);
        expect.extend(frame(command::SET_VOLTAGE, &[105]));
        expect.extend(frame(command::GET_VOLTAGE, &[]));
        // A PIC that reset reads back another code.
        expect.push(T::read(A, vec![0]));
        let mut d = dev(&expect);
        d.set_vout(Millivolts(420.0), Timestamp(0)).unwrap();
        let e = d.read(Timestamp(100)).unwrap_err();
        assert!(
            matches!(e, DeviceError::Fault(ref m) if m.contains("code 0 but 105")),
            "{e}"
        );
        finish(d);
    }

    #[test]
    fn a_clock_that_steps_back_still_beats() {
        let mut expect = frame(command::SEND_HEART_BEAT, &[]);
        expect.extend(frame(command::SEND_HEART_BEAT, &[]));
        expect.extend(frame(command::ENABLE_VOLTAGE, &[0]));
        let mut d = dev(&expect);
        d.heartbeat(Timestamp(5_000)).unwrap();
        d.set_rail_enabled(false, Timestamp(1_000)).unwrap();
        finish(d);
    }
}
