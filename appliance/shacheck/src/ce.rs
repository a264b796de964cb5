//! aarch64 SHA-2 instructions (the Raspberry Pi 5's Cortex-A76): two
//! independent streams interleaved so one's `sha256h`/`sha256h2` latency
//! hides behind the other's.
//!
//! Every function here is `#[target_feature(enable = "sha2")]`; the two entry
//! points call them only after [`supported`] returned true.

use crate::{NoncePre, Target, IV, K};
use core::arch::aarch64::*;

pub(crate) fn supported() -> bool {
    std::arch::is_aarch64_feature_detected!("sha2")
}

#[derive(Clone, Copy)]
struct St {
    abcd: uint32x4_t,
    efgh: uint32x4_t,
}

#[inline]
#[target_feature(enable = "sha2")]
fn v(x: [u32; 4]) -> uint32x4_t {
    // SAFETY: reads the 4 words of the array.
    unsafe { vld1q_u32(x.as_ptr()) }
}

#[inline]
#[target_feature(enable = "sha2")]
fn load_be(bytes: &[u8]) -> uint32x4_t {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    // SAFETY: reads the 16 bytes of the array.
    let raw = unsafe { vld1q_u8(b.as_ptr()) };
    vreinterpretq_u32_u8(vrev32q_u8(raw))
}

#[inline]
#[target_feature(enable = "sha2")]
fn to_st(s: &[u32; 8]) -> St {
    St {
        abcd: v([s[0], s[1], s[2], s[3]]),
        efgh: v([s[4], s[5], s[6], s[7]]),
    }
}

#[inline]
#[target_feature(enable = "sha2")]
fn store(st: St, out: &mut [u32; 8]) {
    // SAFETY: two 4-word stores into an 8-word array.
    unsafe {
        vst1q_u32(out.as_mut_ptr(), st.abcd);
        vst1q_u32(out.as_mut_ptr().add(4), st.efgh);
    }
}

#[inline]
#[target_feature(enable = "sha2")]
fn rounds4(st: &mut St, r: usize, m: uint32x4_t) {
    let wk = vaddq_u32(m, v([K[4 * r], K[4 * r + 1], K[4 * r + 2], K[4 * r + 3]]));
    let prev = st.abcd;
    st.abcd = vsha256hq_u32(prev, st.efgh, wk);
    st.efgh = vsha256h2q_u32(st.efgh, prev, wk);
}

/// One block for each of two streams, interleaved round group by group.
#[allow(clippy::needless_range_loop)] // r and j index two arrays in lockstep
#[inline]
#[target_feature(enable = "sha2")]
fn compress2(st: &mut [St; 2], w: [[uint32x4_t; 4]; 2]) {
    let save = *st;
    let mut m = w;
    for r in 0..4 {
        for j in 0..2 {
            rounds4(&mut st[j], r, m[j][r]);
        }
    }
    for r in 4..16 {
        for j in 0..2 {
            let [w0, w1, w2, w3] = m[j];
            let n = vsha256su1q_u32(vsha256su0q_u32(w0, w1), w2, w3);
            m[j] = [w1, w2, w3, n];
            rounds4(&mut st[j], r, n);
        }
    }
    for j in 0..2 {
        st[j].abcd = vaddq_u32(st[j].abcd, save[j].abcd);
        st[j].efgh = vaddq_u32(st[j].efgh, save[j].efgh);
    }
}

#[inline]
#[target_feature(enable = "sha2")]
fn final_hash2(h1: [St; 2]) -> [St; 2] {
    let iv = to_st(&IV);
    let pad = v([0x8000_0000, 0, 0, 0]);
    let len = v([0, 0, 0, 256]);
    let mut st = [iv, iv];
    compress2(
        &mut st,
        [
            [h1[0].abcd, h1[0].efgh, pad, len],
            [h1[1].abcd, h1[1].efgh, pad, len],
        ],
    );
    st
}

#[inline]
#[target_feature(enable = "sha2")]
fn header_words(h: &[u8; 80]) -> ([uint32x4_t; 4], [uint32x4_t; 4]) {
    let b1 = [
        load_be(&h[0..]),
        load_be(&h[16..]),
        load_be(&h[32..]),
        load_be(&h[48..]),
    ];
    let b2 = [
        load_be(&h[64..]),
        v([0x8000_0000, 0, 0, 0]),
        v([0; 4]),
        v([0, 0, 0, 640]),
    ];
    (b1, b2)
}

#[target_feature(enable = "sha2")]
fn hash_headers_impl(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    let iv = to_st(&IV);
    for (hs, os) in headers.chunks(2).zip(out.chunks_mut(2)) {
        let h0 = &hs[0];
        let h1 = hs.get(1).unwrap_or(h0);
        let (a1, a2) = header_words(h0);
        let (b1, b2) = header_words(h1);
        let mut st = [iv, iv];
        compress2(&mut st, [a1, b1]);
        compress2(&mut st, [a2, b2]);
        let fin = final_hash2(st);
        for (o, s) in os.iter_mut().zip(fin) {
            store(s, o);
        }
    }
}

#[target_feature(enable = "sha2")]
fn check_nonces_impl(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    let mid = to_st(&pre.mid);
    let pad = v([0x8000_0000, 0, 0, 0]);
    let len = v([0, 0, 0, 640]);
    let zero = v([0; 4]);
    for (ns, os) in nonces.chunks(2).zip(out.chunks_mut(2)) {
        let n0 = ns[0];
        let n1 = ns.get(1).copied().unwrap_or(n0);
        let tail = |n: u32| v([pre.w[0], pre.w[1], pre.w[2], n.swap_bytes()]);
        let mut st = [mid, mid];
        compress2(
            &mut st,
            [[tail(n0), pad, zero, len], [tail(n1), pad, zero, len]],
        );
        let fin = final_hash2(st);
        for (o, s) in os.iter_mut().zip(fin) {
            let mut words = [0u32; 8];
            store(s, &mut words);
            *o = target.is_met_by_state(&words);
        }
    }
}

pub(crate) fn hash_headers(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    if supported() {
        // SAFETY: the SHA-2 instructions were detected at runtime just above.
        unsafe { hash_headers_impl(headers, out) }
    } else {
        crate::scalar::hash_headers(headers, out);
    }
}

pub(crate) fn check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    if supported() {
        // SAFETY: the SHA-2 instructions were detected at runtime just above.
        unsafe { check_nonces_impl(pre, nonces, target, out) }
    } else {
        crate::scalar::check_nonces(pre, nonces, target, out);
    }
}
