#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! A chain whose core voltage comes from a Bitmain PIC, the way `hearth run
//! --sim` builds it: the real board runtime and chain driver over a pty to
//! simulated chips, and the real PIC driver over an in-memory I2C bus to the
//! simulated PIC, which sets the simulated board's voltage.

use hearth::boards::{run_sim_chain, spawn_board_with_lease, SimChainFaults};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pic_powered_chain_comes_up_at_pic_voltages_and_goes_dark_on_stop() {
    let cfg: HashboardConfig = toml::from_str(
        "id = \"s9ish\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\n\
         chip = \"BM1366\"\nchips = 2\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n",
    )
    .unwrap();
    let board = validate_hashboard(0, &cfg).unwrap();
    // 8 domains cap a chip at 9,438 mV / 8 = 1,179 mV.
    assert_eq!(board.profile.limits().max_voltage_mv.get(), 1179.0);

    let clock: Arc<dyn Clock> =
        Arc::new(ScaledClock::new(Timestamp::from_secs(1_800_000_000), 1.0));
    let mut world = World::new(clock.now(), 7, WeatherParams::default());
    let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
    let idx = world.add_board(room, hearth::backends::sim_params_for(&board));
    let world = world.into_shared();
    let periph = SimBoardPeripherals::attach(world.clone(), idx).unwrap();
    let runtime =
        hearth::backends::simulated_runtime_clocked(&periph, &board, clock.now(), clock.clone())
            .unwrap();
    let (host, chips) = tokio_serial::SerialStream::pair().unwrap();
    let chain = SimChainConfig {
        chip: board.profile.chip(),
        chips: 2,
        seed: 5,
        sim_zero_bits: hearth::backends::SIM_ZERO_BITS,
        ..SimChainConfig::default()
    };
    let faults = Arc::new(Mutex::new(SimChainFaults::default()));
    tokio::spawn(run_sim_chain(chain, chips, periph, clock.clone(), faults));
    let mut handle =
        spawn_board_with_lease(runtime, host, clock.clone(), Duration::from_secs(3600));
    let (w, c) = (world.clone(), clock.clone());
    tokio::spawn(async move {
        loop {
            hearth_sim::world::lock(&w).advance_to(c.now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let (_, max_w) = board.profile.power_range();
    handle.set_power_target(max_w, clock.now()).unwrap();
    let start = Instant::now();
    let mut telemetry = handle.poll(clock.now()).telemetry;
    while telemetry.state != BoardState::Running && start.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        telemetry = handle.poll(clock.now()).telemetry;
    }
    assert_eq!(telemetry.state, BoardState::Running, "{telemetry:?}");
    let op = telemetry.operating_point.expect("operating point");
    assert!(op.voltage_mv.get() <= 1179.0, "{op:?}");
    // The world's voltage came through the PIC's one-byte rail code: within
    // a code step (5.9 mV on the rail, 0.73 mV per chip) of what was asked.
    let (world_mv, on) = {
        let w = hearth_sim::world::lock(&world);
        let d = w.board(idx).unwrap().external().unwrap();
        (d.voltage_mv, d.regulator_enabled)
    };
    assert!(on);
    assert!(
        (world_mv - op.voltage_mv.get()).abs() < 0.75,
        "{world_mv} vs {op:?}"
    );
    assert!(
        (world_mv - op.voltage_mv.get()).abs() > 1e-9,
        "a rail code cannot hit {} exactly",
        op.voltage_mv.get()
    );

    handle.stop_safely(clock.now()).unwrap();
    let start = Instant::now();
    let mut off = false;
    while !off && start.elapsed() < Duration::from_secs(10) {
        let _ = handle.poll(clock.now());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let w = hearth_sim::world::lock(&world);
        off = !w.board(idx).unwrap().external().unwrap().regulator_enabled;
    }
    assert!(off, "stop_safely switches the PIC's rail off");
}
