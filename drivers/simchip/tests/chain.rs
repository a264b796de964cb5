//! End-to-end behaviour of the simulated chain, driven with the codec's
//! frames and judged with the codec's parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{cfg, job, BringUp, Host};
use hearth_bm13xx::registers::address::{
    CHIP_ID, HASH_COUNTING_NUMBER, MISC_CONTROL, PLL_DIVIDER, TICKET_MASK, UART_BAUD,
    VERSION_ROLLING,
};
use hearth_bm13xx::registers::baud::{divider_for_baud, uart_baud_register};
use hearth_bm13xx::registers::nonce_offset::chip_index_for_nonce;
use hearth_bm13xx::registers::pll::pll_locked;
use hearth_bm13xx::registers::ticket_mask::ticket_mask_for_difficulty;
use hearth_bm13xx::registers::version::version_rolling_register;
use hearth_bm13xx::{
    pll_for_frequency, ChipKind, Command, Destination, FreqKhz, Response, ResponseLayout,
    ResponseParser,
};
use hearth_core::Timestamp;
use hearth_simchip::{block_hash, leading_zero_bits, DeadChipMode, SimChain, SimChainConfig};

#[test]
fn enumerates_a_single_chip_with_the_reference_bytes() {
    let mut host = Host::new(SimChainConfig::default());
    host.sim
        .receive(&[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A], Timestamp(0));
    let mut bytes = Vec::new();
    host.sim.transmit(&mut bytes);
    // 9-byte frame out of reset: value 13 70 00 00, address 0, register 0.
    assert_eq!(
        &bytes[..8],
        &[0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00]
    );
    let mut parser = ResponseParser::new(ResponseLayout::new(ChipKind::Bm1370, false));
    let mut found = Vec::new();
    parser.feed(&bytes, |r| found.push(r));
    assert_eq!(found.len(), 1);
    let Ok(Response::Register(r)) = found[0] else {
        panic!("{found:?}")
    };
    assert_eq!((r.value, r.chip_addr, r.register), (0x1370_0000, 0, 0));

    // With version rolling on first (as ESP-Miner does), the captured 11 bytes.
    let mut host = Host::new(SimChainConfig::default());
    host.write(Destination::Broadcast, VERSION_ROLLING, 0x9000_FFFF);
    host.read(Destination::Broadcast, CHIP_ID);
    let mut bytes = Vec::new();
    host.sim.transmit(&mut bytes);
    assert_eq!(
        bytes,
        [0xAA, 0x55, 0x13, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10]
    );
}

#[test]
fn enumerates_and_addresses_65_chips_in_chain_order() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 65, 1));
    host.read(Destination::Broadcast, CHIP_ID);
    let found = host.registers();
    assert_eq!(found.len(), 65);
    assert!(found.iter().all(|&r| r == (0, 0, 0x1370_0000)));

    host.send(Command::ChainInactive);
    let interval = (256 / 65) as u8; // 3, as ESP-Miner computes it
    for i in 0..65u8 {
        host.send(Command::SetChipAddress {
            address: i * interval,
        });
    }
    for i in 0..65 {
        assert_eq!(host.sim.chip_address(i), Some(i as u8 * interval));
    }
    assert_eq!(host.sim.chip_address(65), None);

    // The broadcast read now answers with each address, in chain order.
    host.read(Destination::Broadcast, CHIP_ID);
    let answers = host.registers();
    let expected: Vec<_> = (0..65u8)
        .map(|i| (i * interval, 0, 0x1370_0000 | u32::from(i * interval)))
        .collect();
    assert_eq!(answers, expected);

    // An addressed read reaches exactly that chip.
    host.read(Destination::Chip(60), CHIP_ID);
    assert_eq!(host.registers(), vec![(60, 0, 0x1370_003C)]);
    host.read(Destination::Chip(61), CHIP_ID);
    assert!(host.registers().is_empty());
}

#[test]
fn other_models_report_their_ids() {
    for (chip, id) in [
        (ChipKind::Bm1366, 0x1366_0000),
        (ChipKind::Bm1368, 0x1368_0000),
        (ChipKind::Bm1397, 0x1397_1800),
    ] {
        let mut host = Host::new(cfg(chip, 3, 0));
        host.read(Destination::Broadcast, CHIP_ID);
        assert_eq!(host.registers(), vec![(0, 0, id); 3], "{chip:?}");
    }
}

#[test]
fn address_assignment_follows_chain_inactive() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 3, 0));
    host.send(Command::ChainInactive);
    for address in [0x10, 0x20, 0x30] {
        host.send(Command::SetChipAddress { address });
    }
    let before = host.sim.stats().frames_unclaimed;
    // Nobody is waiting for an address: ignored.
    host.send(Command::SetChipAddress { address: 0x40 });
    assert_eq!(host.sim.stats().frames_unclaimed, before + 1);
    assert_eq!(
        (0..3).map(|i| host.sim.chip_address(i)).collect::<Vec<_>>(),
        vec![Some(0x10), Some(0x20), Some(0x30)]
    );
    // Chain inactive re-arms every chip; a partial re-addressing keeps the rest.
    host.send(Command::ChainInactive);
    host.send(Command::SetChipAddress { address: 0x80 });
    assert_eq!(host.sim.chip_address(0), Some(0x80));
    assert_eq!(host.sim.chip_address(1), Some(0x20));
    host.read(Destination::Chip(0x80), CHIP_ID);
    assert_eq!(host.registers(), vec![(0x80, 0, 0x1370_0080)]);
}

#[test]
fn register_writes_read_back() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 3, 0));
    host.enumerate(2);
    // Addressed write reaches only chip 2 (address 4).
    let mask = ticket_mask_for_difficulty(256).unwrap();
    host.write(Destination::Chip(4), TICKET_MASK, mask);
    host.read(Destination::Broadcast, TICKET_MASK);
    assert_eq!(
        host.registers(),
        vec![(0, 0x14, 0), (2, 0x14, 0), (4, 0x14, 0x0000_00FF)]
    );
    // A broadcast write reaches all; registers without a model just store.
    host.write(Destination::Broadcast, 0x3C, 0x8000_8301);
    host.read(Destination::Chip(2), 0x3C);
    assert_eq!(host.registers(), vec![(2, 0x3C, 0x8000_8301)]);
    // Chip id is read-only.
    host.write(Destination::Broadcast, CHIP_ID, 0xDEAD_BEEF);
    host.read(Destination::Chip(2), CHIP_ID);
    assert_eq!(host.registers(), vec![(2, 0, 0x1370_0002)]);

    // PLL: frequency decoded with the codec, read-back shows the lock bit.
    let pll = pll_for_frequency(ChipKind::Bm1370, FreqKhz::from_mhz(525)).unwrap();
    let value = pll.to_register(ChipKind::Bm1370);
    host.write(Destination::Broadcast, PLL_DIVIDER, value);
    host.read(Destination::Chip(0), PLL_DIVIDER);
    let [(_, _, read)] = host.registers()[..] else {
        panic!()
    };
    assert!(pll_locked(read));
    assert_eq!(read & 0x7FFF_FFFF, value);
    for i in 0..3 {
        assert!((host.sim.chip_freq_mhz(i) - 525.0).abs() < 1e-9);
    }

    // Version rolling switches that chip to 11-byte frames.
    host.write(
        Destination::Broadcast,
        VERSION_ROLLING,
        version_rolling_register(0x1FFF_E000).unwrap(),
    );
    host.read(Destination::Chip(0), VERSION_ROLLING);
    let mut bytes = Vec::new();
    host.sim.transmit(&mut bytes);
    assert_eq!(bytes.len(), 11);
    let mut parser = ResponseParser::new(ResponseLayout::new(ChipKind::Bm1370, true));
    let mut got = Vec::new();
    parser.feed(&bytes, |r| got.push(r));
    assert!(matches!(got[..], [Ok(Response::Register(r))] if r.value == 0x9000_FFFF));
}

#[test]
fn baud_register_changes_the_chain_rate() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 3, 0));
    assert_eq!(host.sim.baud(), 115_740);
    host.enumerate(2);
    let divider = divider_for_baud(1_000_000).unwrap();
    host.write(
        Destination::Broadcast,
        UART_BAUD,
        uart_baud_register(divider),
    );
    assert_eq!(host.sim.baud(), 1_041_666);
    assert_eq!(host.sim.stats().baud_changes, 1);
    host.read(Destination::Broadcast, CHIP_ID);
    assert_eq!(host.registers().len(), 3);

    // Re-clocking one chip in the middle desynchronises it and cuts off the
    // chips behind it.
    host.write(Destination::Chip(2), UART_BAUD, uart_baud_register(0));
    assert_eq!(host.sim.baud(), 1_041_666);
    host.read(Destination::Broadcast, CHIP_ID);
    assert_eq!(host.registers(), vec![(0, 0, 0x1370_0000)]);
    assert!(!host.sim.chip_reachable(1) && !host.sim.chip_reachable(2));

    // Broadcast to 3.125 Mbaud: only chip 0 hears it; chip 1 was already
    // there and is back in step, but chip 2 never heard anything and stays at
    // 1 Mbaud, cut off.
    host.write(Destination::Broadcast, UART_BAUD, uart_baud_register(0));
    assert_eq!(host.sim.baud(), 3_125_000);
    host.read(Destination::Broadcast, CHIP_ID);
    assert_eq!(
        host.registers(),
        vec![(0, 0, 0x1370_0000), (2, 0, 0x1370_0002)]
    );
    assert!(!host.sim.chip_reachable(2));
}

#[test]
fn dead_chip_silences_itself_and_by_default_the_chips_behind_it() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 4, 0));
    host.enumerate(2);
    host.sim.set_chip_dead(1, true);
    assert!(host.sim.chip_is_dead(1));
    host.read(Destination::Broadcast, CHIP_ID);
    assert_eq!(host.registers(), vec![(0, 0, 0x1370_0000)]);
    host.read(Destination::Chip(4), CHIP_ID);
    assert!(host.registers().is_empty());

    host.sim
        .set_dead_chip_mode(DeadChipMode::SilencesOnlyItself);
    host.read(Destination::Broadcast, CHIP_ID);
    let addresses: Vec<u8> = host.registers().iter().map(|r| r.0).collect();
    assert_eq!(addresses, vec![0, 4, 6]);

    host.sim.set_chip_dead(1, false);
    host.read(Destination::Broadcast, CHIP_ID);
    assert_eq!(host.registers().len(), 4);
}

#[test]
fn dead_chip_stops_reporting_nonces() {
    let mut host = Host::new(cfg(ChipKind::Bm1370, 2, 5));
    host.bring_up(&BringUp::default());
    host.send_job(job(1, 1));
    let before = host.run(10_000, 100);
    assert!(before.len() > 5, "{}", before.len());
    host.sim.set_chip_dead(0, true);
    assert_eq!(host.sim.expected_hashrate_ghs(), 0.0);
    assert!(host.run(20_000, 100).is_empty());
    host.sim.set_chip_dead(0, false);
    assert!(!host.run(10_000, 100).is_empty());
}

#[test]
fn corrupted_frames_fail_crc_at_the_host() {
    let mut host = Host::new(SimChainConfig::default());
    host.sim.corrupt_tx(Some(3));
    for _ in 0..30 {
        host.read(Destination::Broadcast, CHIP_ID);
    }
    let results = host.responses();
    let good: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(good.len(), 20);
    assert!(good
        .iter()
        .all(|r| matches!(r, Response::Register(r) if r.value == 0x1370_0000)));
    assert_eq!(host.parser.stats().crc_errors, 10);
    assert_eq!(host.sim.stats().tx_frames_corrupted, 10);

    host.sim.corrupt_tx(None);
    host.read(Destination::Broadcast, CHIP_ID);
    assert!(host.responses().iter().all(Result::is_ok));
}

#[test]
fn garbage_and_bad_crc_frames_are_dropped_and_counted() {
    let mut sim = SimChain::new(SimChainConfig::default());
    let mut bad = [0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A];
    bad[6] ^= 0x01;
    let mut bad_job = job(2, 2).to_bytes();
    bad_job[40] ^= 0x10;
    let mut stream = vec![0x00, 0xFF, 0x55, 0x13];
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&bad_job);
    stream.extend_from_slice(&[0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A]);
    // Split into single bytes: splitting must not matter.
    for byte in &stream {
        sim.receive(std::slice::from_ref(byte), Timestamp(0));
    }
    let stats = sim.stats();
    assert_eq!(stats.bytes_received, stream.len() as u64);
    assert_eq!(stats.frames_received, 1);
    assert_eq!(stats.jobs_received, 0);
    assert!(stats.rx_crc_errors >= 2, "{stats:?}");
    assert!(stats.rx_skipped_bytes > 0);
    let mut out = Vec::new();
    sim.transmit(&mut out);
    assert_eq!(out.len(), 9);
}

#[test]
fn output_queue_is_bounded_and_drops_the_oldest() {
    let mut host = Host::new(SimChainConfig::default());
    for _ in 0..5000 {
        host.read(Destination::Broadcast, CHIP_ID);
    }
    let stats = host.sim.stats();
    assert_eq!(stats.tx_frames_dropped, 5000 - 4096);
    assert_eq!(host.sim.pending_tx_bytes(), 4096 * 9);
    assert_eq!(host.registers().len(), 4096);
    assert_eq!(host.sim.pending_tx_bytes(), 0);
}

#[test]
fn nonces_are_real_and_arrive_at_the_expected_rate() {
    // 4 BM1370s at 525 MHz, ticket difficulty 256: ~3.9 reports/s.
    let mut host = Host::new(cfg(ChipKind::Bm1370, 4, 42));
    host.bring_up(&BringUp::default());
    assert_eq!(host.sim.expected_hashrate_ghs(), 0.0, "no job yet");
    host.send_job(job(3, 7));
    let ghs = host.sim.expected_hashrate_ghs();
    assert!((ghs - 4.0 * 525.0 * 2040.0 / 1000.0).abs() < 1e-6, "{ghs}");
    let rate = ghs * 1e9 / (256.0 * 4_294_967_296.0);
    assert!((host.sim.expected_nonce_rate() - rate).abs() < 1e-9);

    let seconds = 75.0;
    let nonces = host.run(75_000, 100);
    let expected = rate * seconds;
    let n = nonces.len() as f64;
    assert!(
        (n - expected).abs() < 5.0 * expected.sqrt(),
        "{n} nonces, expected {expected:.1}"
    );

    let mut seen = BTreeSet::new();
    let mut per_chip = BTreeMap::new();
    for nonce in &nonces {
        assert_eq!(nonce.job_id, 3);
        let (zeros, version) = host.verify(nonce);
        assert!(zeros >= 12, "{nonce:?} has {zeros} zero bits");
        assert!(seen.insert((nonce.nonce, version)), "duplicate {nonce:?}");
        assert_eq!(
            nonce.small_core_id,
            (nonce.version_bits.unwrap() & 0xF) as u8
        );
        assert!(nonce.core_id(ChipKind::Bm1370) < 128);
        *per_chip
            .entry(chip_index_for_nonce(nonce.nonce, 4).unwrap())
            .or_insert(0) += 1;
    }
    // CHIP_NONCE_OFFSET splits the space: every chip shows up.
    assert_eq!(per_chip.len(), 4, "{per_chip:?}");
    assert!(
        per_chip.values().all(|&c| c as f64 > n / 8.0),
        "{per_chip:?}"
    );
    let stats = host.sim.stats();
    assert_eq!(stats.nonces_sent, nonces.len() as u64);
    assert_eq!(stats.nonces_late, 0);
}

#[test]
fn bm1366_stamps_its_address_into_nonces() {
    let mut host = Host::new(cfg(ChipKind::Bm1366, 3, 9));
    let addresses = host.bring_up(&BringUp {
        interval: 84,
        mhz: 485,
        offsets: false,
        ..BringUp::default()
    });
    host.send_job(job(5, 3));
    let nonces = host.run(30_000, 200);
    assert!(nonces.len() > 10, "{}", nonces.len());
    let mut chips = BTreeSet::new();
    for nonce in &nonces {
        assert!(host.verify(nonce).0 >= 12);
        let address = nonce.chip_address(ChipKind::Bm1366).unwrap();
        assert!(addresses.contains(&address), "{address}");
        chips.insert(address);
        assert!(nonce.small_core_id < 8);
    }
    assert_eq!(chips.len(), 3);
}

#[test]
fn without_version_rolling_nonces_come_in_9_byte_frames() {
    let mut host = Host::new(cfg(ChipKind::Bm1368, 1, 4));
    host.bring_up(&BringUp {
        rolling: false,
        difficulty: 64,
        ..BringUp::default()
    });
    host.send_job(job(0, 9));
    let nonces = host.run(5_000, 100);
    assert!(!nonces.is_empty());
    for nonce in &nonces {
        assert_eq!(nonce.version_bits, None);
        let (zeros, version) = host.verify(nonce);
        assert!(zeros >= 12);
        assert_eq!(version, 0x2000_0004);
    }
}

#[test]
fn no_nonces_until_cores_are_open_and_none_when_hcn_is_zero() {
    let mut host = Host::new(SimChainConfig::default());
    host.bring_up(&BringUp::default());
    host.write(Destination::Broadcast, MISC_CONTROL, 0x0000_C100);
    host.send_job(job(1, 1));
    assert_eq!(host.sim.expected_hashrate_ghs(), 0.0);
    assert!(host.run(10_000, 500).is_empty());
    // One quarter open: a quarter of the rate, cores 0-31 only.
    host.write(Destination::Broadcast, MISC_CONTROL, 0x1000_C100);
    let quarter = 525.0 * 2040.0 / 1000.0 / 4.0;
    assert!((host.sim.expected_hashrate_ghs() - quarter).abs() < 1e-9);
    let nonces = host.run(20_000, 200);
    assert!(!nonces.is_empty());
    assert!(nonces.iter().all(|n| n.core_id(ChipKind::Bm1370) < 32));
    // HCN 0 halts hashing.
    host.write(Destination::Broadcast, HASH_COUNTING_NUMBER, 0);
    assert!(host.run(10_000, 500).is_empty());
}

#[test]
fn a_small_job_space_is_swept_exactly_once() {
    // 1 quarter (32 cores) x HCN 1 at 50 MHz (4 nonces per core) x a 1-bit
    // version mask (2 versions) = 256 candidates.
    let mut host = Host::new(SimChainConfig {
        sim_zero_bits: 3,
        ..SimChainConfig::default()
    });
    host.write(
        Destination::Broadcast,
        VERSION_ROLLING,
        version_rolling_register(0x0000_2000).unwrap(),
    );
    host.enumerate(2);
    host.write(Destination::Broadcast, MISC_CONTROL, 0x1000_C100);
    let pll = pll_for_frequency(ChipKind::Bm1370, FreqKhz::from_mhz(50)).unwrap();
    host.write(
        Destination::Broadcast,
        PLL_DIVIDER,
        pll.to_register(ChipKind::Bm1370),
    );
    let freq_khz = u64::from(pll.frequency().khz());
    let per_core = 2 * freq_khz / 25_000;
    host.write(Destination::Broadcast, HASH_COUNTING_NUMBER, 1);
    host.send_job(job(2, 2));
    let nonces = host.run(120_000, 1_000);
    let candidates = 32 * per_core * 2;
    assert_eq!(host.sim.stats().hashes, candidates);
    assert_eq!(host.sim.stats().jobs_exhausted, 1);
    let mut seen = BTreeSet::new();
    for nonce in &nonces {
        let (zeros, version) = host.verify(nonce);
        assert!(zeros >= 3);
        assert!(version == 0x2000_0004 || version == 0x2000_2004);
        assert!(seen.insert((nonce.nonce, version)));
        // Counter inside the HCN sweep.
        assert!(u64::from(nonce.nonce_fields() & 0x1FF_FFFF) < per_core);
    }
    // About 1 in 8 candidates qualifies.
    assert!(nonces.len() > 15 && nonces.len() < 50, "{}", nonces.len());
    // Idle afterwards.
    assert!(host.run(10_000, 1_000).is_empty());
    assert_eq!(host.sim.expected_hashrate_ghs(), 0.0);
    // A new job starts over.
    host.send_job(job(3, 3));
    assert!(!host.run(60_000, 1_000).is_empty());
}

#[test]
fn cpu_budget_is_respected_and_the_search_carries_over() {
    let budget = 1_000;
    let mut host = Host::new(SimChainConfig {
        max_hashes_per_advance: budget,
        ..cfg(ChipKind::Bm1370, 2, 3)
    });
    host.bring_up(&BringUp {
        difficulty: 16,
        ..BringUp::default()
    });
    host.send_job(job(4, 4));
    let mut calls = 0u64;
    let mut nonces = Vec::new();
    for _ in 0..400 {
        let before = host.sim.stats().hashes;
        nonces.extend(host.run(50, 50));
        calls += 1;
        assert!(host.sim.stats().hashes - before <= budget);
    }
    // Each report needs ~4096 hashes but only 1000 fit per call: they come
    // late, and every one is still real.
    let stats = host.sim.stats();
    assert!(stats.hashes <= budget * calls);
    assert!(!nonces.is_empty());
    assert!(stats.nonces_late > 0, "{stats:?}");
    for nonce in &nonces {
        assert!(host.verify(nonce).0 >= 12);
    }
}

#[test]
fn same_seed_same_bytes_and_other_seed_other_bytes() {
    let script = |seed: u64| -> Vec<u8> {
        let mut host = Host::new(cfg(ChipKind::Bm1370, 3, seed));
        host.bring_up(&BringUp::default());
        host.send_job(job(1, 1));
        let mut out = Vec::new();
        for step in 1..=200u64 {
            host.sim.advance(Timestamp::from_millis(step * 50));
            if step == 100 {
                host.sim.receive(&job(2, 2).to_bytes(), Timestamp(5_000));
            }
            host.sim.transmit(&mut out);
        }
        out
    };
    let a = script(11);
    assert!(a.len() > 11 * 5);
    assert_eq!(a, script(11));
    assert_ne!(a, script(12));
}

#[test]
fn hashing_helpers_match_sha2_and_count_bitcoin_zeros() {
    use sha2::{Digest, Sha256};
    // Genesis block: explorer hash 000000000019d6..., 43 leading zero bits.
    let header_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    let bytes: Vec<u8> = (0..160)
        .step_by(2)
        .map(|i| u8::from_str_radix(&header_hex[i..i + 2], 16).unwrap())
        .collect();
    let header: [u8; 80] = bytes.try_into().unwrap();
    let digest = block_hash(&header);
    let reference: [u8; 32] = Sha256::digest(Sha256::digest(header)).into();
    assert_eq!(digest, reference);
    assert_eq!(leading_zero_bits(&digest), 43);
    assert_eq!(common::display_leading_zeros(&digest), 43);
    // Zeros count from the END of the raw digest.
    let mut raw = [0xFFu8; 32];
    raw[31] = 0;
    raw[30] = 0x0F;
    assert_eq!(leading_zero_bits(&raw), 12);
    raw[0] = 0;
    assert_eq!(leading_zero_bits(&raw), 12);
    assert_eq!(leading_zero_bits(&[0; 32]), 256);
}

/// `cargo test -p hearth-simchip --release -- --ignored --nocapture measure`
#[test]
#[ignore = "measurement, not a check"]
fn measure_cpu_cost_per_nonce() {
    let mut host = Host::new(SimChainConfig {
        max_hashes_per_advance: u64::MAX,
        ..cfg(ChipKind::Bm1370, 65, 1)
    });
    host.bring_up(&BringUp {
        interval: 3,
        ..BringUp::default()
    });
    host.send_job(job(1, 1));
    let start = std::time::Instant::now();
    let nonces = host.run(60_000, 100);
    let elapsed = start.elapsed();
    let stats = host.sim.stats();
    eprintln!(
        "{} nonces in 60 simulated s ({:.1}/s expected), {} hashes = {:.0} hashes/nonce, {:.3} ms CPU/nonce, {:.0} ns/hash",
        nonces.len(),
        host.sim.expected_nonce_rate(),
        stats.hashes,
        stats.hashes as f64 / nonces.len() as f64,
        elapsed.as_secs_f64() * 1e3 / nonces.len() as f64,
        elapsed.as_secs_f64() * 1e9 / stats.hashes as f64,
    );
}
