//! BM1397 chains with scripted chip bytes: bring-up without the version
//! rolling register (9-byte frames throughout, baud through MISC_CONTROL),
//! midstate jobs with host version rolling, and nonces mapped back to job and
//! version by the midstate index.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bring_up, config, drain_bytes, drain_events, host_frames_as, test_job, T0};
use hearth_bm13xx::registers::address::{
    HASH_COUNTING_NUMBER, MISC_CONTROL, UART_BAUD, VERSION_ROLLING,
};
use hearth_bm13xx::registers::version::midstate_version;
use hearth_bm13xx::{
    encode_nonce_response, ChipKind, Command, Destination, HostFrame, JobFormat, JobFrame,
    MidstateJobFrame, NonceResponse, ResponseLayout,
};
use hearth_chain::verify::header_zero_bits;
use hearth_chain::{ChainDriver, ChainEvent, WarningKind};
use hearth_core::Job;

const BITS: u32 = 8;

fn nonce_frame(job_id: u8, nonce: u32, midstate: u8) -> Vec<u8> {
    encode_nonce_response(
        &NonceResponse {
            nonce,
            excess_difficulty: 0,
            job_id,
            small_core_id: midstate,
            version_bits: None,
        },
        ResponseLayout::new(ChipKind::Bm1397, false),
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

/// Send `job`, return the midstate frame on the wire.
fn send(driver: &mut ChainDriver, job: &Job) -> MidstateJobFrame {
    driver.send_job(job, T0).unwrap();
    let frames = host_frames_as(&drain_bytes(driver), JobFormat::Midstate);
    assert!(
        !frames.iter().any(|f| matches!(
            f,
            HostFrame::Command(Command::WriteRegister {
                register: VERSION_ROLLING,
                ..
            })
        )),
        "a BM1397 has no version rolling register"
    );
    frames
        .into_iter()
        .find_map(|f| match f {
            HostFrame::MidstateJob(job) => Some(job),
            _ => None,
        })
        .expect("no midstate job sent")
}

/// A nonce whose header (with version `version`) has at least BITS zero bits.
fn find_nonce(fields: &JobFrame, version: u32) -> u32 {
    (0u32..)
        .find(|n| header_zero_bits(&fields.block_header(*n, version)) >= BITS)
        .unwrap()
}

fn fields_of(job: &Job) -> JobFrame {
    JobFrame {
        job_id: hearth_bm13xx::JobId::default(),
        version: job.version & !job.version_mask,
        prev_block_hash: job.prev_block_hash,
        merkle_root: job.merkle_root,
        ntime: job.ntime,
        nbits: job.nbits,
        starting_nonce: 0,
    }
}

#[test]
fn bring_up_uses_misc_control_for_baud_and_never_rolls_in_hardware() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1397, 2, BITS)).unwrap();
    driver.start(T0);
    let _ = drain_bytes(&mut driver);
    // Two 9-byte chip-id answers.
    let answers: Vec<u8> = (0..2)
        .flat_map(|_| common::chip_id_answer(ChipKind::Bm1397, 0x1397, 0, false))
        .collect();
    assert_eq!(answers.len(), 18);
    driver.handle_rx(&answers, T0);
    let chunks = common::drain_tx(&mut driver);
    let last = chunks.last().unwrap();
    assert_eq!(last.then_set_baud, Some(1_041_666));
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    let commands = common::commands(&bytes);
    let writes: Vec<(u8, u32)> = commands
        .iter()
        .filter_map(|c| match c {
            Command::WriteRegister {
                destination: Destination::Broadcast,
                register,
                value,
            } => Some((*register, *value)),
            _ => None,
        })
        .collect();
    // Divider 2 in MISC_CONTROL bits 12-8, ESP-Miner's other bits.
    assert_eq!(writes.last(), Some(&(MISC_CONTROL, 0x0000_6231)));
    assert!(!writes.iter().any(|(r, _)| *r == VERSION_ROLLING));
    assert!(!writes.iter().any(|(r, _)| *r == HASH_COUNTING_NUMBER));
    // ESP-Miner's init writes, including FAST_UART_CONFIGURATION at 0x28.
    assert!(writes.contains(&(UART_BAUD, 0x0600_000F)));
    assert!(writes.contains(&(0x3C, 0x8000_8074)));
}

#[test]
fn midstate_nonces_map_to_job_and_version() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1397, 2, BITS)).unwrap();
    let now = bring_up(&mut driver, 2);
    let _ = drain_events(&mut driver);
    let job = test_job(41);
    let frame = send(&mut driver, &job);
    assert_eq!(frame.count(), 4);
    assert_eq!(frame.job_id.get(), 0);
    let fields = fields_of(&job);
    for index in 0..4u8 {
        let version = midstate_version(fields.version, job.version_mask, index);
        assert_eq!(version, 0x2000_0000 | (u32::from(index) << 13));
        let nonce = find_nonce(&fields, version);
        // The frame's midstate is the one the host rebuilds from.
        assert_eq!(
            frame.block_header(&fields, job.version_mask, nonce, index),
            Ok(fields.block_header(nonce, version))
        );
        common::feed_split(&mut driver, &nonce_frame(0, nonce, index), now, 3);
        let events = drain_events(&mut driver);
        let [ChainEvent::Nonce(found)] = events.as_slice() else {
            panic!("expected one nonce, got {events:?}");
        };
        assert_eq!(found.job_id, 41);
        assert_eq!(found.version, version);
        assert_eq!(found.nonce, nonce);
        assert_eq!(found.small_core_id, index);
        assert_eq!(found.chip, None);
        assert!(found.zero_bits >= BITS);
    }
    // The same nonce under the wrong midstate does not hash: hardware error.
    let nonce = find_nonce(&fields, fields.version);
    let wrong = (1..4u8)
        .find(|i| {
            header_zero_bits(&fields.block_header(nonce, fields.version | u32::from(*i) << 13))
                < BITS
        })
        .unwrap();
    driver.handle_rx(&nonce_frame(0, nonce, wrong), now);
    assert!(drain_events(&mut driver).iter().any(|e| matches!(
        e,
        ChainEvent::Warning {
            kind: WarningKind::BadNonce,
            ..
        }
    )));
    assert_eq!(driver.stats().nonces, 4);
}

#[test]
fn narrow_masks_send_fewer_midstates_and_bad_indexes_are_refused() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1397, 1, BITS)).unwrap();
    let now = bring_up(&mut driver, 1);
    let _ = drain_events(&mut driver);
    // One rollable bit: two versions, two midstates.
    let job = Job {
        version_mask: 0x0000_8000,
        ..test_job(5)
    };
    let frame = send(&mut driver, &job);
    assert_eq!(frame.count(), 2);
    driver.handle_rx(&nonce_frame(frame.job_id.get(), 1, 3), now);
    assert!(drain_events(&mut driver).iter().any(|e| matches!(
        e,
        ChainEvent::Warning {
            kind: WarningKind::VersionOutsideMask,
            ..
        }
    )));
    // No rollable bits at all: one midstate, the job's own version.
    let job = Job {
        version_mask: 0,
        ..test_job(6)
    };
    let frame = send(&mut driver, &job);
    assert_eq!(frame.count(), 1);
    let fields = fields_of(&job);
    let nonce = find_nonce(&fields, fields.version);
    driver.handle_rx(&nonce_frame(frame.job_id.get(), nonce, 0), now);
    let events = drain_events(&mut driver);
    assert!(
        events.iter().any(
            |e| matches!(e, ChainEvent::Nonce(n) if n.job_id == 6 && n.version == job.version)
        ),
        "{events:?}"
    );
}
