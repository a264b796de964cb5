//! The reference backend: RustCrypto `sha2`'s raw block compression
//! (`sha2::block_api::compress256`), which itself uses SHA-NI or the ARMv8
//! SHA-2 instructions when the CPU has them and portable code otherwise.

use crate::{NoncePre, Target, IV};
use sha2::block_api::compress256;

fn second_block(tail: &[u8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..16].copy_from_slice(tail);
    b[16] = 0x80;
    b[62..].copy_from_slice(&640u16.to_be_bytes());
    b
}

fn second_hash(h1: &[u32; 8]) -> [u32; 8] {
    let mut b = [0u8; 64];
    for (i, w) in h1.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    b[32] = 0x80;
    b[62..].copy_from_slice(&256u16.to_be_bytes());
    let mut s = IV;
    compress256(&mut s, &[b]);
    s
}

pub(crate) fn hash_headers(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    for (h, o) in headers.iter().zip(out.iter_mut()) {
        let mut b1 = [0u8; 64];
        b1.copy_from_slice(&h[..64]);
        let mut s = IV;
        compress256(&mut s, &[b1, second_block(&h[64..])]);
        *o = second_hash(&s);
    }
}

pub(crate) fn check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    let mut tail = [0u8; 16];
    for (i, w) in pre.w.iter().enumerate() {
        tail[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    for (n, o) in nonces.iter().zip(out.iter_mut()) {
        tail[12..].copy_from_slice(&n.to_le_bytes());
        let mut s = pre.mid;
        compress256(&mut s, &[second_block(&tail)]);
        *o = target.is_met_by_state(&second_hash(&s));
    }
}

/// SHA-256d of messages of any lengths, one after another through `sha2`
/// (which uses SHA-NI or the ARMv8 SHA-2 instructions itself when present:
/// the path of the `scalar`, `shani` and `ce` backends).
pub(crate) fn hash_messages(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    use sha2::{Digest, Sha256};
    for (m, o) in msgs.iter().zip(out.iter_mut()) {
        let second = Sha256::digest(Sha256::digest(m));
        *o = core::array::from_fn(|k| {
            u32::from_be_bytes([
                second[4 * k],
                second[4 * k + 1],
                second[4 * k + 2],
                second[4 * k + 3],
            ])
        });
    }
}
