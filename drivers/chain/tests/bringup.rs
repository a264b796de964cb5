//! Bring-up, byte for byte: discovery, addressing, configuration order, baud
//! switch, link check, timeouts and failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use hearth_bm13xx::registers::address::{
    CHIP_NONCE_OFFSET, HASH_COUNTING_NUMBER, MISC_CONTROL, PLL_DIVIDER, TICKET_MASK, UART_BAUD,
    VERSION_ROLLING,
};
use hearth_bm13xx::registers::hcn::hash_counting_number;
use hearth_bm13xx::registers::nonce_offset::chip_nonce_offset;
use hearth_bm13xx::registers::pll::frequency_from_register;
use hearth_bm13xx::{pll_for_frequency, ChipKind, Command, Destination, FreqKhz};
use hearth_chain::{
    ChainConfig, ChainDriver, ChainEvent, ChainState, FailReason, RegisterWrite, WarningKind,
};
use hearth_core::Timestamp;

const DISCOVERY: [u8; 7] = [0x55, 0xAA, 0x52, 0x05, 0x00, 0x00, 0x0A];

fn enumerate(
    chip: ChipKind,
    chips: usize,
    expected: usize,
    seed: u64,
) -> (ChainDriver, Vec<ChainEvent>) {
    let mut driver = ChainDriver::new(config(chip, expected, 12)).unwrap();
    driver.start(T0);
    assert_eq!(driver.state(), ChainState::Enumerating);
    let sent = drain_tx(&mut driver);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].bytes, DISCOVERY);
    assert_eq!(sent[0].at_baud, 115_200);
    assert_eq!(sent[0].then_set_baud, None);
    let answers: Vec<u8> = (0..chips)
        .flat_map(|_| chip_id_answer(chip, chip.id(), 0, false))
        .collect();
    let at = T0.plus(Duration::from_millis(3));
    feed_split(&mut driver, &answers, at, seed);
    if expected == 0 {
        // Unknown length: discovery ends a quiet period after the last answer.
        assert_eq!(driver.state(), ChainState::Enumerating);
        let due = driver.next_deadline().unwrap();
        assert_eq!(due, at.plus(ChainConfig::new(chip).discovery_quiet));
        driver.handle_timeout(due);
    }
    assert_eq!(driver.state(), ChainState::Configuring);
    let events = drain_events(&mut driver);
    (driver, events)
}

#[test]
fn enumerates_one_chip() {
    for expected in [0, 1] {
        let (driver, events) = enumerate(ChipKind::Bm1370, 1, expected, 3);
        let [ChainEvent::Enumerated { chips }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(chips.len(), 1);
        assert_eq!((chips[0].index, chips[0].address), (0, 0));
        assert_eq!(chips[0].kind, ChipKind::Bm1370);
        assert_eq!(driver.chips().len(), 1);
    }
}

#[test]
fn enumerates_many_chips_from_answers_split_anywhere() {
    for (seed, expected) in [(1u64, 0usize), (99, 65), (12345, 0)] {
        let (_, events) = enumerate(ChipKind::Bm1370, 65, expected, seed);
        let [ChainEvent::Enumerated { chips }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(chips.len(), 65);
        for (i, chip) in chips.iter().enumerate() {
            assert_eq!(chip.index, i);
            assert_eq!(usize::from(chip.address), i * 3, "256 / 65 = step 3");
        }
    }
    // Byte-at-a-time delivery of a short chain.
    let mut driver = ChainDriver::new(config(ChipKind::Bm1368, 4, 12)).unwrap();
    driver.start(T0);
    drain_tx(&mut driver);
    let answers: Vec<u8> = (0..4)
        .flat_map(|_| chip_id_answer(ChipKind::Bm1368, 0x1368, 0, false))
        .collect();
    for byte in answers {
        driver.handle_rx(&[byte], T0);
    }
    assert_eq!(driver.state(), ChainState::Configuring);
    assert_eq!(driver.chips().len(), 4);
}

/// The register writes (destination, register, value) after addressing.
fn writes(commands: &[Command]) -> Vec<(Destination, u8, u32)> {
    commands
        .iter()
        .filter_map(|c| match *c {
            Command::WriteRegister {
                destination,
                register,
                value,
            } => Some((destination, register, value)),
            _ => None,
        })
        .collect()
}

#[test]
fn addresses_are_sent_in_order_with_the_right_step() {
    for (chips, step) in [(1usize, 0usize), (2, 128), (3, 85), (65, 3), (128, 2)] {
        let (mut driver, _) = enumerate(ChipKind::Bm1370, chips, chips, 5);
        let commands = commands(&drain_bytes(&mut driver));
        assert_eq!(commands[0], Command::ChainInactive, "{chips} chips");
        let addresses: Vec<Command> = commands[1..=chips].to_vec();
        let expected: Vec<Command> = (0..chips)
            .map(|i| Command::SetChipAddress {
                address: u8::try_from(i * step).unwrap(),
            })
            .collect();
        assert_eq!(addresses, expected, "{chips} chips");
        // Nothing else sets addresses.
        let extra = commands
            .iter()
            .filter(|c| matches!(c, Command::SetChipAddress { .. }))
            .count();
        assert_eq!(extra, chips);
    }
}

#[test]
fn config_writes_follow_the_reference_order() {
    let chips = 3;
    let (mut driver, _) = enumerate(ChipKind::Bm1370, chips, chips, 9);
    let chunks = drain_tx(&mut driver);
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    let all = commands(&bytes);
    let writes = writes(&all);
    let registers: Vec<u8> = writes.iter().map(|w| w.1).collect();
    assert_eq!(
        registers,
        vec![
            MISC_CONTROL,
            PLL_DIVIDER,
            TICKET_MASK,
            VERSION_ROLLING,
            HASH_COUNTING_NUMBER,
            CHIP_NONCE_OFFSET,
            CHIP_NONCE_OFFSET,
            CHIP_NONCE_OFFSET,
            UART_BAUD,
        ]
    );
    let pll = pll_for_frequency(ChipKind::Bm1370, FreqKhz(56_250)).unwrap();
    let hcn = hash_counting_number(ChipKind::Bm1370, 3, &pll).unwrap();
    let b = Destination::Broadcast;
    assert_eq!(writes[0], (b, MISC_CONTROL, 0xF000_C100));
    assert_eq!(
        writes[1],
        (b, PLL_DIVIDER, 0x40A2_0255),
        "captured 56.25 MHz word"
    );
    assert_eq!(writes[2], (b, TICKET_MASK, 0x0000_00FF), "difficulty 256");
    assert_eq!(writes[3], (b, VERSION_ROLLING, 0x9000_FFFF));
    assert_eq!(writes[4], (b, HASH_COUNTING_NUMBER, hcn));
    for i in 0..3u16 {
        let (dest, _, value) = writes[5 + usize::from(i)];
        assert_eq!(dest, Destination::Chip(u8::try_from(i * 85).unwrap()));
        assert_eq!(value, chip_nonce_offset(i, 3).unwrap());
    }
    assert_eq!(
        writes[8],
        (b, UART_BAUD, 0x0130_0200),
        "divider 2 = 1,041,666 baud"
    );
    assert_eq!(driver.frequency(), FreqKhz(56_250));
}

#[test]
fn bm1368_skips_nonce_offsets_and_extra_writes_follow_misc_control() {
    let mut cfg = config(ChipKind::Bm1368, 2, 12);
    cfg.extra_writes = vec![RegisterWrite {
        register: 0x58,
        value: 0x0001_1111,
    }];
    let mut driver = ChainDriver::new(cfg).unwrap();
    driver.start(T0);
    drain_tx(&mut driver);
    let answers: Vec<u8> = (0..2)
        .flat_map(|_| chip_id_answer(ChipKind::Bm1368, 0x1368, 0, false))
        .collect();
    driver.handle_rx(&answers, T0);
    let registers: Vec<u8> = writes(&commands(&drain_bytes(&mut driver)))
        .iter()
        .map(|w| w.1)
        .collect();
    assert_eq!(
        registers,
        vec![
            MISC_CONTROL,
            0x58,
            PLL_DIVIDER,
            TICKET_MASK,
            VERSION_ROLLING,
            HASH_COUNTING_NUMBER,
            UART_BAUD
        ]
    );
}

#[test]
fn baud_switch_rides_on_its_chunk_then_the_link_is_checked() {
    let (mut driver, _) = enumerate(ChipKind::Bm1370, 2, 2, 4);
    let chunks = drain_tx(&mut driver);
    assert_eq!(chunks.len(), 1, "everything up to the switch in one chunk");
    let chunk = &chunks[0];
    assert_eq!(chunk.at_baud, 115_200);
    assert_eq!(chunk.then_set_baud, Some(1_041_666));
    // The baud write is the chunk's last frame.
    let last = commands(&chunk.bytes).pop().unwrap();
    assert_eq!(
        last,
        Command::WriteRegister {
            destination: Destination::Broadcast,
            register: UART_BAUD,
            value: 0x0130_0200
        }
    );
    assert_eq!(driver.host_baud(), 1_041_666);
    assert_eq!(
        drain_events(&mut driver),
        vec![ChainEvent::BaudChanged { baud: 1_041_666 }]
    );
    // Nothing goes out at the new rate before the settle time.
    let settle = driver.next_deadline().unwrap();
    driver.handle_timeout(Timestamp(settle.0 - 1));
    assert!(drain_tx(&mut driver).is_empty());
    driver.handle_timeout(settle);
    let check = drain_tx(&mut driver);
    assert_eq!(check.len(), 1);
    assert_eq!(check[0].bytes, DISCOVERY);
    assert_eq!(check[0].at_baud, 1_041_666);
    // Both chips answer at their addresses (11-byte frames now).
    let mut answers = chip_id_answer(ChipKind::Bm1370, 0x1370, 0, true);
    answers.extend(chip_id_answer(ChipKind::Bm1370, 0x1370, 128, true));
    feed_split(&mut driver, &answers, settle, 8);
    assert_eq!(driver.state(), ChainState::Running);
    assert_eq!(
        drain_events(&mut driver),
        vec![ChainEvent::Ready {
            chips: 2,
            baud: 1_041_666,
            frequency: FreqKhz(56_250)
        }]
    );
}

#[test]
fn discovery_timeout_retries_then_fails_with_a_clear_reason() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1370, 0, 12)).unwrap();
    driver.start(T0);
    let timeout = driver.config().exchange_timeout;
    let mut now = T0;
    for attempt in 1..=4 {
        assert_eq!(drain_bytes(&mut driver), DISCOVERY, "attempt {attempt}");
        let due = driver.next_deadline().unwrap();
        assert_eq!(due, now.plus(timeout));
        // Early calls do nothing.
        driver.handle_timeout(Timestamp(due.0 - 1));
        assert!(drain_tx(&mut driver).is_empty());
        now = due;
        driver.handle_timeout(now);
    }
    assert_eq!(driver.state(), ChainState::Failed);
    assert!(drain_tx(&mut driver).is_empty());
    assert_eq!(driver.next_deadline(), None);
    let events = drain_events(&mut driver);
    let [ChainEvent::Failed { reason }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(*reason, FailReason::NoChips { attempts: 4 });
    assert!(reason.to_string().contains("no chip answered"));
    assert!(driver.send_job(&test_job(1), now).is_err());
}

#[test]
fn too_few_chips_retries_then_fails_and_a_retry_can_succeed() {
    // Two of three answer every time: fails after the retries.
    let mut driver = ChainDriver::new(ChainConfig {
        max_retries: 1,
        ..config(ChipKind::Bm1370, 3, 12)
    })
    .unwrap();
    driver.start(T0);
    let two: Vec<u8> = (0..2)
        .flat_map(|_| chip_id_answer(ChipKind::Bm1370, 0x1370, 0, false))
        .collect();
    for _ in 0..2 {
        assert_eq!(drain_bytes(&mut driver), DISCOVERY);
        driver.handle_rx(&two, T0);
        let due = driver.next_deadline().unwrap();
        driver.handle_timeout(due);
    }
    let events = drain_events(&mut driver);
    assert!(
        events.contains(&ChainEvent::Failed {
            reason: FailReason::ChipCountMismatch {
                expected: 3,
                found: 2,
                attempts: 2
            }
        }),
        "{events:?}"
    );

    // Silence on the first read, all three on the retry.
    let mut driver = ChainDriver::new(config(ChipKind::Bm1370, 3, 12)).unwrap();
    driver.start(T0);
    drain_tx(&mut driver);
    let due = driver.next_deadline().unwrap();
    driver.handle_timeout(due);
    assert_eq!(drain_bytes(&mut driver), DISCOVERY);
    let three: Vec<u8> = (0..3)
        .flat_map(|_| chip_id_answer(ChipKind::Bm1370, 0x1370, 0, false))
        .collect();
    driver.handle_rx(&three, due);
    assert_eq!(driver.state(), ChainState::Configuring);
}

#[test]
fn unknown_chip_ids_are_counted_warned_once_and_ignored() {
    let mut driver = ChainDriver::new(config(ChipKind::Bm1370, 0, 12)).unwrap();
    driver.start(T0);
    drain_tx(&mut driver);
    let mut bytes = Vec::new();
    bytes.extend(chip_id_answer(ChipKind::Bm1370, 0x1362, 0, false));
    bytes.extend(chip_id_answer(ChipKind::Bm1370, 0x1370, 0, false));
    bytes.extend(chip_id_answer(ChipKind::Bm1370, 0x1366, 0, false));
    driver.handle_rx(&bytes, T0);
    let due = driver.next_deadline().unwrap();
    driver.handle_timeout(due);
    let events = drain_events(&mut driver);
    let warnings: Vec<&ChainEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ChainEvent::Warning {
                    kind: WarningKind::UnknownChipId,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(driver.stats().errors.unknown_chip_id, 2);
    assert_eq!(driver.chips().len(), 1);
}

#[test]
fn link_check_needs_every_chip_at_its_address() {
    let (mut driver, _) = enumerate(ChipKind::Bm1370, 3, 3, 2);
    drain_tx(&mut driver);
    drain_events(&mut driver);
    let mut now = driver.next_deadline().unwrap();
    driver.handle_timeout(now);
    // Chips 0 and 1 answer, chip 2 (address 170) never does; an answer from
    // an address nobody has is counted.
    let mut answers = chip_id_answer(ChipKind::Bm1370, 0x1370, 0, true);
    answers.extend(chip_id_answer(ChipKind::Bm1370, 0x1370, 85, true));
    answers.extend(chip_id_answer(ChipKind::Bm1370, 0x1370, 7, true));
    for attempt in 1..=4 {
        assert_eq!(drain_bytes(&mut driver), DISCOVERY, "attempt {attempt}");
        driver.handle_rx(&answers, now);
        now = driver.next_deadline().unwrap();
        driver.handle_timeout(now);
    }
    assert_eq!(driver.state(), ChainState::Failed);
    let events = drain_events(&mut driver);
    let reason = events
        .iter()
        .find_map(|e| match e {
            ChainEvent::Failed { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        reason,
        FailReason::LinkCheck {
            answered: 2,
            expected: 3,
            baud: 1_041_666,
            attempts: 4
        }
    );
    assert!(reason.to_string().contains("2 of 3 chips"));
    assert_eq!(driver.stats().errors.unknown_chip_address, 4);
}

#[test]
fn stop_during_bring_up_drops_the_queue_and_idles_the_clock() {
    let (mut driver, _) = enumerate(ChipKind::Bm1370, 2, 2, 1);
    driver.stop(T0);
    assert_eq!(driver.state(), ChainState::Stopped);
    let chunks = drain_tx(&mut driver);
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        chunks[0].then_set_baud, None,
        "the baud switch was never sent"
    );
    let sent = commands(&chunks[0].bytes);
    assert_eq!(sent.len(), 2);
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
    assert!(drain_events(&mut driver).contains(&ChainEvent::Stopped));
    assert_eq!(driver.next_deadline(), None);
}
