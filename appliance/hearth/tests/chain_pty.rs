#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The real board runtime and chain driver against simulated BM13xx chips
//! over a pseudo-terminal, the path `hearth run --sim` takes: bring-up of
//! one and of many chips, real nonces for a job, a chip dropping off, CRC
//! errors on the line, a stalled fan and an overheat tripping protection and
//! recovering.

use hearth::boards::{
    run_sim_chain, spawn_board_with_lease, BoardHandle, MemoryPort, SimChainFaults,
};

/// These tests set a power target once and stand in for a control loop that
/// keeps it; the stale-heartbeat lease (which withdraws a target nobody
/// renews) is tested on its own in tests/heartbeat_guard.rs.
const HELD_TARGET_LEASE: Duration = Duration::from_secs(3600);
use hearth_board::config::{validate_hashboard, HashboardConfig};
use hearth_chain::verify::header_zero_bits;
use hearth_core::{
    BoardEvent, BoardState, Celsius, Clock, Hashboard, Job, NonceFound, Timestamp, Watts,
};
use hearth_sim::clock::ScaledClock;
use hearth_sim::devices::SimBoardPeripherals;
use hearth_sim::room::RoomParams;
use hearth_sim::weather::WeatherParams;
use hearth_sim::{SharedWorld, World};
use hearth_simchip::SimChainConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ZERO_BITS: u32 = hearth::backends::SIM_ZERO_BITS;

struct Rig {
    board: BoardHandle,
    world: SharedWorld,
    idx: usize,
    faults: Arc<Mutex<SimChainFaults>>,
    clock: Arc<dyn Clock>,
    events: Vec<BoardEvent>,
    nonces: Vec<NonceFound>,
}

fn hashboard(toml_text: &str) -> hearth_board::config::ConfiguredBoard {
    let cfg: HashboardConfig = toml::from_str(toml_text).expect("hashboard table");
    validate_hashboard(0, &cfg).expect("valid board")
}

/// A room with one board, its chips behind a pty, the world advanced in real
/// time by a background task.
async fn rig(board_toml: &str) -> Rig {
    rig_over(board_toml, Transport::Pty).await
}

#[derive(Clone, Copy)]
enum Transport {
    Pty,
    Memory,
}

async fn rig_over(board_toml: &str, transport: Transport) -> Rig {
    let board = hashboard(board_toml);
    let clock: Arc<dyn Clock> =
        Arc::new(ScaledClock::new(Timestamp::from_secs(1_800_000_000), 1.0));
    let mut world = World::new(
        clock.now(),
        7,
        WeatherParams {
            noise_sd_c: 0.0,
            ..WeatherParams::default()
        },
    );
    let room = world.add_room("room", RoomParams::default(), Celsius(18.0), Watts::ZERO);
    let idx = world.add_board(room, hearth::backends::sim_params_for(&board));
    let world = world.into_shared();
    let periph = SimBoardPeripherals::attach(world.clone(), idx).expect("board");
    let runtime =
        hearth::backends::simulated_runtime(&periph, &board, clock.now()).expect("runtime");
    let faults = Arc::new(Mutex::new(SimChainFaults::default()));
    let chain = SimChainConfig {
        chip: board.profile.chip(),
        chips: board.profile.chips() as usize,
        seed: 11,
        sim_zero_bits: ZERO_BITS,
        ..SimChainConfig::default()
    };
    let board_handle = match transport {
        Transport::Pty => {
            let (host, chips) = tokio_serial::SerialStream::pair().expect("pty");
            tokio::spawn(run_sim_chain(
                chain,
                chips,
                periph,
                clock.clone(),
                faults.clone(),
            ));
            spawn_board_with_lease(runtime, host, clock.clone(), HELD_TARGET_LEASE)
        }
        Transport::Memory => {
            let (host, chips) = tokio::io::duplex(4096);
            tokio::spawn(run_sim_chain(
                chain,
                chips,
                periph,
                clock.clone(),
                faults.clone(),
            ));
            spawn_board_with_lease(
                runtime,
                MemoryPort {
                    stream: host,
                    baud: 115_200,
                },
                clock.clone(),
                HELD_TARGET_LEASE,
            )
        }
    };
    let w = world.clone();
    let c = clock.clone();
    tokio::spawn(async move {
        loop {
            hearth_sim::world::lock(&w).advance_to(c.now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Rig {
        board: board_handle,
        world,
        idx,
        faults,
        clock,
        events: Vec::new(),
        nonces: Vec::new(),
    }
}

impl Rig {
    /// Polls until `done` holds or `limit` passes; returns the last telemetry state.
    async fn wait_for(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Rig, &hearth_core::BoardTelemetry) -> bool,
    ) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            let poll = self.board.poll(self.clock.now());
            self.events.extend(poll.events);
            self.nonces.extend(poll.nonces);
            if done(self, &poll.telemetry) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    fn telemetry(&mut self) -> hearth_core::BoardTelemetry {
        let poll = self.board.poll(self.clock.now());
        self.events.extend(poll.events);
        self.nonces.extend(poll.nonces);
        poll.telemetry
    }

    fn sim_board<T>(&self, f: impl FnOnce(&mut hearth_sim::board::SimBoard) -> T) -> T {
        let mut w = hearth_sim::world::lock(&self.world);
        f(w.board_mut(self.idx).expect("board"))
    }
}

fn test_job(id: u64) -> Job {
    Job {
        id,
        version: 0x2000_0000,
        version_mask: 0x1fff_e000,
        prev_block_hash: [0x11; 32],
        merkle_root: [0x22; 32],
        ntime: 0x6700_0000,
        nbits: 0x1703_0ecd,
        clean: true,
        heat_only: false,
    }
}

/// Rebuilds the 80-byte header a nonce claims to solve.
fn header(job: &Job, n: &NonceFound) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&n.version.to_le_bytes());
    h[4..36].copy_from_slice(&job.prev_block_hash);
    h[36..68].copy_from_slice(&job.merkle_root);
    h[68..72].copy_from_slice(&n.ntime.to_le_bytes());
    h[72..76].copy_from_slice(&job.nbits.to_le_bytes());
    h[76..80].copy_from_slice(&n.nonce.to_le_bytes());
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chip_comes_up_ramps_and_returns_real_nonces_for_its_job() {
    let mut r = rig("id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n").await;
    r.board
        .set_power_target(Watts(22.0), r.clock.now())
        .expect("power");
    let running = r
        .wait_for(Duration::from_secs(30), |_, t| {
            t.state == BoardState::Running
        })
        .await;
    assert!(running, "board did not reach Running: {:?}", r.telemetry());
    let t = r.telemetry();
    let op = t.operating_point.expect("operating point");
    assert!(
        op.freq_mhz.get() >= 400.0 && op.freq_mhz.get() <= 625.0,
        "{op:?}"
    );
    assert!(
        t.power_w.get() > 10.0 && t.power_w.get() <= 22.0 + 1e-9,
        "{t:?}"
    );
    // The regulator was set to the V/f table's voltage for that frequency.
    let v = r.sim_board(|b| b.external().map(|d| d.voltage_mv).unwrap_or(0.0));
    assert!((v - op.voltage_mv.get()).abs() < 1e-6, "{v} vs {op:?}");
    // No job yet: heat-only work keeps it hashing, but nothing is reported.
    assert!(r.nonces.is_empty());

    let job = test_job(42);
    r.board.set_job(job.clone(), r.clock.now()).expect("job");
    let got = r
        .wait_for(Duration::from_secs(60), |rig, _| rig.nonces.len() >= 3)
        .await;
    assert!(got, "no nonces for the job");
    for n in &r.nonces {
        assert_eq!(n.job_id, 42);
        assert_eq!(
            n.version & !job.version_mask,
            job.version & !job.version_mask,
            "rolled only inside the mask"
        );
        assert!(
            header_zero_bits(&header(&job, n)) >= ZERO_BITS,
            "nonce {n:?} is not a real solution"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_chips_enumerate_and_hash_and_crc_errors_make_no_bad_shares() {
    let mut r = rig("id = \"s21\"\nzone = \"z\"\nprofile = \"generic-bm1370-65\"\n").await;
    r.board
        .set_power_target(Watts(800.0), r.clock.now())
        .expect("power");
    let running = r
        .wait_for(Duration::from_secs(60), |_, t| {
            t.state == BoardState::Running
        })
        .await;
    assert!(
        running,
        "65-chip board did not reach Running: {:?} {:?}",
        r.telemetry(),
        r.events
    );
    // From now on every third response frame has a flipped bit.
    r.faults.lock().unwrap().corrupt_every = Some(3);
    // 65 chips sweep a job's whole nonce and version space in seconds, so a
    // work source sends fresh work every couple of seconds; so does this test.
    let mut jobs = std::collections::BTreeMap::new();
    let start = Instant::now();
    let mut next_id = 100;
    while r.nonces.len() < 5 && start.elapsed() < Duration::from_secs(90) {
        let mut job = test_job(next_id);
        job.merkle_root[0] = next_id as u8;
        r.board.set_job(job.clone(), r.clock.now()).expect("job");
        jobs.insert(next_id, job);
        next_id += 1;
        r.wait_for(Duration::from_secs(2), |_, _| false).await;
    }
    assert!(
        r.nonces.len() >= 5,
        "only {} nonces from 65 chips: {:?}",
        r.nonces.len(),
        r.events
    );
    for n in &r.nonces {
        let job = jobs.get(&n.job_id).expect("nonce for a job we sent");
        assert!(
            header_zero_bits(&header(job, n)) >= ZERO_BITS,
            "bad share {n:?}"
        );
    }
    let t = r.telemetry();
    assert!(
        t.power_w.get() > 300.0 && t.power_w.get() <= 800.0 + 1e-9,
        "{t:?}"
    );
    assert!(t.hashrate_ghs.get() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chip_dropping_off_the_chain_is_a_fault_and_the_board_recovers() {
    let mut r = rig(
        "id = \"chain\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"BM1370\"\nchips = 4\n",
    )
    .await;
    r.board
        .set_power_target(Watts(60.0), r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(30), |_, t| t.state
            == BoardState::Running)
            .await
    );
    // The first chip fails: it and every chip behind it go silent.
    r.faults.lock().unwrap().dead_chips = vec![0];
    let faulted = r
        .wait_for(Duration::from_secs(30), |rig, t| {
            t.state == BoardState::Fault
                || rig
                    .events
                    .iter()
                    .any(|e| matches!(e, BoardEvent::Fault { .. }))
        })
        .await;
    assert!(faulted, "a silent chain must be reported: {:?}", r.events);
    // The chip comes back: the board powers up again by itself.
    r.faults.lock().unwrap().dead_chips.clear();
    let back = r
        .wait_for(Duration::from_secs(60), |_, t| {
            t.state == BoardState::Running
        })
        .await;
    assert!(
        back,
        "board did not come back: {:?} {:?}",
        r.telemetry(),
        r.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_fan_trips_protection_and_the_board_recovers_lower() {
    let mut r = rig("id = \"s21\"\nzone = \"z\"\nprofile = \"generic-bm1370-65\"\n").await;
    r.board
        .set_power_target(Watts(1500.0), r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(60), |_, t| t.state
            == BoardState::Running)
            .await
    );
    let before = r.telemetry().operating_point.expect("point").freq_mhz.get();
    r.sim_board(|b| b.set_fan_stalled(true));
    let tripped = r
        .wait_for(Duration::from_secs(30), |_, t| {
            t.state == BoardState::Tripped
        })
        .await;
    assert!(tripped, "{:?}", r.events);
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, BoardEvent::Tripped { .. })));
    let t = r.telemetry();
    assert_eq!(t.power_w, Watts::ZERO, "core voltage off while tripped");
    assert_eq!(t.fan_duty.get(), 100.0, "fan to full while tripped");
    let reset = r.sim_board(|b| b.external().map(|d| d.reset_held && !d.regulator_enabled));
    assert_eq!(reset, Some(true), "chips held in reset, regulator off");
    // The fan spins again; after the minimum wait and the cool-down the board
    // runs again, one step lower.
    r.sim_board(|b| b.set_fan_stalled(false));
    let recovered = r
        .wait_for(Duration::from_secs(120), |rig, t| {
            t.state == BoardState::Running && rig.events.contains(&BoardEvent::Recovered)
        })
        .await;
    assert!(recovered, "{:?} {:?}", r.telemetry(), r.events);
    let after = r.telemetry().operating_point.expect("point").freq_mhz.get();
    assert!(
        after < before,
        "recovered one point lower: {before} -> {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overheat_trips_and_recovers_with_hysteresis() {
    let mut r = rig("id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n").await;
    r.board
        .set_power_target(Watts(22.0), r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(30), |_, t| t.state
            == BoardState::Running)
            .await
    );
    // The heatsink comes loose: the chip runs 60 K hotter than its power explains.
    r.sim_board(|b| b.set_thermal_fault(60.0));
    let tripped = r
        .wait_for(Duration::from_secs(30), |_, t| {
            t.state == BoardState::Tripped
        })
        .await;
    assert!(tripped, "{:?} {:?}", r.telemetry(), r.events);
    let trip_at = Instant::now();
    r.sim_board(|b| b.set_thermal_fault(0.0));
    let recovered = r
        .wait_for(Duration::from_secs(120), |_, t| {
            t.state == BoardState::Running
        })
        .await;
    assert!(recovered, "{:?} {:?}", r.telemetry(), r.events);
    assert!(
        trip_at.elapsed() >= Duration::from_secs(29),
        "recovered before the minimum wait"
    );
    assert!(r.events.contains(&BoardEvent::Recovered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_confirmed_and_leaves_the_board_safe() {
    let mut r = rig("id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n").await;
    r.board
        .set_power_target(Watts(22.0), r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(30), |_, t| t.state
            == BoardState::Running)
            .await
    );
    let mut board = r.board;
    let now = r.clock.now();
    tokio::task::spawn_blocking(move || {
        board.stop_safely(now).expect("stop confirmed");
        board.stop_safely(now).expect("idempotent");
        assert!(
            board.set_power_target(Watts(10.0), now).is_ok(),
            "queued, then refused by the runtime"
        );
        board
    })
    .await
    .expect("join");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let w = hearth_sim::world::lock(&r.world);
    let d = w
        .board(r.idx)
        .and_then(|b| b.external().copied())
        .expect("drive");
    assert!(!d.regulator_enabled && d.reset_held, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_path_runs_over_an_in_memory_stream() {
    let mut r = rig_over(
        "id = \"gamma\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n",
        Transport::Memory,
    )
    .await;
    r.board
        .set_power_target(Watts(22.0), r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(30), |_, t| t.state
            == BoardState::Running)
            .await
    );
    let job = test_job(9);
    r.board.set_job(job.clone(), r.clock.now()).expect("job");
    assert!(
        r.wait_for(Duration::from_secs(60), |rig, _| !rig.nonces.is_empty())
            .await
    );
    assert!(r
        .nonces
        .iter()
        .all(|n| header_zero_bits(&header(&job, n)) >= ZERO_BITS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bm1397_chain_hashes_midstate_jobs_over_the_pty() {
    let mut r = rig(
        "id = \"s17\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB1\"\nchip = \"BM1397\"\nchips = 2\n",
    )
    .await;
    let (_, max_w) = hashboard(
        "id = \"s17\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB1\"\nchip = \"BM1397\"\nchips = 2\n",
    )
    .profile
    .power_range();
    r.board
        .set_power_target(max_w, r.clock.now())
        .expect("power");
    assert!(
        r.wait_for(Duration::from_secs(30), |_, t| t.state
            == BoardState::Running)
            .await,
        "{:?} {:?}",
        r.telemetry(),
        r.events
    );
    let job = test_job(1397);
    r.board.set_job(job.clone(), r.clock.now()).expect("job");
    assert!(
        r.wait_for(Duration::from_secs(60), |rig, _| rig.nonces.len() >= 2)
            .await,
        "no BM1397 nonces"
    );
    for n in &r.nonces {
        assert_eq!(n.job_id, 1397);
        assert!(header_zero_bits(&header(&job, n)) >= ZERO_BITS, "{n:?}");
    }
}
