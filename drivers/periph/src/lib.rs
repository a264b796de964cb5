//! Drivers for the peripherals around a hashboard, generic over the
//! blocking embedded-hal 1.0 traits, in the style of eldruin's drivers:
//! each driver owns its bus handle (`new(i2c, address)` / `destroy()`),
//! has its own error type wrapping the bus error, and exposes typed methods
//! whose names carry the unit. Each also implements the matching
//! `hearth_core::peripherals` seam trait so the controller never sees a
//! concrete part.
//!
//! | module | part | seam |
//! | --- | --- | --- |
//! | [`tps546`] | TI TPS546 PMBus buck regulator | `Regulator` |
//! | [`bitmain_pic`] | PIC voltage controller on S9-generation hashboards | `Regulator` |
//! | [`emc2101`] | Microchip EMC2101 fan controller + diode | `Fan`, `Thermometer` |
//! | [`tmp75`] | TI TMP75 / LM75 family / TMP1075 | `Thermometer` |
//! | [`ds18b20`] | Maxim DS18B20 via the Linux w1 sysfs | `Thermometer` |
//!
//! [`pmbus`] holds the LINEAR11 / ULINEAR16 number formats and
//! [`plausibility`] the range / slew-rate filter every thermometer applies.
//!
//! Nothing here panics on bad data from a device: implausible values and
//! device-reported faults come back as errors.
//!
//! Sharing one I2C bus between several drivers (or between the EMC2101's
//! `Fan` and `Thermometer` roles handed to different owners) is done the
//! embedded-hal way: give each driver a bus proxy such as
//! `embedded_hal_bus::i2c::MutexDevice`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bitmain_pic;
pub mod ds18b20;
pub mod emc2101;
pub mod plausibility;
pub mod pmbus;
pub mod tmp75;
pub mod tps546;

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use hearth_core::peripherals::DeviceError;

/// Map an I2C bus error onto the seam's error: a NACK of the address means
/// nothing answers there ([`DeviceError::Absent`]); anything else is a bus
/// error carrying the error's debug text.
pub(crate) fn bus_error<E: embedded_hal::i2c::Error>(e: &E) -> DeviceError {
    match e.kind() {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => DeviceError::Absent,
        _ => DeviceError::Bus(format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_nack_is_absent_other_errors_are_bus() {
        assert_eq!(
            bus_error(&ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)),
            DeviceError::Absent
        );
        assert!(matches!(
            bus_error(&ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
            DeviceError::Bus(_)
        ));
        assert!(matches!(
            bus_error(&ErrorKind::ArbitrationLoss),
            DeviceError::Bus(_)
        ));
    }
}
