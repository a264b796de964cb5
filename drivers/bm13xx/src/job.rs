//! Full-header job frames (BM1362 and later: BM1366, BM1368, BM1370) and the
//! block header a nonce response completes.
//!
//! # Wire layout (88 bytes)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | preamble `55 AA` |
//! | 2 | 1 | type/flags `0x21` (job, single, cmd 1) |
//! | 3 | 1 | length byte, `0x36` (see [`JobLengthByte`]) |
//! | 4 | 1 | job header: job id in bits 6-3, i.e. `job_id << 3`, job id 0..=15 |
//! | 5 | 1 | number of midstates, always `0x01` |
//! | 6 | 4 | starting nonce, little-endian |
//! | 10 | 4 | nbits, little-endian |
//! | 14 | 4 | ntime, little-endian |
//! | 18 | 32 | merkle root, header byte order with its eight 4-byte words reversed |
//! | 50 | 32 | previous block hash, same word reversal |
//! | 82 | 4 | version, little-endian |
//! | 86 | 2 | CRC16 CCITT-FALSE over bytes 2..86, most significant byte first |
//!
//! # Byte orders
//!
//! [`JobFrame`] holds the header fields the way the 80-byte Bitcoin header
//! serializes them ("internal" order): integers as numbers (serialized
//! little-endian) and the two hashes as the 32 bytes that appear in the header
//! (which is the reverse of the hex block explorers print). On the wire:
//!
//! - version, nbits, ntime, starting nonce: little-endian, i.e. exactly their
//!   header bytes.
//! - merkle root and previous block hash: split the 32 header bytes into eight
//!   4-byte words `w0..w7` and send `w7 w6 .. w0`, each word's bytes unchanged
//!   ([`chip_word_order`]; the transform is its own inverse).
//!
//! # Header reconstruction
//!
//! [`JobFrame::block_header`] rebuilds the 80 bytes
//! `version LE | prev hash (internal) | merkle root (internal) | ntime LE |
//! nbits LE | nonce LE` with the rolled version and the nonce from a response,
//! so the driver and a simulator can hash it.

use crate::command::{COMMAND_PREAMBLE, TYPE_JOB};
use crate::crc::crc16;
use crate::error::{DecodeError, EncodeError};

/// Bytes in a full-header job frame.
pub const JOB_FRAME_LEN: usize = 88;
/// The job type/flags byte (job, single destination, command 1).
pub const JOB_TYPE_BYTE: u8 = TYPE_JOB | 0x01;
/// Bytes in a Bitcoin block header.
pub const BLOCK_HEADER_LEN: usize = 80;
/// The only midstate count a full-header job carries.
const NUM_MIDSTATES: u8 = 0x01;
/// Job ids fit in 4 bits (job header bits 6-3).
const MAX_JOB_ID: u8 = 15;

/// The value of the length byte (offset 3) a job frame carries.
///
/// The length byte of a command counts the bytes after the preamble, which
/// for an 88-byte job is 86 = 0x56, and ESP-Miner sends 0x56. Factory
/// firmware on the S21 Pro (BM1370) and S19j Pro (BM1362) sends 0x36 (54),
/// the length a single-midstate job had in the BM1397's midstate format, and
/// the BM1370 accepts both. Encoding defaults to the factory value; decoding
/// accepts either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobLengthByte {
    /// `0x36`, what factory firmware sends.
    #[default]
    Factory,
    /// `0x56`, the true count of bytes after the preamble (ESP-Miner).
    ByteCount,
}

impl JobLengthByte {
    /// The byte value.
    #[must_use]
    pub const fn value(self) -> u8 {
        match self {
            JobLengthByte::Factory => 0x36,
            JobLengthByte::ByteCount => 0x56,
        }
    }

    const fn from_value(value: u8) -> Option<JobLengthByte> {
        match value {
            0x36 => Some(JobLengthByte::Factory),
            0x56 => Some(JobLengthByte::ByteCount),
            _ => None,
        }
    }
}

/// A 4-bit job id (0..=15), sent as `job_id << 3` in the job header and
/// returned in the nonce response's result header.
///
/// ESP-Miner keeps the shifted byte instead (ids 0, 24, 48, ... mod 128, then
/// `(hdr & 0xF0) >> 1` on the way back); the information is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct JobId(u8);

impl JobId {
    /// A job id.
    ///
    /// # Errors
    /// [`EncodeError::InvalidJobId`] above 15.
    pub const fn new(id: u8) -> Result<JobId, EncodeError> {
        if id <= MAX_JOB_ID {
            Ok(JobId(id))
        } else {
            Err(EncodeError::InvalidJobId(id))
        }
    }

    /// The id, 0..=15.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The next id, wrapping from 15 to 0.
    #[must_use]
    pub const fn next(self) -> JobId {
        JobId((self.0 + 1) & MAX_JOB_ID)
    }

    /// The job-header byte: id in bits 6-3.
    #[must_use]
    pub const fn header_byte(self) -> u8 {
        self.0 << 3
    }
}

/// A full-header mining job, fields in Bitcoin header ("internal") order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobFrame {
    /// Matches nonce responses back to this job.
    pub job_id: JobId,
    /// Block version before rolling.
    pub version: u32,
    /// Previous block hash, the 32 bytes as they sit in the header.
    pub prev_block_hash: [u8; 32],
    /// Merkle root, the 32 bytes as they sit in the header.
    pub merkle_root: [u8; 32],
    /// Block time.
    pub ntime: u32,
    /// Compact target.
    pub nbits: u32,
    /// Where the chips' nonce counters start; 0 in every capture.
    pub starting_nonce: u32,
}

/// Reverse the order of the eight 4-byte words of a 32-byte hash, keeping each
/// word's bytes in place. Turns header byte order into the chip's order and
/// back (the transform is an involution).
#[must_use]
pub fn chip_word_order(hash: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (out_word, in_word) in out.chunks_exact_mut(4).zip(hash.chunks_exact(4).rev()) {
        out_word.copy_from_slice(in_word);
    }
    out
}

impl JobFrame {
    /// Build a job from an 80-byte block header; its nonce is dropped and the
    /// starting nonce is 0.
    #[must_use]
    pub fn from_block_header(header: &[u8; BLOCK_HEADER_LEN], job_id: JobId) -> JobFrame {
        let mut prev_block_hash = [0u8; 32];
        let mut merkle_root = [0u8; 32];
        prev_block_hash.copy_from_slice(&header[4..36]);
        merkle_root.copy_from_slice(&header[36..68]);
        JobFrame {
            job_id,
            version: le_u32(&header[0..4]),
            prev_block_hash,
            merkle_root,
            ntime: le_u32(&header[68..72]),
            nbits: le_u32(&header[72..76]),
            starting_nonce: 0,
        }
    }

    /// Encode with the factory length byte (0x36).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; JOB_FRAME_LEN] {
        self.to_bytes_with(JobLengthByte::Factory)
    }

    /// Encode with the chosen length byte.
    #[must_use]
    pub fn to_bytes_with(&self, length_byte: JobLengthByte) -> [u8; JOB_FRAME_LEN] {
        let mut out = [0u8; JOB_FRAME_LEN];
        out[0..2].copy_from_slice(&COMMAND_PREAMBLE);
        out[2] = JOB_TYPE_BYTE;
        out[3] = length_byte.value();
        out[4] = self.job_id.header_byte();
        out[5] = NUM_MIDSTATES;
        out[6..10].copy_from_slice(&self.starting_nonce.to_le_bytes());
        out[10..14].copy_from_slice(&self.nbits.to_le_bytes());
        out[14..18].copy_from_slice(&self.ntime.to_le_bytes());
        out[18..50].copy_from_slice(&chip_word_order(&self.merkle_root));
        out[50..82].copy_from_slice(&chip_word_order(&self.prev_block_hash));
        out[82..86].copy_from_slice(&self.version.to_le_bytes());
        let crc = crc16(&out[2..86]);
        out[86..88].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Encode into `out` (factory length byte), returning the bytes written.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] if `out` holds fewer than 88 bytes.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let available = out.len();
        let dest = out
            .get_mut(..JOB_FRAME_LEN)
            .ok_or(EncodeError::BufferTooSmall {
                needed: JOB_FRAME_LEN,
                available,
            })?;
        dest.copy_from_slice(&self.to_bytes());
        Ok(JOB_FRAME_LEN)
    }

    /// The 80-byte block header this job describes, completed with a nonce
    /// (as [`crate::response::NonceResponse::nonce`] gives it) and the rolled
    /// version ([`crate::registers::version::rolled_version`]).
    #[must_use]
    pub fn block_header(&self, nonce: u32, version: u32) -> [u8; BLOCK_HEADER_LEN] {
        let mut header = [0u8; BLOCK_HEADER_LEN];
        header[0..4].copy_from_slice(&version.to_le_bytes());
        header[4..36].copy_from_slice(&self.prev_block_hash);
        header[36..68].copy_from_slice(&self.merkle_root);
        header[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        header[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        header[76..80].copy_from_slice(&nonce.to_le_bytes());
        header
    }
}

/// Parse exactly one 88-byte job frame, accepting either length byte.
///
/// # Errors
/// A [`DecodeError`] for a wrong size, preamble, type byte or length byte, a
/// CRC16 mismatch, job-header bits outside bits 6-3, or a midstate count other
/// than 1.
pub fn decode_job(bytes: &[u8]) -> Result<JobFrame, DecodeError> {
    let frame: &[u8; JOB_FRAME_LEN] = bytes.try_into().map_err(|_| {
        if bytes.len() < 4 {
            DecodeError::TooShort(bytes.len())
        } else {
            DecodeError::WrongLength {
                expected: JOB_FRAME_LEN,
                actual: bytes.len(),
            }
        }
    })?;
    if frame[0..2] != COMMAND_PREAMBLE {
        return Err(DecodeError::BadPreamble(frame[0], frame[1]));
    }
    if frame[2] != JOB_TYPE_BYTE {
        return Err(DecodeError::UnknownCommand(frame[2]));
    }
    if JobLengthByte::from_value(frame[3]).is_none() {
        return Err(DecodeError::BadLengthByte {
            expected: JobLengthByte::Factory.value(),
            found: frame[3],
        });
    }
    let computed = crc16(&frame[2..86]);
    let found = u16::from_be_bytes([frame[86], frame[87]]);
    if computed != found {
        return Err(DecodeError::Crc { computed, found });
    }
    let header = frame[4];
    if header & !(MAX_JOB_ID << 3) != 0 {
        return Err(DecodeError::BadJobHeader(header));
    }
    if frame[5] != NUM_MIDSTATES {
        return Err(DecodeError::UnsupportedMidstates(frame[5]));
    }
    let mut merkle_wire = [0u8; 32];
    let mut prev_wire = [0u8; 32];
    merkle_wire.copy_from_slice(&frame[18..50]);
    prev_wire.copy_from_slice(&frame[50..82]);
    Ok(JobFrame {
        job_id: JobId(header >> 3),
        version: le_u32(&frame[82..86]),
        prev_block_hash: chip_word_order(&prev_wire),
        merkle_root: chip_word_order(&merkle_wire),
        ntime: le_u32(&frame[14..18]),
        nbits: le_u32(&frame[10..14]),
        starting_nonce: le_u32(&frame[6..10]),
    })
}

/// Little-endian u32 from a 4-byte slice (callers pass fixed sub-ranges of
/// fixed-size arrays, so the fallback never triggers).
fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(..4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential_job(job_id: u8) -> JobFrame {
        let mut merkle_wire = [0u8; 32];
        let mut prev_wire = [0u8; 32];
        for i in 0..32u8 {
            merkle_wire[usize::from(i)] = i;
            prev_wire[usize::from(i)] = 0x20 + i;
        }
        JobFrame {
            job_id: JobId::new(job_id).unwrap(),
            version: 0x2000_0004,
            // The vector gives the wire bytes; undo the word reversal.
            prev_block_hash: chip_word_order(&prev_wire),
            merkle_root: chip_word_order(&merkle_wire),
            ntime: 0x6465_8BD8,
            nbits: 0x1705_DD01,
            starting_nonce: 0x1234_5678,
        }
    }

    /// ESP-Miner's byte-exact job-packet test vector (length byte 0x56).
    fn esp_miner_packet(header: u8, crc: [u8; 2]) -> [u8; JOB_FRAME_LEN] {
        let mut packet = [0u8; JOB_FRAME_LEN];
        packet[..18].copy_from_slice(&[
            0x55, 0xAA, 0x21, 0x56, header, 0x01, 0x78, 0x56, 0x34, 0x12, 0x01, 0xDD, 0x05, 0x17,
            0xD8, 0x8B, 0x65, 0x64,
        ]);
        for i in 0..64u8 {
            packet[18 + usize::from(i)] = i;
        }
        packet[82..86].copy_from_slice(&[0x04, 0x00, 0x00, 0x20]);
        packet[86..88].copy_from_slice(&crc);
        packet
    }

    #[test]
    fn matches_esp_miner_job_packets() {
        for (job_id, header, crc) in [(1, 0x08, [0xD6, 0x21]), (3, 0x18, [0x05, 0xD4])] {
            let packet = esp_miner_packet(header, crc);
            let job = sequential_job(job_id);
            assert_eq!(job.to_bytes_with(JobLengthByte::ByteCount), packet);
            assert_eq!(decode_job(&packet), Ok(job));
        }
    }

    #[test]
    fn factory_length_byte_round_trips() {
        let job = sequential_job(9);
        let bytes = job.to_bytes();
        assert_eq!(&bytes[..6], &[0x55, 0xAA, 0x21, 0x36, 0x48, 0x01]);
        assert_eq!(decode_job(&bytes), Ok(job));
    }

    #[test]
    fn word_order_is_an_involution_that_keeps_bytes_inside_words() {
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = i as u8;
        }
        let wire = chip_word_order(&hash);
        assert_eq!(&wire[..8], &[28, 29, 30, 31, 24, 25, 26, 27]);
        assert_eq!(chip_word_order(&wire), hash);
    }

    #[test]
    fn job_ids() {
        assert_eq!(JobId::new(16), Err(EncodeError::InvalidJobId(16)));
        assert_eq!(JobId::new(15).unwrap().next(), JobId::new(0).unwrap());
        assert_eq!(JobId::new(3).unwrap().header_byte(), 0x18);
    }

    #[test]
    fn decode_rejects_malformed_frames() {
        let good = sequential_job(2).to_bytes();
        assert_eq!(
            decode_job(&good[..87]),
            Err(DecodeError::WrongLength {
                expected: 88,
                actual: 87
            })
        );
        assert_eq!(decode_job(&good[..2]), Err(DecodeError::TooShort(2)));

        let mut bad = good;
        bad[3] = 0x55;
        assert!(matches!(
            decode_job(&bad),
            Err(DecodeError::BadLengthByte { .. })
        ));

        // Header bit 7 set, CRC recomputed so only the header is wrong.
        let mut bad = good;
        bad[4] |= 0x80;
        let crc = crc16(&bad[2..86]).to_be_bytes();
        bad[86..88].copy_from_slice(&crc);
        assert_eq!(decode_job(&bad), Err(DecodeError::BadJobHeader(0x90)));

        let mut bad = good;
        bad[5] = 4;
        let crc = crc16(&bad[2..86]).to_be_bytes();
        bad[86..88].copy_from_slice(&crc);
        assert_eq!(decode_job(&bad), Err(DecodeError::UnsupportedMidstates(4)));

        let mut bad = good;
        bad[40] ^= 0x01;
        assert!(matches!(decode_job(&bad), Err(DecodeError::Crc { .. })));
    }
}
