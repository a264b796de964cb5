//! Whatever arrives on the UART, the driver neither panics nor turns it
//! into a share.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use hearth_bm13xx::{encode_nonce_response, ChipKind, NonceResponse, ResponseLayout};
use hearth_chain::{ChainConfig, ChainDriver, ChainEvent};
use hearth_core::Timestamp;
use proptest::prelude::*;

fn no_nonces(driver: &mut ChainDriver) {
    for event in drain_events(driver) {
        assert!(!matches!(event, ChainEvent::Nonce(_)), "{event:?}");
    }
}

/// Byte soup biased toward the response preamble and the job-id range, so
/// many candidate frames reach the CRC and job checks.
fn soup() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        1 => Just(0xAAu8),
        1 => Just(0x55u8),
        1 => 0u8..0x20,
    ];
    prop::collection::vec(prop::collection::vec(byte, 0..40), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_in_every_state_never_panic_or_make_shares(
        pieces in soup(),
        chip in prop::sample::select(vec![ChipKind::Bm1366, ChipKind::Bm1368, ChipKind::Bm1370]),
        chips in 1usize..6,
    ) {
        // Real ticket-difficulty verification (40 zero bits).
        let cfg = ChainConfig { expected_chips: chips, ..ChainConfig::new(chip) };

        // Idle, never started.
        let mut idle = ChainDriver::new(cfg.clone()).unwrap();
        for piece in &pieces {
            idle.handle_rx(piece, T0);
        }
        no_nonces(&mut idle);

        // Enumerating.
        let mut fresh = ChainDriver::new(cfg.clone()).unwrap();
        fresh.start(T0);
        for piece in &pieces {
            fresh.handle_rx(piece, T0);
            if let Some(due) = fresh.next_deadline() {
                fresh.handle_timeout(due);
            }
            drain_tx(&mut fresh);
        }
        no_nonces(&mut fresh);

        // Running with live jobs.
        let mut driver = ChainDriver::new(cfg).unwrap();
        let mut now = bring_up(&mut driver, chips);
        for id in 0..3 {
            driver.send_job(&test_job(id), now).unwrap();
        }
        drain_tx(&mut driver);
        for piece in &pieces {
            now = Timestamp(now.0 + 7);
            driver.handle_rx(piece, now);
        }
        no_nonces(&mut driver);
        let stats = driver.stats();
        prop_assert_eq!(stats.nonces, 0);
        prop_assert!(stats.chips.len() == chips);
    }
}

/// CRC-valid nonce frames with random contents, for live job ids.
fn forged_nonces() -> impl Strategy<Value = Vec<(u8, u32, u16, u8, Vec<u8>)>> {
    prop::collection::vec(
        (
            0u8..16,
            any::<u32>(),
            any::<u16>(),
            0u8..8,
            prop::collection::vec(any::<u8>(), 0..4),
        ),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn crc_valid_forged_nonces_never_become_shares(
        forged in forged_nonces(),
        chip in prop::sample::select(vec![ChipKind::Bm1366, ChipKind::Bm1368, ChipKind::Bm1370]),
    ) {
        let cfg = ChainConfig { expected_chips: 2, ..ChainConfig::new(chip) };
        let mut driver = ChainDriver::new(cfg).unwrap();
        let now = bring_up(&mut driver, 2);
        for id in 0..16 {
            driver.send_job(&test_job(id), now).unwrap();
            drain_tx(&mut driver);
        }
        let layout = ResponseLayout::new(chip, true);
        let mut framed = 0u64;
        for (job_id, nonce, version_bits, small_core, junk) in forged {
            let response = NonceResponse {
                nonce,
                excess_difficulty: 0,
                job_id,
                small_core_id: small_core,
                version_bits: Some(version_bits),
            };
            let frame = encode_nonce_response(&response, layout).unwrap();
            driver.handle_rx(frame.as_bytes(), now);
            driver.handle_rx(&junk, now);
            framed += 1;
        }
        no_nonces(&mut driver);
        let stats = driver.stats();
        prop_assert_eq!(stats.nonces, 0);
        // Every forged frame was judged: a bad nonce, a rolled bit outside
        // the mask, or (after junk bytes) a damaged frame.
        prop_assert!(stats.errors.total() > 0);
        prop_assert!(stats.errors.bad_nonces + stats.errors.version_outside_mask <= framed);
    }
}
