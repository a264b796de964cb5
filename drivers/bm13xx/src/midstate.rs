//! BM1397 midstate job frames: the host hashes the first 64 header bytes
//! once per rolled version and sends the chips up to four SHA-256 midstates
//! plus the 12 header bytes of the second block they still need.
//!
//! # Wire layout (`24 + 32 x N` bytes, N = 1..=4 midstates)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | preamble `55 AA` |
//! | 2 | 1 | type/flags `0x21` (job, single, cmd 1) |
//! | 3 | 1 | length byte `22 + 32 x N` (0x36, 0x56, 0x76, 0x96): the bytes after the preamble |
//! | 4 | 1 | job id in bits 7-2 (`job_id << 2`), bits 1-0 clear |
//! | 5 | 1 | number of midstates N |
//! | 6 | 4 | starting nonce, little-endian |
//! | 10 | 4 | nbits, little-endian |
//! | 14 | 4 | ntime, little-endian |
//! | 18 | 4 | merkle root tail: header bytes 64..68 (the root's last 4 bytes), as in the header |
//! | 22 | 32 x N | midstates, see below |
//! | 22 + 32N | 2 | CRC16 CCITT-FALSE over bytes 2.., most significant byte first |
//!
//! Midstate `k` is the SHA-256 state after compressing header bytes 0..64
//! with version `k` ([`crate::registers::version::midstate_version`]). On the
//! wire its eight state words go last word first, each little-endian: the
//! reverse of the usual big-endian serialization `H0 .. H7` (ESP-Miner's
//! `flip32bytes` then `reverse_bytes`).
//!
//! The nonce response is the 9-byte frame of [`crate::response`]: the result
//! header's bits 7-2 carry the job id and bits 1-0 the index of the midstate
//! (hence version) the nonce was found with
//! ([`crate::ChipKind::result_header_layout`]).
//!
//! # Sources and what is verified
//!
//! - Field order, the length byte, the CRC16 and the LE integers: a public
//!   bus capture of a BM1397 job (`55 AA 21 96 04 04 ...`, the Bitaxe
//!   project's protocol notes), which [`decode_midstate_job`] decodes with a
//!   valid CRC (see the tests), and ESP-Miner's `job_packet`.
//! - Midstate value: ESP-Miner's job-construction test vector (state
//!   `91DFEA52...` for its sample header, words printed little-endian),
//!   reproduced in the tests.
//! - Midstate byte order on the wire (`H7 .. H0`, each little-endian):
//!   current ESP-Miner (`flip32bytes` then `reverse_bytes`) and cgminer's
//!   GekkoScience BM1397 driver (big-endian words, whole 32 bytes reversed)
//!   agree; an older ESP-Miner test expects `H7 .. H0` big-endian instead.
//!   No capture with a known header pins it down (*unverified*).
//! - The merkle tail bytes in header order: ESP-Miner copies them unchanged
//!   (*unverified* against a capture with a known header).
//! - Job ids: ESP-Miner steps by 4 and keeps the byte below 128 ("weird
//!   logic with the job id bits"); this codec accepts the 6-bit id the
//!   response layout can return, 0..=63 (*unverified* above 31).
//! - ESP-Miner sends a four-slot frame (length 0x96) even when it declares one
//!   midstate; [`decode_midstate_job`] accepts a count below the slots the
//!   length byte gives and keeps only the declared midstates.

use crate::command::COMMAND_PREAMBLE;
use crate::crc::crc16;
use crate::error::{DecodeError, MidstateError};
use crate::job::{JobFrame, JobId, BLOCK_HEADER_LEN, JOB_TYPE_BYTE};
use crate::registers::version::midstate_version;

/// Most midstates one job carries.
pub const MAX_MIDSTATES: usize = 4;
/// Bytes of a midstate job frame with the most midstates.
pub const MAX_MIDSTATE_JOB_LEN: usize = midstate_job_len(MAX_MIDSTATES as u8);
/// Largest midstate job id (6 bits).
const MAX_MIDSTATE_JOB_ID: u8 = 63;
/// Offset of the first midstate.
const MIDSTATES_AT: usize = 22;

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Frame bytes for `count` midstates: `24 + 32 x count`.
#[must_use]
pub const fn midstate_job_len(count: u8) -> usize {
    24 + 32 * count as usize
}

/// The length byte for `count` midstates: `22 + 32 x count`.
#[must_use]
pub const fn midstate_length_byte(count: u8) -> u8 {
    22u8.wrapping_add(32u8.wrapping_mul(count))
}

/// Slots a length byte gives room for, if it is a midstate job's.
#[must_use]
pub const fn slots_for_length_byte(length_byte: u8) -> Option<u8> {
    match length_byte {
        0x36 => Some(1),
        0x56 => Some(2),
        0x76 => Some(3),
        0x96 => Some(4),
        _ => None,
    }
}

/// The SHA-256 state after compressing one 64-byte block from the initial
/// value: the midstate of a header's first 64 bytes (version, previous block
/// hash, merkle root bytes 0..28).
#[must_use]
pub fn sha256_midstate(first_block: &[u8; 64]) -> [u32; 8] {
    let mut state = SHA256_IV;
    sha2::block_api::compress256(&mut state, core::slice::from_ref(first_block));
    state
}

/// The midstate of an 80-byte header (its first 64 bytes).
#[must_use]
pub fn header_midstate(header: &[u8; BLOCK_HEADER_LEN]) -> [u32; 8] {
    let mut first = [0u8; 64];
    first.copy_from_slice(&header[..64]);
    sha256_midstate(&first)
}

/// A midstate as the chip takes it: words `H7 .. H0`, each little-endian.
#[must_use]
pub fn midstate_wire_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state.iter().rev()) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Inverse of [`midstate_wire_bytes`].
#[must_use]
pub fn midstate_from_wire(bytes: &[u8; 32]) -> [u32; 8] {
    let mut state = [0u32; 8];
    for (word, chunk) in state.iter_mut().rev().zip(bytes.chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(chunk);
        *word = u32::from_le_bytes(le);
    }
    state
}

/// A 6-bit midstate job id (0..=63), sent as `id << 2` and returned in the
/// nonce response's result-header bits 7-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MidstateJobId(u8);

impl MidstateJobId {
    /// A job id.
    ///
    /// # Errors
    /// [`MidstateError::InvalidJobId`] above 63.
    pub const fn new(id: u8) -> Result<MidstateJobId, MidstateError> {
        if id <= MAX_MIDSTATE_JOB_ID {
            Ok(MidstateJobId(id))
        } else {
            Err(MidstateError::InvalidJobId(id))
        }
    }

    /// The id, 0..=63.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The job-id byte: id in bits 7-2.
    #[must_use]
    pub const fn header_byte(self) -> u8 {
        self.0 << 2
    }
}

impl From<JobId> for MidstateJobId {
    /// The 4-bit full-header job ids are a subset.
    fn from(id: JobId) -> Self {
        MidstateJobId(id.get())
    }
}

/// A BM1397 midstate job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MidstateJobFrame {
    /// Matches nonce responses back to this job.
    pub job_id: MidstateJobId,
    /// Where the chips' nonce counters start; 0 in every capture.
    pub starting_nonce: u32,
    /// Compact target.
    pub nbits: u32,
    /// Block time.
    pub ntime: u32,
    /// Header bytes 64..68: the merkle root's last four bytes in header order.
    pub merkle_root_tail: [u8; 4],
    midstates: [[u32; 8]; MAX_MIDSTATES],
    count: u8,
}

impl MidstateJobFrame {
    /// A job from explicit midstates (1..=4, SHA-256 state words).
    ///
    /// # Errors
    /// [`MidstateError::InvalidCount`] for an empty or too long list.
    pub fn new(
        job_id: MidstateJobId,
        starting_nonce: u32,
        nbits: u32,
        ntime: u32,
        merkle_root_tail: [u8; 4],
        midstates: &[[u32; 8]],
    ) -> Result<MidstateJobFrame, MidstateError> {
        let count = midstates.len();
        if count == 0 || count > MAX_MIDSTATES {
            return Err(MidstateError::InvalidCount(
                u8::try_from(count).unwrap_or(u8::MAX),
            ));
        }
        let mut slots = [[0u32; 8]; MAX_MIDSTATES];
        for (slot, state) in slots.iter_mut().zip(midstates) {
            *slot = *state;
        }
        Ok(MidstateJobFrame {
            job_id,
            starting_nonce,
            nbits,
            ntime,
            merkle_root_tail,
            midstates: slots,
            count: count as u8,
        })
    }

    /// Build the job for `fields` (a full-header job's fields; its job id is
    /// not used) with `count` midstates: midstate `k` hashes version
    /// `midstate_version(fields.version, version_mask, k)`, so midstate 0 is
    /// `fields.version` itself. With an empty mask every midstate would be
    /// the same; pass `count = 1` then.
    ///
    /// # Errors
    /// [`MidstateError::InvalidCount`] outside 1..=4.
    pub fn from_fields(
        job_id: MidstateJobId,
        fields: &JobFrame,
        version_mask: u32,
        count: u8,
    ) -> Result<MidstateJobFrame, MidstateError> {
        if count == 0 || usize::from(count) > MAX_MIDSTATES {
            return Err(MidstateError::InvalidCount(count));
        }
        let mut slots = [[0u32; 8]; MAX_MIDSTATES];
        let mut header = fields.block_header(0, fields.version);
        for (index, slot) in (0..count).zip(slots.iter_mut()) {
            let version = midstate_version(fields.version, version_mask, index);
            header[0..4].copy_from_slice(&version.to_le_bytes());
            *slot = header_midstate(&header);
        }
        let mut merkle_root_tail = [0u8; 4];
        merkle_root_tail.copy_from_slice(&fields.merkle_root[28..32]);
        Ok(MidstateJobFrame {
            job_id,
            starting_nonce: fields.starting_nonce,
            nbits: fields.nbits,
            ntime: fields.ntime,
            merkle_root_tail,
            midstates: slots,
            count,
        })
    }

    /// Midstates carried, 1..=4.
    #[must_use]
    pub const fn count(&self) -> u8 {
        self.count
    }

    /// The midstates (SHA-256 state words), index order.
    #[must_use]
    pub fn midstates(&self) -> &[[u32; 8]] {
        self.midstates
            .get(..usize::from(self.count))
            .unwrap_or(&self.midstates)
    }

    /// Bytes this frame encodes to.
    #[must_use]
    pub const fn frame_len(&self) -> usize {
        midstate_job_len(self.count)
    }

    /// Encode into `out`, returning the bytes written.
    ///
    /// # Errors
    /// [`crate::EncodeError::BufferTooSmall`] if `out` is shorter than
    /// [`MidstateJobFrame::frame_len`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        let len = self.frame_len();
        let available = out.len();
        let dest = out
            .get_mut(..len)
            .ok_or(crate::EncodeError::BufferTooSmall {
                needed: len,
                available,
            })?;
        dest.copy_from_slice(self.to_bytes().as_bytes());
        Ok(len)
    }

    /// Encode, held inline.
    #[must_use]
    pub fn to_bytes(&self) -> MidstateJobBytes {
        let mut bytes = [0u8; MAX_MIDSTATE_JOB_LEN];
        let len = self.frame_len();
        bytes[0..2].copy_from_slice(&COMMAND_PREAMBLE);
        bytes[2] = JOB_TYPE_BYTE;
        bytes[3] = midstate_length_byte(self.count);
        bytes[4] = self.job_id.header_byte();
        bytes[5] = self.count;
        bytes[6..10].copy_from_slice(&self.starting_nonce.to_le_bytes());
        bytes[10..14].copy_from_slice(&self.nbits.to_le_bytes());
        bytes[14..18].copy_from_slice(&self.ntime.to_le_bytes());
        bytes[18..22].copy_from_slice(&self.merkle_root_tail);
        for (chunk, state) in bytes[MIDSTATES_AT..]
            .chunks_exact_mut(32)
            .zip(self.midstates())
        {
            chunk.copy_from_slice(&midstate_wire_bytes(state));
        }
        let crc_at = len - 2;
        let crc = crc16(bytes.get(2..crc_at).unwrap_or_default());
        if let Some(dest) = bytes.get_mut(crc_at..len) {
            dest.copy_from_slice(&crc.to_be_bytes());
        }
        MidstateJobBytes {
            bytes,
            len: len as u8,
        }
    }

    /// The version midstate `index` was computed for, from the job's base
    /// version and mask (the host keeps both).
    ///
    /// # Errors
    /// [`MidstateError::IndexOutOfRange`] for an index the job lacks.
    pub fn version_for(
        &self,
        base_version: u32,
        version_mask: u32,
        index: u8,
    ) -> Result<u32, MidstateError> {
        if index >= self.count {
            return Err(MidstateError::IndexOutOfRange {
                index,
                count: self.count,
            });
        }
        Ok(midstate_version(base_version, version_mask, index))
    }

    /// The 80-byte header a nonce response completes: `fields` are the full
    /// header fields the host kept when it built this job (as for
    /// [`MidstateJobFrame::from_fields`]), `nonce` as
    /// [`crate::NonceResponse::nonce`] gives it and `midstate_index` its
    /// result-header low bits. The rebuilt header is checked against the
    /// frame: ntime, nbits and merkle tail must match and its first 64 bytes
    /// must compress to the named midstate (one SHA-256 block).
    ///
    /// # Errors
    /// A [`MidstateError`] when the index is out of range or the fields do
    /// not belong to this frame.
    pub fn block_header(
        &self,
        fields: &JobFrame,
        version_mask: u32,
        nonce: u32,
        midstate_index: u8,
    ) -> Result<[u8; BLOCK_HEADER_LEN], MidstateError> {
        let version = self.version_for(fields.version, version_mask, midstate_index)?;
        if fields.ntime != self.ntime
            || fields.nbits != self.nbits
            || fields.merkle_root[28..32] != self.merkle_root_tail
        {
            return Err(MidstateError::FieldsDiffer);
        }
        let header = fields.block_header(nonce, version);
        let expected = self.midstates.get(usize::from(midstate_index));
        if expected != Some(&header_midstate(&header)) {
            return Err(MidstateError::MidstateDiffers(midstate_index));
        }
        Ok(header)
    }
}

/// An encoded midstate job, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MidstateJobBytes {
    bytes: [u8; MAX_MIDSTATE_JOB_LEN],
    len: u8,
}

impl MidstateJobBytes {
    /// The frame's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

impl AsRef<[u8]> for MidstateJobBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for MidstateJobBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MidstateJobBytes({:02X?})", self.as_bytes())
    }
}

/// Parse exactly one midstate job frame.
///
/// # Errors
/// A [`DecodeError`] for a wrong size, preamble, type or length byte, a CRC16
/// mismatch, job-id bits 1-0 set, or a midstate count outside 1..=slots.
pub fn decode_midstate_job(bytes: &[u8]) -> Result<MidstateJobFrame, DecodeError> {
    if bytes.len() < 4 {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    if bytes[0..2] != COMMAND_PREAMBLE {
        return Err(DecodeError::BadPreamble(bytes[0], bytes[1]));
    }
    if bytes[2] != JOB_TYPE_BYTE {
        return Err(DecodeError::UnknownCommand(bytes[2]));
    }
    let slots = slots_for_length_byte(bytes[3]).ok_or(DecodeError::BadLengthByte {
        expected: midstate_length_byte(1),
        found: bytes[3],
    })?;
    let len = midstate_job_len(slots);
    if bytes.len() != len {
        return Err(DecodeError::WrongLength {
            expected: len,
            actual: bytes.len(),
        });
    }
    let crc_at = len - 2;
    let computed = crc16(bytes.get(2..crc_at).unwrap_or_default());
    let found = u16::from_be_bytes([
        bytes.get(crc_at).copied().unwrap_or_default(),
        bytes.get(crc_at + 1).copied().unwrap_or_default(),
    ]);
    if computed != found {
        return Err(DecodeError::Crc { computed, found });
    }
    let header = bytes[4];
    if header & 0x03 != 0 {
        return Err(DecodeError::BadJobHeader(header));
    }
    let declared = bytes[5];
    if declared == 0 || declared > slots {
        return Err(DecodeError::BadMidstateCount { declared, slots });
    }
    let word = |at: usize| {
        let mut le = [0u8; 4];
        if let Some(src) = bytes.get(at..at + 4) {
            le.copy_from_slice(src);
        }
        le
    };
    let mut midstates = [[0u32; 8]; MAX_MIDSTATES];
    let wire = bytes.get(MIDSTATES_AT..crc_at).unwrap_or_default();
    for (slot, chunk) in midstates
        .iter_mut()
        .zip(wire.chunks_exact(32))
        .take(usize::from(declared))
    {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(chunk);
        *slot = midstate_from_wire(&raw);
    }
    Ok(MidstateJobFrame {
        job_id: MidstateJobId(header >> 2),
        starting_nonce: u32::from_le_bytes(word(6)),
        nbits: u32::from_le_bytes(word(10)),
        ntime: u32::from_le_bytes(word(14)),
        merkle_root_tail: word(18),
        midstates,
        count: declared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::version::FULL_VERSION_MASK;

    fn hex(s: &str) -> Vec<u8> {
        let clean: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        clean
            .chunks(2)
            .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// The BM1397 job frame from the Bitaxe project's bus-capture notes.
    const CAPTURED_JOB: &str = "55 AA 21 96 04 04 00 00 00 00 A3 89 06 17 2F A8 0A 64 6F 1C C5 E8 \
        99 CE 15 A2 DE DF 61 49 77 90 69 84 1C 8A 0C E0 A0 30 E4 0A CB A6 A5 FB 33 19 30 5D E2 46 EF 18 \
        1D 63 63 EB E7 BA D9 8D 4B CA FE 9C 4F 45 F6 45 FA 71 A0 1E 8C B8 2D 68 DC 6C B8 4E 25 39 8C 50 \
        FA 7E 2E C6 C8 08 61 B9 A5 89 90 71 C4 75 56 E4 78 85 35 22 65 51 EA 68 EB F8 96 B0 CA 40 77 D4 \
        0C AF 1B D4 47 37 85 BB 39 6A 22 C3 9C 23 56 E7 CE B6 57 4C 1F A3 A9 9A D3 C1 A0 17 79 1F BC 38 \
        8C 24";

    #[test]
    fn captured_frame_decodes_and_reencodes_byte_exact() {
        let bytes = hex(CAPTURED_JOB);
        assert_eq!(bytes.len(), 152);
        let job = decode_midstate_job(&bytes).unwrap();
        assert_eq!(job.job_id.get(), 1);
        assert_eq!(job.count(), 4);
        assert_eq!(job.starting_nonce, 0);
        assert_eq!(job.nbits, 0x1706_89A3);
        // 2023-03-10, as the notes say.
        assert_eq!(job.ntime, 0x640A_A82F);
        assert_eq!(job.merkle_root_tail, [0x6F, 0x1C, 0xC5, 0xE8]);
        assert_eq!(job.to_bytes().as_bytes(), bytes.as_slice());
    }

    #[test]
    fn esp_miner_midstate_vector() {
        // ESP-Miner's "Validate bm job construction" test: stratum prev hash
        // (words byte-swapped into header order), merkle root in header order.
        let stratum_prev = hex("bf44fd3513dc7b837d60e5c628b572b448d204a8000007490000000000000000");
        let mut fields = JobFrame {
            job_id: JobId::default(),
            version: 0x2000_0004,
            prev_block_hash: [0; 32],
            merkle_root: [0; 32],
            ntime: 0x6465_8BD8,
            nbits: 0x1705_DD01,
            starting_nonce: 0,
        };
        for (out, word) in fields
            .prev_block_hash
            .chunks_exact_mut(4)
            .zip(stratum_prev.chunks_exact(4))
        {
            out.copy_from_slice(&[word[3], word[2], word[1], word[0]]);
        }
        fields.merkle_root.copy_from_slice(&hex(
            "cd1be82132ef0d12053dcece1fa0247fcfdb61d4dbd3eb32ea9ef9b4c604a846",
        ));
        let job = MidstateJobFrame::from_fields(MidstateJobId::default(), &fields, 0, 1).unwrap();
        // The vector prints the state words H0..H7 each little-endian (the
        // raw `state` memory of a little-endian SHA-256 context).
        let mut words_le = Vec::new();
        for word in job.midstates()[0] {
            words_le.extend_from_slice(&word.to_le_bytes());
        }
        assert_eq!(
            words_le,
            hex("91DFEA528A9F73683D0D495DD6DD7415E1CA21CB411759E3E05D7D5FF285314D")
        );
        // On the wire: H7..H0, each little-endian (current ESP-Miner and
        // cgminer's BM1397 driver; the test's own "reversed" expectation
        // dates from an older ESP-Miner that sent H7..H0 big-endian).
        let bytes = job.to_bytes();
        let wire = &bytes.as_bytes()[22..54];
        let mut expected = Vec::new();
        for word in job.midstates()[0].iter().rev() {
            expected.extend_from_slice(&word.to_le_bytes());
        }
        assert_eq!(wire, expected.as_slice());
        assert_eq!(&wire[28..32], &[0x91, 0xDF, 0xEA, 0x52]);
        assert_eq!(
            &bytes.as_bytes()[..6],
            &[0x55, 0xAA, 0x21, 0x36, 0x00, 0x01]
        );
        assert_eq!(&bytes.as_bytes()[18..22], &[0xC6, 0x04, 0xA8, 0x46]);
    }

    fn sample_fields() -> JobFrame {
        let mut prev = [0u8; 32];
        let mut merkle = [0u8; 32];
        for i in 0..32u8 {
            prev[usize::from(i)] = i.wrapping_mul(7);
            merkle[usize::from(i)] = 0x80 ^ i;
        }
        JobFrame {
            job_id: JobId::default(),
            version: 0x2000_0000,
            prev_block_hash: prev,
            merkle_root: merkle,
            ntime: 0x6500_0000,
            nbits: 0x1703_0000,
            starting_nonce: 0,
        }
    }

    #[test]
    fn every_count_round_trips_and_rebuilds() {
        let fields = sample_fields();
        for count in 1..=4u8 {
            let id = MidstateJobId::new(count * 9).unwrap();
            let job = MidstateJobFrame::from_fields(id, &fields, FULL_VERSION_MASK, count).unwrap();
            let bytes = job.to_bytes();
            assert_eq!(bytes.as_bytes().len(), midstate_job_len(count));
            assert_eq!(bytes.as_bytes()[3], midstate_length_byte(count));
            assert_eq!(decode_midstate_job(bytes.as_bytes()), Ok(job));
            for index in 0..count {
                let header = job
                    .block_header(&fields, FULL_VERSION_MASK, 0xDEAD_BEEF, index)
                    .unwrap();
                assert_eq!(
                    u32::from_le_bytes([header[0], header[1], header[2], header[3]]),
                    0x2000_0000 | (u32::from(index) << 13)
                );
                assert_eq!(&header[76..], &0xDEAD_BEEFu32.to_le_bytes());
            }
            assert_eq!(
                job.block_header(&fields, FULL_VERSION_MASK, 0, count),
                Err(MidstateError::IndexOutOfRange {
                    index: count,
                    count
                })
            );
        }
    }

    #[test]
    fn mismatched_fields_are_caught() {
        let fields = sample_fields();
        let job =
            MidstateJobFrame::from_fields(MidstateJobId::default(), &fields, FULL_VERSION_MASK, 4)
                .unwrap();
        let other = JobFrame {
            ntime: fields.ntime + 1,
            ..fields
        };
        assert_eq!(
            job.block_header(&other, FULL_VERSION_MASK, 0, 0),
            Err(MidstateError::FieldsDiffer)
        );
        let mut other = fields;
        other.prev_block_hash[0] ^= 1;
        assert_eq!(
            job.block_header(&other, FULL_VERSION_MASK, 0, 2),
            Err(MidstateError::MidstateDiffers(2))
        );
        // A different mask names different versions.
        assert_eq!(
            job.block_header(&fields, 0x0000_6000, 0, 1),
            Ok(fields.block_header(0, 0x2000_2000))
        );
        assert_eq!(
            job.block_header(&fields, 0x0000_C000, 0, 1),
            Err(MidstateError::MidstateDiffers(1))
        );
    }

    #[test]
    fn decode_rejects_malformed_frames() {
        let job = MidstateJobFrame::from_fields(
            MidstateJobId::new(5).unwrap(),
            &sample_fields(),
            FULL_VERSION_MASK,
            2,
        )
        .unwrap();
        let good = job.to_bytes().as_bytes().to_vec();
        assert_eq!(
            decode_midstate_job(&good[..3]),
            Err(DecodeError::TooShort(3))
        );
        assert!(matches!(
            decode_midstate_job(&good[..good.len() - 1]),
            Err(DecodeError::WrongLength { .. })
        ));
        let mut bad = good.clone();
        bad[40] ^= 0x10;
        assert!(matches!(
            decode_midstate_job(&bad),
            Err(DecodeError::Crc { .. })
        ));
        let reseal = |mut frame: Vec<u8>| {
            let at = frame.len() - 2;
            let crc = crc16(&frame[2..at]).to_be_bytes();
            frame[at..].copy_from_slice(&crc);
            frame
        };
        let mut bad = good.clone();
        bad[4] |= 0x01;
        assert_eq!(
            decode_midstate_job(&reseal(bad)),
            Err(DecodeError::BadJobHeader(0x15))
        );
        let mut bad = good.clone();
        bad[5] = 3;
        assert_eq!(
            decode_midstate_job(&reseal(bad)),
            Err(DecodeError::BadMidstateCount {
                declared: 3,
                slots: 2
            })
        );
        let mut bad = good.clone();
        bad[3] = 0x40;
        assert!(matches!(
            decode_midstate_job(&bad),
            Err(DecodeError::BadLengthByte { .. })
        ));
        // ESP-Miner style: four slots, one declared.
        let mut padded = good.clone();
        padded.truncate(good.len() - 2);
        padded[3] = midstate_length_byte(4);
        padded[5] = 1;
        padded.extend_from_slice(&[0u8; 64]);
        padded.extend_from_slice(&[0, 0]);
        let padded = reseal(padded);
        let decoded = decode_midstate_job(&padded).unwrap();
        assert_eq!(decoded.count(), 1);
        assert_eq!(decoded.midstates(), &job.midstates()[..1]);
    }

    #[test]
    fn builder_limits() {
        let fields = sample_fields();
        assert_eq!(
            MidstateJobFrame::from_fields(MidstateJobId::default(), &fields, 0, 0),
            Err(MidstateError::InvalidCount(0))
        );
        assert_eq!(
            MidstateJobFrame::from_fields(MidstateJobId::default(), &fields, 0, 5),
            Err(MidstateError::InvalidCount(5))
        );
        assert_eq!(MidstateJobId::new(64), Err(MidstateError::InvalidJobId(64)));
        assert_eq!(MidstateJobId::new(63).unwrap().header_byte(), 0xFC);
        assert_eq!(MidstateJobId::from(JobId::new(15).unwrap()).get(), 15);
        assert_eq!(
            MidstateJobFrame::new(MidstateJobId::default(), 0, 0, 0, [0; 4], &[]),
            Err(MidstateError::InvalidCount(0))
        );
        let mut small = [0u8; 10];
        let job =
            MidstateJobFrame::new(MidstateJobId::default(), 0, 0, 0, [0; 4], &[[1; 8]]).unwrap();
        assert!(job.encode(&mut small).is_err());
        let mut big = [0u8; 200];
        assert_eq!(job.encode(&mut big), Ok(56));
        assert_eq!(
            midstate_from_wire(&midstate_wire_bytes(&[1, 2, 3, 4, 5, 6, 7, 8])),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
    }
}
