//! x86-64 SHA extensions (SHA-NI): two independent streams interleaved so
//! the `sha256rnds2` latency of one hides behind the other.
//!
//! Every function here is `#[target_feature(enable = "sha,sse4.1,ssse3")]`;
//! the two entry points call them only after [`supported`] returned true.

use crate::{NoncePre, Target, IV, K};
use core::arch::x86_64::*;

pub(crate) fn supported() -> bool {
    std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("sse4.1")
        && std::arch::is_x86_feature_detected!("ssse3")
}

/// State in the layout `sha256rnds2` wants.
#[derive(Clone, Copy)]
struct St {
    abef: __m128i,
    cdgh: __m128i,
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn to_st(s: &[u32; 8]) -> St {
    let dcba = _mm_set_epi32(s[3] as i32, s[2] as i32, s[1] as i32, s[0] as i32);
    let hgfe = _mm_set_epi32(s[7] as i32, s[6] as i32, s[5] as i32, s[4] as i32);
    let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
    St {
        abef: _mm_alignr_epi8::<8>(cdab, efgh),
        cdgh: _mm_blend_epi16::<0xF0>(efgh, cdab),
    }
}

/// Back to natural order: lanes [a, b, c, d] and [e, f, g, h], which are
/// also message words 0..3 and 4..7 of the next hash's block.
#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn from_st(st: St) -> [__m128i; 2] {
    let feba = _mm_shuffle_epi32::<0x1B>(st.abef);
    let dchg = _mm_shuffle_epi32::<0xB1>(st.cdgh);
    [
        _mm_blend_epi16::<0xF0>(feba, dchg),
        _mm_alignr_epi8::<8>(dchg, feba),
    ]
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn store(st: St, out: &mut [u32; 8]) {
    let [abcd, efgh] = from_st(st);
    // SAFETY: two 16-byte unaligned stores into a 32-byte array.
    unsafe {
        _mm_storeu_si128(out.as_mut_ptr().cast(), abcd);
        _mm_storeu_si128(out.as_mut_ptr().add(4).cast(), efgh);
    }
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn load_be(bytes: &[u8; 16]) -> __m128i {
    let mask = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
    // SAFETY: 16-byte unaligned load from a 16-byte array.
    let w = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
    _mm_shuffle_epi8(w, mask)
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn lanes(w0: u32, w1: u32, w2: u32, w3: u32) -> __m128i {
    _mm_set_epi32(w3 as i32, w2 as i32, w1 as i32, w0 as i32)
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn rounds4(st: &mut St, r: usize, m: __m128i) {
    let k = lanes(K[4 * r], K[4 * r + 1], K[4 * r + 2], K[4 * r + 3]);
    let t1 = _mm_add_epi32(m, k);
    st.cdgh = _mm_sha256rnds2_epu32(st.cdgh, st.abef, t1);
    let t2 = _mm_shuffle_epi32::<0x0E>(t1);
    st.abef = _mm_sha256rnds2_epu32(st.abef, st.cdgh, t2);
}

/// One block for each of two streams, interleaved round group by group.
#[allow(clippy::needless_range_loop)] // r and j index two arrays in lockstep
#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn compress2(st: &mut [St; 2], w: [[__m128i; 4]; 2]) {
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
            let t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8::<4>(w3, w2));
            let n = _mm_sha256msg2_epu32(t, w3);
            m[j] = [w1, w2, w3, n];
            rounds4(&mut st[j], r, n);
        }
    }
    for j in 0..2 {
        st[j].abef = _mm_add_epi32(st[j].abef, save[j].abef);
        st[j].cdgh = _mm_add_epi32(st[j].cdgh, save[j].cdgh);
    }
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn final_hash2(h1: [St; 2]) -> [St; 2] {
    let iv = to_st(&IV);
    let pad = lanes(0x8000_0000, 0, 0, 0);
    let len = lanes(0, 0, 0, 256);
    let [a0, e0] = from_st(h1[0]);
    let [a1, e1] = from_st(h1[1]);
    let mut st = [iv, iv];
    compress2(&mut st, [[a0, e0, pad, len], [a1, e1, pad, len]]);
    st
}

#[inline]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn header_words(h: &[u8; 80]) -> ([__m128i; 4], [__m128i; 4]) {
    let chunk = |i: usize| -> [u8; 16] {
        let mut c = [0u8; 16];
        c.copy_from_slice(&h[16 * i..16 * i + 16]);
        c
    };
    let b1 = [
        load_be(&chunk(0)),
        load_be(&chunk(1)),
        load_be(&chunk(2)),
        load_be(&chunk(3)),
    ];
    let b2 = [
        load_be(&chunk(4)),
        lanes(0x8000_0000, 0, 0, 0),
        _mm_setzero_si128(),
        lanes(0, 0, 0, 640),
    ];
    (b1, b2)
}

#[target_feature(enable = "sha,sse4.1,ssse3")]
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

#[target_feature(enable = "sha,sse4.1,ssse3")]
fn check_nonces_impl(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    let mid = to_st(&pre.mid);
    let pad = lanes(0x8000_0000, 0, 0, 0);
    let len = lanes(0, 0, 0, 640);
    let zero = _mm_setzero_si128();
    for (ns, os) in nonces.chunks(2).zip(out.chunks_mut(2)) {
        let n0 = ns[0];
        let n1 = ns.get(1).copied().unwrap_or(n0);
        let tail = |n: u32| lanes(pre.w[0], pre.w[1], pre.w[2], n.swap_bytes());
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
        // SAFETY: SHA, SSE4.1 and SSSE3 were detected at runtime just above.
        unsafe { hash_headers_impl(headers, out) }
    } else {
        crate::scalar::hash_headers(headers, out);
    }
}

pub(crate) fn check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    if supported() {
        // SAFETY: SHA, SSE4.1 and SSSE3 were detected at runtime just above.
        unsafe { check_nonces_impl(pre, nonces, target, out) }
    } else {
        crate::scalar::check_nonces(pre, nonces, target, out);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_block() {
        if !super::supported() {
            return;
        }
        let block = [7u8; 64];
        let mut want = crate::IV;
        sha2::block_api::compress256(&mut want, &[block]);
        #[target_feature(enable = "sha,sse4.1,ssse3")]
        fn run(block: &[u8; 64]) -> [u32; 8] {
            let iv = super::to_st(&crate::IV);
            let c = |i: usize| {
                let mut x = [0u8; 16];
                x.copy_from_slice(&block[16 * i..16 * i + 16]);
                super::load_be(&x)
            };
            let w = [c(0), c(1), c(2), c(3)];
            let mut st = [iv, iv];
            super::compress2(&mut st, [w, w]);
            let mut o = [0u32; 8];
            super::store(st[0], &mut o);
            let mut o2 = [0u32; 8];
            super::store(iv, &mut o2);
            assert_eq!(o2, crate::IV);
            o
        }
        // SAFETY: SHA, SSE4.1 and SSSE3 were detected at the top of the test.
        let got = unsafe { run(&block) };
        assert_eq!(got, want);
    }
}
