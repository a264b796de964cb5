//! Work and target arithmetic the consensus rules need beyond rust-bitcoin's
//! `Target`/`Work`: scaling a target by a fixed-point factor, and a share's
//! work as a `u128` PPLNS weight.

use bitcoin::{Target, Work};

/// Fixed-point one for [`scale_target`] factors.
pub const Q32: u64 = 1 << 32;

/// `target * factor_q32 / 2^32`, saturating at the largest 256-bit number.
pub fn scale_target(target: Target, factor_q32: u64) -> Target {
    let le = target.to_le_bytes();
    let mut limbs = [0u64; 4];
    for (i, l) in limbs.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&le[8 * i..8 * i + 8]);
        *l = u64::from_le_bytes(b);
    }
    // 5-limb product, then drop the low 32 bits.
    let mut prod = [0u64; 5];
    let mut carry: u128 = 0;
    for i in 0..4 {
        let p = u128::from(limbs[i]) * u128::from(factor_q32) + carry;
        prod[i] = p as u64;
        carry = p >> 64;
    }
    prod[4] = carry as u64;
    let mut out = [0u64; 4];
    for i in 0..4 {
        out[i] = (prod[i] >> 32) | (prod[i + 1] << 32);
    }
    if prod[4] >> 32 != 0 {
        return Target::from_le_bytes([0xff; 32]);
    }
    let mut bytes = [0u8; 32];
    for (i, l) in out.iter().enumerate() {
        bytes[8 * i..8 * i + 8].copy_from_slice(&l.to_le_bytes());
    }
    Target::from_le_bytes(bytes)
}

/// Work as a `u128`, saturating (share work never comes near 2^128).
pub fn work_u128(work: Work) -> u128 {
    let le = work.to_le_bytes();
    if le[16..].iter().any(|b| *b != 0) {
        return u128::MAX;
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(&le[..16]);
    u128::from_le_bytes(b)
}

/// Expected hashes to meet `target`: its PPLNS weight.
pub fn target_work(target: Target) -> u128 {
    work_u128(target.to_work()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::CompactTarget;

    #[test]
    fn scaling_by_one_is_identity_and_by_two_doubles() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff));
        assert_eq!(scale_target(t, Q32), t);
        let doubled = scale_target(t, 2 * Q32);
        assert_eq!(doubled.to_compact_lossy().to_consensus(), 0x1d01_fffe);
        let halved = scale_target(t, Q32 / 2);
        assert_eq!(halved.to_compact_lossy().to_consensus(), 0x1c7f_ff80);
        assert_eq!(
            scale_target(Target::from_le_bytes([0xff; 32]), 2 * Q32),
            Target::from_le_bytes([0xff; 32])
        );
    }

    #[test]
    fn difficulty_one_is_about_two_to_the_32_hashes() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff));
        let w = target_work(t);
        assert!(
            w > (1u128 << 32) && w < (1u128 << 32) + (1u128 << 20),
            "{w}"
        );
        let regtest = Target::from_compact(CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!(target_work(regtest), 2);
    }
}
