#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Safe states. The stale-heartbeat guard in the board task: a board heats only while the
//! control loop keeps renewing its power target. Real board runtime and
//! chain driver over an in-memory line to simulated chips (the path
//! `hearth run --sim` takes), real time.

use hearth::boards::{
    run_sim_chain, spawn_board_with_lease, BoardHandle, MemoryPort, SimChainFaults,
};
use hearth_board::config::{validate_hashboard, HashboardConfig};
use hearth_core::{BoardState, Celsius, Clock, Hashboard, Timestamp, Watts};
use hearth_sim::clock::ScaledClock;
use hearth_sim::devices::SimBoardPeripherals;
use hearth_sim::room::RoomParams;
use hearth_sim::weather::WeatherParams;
use hearth_sim::World;
use hearth_simchip::SimChainConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(2);

async fn board() -> (BoardHandle, Arc<dyn Clock>) {
    let cfg: HashboardConfig =
        toml::from_str("id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n").unwrap();
    let board = validate_hashboard(0, &cfg).unwrap();
    let clock: Arc<dyn Clock> =
        Arc::new(ScaledClock::new(Timestamp::from_secs(1_800_000_000), 1.0));
    let mut world = World::new(clock.now(), 7, WeatherParams::default());
    let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
    let idx = world.add_board(room, hearth::backends::sim_params_for(&board));
    let world = world.into_shared();
    let periph = SimBoardPeripherals::attach(world.clone(), idx).unwrap();
    let runtime = hearth::backends::simulated_runtime(&periph, &board, clock.now()).unwrap();
    let chain = SimChainConfig {
        chip: board.profile.chip(),
        chips: board.profile.chips() as usize,
        seed: 11,
        sim_zero_bits: hearth::backends::SIM_ZERO_BITS,
        ..SimChainConfig::default()
    };
    let (host, chips) = tokio::io::duplex(4096);
    tokio::spawn(run_sim_chain(
        chain,
        chips,
        periph,
        clock.clone(),
        Arc::new(Mutex::new(SimChainFaults::default())),
    ));
    let handle = spawn_board_with_lease(
        runtime,
        MemoryPort {
            stream: host,
            baud: 115_200,
        },
        clock.clone(),
        LEASE,
    );
    let (w, c) = (world.clone(), clock.clone());
    tokio::spawn(async move {
        loop {
            hearth_sim::world::lock(&w).advance_to(c.now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (handle, clock)
}

/// Renews the power target every `renew` (or never) for `for_`, returning
/// the last telemetry's power and state.
async fn hold(
    b: &mut BoardHandle,
    clock: &Arc<dyn Clock>,
    renew: Option<Duration>,
    for_: Duration,
) -> (f64, BoardState) {
    let start = Instant::now();
    let mut last = Instant::now();
    loop {
        if let Some(every) = renew {
            if last.elapsed() >= every {
                b.set_power_target(Watts(22.0), clock.now()).unwrap();
                last = Instant::now();
            }
        }
        let t = b.poll(clock.now()).telemetry;
        if start.elapsed() >= for_ {
            return (t.power_w.get(), t.state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_idles_by_itself_when_the_control_loop_stops_renewing() {
    let (mut b, clock) = board().await;
    b.set_power_target(Watts(22.0), clock.now()).unwrap();
    // Renewed every 500 ms (a live loop): it comes up and keeps running
    // well past the 2 s lease.
    let started = Instant::now();
    let mut running = false;
    while started.elapsed() < Duration::from_secs(30) {
        let (p, s) = hold(
            &mut b,
            &clock,
            Some(Duration::from_millis(500)),
            Duration::from_millis(500),
        )
        .await;
        if s == BoardState::Running && p > 0.0 {
            running = true;
            break;
        }
    }
    assert!(running, "board never reached Running");
    let (p, s) = hold(&mut b, &clock, Some(Duration::from_millis(500)), LEASE * 3).await;
    assert_eq!(
        s,
        BoardState::Running,
        "a renewed lease must keep the board running"
    );
    assert!(p > 0.0);
    // The loop hangs: no renewal. Within the lease (plus the ramp down) the
    // board idles, without anyone telling it to.
    let hung = Instant::now();
    let mut idled_after = None;
    while hung.elapsed() < LEASE + Duration::from_secs(10) {
        let t = b.poll(clock.now()).telemetry;
        if t.power_w.get() == 0.0 && t.state == BoardState::Idle {
            idled_after = Some(hung.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = idled_after.expect("board kept heating after the lease ran out");
    assert!(
        after >= LEASE - Duration::from_millis(200),
        "idled before the lease ran out: {after:?}"
    );
    // A live loop again: heat resumes.
    b.set_power_target(Watts(22.0), clock.now()).unwrap();
    let started = Instant::now();
    let mut resumed = false;
    while started.elapsed() < Duration::from_secs(30) {
        let (p, _) = hold(
            &mut b,
            &clock,
            Some(Duration::from_millis(500)),
            Duration::from_millis(500),
        )
        .await;
        if p > 0.0 {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "heat did not resume once the loop renewed again");
}

#[test]
fn the_lease_covers_three_ticks_and_at_least_thirty_seconds() {
    assert_eq!(
        hearth::boards::command_lease(Duration::from_secs(1)),
        Duration::from_secs(30)
    );
    assert_eq!(
        hearth::boards::command_lease(Duration::from_secs(20)),
        Duration::from_secs(60)
    );
}

/// A daemon killed mid-run leaves the regulator on and the chips out of
/// reset; the next daemon's board runtime switches both off the moment it
/// is built, before any tick.
#[test]
fn a_new_runtime_switches_off_what_a_killed_daemon_left_on() {
    let cfg: HashboardConfig =
        toml::from_str("id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n").unwrap();
    let board = validate_hashboard(0, &cfg).unwrap();
    let mut world = World::new(Timestamp::from_secs(0), 7, WeatherParams::default());
    let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
    let idx = world.add_board(room, hearth::backends::sim_params_for(&board));
    let world = world.into_shared();
    let periph = SimBoardPeripherals::attach(world.clone(), idx).unwrap();
    {
        let mut w = hearth_sim::world::lock(&world);
        let d = w.board_mut(idx).unwrap().external_mut().unwrap();
        d.regulator_enabled = true;
        d.reset_held = false;
        d.voltage_mv = 1150.0;
        d.freq_mhz = 525.0;
    }
    assert!(periph.chips_alive(), "precondition: left running");
    let _runtime =
        hearth::backends::simulated_runtime(&periph, &board, Timestamp::from_secs(1)).unwrap();
    let w = hearth_sim::world::lock(&world);
    let d = *w.board(idx).unwrap().external().unwrap();
    assert!(!d.regulator_enabled, "regulator left on: {d:?}");
    assert!(d.reset_held, "chips left out of reset: {d:?}");
    assert_eq!(d.fan_duty.get(), 100.0, "fan not at full: {d:?}");
}
