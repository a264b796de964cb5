//! Sans-IO codec for the serial protocol of Bitmain's BM13xx hashing ASICs
//! (BM1366, BM1368, BM1370, BM1397): bytes in, typed values out, and back.
//! No serial port, no async, no allocation; `no_std` outside tests.
//!
//! | module | job |
//! |---|---|
//! | [`crc`] | CRC5 (commands, responses) and CRC16 (jobs) |
//! | [`chip`] | models: ids, core geometry, nonce/result-header layouts |
//! | [`command`] | host -> chain register commands, encode and decode |
//! | [`job`] | 88-byte full-header job frames and block-header rebuild |
//! | [`midstate`] | BM1397 midstate job frames (1-4 host-computed midstates), SHA-256 midstates, header rebuild |
//! | [`response`] | chain -> host register/nonce frames, encode and decode |
//! | [`parser`] | bounded stream framers for both directions |
//! | [`registers`] | PLL, ticket mask, baud, HCN, version rolling, ... |
//! | [`freq`] | integer-kHz frequencies and 6.25 MHz ramps |
//!
//! Protocol facts come from the project's hashboard reference, ESP-Miner, and
//! mujina's capture-based reference; details no capture confirms are marked
//! *unverified* where they are used. The main ones:
//!
//! - nonce fields (core id, chip address) are read from the nonce's
//!   most-significant-byte-first reading, per ESP-Miner and the captures;
//!   BM1368 and BM1397 layouts are not capture-checked;
//! - the BM1368 result header is taken as 4-bit job id + 4-bit sub-core (as
//!   ESP-Miner decodes it), the BM1397's as 6-bit job id + 2-bit midstate;
//! - VCO ranges for BM1366/BM1368/BM1397 and the BM1397's PLL post-divider
//!   encoding;
//! - UART_BAUD bits 31-16 and MISC_CONTROL bits 27-16 are carried as observed;
//! - BM1397 midstate jobs: layout and CRC capture-checked, midstate byte
//!   order and merkle-tail order from ESP-Miner (see [`midstate`]).
//!
//! Job frames declare length `0x36` as factory firmware does; ESP-Miner sends
//! the true byte count `0x56` and the BM1370 accepts both, so decoding does too.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
// Unit tests may unwrap and panic; the library itself may not (workspace lints).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod chip;
pub mod command;
pub mod crc;
pub mod error;
pub mod freq;
pub mod job;
pub mod midstate;
pub mod parser;
pub mod registers;
pub mod response;

pub use chip::{ChipIdentity, ChipKind, ResultHeaderLayout};
pub use command::{decode_command, Command, CommandFrame, Destination};
pub use error::{
    DecodeError, EncodeError, FrameError, MidstateError, RegisterError, UnknownChipId,
};
pub use freq::{frequency_ramp, FreqKhz, FrequencyRamp, RAMP_STEP};
pub use job::{chip_word_order, decode_job, JobFrame, JobId, JobLengthByte};
pub use midstate::{
    decode_midstate_job, header_midstate, sha256_midstate, MidstateJobFrame, MidstateJobId,
    MAX_MIDSTATES,
};
pub use parser::{
    decode_host_frame, decode_host_frame_as, HostFrame, HostFrameParser, JobFormat, ParserStats,
    ResponseParser,
};
pub use registers::pll::{pll_for_frequency, PllConfig, PllLimits};
pub use response::{
    decode_response, encode_nonce_response, encode_register_response, encode_response,
    NonceResponse, RegisterResponse, Response, ResponseFrame, ResponseLayout,
};
