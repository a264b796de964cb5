//! Test bench: the tests play the chips, building every answer with the
//! codec's encoders and reading the driver's output with its host-frame
//! parser.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hearth_bm13xx::registers::version::VERSION_BITS_SHIFT;
use hearth_bm13xx::{
    encode_nonce_response, encode_register_response, ChipIdentity, ChipKind, Command, HostFrame,
    HostFrameParser, JobFormat, JobFrame, NonceResponse, RegisterResponse, ResponseLayout,
};
use hearth_chain::verify::header_zero_bits;
use hearth_chain::{ChainConfig, ChainDriver, ChainEvent, ChainState, TxChunk};
use hearth_core::{Job, Timestamp};

pub const T0: Timestamp = Timestamp(1_000_000);

/// Every host frame in `bytes`, asserting none is malformed.
pub fn host_frames(bytes: &[u8]) -> Vec<HostFrame> {
    host_frames_as(bytes, JobFormat::FullHeader)
}

/// [`host_frames`] reading job frames as `format`.
pub fn host_frames_as(bytes: &[u8], format: JobFormat) -> Vec<HostFrame> {
    let mut parser = HostFrameParser::with_job_format(format);
    let mut frames = Vec::new();
    parser.feed(bytes, |frame| {
        frames.push(frame.expect("driver sent a malformed frame"))
    });
    assert_eq!(
        parser.stats().skipped_bytes,
        0,
        "stray bytes in {bytes:02X?}"
    );
    frames
}

/// The commands (jobs are a test failure) in `bytes`.
pub fn commands(bytes: &[u8]) -> Vec<Command> {
    host_frames(bytes)
        .into_iter()
        .map(|frame| match frame {
            HostFrame::Command(command) => command,
            HostFrame::Job(job) => panic!("unexpected job {job:?}"),
            HostFrame::MidstateJob(job) => panic!("unexpected job {job:?}"),
        })
        .collect()
}

/// Drain every chunk the driver has.
pub fn drain_tx(driver: &mut ChainDriver) -> Vec<TxChunk> {
    std::iter::from_fn(|| driver.poll_transmit()).collect()
}

/// Drain and concatenate.
pub fn drain_bytes(driver: &mut ChainDriver) -> Vec<u8> {
    drain_tx(driver).into_iter().flat_map(|c| c.bytes).collect()
}

pub fn drain_events(driver: &mut ChainDriver) -> Vec<ChainEvent> {
    std::iter::from_fn(|| driver.poll_event()).collect()
}

/// A chip-id read answer from `address`.
pub fn chip_id_answer(chip: ChipKind, id: u16, address: u8, long: bool) -> Vec<u8> {
    let identity = ChipIdentity {
        id,
        unknown: 0,
        address,
    };
    encode_register_response(
        &RegisterResponse {
            value: identity.to_register(),
            chip_addr: address,
            register: 0,
            extra: [0, 0],
        },
        ResponseLayout::new(chip, long),
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

/// An 11-byte nonce frame.
pub fn nonce_frame(
    chip: ChipKind,
    job_id: u8,
    nonce: u32,
    version_bits: u16,
    small_core: u8,
) -> Vec<u8> {
    encode_nonce_response(
        &NonceResponse {
            nonce,
            excess_difficulty: 0,
            job_id,
            small_core_id: small_core,
            version_bits: Some(version_bits),
        },
        ResponseLayout::new(chip, true),
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

/// Feed `bytes` in pieces cut at pseudo-random points (deterministic).
pub fn feed_split(driver: &mut ChainDriver, bytes: &[u8], now: Timestamp, seed: u64) {
    let mut state = seed | 1;
    let mut rest = bytes;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = usize::try_from(state % 14).unwrap() + 1;
        let (piece, tail) = rest.split_at(take.min(rest.len()));
        driver.handle_rx(piece, now);
        rest = tail;
    }
}

/// A job with recognisable fields.
pub fn test_job(id: u64) -> Job {
    let mut prev = [0u8; 32];
    let mut merkle = [0u8; 32];
    for i in 0..32 {
        prev[i] = (id as u8).wrapping_mul(7).wrapping_add(i as u8);
        merkle[i] = (id as u8).wrapping_mul(13) ^ (i as u8 * 3);
    }
    Job {
        id,
        version: 0x2000_0000,
        version_mask: 0x1FFF_E000,
        prev_block_hash: prev,
        merkle_root: merkle,
        ntime: 0x6650_0000 + id as u32,
        nbits: 0x1703_1234,
        clean: false,
        heat_only: false,
    }
}

/// Config for tests: `chips` expected, simulation-style verification at
/// `zero_bits`.
pub fn config(chip: ChipKind, chips: usize, zero_bits: u32) -> ChainConfig {
    ChainConfig {
        expected_chips: chips,
        nonce_check: hearth_chain::NonceCheck::LeadingZeroBits(zero_bits),
        ..ChainConfig::new(chip)
    }
}

/// Run bring-up to Ready with `chips` chips answering; returns the time.
pub fn bring_up(driver: &mut ChainDriver, chips: usize) -> Timestamp {
    let kind = driver.config().chip;
    let mut now = T0;
    driver.start(now);
    let first = drain_bytes(driver);
    assert_eq!(first, [0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A]);
    let answers: Vec<u8> = (0..chips)
        .flat_map(|_| chip_id_answer(kind, kind.id(), 0, false))
        .collect();
    now = now.plus(std::time::Duration::from_millis(5));
    feed_split(driver, &answers, now, 7);
    if driver.state() == ChainState::Enumerating {
        now = driver.next_deadline().unwrap();
        driver.handle_timeout(now);
    }
    assert_eq!(driver.state(), ChainState::Configuring);
    let chunks = drain_tx(driver);
    assert!(chunks.last().unwrap().then_set_baud.is_some());
    now = driver.next_deadline().unwrap();
    driver.handle_timeout(now);
    let check = drain_bytes(driver);
    assert_eq!(check, [0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A]);
    let addresses: Vec<u8> = driver.chips().iter().map(|c| c.address).collect();
    let answers: Vec<u8> = addresses
        .iter()
        .flat_map(|a| chip_id_answer(kind, kind.id(), *a, true))
        .collect();
    now = now.plus(std::time::Duration::from_millis(5));
    feed_split(driver, &answers, now, 11);
    assert_eq!(driver.state(), ChainState::Running);
    now
}

/// Send `job` and return the frame the chips got.
pub fn send_and_capture(driver: &mut ChainDriver, job: &Job, now: Timestamp) -> JobFrame {
    driver.send_job(job, now).unwrap();
    let frames = host_frames(&drain_bytes(driver));
    frames
        .into_iter()
        .find_map(|frame| match frame {
            HostFrame::Job(job) => Some(job),
            HostFrame::Command(_) | HostFrame::MidstateJob(_) => None,
        })
        .expect("no job frame sent")
}

/// Search nonces `fields(i)` (the nonce's MSB-first "fields" reading) and
/// version bits until the header has `zero_bits` leading zero bits.
pub fn find_nonce(
    frame: &JobFrame,
    mask: u32,
    zero_bits: u32,
    fields: impl Fn(u32) -> u32,
) -> (u32, u16) {
    let max_bits = mask >> VERSION_BITS_SHIFT;
    for round in 0..64u32 {
        let version_bits = (round.wrapping_mul(0x9E37) & max_bits) as u16;
        let version = frame.version | (u32::from(version_bits) << VERSION_BITS_SHIFT);
        for i in 0..1u32 << 16 {
            let nonce = fields(i).swap_bytes();
            if header_zero_bits(&frame.block_header(nonce, version)) >= zero_bits {
                return (nonce, version_bits);
            }
        }
    }
    panic!("no nonce found");
}

/// A nonce that misses `zero_bits` by exactly one bit (the hardest miss).
pub fn find_bad_nonce(frame: &JobFrame, zero_bits: u32, fields: impl Fn(u32) -> u32) -> u32 {
    (0..1u32 << 20)
        .map(|i| fields(i).swap_bytes())
        .find(|nonce| header_zero_bits(&frame.block_header(*nonce, frame.version)) == zero_bits - 1)
        .unwrap()
}

/// Step from deadline to deadline up to `until`, answering every chip-id
/// read for the chips `alive` names (11-byte answers at the same instant).
/// Returns the time reached and every command sent, with its time.
pub fn run_until(
    driver: &mut ChainDriver,
    mut now: Timestamp,
    until: Timestamp,
    alive: impl Fn(usize) -> bool,
) -> (Timestamp, Vec<(Timestamp, Command)>) {
    let kind = driver.config().chip;
    let mut sent = Vec::new();
    for _ in 0..1_000_000 {
        let Some(due) = driver.next_deadline() else {
            break;
        };
        if due > until {
            break;
        }
        assert!(due >= now, "deadline {due} went backwards from {now}");
        now = due;
        driver.handle_timeout(now);
        for frame in host_frames(&drain_bytes(driver)) {
            let HostFrame::Command(command) = frame else {
                continue;
            };
            if let Command::ReadRegister { register: 0, .. } = command {
                let answers: Vec<u8> = driver
                    .chips()
                    .iter()
                    .filter(|c| alive(c.index))
                    .flat_map(|c| chip_id_answer(kind, kind.id(), c.address, true))
                    .collect();
                driver.handle_rx(&answers, now);
            }
            sent.push((now, command));
        }
    }
    (now.max(until), sent)
}
