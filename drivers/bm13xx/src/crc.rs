//! The two checksums of the BM13xx serial protocol.
//!
//! - **CRC5** guards register commands (host -> chain) and every response
//!   (chain -> host): polynomial `x^5 + x^2 + 1` (0x05), initial value 0x1F,
//!   no reflection, no final xor, computed most significant bit first over the
//!   frame after its two preamble bytes.
//!   - Commands carry it as a whole final byte (top three bits zero), computed
//!     over every byte between the preamble and that byte.
//!   - Responses pack a 3-bit type into bits 7-5 of the final byte and the CRC
//!     into bits 4-0; the CRC covers the bytes after the preamble *and* those
//!     three type bits. Because the CRC is non-reflected with no xorout, running
//!     it over a whole valid response (CRC bits included) leaves a zero
//!     remainder, which is how [`response_crc_ok`] checks.
//! - **CRC16** guards job frames: CRC-16/CCITT-FALSE (polynomial 0x1021,
//!   initial value 0xFFFF, no reflection, no xorout), over the bytes after the
//!   preamble, sent most significant byte first.

/// CRC5 generator without its leading `x^5` term.
const CRC5_POLY: u8 = 0x05;
/// CRC5 register preset.
const CRC5_INIT: u8 = 0x1F;
/// CRC16 CCITT-FALSE generator without its leading `x^16` term.
const CRC16_POLY: u16 = 0x1021;
/// CRC16 CCITT-FALSE register preset.
const CRC16_INIT: u16 = 0xFFFF;

/// CRC5 over the first `bit_count` bits of `bytes`, most significant bit of
/// each byte first. Bits past the end of `bytes` are never read: the count is
/// clamped to `bytes.len() * 8`.
#[must_use]
pub fn crc5_bits(bytes: &[u8], bit_count: usize) -> u8 {
    let bit_count = bit_count.min(bytes.len().saturating_mul(8));
    let mut crc = CRC5_INIT;
    for (byte_index, &byte) in bytes.iter().enumerate() {
        let bits_before = byte_index * 8;
        if bits_before >= bit_count {
            break;
        }
        let bits_here = (bit_count - bits_before).min(8);
        for bit_index in 0..bits_here {
            let input = (byte >> (7 - bit_index)) & 1;
            let feedback = ((crc >> 4) & 1) ^ input;
            crc = (crc << 1) & 0x1F;
            if feedback != 0 {
                crc ^= CRC5_POLY;
            }
        }
    }
    crc
}

/// CRC5 over whole bytes: the value a command frame carries as its last byte
/// when given the bytes between the preamble and that last byte.
#[must_use]
pub fn crc5(bytes: &[u8]) -> u8 {
    crc5_bits(bytes, bytes.len().saturating_mul(8))
}

/// The final byte of a response frame: `response_type` (3 bits) in bits 7-5 and
/// the CRC5 of `body` followed by those three bits in bits 4-0.
///
/// `body` is the frame between the `AA 55` preamble and the final byte.
#[must_use]
pub fn response_crc_byte(body: &[u8], response_type: u8) -> u8 {
    let type_bits = (response_type & 0x07) << 5;
    // Run the body, then the three type bits (the top of the final byte).
    let mut crc = crc5(body);
    for bit_index in 0..3 {
        let input = (type_bits >> (7 - bit_index)) & 1;
        let feedback = ((crc >> 4) & 1) ^ input;
        crc = (crc << 1) & 0x1F;
        if feedback != 0 {
            crc ^= CRC5_POLY;
        }
    }
    type_bits | crc
}

/// Whether a response frame's CRC5 checks out. `after_preamble` is the frame
/// without its `AA 55` preamble, ending in the type+CRC byte.
#[must_use]
pub fn response_crc_ok(after_preamble: &[u8]) -> bool {
    // A non-reflected CRC with no xorout leaves a zero remainder when run over
    // the message followed by its own CRC bits.
    !after_preamble.is_empty() && crc5(after_preamble) == 0
}

/// CRC-16/CCITT-FALSE of `bytes`.
#[must_use]
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = CRC16_INIT;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ CRC16_POLY
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_ccitt_false_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc16(b""), 0xFFFF);
    }

    #[test]
    fn crc5_reproduces_reference_command_frames() {
        // (frame, from the reference and captures) -> last byte is the CRC.
        let frames: [&[u8]; 8] = [
            &[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A],
            &[0x55, 0xAA, 0x53, 0x05, 0x00, 0x00, 0x03],
            &[
                0x55, 0xAA, 0x51, 0x09, 0x00, 0xA4, 0x90, 0x00, 0xFF, 0xFF, 0x1C,
            ],
            &[0x55, 0xAA, 0x40, 0x05, 0x00, 0x00, 0x1C],
            &[
                0x55, 0xAA, 0x51, 0x09, 0x00, 0x14, 0x00, 0x00, 0x00, 0xFF, 0x08,
            ],
            &[
                0x55, 0xAA, 0x51, 0x09, 0x00, 0x54, 0x00, 0x00, 0x00, 0x03, 0x1D,
            ],
            &[
                0x55, 0xAA, 0x41, 0x09, 0x00, 0xA8, 0x00, 0x07, 0x01, 0xF0, 0x15,
            ],
            &[
                0x55, 0xAA, 0x51, 0x09, 0x00, 0x18, 0xF0, 0x00, 0xC1, 0x00, 0x04,
            ],
        ];
        for frame in frames {
            let (last, body) = frame.split_last().unwrap();
            assert_eq!(crc5(&body[2..]), *last, "frame {frame:02X?}");
        }
    }

    #[test]
    fn crc5_reproduces_captured_responses() {
        // Captured responses (chip id reads and nonces).
        let frames: [[u8; 11]; 4] = [
            [
                0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
            ],
            [
                0xAA, 0x55, 0x13, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0F,
            ],
            [
                0xAA, 0x55, 0x18, 0x00, 0xA6, 0x40, 0x02, 0x99, 0x22, 0xF9, 0x91,
            ],
            [
                0xAA, 0x55, 0x6D, 0xB8, 0x8E, 0xE1, 0x01, 0x04, 0x03, 0x54, 0x94,
            ],
        ];
        for frame in frames {
            assert!(response_crc_ok(&frame[2..]), "frame {frame:02X?}");
            let (last, body) = frame.split_last().unwrap();
            assert_eq!(response_crc_byte(&body[2..], last >> 5), *last);
        }
        // The 9-byte MISC_CONTROL read from a fresh BM1370.
        let short = [0xAA, 0x55, 0x00, 0x00, 0xC1, 0x00, 0x00, 0x18, 0x02];
        assert!(response_crc_ok(&short[2..]));
    }

    #[test]
    fn crc5_bits_stops_at_the_requested_bit() {
        // Counting fewer bits than the slice holds must ignore the rest.
        assert_eq!(crc5_bits(&[0x52, 0x05, 0x00, 0x00, 0xFF], 32), 0x0A);
        // Counting more bits than exist is clamped.
        assert_eq!(crc5_bits(&[0x52, 0x05, 0x00, 0x00], 1000), 0x0A);
        assert_eq!(crc5_bits(&[], 8), CRC5_INIT);
    }

    #[test]
    fn single_bit_flips_always_change_the_crc5_residue() {
        // A captured nonce response without its preamble: zero remainder.
        let frame = [0x18, 0x00, 0xA6, 0x40, 0x02, 0x99, 0x22, 0xF9, 0x91];
        assert_eq!(crc5(&frame), 0);
        for bit in 0..frame.len() * 8 {
            let mut corrupted = frame;
            corrupted[bit / 8] ^= 0x80 >> (bit % 8);
            assert_ne!(crc5(&corrupted), 0, "bit {bit}");
        }
    }
}
