//! aarch64 NEON, 4 headers per vector: every state and message word of four
//! independent hashes sits in one `uint32x4_t` (the Raspberry Pi 4 path; its
//! Cortex-A72 has NEON but no SHA-2 instructions). NEON is part of the
//! aarch64 baseline: every CPU this build runs on has it.

use crate::lanes::{self, Lanes, MAX_LANES};
use crate::{NoncePre, Target};
use core::arch::aarch64::*;

#[derive(Clone, Copy)]
pub(crate) struct Neon(uint32x4_t);

macro_rules! neon {
    ($e:expr) => {
        // SAFETY: NEON is part of the aarch64 baseline (the intrinsics are
        // `#[target_feature(enable = "neon")]` functions, hence unsafe to call
        // from a plain function).
        unsafe { $e }
    };
}

/// rotr(x, n) as shift right then shift-left-and-insert: two instructions.
macro_rules! rotr {
    ($x:expr, $n:literal) => {
        vsliq_n_u32::<{ 32 - $n }>(vshrq_n_u32::<$n>($x), $x)
    };
}

impl Lanes for Neon {
    const N: usize = 4;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Neon(neon!(vdupq_n_u32(x)))
    }
    #[inline(always)]
    fn load(x: &[u32; MAX_LANES]) -> Self {
        // SAFETY: reads 4 words from an 8-word array.
        Neon(unsafe { vld1q_u32(x.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, out: &mut [u32; MAX_LANES]) {
        // SAFETY: writes 4 words into an 8-word array.
        unsafe { vst1q_u32(out.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Neon(neon!(vaddq_u32(self.0, o.0)))
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        let x = self.0;
        Neon(neon!(veorq_u32(
            veorq_u32(rotr!(x, 2), rotr!(x, 13)),
            rotr!(x, 22)
        )))
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        let x = self.0;
        Neon(neon!(veorq_u32(
            veorq_u32(rotr!(x, 6), rotr!(x, 11)),
            rotr!(x, 25)
        )))
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        let x = self.0;
        Neon(neon!(veorq_u32(
            veorq_u32(rotr!(x, 7), rotr!(x, 18)),
            vshrq_n_u32::<3>(x),
        )))
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        let x = self.0;
        Neon(neon!(veorq_u32(
            veorq_u32(rotr!(x, 17), rotr!(x, 19)),
            vshrq_n_u32::<10>(x),
        )))
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        Neon(neon!(vbslq_u32(e.0, f.0, g.0)))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        Neon(neon!(vbslq_u32(veorq_u32(a.0, b.0), c.0, a.0)))
    }
}

pub(crate) fn hash_headers(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    lanes::hash_headers::<Neon>(headers, out);
}

pub(crate) fn check_nonces(pre: &NoncePre, nonces: &[u32], target: &Target, out: &mut [bool]) {
    lanes::check_nonces::<Neon>(pre, nonces, target, out);
}

pub(crate) fn hash_messages(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    lanes::hash_messages::<Neon>(msgs, out);
}
