//! The driver against `hearth-simchip`'s simulated chains, in memory: the
//! driver's bytes go to the simulator and back, under a virtual clock that
//! advances in 10 ms ticks. The simulator's nonces are real (double SHA-256
//! with `SIM_BITS` leading zero bits), so every reported share is checked
//! end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hearth_bm13xx::registers::address::{MISC_CONTROL, TICKET_MASK, VERSION_ROLLING};
use hearth_bm13xx::{ChipKind, FreqKhz};
use hearth_chain::{
    ChainConfig, ChainDriver, ChainEvent, ChainState, FoundNonce, NonceCheck, WarningKind,
};
use hearth_core::{FreqMhz, Job, Timestamp};
use hearth_simchip::{DeadChipMode, SimChain, SimChainConfig};

const TICK: Duration = Duration::from_millis(10);

struct Bench {
    driver: ChainDriver,
    sim: SimChain,
    now: Timestamp,
    events: Vec<ChainEvent>,
}

/// Rates within 2 %: what two UARTs tolerate.
fn same_baud(a: u32, b: u32) -> bool {
    a.abs_diff(b) * 50 <= a.max(b)
}

impl Bench {
    fn new(chip: ChipKind, chips: usize, expected: usize, sim_bits: u32, seed: u64) -> Bench {
        let cfg = ChainConfig {
            expected_chips: expected,
            nonce_check: NonceCheck::LeadingZeroBits(sim_bits),
            ..ChainConfig::new(chip)
        };
        let sim = SimChain::new(SimChainConfig {
            chip,
            chips,
            seed,
            sim_zero_bits: sim_bits,
            max_hashes_per_advance: 2_000_000,
        });
        Bench {
            driver: ChainDriver::new(cfg).unwrap(),
            sim,
            now: Timestamp::from_secs(1_000),
            events: Vec::new(),
        }
    }

    /// Move bytes both ways until neither side has anything to say.
    fn pump(&mut self) {
        for _ in 0..16 {
            let mut moved = false;
            while let Some(chunk) = self.driver.poll_transmit() {
                assert!(
                    same_baud(chunk.at_baud, self.sim.baud()),
                    "host writes at {} but the chips listen at {}",
                    chunk.at_baud,
                    self.sim.baud()
                );
                self.sim.receive(&chunk.bytes, self.now);
                moved = true;
            }
            self.sim.advance(self.now);
            let mut out = Vec::new();
            self.sim.transmit(&mut out);
            if !out.is_empty() {
                assert!(same_baud(self.driver.host_baud(), self.sim.baud()));
                self.driver.handle_rx(&out, self.now);
                moved = true;
            }
            self.events
                .extend(std::iter::from_fn(|| self.driver.poll_event()));
            if !moved {
                break;
            }
        }
    }

    fn run_for(&mut self, span: Duration) {
        let end = self.now.plus(span);
        self.pump();
        while self.now < end {
            self.now = self.now.plus(TICK).min(end);
            if self
                .driver
                .next_deadline()
                .is_some_and(|due| due <= self.now)
            {
                self.driver.handle_timeout(self.now);
            }
            self.pump();
        }
    }

    fn start(&mut self) {
        self.driver.start(self.now);
        self.run_for(Duration::from_secs(2));
        assert_eq!(
            self.driver.state(),
            ChainState::Running,
            "{:?}",
            self.events
        );
    }

    fn take_events(&mut self) -> Vec<ChainEvent> {
        std::mem::take(&mut self.events)
    }
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

fn job(id: u64) -> Job {
    let mut prev = [0u8; 32];
    let mut merkle = [0u8; 32];
    for i in 0..32u8 {
        prev[usize::from(i)] = i.wrapping_mul(11).wrapping_add(id as u8);
        merkle[usize::from(i)] = i ^ 0x5A ^ (id as u8);
    }
    Job {
        id,
        version: 0x2000_0000,
        version_mask: 0x1FFF_E000,
        prev_block_hash: prev,
        merkle_root: merkle,
        ntime: 0x6700_0000,
        nbits: 0x1703_0000,
        clean: true,
        heat_only: false,
    }
}

#[test]
fn one_chip_enumerates_ramps_and_finds_real_nonces() {
    let mut bench = Bench::new(ChipKind::Bm1370, 1, 1, 12, 7);
    bench.start();
    let events = bench.take_events();
    assert!(matches!(&events[0], ChainEvent::Enumerated { chips } if chips.len() == 1));
    assert!(events.contains(&ChainEvent::BaudChanged { baud: 1_041_666 }));
    assert!(events
        .iter()
        .any(|e| matches!(e, ChainEvent::Ready { chips: 1, .. })));
    // The chip holds what the driver wrote.
    assert_eq!(bench.sim.baud(), 1_041_666);
    assert_eq!(bench.sim.chip_register(0, MISC_CONTROL), Some(0xF000_C100));
    assert_eq!(bench.sim.chip_register(0, TICKET_MASK), Some(0xFF));
    assert_eq!(
        bench.sim.chip_register(0, VERSION_ROLLING),
        Some(0x9000_FFFF)
    );
    assert!((bench.sim.chip_freq_mhz(0) - 56.25).abs() < 1e-9);

    bench
        .driver
        .set_frequency(FreqMhz(525.0), bench.now)
        .unwrap();
    bench.run_for(Duration::from_secs(8));
    assert!(bench.take_events().contains(&ChainEvent::FrequencyReached {
        frequency: FreqKhz(525_000)
    }));
    assert!((bench.sim.chip_freq_mhz(0) - 525.0).abs() < 1e-9);

    let work = job(31);
    bench.driver.send_job(&work, bench.now).unwrap();
    bench.run_for(Duration::from_secs(15));
    let events = bench.take_events();
    let found = nonces(&events);
    // ~0.97 reports/s at 525 MHz and ticket difficulty 256.
    assert!(found.len() >= 5, "{} nonces: {events:?}", found.len());
    for nonce in &found {
        assert_eq!(nonce.job_id, 31);
        assert_eq!(nonce.chip, Some(0));
        assert_eq!(nonce.ntime, work.ntime);
        assert_eq!((nonce.version ^ work.version) & !work.version_mask, 0);
        assert!(nonce.zero_bits >= 12);
    }
    let stats = bench.driver.stats();
    assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
    assert_eq!(stats.nonces, found.len() as u64);
    assert!(stats.chips[0].hashrate.get() > 0.0);
    assert!(!events
        .iter()
        .any(|e| matches!(e, ChainEvent::ChipSilent { .. })));
}

#[test]
fn sixty_five_chips_enumerate_and_every_nonce_is_attributed() {
    let mut bench = Bench::new(ChipKind::Bm1370, 65, 0, 8, 65);
    bench.start();
    let events = bench.take_events();
    let Some(ChainEvent::Enumerated { chips }) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(chips.len(), 65);
    for (i, chip) in chips.iter().enumerate() {
        assert_eq!(bench.sim.chip_address(i), Some(chip.address));
        assert_eq!(usize::from(chip.address), 3 * i);
    }
    bench
        .driver
        .set_frequency(FreqMhz(525.0), bench.now)
        .unwrap();
    bench.run_for(Duration::from_secs(8));
    assert!(!bench.driver.is_ramping());
    bench.driver.send_job(&job(1), bench.now).unwrap();
    bench.run_for(Duration::from_secs(4));
    let events = bench.take_events();
    let found = nonces(&events);
    let expected = bench.sim.expected_nonce_rate() * 4.0;
    assert!(
        (found.len() as f64) > expected * 0.7 && (found.len() as f64) < expected * 1.3,
        "{} nonces, expected ~{expected}",
        found.len()
    );
    let mut credited = [0u32; 65];
    for nonce in &found {
        credited[nonce.chip.unwrap()] += 1;
    }
    assert!(
        credited.iter().filter(|n| **n > 0).count() >= 45,
        "{credited:?}"
    );
    let stats = bench.driver.stats();
    assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
    assert_eq!(stats.unattributed_nonces, 0);
    // Hashrate from nonces agrees with the simulator's truth.
    let truth = bench.sim.expected_hashrate_ghs();
    let estimate = stats.hashrate.get();
    assert!(
        (estimate - truth).abs() < truth * 0.3,
        "{estimate} vs {truth}"
    );
    assert!((stats.expected_hashrate.get() - truth).abs() < truth * 1e-6);
}

#[test]
fn a_chip_dropping_off_is_noticed_and_its_return_too() {
    let mut bench = Bench::new(ChipKind::Bm1370, 4, 4, 8, 3);
    bench.start();
    bench
        .sim
        .set_dead_chip_mode(DeadChipMode::SilencesOnlyItself);
    bench.driver.send_job(&job(2), bench.now).unwrap();
    bench.run_for(Duration::from_secs(2));
    bench.take_events();
    bench.sim.set_chip_dead(2, true);
    bench.run_for(Duration::from_secs(7));
    let events = bench.take_events();
    let silent: Vec<&ChainEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ChainEvent::ChipSilent { .. } | ChainEvent::ChipBack { .. }
            )
        })
        .collect();
    assert_eq!(silent, vec![&ChainEvent::ChipSilent { index: 2 }]);
    assert!(bench.driver.stats().chips[2].silent);
    assert!(bench.driver.stats().chips[2].missed_polls >= 4);
    bench.sim.set_chip_dead(2, false);
    bench.run_for(Duration::from_secs(2));
    let events = bench.take_events();
    assert!(
        events.contains(&ChainEvent::ChipBack { index: 2 }),
        "{events:?}"
    );

    // A broken link silences everything behind it.
    bench
        .sim
        .set_dead_chip_mode(DeadChipMode::SilencesDownstream);
    bench.sim.set_chip_dead(1, true);
    bench.run_for(Duration::from_secs(7));
    let mut silent: Vec<usize> = bench
        .take_events()
        .iter()
        .filter_map(|e| match e {
            ChainEvent::ChipSilent { index } => Some(*index),
            _ => None,
        })
        .collect();
    silent.sort_unstable();
    assert_eq!(silent, vec![1, 2, 3]);
    assert_eq!(bench.driver.stats().errors.total(), 0);
}

#[test]
fn crc_errors_on_the_line_are_counted_and_never_become_shares() {
    let mut bench = Bench::new(ChipKind::Bm1370, 8, 8, 8, 11);
    bench.start();
    bench
        .driver
        .set_frequency(FreqMhz(300.0), bench.now)
        .unwrap();
    bench.run_for(Duration::from_secs(5));
    bench.driver.send_job(&job(3), bench.now).unwrap();
    bench.sim.corrupt_tx(Some(3));
    bench.run_for(Duration::from_secs(6));
    bench.sim.corrupt_tx(None);
    let events = bench.take_events();
    let corrupted = bench.sim.stats().tx_frames_corrupted;
    let stats = bench.driver.stats();
    assert!(corrupted >= 10, "{corrupted}");
    assert!(
        stats.errors.crc_errors >= corrupted,
        "{:?} vs {corrupted}",
        stats.errors
    );
    assert!(stats.errors.crc_errors <= corrupted + corrupted / 4 + 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(
                e,
                ChainEvent::Warning {
                    kind: WarningKind::CrcError,
                    ..
                }
            ))
            .count(),
        1
    );
    // Only real, verified nonces for the job were reported.
    let found = nonces(&events);
    assert!(!found.is_empty());
    assert!(found.iter().all(|n| n.job_id == 3 && n.zero_bits >= 8));
    assert_eq!(stats.errors.bad_nonces, 0);
    // A third of the poll answers lost is not silence.
    assert!(!events
        .iter()
        .any(|e| matches!(e, ChainEvent::ChipSilent { .. })));
}

#[test]
fn bm1368_chains_credit_nonces_by_the_address_the_chips_stamp() {
    let mut bench = Bench::new(ChipKind::Bm1368, 4, 0, 8, 5);
    bench.start();
    bench
        .driver
        .set_frequency(FreqMhz(400.0), bench.now)
        .unwrap();
    bench.run_for(Duration::from_secs(6));
    bench.driver.send_job(&job(4), bench.now).unwrap();
    bench.run_for(Duration::from_secs(6));
    let found = nonces(&bench.take_events());
    assert!(found.len() >= 8, "{}", found.len());
    let mut credited = [0u32; 4];
    for nonce in &found {
        credited[nonce.chip.unwrap()] += 1;
    }
    assert!(credited.iter().all(|n| *n > 0), "{credited:?}");
    let stats = bench.driver.stats();
    assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
    assert_eq!(stats.unattributed_nonces, 0);
}

/// BM1397 chains (1 and 4 chips): bring-up through MISC_CONTROL baud, host
/// version rolling over four midstates, real nonces from the simulated chips
/// mapped back to job and version by the midstate index.
#[test]
fn bm1397_chains_hash_midstate_jobs_end_to_end() {
    for (chips, seed) in [(1usize, 11u64), (4, 12)] {
        let mut bench = Bench::new(ChipKind::Bm1397, chips, chips, 12, seed);
        bench.start();
        let events = bench.take_events();
        assert!(events
            .iter()
            .any(|e| matches!(e, ChainEvent::Ready { chips: n, .. } if *n == chips)));
        assert_eq!(bench.sim.baud(), 1_041_666);
        assert_eq!(bench.sim.chip_register(0, MISC_CONTROL), Some(0x0000_6231));
        bench
            .driver
            .set_frequency(FreqMhz(500.0), bench.now)
            .unwrap();
        bench.run_for(Duration::from_secs(8));
        let _ = bench.take_events();

        let work = job(70 + chips as u64);
        bench.driver.send_job(&work, bench.now).unwrap();
        bench.run_for(Duration::from_secs(12));
        let events = bench.take_events();
        let found = nonces(&events);
        // ~0.3 reports/s per chip at 500 MHz and ticket difficulty 256.
        assert!(found.len() >= chips, "{} nonces: {events:?}", found.len());
        let mut midstates_seen = [false; 4];
        for nonce in &found {
            assert_eq!(nonce.job_id, work.id);
            assert_eq!(nonce.ntime, work.ntime);
            let index = usize::from(nonce.small_core_id);
            assert!(index < 4);
            midstates_seen[index] = true;
            // Midstate k carries version base | k << 13.
            assert_eq!(nonce.version, work.version | ((index as u32) << 13));
            assert!(nonce.zero_bits >= 12);
        }
        let stats = bench.driver.stats();
        assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
        assert_eq!(stats.nonces, found.len() as u64);
        if found.len() >= 8 {
            assert!(midstates_seen.iter().filter(|s| **s).count() >= 2);
        }
        assert!(!events
            .iter()
            .any(|e| matches!(e, ChainEvent::ChipSilent { .. })));
    }
}

#[test]
fn a_job_without_version_rolling_is_hashed_on_its_own_version_only() {
    // A pool that does not speak BIP310: the job's mask is empty.
    let mut bench = Bench::new(ChipKind::Bm1370, 1, 1, 12, 9);
    bench.start();
    bench
        .driver
        .set_frequency(FreqMhz(525.0), bench.now)
        .unwrap();
    bench.run_for(Duration::from_secs(8));
    bench.take_events();
    let mut work = job(41);
    work.version_mask = 0;
    bench.driver.send_job(&work, bench.now).unwrap();
    bench.run_for(Duration::from_secs(15));
    // Rolling stays enabled (11-byte responses) but with no bits.
    assert_eq!(
        bench.sim.chip_register(0, VERSION_ROLLING),
        Some(0x9000_0000)
    );
    let events = bench.take_events();
    let found = nonces(&events);
    assert!(found.len() >= 5, "{} nonces: {events:?}", found.len());
    for nonce in &found {
        assert_eq!(nonce.job_id, 41);
        assert_eq!(nonce.version, work.version, "{nonce:?}");
        assert!(nonce.zero_bits >= 12);
    }
    assert_eq!(bench.driver.stats().errors.total(), 0);
    // A rolling job afterwards rolls again.
    let rolled = job(42);
    bench.driver.send_job(&rolled, bench.now).unwrap();
    bench.run_for(Duration::from_secs(15));
    assert_eq!(
        bench.sim.chip_register(0, VERSION_ROLLING),
        Some(0x9000_FFFF)
    );
    let found = nonces(&bench.take_events());
    assert!(found
        .iter()
        .any(|n| n.job_id == 42 && n.version != rolled.version));
}
