//! Host -> chain register commands: set chip address, write register, read
//! register, chain inactive.
//!
//! Frame: `55 AA | type/flags | length | payload | CRC5`.
//! - type/flags: bits 6-5 type (2 = register command), bit 4 broadcast,
//!   bits 3-0 command (0 set address, 1 write, 2 read, 3 chain inactive).
//! - length: bytes after the preamble, CRC included: 5 for address/read/
//!   inactive, 9 for writes.
//! - payload: chip address, register address, then for writes the value most
//!   significant byte first.
//! - CRC5 over the bytes between the preamble and the CRC byte.
//!
//! Decoding is strict (the chip simulator uses it to catch host bugs): the
//! broadcast frames' address byte and the reserved bytes must be zero, as every
//! captured host sends them.

use crate::crc::crc5;
use crate::error::{DecodeError, EncodeError};

/// Host -> chain preamble.
pub const COMMAND_PREAMBLE: [u8; 2] = [0x55, 0xAA];

/// Type bits for register commands (bits 6-5 = 2).
pub(crate) const TYPE_COMMAND: u8 = 0x40;
/// Type bits for jobs (bits 6-5 = 1).
pub(crate) const TYPE_JOB: u8 = 0x20;
/// Broadcast flag (bit 4).
pub(crate) const FLAG_BROADCAST: u8 = 0x10;

const CMD_SET_ADDRESS: u8 = 0x0;
const CMD_WRITE: u8 = 0x1;
const CMD_READ: u8 = 0x2;
const CMD_CHAIN_INACTIVE: u8 = 0x3;

/// Length byte (and bytes after the preamble) of address/read/inactive frames.
const SHORT_LEN: u8 = 5;
/// Length byte of register writes.
const WRITE_LEN: u8 = 9;

/// Longest register command on the wire (a write): 11 bytes.
pub const MAX_COMMAND_LEN: usize = WRITE_LEN as usize + 2;

/// Which chips a register command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The chip with this address.
    Chip(u8),
    /// Every chip (broadcast bit set, address byte 0).
    Broadcast,
}

/// A register command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The first unaddressed chip after [`Command::ChainInactive`] takes this
    /// address (`55 AA 40 05 addr 00 crc`).
    SetChipAddress {
        /// The address to assign.
        address: u8,
    },
    /// Write a 32-bit register.
    WriteRegister {
        /// One chip or all.
        destination: Destination,
        /// Register address (0x08 PLL, 0x14 ticket mask, ...).
        register: u8,
        /// Value, sent most significant byte first.
        value: u32,
    },
    /// Read a 32-bit register; each addressed chip answers with a register
    /// response.
    ReadRegister {
        /// One chip or all (a broadcast read of 0x00 discovers the chain).
        destination: Destination,
        /// Register address.
        register: u8,
    },
    /// Put every chip into addressing mode (`55 AA 53 05 00 00 03`).
    ChainInactive,
}

/// An encoded command, held inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommandFrame {
    bytes: [u8; MAX_COMMAND_LEN],
    len: u8,
}

impl CommandFrame {
    /// The frame's bytes, preamble to CRC.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        // len is always 7 or 11, both <= MAX_COMMAND_LEN.
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

impl AsRef<[u8]> for CommandFrame {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for CommandFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CommandFrame({:02X?})", self.as_bytes())
    }
}

impl Command {
    /// Bytes on the wire: 11 for writes, 7 otherwise.
    #[must_use]
    pub const fn frame_len(&self) -> usize {
        match self {
            Command::WriteRegister { .. } => WRITE_LEN as usize + 2,
            _ => SHORT_LEN as usize + 2,
        }
    }

    /// The type/flags byte.
    #[must_use]
    pub const fn type_byte(&self) -> u8 {
        match self {
            Command::SetChipAddress { .. } => TYPE_COMMAND | CMD_SET_ADDRESS,
            Command::WriteRegister { destination, .. } => {
                TYPE_COMMAND | broadcast_flag(*destination) | CMD_WRITE
            }
            Command::ReadRegister { destination, .. } => {
                TYPE_COMMAND | broadcast_flag(*destination) | CMD_READ
            }
            Command::ChainInactive => TYPE_COMMAND | FLAG_BROADCAST | CMD_CHAIN_INACTIVE,
        }
    }

    /// Encode into an inline frame.
    #[must_use]
    pub fn to_frame(&self) -> CommandFrame {
        let mut bytes = [0u8; MAX_COMMAND_LEN];
        bytes[0] = COMMAND_PREAMBLE[0];
        bytes[1] = COMMAND_PREAMBLE[1];
        bytes[2] = self.type_byte();
        let (length, [p0, p1], value) = match *self {
            Command::SetChipAddress { address } => (SHORT_LEN, [address, 0], None),
            Command::WriteRegister {
                destination,
                register,
                value,
            } => (
                WRITE_LEN,
                [address_byte(destination), register],
                Some(value),
            ),
            Command::ReadRegister {
                destination,
                register,
            } => (SHORT_LEN, [address_byte(destination), register], None),
            Command::ChainInactive => (SHORT_LEN, [0, 0], None),
        };
        bytes[3] = length;
        bytes[4] = p0;
        bytes[5] = p1;
        let crc_at = match value {
            Some(value) => {
                bytes[6..10].copy_from_slice(&value.to_be_bytes());
                10
            }
            None => 6,
        };
        bytes[crc_at] = crc5(&bytes[2..crc_at]);
        CommandFrame {
            bytes,
            len: length + 2,
        }
    }

    /// Encode into `out`, returning the bytes written.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] if `out` is shorter than
    /// [`Command::frame_len`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let frame = self.to_frame();
        let bytes = frame.as_bytes();
        let available = out.len();
        let dest = out
            .get_mut(..bytes.len())
            .ok_or(EncodeError::BufferTooSmall {
                needed: bytes.len(),
                available,
            })?;
        dest.copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

const fn broadcast_flag(destination: Destination) -> u8 {
    match destination {
        Destination::Chip(_) => 0,
        Destination::Broadcast => FLAG_BROADCAST,
    }
}

const fn address_byte(destination: Destination) -> u8 {
    match destination {
        Destination::Chip(address) => address,
        Destination::Broadcast => 0,
    }
}

/// The length byte a register command with this type/flags byte must carry,
/// or `None` if the byte is not a known register command.
pub(crate) const fn expected_length_byte(type_byte: u8) -> Option<u8> {
    match type_byte {
        0x40 | 0x42 | 0x52 | 0x53 => Some(SHORT_LEN),
        0x41 | 0x51 => Some(WRITE_LEN),
        _ => None,
    }
}

/// Parse exactly one register command frame (preamble to CRC).
///
/// # Errors
/// A [`DecodeError`] for a short or mis-sized slice, a wrong preamble, an
/// unknown type/flags byte, a wrong length byte, a CRC mismatch, or a non-zero
/// reserved/broadcast-address byte.
pub fn decode_command(bytes: &[u8]) -> Result<Command, DecodeError> {
    let &[p0, p1, type_byte, length, ..] = bytes else {
        return Err(DecodeError::TooShort(bytes.len()));
    };
    if [p0, p1] != COMMAND_PREAMBLE {
        return Err(DecodeError::BadPreamble(p0, p1));
    }
    let expected_length =
        expected_length_byte(type_byte).ok_or(DecodeError::UnknownCommand(type_byte))?;
    if length != expected_length {
        return Err(DecodeError::BadLengthByte {
            expected: expected_length,
            found: length,
        });
    }
    let frame_len = usize::from(length) + 2;
    if bytes.len() != frame_len {
        return Err(DecodeError::WrongLength {
            expected: frame_len,
            actual: bytes.len(),
        });
    }
    let (&found, body) = bytes
        .split_last()
        .ok_or(DecodeError::TooShort(bytes.len()))?;
    let computed = crc5(body.get(2..).unwrap_or_default());
    if computed != found {
        return Err(DecodeError::Crc {
            computed: u16::from(computed),
            found: u16::from(found),
        });
    }

    let first = body.get(4).copied().unwrap_or_default();
    let second = body.get(5).copied().unwrap_or_default();
    let broadcast = type_byte & FLAG_BROADCAST != 0;
    let destination = if broadcast {
        require_zero(first, 4)?;
        Destination::Broadcast
    } else {
        Destination::Chip(first)
    };
    match type_byte & 0x0F {
        CMD_SET_ADDRESS => {
            require_zero(second, 5)?;
            Ok(Command::SetChipAddress { address: first })
        }
        CMD_WRITE => {
            let mut value = [0u8; 4];
            value.copy_from_slice(body.get(6..10).unwrap_or(&[0; 4]));
            Ok(Command::WriteRegister {
                destination,
                register: second,
                value: u32::from_be_bytes(value),
            })
        }
        CMD_READ => Ok(Command::ReadRegister {
            destination,
            register: second,
        }),
        _ => {
            // Chain inactive: the only remaining accepted type byte.
            require_zero(second, 5)?;
            Ok(Command::ChainInactive)
        }
    }
}

fn require_zero(value: u8, offset: usize) -> Result<(), DecodeError> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeError::ReservedNonZero { offset, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_frames_encode_exactly() {
        let cases: [(Command, &[u8]); 5] = [
            (
                Command::ReadRegister {
                    destination: Destination::Broadcast,
                    register: 0x00,
                },
                &[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A],
            ),
            (
                Command::ChainInactive,
                &[0x55, 0xAA, 0x53, 0x05, 0x00, 0x00, 0x03],
            ),
            (
                Command::WriteRegister {
                    destination: Destination::Broadcast,
                    register: 0xA4,
                    value: 0x9000_FFFF,
                },
                &[
                    0x55, 0xAA, 0x51, 0x09, 0x00, 0xA4, 0x90, 0x00, 0xFF, 0xFF, 0x1C,
                ],
            ),
            (
                Command::SetChipAddress { address: 0 },
                &[0x55, 0xAA, 0x40, 0x05, 0x00, 0x00, 0x1C],
            ),
            (
                Command::WriteRegister {
                    destination: Destination::Chip(0),
                    register: 0xA8,
                    value: 0x0007_01F0,
                },
                &[
                    0x55, 0xAA, 0x41, 0x09, 0x00, 0xA8, 0x00, 0x07, 0x01, 0xF0, 0x15,
                ],
            ),
        ];
        for (command, bytes) in cases {
            assert_eq!(command.to_frame().as_bytes(), bytes, "{command:?}");
            assert_eq!(command.frame_len(), bytes.len());
            assert_eq!(decode_command(bytes), Ok(command));
        }
    }

    #[test]
    fn encode_into_small_buffer_is_an_error() {
        let mut out = [0u8; 6];
        assert_eq!(
            Command::ChainInactive.encode(&mut out),
            Err(EncodeError::BufferTooSmall {
                needed: 7,
                available: 6
            })
        );
        let mut out = [0u8; 16];
        assert_eq!(Command::ChainInactive.encode(&mut out), Ok(7));
        assert_eq!(&out[..7], &[0x55, 0xAA, 0x53, 0x05, 0x00, 0x00, 0x03]);
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            decode_command(&[0x55, 0xAA, 0x52]),
            Err(DecodeError::TooShort(3))
        );
        assert_eq!(
            decode_command(&[0xAA, 0x55, 0x52, 0x05, 0x00, 0x00, 0x0A]),
            Err(DecodeError::BadPreamble(0xAA, 0x55))
        );
        assert_eq!(
            decode_command(&[0x55, 0xAA, 0x21, 0x05, 0x00, 0x00, 0x0A]),
            Err(DecodeError::UnknownCommand(0x21))
        );
        assert_eq!(
            decode_command(&[0x55, 0xAA, 0x52, 0x09, 0x00, 0x00, 0x0A]),
            Err(DecodeError::BadLengthByte {
                expected: 5,
                found: 9
            })
        );
        assert_eq!(
            decode_command(&[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A, 0x00]),
            Err(DecodeError::WrongLength {
                expected: 7,
                actual: 8
            })
        );
        assert_eq!(
            decode_command(&[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0B]),
            Err(DecodeError::Crc {
                computed: 0x0A,
                found: 0x0B
            })
        );
        // Broadcast read with a non-zero address byte (CRC made valid).
        let mut frame = [0x55, 0xAA, 0x52, 0x05, 0x07, 0x00, 0x00];
        frame[6] = crc5(&frame[2..6]);
        assert_eq!(
            decode_command(&frame),
            Err(DecodeError::ReservedNonZero {
                offset: 4,
                value: 7
            })
        );
    }
}
