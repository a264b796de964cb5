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

/// The PIC's waits, stretched: a slow real PIC (the driver waits 100 ms
/// after SET_VOLTAGE, 500 ms after a reset), three times as long here so a
/// stall of the executor stands out from a loaded machine's noise.
struct SlowPicWaits;

impl embedded_hal::delay::DelayNs for SlowPicWaits {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(u64::from(ns) * 3));
    }
}

struct SimResetLine(SimBoardPeripherals);

impl hearth_board::runtime::ResetLine for SimResetLine {
    fn set_reset(&mut self, held: bool, _now: Timestamp) -> Result<(), hearth_core::DeviceError> {
        self.0.set_reset_held(held)
    }
}

/// The board task runs on a single-threaded executor with a PIC that
/// really sleeps in its waits, behind `hearth_linux::RegulatorWorker` as
/// `hearth run` builds it. While the rail settles the executor keeps
/// running other tasks (a 5 ms ticker never waits anywhere near the PIC's
/// 300 ms), and the board comes up at the PIC's voltage. With the PIC
/// called inline the ticker would stall for at least 300 ms per SET_VOLTAGE.
#[tokio::test(flavor = "current_thread")]
async fn the_board_task_keeps_serving_while_the_pic_settles() {
    let cfg: HashboardConfig = toml::from_str(
        "id = \"slowpic\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\n\
         chip = \"BM1366\"\nchips = 1\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n",
    )
    .unwrap();
    let board = validate_hashboard(0, &cfg).unwrap();
    let clock: Arc<dyn Clock> =
        Arc::new(ScaledClock::new(Timestamp::from_secs(1_800_000_000), 1.0));
    let mut world = World::new(clock.now(), 7, WeatherParams::default());
    let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
    let idx = world.add_board(room, hearth::backends::sim_params_for(&board));
    let world = world.into_shared();
    let periph = SimBoardPeripherals::attach(world.clone(), idx).unwrap();

    let limits = board.profile.limits();
    let range =
        hearth_periph::bitmain_pic::VoutRange::new(limits.min_voltage_mv, limits.max_voltage_mv)
            .unwrap();
    let sim =
        hearth_simchip::pic::SimPic::new(0x50, 8, Box::new(periph.regulator()), clock.clone());
    let mut pic =
        hearth_periph::bitmain_pic::BitmainPic::new(sim, SlowPicWaits, 0x50, 8, range).unwrap();
    pic.start(clock.now()).unwrap();
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let worker = hearth_linux::RegulatorWorker::spawn(
        pic,
        "slowpic",
        Box::new(move |_| {
            *counted.lock().unwrap() += 1;
            Ok(())
        }),
    )
    .unwrap();
    let devices = hearth_board::runtime::BoardDevices {
        regulator: Box::new(worker),
        fan: Box::new(periph.fan()),
        chip_sensors: vec![Box::new(periph.chip_sensor("slowpic chips"))],
        reset: Some(Box::new(SimResetLine(periph.clone()))),
    };
    let options = hearth_board::runtime::RuntimeOptions {
        sim_zero_bits: Some(hearth::backends::SIM_ZERO_BITS),
        ..hearth_board::runtime::RuntimeOptions::default()
    };
    let runtime = hearth_board::runtime::BoardRuntime::new(
        board.id.clone(),
        board.profile.clone(),
        devices,
        options,
        clock.now(),
    )
    .unwrap();
    let (host, chips) = tokio_serial::SerialStream::pair().unwrap();
    let chain = SimChainConfig {
        chip: board.profile.chip(),
        chips: 1,
        seed: 9,
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
    // The ticker: the longest gap between two 5 ms sleeps on this executor.
    let worst = Arc::new(Mutex::new(Duration::ZERO));
    let seen = worst.clone();
    tokio::spawn(async move {
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let gap = last.elapsed();
            last = Instant::now();
            let mut w = seen.lock().unwrap();
            *w = (*w).max(gap);
        }
    });

    let (_, max_w) = board.profile.power_range();
    handle.set_power_target(max_w, clock.now()).unwrap();
    let start = Instant::now();
    let mut telemetry = handle.poll(clock.now()).telemetry;
    while telemetry.state != BoardState::Running && start.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        telemetry = handle.poll(clock.now()).telemetry;
    }
    assert_eq!(telemetry.state, BoardState::Running, "{telemetry:?}");
    let voltages_set = *calls.lock().unwrap();
    assert!(voltages_set >= 1, "the PIC was asked for a voltage");
    let worst = *worst.lock().unwrap();
    eprintln!("worst executor gap while the PIC settled: {worst:?} ({voltages_set} SET_VOLTAGE)");
    assert!(
        worst < Duration::from_millis(200),
        "the executor stalled for {worst:?} (a SET_VOLTAGE wait is 300 ms here)"
    );
    let on = {
        let w = hearth_sim::world::lock(&world);
        w.board(idx).unwrap().external().unwrap().regulator_enabled
    };
    assert!(on, "the rail is on once running");
    // (stop_safely waits for the task's answer, which a single-threaded
    // executor cannot give while it waits.) Dropping the handle stops the
    // board the same way: the rail goes off through the worker.
    drop(handle);
    let start = Instant::now();
    let mut off = false;
    while !off && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let w = hearth_sim::world::lock(&world);
        off = !w.board(idx).unwrap().external().unwrap().regulator_enabled;
    }
    assert!(off, "a dropped board switches the PIC's rail off");
}
