//! A running chain: frequency ramps, jobs, nonces and their verification,
//! bad input, chip silence, stop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use hearth_bm13xx::registers::address::{HASH_COUNTING_NUMBER, PLL_DIVIDER, VERSION_ROLLING};
use hearth_bm13xx::registers::hcn::hash_counting_number;
use hearth_bm13xx::registers::nonce_offset::chip_nonce_offset;
use hearth_bm13xx::registers::pll::{frequency_from_register, PllConfig};
use hearth_bm13xx::{pll_for_frequency, ChipKind, Command, Destination, FreqKhz, HostFrame};
use hearth_chain::verify::header_zero_bits;
use hearth_chain::{
    ChainDriver, ChainEvent, ChainState, FoundNonce, FrequencyError, JobError, WarningKind,
};
use hearth_core::{BoardId, FreqMhz, Timestamp};

const BITS: u32 = 12;

fn running(chip: ChipKind, chips: usize) -> (ChainDriver, Timestamp) {
    let mut driver = ChainDriver::new(config(chip, chips, BITS)).unwrap();
    let now = bring_up(&mut driver, chips);
    drain_events(&mut driver);
    (driver, now)
}

fn nonces(events: &[ChainEvent]) -> Vec<FoundNonce> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::Nonce(found) => Some(*found),
            _ => None,
        })
        .collect()
}

fn warnings(events: &[ChainEvent], kind: WarningKind) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ChainEvent::Warning { kind: k, .. } if *k == kind))
        .count()
}

#[test]
fn ramp_steps_are_6_25_mhz_one_per_100_ms_and_decode_to_the_plan() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let steps = driver.set_frequency(FreqMhz(525.0), now).unwrap();
    assert_eq!(steps, 75, "56.25 -> 525 MHz");
    assert!(driver.is_ramping());
    let (_, sent) = run_until(&mut driver, now, now.plus(Duration::from_secs(10)), |_| {
        true
    });
    let plls: Vec<(Timestamp, u32)> = sent
        .iter()
        .filter_map(|(t, c)| match c {
            Command::WriteRegister {
                destination: Destination::Broadcast,
                register: PLL_DIVIDER,
                value,
            } => Some((*t, *value)),
            _ => None,
        })
        .collect();
    assert_eq!(plls.len(), 75);
    for (k, (at, word)) in plls.iter().enumerate() {
        let point = FreqKhz(56_250 + 6_250 * (u32::try_from(k).unwrap() + 1));
        let planned = pll_for_frequency(ChipKind::Bm1370, point).unwrap();
        assert_eq!(*word, planned.to_register(ChipKind::Bm1370), "step {k}");
        let decoded = frequency_from_register(*word).unwrap();
        assert_eq!(decoded, planned.frequency());
        assert!(
            decoded <= point && point.khz() - decoded.khz() < 1_000,
            "{decoded} for {point}"
        );
        assert_eq!(
            *at,
            now.plus(Duration::from_millis(100 * k as u64)),
            "step {k}"
        );
    }
    assert_eq!(frequency_from_register(plls[74].1), Ok(FreqKhz(525_000)));
    // HCN follows each PLL write, for the frequency just written.
    let hcns: Vec<u32> = sent
        .iter()
        .filter_map(|(_, c)| match c {
            Command::WriteRegister {
                register: HASH_COUNTING_NUMBER,
                value,
                ..
            } => Some(*value),
            _ => None,
        })
        .collect();
    let last_pll = PllConfig::from_register(plls[74].1).unwrap();
    assert_eq!(
        hcns.last().copied(),
        Some(hash_counting_number(ChipKind::Bm1370, 1, &last_pll).unwrap())
    );
    assert!(
        hcns.len() >= 70,
        "HCN rewritten as the clock rises ({})",
        hcns.len()
    );
    assert!(!driver.is_ramping());
    assert_eq!(driver.frequency(), FreqKhz(525_000));
    let events = drain_events(&mut driver);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ChainEvent::FrequencyReached { .. }))
            .count(),
        1
    );
    assert!(events.contains(&ChainEvent::FrequencyReached {
        frequency: FreqKhz(525_000)
    }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, ChainEvent::ChipSilent { .. })));
}

#[test]
fn ramps_wait_for_ready_go_down_and_refuse_nonsense() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1370, 1, BITS)).unwrap();
    assert_eq!(driver.set_frequency(FreqMhz(75.0), T0), Ok(0));
    let now = bring_up(&mut driver, 1);
    assert!(driver.is_ramping(), "deferred target starts at Ready");
    let (now, _) = run_until(&mut driver, now, now.plus(Duration::from_secs(1)), |_| true);
    assert_eq!(driver.frequency(), FreqKhz(75_000));
    // Down, then a new target mid-ramp continues from the point reached.
    assert_eq!(driver.set_frequency(FreqMhz(60.0), now), Ok(3));
    assert_eq!(driver.set_frequency(FreqMhz(68.75), now), Ok(1));
    let (_, sent) = run_until(&mut driver, now, now.plus(Duration::from_secs(1)), |_| true);
    let freqs: Vec<FreqKhz> = sent
        .iter()
        .filter_map(|(_, c)| match c {
            Command::WriteRegister {
                register: PLL_DIVIDER,
                value,
                ..
            } => frequency_from_register(*value).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(freqs, vec![FreqKhz(68_750)]);
    for bad in [f64::NAN, -5.0, 0.0, f64::INFINITY] {
        assert!(matches!(
            driver.set_frequency(FreqMhz(bad), now),
            Err(FrequencyError::NotAFrequency(_))
        ));
    }
    assert!(matches!(
        driver.set_frequency(FreqMhz(10.0), now),
        Err(FrequencyError::OutOfRange(_))
    ));
    assert!(matches!(
        driver.set_frequency(FreqMhz(5_000.0), now),
        Err(FrequencyError::OutOfRange(_))
    ));
}

#[test]
fn job_ids_cycle_and_old_jobs_expire() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let mut frames = Vec::new();
    for id in 0..20u64 {
        let chip_id = driver.send_job(&test_job(100 + id), now).unwrap();
        assert_eq!(u64::from(chip_id.get()), id % 16);
        let job = host_frames(&drain_bytes(&mut driver))
            .into_iter()
            .find_map(|f| match f {
                HostFrame::Job(job) => Some(job),
                HostFrame::Command(_) | HostFrame::MidstateJob(_) => None,
            })
            .unwrap();
        assert_eq!(u64::from(job.job_id.get()), id % 16);
        assert_eq!(job.ntime, test_job(100 + id).ntime);
        frames.push(job);
    }
    // History 8: the jobs sent 12th..19th are live, job 11 (chip id 11) is
    // retired, job 19 (chip id 3) is live.
    let live = &frames[19];
    let (nonce, bits) = find_nonce(live, 0x1FFF_E000, BITS, |i| i);
    driver.handle_rx(&nonce_frame(ChipKind::Bm1370, 3, nonce, bits, 0), now);
    let stale = &frames[11];
    let (nonce, bits) = find_nonce(stale, 0x1FFF_E000, BITS, |i| i);
    driver.handle_rx(&nonce_frame(ChipKind::Bm1370, 11, nonce, bits, 0), now);
    let events = drain_events(&mut driver);
    let found = nonces(&events);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].job_id, 119);
    assert_eq!(warnings(&events, WarningKind::StaleJob), 1);
    assert_eq!(driver.stats().errors.stale_job, 1);
    assert_eq!(driver.stats().chips[0].stale_nonces, 1);

    // A clean job retires everything before it.
    let mut clean = test_job(500);
    clean.clean = true;
    driver.send_job(&clean, now).unwrap();
    drain_tx(&mut driver);
    let (nonce, bits) = find_nonce(live, 0x1FFF_E000, BITS, |i| i + 70_000);
    driver.handle_rx(&nonce_frame(ChipKind::Bm1370, 3, nonce, bits, 0), now);
    assert!(nonces(&drain_events(&mut driver)).is_empty());
    assert_eq!(driver.stats().errors.stale_job, 2);
    assert_eq!(driver.stats().jobs_sent, 21);
}

#[test]
fn a_nonce_maps_back_to_its_job_version_chip_and_core() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let job = test_job(42);
    let frame = send_and_capture(&mut driver, &job, now);
    assert_eq!(frame.version, job.version);
    // Core 0x55 in fields bits 31-25.
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| 0x55 << 25 | i);
    let at = now.plus(Duration::from_millis(250));
    feed_split(
        &mut driver,
        &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 9),
        at,
        3,
    );
    let events = drain_events(&mut driver);
    let found = nonces(&events);
    assert_eq!(found.len(), 1, "{events:?}");
    let found = found[0];
    let version = job.version | u32::from(bits) << 13;
    assert_eq!(found.job_id, 42);
    assert_eq!(found.nonce, nonce);
    assert_eq!(found.version, version);
    assert_eq!(found.ntime, job.ntime);
    assert_eq!(found.chip, Some(0));
    assert_eq!(found.core_id, 0x55);
    assert_eq!(found.small_core_id, 9);
    assert_eq!(found.found_at, at);
    assert!(found.zero_bits >= BITS);
    // Independently: the header built from the host job hashes as claimed.
    let mut header = [0u8; 80];
    header[0..4].copy_from_slice(&version.to_le_bytes());
    header[4..36].copy_from_slice(&job.prev_block_hash);
    header[36..68].copy_from_slice(&job.merkle_root);
    header[68..72].copy_from_slice(&job.ntime.to_le_bytes());
    header[72..76].copy_from_slice(&job.nbits.to_le_bytes());
    header[76..80].copy_from_slice(&nonce.to_le_bytes());
    assert_eq!(header_zero_bits(&header), found.zero_bits);
    let board = BoardId::new("board-0").unwrap();
    let share = found.to_nonce_found(board.clone());
    assert_eq!(
        (share.board, share.job_id, share.version),
        (board, 42, version)
    );
    let stats = driver.stats();
    assert_eq!((stats.nonces, stats.chips[0].nonces), (1, 1));
    assert_eq!(stats.errors.total(), 0);
}

#[test]
fn mask_bits_set_in_the_job_version_are_cleared_before_rolling() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let mut job = test_job(7);
    job.version = 0x2000_6004;
    let frame = send_and_capture(&mut driver, &job, now);
    assert_eq!(frame.version, 0x2000_0004);
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| i);
    driver.handle_rx(
        &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 0),
        now,
    );
    let found = nonces(&drain_events(&mut driver));
    assert_eq!(found[0].version, 0x2000_0004 | u32::from(bits) << 13);
    // Within the job's mask of the version the pool gave.
    assert_eq!((found[0].version ^ job.version) & !job.version_mask, 0);
}

#[test]
fn bm1370_chains_attribute_nonces_by_offset_range() {
    let chips = 5u16;
    let (mut driver, now) = running(ChipKind::Bm1370, usize::from(chips));
    let job = test_job(9);
    let frame = send_and_capture(&mut driver, &job, now);
    for chip in 0..chips {
        let offset = chip_nonce_offset(chip, chips).unwrap() & 0xFFFF;
        let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| {
            3 << 25 | (offset + (i >> 9)) << 9 | (i & 0x1FF)
        });
        driver.handle_rx(
            &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 1),
            now,
        );
        let found = nonces(&drain_events(&mut driver));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].chip, Some(usize::from(chip)));
        assert_eq!(found[0].core_id, 3);
    }
    let stats = driver.stats();
    assert!(stats.chips.iter().all(|c| c.nonces == 1));
}

#[test]
fn bm1368_chains_attribute_nonces_by_chip_address() {
    let (mut driver, now) = running(ChipKind::Bm1368, 4);
    assert_eq!(
        driver.chips().iter().map(|c| c.address).collect::<Vec<_>>(),
        vec![0, 64, 128, 192]
    );
    let job = test_job(3);
    let frame = send_and_capture(&mut driver, &job, now);
    let id = frame.job_id.get();
    // Chip 2 stamps address 128 >> 1 = 64 into fields bits 24-18.
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| 7 << 25 | 64 << 18 | i);
    driver.handle_rx(&nonce_frame(ChipKind::Bm1368, id, nonce, bits, 2), now);
    // An address no chip has: still a valid share, but no chip to credit.
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| 7 << 25 | 0x11 << 18 | i);
    driver.handle_rx(&nonce_frame(ChipKind::Bm1368, id, nonce, bits, 2), now);
    let events = drain_events(&mut driver);
    let found = nonces(&events);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].chip, found[0].core_id), (Some(2), 7));
    assert_eq!(found[1].chip, None);
    assert_eq!(warnings(&events, WarningKind::UnknownChipAddress), 1);
    let stats = driver.stats();
    assert_eq!(stats.chips[2].nonces, 1);
    assert_eq!(stats.unattributed_nonces, 1);
    assert_eq!(stats.nonces, 2);
}

#[test]
fn unknown_job_ids_warn_once_and_count_always() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    for nonce in [1u32, 2, 3] {
        driver.handle_rx(&nonce_frame(ChipKind::Bm1370, 7, nonce, 0, 0), now);
    }
    let events = drain_events(&mut driver);
    assert_eq!(warnings(&events, WarningKind::UnknownJob), 1);
    assert!(nonces(&events).is_empty());
    assert_eq!(driver.stats().errors.unknown_job, 3);
    assert_eq!(driver.stats().errors.get(WarningKind::UnknownJob), 3);
}

#[test]
fn crc_garbled_frames_are_counted_and_do_not_hide_good_ones() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let job = test_job(1);
    let frame = send_and_capture(&mut driver, &job, now);
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| i);
    let good = nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 0);
    let mut stream = Vec::new();
    for bit in [17usize, 30, 45, 60, 83] {
        let mut bad = good.clone();
        bad[bit / 8] ^= 0x80 >> (bit % 8);
        stream.extend(bad);
    }
    stream.extend(&good);
    feed_split(&mut driver, &stream, now, 77);
    let events = drain_events(&mut driver);
    assert_eq!(nonces(&events).len(), 1);
    assert_eq!(warnings(&events, WarningKind::CrcError), 1);
    assert_eq!(driver.stats().errors.crc_errors, 5);
    assert_eq!(driver.stats().parser.crc_errors, 5);
}

#[test]
fn nonces_failing_the_target_are_hardware_errors_not_shares() {
    let (mut driver, now) = running(ChipKind::Bm1370, 2);
    let job = test_job(5);
    let frame = send_and_capture(&mut driver, &job, now);
    // Chip 1's range (offset 0x8000 of 2 chips).
    let bad = find_bad_nonce(&frame, BITS, |i| 0x8000 << 9 | i);
    for _ in 0..2 {
        driver.handle_rx(
            &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), bad, 0, 0),
            now,
        );
    }
    let events = drain_events(&mut driver);
    assert!(nonces(&events).is_empty());
    assert_eq!(warnings(&events, WarningKind::BadNonce), 1);
    let stats = driver.stats();
    assert_eq!(stats.errors.bad_nonces, 2);
    assert_eq!((stats.chips[0].hw_errors, stats.chips[1].hw_errors), (0, 2));
}

#[test]
fn duplicates_are_reported_once() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let job = test_job(8);
    let frame = send_and_capture(&mut driver, &job, now);
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| i);
    let bytes = nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 0);
    driver.handle_rx(&bytes, now);
    driver.handle_rx(&bytes, now);
    let events = drain_events(&mut driver);
    assert_eq!(nonces(&events).len(), 1);
    assert_eq!(warnings(&events, WarningKind::DuplicateNonce), 1);
}

#[test]
fn a_narrower_job_mask_is_programmed_and_enforced() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let mut job = test_job(11);
    job.version_mask = 0x00FF_E000;
    driver.send_job(&job, now).unwrap();
    let frames = host_frames(&drain_bytes(&mut driver));
    assert!(matches!(
        frames[0],
        HostFrame::Command(Command::WriteRegister {
            destination: Destination::Broadcast,
            register: VERSION_ROLLING,
            value: 0x9000_07FF
        })
    ));
    let HostFrame::Job(frame) = frames[1] else {
        panic!("{frames:?}");
    };
    // Bits outside the job mask: hashes fine, but no pool would take it.
    let outside = 0x0800;
    let version = frame.version | outside << 13;
    let nonce = (0..u32::MAX)
        .find(|n| header_zero_bits(&frame.block_header(*n, version)) >= BITS)
        .unwrap();
    driver.handle_rx(
        &nonce_frame(
            ChipKind::Bm1370,
            frame.job_id.get(),
            nonce,
            outside as u16,
            0,
        ),
        now,
    );
    let events = drain_events(&mut driver);
    assert!(nonces(&events).is_empty());
    assert_eq!(warnings(&events, WarningKind::VersionOutsideMask), 1);
    assert_eq!(driver.stats().chips[0].hw_errors, 1);
    // The same mask again is not rewritten; a job allowing no chain bit is
    // refused.
    driver.send_job(&test_job(12), now).unwrap();
    driver.send_job(&test_job(13), now).unwrap();
    let writes = host_frames(&drain_bytes(&mut driver))
        .iter()
        .filter(|f| matches!(f, HostFrame::Command(_)))
        .count();
    assert_eq!(writes, 1, "back to the full mask once");
    let mut none = test_job(14);
    none.version_mask = 0x0000_1FFF;
    assert!(matches!(
        driver.send_job(&none, now),
        Err(JobError::NoRollableBits { .. })
    ));
}

#[test]
fn a_silent_chip_is_reported_and_welcomed_back() {
    let (mut driver, now) = running(ChipKind::Bm1370, 3);
    let (later, _) = run_until(&mut driver, now, now.plus(Duration::from_secs(8)), |i| {
        i != 1
    });
    let events = drain_events(&mut driver);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ChainEvent::ChipSilent { .. }))
            .collect::<Vec<_>>(),
        vec![&ChainEvent::ChipSilent { index: 1 }]
    );
    let stats = driver.stats();
    assert!(stats.chips[1].silent);
    assert!(stats.chips[1].missed_polls >= 6, "{:?}", stats.chips[1]);
    assert_eq!(stats.chips[0].missed_polls, 0);
    // Reported exactly when the silence timeout ran out.
    assert_eq!(stats.chips[1].last_seen, Some(now));
    // It answers again.
    let (_, _) = run_until(
        &mut driver,
        later,
        later.plus(Duration::from_secs(2)),
        |_| true,
    );
    let events = drain_events(&mut driver);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(
                e,
                ChainEvent::ChipSilent { .. } | ChainEvent::ChipBack { .. }
            ))
            .collect::<Vec<_>>(),
        vec![&ChainEvent::ChipBack { index: 1 }]
    );
    assert!(!driver.stats().chips[1].silent);
}

#[test]
fn silence_is_declared_at_the_timeout() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let silence = driver.config().chip_silence_timeout;
    let at;
    loop {
        let due = driver.next_deadline().unwrap();
        driver.handle_timeout(due);
        drain_tx(&mut driver);
        if drain_events(&mut driver).contains(&ChainEvent::ChipSilent { index: 0 }) {
            at = due;
            break;
        }
        assert!(due < now.plus(silence * 2));
    }
    assert_eq!(at, now.plus(silence));
}

#[test]
fn hashrate_is_nonces_times_work_over_the_window() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    let job = test_job(77);
    let frame = send_and_capture(&mut driver, &job, now);
    let mut t = now;
    let mut found = 0;
    for k in 0..20u32 {
        let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| k << 17 | i);
        let at = now.plus(Duration::from_millis(500 * u64::from(k)));
        (t, _) = run_until(&mut driver, t, at, |_| true);
        driver.handle_rx(
            &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 0),
            at,
        );
        found += nonces(&drain_events(&mut driver)).len();
    }
    assert_eq!(found, 20);
    // Pass time (answering polls) to exactly 10 s after Ready.
    let until = now.plus(Duration::from_secs(10));
    run_until(&mut driver, t, until, |_| true);
    driver.handle_rx(&[], until);
    let stats = driver.stats();
    // Each report stands for ticket difficulty 256 x 2^32 hashes.
    let expected_ghs = 20.0 * 256.0 * 4_294_967_296.0 / 10.0 / 1e9;
    assert!(
        (stats.hashrate.get() - expected_ghs).abs() < expected_ghs * 1e-9,
        "{stats:?}"
    );
    assert!((stats.chips[0].hashrate.get() - expected_ghs).abs() < expected_ghs * 1e-9);
    // 56.25 MHz x 2040 small cores.
    assert!((stats.expected_hashrate.get() - 114.75).abs() < 1e-9);
}

#[test]
fn unsent_jobs_are_replaced_not_queued_forever() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    for id in 0..5 {
        driver.send_job(&test_job(id), now).unwrap();
    }
    let jobs: Vec<u8> = host_frames(&drain_bytes(&mut driver))
        .into_iter()
        .filter_map(|f| match f {
            HostFrame::Job(job) => Some(job.job_id.get()),
            HostFrame::Command(_) | HostFrame::MidstateJob(_) => None,
        })
        .collect();
    assert_eq!(jobs, vec![3, 4]);
    assert_eq!(driver.stats().errors.jobs_dropped, 3);
    assert_eq!(
        warnings(&drain_events(&mut driver), WarningKind::JobDropped),
        1
    );
}

#[test]
fn stop_idles_the_chain_and_refuses_work() {
    let (mut driver, now) = running(ChipKind::Bm1370, 1);
    driver.set_frequency(FreqMhz(100.0), now).unwrap();
    let (now, _) = run_until(
        &mut driver,
        now,
        now.plus(Duration::from_millis(350)),
        |_| true,
    );
    let job = test_job(1);
    let frame = send_and_capture(&mut driver, &job, now);
    driver.stop(now);
    assert_eq!(driver.state(), ChainState::Stopped);
    let sent = commands(&drain_bytes(&mut driver));
    assert_eq!(sent.len(), 2, "{sent:?}");
    let Command::WriteRegister {
        register: PLL_DIVIDER,
        value,
        ..
    } = sent[0]
    else {
        panic!("{sent:?}");
    };
    assert_eq!(frequency_from_register(value), Ok(FreqKhz(56_250)));
    assert_eq!(sent[1], Command::ChainInactive);
    assert!(!driver.is_ramping());
    assert_eq!(driver.next_deadline(), None);
    assert!(matches!(
        driver.send_job(&job, now),
        Err(JobError::NotRunning(ChainState::Stopped))
    ));
    assert!(driver.set_frequency(FreqMhz(100.0), now).is_err());
    // Nonces still in flight for the old job are not shares any more.
    let (nonce, bits) = find_nonce(&frame, job.version_mask, BITS, |i| i);
    driver.handle_rx(
        &nonce_frame(ChipKind::Bm1370, frame.job_id.get(), nonce, bits, 0),
        now,
    );
    let events = drain_events(&mut driver);
    assert!(events.contains(&ChainEvent::Stopped));
    assert!(nonces(&events).is_empty());
    // Stopping twice is harmless.
    driver.stop(now);
    assert!(drain_tx(&mut driver).is_empty());
}

#[test]
fn restart_after_stop_runs_a_fresh_bring_up() {
    let (mut driver, _) = running(ChipKind::Bm1370, 2);
    driver.stop(T0);
    drain_tx(&mut driver);
    let now = bring_up(&mut driver, 2);
    assert_eq!(driver.state(), ChainState::Running);
    assert!(driver.send_job(&test_job(1), now).is_ok());
}
