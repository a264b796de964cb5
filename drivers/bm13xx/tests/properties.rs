//! Property tests: round trips, corruption rejection, and stream framing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hearth_bm13xx::crc::response_crc_ok;
use hearth_bm13xx::parser::{HOST_PARSER_CAPACITY, RESPONSE_PARSER_CAPACITY};
use hearth_bm13xx::{
    decode_command, decode_host_frame, decode_host_frame_as, decode_job, decode_midstate_job,
    decode_response, encode_response, ChipKind, Command, Destination, FrameError, HostFrame,
    HostFrameParser, JobFormat, JobFrame, JobId, MidstateJobFrame, MidstateJobId, NonceResponse,
    RegisterResponse, Response, ResponseLayout, ResponseParser,
};
use proptest::prelude::*;

fn destination() -> impl Strategy<Value = Destination> {
    prop_oneof![
        any::<u8>().prop_map(Destination::Chip),
        Just(Destination::Broadcast)
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        any::<u8>().prop_map(|address| Command::SetChipAddress { address }),
        (destination(), any::<u8>(), any::<u32>()).prop_map(|(destination, register, value)| {
            Command::WriteRegister {
                destination,
                register,
                value,
            }
        }),
        (destination(), any::<u8>()).prop_map(|(destination, register)| Command::ReadRegister {
            destination,
            register
        }),
        Just(Command::ChainInactive),
    ]
}

fn job() -> impl Strategy<Value = JobFrame> {
    (
        0u8..16,
        any::<u32>(),
        prop::array::uniform32(any::<u8>()),
        prop::array::uniform32(any::<u8>()),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(id, version, prev_block_hash, merkle_root, ntime, nbits, starting_nonce)| JobFrame {
                job_id: JobId::new(id).unwrap(),
                version,
                prev_block_hash,
                merkle_root,
                ntime,
                nbits,
                starting_nonce,
            },
        )
}

fn midstate_job() -> impl Strategy<Value = MidstateJobFrame> {
    (
        0u8..64,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 4]>(),
        prop::collection::vec(any::<[u32; 8]>(), 1..=4),
    )
        .prop_map(|(id, starting_nonce, nbits, ntime, tail, midstates)| {
            MidstateJobFrame::new(
                MidstateJobId::new(id).unwrap(),
                starting_nonce,
                nbits,
                ntime,
                tail,
                &midstates,
            )
            .unwrap()
        })
}

fn layout() -> impl Strategy<Value = ResponseLayout> {
    (prop::sample::select(ChipKind::ALL.to_vec()), any::<bool>())
        .prop_map(|(chip, rolling)| ResponseLayout::new(chip, rolling))
}

/// A response the layout can carry.
fn response_for(layout: ResponseLayout) -> impl Strategy<Value = Response> {
    let header = layout.chip().result_header_layout();
    let long = layout.is_long();
    let register = (any::<u32>(), any::<u8>(), any::<u8>(), any::<[u8; 2]>()).prop_map(
        move |(value, chip_addr, register, extra)| {
            Response::Register(RegisterResponse {
                value,
                chip_addr,
                register,
                extra: if long { extra } else { [0, 0] },
            })
        },
    );
    let nonce = (
        any::<u32>(),
        any::<u8>(),
        0..=header.max_job_id(),
        0..=header.low_mask(),
        any::<u16>(),
    )
        .prop_map(
            move |(nonce, excess_difficulty, job_id, small_core_id, bits)| {
                Response::Nonce(NonceResponse {
                    nonce,
                    excess_difficulty,
                    job_id,
                    small_core_id,
                    version_bits: long.then_some(bits),
                })
            },
        );
    prop_oneof![register, nonce]
}

fn layout_and_response() -> impl Strategy<Value = (ResponseLayout, Response)> {
    layout().prop_flat_map(|layout| (Just(layout), response_for(layout)))
}

fn layout_and_responses() -> impl Strategy<Value = (ResponseLayout, Vec<Response>)> {
    layout().prop_flat_map(|layout| {
        (
            Just(layout),
            prop::collection::vec(response_for(layout), 0..12),
        )
    })
}

fn flip_bit(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut corrupted = bytes.to_vec();
    let bit = bit % (bytes.len() * 8);
    corrupted[bit / 8] ^= 0x80 >> (bit % 8);
    corrupted
}

fn corrupt_byte(bytes: &[u8], index: usize, xor: u8) -> Vec<u8> {
    let mut corrupted = bytes.to_vec();
    let index = index % bytes.len();
    corrupted[index] ^= xor;
    corrupted
}

/// Split `bytes` at the given cut points (taken modulo the length).
fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

fn parse_responses(
    layout: ResponseLayout,
    pieces: &[&[u8]],
) -> (Vec<Result<Response, FrameError>>, ResponseParser) {
    let mut parser = ResponseParser::new(layout);
    let mut out = Vec::new();
    for piece in pieces {
        parser.feed(piece, |r| out.push(r));
        assert!(parser.buffered().len() <= RESPONSE_PARSER_CAPACITY);
    }
    (out, parser)
}

fn check_random_stream(
    layout: ResponseLayout,
    stream: &[u8],
    cuts: &[usize],
) -> Result<(), TestCaseError> {
    let (items, parser) = parse_responses(layout, &chunks(stream, cuts));
    for response in items.iter().flatten() {
        let frame = encode_response(response, layout).unwrap();
        let bytes = frame.as_bytes();
        prop_assert!(response_crc_ok(&bytes[2..]));
        prop_assert!(stream.windows(bytes.len()).any(|w| w == bytes));
    }
    let stats = parser.stats();
    let ok = items.iter().filter(|r| r.is_ok()).count() as u64;
    prop_assert_eq!(stats.frames, ok);
    prop_assert_eq!(
        stream.len() as u64,
        ok * layout.frame_len() as u64 + stats.skipped_bytes + parser.buffered().len() as u64
    );
    Ok(())
}

proptest! {
    #[test]
    fn commands_round_trip(command in command()) {
        let frame = command.to_frame();
        prop_assert_eq!(frame.as_bytes().len(), command.frame_len());
        prop_assert_eq!(decode_command(frame.as_bytes()), Ok(command));
        prop_assert_eq!(decode_host_frame(frame.as_bytes()), Ok(HostFrame::Command(command)));
        let mut out = [0u8; 16];
        prop_assert_eq!(command.encode(&mut out), Ok(command.frame_len()));
        prop_assert_eq!(&out[..command.frame_len()], frame.as_bytes());
    }

    #[test]
    fn command_bit_flips_are_rejected(command in command(), bit in any::<usize>()) {
        let corrupted = flip_bit(command.to_frame().as_bytes(), bit);
        prop_assert!(decode_command(&corrupted).is_err());
    }

    /// CRC5 cannot catch every multi-bit error inside one byte (an error
    /// pattern that is a multiple of the generator slips through). The decoder
    /// must then still never accept bytes that are not a valid frame: whatever
    /// it accepts re-encodes to exactly the bytes it was given.
    #[test]
    fn command_byte_corruption_is_rejected_or_is_another_valid_frame(
        command in command(), index in any::<usize>(), xor in 1u8..,
    ) {
        let corrupted = corrupt_byte(command.to_frame().as_bytes(), index, xor);
        if let Ok(other) = decode_command(&corrupted) {
            prop_assert_ne!(other, command);
            prop_assert_eq!(other.to_frame().as_bytes().to_vec(), corrupted.as_slice());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(command) = decode_command(&bytes) {
            prop_assert_eq!(command.to_frame().as_bytes().to_vec(), bytes.as_slice());
        }
        let _ = decode_job(&bytes);
        let _ = decode_host_frame(&bytes);
        for chip in ChipKind::ALL {
            for rolling in [false, true] {
                let layout = ResponseLayout::new(chip, rolling);
                if let Ok(response) = decode_response(&bytes, layout) {
                    prop_assert_eq!(encode_response(&response, layout).unwrap().as_bytes().to_vec(), bytes.as_slice());
                }
            }
        }
    }

    #[test]
    fn jobs_round_trip(job in job()) {
        let bytes = job.to_bytes();
        prop_assert_eq!(decode_job(&bytes), Ok(job));
        prop_assert_eq!(decode_host_frame(&bytes), Ok(HostFrame::Job(job)));
        let header = job.block_header(0x0102_0304, job.version);
        prop_assert_eq!(JobFrame::from_block_header(&header, job.job_id), JobFrame { starting_nonce: 0, ..job });
    }

    /// CRC16 catches every error burst up to 16 bits, so any single corrupted
    /// byte (hence any flipped bit) of a job is rejected.
    #[test]
    fn job_byte_corruption_is_always_rejected(job in job(), index in any::<usize>(), xor in 1u8..) {
        let corrupted = corrupt_byte(&job.to_bytes(), index, xor);
        prop_assert!(decode_job(&corrupted).is_err());
        prop_assert!(decode_host_frame(&corrupted).is_err());
    }

    #[test]
    fn responses_round_trip((layout, response) in layout_and_response()) {
        let frame = encode_response(&response, layout).unwrap();
        prop_assert_eq!(frame.as_bytes().len(), layout.frame_len());
        prop_assert!(response_crc_ok(&frame.as_bytes()[2..]));
        prop_assert_eq!(decode_response(frame.as_bytes(), layout), Ok(response));
    }

    #[test]
    fn response_bit_flips_are_rejected((layout, response) in layout_and_response(), bit in any::<usize>()) {
        let frame = encode_response(&response, layout).unwrap();
        let corrupted = flip_bit(frame.as_bytes(), bit);
        prop_assert!(decode_response(&corrupted, layout).is_err());
    }

    #[test]
    fn response_byte_corruption_is_rejected_or_is_another_valid_frame(
        (layout, response) in layout_and_response(), index in any::<usize>(), xor in 1u8..,
    ) {
        let frame = encode_response(&response, layout).unwrap();
        let corrupted = corrupt_byte(frame.as_bytes(), index, xor);
        if let Ok(other) = decode_response(&corrupted, layout) {
            prop_assert_ne!(other, response);
            prop_assert_eq!(encode_response(&other, layout).unwrap().as_bytes().to_vec(), corrupted.as_slice());
        }
    }

    /// Random streams: no panic, bounded buffer, every accepted frame is a
    /// CRC-valid slice of the input, and every input byte is accounted for.
    #[test]
    fn random_streams_yield_only_valid_frames(
        layout in layout(),
        stream in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        check_random_stream(layout, &stream, &cuts)?;
    }

    /// The same with preambles sprinkled in, so candidates (and chance CRC
    /// matches) are frequent; also: splitting never changes the outcome.
    #[test]
    fn preamble_heavy_streams_split_anywhere_parse_identically(
        layout in layout(),
        stream in prop::collection::vec(prop_oneof![Just(0xAAu8), Just(0x55u8), any::<u8>()], 0..400),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        check_random_stream(layout, &stream, &cuts)?;
        let (whole, whole_parser) = parse_responses(layout, &[&stream]);
        let (split, split_parser) = parse_responses(layout, &chunks(&stream, &cuts));
        prop_assert_eq!(whole, split);
        prop_assert_eq!(whole_parser.stats(), split_parser.stats());
        prop_assert_eq!(whole_parser.buffered(), split_parser.buffered());
    }

    /// Valid frames separated by garbage that holds no 0xAA (so it cannot
    /// start a false candidate) all come out, in order, however the stream is
    /// split.
    #[test]
    fn frames_in_garbage_are_all_recovered(
        (layout, responses) in layout_and_responses(),
        garbage in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no AA", |b| *b != 0xAA), 0..20), 13),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut stream = Vec::new();
        for (index, response) in responses.iter().enumerate() {
            stream.extend_from_slice(&garbage[index]);
            stream.extend_from_slice(encode_response(response, layout).unwrap().as_bytes());
        }
        stream.extend_from_slice(&garbage[12]);
        let (items, parser) = parse_responses(layout, &chunks(&stream, &cuts));
        let decoded: Vec<Response> = items.into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&decoded, &responses);
        // Every garbage byte, and nothing else, was skipped.
        let garbage_len: usize =
            garbage[..responses.len()].iter().map(Vec::len).sum::<usize>() + garbage[12].len();
        prop_assert_eq!(parser.stats().skipped_bytes, garbage_len as u64);
        prop_assert_eq!(parser.stats().crc_errors, 0);
    }

    #[test]
    fn midstate_jobs_round_trip(job in midstate_job()) {
        let bytes = job.to_bytes();
        prop_assert_eq!(bytes.as_bytes().len(), 24 + 32 * usize::from(job.count()));
        prop_assert_eq!(decode_midstate_job(bytes.as_bytes()), Ok(job));
        prop_assert_eq!(
            decode_host_frame_as(bytes.as_bytes(), JobFormat::Midstate),
            Ok(HostFrame::MidstateJob(job))
        );
    }

    /// Any single corrupted byte of a midstate job is rejected (CRC16, or a
    /// structural check when the length byte is hit).
    #[test]
    fn midstate_job_byte_corruption_is_always_rejected(
        job in midstate_job(), index in any::<usize>(), xor in 1u8..,
    ) {
        let corrupted = corrupt_byte(job.to_bytes().as_bytes(), index, xor);
        prop_assert!(decode_midstate_job(&corrupted).is_err());
    }

    /// Midstates built from header fields rebuild the header a nonce names,
    /// for every index, and the version rolls inside the mask.
    #[test]
    fn midstate_headers_rebuild(
        fields in job(),
        mask_bits in 1u32..0xFFFF,
        count in 1u8..=4,
        nonce in any::<u32>(),
    ) {
        let mask = mask_bits << 13;
        let job = MidstateJobFrame::from_fields(MidstateJobId::default(), &fields, mask, count).unwrap();
        for index in 0..count {
            let header = job.block_header(&fields, mask, nonce, index).unwrap();
            let version = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            prop_assert_eq!(version & !mask, fields.version & !mask);
            prop_assert_eq!(header, fields.block_header(nonce, version));
        }
        prop_assert!(job.block_header(&fields, mask, nonce, count).is_err());
    }

    /// The simulator's side: commands and jobs in garbage holding no 0x55.
    #[test]
    fn host_frames_in_garbage_are_all_recovered(
        frames in prop::collection::vec(prop_oneof![command().prop_map(HostFrame::Command), job().prop_map(HostFrame::Job)], 0..8),
        garbage in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no 55", |b| *b != 0x55), 0..30), 9),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut stream = Vec::new();
        for (index, frame) in frames.iter().enumerate() {
            stream.extend_from_slice(&garbage[index]);
            match frame {
                HostFrame::Command(command) => stream.extend_from_slice(command.to_frame().as_bytes()),
                HostFrame::Job(job) => stream.extend_from_slice(&job.to_bytes()),
                HostFrame::MidstateJob(job) => stream.extend_from_slice(job.to_bytes().as_bytes()),
            }
        }
        stream.extend_from_slice(&garbage[8]);
        let mut parser = HostFrameParser::new();
        let mut out = Vec::new();
        for piece in chunks(&stream, &cuts) {
            parser.feed(piece, |f| out.push(f));
            prop_assert!(parser.free_capacity() <= HOST_PARSER_CAPACITY);
        }
        let decoded: Vec<HostFrame> = out.into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn host_parser_survives_random_streams(
        stream in prop::collection::vec(prop_oneof![Just(0x55u8), Just(0xAAu8), Just(0x21u8), any::<u8>()], 0..800),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut whole = HostFrameParser::new();
        let mut whole_out = Vec::new();
        whole.feed(&stream, |f| whole_out.push(f));
        let mut split = HostFrameParser::new();
        let mut split_out = Vec::new();
        for piece in chunks(&stream, &cuts) {
            split.feed(piece, |f| split_out.push(f));
        }
        prop_assert_eq!(&whole_out, &split_out);
        prop_assert_eq!(whole.stats(), split.stats());
        for frame in whole_out.iter().flatten() {
            let bytes = match frame {
                HostFrame::Command(command) => command.to_frame().as_bytes().to_vec(),
                HostFrame::Job(job) => job.to_bytes().to_vec(),
                HostFrame::MidstateJob(job) => job.to_bytes().as_bytes().to_vec(),
            };
            // Jobs may have arrived with the 0x56 length byte; compare the rest.
            let found = stream.windows(bytes.len()).any(|w| w == bytes.as_slice()
                || (bytes.len() == 88 && w[..3] == bytes[..3] && w[4..86] == bytes[4..86]));
            prop_assert!(found);
        }
    }
}

#[test]
fn a_garbage_flood_is_skipped_and_counted() {
    let layout = ResponseLayout::new(ChipKind::Bm1370, true);
    let mut parser = ResponseParser::new(layout);
    let flood = vec![0x13u8; 1_000_000];
    let mut items = 0;
    parser.feed(&flood, |_| items += 1);
    assert_eq!(items, 0);
    assert_eq!(parser.stats().skipped_bytes, 1_000_000);
    assert!(parser.buffered().is_empty());

    // A flood of preambles: every candidate fails, nothing grows.
    let flood: Vec<u8> = [0xAA, 0x55].repeat(50_000);
    let mut errors = 0;
    parser.feed(&flood, |item| {
        assert!(item.is_err());
        errors += 1;
    });
    assert!(errors > 0);
    assert!(parser.buffered().len() < layout.frame_len());
}
