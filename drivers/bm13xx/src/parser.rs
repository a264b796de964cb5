//! Byte-stream framers: push bytes as they arrive from a serial port, pull
//! typed frames out.
//!
//! - [`ResponseParser`]: chain -> host (the driver's side).
//! - [`HostFrameParser`]: host -> chain, commands and jobs (the chip
//!   simulator's side).
//!
//! Both keep a fixed-size buffer: [`push`](ResponseParser::push) takes only as
//! many bytes as fit and says how many it took, so memory never grows. Garbage
//! is skipped byte by byte until a preamble lines up, and counted in
//! [`ParserStats`]. A candidate frame that fails its checks gives up only its
//! first byte, so a real frame starting inside it is still found. Decisions
//! depend only on the bytes, never on how they were split into pushes.

use crate::command::{decode_command, expected_length_byte, Command, COMMAND_PREAMBLE};
use crate::error::{DecodeError, FrameError};
use crate::job::{decode_job, JobFrame, JOB_FRAME_LEN, JOB_TYPE_BYTE};
use crate::midstate::{
    decode_midstate_job, midstate_job_len, midstate_length_byte, slots_for_length_byte,
    MidstateJobFrame,
};
use crate::response::{decode_response, Response, ResponseLayout, RESPONSE_PREAMBLE};

/// Buffer size of [`ResponseParser`]: a few 11-byte frames.
pub const RESPONSE_PARSER_CAPACITY: usize = 64;
/// Buffer size of [`HostFrameParser`]: room for an 88-byte job and more.
pub const HOST_PARSER_CAPACITY: usize = 256;

/// Counters a parser keeps; they saturate instead of wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParserStats {
    /// Frames decoded successfully.
    pub frames: u64,
    /// Bytes dropped while looking for a preamble or after a failed candidate.
    pub skipped_bytes: u64,
    /// Candidates rejected by their checksum.
    pub crc_errors: u64,
    /// Candidates rejected for any other reason (unknown type, bad length
    /// byte, reserved bits).
    pub other_errors: u64,
}

/// A fixed-capacity byte queue with cheap removal from the front.
#[derive(Clone)]
struct ByteWindow<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> ByteWindow<N> {
    const fn new() -> Self {
        ByteWindow {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn free(&self) -> usize {
        N - self.len
    }

    /// Append as much of `input` as fits; returns how much.
    fn push(&mut self, input: &[u8]) -> usize {
        let take = input.len().min(self.free());
        if let (Some(dest), Some(src)) = (
            self.bytes.get_mut(self.len..self.len + take),
            input.get(..take),
        ) {
            dest.copy_from_slice(src);
            self.len += take;
            take
        } else {
            0
        }
    }

    /// Drop the first `count` bytes (all of them if fewer are held).
    fn consume(&mut self, count: usize) {
        let count = count.min(self.len);
        self.bytes.copy_within(count..self.len, 0);
        self.len -= count;
    }

    /// Drop bytes until `preamble` starts the window (or its first byte ends
    /// it, waiting for the second). Returns the number dropped.
    fn seek(&mut self, preamble: [u8; 2]) -> usize {
        let held = self.as_slice();
        let start = held
            .windows(2)
            .position(|pair| pair == preamble)
            .unwrap_or_else(|| {
                // Keep a trailing first preamble byte: its partner may follow.
                if held.last() == Some(&preamble[0]) {
                    held.len() - 1
                } else {
                    held.len()
                }
            });
        self.consume(start);
        start
    }
}

fn bump(counter: &mut u64, by: usize) {
    *counter = counter.saturating_add(u64::try_from(by).unwrap_or(u64::MAX));
}

/// Frames chain -> host responses out of a byte stream.
///
/// ```
/// use hearth_bm13xx::{ChipKind, ResponseLayout, ResponseParser, Response};
///
/// let mut parser = ResponseParser::new(ResponseLayout::new(ChipKind::Bm1370, true));
/// let mut found = Vec::new();
/// // Garbage, then a chip-id answer split over two reads.
/// parser.feed(&[0x00, 0x13, 0xAA, 0x55, 0x13, 0x70], |r| found.push(r));
/// parser.feed(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10], |r| found.push(r));
/// assert!(matches!(found.as_slice(), [Ok(Response::Register(r))] if r.value == 0x1370_0000));
/// assert_eq!(parser.stats().skipped_bytes, 2);
/// ```
#[derive(Clone)]
pub struct ResponseParser {
    layout: ResponseLayout,
    window: ByteWindow<RESPONSE_PARSER_CAPACITY>,
    stats: ParserStats,
}

impl core::fmt::Debug for ResponseParser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseParser")
            .field("layout", &self.layout)
            .field("buffered", &self.window.as_slice())
            .field("stats", &self.stats)
            .finish()
    }
}

impl ResponseParser {
    /// An empty parser for `layout`.
    #[must_use]
    pub const fn new(layout: ResponseLayout) -> ResponseParser {
        ResponseParser {
            layout,
            window: ByteWindow::new(),
            stats: ParserStats {
                frames: 0,
                skipped_bytes: 0,
                crc_errors: 0,
                other_errors: 0,
            },
        }
    }

    /// The current layout.
    #[must_use]
    pub const fn layout(&self) -> ResponseLayout {
        self.layout
    }

    /// Switch layout, e.g. to 11-byte frames after writing register 0xA4.
    /// Buffered bytes are kept and framed with the new length.
    pub fn set_layout(&mut self, layout: ResponseLayout) {
        self.layout = layout;
    }

    /// Counters so far.
    #[must_use]
    pub const fn stats(&self) -> ParserStats {
        self.stats
    }

    /// Bytes held, not yet framed.
    #[must_use]
    pub fn buffered(&self) -> &[u8] {
        self.window.as_slice()
    }

    /// Room left for [`ResponseParser::push`].
    #[must_use]
    pub fn free_capacity(&self) -> usize {
        self.window.free()
    }

    /// Drop buffered bytes (e.g. after a baud change); stats are kept.
    pub fn clear(&mut self) {
        self.window.consume(usize::MAX);
    }

    /// Buffer as much of `bytes` as fits; returns how many were taken. Call
    /// [`ResponseParser::next_response`] until `None`, then push the rest.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.window.push(bytes)
    }

    /// The next frame (or rejected candidate), or `None` when more bytes are
    /// needed.
    pub fn next_response(&mut self) -> Option<Result<Response, FrameError>> {
        let skipped = self.window.seek(RESPONSE_PREAMBLE);
        bump(&mut self.stats.skipped_bytes, skipped);
        let frame_len = self.layout.frame_len();
        let candidate = self.window.as_slice().get(..frame_len)?;
        match decode_response(candidate, self.layout) {
            Ok(response) => {
                self.window.consume(frame_len);
                bump(&mut self.stats.frames, 1);
                Some(Ok(response))
            }
            Err(error) => {
                // A CRC-valid frame of an unknown type is still a whole frame;
                // anything else gives up just its first byte and rescans.
                let drop = match error {
                    FrameError::UnknownType(_) => {
                        bump(&mut self.stats.other_errors, 1);
                        frame_len
                    }
                    FrameError::Crc { .. } => {
                        bump(&mut self.stats.crc_errors, 1);
                        1
                    }
                    FrameError::WrongLength { .. } | FrameError::BadPreamble(..) => {
                        bump(&mut self.stats.other_errors, 1);
                        1
                    }
                };
                self.window.consume(drop);
                bump(&mut self.stats.skipped_bytes, drop);
                Some(Err(error))
            }
        }
    }

    /// Push all of `bytes`, handing every frame or rejected candidate to
    /// `sink` as it completes.
    pub fn feed(&mut self, mut bytes: &[u8], mut sink: impl FnMut(Result<Response, FrameError>)) {
        loop {
            let taken = self.push(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            while let Some(item) = self.next_response() {
                sink(item);
            }
            if bytes.is_empty() {
                break;
            }
        }
    }
}

/// A host -> chain frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostFrame {
    /// A register command.
    Command(Command),
    /// A full-header job.
    Job(JobFrame),
    /// A BM1397 midstate job (only from a parser in [`JobFormat::Midstate`]).
    MidstateJob(MidstateJobFrame),
}

/// Which job frames a host stream carries. Both kinds use type byte 0x21 and
/// overlapping length bytes (0x36 and 0x56 are a full-header job's and also
/// a one- and two-midstate job's), so the reader has to know the chain's
/// model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JobFormat {
    /// 88-byte full-header jobs (BM1366, BM1368, BM1370).
    #[default]
    FullHeader,
    /// `24 + 32 x N` byte midstate jobs (BM1397).
    Midstate,
}

impl JobFormat {
    /// The format a chain of `chip` takes.
    #[must_use]
    pub const fn for_chip(chip: crate::ChipKind) -> JobFormat {
        if chip.takes_full_header_jobs() {
            JobFormat::FullHeader
        } else {
            JobFormat::Midstate
        }
    }
}

/// How many bytes the host frame starting with this type and length byte
/// occupies, or why it cannot be a frame.
fn host_frame_len(type_byte: u8, length_byte: u8, format: JobFormat) -> Result<usize, DecodeError> {
    if type_byte == JOB_TYPE_BYTE && format == JobFormat::Midstate {
        return slots_for_length_byte(length_byte)
            .map(midstate_job_len)
            .ok_or(DecodeError::BadLengthByte {
                expected: midstate_length_byte(1),
                found: length_byte,
            });
    }
    if type_byte == JOB_TYPE_BYTE {
        // Whatever the length byte says (0x36 or 0x56), jobs are 88 bytes;
        // decode_job vets the byte.
        return Ok(JOB_FRAME_LEN);
    }
    let expected = expected_length_byte(type_byte).ok_or(DecodeError::UnknownCommand(type_byte))?;
    if length_byte == expected {
        Ok(usize::from(length_byte) + 2)
    } else {
        Err(DecodeError::BadLengthByte {
            expected,
            found: length_byte,
        })
    }
}

/// Parse exactly one host frame, command or full-header job.
///
/// # Errors
/// As [`decode_command`] and [`decode_job`].
pub fn decode_host_frame(bytes: &[u8]) -> Result<HostFrame, DecodeError> {
    decode_host_frame_as(bytes, JobFormat::FullHeader)
}

/// Parse exactly one host frame, command or job of `format`.
///
/// # Errors
/// As [`decode_command`], [`decode_job`] and [`decode_midstate_job`].
pub fn decode_host_frame_as(bytes: &[u8], format: JobFormat) -> Result<HostFrame, DecodeError> {
    match (bytes.get(2), format) {
        (Some(&JOB_TYPE_BYTE), JobFormat::FullHeader) => decode_job(bytes).map(HostFrame::Job),
        (Some(&JOB_TYPE_BYTE), JobFormat::Midstate) => {
            decode_midstate_job(bytes).map(HostFrame::MidstateJob)
        }
        _ => decode_command(bytes).map(HostFrame::Command),
    }
}

/// Frames host -> chain traffic (commands and jobs) out of a byte stream: the
/// chip simulator's input side. Same contract as [`ResponseParser`].
#[derive(Clone)]
pub struct HostFrameParser {
    window: ByteWindow<HOST_PARSER_CAPACITY>,
    stats: ParserStats,
    format: JobFormat,
}

impl core::fmt::Debug for HostFrameParser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostFrameParser")
            .field("buffered", &self.window.as_slice().len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for HostFrameParser {
    fn default() -> Self {
        HostFrameParser::new()
    }
}

impl HostFrameParser {
    /// An empty parser for full-header jobs.
    #[must_use]
    pub const fn new() -> HostFrameParser {
        HostFrameParser::with_job_format(JobFormat::FullHeader)
    }

    /// An empty parser for jobs of `format`.
    #[must_use]
    pub const fn with_job_format(format: JobFormat) -> HostFrameParser {
        HostFrameParser {
            window: ByteWindow::new(),
            stats: ParserStats {
                frames: 0,
                skipped_bytes: 0,
                crc_errors: 0,
                other_errors: 0,
            },
            format,
        }
    }

    /// The job format frames are read as.
    #[must_use]
    pub const fn job_format(&self) -> JobFormat {
        self.format
    }

    /// Counters so far.
    #[must_use]
    pub const fn stats(&self) -> ParserStats {
        self.stats
    }

    /// Room left for [`HostFrameParser::push`].
    #[must_use]
    pub fn free_capacity(&self) -> usize {
        self.window.free()
    }

    /// Buffer as much of `bytes` as fits; returns how many were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.window.push(bytes)
    }

    /// The next frame (or rejected candidate), or `None` when more bytes are
    /// needed.
    pub fn next_frame(&mut self) -> Option<Result<HostFrame, DecodeError>> {
        let skipped = self.window.seek(COMMAND_PREAMBLE);
        bump(&mut self.stats.skipped_bytes, skipped);
        let held = self.window.as_slice();
        let (&type_byte, &length_byte) = (held.get(2)?, held.get(3)?);
        let decoded = match host_frame_len(type_byte, length_byte, self.format) {
            Err(error) => Err(error),
            Ok(frame_len) => {
                // Wait for the whole frame before judging it.
                let frame = held.get(..frame_len)?;
                decode_host_frame_as(frame, self.format).map(|frame| (frame_len, frame))
            }
        };
        match decoded {
            Ok((frame_len, frame)) => {
                self.window.consume(frame_len);
                bump(&mut self.stats.frames, 1);
                Some(Ok(frame))
            }
            Err(error) => {
                if matches!(error, DecodeError::Crc { .. }) {
                    bump(&mut self.stats.crc_errors, 1);
                } else {
                    bump(&mut self.stats.other_errors, 1);
                }
                self.window.consume(1);
                bump(&mut self.stats.skipped_bytes, 1);
                Some(Err(error))
            }
        }
    }

    /// Push all of `bytes`, handing every frame or rejected candidate to
    /// `sink`.
    pub fn feed(&mut self, mut bytes: &[u8], mut sink: impl FnMut(Result<HostFrame, DecodeError>)) {
        loop {
            let taken = self.push(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            while let Some(item) = self.next_frame() {
                sink(item);
            }
            if bytes.is_empty() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::ChipKind;
    use crate::command::Destination;

    #[test]
    fn window_keeps_a_trailing_preamble_byte() {
        let mut window = ByteWindow::<8>::new();
        assert_eq!(window.push(&[1, 2, 0xAA]), 3);
        assert_eq!(window.seek(RESPONSE_PREAMBLE), 2);
        assert_eq!(window.as_slice(), &[0xAA]);
        assert_eq!(window.push(&[0x55; 20]), 7);
        assert_eq!(window.seek(RESPONSE_PREAMBLE), 0);
    }

    #[test]
    fn response_parser_waits_for_whole_frames() {
        let mut parser = ResponseParser::new(ResponseLayout::new(ChipKind::Bm1370, true));
        let frame = [
            0xAA, 0x55, 0x18, 0x00, 0xA6, 0x40, 0x02, 0x99, 0x22, 0xF9, 0x91,
        ];
        for &byte in &frame[..10] {
            assert_eq!(parser.push(&[byte]), 1);
            assert_eq!(parser.next_response(), None);
        }
        parser.push(&frame[10..]);
        assert!(matches!(
            parser.next_response(),
            Some(Ok(Response::Nonce(_)))
        ));
        assert_eq!(parser.next_response(), None);
        assert_eq!(parser.stats().frames, 1);
    }

    #[test]
    fn response_parser_layout_switch() {
        let mut parser = ResponseParser::new(ResponseLayout::new(ChipKind::Bm1370, false));
        let mut items = Vec::new();
        parser.feed(
            &[0xAA, 0x55, 0x00, 0x00, 0xC1, 0x00, 0x00, 0x18, 0x02],
            |r| items.push(r),
        );
        parser.set_layout(ResponseLayout::new(ChipKind::Bm1370, true));
        parser.feed(
            &[
                0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
            ],
            |r| items.push(r),
        );
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[test]
    fn host_parser_splits_commands_and_jobs() {
        let job = JobFrame {
            job_id: crate::job::JobId::new(5).unwrap(),
            version: 0x2000_0000,
            prev_block_hash: [7; 32],
            merkle_root: [9; 32],
            ntime: 1,
            nbits: 2,
            starting_nonce: 0,
        };
        let write = Command::WriteRegister {
            destination: Destination::Chip(4),
            register: 0x08,
            value: 0x40A8_0230,
        };
        let mut stream = Vec::new();
        stream.extend_from_slice(&[0x00, 0x55, 0x55]);
        stream.extend_from_slice(Command::ChainInactive.to_frame().as_bytes());
        stream.extend_from_slice(&job.to_bytes());
        stream.extend_from_slice(write.to_frame().as_bytes());
        let mut parser = HostFrameParser::new();
        let mut frames = Vec::new();
        parser.feed(&stream, |f| frames.push(f));
        assert_eq!(
            frames,
            vec![
                Ok(HostFrame::Command(Command::ChainInactive)),
                Ok(HostFrame::Job(job)),
                Ok(HostFrame::Command(write)),
            ]
        );
        assert_eq!(parser.stats().skipped_bytes, 3);
    }

    #[test]
    fn midstate_parser_frames_every_count() {
        let fields = JobFrame {
            job_id: crate::job::JobId::default(),
            version: 0x2000_0000,
            prev_block_hash: [3; 32],
            merkle_root: [4; 32],
            ntime: 5,
            nbits: 6,
            starting_nonce: 0,
        };
        let mut stream = vec![0x55, 0xAA, 0x21];
        let mut jobs = Vec::new();
        for count in 1..=4u8 {
            let id = crate::midstate::MidstateJobId::new(count).unwrap();
            let job = MidstateJobFrame::from_fields(id, &fields, 0x1FFF_E000, count).unwrap();
            stream.extend_from_slice(job.to_bytes().as_bytes());
            stream.extend_from_slice(Command::ChainInactive.to_frame().as_bytes());
            jobs.push(job);
        }
        let mut parser = HostFrameParser::with_job_format(JobFormat::for_chip(ChipKind::Bm1397));
        assert_eq!(parser.job_format(), JobFormat::Midstate);
        let mut frames = Vec::new();
        // Byte by byte: decisions never depend on the split.
        for byte in &stream {
            parser.feed(core::slice::from_ref(byte), |f| frames.push(f));
        }
        let ok: Vec<HostFrame> = frames.into_iter().filter_map(Result::ok).collect();
        let expected: Vec<HostFrame> = jobs
            .into_iter()
            .flat_map(|job| {
                [
                    HostFrame::MidstateJob(job),
                    HostFrame::Command(Command::ChainInactive),
                ]
            })
            .collect();
        assert_eq!(ok, expected);
        assert_eq!(JobFormat::for_chip(ChipKind::Bm1370), JobFormat::FullHeader);
    }
}
