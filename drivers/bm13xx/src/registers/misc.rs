//! MISC_CONTROL (0x18) "open core" values and ANALOG_MUX (0x54).
//!
//! MISC_CONTROL on the BM1366 and later:
//!
//! ```text
//!  31         28 27            16 15              0
//! +---------------+----------------+-----------------+
//! |report enables |  unexplained   |     0xC100      |
//! +---------------+----------------+-----------------+
//! ```
//!
//! Each of bits 31-28 lets one section of the core array report nonces (on
//! the BM1370 a quarter each, bit 28 = cores 0-31); the chip powers on with
//! all four clear and cannot report until the host "opens the core". The low
//! half is 0xC100 out of reset and carried unchanged.
//!
//! The BM1397 uses this register for its baud divider and pin selectors, a
//! different layout this module does not model.

use crate::chip::ChipKind;

/// MISC_CONTROL out of reset (BM1370 read-back; the BM1366 is documented the
/// same).
pub const MISC_CONTROL_RESET: u32 = 0x0000_C100;

/// The broadcast open-core value ESP-Miner writes to BM1366/BM1368 chains,
/// which also sets bits 27-24 and 19-16 (meaning unknown, *unverified*). The
/// per-chip value is [`misc_control_open_core`].
pub const MISC_CONTROL_OPEN_CORE_BROADCAST_BM1366: u32 = 0xFF0F_C100;

/// The open-core value written to each chip: all four report enables over the
/// reset low half, `0xF000C100`. Capture-verified on the BM1370 (Bitaxe, S21
/// Pro); the BM1366/BM1368 value comes from reference driver code
/// (*unverified*). `None` for the BM1397.
#[must_use]
pub const fn misc_control_open_core(chip: ChipKind) -> Option<u32> {
    match chip {
        ChipKind::Bm1366 | ChipKind::Bm1368 | ChipKind::Bm1370 => Some(0xF000_C100),
        ChipKind::Bm1397 => None,
    }
}

/// The four report-enable bits (31-28) of a MISC_CONTROL value, bit 0 = the
/// section of register bit 28.
#[must_use]
pub const fn report_enables(value: u32) -> u8 {
    (value >> 28) as u8
}

/// ANALOG_MUX selects (bits 3-0; bits 31-4 zero in every capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalogMux {
    /// Route the on-die temperature diode to the mux output for an external
    /// sensor (the BM1370 in production, select 2).
    TemperatureDiode,
    /// The setting outside a temperature read (select 3).
    Default,
}

impl AnalogMux {
    /// The register value.
    #[must_use]
    pub const fn register(self) -> u32 {
        match self {
            AnalogMux::TemperatureDiode => 2,
            AnalogMux::Default => 3,
        }
    }

    /// The select a register value holds, if it is one of the known ones.
    #[must_use]
    pub const fn from_register(value: u32) -> Option<AnalogMux> {
        match value {
            2 => Some(AnalogMux::TemperatureDiode),
            3 => Some(AnalogMux::Default),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_core_values() {
        assert_eq!(misc_control_open_core(ChipKind::Bm1370), Some(0xF000_C100));
        assert_eq!(misc_control_open_core(ChipKind::Bm1397), None);
        assert_eq!(report_enables(0xF000_C100), 0xF);
        assert_eq!(report_enables(MISC_CONTROL_RESET), 0);
        assert_eq!(report_enables(0xB000_C100), 0b1011);
    }

    #[test]
    fn analog_mux_round_trips() {
        for select in [AnalogMux::TemperatureDiode, AnalogMux::Default] {
            assert_eq!(AnalogMux::from_register(select.register()), Some(select));
        }
        assert_eq!(AnalogMux::TemperatureDiode.register(), 2);
        assert_eq!(AnalogMux::from_register(0x12), None);
    }
}
