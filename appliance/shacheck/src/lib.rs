//! Batch SHA-256d share checking for 80-byte Bitcoin block headers.
//!
//! Three paths:
//! - **headers**: every header its own (sharechain sync: each share has its
//!   own merkle root), 3 compressions per header: [`Checker::check_headers`].
//! - **messages**: any lengths, many at once (coinbase txids, seeds):
//!   [`Checker::sha256d_messages`].
//! - **nonces**: one job, many nonces (ASIC results): the first 64 bytes are
//!   compressed once into a [`Midstate`] (one per rolled version), then 2
//!   compressions per nonce: [`Checker::check_nonces`].
//!
//! Backends ([`Backend`]): `scalar` (RustCrypto `sha2`), `neon` (aarch64,
//! 4 lanes), `ce` (aarch64 SHA-2 instructions), `sse2` (4 lanes), `avx2`
//! (8 lanes) and `shani` (x86 SHA extensions). [`Backend::detect`] picks the
//! fastest the CPU has; `HEARTH_SHA_BACKEND=<name>` forces one
//! ([`Backend::from_env`]).
//!
//! A hash passes when, read as a little-endian 256-bit number, it is less
//! than or equal to the target (inclusive boundary).
//!
//! `unsafe` is denied here and allowed only in the backend modules, where each
//! block documents its invariant (a CPU feature detected at runtime before a
//! `#[target_feature]` function is called, or an in-bounds pointer access).
#![deny(unsafe_code)]

mod backend;
mod lanes;
mod scalar;
mod target;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod ce;
#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod neon;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod shani;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

pub use backend::{Backend, BackendError, BACKEND_ENV};
pub use target::{Hash, Target, TargetError};

/// Length of a block header.
pub const HEADER_LEN: usize = 80;

/// Bad input to a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Header bytes whose length is not a multiple of 80.
    #[error("header data is {len} bytes, not a multiple of 80")]
    HeadersLength {
        /// The length given.
        len: usize,
    },
    /// One header of the wrong length.
    #[error("a header is 80 bytes, got {len}")]
    HeaderLength {
        /// The length given.
        len: usize,
    },
    /// Per-header targets whose count differs from the headers'.
    #[error("{targets} targets for {headers} headers")]
    TargetsLength {
        /// Headers given.
        headers: usize,
        /// Targets given.
        targets: usize,
    },
    /// A header's own nBits is invalid.
    #[error("header {index}: {source}")]
    BadBits {
        /// Which header.
        index: usize,
        /// Why.
        source: TargetError,
    },
    /// A midstate needs exactly the first 64 bytes.
    #[error("a midstate takes the first 64 header bytes, got {len}")]
    MidstateLength {
        /// The length given.
        len: usize,
    },
    /// The nonce path's tail: the last 16 header bytes, or a whole header.
    #[error("the header tail is 16 bytes (or a whole 80-byte header), got {len}")]
    TailLength {
        /// The length given.
        len: usize,
    },
    /// Hex text that is not a header.
    #[error("{0}")]
    Hex(String),
}

/// Targets for a batch of headers.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// One target for all.
    Same(Target),
    /// One per header, in order.
    Each(&'a [Target]),
    /// Each header's own nBits (bytes 72..76, little-endian).
    HeaderBits,
}

/// One header's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Its SHA-256d.
    pub hash: Hash,
    /// `hash <= target`.
    pub ok: bool,
}

/// SHA-256 of the first 64 header bytes (version, previous hash, first 28
/// bytes of the merkle root): compute once per job and rolled version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Midstate {
    state: [u32; 8],
}

impl Midstate {
    /// From the first 64 header bytes (exactly 64, or an error).
    pub fn new(first_64_bytes: &[u8]) -> Result<Midstate, CheckError> {
        let block: [u8; 64] =
            first_64_bytes
                .try_into()
                .map_err(|_| CheckError::MidstateLength {
                    len: first_64_bytes.len(),
                })?;
        let mut state = IV;
        sha2::block_api::compress256(&mut state, &[block]);
        Ok(Midstate { state })
    }

    /// The state words.
    pub fn state(&self) -> [u32; 8] {
        self.state
    }
}

/// The nBits field of a header.
pub fn header_bits(header: &[u8; 80]) -> u32 {
    u32::from_le_bytes([header[72], header[73], header[74], header[75]])
}

/// A header from its 160-hex-digit serialization (surrounding whitespace
/// ignored).
pub fn header_from_hex(text: &str) -> Result<[u8; 80], CheckError> {
    let t = text.trim();
    if t.len() != 160 {
        return Err(CheckError::Hex(format!(
            "a header is 160 hex digits, got {} characters",
            t.chars().count()
        )));
    }
    let mut out = [0u8; 80];
    let digits = t.as_bytes();
    for (i, o) in out.iter_mut().enumerate() {
        let hi = hex_val(digits[2 * i]);
        let lo = hex_val(digits[2 * i + 1]);
        match (hi, lo) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => {
                return Err(CheckError::Hex(format!(
                    "not a hex digit near position {}",
                    2 * i + 1
                )))
            }
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Headers from concatenated bytes; the length must be a multiple of 80.
pub fn headers_from_bytes(bytes: &[u8]) -> Result<Vec<[u8; 80]>, CheckError> {
    let chunks = bytes.chunks_exact(HEADER_LEN);
    if !chunks.remainder().is_empty() {
        return Err(CheckError::HeadersLength { len: bytes.len() });
    }
    Ok(chunks
        .map(|c| {
            let mut h = [0u8; 80];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// A SHA-256d checker bound to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checker {
    backend: Backend,
}

/// The fastest backend this CPU has ([`Checker::detect`]).
impl Default for Checker {
    fn default() -> Checker {
        Checker::detect()
    }
}

impl Checker {
    /// With `backend`, refused when this CPU lacks it.
    pub fn new(backend: Backend) -> Result<Checker, BackendError> {
        Backend::from_name(backend.name()).map(|backend| Checker { backend })
    }

    /// With the fastest backend this CPU has.
    pub fn detect() -> Checker {
        Checker {
            backend: Backend::detect(),
        }
    }

    /// With `HEARTH_SHA_BACKEND` when set, else the fastest.
    pub fn from_env() -> Result<Checker, BackendError> {
        Backend::from_env().map(|backend| Checker { backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SHA-256d of each header.
    pub fn hash_headers(&self, headers: &[[u8; 80]]) -> Vec<Hash> {
        let mut states = vec![[0u32; 8]; headers.len()];
        self.backend.hash_headers(headers, &mut states);
        states.iter().map(Hash::from_state).collect()
    }

    /// SHA-256d of each message, any lengths, in order (the digest bytes as
    /// `sha2` gives them: a Bitcoin txid's internal byte order).
    ///
    /// For many independent messages at once (a batch of shares' coinbase
    /// transactions, lottery seeds, merkle nodes): the lane backends (neon,
    /// sse2, avx2) hash 4 or 8 of them side by side, grouped by length, so a
    /// group costs its longest member's blocks; the others hash them one by
    /// one with `sha2`.
    pub fn sha256d_messages(&self, msgs: &[&[u8]]) -> Vec<Hash> {
        let mut states = vec![[0u32; 8]; msgs.len()];
        self.backend.hash_messages(msgs, &mut states);
        states.iter().map(Hash::from_state).collect()
    }

    /// SHA-256d of each header and whether it meets its target.
    pub fn check_headers(
        &self,
        headers: &[[u8; 80]],
        targets: Targets<'_>,
    ) -> Result<Vec<Checked>, CheckError> {
        let owned: Vec<Target>;
        let per: Option<&[Target]> = match targets {
            Targets::Same(_) => None,
            Targets::Each(ts) => {
                if ts.len() != headers.len() {
                    return Err(CheckError::TargetsLength {
                        headers: headers.len(),
                        targets: ts.len(),
                    });
                }
                Some(ts)
            }
            Targets::HeaderBits => {
                owned = headers
                    .iter()
                    .enumerate()
                    .map(|(index, h)| {
                        Target::from_compact(header_bits(h))
                            .map_err(|source| CheckError::BadBits { index, source })
                    })
                    .collect::<Result<_, _>>()?;
                Some(&owned)
            }
        };
        let mut states = vec![[0u32; 8]; headers.len()];
        self.backend.hash_headers(headers, &mut states);
        Ok(states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ok = match (per, targets) {
                    (Some(ts), _) => ts[i].is_met_by_state(s),
                    (None, Targets::Same(t)) => t.is_met_by_state(s),
                    (None, _) => false,
                };
                Checked {
                    hash: Hash::from_state(s),
                    ok,
                }
            })
            .collect())
    }

    /// [`Checker::check_headers`] on concatenated header bytes (length a
    /// multiple of 80, else an error).
    pub fn check_header_bytes(
        &self,
        bytes: &[u8],
        targets: Targets<'_>,
    ) -> Result<Vec<Checked>, CheckError> {
        self.check_headers(&headers_from_bytes(bytes)?, targets)
    }

    /// Verdicts (`hash <= target`) for `nonces` placed in one job: `midstate`
    /// of the first 64 bytes and `tail`, the last 16 header bytes (merkle
    /// root tail, time, nBits, nonce; its nonce is replaced) or the whole
    /// 80-byte header template.
    ///
    /// Exact shortcuts (no verdict can differ from the full computation):
    /// - rounds 0-2 of the second block read only message words 0-2 (merkle
    ///   tail, time, bits), so the state after them is computed once per
    ///   call, and schedule words 16-17 (and all but a nonce term of 18-19)
    ///   are constants;
    /// - early stop: in the final SHA-256, state word `H[7]` is `IV[7] + h`
    ///   after round 63, and `h` after round 63 is `e` after round 60, so
    ///   `H[7]` is exact after 61 of the 64 rounds. `H[7]` byte-swapped is the
    ///   most significant 32 bits of the hash as a number: above the target's
    ///   top 32 bits means above the target, below means below; only when
    ///   equal are the last 3 rounds run and the full hash compared. The lane
    ///   backends (neon, sse2, avx2) stop early; scalar, ce and shani compute
    ///   whole blocks (their round instructions do 2 or 4 rounds at once).
    pub fn check_nonces(
        &self,
        midstate: &Midstate,
        tail: &[u8],
        nonces: &[u32],
        target: &Target,
    ) -> Result<Vec<bool>, CheckError> {
        let tail = match tail.len() {
            16 => tail,
            80 => &tail[64..],
            len => return Err(CheckError::TailLength { len }),
        };
        let pre = NoncePre::new(midstate, tail);
        let mut out = vec![false; nonces.len()];
        self.backend.check_nonces(&pre, nonces, target, &mut out);
        Ok(out)
    }
}

/// Per-job precomputation for the nonce path (see [`Checker::check_nonces`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoncePre {
    /// Midstate.
    pub(crate) mid: [u32; 8],
    /// Message words 0..3 of the second block (big-endian reads).
    pub(crate) w: [u32; 3],
    /// Working state a..h after rounds 0, 1, 2 of the second block.
    pub(crate) s3: [u32; 8],
    /// W16 and W17 (constant).
    pub(crate) w16: u32,
    pub(crate) w17: u32,
    /// W18 minus σ0(W3), and W19 minus W3.
    pub(crate) w18p: u32,
    pub(crate) w19p: u32,
}

fn ssig0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
fn ssig1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

impl NoncePre {
    fn new(mid: &Midstate, tail: &[u8]) -> NoncePre {
        let w: [u32; 3] = core::array::from_fn(|i| {
            u32::from_be_bytes([
                tail[4 * i],
                tail[4 * i + 1],
                tail[4 * i + 2],
                tail[4 * i + 3],
            ])
        });
        let mut s = mid.state;
        for (t, wt) in w.iter().enumerate() {
            let [a, b, c, d, e, f, g, h] = s;
            let t1 = h
                .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
                .wrapping_add((e & f) ^ (!e & g))
                .wrapping_add(K[t])
                .wrapping_add(*wt);
            let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22))
                .wrapping_add((a & b) ^ (a & c) ^ (b & c));
            s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        // W[4] = 0x80000000, W[5..15] = 0, W[15] = 640.
        let w16 = ssig0(w[1]).wrapping_add(w[0]);
        let w17 = ssig1(640).wrapping_add(ssig0(w[2])).wrapping_add(w[1]);
        let w18p = ssig1(w16).wrapping_add(w[2]);
        let w19p = ssig1(w17).wrapping_add(ssig0(0x8000_0000));
        NoncePre {
            mid: mid.state,
            w,
            s3: s,
            w16,
            w17,
            w18p,
            w19p,
        }
    }
}

pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
