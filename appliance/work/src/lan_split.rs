//! How a source's extranonce2 space is shared with the LAN server's miners.
//!
//! The source (a pool, or our own template) gives us `n` bytes of
//! extranonce2. Our chains take the values whose first byte has
//! [`LAN_EXTRANONCE_BIT`] clear ([`crate::JobBook::fan_out`]); a LAN miner
//! gets the rest: a Stratum extranonce1 of ours (the bit set in its first
//! byte, then its slot number) followed by the extranonce2 it rolls itself.
//!
//! Pools commonly give 4 bytes, some only 2 or 3, so the split adapts: the
//! miner's part shrinks first (down to one byte; a miner rolls version bits
//! and ntime too, so even one byte is far more work than a Bitaxe sweeps
//! between jobs), then the extranonce1 shrinks, and with it the number of
//! slots, which is the limit on how many LAN miners fit.
//!
//! | source bytes | extranonce1 | miner's extranonce2 | miners that fit |
//! |---|---|---|---|
//! | 2 | 1 | 1 | 128 |
//! | 3 | 1 | 2 | 128 |
//! | 4 | 1 | 3 | 128 |
//! | 5 | 1 | 4 | 128 |
//! | 6 | 2 | 4 | 32768 |
//! | 8 | 4 | 4 | 2^31 |
//!
//! cgminer and bmminer (an old S9) refuse an extranonce2 size below 2
//! ("Failed to get valid n2size"), so behind a 2-byte source only miners
//! such as ESP-Miner (Bitaxe) can mine.

use crate::jobs::LAN_EXTRANONCE_BIT;

/// The most a LAN miner rolls (more buys nothing).
pub const MAX_MINER_EXTRANONCE2_LEN: usize = 4;

/// One source's extranonce2 space split for LAN miners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanSplit {
    /// Bytes of the session's extranonce1 (ours: the LAN bit, the slot).
    pub extranonce1_len: usize,
    /// Bytes the miner rolls (`mining.subscribe`'s extranonce2 size).
    pub miner_extranonce2_len: usize,
    /// Slots the extranonce1 can number: at most this many LAN miners.
    pub slots: u64,
}

impl LanSplit {
    /// The split for a source with `source_len` bytes of extranonce2, or
    /// why LAN miners cannot share it.
    pub fn for_source(source_len: usize) -> Result<LanSplit, String> {
        if source_len < 2 {
            return Err(format!(
                "the source's extranonce2 has {source_len} byte(s); sharing it with LAN miners needs at least 2"
            ));
        }
        let miner_extranonce2_len = (source_len - 1).min(MAX_MINER_EXTRANONCE2_LEN);
        let extranonce1_len = source_len - miner_extranonce2_len;
        // The top bit of the first byte is the LAN bit; the rest numbers
        // slots (capped: 2^63 is plenty and keeps the arithmetic in u64).
        let slot_bits = (8 * extranonce1_len - 1).min(63);
        Ok(LanSplit {
            extranonce1_len,
            miner_extranonce2_len,
            slots: 1u64 << slot_bits,
        })
    }

    /// Slot `slot`'s extranonce1, or `None` when the slot does not fit.
    pub fn extranonce1(&self, slot: usize) -> Option<Vec<u8>> {
        let slot = u64::try_from(slot).ok().filter(|s| *s < self.slots)?;
        let len = self.extranonce1_len;
        let mut out = vec![0u8; len];
        let be = slot.to_be_bytes();
        let take = len.min(8);
        out.get_mut(len - take..)?
            .copy_from_slice(be.get(8 - take..)?);
        *out.first_mut()? |= LAN_EXTRANONCE_BIT;
        Some(out)
    }

    /// The refusal a miner in slot `slot` gets when it does not fit.
    pub fn no_room(&self, slot: usize, source_len: usize) -> Option<String> {
        (u64::try_from(slot).map_or(true, |s| s >= self.slots)).then(|| {
            format!(
                "no room: the source's {source_len}-byte extranonce2 fits {} LAN miners and {} are connected",
                self.slots,
                slot + 1
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_split_shrinks_with_the_source() {
        let cases = [
            (2, 1, 1, 128),
            (3, 1, 2, 128),
            (4, 1, 3, 128),
            (5, 1, 4, 128),
            (6, 2, 4, 32_768),
            (8, 4, 4, 1 << 31),
            (12, 8, 4, 1 << 63),
        ];
        for (source, en1, en2, slots) in cases {
            let s = LanSplit::for_source(source).unwrap();
            assert_eq!(
                (s.extranonce1_len, s.miner_extranonce2_len, s.slots),
                (en1, en2, slots),
                "{source} bytes"
            );
            assert_eq!(s.extranonce1_len + s.miner_extranonce2_len, source);
        }
        for short in [0, 1] {
            let why = LanSplit::for_source(short).unwrap_err();
            assert!(why.contains("at least 2"), "{why}");
        }
    }

    #[test]
    fn every_slot_that_fits_has_its_own_extranonce1_with_the_lan_bit() {
        for source in [2, 4, 6] {
            let s = LanSplit::for_source(source).unwrap();
            let n = s.slots.min(4096) as usize;
            let all: HashSet<Vec<u8>> = (0..n).map(|i| s.extranonce1(i).unwrap()).collect();
            assert_eq!(all.len(), n);
            assert!(all.iter().all(|e| e.len() == s.extranonce1_len));
            assert!(all.iter().all(|e| e[0] & LAN_EXTRANONCE_BIT != 0));
        }
        let s = LanSplit::for_source(4).unwrap();
        assert_eq!(s.extranonce1(0), Some(vec![0x80]));
        assert_eq!(s.extranonce1(127), Some(vec![0xFF]));
        assert_eq!(s.extranonce1(128), None);
        assert!(s.no_room(127, 4).is_none());
        let why = s.no_room(128, 4).unwrap();
        assert!(why.contains("fits 128 LAN miners"), "{why}");
        let s = LanSplit::for_source(6).unwrap();
        assert_eq!(s.extranonce1(0), Some(vec![0x80, 0]));
        assert_eq!(s.extranonce1(0x1234), Some(vec![0x92, 0x34]));
        let s = LanSplit::for_source(8).unwrap();
        assert_eq!(s.extranonce1(5), Some(vec![0x80, 0, 0, 5]));
        assert_eq!(s.extranonce1(1023), Some(vec![0x80, 0, 3, 0xFF]));
        assert_eq!(s.extranonce1(0x1234), Some(vec![0x80, 0, 0x12, 0x34]));
    }
}
