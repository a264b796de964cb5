//! SHA-256d written once over a "lanes" vector type: every state and message
//! word is one vector holding the same word of N independent hashes. The NEON
//! (4 lanes), SSE2 (4) and AVX2 (8) backends instantiate it inside functions
//! compiled for their CPU feature. No `unsafe` here.
//!
//! Rounds are fully unrolled (the `rounds!` macro expands literal round
//! numbers, so state rotation and message-window indices are constants and
//! everything lives in registers); the message schedule is computed in the
//! round that needs it (interleaved, a 16-word rolling window).

use crate::{NoncePre, Target, IV, K};

/// One vector of `N` 32-bit lanes.
pub(crate) trait Lanes: Copy {
    /// Lanes per vector (at most [`MAX_LANES`]).
    const N: usize;
    fn splat(x: u32) -> Self;
    /// The first `N` words.
    fn load(x: &[u32; MAX_LANES]) -> Self;
    /// Into the first `N` words.
    fn store(self, out: &mut [u32; MAX_LANES]);
    fn add(self, o: Self) -> Self;
    /// Σ0: rotr 2 ^ rotr 13 ^ rotr 22.
    fn bsig0(self) -> Self;
    /// Σ1: rotr 6 ^ rotr 11 ^ rotr 25.
    fn bsig1(self) -> Self;
    /// σ0: rotr 7 ^ rotr 18 ^ shr 3.
    fn ssig0(self) -> Self;
    /// σ1: rotr 17 ^ rotr 19 ^ shr 10.
    fn ssig1(self) -> Self;
    /// (e & f) ^ (!e & g).
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// Majority of a, b, c.
    fn maj(a: Self, b: Self, c: Self) -> Self;
}

pub(crate) const MAX_LANES: usize = 8;

/// Slot of logical register `k` (0 = a … 7 = h) before round `t`: the state
/// array is never shuffled, the names rotate instead.
#[inline(always)]
const fn ix(t: usize, k: usize) -> usize {
    (k + 8 - (t % 8)) % 8
}

#[inline(always)]
fn round<V: Lanes>(s: &mut [V; 8], t: usize, kw: V) {
    let a = s[ix(t, 0)];
    let b = s[ix(t, 1)];
    let c = s[ix(t, 2)];
    let d = s[ix(t, 3)];
    let e = s[ix(t, 4)];
    let f = s[ix(t, 5)];
    let g = s[ix(t, 6)];
    let h = s[ix(t, 7)];
    let t1 = h.add(e.bsig1()).add(V::ch(e, f, g)).add(kw);
    let t2 = a.bsig0().add(V::maj(a, b, c));
    s[ix(t, 3)] = d.add(t1);
    s[ix(t, 7)] = t1.add(t2);
}

/// Message word `t` (computing it in the window when `t >= 16`) plus K[t].
#[inline(always)]
fn kw<V: Lanes>(w: &mut [V; 16], t: usize) -> V {
    if t >= 16 {
        w[t % 16] = w[(t - 2) % 16]
            .ssig1()
            .add(w[(t - 7) % 16])
            .add(w[(t - 15) % 16].ssig0())
            .add(w[t % 16]);
    }
    V::splat(K[t]).add(w[t % 16])
}

macro_rules! rounds {
    ($s:ident, $w:ident, $($t:literal)*) => {
        $( round(&mut $s, $t, kw(&mut $w, $t)); )*
    };
}

/// One compression: `state` + 64 rounds over `w`.
#[inline(always)]
fn compress<V: Lanes>(state: &[V; 8], mut w: [V; 16]) -> [V; 8] {
    let mut s = *state;
    rounds!(s, w, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
        16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
        48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    let mut out = s;
    for k in 0..8 {
        out[k] = state[k].add(s[k]);
    }
    out
}

#[inline(always)]
fn splat8<V: Lanes>(x: &[u32; 8]) -> [V; 8] {
    [
        V::splat(x[0]),
        V::splat(x[1]),
        V::splat(x[2]),
        V::splat(x[3]),
        V::splat(x[4]),
        V::splat(x[5]),
        V::splat(x[6]),
        V::splat(x[7]),
    ]
}

/// The third block: the 32-byte first hash plus constant padding.
#[inline(always)]
fn third_block<V: Lanes>(h1: &[V; 8]) -> [V; 16] {
    let z = V::splat(0);
    [
        h1[0],
        h1[1],
        h1[2],
        h1[3],
        h1[4],
        h1[5],
        h1[6],
        h1[7],
        V::splat(0x8000_0000),
        z,
        z,
        z,
        z,
        z,
        z,
        V::splat(256),
    ]
}

/// SHA-256d of up to `N` headers at once per group; `out[i]` receives the
/// final state words of the second SHA-256 of `headers[i]`.
#[inline(always)]
pub(crate) fn hash_headers<V: Lanes>(headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
    let iv = splat8::<V>(&IV);
    for (hs, os) in headers.chunks(V::N).zip(out.chunks_mut(V::N)) {
        // Transpose: word j of every lane.
        let mut words = [[0u32; MAX_LANES]; 20];
        for (lane, h) in hs.iter().enumerate() {
            for (j, w) in words.iter_mut().enumerate() {
                w[lane] = u32::from_be_bytes([h[4 * j], h[4 * j + 1], h[4 * j + 2], h[4 * j + 3]]);
            }
        }
        let mut w1 = [V::splat(0); 16];
        for (j, w) in w1.iter_mut().enumerate() {
            *w = V::load(&words[j]);
        }
        let mid = compress(&iv, w1);
        let z = V::splat(0);
        let w2 = [
            V::load(&words[16]),
            V::load(&words[17]),
            V::load(&words[18]),
            V::load(&words[19]),
            V::splat(0x8000_0000),
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            V::splat(640),
        ];
        let h1 = compress(&mid, w2);
        let h2 = compress(&iv, third_block(&h1));
        let mut lanes = [[0u32; MAX_LANES]; 8];
        for (k, l) in lanes.iter_mut().enumerate() {
            h2[k].store(l);
        }
        for (lane, o) in os.iter_mut().enumerate() {
            for k in 0..8 {
                o[k] = lanes[k][lane];
            }
        }
    }
}

/// The nonce path: second block from the job's precomputed state after
/// round 2, third block stopped after round 60 when `H[7]` already decides
/// every lane (see [`crate::Checker::check_nonces`]).
#[inline(always)]
pub(crate) fn check_nonces<V: Lanes>(
    pre: &NoncePre,
    nonces: &[u32],
    target: &Target,
    out: &mut [bool],
) {
    let iv = splat8::<V>(&IV);
    let mid = splat8::<V>(&pre.mid);
    let z = V::splat(0);
    let top = target.top_limb();
    for (ns, os) in nonces.chunks(V::N).zip(out.chunks_mut(V::N)) {
        let mut nw = [0u32; MAX_LANES];
        for (lane, n) in ns.iter().enumerate() {
            nw[lane] = n.swap_bytes();
        }
        let w3 = V::load(&nw);
        // Block 2, rounds 3.. (rounds 0-2 don't depend on the nonce).
        let mut s = [z; 8];
        for k in 0..8 {
            s[ix(3, k)] = V::splat(pre.s3[k]);
        }
        let mut w = [
            V::splat(pre.w[0]),
            V::splat(pre.w[1]),
            V::splat(pre.w[2]),
            w3,
            V::splat(0x8000_0000),
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            z,
            V::splat(640),
        ];
        rounds!(s, w, 3 4 5 6 7 8 9 10 11 12 13 14 15);
        // W16, W17 are constant; W18, W19 constant plus a nonce term.
        w[0] = V::splat(pre.w16);
        round(&mut s, 16, V::splat(pre.w16.wrapping_add(K[16])));
        w[1] = V::splat(pre.w17);
        round(&mut s, 17, V::splat(pre.w17.wrapping_add(K[17])));
        w[2] = V::splat(pre.w18p).add(w3.ssig0());
        round(&mut s, 18, V::splat(K[18]).add(w[2]));
        w[3] = V::splat(pre.w19p).add(w3);
        round(&mut s, 19, V::splat(K[19]).add(w[3]));
        rounds!(s, w, 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
            48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
        let mut h1 = s;
        for k in 0..8 {
            h1[k] = mid[k].add(s[k]);
        }
        // Block 3 up to round 60: then e = h after 64 rounds, so H7 is known.
        let mut w = third_block(&h1);
        let mut s = iv;
        rounds!(s, w, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
            16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
            48 49 50 51 52 53 54 55 56 57 58 59 60);
        let mut h7 = [0u32; MAX_LANES];
        iv[7].add(s[ix(61, 4)]).store(&mut h7);
        let mut undecided = false;
        for (lane, o) in os.iter_mut().enumerate() {
            let v = h7[lane].swap_bytes();
            *o = v < top;
            undecided |= v == top;
        }
        if !undecided {
            continue;
        }
        rounds!(s, w, 61 62 63);
        let mut lanes = [[0u32; MAX_LANES]; 8];
        for k in 0..8 {
            iv[k].add(s[k]).store(&mut lanes[k]);
        }
        for (lane, o) in os.iter_mut().enumerate() {
            if h7[lane].swap_bytes() == top {
                let st: [u32; 8] = core::array::from_fn(|k| lanes[k][lane]);
                *o = target.is_met_by_state(&st);
            }
        }
    }
}

/// Blocks in the SHA-256 padding of a `len`-byte message: the bytes, 0x80,
/// zeros, and the 64-bit bit length.
#[inline(always)]
pub(crate) fn padded_blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// Block `b` of the padded `msg` as big-endian words (`b < padded_blocks`).
/// Whole blocks are read in place; only the last one or two are copied to
/// be padded.
#[inline(always)]
pub(crate) fn padded_block_words(msg: &[u8], b: usize) -> [u32; 16] {
    let start = 64 * b;
    let mut block = [0u8; 64];
    match msg.get(start..start + 64) {
        Some(whole) => block.copy_from_slice(whole),
        None => {
            let rest = msg.get(start..).unwrap_or(&[]);
            block[..rest.len()].copy_from_slice(rest);
            if start <= msg.len() {
                block[rest.len()] = 0x80;
            }
            if b + 1 == padded_blocks(msg.len()) {
                let bits = (msg.len() as u64).wrapping_mul(8);
                block[56..].copy_from_slice(&bits.to_be_bytes());
            }
        }
    }
    core::array::from_fn(|j| {
        u32::from_be_bytes([
            block[4 * j],
            block[4 * j + 1],
            block[4 * j + 2],
            block[4 * j + 3],
        ])
    })
}

/// SHA-256d of messages of any lengths, `N` at a time: `out[i]` receives
/// the final state words of `sha256(sha256(msgs[i]))`.
///
/// Lanes run in lockstep, so a group costs its longest message's blocks;
/// the messages are grouped in order of length (stable), so messages of
/// nearly one length (the coinbases of one window) share a group. A lane
/// whose message ends early has its state taken after its last block; the
/// blocks after that are computed on zeros and dropped.
#[inline(always)]
pub(crate) fn hash_messages<V: Lanes>(msgs: &[&[u8]], out: &mut [[u32; 8]]) {
    let iv = splat8::<V>(&IV);
    let mut order: Vec<usize> = (0..msgs.len().min(out.len())).collect();
    order.sort_by_key(|&i| padded_blocks(msgs[i].len()));
    for group in order.chunks(V::N) {
        let blocks: [usize; MAX_LANES] = core::array::from_fn(|lane| {
            group.get(lane).map_or(0, |&i| padded_blocks(msgs[i].len()))
        });
        let most = blocks.iter().copied().max().unwrap_or(0);
        let mut state = iv;
        let mut first = [[0u32; MAX_LANES]; 8];
        for b in 0..most {
            let mut words = [[0u32; MAX_LANES]; 16];
            for (lane, &i) in group.iter().enumerate() {
                if b < blocks[lane] {
                    let w = padded_block_words(msgs[i], b);
                    for (j, wj) in w.iter().enumerate() {
                        words[j][lane] = *wj;
                    }
                }
            }
            let w: [V; 16] = core::array::from_fn(|j| V::load(&words[j]));
            state = compress(&state, w);
            if blocks[..group.len()].contains(&(b + 1)) {
                let mut lanes = [[0u32; MAX_LANES]; 8];
                for (k, l) in lanes.iter_mut().enumerate() {
                    state[k].store(l);
                }
                for lane in 0..group.len() {
                    if blocks[lane] == b + 1 {
                        for k in 0..8 {
                            first[k][lane] = lanes[k][lane];
                        }
                    }
                }
            }
        }
        let h1: [V; 8] = core::array::from_fn(|k| V::load(&first[k]));
        let h2 = compress(&iv, third_block(&h1));
        let mut lanes = [[0u32; MAX_LANES]; 8];
        for (k, l) in lanes.iter_mut().enumerate() {
            h2[k].store(l);
        }
        for (lane, &i) in group.iter().enumerate() {
            out[i] = core::array::from_fn(|k| lanes[k][lane]);
        }
    }
}
