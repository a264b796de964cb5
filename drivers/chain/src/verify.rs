//! Nonce verification: double SHA-256 of the rebuilt header, counted in
//! leading zero bits.

use sha2::{Digest, Sha256};

/// Double SHA-256 of a block header, bytes as the hash function outputs them.
#[must_use]
pub fn sha256d(header: &[u8; 80]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(header)).into()
}

/// Leading zero bits of a hash read as a little-endian 256-bit number (the
/// order block explorers print it in): counted from the last byte's top bit
/// backwards. This is the quantity difficulty targets bound.
#[must_use]
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for &byte in hash.iter().rev() {
        if byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// [`leading_zero_bits`] of the header's [`sha256d`].
#[must_use]
pub fn header_zero_bits(header: &[u8; 80]) -> u32 {
    leading_zero_bits(&sha256d(header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_header_has_the_expected_zero_bits() {
        // The genesis block hash 000000000019d668...: 43 leading zero bits.
        let hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
        let mut header = [0u8; 80];
        for (i, byte) in header.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        assert_eq!(header_zero_bits(&header), 43);
    }

    #[test]
    fn zero_bits_count_from_the_last_byte() {
        let mut hash = [0xFFu8; 32];
        assert_eq!(leading_zero_bits(&hash), 0);
        hash[31] = 0;
        hash[30] = 0x10;
        assert_eq!(leading_zero_bits(&hash), 11);
        assert_eq!(leading_zero_bits(&[0; 32]), 256);
    }
}
