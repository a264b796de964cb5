//! Double SHA-256 of block headers, the way a chip does it: the first 64
//! header bytes (version, previous hash, most of the merkle root) compress once
//! into a midstate per rolled version, then each nonce costs two more
//! compressions. Built on `sha2::block_api::compress256` so the hot loop is the optimised
//! compression function and nothing generic.

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The state after compressing the header's first 64 bytes.
#[must_use]
pub(crate) fn midstate(first_block: &[u8; 64]) -> [u32; 8] {
    let mut state = IV;
    sha2::block_api::compress256(&mut state, core::slice::from_ref(first_block));
    state
}

/// Double SHA-256 of an 80-byte header from its midstate and last 16 bytes
/// (merkle root tail, ntime, nbits, nonce), as the eight state words of the
/// second hash (the digest is their big-endian bytes). Plain index loops: this
/// is the simulator's inner loop and must stay cheap in debug builds too.
#[must_use]
pub(crate) fn finish_words(midstate: &[u32; 8], tail: &[u8; 16]) -> [u32; 8] {
    // Second block of the first hash: 16 bytes, 0x80, zeros, length 640 bits.
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(tail);
    block[16] = 0x80;
    block[62] = 0x02; // 640 = 0x0280
    block[63] = 0x80;
    let mut state = *midstate;
    sha2::block_api::compress256(&mut state, core::slice::from_ref(&block));

    // Second hash over the 32-byte digest: one block, length 256 bits.
    let mut block = [0u8; 64];
    let mut i = 0;
    while i < 8 {
        let [a, b, c, d] = state[i].to_be_bytes();
        block[4 * i] = a;
        block[4 * i + 1] = b;
        block[4 * i + 2] = c;
        block[4 * i + 3] = d;
        i += 1;
    }
    block[32] = 0x80;
    block[62] = 0x01; // 256 = 0x0100
    let mut state = IV;
    sha2::block_api::compress256(&mut state, core::slice::from_ref(&block));
    state
}

/// [`leading_zero_bits`] straight from the state words: the displayed hash
/// starts with the last word's bytes reversed.
#[must_use]
pub(crate) fn leading_zero_bits_of_words(words: &[u32; 8]) -> u32 {
    let mut zeros = 0;
    let mut i = 8;
    while i > 0 {
        i -= 1;
        let here = words[i].swap_bytes().leading_zeros();
        zeros += here;
        if here < 32 {
            break;
        }
    }
    zeros
}

fn words_to_digest(words: &[u32; 8]) -> [u8; 32] {
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(words) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// Double SHA-256 of an 80-byte block header: the raw digest (reverse it for
/// the hex block explorers print).
#[must_use]
pub fn block_hash(header: &[u8; 80]) -> [u8; 32] {
    let mut first = [0u8; 64];
    first.copy_from_slice(&header[..64]);
    let mut tail = [0u8; 16];
    tail.copy_from_slice(&header[64..]);
    words_to_digest(&finish_words(&midstate(&first), &tail))
}

/// Leading zero bits of a hash in the Bitcoin sense: of the 256-bit number the
/// raw digest encodes little-endian, i.e. of the hash as explorers display it
/// (reversed bytes). Equivalently: trailing zero *bytes* of the raw digest
/// count 8 each, then the leading zeros of the last non-zero raw byte.
/// A genesis-block hash (`000000000019d6...`) has 43.
#[must_use]
pub fn leading_zero_bits(digest: &[u8; 32]) -> u32 {
    let mut zeros = 0;
    for &byte in digest.iter().rev() {
        if byte == 0 {
            zeros += 8;
        } else {
            return zeros + byte.leading_zeros();
        }
    }
    zeros
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_count_agrees_with_byte_count() {
        for seed in 0u32..2000 {
            let mut header = [0u8; 80];
            header[76..].copy_from_slice(&seed.to_le_bytes());
            let mut first = [0u8; 64];
            first.copy_from_slice(&header[..64]);
            let mut tail = [0u8; 16];
            tail.copy_from_slice(&header[64..]);
            let words = finish_words(&midstate(&first), &tail);
            let digest = words_to_digest(&words);
            assert_eq!(
                leading_zero_bits_of_words(&words),
                leading_zero_bits(&digest)
            );
        }
        assert_eq!(leading_zero_bits_of_words(&[0; 8]), 256);
        let mut words = [u32::MAX; 8];
        words[7] = 0x00F0_0000; // bytes 00 F0 00 00 -> displayed 00 00 F0 00
        assert_eq!(leading_zero_bits_of_words(&words), 16);
    }
}
