//! Chip models: identity, core geometry, and how each model packs job id,
//! core id and chip address into its nonce responses.
//!
//! Sources: the shared hashboard reference, ESP-Miner's per-model drivers, and
//! the mujina BM13xx reference (bus captures of a Bitaxe Gamma, an S21 Pro and
//! an S19j Pro). Details no capture confirms are marked *unverified*.

use crate::error::UnknownChipId;

/// A supported BM13xx model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChipKind {
    /// S19 XP / S19k Pro, Bitaxe Ultra. 112 cores x 8 sub-cores.
    Bm1366,
    /// S21, Bitaxe Supra. 80 cores x 16 sub-cores.
    Bm1368,
    /// S21 Pro, Bitaxe Gamma. 128 cores x 16 sub-cores.
    Bm1370,
    /// S17/T17, original Bitaxe Max. 168 cores x 4 sub-cores. Older generation:
    /// host-computed midstates, no hardware version rolling, 9-byte responses.
    Bm1397,
}

/// How a model splits the nonce response's result-header byte.
///
/// `job_id = header >> job_id_shift`, `small_core_id = header & low_mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultHeaderLayout {
    /// Position of the job id's lowest bit.
    pub job_id_shift: u8,
}

impl ResultHeaderLayout {
    /// Mask of the low field (small core id, or BM1397's midstate index).
    #[must_use]
    pub const fn low_mask(self) -> u8 {
        // job_id_shift is 2..=4 for every model, so this never overflows.
        (1u8 << self.job_id_shift) - 1
    }

    /// Largest job id the high field holds.
    #[must_use]
    pub const fn max_job_id(self) -> u8 {
        0xFF >> self.job_id_shift
    }

    /// Split a result-header byte into (job id, low field).
    #[must_use]
    pub const fn split(self, header: u8) -> (u8, u8) {
        (header >> self.job_id_shift, header & self.low_mask())
    }
}

impl ChipKind {
    /// Every supported model, for sweeps in tests and tools.
    pub const ALL: [ChipKind; 4] = [
        ChipKind::Bm1366,
        ChipKind::Bm1368,
        ChipKind::Bm1370,
        ChipKind::Bm1397,
    ];

    /// The 16-bit id the chip reports in the top half of register 0x00
    /// (`13 70 ..` on the wire for a BM1370).
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            ChipKind::Bm1366 => 0x1366,
            ChipKind::Bm1368 => 0x1368,
            ChipKind::Bm1370 => 0x1370,
            ChipKind::Bm1397 => 0x1397,
        }
    }

    /// The model with this id, or `None` for ids this codec does not model
    /// (BM1362, BM1387, ...).
    #[must_use]
    pub const fn from_id(id: u16) -> Option<ChipKind> {
        match id {
            0x1366 => Some(ChipKind::Bm1366),
            0x1368 => Some(ChipKind::Bm1368),
            0x1370 => Some(ChipKind::Bm1370),
            0x1397 => Some(ChipKind::Bm1397),
            _ => None,
        }
    }

    /// Small cores (hashing engines) per chip: the count that multiplies the
    /// hash clock into a hashrate (`GH/s = f_MHz * small_cores / 1000`).
    #[must_use]
    pub const fn small_core_count(self) -> u32 {
        match self {
            ChipKind::Bm1366 => 894,
            ChipKind::Bm1368 => 1276,
            ChipKind::Bm1370 => 2040,
            ChipKind::Bm1397 => 672,
        }
    }

    /// Big cores per chip: the unit that splits the nonce space (the core id
    /// in each nonce) and the count the hash-counting-number formula rounds up
    /// to a power of two.
    #[must_use]
    pub const fn core_count(self) -> u32 {
        match self {
            ChipKind::Bm1366 => 112,
            ChipKind::Bm1368 => 80,
            ChipKind::Bm1370 => 128,
            ChipKind::Bm1397 => 168,
        }
    }

    /// Sub-cores per big core; with version rolling each hashes its own
    /// rolled version of the same nonces.
    #[must_use]
    pub const fn sub_cores_per_core(self) -> u32 {
        match self {
            ChipKind::Bm1366 => 8,
            ChipKind::Bm1368 | ChipKind::Bm1370 => 16,
            ChipKind::Bm1397 => 4,
        }
    }

    /// Whether the chip rolls version bits itself (register 0xA4) and reports
    /// them in 11-byte nonce frames. The BM1397 does not: it takes up to four
    /// host-computed midstates and answers in 9-byte frames.
    #[must_use]
    pub const fn has_hardware_version_rolling(self) -> bool {
        !matches!(self, ChipKind::Bm1397)
    }

    /// Whether the chip takes the 88-byte full-header job frame
    /// ([`crate::job::JobFrame`]). The BM1397 takes midstate jobs instead
    /// ([`crate::midstate::MidstateJobFrame`]).
    #[must_use]
    pub const fn takes_full_header_jobs(self) -> bool {
        self.has_hardware_version_rolling()
    }

    /// Response frame length: 11 bytes once hardware version rolling is on
    /// (register 0xA4 written with its enable bit), 9 before and always on the
    /// BM1397. Register-read responses follow the same switch.
    #[must_use]
    pub const fn response_len(self, version_rolling_enabled: bool) -> usize {
        if version_rolling_enabled && self.has_hardware_version_rolling() {
            11
        } else {
            9
        }
    }

    /// How the nonce response's result-header byte divides.
    ///
    /// - BM1370 and BM1368: bits 7-4 job id, bits 3-0 small-core id (ESP-Miner
    ///   decodes both models with `(hdr & 0xF0) >> 1` and `hdr & 0x0F`; the
    ///   BM1370 split is capture-verified, the BM1368 one comes from ESP-Miner
    ///   only: *unverified*, and note it differs from a 5+3 reading some notes
    ///   give, which cannot name 16 sub-cores).
    /// - BM1366: bits 7-3 job id, bits 2-0 small-core id (capture-verified on
    ///   the sibling BM1362; the BM1366 split is from ESP-Miner).
    /// - BM1397: bits 7-2 job id, bits 1-0 the midstate index the nonce was
    ///   found with (ESP-Miner `job_id & 0xFC`, `job_id & 0x03`; *unverified*
    ///   against a capture).
    ///
    /// A full-header job carries its 4-bit id in job-header bits 6-3, so on
    /// every full-header model the id that comes back equals the id sent.
    #[must_use]
    pub const fn result_header_layout(self) -> ResultHeaderLayout {
        let job_id_shift = match self {
            ChipKind::Bm1368 | ChipKind::Bm1370 => 4,
            ChipKind::Bm1366 => 3,
            ChipKind::Bm1397 => 2,
        };
        ResultHeaderLayout { job_id_shift }
    }

    /// Bits the core id takes at the top of the nonce's "fields" reading
    /// (see [`crate::response::NonceResponse::nonce_fields`]): 7 bits (31-25)
    /// on the BM1366/68/70, 8 bits (31-24) on the BM1397 (*unverified*, from
    /// the bm13xx-rs BM1397 notes).
    #[must_use]
    pub const fn nonce_core_id_bits(self) -> u32 {
        match self {
            ChipKind::Bm1397 => 8,
            _ => 7,
        }
    }
}

impl TryFrom<u16> for ChipKind {
    type Error = UnknownChipId;

    fn try_from(id: u16) -> Result<Self, Self::Error> {
        ChipKind::from_id(id).ok_or(UnknownChipId(id))
    }
}

/// Register 0x00 (CHIP_ID) decoded: `[id hi][id lo][unknown][address]` on the
/// wire. The unknown byte reads 0x00 on the BM1370 and 0x03 on the BM1362
/// (possibly a core-group count, *unverified*); the BM1397 resets to
/// 0x13971800 (*unverified*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipIdentity {
    /// The 16-bit model id (0x1370 ...). May be a model this crate does not
    /// know; see [`ChipIdentity::kind`].
    pub id: u16,
    /// The third byte, meaning unknown.
    pub unknown: u8,
    /// The chip's assigned address (0 before addressing).
    pub address: u8,
}

impl ChipIdentity {
    /// Split a CHIP_ID register value.
    #[must_use]
    pub const fn from_register(value: u32) -> ChipIdentity {
        let [id_hi, id_lo, unknown, address] = value.to_be_bytes();
        ChipIdentity {
            id: u16::from_be_bytes([id_hi, id_lo]),
            unknown,
            address,
        }
    }

    /// Rebuild the register value (for the simulator's answers).
    #[must_use]
    pub const fn to_register(self) -> u32 {
        let [id_hi, id_lo] = self.id.to_be_bytes();
        u32::from_be_bytes([id_hi, id_lo, self.unknown, self.address])
    }

    /// The model, if it is one this crate supports.
    ///
    /// # Errors
    /// [`UnknownChipId`] for any other id.
    pub fn kind(self) -> Result<ChipKind, UnknownChipId> {
        ChipKind::try_from(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_errors() {
        for chip in ChipKind::ALL {
            assert_eq!(ChipKind::from_id(chip.id()), Some(chip));
            assert_eq!(ChipKind::try_from(chip.id()), Ok(chip));
        }
        assert_eq!(ChipKind::from_id(0x1362), None);
        assert_eq!(ChipKind::try_from(0xFFFF), Err(UnknownChipId(0xFFFF)));
        assert_eq!(ChipKind::from_id(0), None);
    }

    #[test]
    fn geometry_matches_the_reference() {
        assert_eq!(ChipKind::Bm1397.small_core_count(), 672);
        assert_eq!(ChipKind::Bm1366.small_core_count(), 894);
        assert_eq!(ChipKind::Bm1368.small_core_count(), 1276);
        assert_eq!(ChipKind::Bm1370.small_core_count(), 2040);
        for chip in ChipKind::ALL {
            // Small cores are the usable subset of cores x sub-cores.
            assert!(chip.small_core_count() <= chip.core_count() * chip.sub_cores_per_core());
            // Every core id fits the nonce's core field.
            assert!(chip.core_count() <= 1 << chip.nonce_core_id_bits());
        }
    }

    #[test]
    fn response_lengths() {
        assert_eq!(ChipKind::Bm1370.response_len(true), 11);
        assert_eq!(ChipKind::Bm1370.response_len(false), 9);
        assert_eq!(ChipKind::Bm1397.response_len(true), 9);
        assert_eq!(ChipKind::Bm1397.response_len(false), 9);
    }

    #[test]
    fn result_header_splits() {
        // Captured BM1370 header 0x99: job 9, sub-core 9.
        assert_eq!(ChipKind::Bm1370.result_header_layout().split(0x99), (9, 9));
        // A job sent with header 3 << 3 = 0x18 comes back as job id 3.
        assert_eq!(
            ChipKind::Bm1366.result_header_layout().split(0x18 | 5),
            (3, 5)
        );
        assert_eq!(
            ChipKind::Bm1397.result_header_layout().split(0x7B),
            (0x1E, 3)
        );
        assert_eq!(ChipKind::Bm1370.result_header_layout().max_job_id(), 15);
        assert_eq!(ChipKind::Bm1366.result_header_layout().max_job_id(), 31);
        assert_eq!(ChipKind::Bm1397.result_header_layout().low_mask(), 0x03);
    }

    #[test]
    fn chip_identity_from_discovery_answer() {
        let id = ChipIdentity::from_register(0x1370_0000);
        assert_eq!(id.kind(), Ok(ChipKind::Bm1370));
        assert_eq!(id.address, 0);
        let id = ChipIdentity::from_register(0x1362_0304);
        assert_eq!(id.kind(), Err(UnknownChipId(0x1362)));
        assert_eq!((id.unknown, id.address), (3, 4));
        assert_eq!(id.to_register(), 0x1362_0304);
    }
}
