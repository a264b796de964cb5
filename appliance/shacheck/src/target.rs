//! 256-bit targets and SHA-256d hashes.

use std::cmp::Ordering;
use std::fmt;

/// Why a compact target (`nBits`) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The sign bit (0x00800000) is set with a non-zero mantissa.
    #[error("nBits {bits:#010x} is negative (sign bit set)")]
    Negative {
        /// The compact value.
        bits: u32,
    },
    /// The value does not fit in 256 bits.
    #[error("nBits {bits:#010x} overflows 256 bits")]
    Overflow {
        /// The compact value.
        bits: u32,
    },
}

/// A 256-bit target: a hash passes when, read as a little-endian number, it
/// is less than or equal to the target (the boundary is inclusive).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// 32-bit limbs, least significant first. Limb `i` compares with state
    /// word `H[i]` of the final SHA-256 byte-swapped.
    limbs: [u32; 8],
}

impl Target {
    /// The zero target (only an all-zero hash meets it).
    pub const ZERO: Target = Target { limbs: [0; 8] };
    /// The largest target (every hash meets it).
    pub const MAX: Target = Target {
        limbs: [u32::MAX; 8],
    };

    /// Decodes Bitcoin's compact form, exactly as Bitcoin Core's
    /// `arith_uint256::SetCompact`: a zero mantissa gives the zero target
    /// (even with the sign bit set), a set sign bit with a non-zero mantissa
    /// is an error, and a value that does not fit in 256 bits is an error.
    pub fn from_compact(bits: u32) -> Result<Target, TargetError> {
        let size = (bits >> 24) as usize;
        let mut word = bits & 0x007f_ffff;
        let mut shift = 0usize;
        if size <= 3 {
            word >>= 8 * (3 - size);
        } else {
            shift = size - 3;
        }
        if word != 0 && bits & 0x0080_0000 != 0 {
            return Err(TargetError::Negative { bits });
        }
        let mut le = [0u8; 32];
        for (k, byte) in word.to_le_bytes().iter().take(3).enumerate() {
            if *byte == 0 {
                continue;
            }
            match le.get_mut(shift + k) {
                Some(slot) => *slot = *byte,
                None => return Err(TargetError::Overflow { bits }),
            }
        }
        Ok(Target::from_le_bytes(le))
    }

    /// From the 32 bytes of a little-endian number (the byte order of a hash
    /// as SHA-256 outputs it).
    pub fn from_le_bytes(bytes: [u8; 32]) -> Target {
        let mut limbs = [0u32; 8];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ]);
        }
        Target { limbs }
    }

    /// From a big-endian number (the display order of hashes and targets).
    pub fn from_be_bytes(mut bytes: [u8; 32]) -> Target {
        bytes.reverse();
        Target::from_le_bytes(bytes)
    }

    /// Little-endian bytes.
    pub fn to_le_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, l) in self.limbs.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&l.to_le_bytes());
        }
        out
    }

    /// Big-endian bytes (display order).
    pub fn to_be_bytes(&self) -> [u8; 32] {
        let mut out = self.to_le_bytes();
        out.reverse();
        out
    }

    /// `hash <= self`.
    pub fn is_met_by(&self, hash: &Hash) -> bool {
        self.is_met_by_state(&hash.state())
    }

    /// `hash <= self` for the final SHA-256 state words of the hash.
    #[inline]
    pub(crate) fn is_met_by_state(&self, state: &[u32; 8]) -> bool {
        for i in (0..8).rev() {
            let h = state[i].swap_bytes();
            if h != self.limbs[i] {
                return h < self.limbs[i];
            }
        }
        true
    }

    /// The most significant limb: a hash whose byte-swapped last state word
    /// `H[7]` exceeds it is above the target whatever the other words are.
    #[inline]
    pub(crate) fn top_limb(&self) -> u32 {
        self.limbs[7]
    }
}

impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs.iter().rev().cmp(other.limbs.iter().rev())
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.to_be_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A SHA-256d hash, bytes in the order SHA-256 outputs them (Bitcoin's
/// "internal" order; `Display` prints the reversed, familiar order).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// From the final state words of the second SHA-256.
    pub fn from_state(state: &[u32; 8]) -> Hash {
        let mut out = [0u8; 32];
        for (i, w) in state.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
        }
        Hash(out)
    }

    /// The state words back.
    pub fn state(&self) -> [u32; 8] {
        let b = &self.0;
        let mut s = [0u32; 8];
        for (i, w) in s.iter_mut().enumerate() {
            *w = u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        }
        s
    }

    /// Bytes in display order (reversed).
    pub fn to_display_bytes(&self) -> [u8; 32] {
        let mut out = self.0;
        out.reverse();
        out
    }

    /// The hash as a 256-bit number, for comparisons and tests.
    pub fn as_target(&self) -> Target {
        Target::from_le_bytes(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.to_display_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
