//! Stratum difficulty and 256-bit targets. Difficulty 1 is the target
//! `0xFFFF * 2^208` (Bitcoin's "pool difficulty 1").

use hearth_shacheck::{Hash, Target};

/// Why a difficulty was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum DifficultyError {
    #[error("difficulty {0} is not a finite number above zero")]
    NotPositive(f64),
}

/// `0xFFFF * 2^208` as an f64 (exact: 16 significant bits).
fn diff1() -> f64 {
    65535.0 * 2f64.powi(208)
}

fn two_pow(n: i32) -> f64 {
    2f64.powi(n)
}

/// The target a share must meet at difficulty `d` (`floor(diff1 / d)`,
/// clamped to the largest target below difficulty ~1.5e-5). Zero, negative,
/// NaN and infinite difficulties are refused.
pub fn target_from_difficulty(d: f64) -> Result<Target, DifficultyError> {
    if !d.is_finite() || d <= 0.0 {
        return Err(DifficultyError::NotPositive(d));
    }
    let t = diff1() / d;
    if t >= two_pow(256) {
        return Ok(Target::MAX);
    }
    // Split into 32-bit limbs; every step is exact in f64 (powers of two).
    let mut le = [0u8; 32];
    let mut rest = t.floor();
    for i in (0..8).rev() {
        let scale = two_pow(32 * i);
        let limb = (rest / scale).floor();
        rest -= limb * scale;
        // limb < 2^32 by construction.
        let limb = limb.clamp(0.0, 4_294_967_295.0) as u32;
        let at = 4 * usize::try_from(i).unwrap_or(0);
        le[at..at + 4].copy_from_slice(&limb.to_le_bytes());
    }
    Ok(Target::from_le_bytes(le))
}

/// A 256-bit little-endian number as an f64 (rounded).
fn le_to_f64(bytes: &[u8; 32]) -> f64 {
    bytes
        .iter()
        .rev()
        .fold(0.0, |acc, b| acc * 256.0 + f64::from(*b))
}

/// The difficulty a hash achieves (`diff1 / hash`); an all-zero hash counts
/// as `f64::MAX`.
pub fn difficulty_of_hash(hash: &Hash) -> f64 {
    let v = le_to_f64(&hash.0);
    if v == 0.0 {
        f64::MAX
    } else {
        diff1() / v
    }
}

/// The difficulty of a target (`diff1 / target`).
pub fn difficulty_of_target(target: &Target) -> f64 {
    let v = le_to_f64(&target.to_le_bytes());
    if v == 0.0 {
        f64::MAX
    } else {
        diff1() / v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_one_is_the_pool_diff1_target() {
        let t = target_from_difficulty(1.0).unwrap();
        // 0x00000000FFFF0000...0000 in display (big-endian) order.
        let mut be = [0u8; 32];
        be[4] = 0xFF;
        be[5] = 0xFF;
        assert_eq!(t.to_be_bytes(), be);
        assert_eq!(t, Target::from_compact(0x1D00_FFFF).unwrap());
    }

    #[test]
    fn higher_difficulty_is_a_smaller_target() {
        let a = target_from_difficulty(1024.0).unwrap();
        let b = target_from_difficulty(2048.0).unwrap();
        assert!(b < a);
        // Powers of two divide exactly.
        let mut be = [0u8; 32];
        be[5] = 0x3F;
        be[6] = 0xFF;
        be[7] = 0xC0;
        assert_eq!(a.to_be_bytes(), be);
        assert!((difficulty_of_target(&a) - 1024.0).abs() < 1e-9);
    }

    #[test]
    fn zero_negative_and_nan_are_refused() {
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(target_from_difficulty(d).is_err(), "{d}");
        }
        assert_eq!(target_from_difficulty(1e-30).unwrap(), Target::MAX);
    }

    #[test]
    fn genesis_hash_difficulty() {
        // Genesis block hash 000000000019d668... has difficulty ~2536.
        let mut le = [0u8; 32];
        let disp = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
        for i in 0..32 {
            le[31 - i] = u8::from_str_radix(&disp[2 * i..2 * i + 2], 16).unwrap();
        }
        let d = difficulty_of_hash(&Hash(le));
        assert!((d - 2536.3).abs() < 1.0, "{d}");
    }
}
