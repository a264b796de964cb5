//! No input bytes may panic the simulator, whatever the split, the timing or
//! the state the chips have been driven into.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use hearth_bm13xx::{ChipKind, Command, Destination};
use hearth_core::Timestamp;
use hearth_simchip::{SimChain, SimChainConfig};
use proptest::prelude::*;

fn small_budget(chip: ChipKind, chips: usize) -> SimChainConfig {
    SimChainConfig {
        chip,
        chips,
        max_hashes_per_advance: 2_000,
        sim_zero_bits: 4,
        ..SimChainConfig::default()
    }
}

fn chip_kind() -> impl Strategy<Value = ChipKind> {
    prop_oneof![
        Just(ChipKind::Bm1366),
        Just(ChipKind::Bm1368),
        Just(ChipKind::Bm1370),
        Just(ChipKind::Bm1397),
    ]
}

/// Valid frames with arbitrary fields (so the chips reach odd states: huge
/// PLLs, zero HCNs, broken ticket masks, partial version masks...), mixed with
/// garbage and bit flips.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let destination = prop_oneof![
        Just(Destination::Broadcast),
        any::<u8>().prop_map(Destination::Chip)
    ];
    let register = prop_oneof![
        Just(0x00u8),
        Just(0x08),
        Just(0x0C),
        Just(0x10),
        Just(0x14),
        Just(0x18),
        Just(0x28),
        Just(0xA4),
        any::<u8>()
    ];
    let command = prop_oneof![
        Just(Command::ChainInactive),
        any::<u8>().prop_map(|address| Command::SetChipAddress { address }),
        (destination.clone(), register.clone(), any::<u32>()).prop_map(
            |(destination, register, value)| Command::WriteRegister {
                destination,
                register,
                value
            }
        ),
        (destination, register).prop_map(|(destination, register)| Command::ReadRegister {
            destination,
            register
        }),
    ];
    prop_oneof![
        4 => command.prop_map(|c| c.to_frame().as_bytes().to_vec()),
        1 => (0u8..16, any::<u8>()).prop_map(|(id, salt)| common::job(id, salt).to_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        chip in chip_kind(),
        chips in 0usize..5,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..24),
        times in proptest::collection::vec(any::<u64>(), 0..24),
    ) {
        let mut sim = SimChain::new(small_budget(chip, chips));
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let now = Timestamp(times.get(i).copied().unwrap_or(0) % 1_000_000_000);
            sim.receive(chunk, now);
            sim.advance(now);
            sim.transmit(&mut out);
        }
        let _ = sim.stats();
    }

    #[test]
    fn arbitrary_frames_and_flips_never_panic(
        chip in chip_kind(),
        chips in 1usize..6,
        frames in proptest::collection::vec((frame(), any::<u16>(), 0u64..5_000, any::<bool>()), 1..40),
        dead in proptest::option::of(0usize..6),
        corrupt in proptest::option::of(0u32..5),
    ) {
        let mut sim = SimChain::new(small_budget(chip, chips));
        sim.corrupt_tx(corrupt);
        let mut now = 0u64;
        let mut out = Vec::new();
        for (i, (mut bytes, flip, dt, split)) in frames.into_iter().enumerate() {
            if flip % 7 == 0 && !bytes.is_empty() {
                let at = usize::from(flip) % bytes.len();
                bytes[at] ^= 1 << (flip % 8);
            }
            now += dt;
            if split {
                for piece in bytes.chunks(3) {
                    sim.receive(piece, Timestamp(now));
                }
            } else {
                sim.receive(&bytes, Timestamp(now));
            }
            if i == 10 {
                if let Some(d) = dead {
                    sim.set_chip_dead(d, true);
                }
            }
            sim.advance(Timestamp(now));
            sim.transmit(&mut out);
        }
        // Far-future jump: bounded work, no panic.
        sim.advance(Timestamp(u64::MAX));
        sim.transmit(&mut out);
        let _ = (sim.expected_hashrate_ghs(), sim.baud(), sim.chip_freq_mhz(99));
    }
}
