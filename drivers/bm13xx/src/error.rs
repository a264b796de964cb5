//! Error values. Every malformed input ends up here; nothing in this crate
//! panics on bad bytes or out-of-range numbers.

/// Building a frame failed: a field does not fit its place on the wire, or the
/// output buffer is too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The caller's output buffer cannot hold the frame.
    #[error("output buffer holds {available} bytes, the frame needs {needed}")]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A job id outside 0..=15 (job frames carry it in 4 bits).
    #[error("job id {0} does not fit the 4-bit job id field (0..=15)")]
    InvalidJobId(u8),
    /// A response field is wider than the chip family's wire field.
    #[error("{field} = {value} does not fit its wire field (max {max})")]
    FieldOutOfRange {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The largest value the field holds.
        max: u32,
    },
    /// A nonce response carries version bits but the layout has no room for
    /// them (9-byte frames), or lacks them where the layout requires them
    /// (11-byte frames).
    #[error(
        "nonce version bits present={present} but the frame layout expects present={expected}"
    )]
    VersionBitsMismatch {
        /// Whether the response had version bits.
        present: bool,
        /// Whether the layout needs them.
        expected: bool,
    },
    /// The register response's two unknown trailing bytes only exist in
    /// 11-byte frames; non-zero values cannot be sent in a 9-byte frame.
    #[error("register response extra bytes {0:02X?} need the 11-byte layout")]
    ExtraBytesNeedLongLayout([u8; 2]),
}

/// A host -> chain frame (register command or job) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the smallest frame of this kind.
    #[error("{0} bytes is too short for a frame")]
    TooShort(usize),
    /// The slice length disagrees with the frame's declared/fixed length.
    #[error("frame is {actual} bytes, expected {expected}")]
    WrongLength {
        /// Bytes the frame should have.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The frame does not start with `55 AA`.
    #[error("preamble {0:02X} {1:02X}, expected 55 AA")]
    BadPreamble(u8, u8),
    /// The type/flags byte is not a command this codec knows.
    #[error("unknown type/command byte {0:#04x}")]
    UnknownCommand(u8),
    /// The length byte is wrong for the command.
    #[error("length byte {found:#04x}, expected {expected:#04x}")]
    BadLengthByte {
        /// What the command requires.
        expected: u8,
        /// What the frame carries.
        found: u8,
    },
    /// The checksum (CRC5 for commands, CRC16 for jobs) does not match.
    #[error("checksum mismatch: frame carries {found:#06x}, computed {computed:#06x}")]
    Crc {
        /// Computed over the frame.
        computed: u16,
        /// Carried by the frame.
        found: u16,
    },
    /// A byte that must be zero is not (reserved fields, broadcast address).
    #[error("byte {offset} must be 0 but is {value:#04x}")]
    ReservedNonZero {
        /// Offset in the frame, preamble included.
        offset: usize,
        /// The byte found.
        value: u8,
    },
    /// Job header bits outside the 4-bit job id (bits 6-3) are set.
    #[error("job header {0:#04x} has bits set outside bits 6-3")]
    BadJobHeader(u8),
    /// Only single-midstate full-header jobs are modelled.
    #[error("job declares {0} midstates, only 1 is supported")]
    UnsupportedMidstates(u8),
    /// A midstate job declares a midstate count outside 1..=4 or more
    /// midstates than its length byte leaves room for.
    #[error("midstate job declares {declared} midstates in a frame with {slots} slots")]
    BadMidstateCount {
        /// The count byte (offset 5).
        declared: u8,
        /// 32-byte slots the length byte gives room for.
        slots: u8,
    },
}

/// A chain -> host response frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The slice is not exactly one frame of the configured layout.
    #[error("response is {actual} bytes, the layout expects {expected}")]
    WrongLength {
        /// Bytes the layout needs (9 or 11).
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The frame does not start with `AA 55`.
    #[error("preamble {0:02X} {1:02X}, expected AA 55")]
    BadPreamble(u8, u8),
    /// CRC5 over the frame (type bits included) does not check out.
    #[error("response CRC5 mismatch (last byte {last_byte:#04x})")]
    Crc {
        /// The frame's type+CRC byte.
        last_byte: u8,
    },
    /// CRC-valid frame with a type other than 0 (register) or 4 (nonce).
    #[error("unknown response type {0}")]
    UnknownType(u8),
}

/// A register value could not be built or interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// No PLL setting reaches a frequency at or below the target inside the
    /// chip's legal range, or the target is above the codec's ceiling.
    #[error("{target_khz} kHz is outside the PLL range {min_khz}..={max_khz} kHz")]
    FrequencyOutOfRange {
        /// The frequency asked for.
        target_khz: u32,
        /// Lowest frequency the chip's PLL limits reach.
        min_khz: u32,
        /// Highest frequency accepted.
        max_khz: u32,
    },
    /// A PLL register value with a zero divider.
    #[error("PLL register {0:#010x} has a zero divider")]
    InvalidPllRegister(u32),
    /// A baud rate the 8-bit divider cannot produce.
    #[error("{requested} baud is outside {min}..={max}")]
    BaudOutOfRange {
        /// Baud asked for.
        requested: u32,
        /// Slowest rate (divider 255).
        min: u32,
        /// Fastest rate (divider 0).
        max: u32,
    },
    /// Ticket-mask difficulty must be a power of two in 1..=2^32.
    #[error("difficulty {0} is not a power of two in 1..=2^32")]
    InvalidDifficulty(u64),
    /// A ticket-mask register value that is not `2^n - 1` after un-reversing.
    #[error("ticket mask register {0:#010x} is not a contiguous low mask")]
    InvalidTicketMask(u32),
    /// Version-rolling mask with bits outside 28..=13 (or empty).
    #[error("version mask {0:#010x} is empty or has bits outside 0x1FFFE000")]
    InvalidVersionMask(u32),
    /// Chain length must be 1..=256.
    #[error("chain length {0} is outside 1..=256")]
    InvalidChainLength(u16),
    /// Chip index not inside the chain.
    #[error("chip index {index} is not below chain length {chain_len}")]
    ChipIndexOutOfRange {
        /// Index asked for.
        index: u16,
        /// Chips in the chain.
        chain_len: u16,
    },
    /// The hash counting number would be zero or negative after the guard.
    #[error("hash counting number underflows for this chain/frequency")]
    HashCountingUnderflow,
}

/// A BM1397 midstate job could not be built, or a nonce could not be tied
/// back to the header it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MidstateError {
    /// Midstate jobs carry 1 to 4 midstates.
    #[error("{0} midstates requested; a midstate job carries 1..=4")]
    InvalidCount(u8),
    /// Midstate job ids are 6 bits (0..=63).
    #[error("midstate job id {0} does not fit the 6-bit field (0..=63)")]
    InvalidJobId(u8),
    /// A nonce names a midstate the job does not carry.
    #[error("midstate index {index} but the job carries {count}")]
    IndexOutOfRange {
        /// The index from the nonce response.
        index: u8,
        /// Midstates in the job.
        count: u8,
    },
    /// The host's header fields disagree with the frame (ntime, nbits or the
    /// merkle root's last four bytes).
    #[error("the header fields do not match the midstate job")]
    FieldsDiffer,
    /// The rebuilt header's first 64 bytes do not compress to the frame's
    /// midstate: wrong fields, wrong version mask, or a wrong index.
    #[error("the rebuilt header does not give midstate {0} of the job")]
    MidstateDiffers(u8),
}

/// A chip id that is not one of the supported models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown BM13xx chip id {0:#06x}")]
pub struct UnknownChipId(pub u16);
