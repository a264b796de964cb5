//! x86-64 lane backends: SSE2 (4 headers per vector, baseline on x86-64) and
//! AVX2 (8 headers per vector, detected at runtime).

use crate::lanes::{self, Lanes, MAX_LANES};
use crate::{NoncePre, Target};
use core::arch::x86_64::*;

/// Four lanes in an SSE2 register.
#[derive(Clone, Copy)]
pub(crate) struct Sse2(__m128i);

macro_rules! sse {
    ($e:expr) => {
        // SAFETY: SSE2 is part of the x86-64 baseline: every CPU this build
        // runs on has it (the intrinsics are `#[target_feature(enable =
        // "sse2")]` functions, hence unsafe to call from a plain function).
        unsafe { $e }
    };
}

macro_rules! rotr3 {
    ($sr:ident, $sl:ident, $xor:ident, $x:expr, $a:literal, $b:literal, $c:literal) => {{
        let x = $x;
        let r = $xor($xor($sr::<$a>(x), $sr::<$b>(x)), $sr::<$c>(x));
        let l = $xor(
            $xor($sl::<{ 32 - $a }>(x), $sl::<{ 32 - $b }>(x)),
            $sl::<{ 32 - $c }>(x),
        );
        $xor(r, l)
    }};
}

macro_rules! rotr2_shr {
    ($sr:ident, $sl:ident, $xor:ident, $x:expr, $a:literal, $b:literal, $s:literal) => {{
        let x = $x;
        let r = $xor($xor($sr::<$a>(x), $sr::<$b>(x)), $sr::<$s>(x));
        let l = $xor($sl::<{ 32 - $a }>(x), $sl::<{ 32 - $b }>(x));
        $xor(r, l)
    }};
}

impl Lanes for Sse2 {
    const N: usize = 4;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Sse2(sse!(_mm_set1_epi32(x as i32)))
    }
    #[inline(always)]
    fn load(x: &[u32; MAX_LANES]) -> Self {
        // SAFETY: reads 16 bytes from a 32-byte array; unaligned load.
        Sse2(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
    }
    #[inline(always)]
    fn store(self, out: &mut [u32; MAX_LANES]) {
        // SAFETY: writes 16 bytes into a 32-byte array; unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), self.0) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Sse2(sse!(_mm_add_epi32(self.0, o.0)))
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        Sse2(sse!(rotr3!(
            _mm_srli_epi32,
            _mm_slli_epi32,
            _mm_xor_si128,
            self.0,
            2,
            13,
            22
        )))
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        Sse2(sse!(rotr3!(
            _mm_srli_epi32,
            _mm_slli_epi32,
            _mm_xor_si128,
            self.0,
            6,
            11,
            25
        )))
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        Sse2(sse!(rotr2_shr!(
            _mm_srli_epi32,
            _mm_slli_epi32,
            _mm_xor_si128,
            self.0,
            7,
            18,
            3
        )))
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        Sse2(sse!(rotr2_shr!(
            _mm_srli_epi32,
            _mm_slli_epi32,
            _mm_xor_si128,
            self.0,
            17,
            19,
            10
        )))
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        Sse2(sse!(_mm_xor_si128(
            _mm_and_si128(_mm_xor_si128(f.0, g.0), e.0),
            g.0
        )))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        Sse2(sse!(_mm_xor_si128(
            _mm_and_si128(_mm_xor_si128(b.0, c.0), a.0),
            _mm_and_si128(b.0, c.0)
        )))
    }
}

pub(crate) fn sse2_hash_headers(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    lanes::hash_headers::<Sse2>(headers, out);
}

pub(crate) fn sse2_hash_messages(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    lanes::hash_messages::<Sse2>(msgs, out);
}

pub(crate) fn sse2_check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    lanes::check_nonces::<Sse2>(pre, nonces, target, out);
}

/// Eight lanes in an AVX2 register.
///
/// Invariant: values of this type are only created and used inside the
/// `#[target_feature(enable = "avx2")]` functions below, which are only
/// called after `is_x86_feature_detected!("avx2")` returned true. That is
/// what makes every `unsafe` intrinsic call in this impl sound.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256i);

macro_rules! avx {
    ($e:expr) => {
        // SAFETY: see the invariant on `Avx2`: AVX2 was detected at runtime
        // before any code using this type runs.
        unsafe { $e }
    };
}

impl Lanes for Avx2 {
    const N: usize = 8;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Avx2(avx!(_mm256_set1_epi32(x as i32)))
    }
    #[inline(always)]
    fn load(x: &[u32; MAX_LANES]) -> Self {
        // Also reads exactly the 32 bytes of the array (unaligned load).
        Avx2(avx!(_mm256_loadu_si256(x.as_ptr().cast())))
    }
    #[inline(always)]
    fn store(self, out: &mut [u32; MAX_LANES]) {
        // Also writes exactly the 32 bytes of the array.
        avx!(_mm256_storeu_si256(out.as_mut_ptr().cast(), self.0))
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Avx2(avx!(_mm256_add_epi32(self.0, o.0)))
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        Avx2(avx!(rotr3!(
            _mm256_srli_epi32,
            _mm256_slli_epi32,
            _mm256_xor_si256,
            self.0,
            2,
            13,
            22
        )))
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        Avx2(avx!(rotr3!(
            _mm256_srli_epi32,
            _mm256_slli_epi32,
            _mm256_xor_si256,
            self.0,
            6,
            11,
            25
        )))
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        Avx2(avx!(rotr2_shr!(
            _mm256_srli_epi32,
            _mm256_slli_epi32,
            _mm256_xor_si256,
            self.0,
            7,
            18,
            3
        )))
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        Avx2(avx!(rotr2_shr!(
            _mm256_srli_epi32,
            _mm256_slli_epi32,
            _mm256_xor_si256,
            self.0,
            17,
            19,
            10
        )))
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        Avx2(avx!(_mm256_xor_si256(
            _mm256_and_si256(_mm256_xor_si256(f.0, g.0), e.0),
            g.0
        )))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        Avx2(avx!(_mm256_xor_si256(
            _mm256_and_si256(_mm256_xor_si256(b.0, c.0), a.0),
            _mm256_and_si256(b.0, c.0)
        )))
    }
}

pub(crate) fn avx2_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[target_feature(enable = "avx2")]
fn avx2_hash_headers_impl(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    lanes::hash_headers::<Avx2>(headers, out);
}

#[target_feature(enable = "avx2")]
fn avx2_hash_messages_impl(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    lanes::hash_messages::<Avx2>(msgs, out);
}

#[target_feature(enable = "avx2")]
fn avx2_check_nonces_impl(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    lanes::check_nonces::<Avx2>(pre, nonces, target, out);
}

pub(crate) fn avx2_hash_headers(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    if avx2_supported() {
        // SAFETY: AVX2 was detected at runtime just above.
        unsafe { avx2_hash_headers_impl(headers, out) }
    } else {
        crate::scalar::hash_headers(headers, out);
    }
}

pub(crate) fn avx2_check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    if avx2_supported() {
        // SAFETY: AVX2 was detected at runtime just above.
        unsafe { avx2_check_nonces_impl(pre, nonces, target, out) }
    } else {
        crate::scalar::check_nonces(pre, nonces, target, out);
    }
}

pub(crate) fn avx2_hash_messages(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    if avx2_supported() {
        // SAFETY: AVX2 was detected at runtime just above.
        unsafe { avx2_hash_messages_impl(msgs, out) }
    } else {
        crate::scalar::hash_messages(msgs, out);
    }
}
