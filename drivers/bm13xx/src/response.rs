//! Chain -> host response frames: single-frame encode (the chip simulator's
//! output) and decode. Streams go through [`crate::parser::ResponseParser`].
//!
//! # Layouts
//!
//! Responses have no length byte; their size is fixed by configuration
//! ([`ResponseLayout`]): 9 bytes out of reset and always on the BM1397, 11 once
//! hardware version rolling is enabled through register 0xA4.
//!
//! ```text
//! register, 9:  AA 55 | value (4, MSB first) | chip addr | reg | type+crc
//! register, 11: AA 55 | value (4, MSB first) | chip addr | reg | extra (2) | type+crc
//! nonce, 9:     AA 55 | nonce (4, LE) | excess difficulty | result header | type+crc
//! nonce, 11:    AA 55 | nonce (4, LE) | excess difficulty | result header | version (2, MSB first) | type+crc
//! ```
//!
//! The last byte holds the response type in bits 7-5 (0 register, 4 nonce) and
//! a CRC5 over everything after the preamble, type bits included, in bits 4-0.

use crate::chip::ChipKind;
use crate::crc::{response_crc_byte, response_crc_ok};
use crate::error::{EncodeError, FrameError};
use crate::registers::version::rolled_version;

/// Chain -> host preamble.
pub const RESPONSE_PREAMBLE: [u8; 2] = [0xAA, 0x55];
/// Response type (bits 7-5 of the last byte) of a register read answer.
pub const RESPONSE_TYPE_REGISTER: u8 = 0;
/// Response type of a nonce report.
pub const RESPONSE_TYPE_NONCE: u8 = 4;
/// Longest response frame.
pub const MAX_RESPONSE_LEN: usize = 11;

/// What shape the chain's responses have: which model (for the result-header
/// split) and whether version rolling is on (11-byte frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseLayout {
    chip: ChipKind,
    version_rolling: bool,
}

impl ResponseLayout {
    /// Layout for `chip`; `version_rolling` is whether register 0xA4 has been
    /// written with its enable bit (ignored on the BM1397, which has none).
    #[must_use]
    pub const fn new(chip: ChipKind, version_rolling: bool) -> ResponseLayout {
        ResponseLayout {
            chip,
            version_rolling: version_rolling && chip.has_hardware_version_rolling(),
        }
    }

    /// The model.
    #[must_use]
    pub const fn chip(self) -> ChipKind {
        self.chip
    }

    /// Whether frames are the 11-byte kind (nonces carry version bits).
    #[must_use]
    pub const fn is_long(self) -> bool {
        self.version_rolling
    }

    /// Bytes per frame, 9 or 11.
    #[must_use]
    pub const fn frame_len(self) -> usize {
        self.chip.response_len(self.version_rolling)
    }
}

/// A register read answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegisterResponse {
    /// The register value.
    pub value: u32,
    /// Address of the answering chip.
    pub chip_addr: u8,
    /// Register that was read.
    pub register: u8,
    /// The two bytes of unknown meaning before the CRC in 11-byte frames (zero
    /// in every capture). Kept so decoding then encoding is byte-exact; must be
    /// zero in 9-byte frames.
    pub extra: [u8; 2],
}

/// A nonce report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceResponse {
    /// The nonce as the block header takes it: the four wire bytes read
    /// little-endian, so `nonce.to_le_bytes()` are the header's bytes 76..80.
    pub nonce: u32,
    /// Byte 6, historically "midstate number": on the BM1370/BM1362 the hash's
    /// difficulty above the ticket mask in half-bit log2 steps (capture-derived,
    /// see mujina's reference); opaque here.
    pub excess_difficulty: u8,
    /// The job id, from the result header's high bits (width per
    /// [`ChipKind::result_header_layout`]); equals the [`crate::job::JobId`]
    /// sent on full-header models.
    pub job_id: u8,
    /// The result header's low bits: the finding small core (sub-core), or on
    /// the BM1397 the index of the midstate the nonce belongs to.
    pub small_core_id: u8,
    /// The chip's 16 rolled version bits (11-byte frames only), header version
    /// bits 28-13; see [`NonceResponse::rolled_version`].
    pub version_bits: Option<u16>,
}

impl NonceResponse {
    /// The nonce read most significant byte first (the wire bytes as a
    /// big-endian word), the reading in which the chips stamp their ids.
    /// ESP-Miner's `ntohl(nonce)` and mujina's capture analysis both use it.
    #[must_use]
    pub const fn nonce_fields(&self) -> u32 {
        self.nonce.swap_bytes()
    }

    /// The big core that found the nonce: [`NonceResponse::nonce_fields`] bits
    /// 31-25 (BM1366/68/70; BM1362 and BM1366 capture-verified), 31-24 on the
    /// BM1397 (*unverified*).
    ///
    /// A bm13xx-rs doc example reads the core id from the little-endian header
    /// value instead; the captures and ESP-Miner disagree with it, so this
    /// follows them (*unverified* for the BM1368).
    #[must_use]
    pub const fn core_id(&self, chip: ChipKind) -> u8 {
        let shift = 32 - chip.nonce_core_id_bits();
        (self.nonce_fields() >> shift) as u8
    }

    /// The address of the chip that found the nonce, where the nonce carries
    /// it: BM1366 and BM1368 with version rolling stamp address bits 7-1 into
    /// [`NonceResponse::nonce_fields`] bits 24-18 (capture-verified on the
    /// BM1362/BM1366; BM1368 per ESP-Miner, *unverified*).
    ///
    /// `None` for the BM1370 (chips are told apart by CHIP_NONCE_OFFSET ranges,
    /// see [`crate::registers::nonce_offset::chip_index_for_nonce`]), for the
    /// BM1397, and for 9-byte frames, whose layouts no capture pins down.
    #[must_use]
    pub const fn chip_address(&self, chip: ChipKind) -> Option<u8> {
        match (chip, self.version_bits) {
            (ChipKind::Bm1366 | ChipKind::Bm1368, Some(_)) => {
                Some(((self.nonce_fields() >> 17) & 0xFE) as u8)
            }
            _ => None,
        }
    }

    /// The version the nonce was found with: `base_version | (bits << 13)`
    /// when the frame carries version bits, else `base_version` unchanged.
    /// (BM1397 nonces belong to the midstate named by `small_core_id`; see
    /// [`crate::registers::version::midstate_version`].)
    #[must_use]
    pub const fn rolled_version(&self, base_version: u32) -> u32 {
        match self.version_bits {
            Some(bits) => rolled_version(base_version, bits),
            None => base_version,
        }
    }
}

/// A decoded response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    /// Answer to a register read.
    Register(RegisterResponse),
    /// A nonce report.
    Nonce(NonceResponse),
}

/// An encoded response, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResponseFrame {
    bytes: [u8; MAX_RESPONSE_LEN],
    len: u8,
}

impl ResponseFrame {
    /// The frame's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

impl AsRef<[u8]> for ResponseFrame {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for ResponseFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ResponseFrame({:02X?})", self.as_bytes())
    }
}

/// Assemble preamble + payload + type/CRC byte.
fn finish_frame(payload: &[u8], response_type: u8) -> ResponseFrame {
    let mut bytes = [0u8; MAX_RESPONSE_LEN];
    bytes[0..2].copy_from_slice(&RESPONSE_PREAMBLE);
    let end = 2 + payload.len().min(MAX_RESPONSE_LEN - 3);
    if let Some(dest) = bytes.get_mut(2..end) {
        dest.copy_from_slice(payload.get(..end - 2).unwrap_or_default());
    }
    bytes[end] = response_crc_byte(&bytes[2..end], response_type);
    ResponseFrame {
        bytes,
        // end + 1 <= MAX_RESPONSE_LEN (11), fits u8.
        len: (end + 1) as u8,
    }
}

/// Encode a register read answer.
///
/// # Errors
/// [`EncodeError::ExtraBytesNeedLongLayout`] if `extra` is non-zero in a
/// 9-byte layout.
pub fn encode_register_response(
    response: &RegisterResponse,
    layout: ResponseLayout,
) -> Result<ResponseFrame, EncodeError> {
    let mut payload = [0u8; 8];
    payload[0..4].copy_from_slice(&response.value.to_be_bytes());
    payload[4] = response.chip_addr;
    payload[5] = response.register;
    let used = if layout.is_long() {
        payload[6..8].copy_from_slice(&response.extra);
        8
    } else {
        if response.extra != [0, 0] {
            return Err(EncodeError::ExtraBytesNeedLongLayout(response.extra));
        }
        6
    };
    Ok(finish_frame(
        payload.get(..used).unwrap_or_default(),
        RESPONSE_TYPE_REGISTER,
    ))
}

/// Encode a nonce report.
///
/// # Errors
/// [`EncodeError::FieldOutOfRange`] if the job id or small-core id is wider
/// than the model's result-header fields, [`EncodeError::VersionBitsMismatch`]
/// if `version_bits` is present in a 9-byte layout or absent in an 11-byte one.
pub fn encode_nonce_response(
    response: &NonceResponse,
    layout: ResponseLayout,
) -> Result<ResponseFrame, EncodeError> {
    let header_layout = layout.chip().result_header_layout();
    if response.job_id > header_layout.max_job_id() {
        return Err(EncodeError::FieldOutOfRange {
            field: "job_id",
            value: u32::from(response.job_id),
            max: u32::from(header_layout.max_job_id()),
        });
    }
    if response.small_core_id > header_layout.low_mask() {
        return Err(EncodeError::FieldOutOfRange {
            field: "small_core_id",
            value: u32::from(response.small_core_id),
            max: u32::from(header_layout.low_mask()),
        });
    }
    let mut payload = [0u8; 8];
    payload[0..4].copy_from_slice(&response.nonce.to_le_bytes());
    payload[4] = response.excess_difficulty;
    payload[5] = (response.job_id << header_layout.job_id_shift) | response.small_core_id;
    let used = match (layout.is_long(), response.version_bits) {
        (true, Some(bits)) => {
            payload[6..8].copy_from_slice(&bits.to_be_bytes());
            8
        }
        (false, None) => 6,
        (expected, present) => {
            return Err(EncodeError::VersionBitsMismatch {
                present: present.is_some(),
                expected,
            })
        }
    };
    Ok(finish_frame(
        payload.get(..used).unwrap_or_default(),
        RESPONSE_TYPE_NONCE,
    ))
}

/// Encode either kind of response.
///
/// # Errors
/// As [`encode_register_response`] and [`encode_nonce_response`].
pub fn encode_response(
    response: &Response,
    layout: ResponseLayout,
) -> Result<ResponseFrame, EncodeError> {
    match response {
        Response::Register(register) => encode_register_response(register, layout),
        Response::Nonce(nonce) => encode_nonce_response(nonce, layout),
    }
}

/// Decode exactly one response frame of the given layout.
///
/// # Errors
/// [`FrameError::WrongLength`], [`FrameError::BadPreamble`],
/// [`FrameError::Crc`], or [`FrameError::UnknownType`] for a CRC-valid frame
/// whose type is neither 0 nor 4.
pub fn decode_response(bytes: &[u8], layout: ResponseLayout) -> Result<Response, FrameError> {
    let expected = layout.frame_len();
    if bytes.len() != expected {
        return Err(FrameError::WrongLength {
            expected,
            actual: bytes.len(),
        });
    }
    let (&last_byte, body) = bytes.split_last().ok_or(FrameError::WrongLength {
        expected,
        actual: 0,
    })?;
    let (preamble, after_preamble) = bytes.split_at_checked(2).unwrap_or((bytes, &[]));
    if preamble != RESPONSE_PREAMBLE {
        let first = bytes.first().copied().unwrap_or_default();
        let second = bytes.get(1).copied().unwrap_or_default();
        return Err(FrameError::BadPreamble(first, second));
    }
    if !response_crc_ok(after_preamble) {
        return Err(FrameError::Crc { last_byte });
    }
    let payload = body.get(2..).unwrap_or_default();
    let word = |range: core::ops::Range<usize>| {
        let mut out = [0u8; 4];
        if let Some(src) = payload.get(range) {
            out.copy_from_slice(src);
        }
        out
    };
    let pair = |at: usize| -> [u8; 2] {
        [
            payload.get(at).copied().unwrap_or_default(),
            payload.get(at + 1).copied().unwrap_or_default(),
        ]
    };
    let byte = |at: usize| payload.get(at).copied().unwrap_or_default();
    match last_byte >> 5 {
        RESPONSE_TYPE_REGISTER => Ok(Response::Register(RegisterResponse {
            value: u32::from_be_bytes(word(0..4)),
            chip_addr: byte(4),
            register: byte(5),
            extra: if layout.is_long() { pair(6) } else { [0, 0] },
        })),
        RESPONSE_TYPE_NONCE => {
            let (job_id, small_core_id) = layout.chip().result_header_layout().split(byte(5));
            Ok(Response::Nonce(NonceResponse {
                nonce: u32::from_le_bytes(word(0..4)),
                excess_difficulty: byte(4),
                job_id,
                small_core_id,
                version_bits: layout.is_long().then(|| u16::from_be_bytes(pair(6))),
            }))
        }
        other => Err(FrameError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BM1370_LONG: ResponseLayout = ResponseLayout::new(ChipKind::Bm1370, true);

    #[test]
    fn captured_bm1370_nonce_decodes() {
        let frame = [
            0xAA, 0x55, 0x18, 0x00, 0xA6, 0x40, 0x02, 0x99, 0x22, 0xF9, 0x91,
        ];
        let Ok(Response::Nonce(nonce)) = decode_response(&frame, BM1370_LONG) else {
            panic!("not a nonce");
        };
        assert_eq!(nonce.nonce, 0x40A6_0018);
        assert_eq!(nonce.nonce_fields(), 0x1800_A640);
        assert_eq!(nonce.core_id(ChipKind::Bm1370), 0x0C);
        assert_eq!(nonce.excess_difficulty, 2);
        assert_eq!((nonce.job_id, nonce.small_core_id), (9, 9));
        assert_eq!(nonce.version_bits, Some(0x22F9));
        assert_eq!(nonce.rolled_version(0x2000_0000), 0x2000_0000 | 0x045F_2000);
        assert_eq!(nonce.chip_address(ChipKind::Bm1370), None);
        assert_eq!(
            encode_nonce_response(&nonce, BM1370_LONG)
                .unwrap()
                .as_bytes(),
            &frame
        );
    }

    #[test]
    fn captured_bm1362_style_nonce_gives_core_and_address() {
        // S19j Pro (BM1362) capture; the BM1366 shares the 5+3 split and the
        // address field.
        let layout = ResponseLayout::new(ChipKind::Bm1366, true);
        let frame = [
            0xAA, 0x55, 0x6D, 0xB8, 0x8E, 0xE1, 0x01, 0x04, 0x03, 0x54, 0x94,
        ];
        let Ok(Response::Nonce(nonce)) = decode_response(&frame, layout) else {
            panic!("not a nonce");
        };
        assert_eq!(nonce.nonce, 0xE18E_B86D);
        assert_eq!(nonce.core_id(ChipKind::Bm1366), 54);
        assert_eq!(nonce.chip_address(ChipKind::Bm1366), Some(0xDC));
        assert_eq!((nonce.job_id, nonce.small_core_id), (0, 4));
        assert_eq!(nonce.rolled_version(0), 0x006A_8000);
    }

    #[test]
    fn captured_register_answers_decode() {
        let frame = [
            0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        ];
        assert_eq!(
            decode_response(&frame, BM1370_LONG),
            Ok(Response::Register(RegisterResponse {
                value: 0x1370_0000,
                chip_addr: 0,
                register: 0,
                extra: [0, 0]
            }))
        );
        // The 9-byte answer of a fresh BM1370 to a MISC_CONTROL read.
        let short = [0xAA, 0x55, 0x00, 0x00, 0xC1, 0x00, 0x00, 0x18, 0x02];
        let layout = ResponseLayout::new(ChipKind::Bm1370, false);
        let decoded = decode_response(&short, layout);
        assert_eq!(
            decoded,
            Ok(Response::Register(RegisterResponse {
                value: 0x0000_C100,
                chip_addr: 0,
                register: 0x18,
                extra: [0, 0]
            }))
        );
        let Ok(response) = decoded else { panic!() };
        assert_eq!(
            encode_response(&response, layout).unwrap().as_bytes(),
            &short
        );
    }

    #[test]
    fn encode_rejects_fields_the_layout_cannot_carry() {
        let nonce = NonceResponse {
            nonce: 1,
            excess_difficulty: 0,
            job_id: 16,
            small_core_id: 0,
            version_bits: Some(0),
        };
        assert!(matches!(
            encode_nonce_response(&nonce, BM1370_LONG),
            Err(EncodeError::FieldOutOfRange {
                field: "job_id",
                ..
            })
        ));
        let nonce = NonceResponse {
            job_id: 1,
            small_core_id: 8,
            ..nonce
        };
        assert!(matches!(
            encode_nonce_response(&nonce, ResponseLayout::new(ChipKind::Bm1366, true)),
            Err(EncodeError::FieldOutOfRange {
                field: "small_core_id",
                ..
            })
        ));
        let nonce = NonceResponse {
            small_core_id: 1,
            ..nonce
        };
        assert_eq!(
            encode_nonce_response(&nonce, ResponseLayout::new(ChipKind::Bm1397, true)),
            Err(EncodeError::VersionBitsMismatch {
                present: true,
                expected: false
            })
        );
        let register = RegisterResponse {
            value: 0,
            chip_addr: 0,
            register: 0,
            extra: [1, 0],
        };
        assert_eq!(
            encode_register_response(&register, ResponseLayout::new(ChipKind::Bm1370, false)),
            Err(EncodeError::ExtraBytesNeedLongLayout([1, 0]))
        );
    }

    #[test]
    fn decode_rejects_structure_errors() {
        let frame = [
            0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        ];
        assert_eq!(
            decode_response(&frame[..9], BM1370_LONG),
            Err(FrameError::WrongLength {
                expected: 11,
                actual: 9
            })
        );
        let mut bad = frame;
        bad[0] = 0x55;
        assert_eq!(
            decode_response(&bad, BM1370_LONG),
            Err(FrameError::BadPreamble(0x55, 0x55))
        );
        let mut bad = frame;
        bad[10] ^= 0x01;
        assert_eq!(
            decode_response(&bad, BM1370_LONG),
            Err(FrameError::Crc { last_byte: 0x11 })
        );
        // A CRC-valid frame of type 2.
        let mut odd = frame;
        odd[10] = response_crc_byte(&odd[2..10], 2);
        assert_eq!(
            decode_response(&odd, BM1370_LONG),
            Err(FrameError::UnknownType(2))
        );
    }
}
