//! `BoardRuntime` against `hearth-simchip`'s simulated chips and fake
//! devices, all in memory under a virtual clock.
//!
//! The rig plays the daemon: it calls `tick` whenever the runtime's
//! deadline (at most one `TICK`) comes, writes every transmit chunk to the
//! simulated chain and feeds its answers back to `handle_rx`. The chips are
//! powered only while the fake regulator is enabled and the fake reset line
//! released; each power-up gets a fresh `SimChain` (chips out of reset
//! remember nothing). The fake chip thermometer follows a first-order
//! thermal model of the regulator's power and the fan's airflow:
//! `C dT/dt = P - (T - 25) / R`, `R = Rth x heatsink / (0.25 + 0.75 x duty)`
//! (a stalled fan moves no air).
//!
//! Every step checks the invariants the property test hammers: the core
//! voltage is off whenever protection is tripped, VOUT and the chips' clock
//! never exceed the profile's limits, and VOUT is always at least the V/f
//! table's stable voltage for the clock the chips run at.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hearth_bm13xx::ChipKind;
use hearth_board::runtime::{BoardDevices, BoardRuntime, ResetLine, RuntimeOptions, TICK};
use hearth_board::{operating_point_for, BoardProfile};
use hearth_chain::verify::header_zero_bits;
use hearth_core::{
    BoardEvent, BoardId, BoardState, Celsius, DeviceError, Fan, FreqMhz, HashboardError, Job,
    Millivolts, NonceFound, OperatingPoint, Percent, Regulator, RegulatorReading, Rpm, Thermometer,
    Timestamp, Watts,
};
use hearth_simchip::{DeadChipMode, SimChain, SimChainConfig};
use proptest::prelude::*;

const SIM_BITS: u32 = 10;
const AMBIENT_C: f64 = 25.0;

// ----- the world the fakes share -----

#[derive(Debug, Clone, Copy, PartialEq)]
enum RegCmd {
    Vout(f64),
    Enable(bool),
}

#[derive(Debug)]
struct World {
    profile: BoardProfile,
    reg_enabled: bool,
    vout_mv: f64,
    reg_log: Vec<(Timestamp, RegCmd)>,
    /// The regulator refuses to switch off.
    refuse_disable: bool,
    reset_held: bool,
    reset_log: Vec<(Timestamp, bool)>,
    fan_duty: f64,
    fan_stalled: bool,
    /// The chips' clock (from the simulated PLL; 0 when unpowered).
    chip_freq_mhz: f64,
    temp_c: f64,
    /// K/W at full airflow... scaled by airflow and `heatsink`.
    rth: f64,
    /// Thermal capacity, J/K.
    capacity: f64,
    /// > 1: a blocked heatsink.
    heatsink: f64,
    sensor_fails: bool,
    /// The regulator still has accepted commands to apply.
    reg_pending: bool,
}

impl World {
    fn power_w(&self) -> f64 {
        if !self.reg_enabled {
            return 0.0;
        }
        let op = OperatingPoint {
            freq_mhz: FreqMhz(self.chip_freq_mhz),
            voltage_mv: Millivolts(self.vout_mv),
        };
        self.profile.power_model().power(op).get()
    }

    fn advance(&mut self, dt_s: f64) {
        let air = if self.fan_stalled {
            0.0
        } else {
            self.fan_duty / 100.0
        };
        let r = self.rth * self.heatsink / (0.25 + 0.75 * air);
        let steady = AMBIENT_C + self.power_w() * r;
        let tau = self.capacity * r;
        self.temp_c += (steady - self.temp_c) * (1.0 - (-dt_s / tau).exp());
    }
}

type Shared = Arc<Mutex<World>>;

fn lock(w: &Shared) -> MutexGuard<'_, World> {
    w.lock().unwrap()
}

struct FakeRegulator(Shared);

impl Regulator for FakeRegulator {
    fn set_vout(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), DeviceError> {
        let mut w = lock(&self.0);
        w.vout_mv = vout.get();
        w.reg_log.push((now, RegCmd::Vout(vout.get())));
        Ok(())
    }

    fn set_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), DeviceError> {
        let mut w = lock(&self.0);
        if !on && w.refuse_disable {
            return Err(DeviceError::Bus("PMBus NACK".into()));
        }
        w.reg_enabled = on;
        w.reg_log.push((now, RegCmd::Enable(on)));
        Ok(())
    }

    fn read(&mut self, _now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        let w = lock(&self.0);
        Ok(RegulatorReading {
            vin_mv: Some(Millivolts(5000.0)),
            vout_mv: Some(Millivolts(if w.reg_enabled { w.vout_mv } else { 0.0 })),
            iout_a: None,
            power_w: Some(Watts(w.power_w())),
            temp_c: Some(Celsius(45.0)),
        })
    }

    fn pending(&self) -> bool {
        lock(&self.0).reg_pending
    }
}

struct FakeFan(Shared);

impl Fan for FakeFan {
    fn set_duty(&mut self, duty: Percent, _now: Timestamp) -> Result<(), DeviceError> {
        lock(&self.0).fan_duty = duty.get();
        Ok(())
    }

    fn read_rpm(&mut self, _now: Timestamp) -> Result<Rpm, DeviceError> {
        let w = lock(&self.0);
        Ok(Rpm(if w.fan_stalled {
            0.0
        } else {
            60.0 * w.fan_duty
        }))
    }
}

struct FakeThermometer(Shared);

impl Thermometer for FakeThermometer {
    fn name(&self) -> &str {
        "fake chip diode"
    }

    fn read_temp(&mut self, _now: Timestamp) -> Result<Celsius, DeviceError> {
        let w = lock(&self.0);
        if w.sensor_fails {
            Err(DeviceError::Timeout)
        } else {
            Ok(Celsius(w.temp_c))
        }
    }
}

struct FakeReset(Shared);

impl ResetLine for FakeReset {
    fn set_reset(&mut self, held: bool, now: Timestamp) -> Result<(), DeviceError> {
        let mut w = lock(&self.0);
        w.reset_held = held;
        w.reset_log.push((now, held));
        Ok(())
    }
}

// ----- the rig -----

/// Rates within 2 %: what two UARTs tolerate.
fn same_baud(a: u32, b: u32) -> bool {
    a.abs_diff(b) * 50 <= a.max(b)
}

struct Rig {
    rt: BoardRuntime,
    world: Shared,
    profile: BoardProfile,
    sim_cfg: SimChainConfig,
    /// `None` while the chips are unpowered or in reset.
    sim: Option<SimChain>,
    fresh_sims: u32,
    dead: Vec<usize>,
    dead_mode: DeadChipMode,
    corrupt: Option<u32>,
    now: Timestamp,
    events: Vec<(Timestamp, BoardEvent, f64)>,
    nonces: Vec<NonceFound>,
    /// The chips' clock whenever it changed (while powered).
    freq_log: Vec<(Timestamp, f64)>,
}

fn gamma() -> BoardProfile {
    BoardProfile::by_name("bitaxe-gamma").unwrap()
}

fn four_chips() -> BoardProfile {
    BoardProfile::for_chain(ChipKind::Bm1370, 4, "/dev/ttyAMA0", 1_000_000).unwrap()
}

impl Rig {
    /// A rig whose thermal model holds 60 °C at half airflow while the board
    /// draws `design_w`.
    fn new(profile: BoardProfile, design_w: f64, options: RuntimeOptions) -> Rig {
        let rth = (60.0 - AMBIENT_C) * (0.25 + 0.75 * 0.5) / design_w;
        let world = Arc::new(Mutex::new(World {
            profile: profile.clone(),
            reg_enabled: true,
            vout_mv: 0.0,
            reg_log: Vec::new(),
            refuse_disable: false,
            reset_held: false,
            reset_log: Vec::new(),
            fan_duty: 0.0,
            fan_stalled: false,
            chip_freq_mhz: 0.0,
            temp_c: AMBIENT_C,
            rth,
            // 30 s time constant at full airflow.
            capacity: 30.0 / rth,
            heatsink: 1.0,
            sensor_fails: false,
            reg_pending: false,
        }));
        let devices = BoardDevices {
            regulator: Box::new(FakeRegulator(world.clone())),
            fan: Box::new(FakeFan(world.clone())),
            chip_sensors: vec![Box::new(FakeThermometer(world.clone()))],
            reset: Some(Box::new(FakeReset(world.clone()))),
        };
        let now = Timestamp::from_secs(1_000);
        let rt = BoardRuntime::new(
            BoardId::new("board-0").unwrap(),
            profile.clone(),
            devices,
            RuntimeOptions {
                sim_zero_bits: Some(SIM_BITS),
                ..options
            },
            now,
        )
        .unwrap();
        let sim_cfg = SimChainConfig {
            chip: profile.chip(),
            chips: usize::try_from(profile.chips()).unwrap(),
            seed: 7,
            sim_zero_bits: SIM_BITS,
            max_hashes_per_advance: 2_000_000,
        };
        let mut rig = Rig {
            rt,
            world,
            profile,
            sim_cfg,
            sim: None,
            fresh_sims: 0,
            dead: Vec::new(),
            dead_mode: DeadChipMode::default(),
            corrupt: None,
            now,
            events: Vec::new(),
            nonces: Vec::new(),
            freq_log: Vec::new(),
        };
        rig.pump();
        rig
    }

    fn gamma() -> Rig {
        Rig::new(gamma(), 20.4, RuntimeOptions::default())
    }

    fn w(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Chips alive or not, from the fake regulator and reset line.
    fn sync_power(&mut self) {
        let alive = {
            let w = self.w();
            w.reg_enabled && !w.reset_held
        };
        match (alive, self.sim.is_some()) {
            (true, false) => {
                let mut sim = SimChain::new(self.sim_cfg.clone());
                sim.set_dead_chip_mode(self.dead_mode);
                for &i in &self.dead {
                    sim.set_chip_dead(i, true);
                }
                sim.corrupt_tx(self.corrupt);
                self.sim = Some(sim);
                self.fresh_sims += 1;
            }
            (false, true) => self.sim = None,
            _ => {}
        }
    }

    fn pump(&mut self) {
        for _ in 0..16 {
            let mut moved = false;
            self.sync_power();
            while let Some(chunk) = self.rt.poll_transmit() {
                moved = true;
                if let Some(sim) = &mut self.sim {
                    assert!(
                        same_baud(chunk.at_baud, sim.baud()),
                        "host writes at {} but the chips listen at {}",
                        chunk.at_baud,
                        sim.baud()
                    );
                    sim.receive(&chunk.bytes, self.now);
                }
            }
            if let Some(sim) = &mut self.sim {
                sim.advance(self.now);
                let mut out = Vec::new();
                sim.transmit(&mut out);
                if !out.is_empty() {
                    self.rt.handle_rx(&out, self.now);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        self.sync_power();
        let freq = self.sim.as_ref().map_or(0.0, |s| s.chip_freq_mhz(0));
        self.w().chip_freq_mhz = freq;
        if self.sim.is_some() && self.freq_log.last().is_none_or(|(_, f)| *f != freq) {
            self.freq_log.push((self.now, freq));
        }
        let temp = self.w().temp_c;
        for e in self.rt.drain_events(usize::MAX) {
            self.events.push((self.now, e, temp));
        }
        self.nonces.extend(self.rt.drain_nonces(usize::MAX));
        self.rt.drain_messages(usize::MAX);
    }

    fn step(&mut self) {
        let next = self
            .rt
            .next_deadline()
            .unwrap_or(self.now.plus(TICK))
            .min(self.now.plus(TICK))
            .max(self.now.plus(Duration::from_millis(1)));
        let dt = next.since(self.now).as_secs_f64();
        self.w().advance(dt);
        self.now = next;
        self.rt.tick(self.now);
        self.pump();
        self.check_invariants();
    }

    fn check_invariants(&self) {
        let w = self.w();
        let limits = self.profile.limits();
        if self.rt.protection().is_tripped() && !w.refuse_disable {
            assert!(
                !w.reg_enabled,
                "core voltage on while protection is tripped"
            );
        }
        for (_, cmd) in w.reg_log.iter().rev().take(4) {
            if let RegCmd::Vout(v) = cmd {
                assert!(
                    *v <= limits.max_voltage_mv.get() + 1e-9
                        && *v >= limits.min_voltage_mv.get() - 1e-9,
                    "VOUT {v} mV outside the limits"
                );
            }
        }
        if let Some(sim) = &self.sim {
            for i in 0..sim.chip_count() {
                let f = sim.chip_freq_mhz(i);
                assert!(
                    f <= limits.max_freq_mhz.get() + 1e-9,
                    "chip {i} clocked at {f} MHz, above the limit"
                );
                let stable = self.profile.vf_table().min_voltage(FreqMhz(f)).get();
                assert!(
                    w.vout_mv >= stable - 1e-9,
                    "chip {i} at {f} MHz on {} mV, below the stable {stable} mV",
                    w.vout_mv
                );
            }
        }
    }

    fn run(&mut self, span: Duration) {
        let end = self.now.plus(span);
        while self.now < end {
            self.step();
        }
    }

    /// Steps until `done` holds; panics after `limit`.
    fn run_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Rig) -> bool) {
        let end = self.now.plus(limit);
        while !done(self) {
            assert!(
                self.now < end,
                "timed out waiting for {what}; state {:?}, events {:?}, telemetry {:?}",
                self.rt.state(),
                self.events,
                self.rt.telemetry()
            );
            self.step();
        }
    }

    fn power(&mut self, watts: f64) {
        self.rt.set_power_target(Watts(watts), self.now).unwrap();
    }

    fn running_at(&self, op: OperatingPoint) -> bool {
        self.rt.state() == BoardState::Running
            && self.rt.telemetry().operating_point.is_some_and(|p| {
                (p.freq_mhz.get() - op.freq_mhz.get()).abs() < 0.01
                    && (p.voltage_mv.get() - op.voltage_mv.get()).abs() < 0.01
            })
    }

    fn event_times(&self, pred: impl Fn(&BoardEvent) -> bool) -> Vec<Timestamp> {
        self.events
            .iter()
            .filter(|(_, e, _)| pred(e))
            .map(|(t, _, _)| *t)
            .collect()
    }
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

/// The nonce's header double-SHA-256es to at least `SIM_BITS` zero bits.
fn verifies(job: &Job, found: &NonceFound) -> bool {
    let mut header = [0u8; 80];
    header[0..4].copy_from_slice(&found.version.to_le_bytes());
    header[4..36].copy_from_slice(&job.prev_block_hash);
    header[36..68].copy_from_slice(&job.merkle_root);
    header[68..72].copy_from_slice(&found.ntime.to_le_bytes());
    header[72..76].copy_from_slice(&job.nbits.to_le_bytes());
    header[76..80].copy_from_slice(&found.nonce.to_le_bytes());
    found.job_id == job.id
        && found.ntime == job.ntime
        && (found.version ^ job.version) & !job.version_mask == 0
        && header_zero_bits(&header) >= SIM_BITS
}

fn vouts_after(rig: &Rig, t: Timestamp) -> Vec<(Timestamp, f64)> {
    rig.w()
        .reg_log
        .iter()
        .filter(|(at, _)| *at >= t)
        .filter_map(|(at, c)| match c {
            RegCmd::Vout(v) => Some((*at, *v)),
            RegCmd::Enable(_) => None,
        })
        .collect()
}

fn is_tripped(e: &BoardEvent) -> bool {
    matches!(e, BoardEvent::Tripped { .. })
}

// ----- 1. bring-up -----

#[test]
fn bring_up_from_idle_ramps_to_the_point_and_returns_only_real_nonces() {
    let mut rig = Rig::gamma();
    rig.run(Duration::from_secs(2));
    assert_eq!(rig.rt.state(), BoardState::Idle);
    {
        let w = rig.w();
        assert!(!w.reg_enabled && w.reset_held, "idle board is powered");
    }
    assert_eq!(rig.fresh_sims, 0);
    assert_eq!(rig.rt.telemetry().operating_point, None);

    let target = 18.0;
    let op = operating_point_for(&rig.profile, Watts(target)).unwrap();
    assert!((op.freq_mhz.get() / 6.25).fract().abs() < 1e-9, "{op:?}");
    let t0 = rig.now;
    rig.power(target);
    rig.run_until(Duration::from_secs(20), "running at the point", |r| {
        r.running_at(op)
    });

    // Voltage set, then the regulator enabled, then the reset released.
    let (enable_at, vout_before) = {
        let w = rig.w();
        let i = w
            .reg_log
            .iter()
            .position(|(at, c)| *at >= t0 && *c == RegCmd::Enable(true))
            .unwrap();
        let vout = w.reg_log[..i]
            .iter()
            .rev()
            .find_map(|(_, c)| match c {
                RegCmd::Vout(v) => Some(*v),
                RegCmd::Enable(_) => None,
            })
            .unwrap();
        (w.reg_log[i].0, vout)
    };
    assert_eq!(vout_before, op.voltage_mv.get());
    let released_at = rig
        .w()
        .reset_log
        .iter()
        .find(|(at, held)| *at >= t0 && !*held)
        .map(|(at, _)| *at)
        .unwrap();
    assert!(released_at >= enable_at.plus(Duration::from_millis(100)));
    // Enumerated once, on fresh chips.
    assert_eq!(rig.fresh_sims, 1);
    assert_eq!(rig.rt.chain_stats().chips.len(), 1);
    // Ramped in 6.25 MHz steps from the bring-up clock to the point.
    let freqs: Vec<f64> = rig.freq_log.iter().map(|(_, f)| *f).collect();
    assert!(freqs.len() > 40, "{freqs:?}");
    for pair in freqs.windows(2) {
        assert!(pair[1] > pair[0], "not a ramp up: {freqs:?}");
        assert!(pair[1] - pair[0] <= 6.25 + 1e-6, "step too big: {freqs:?}");
    }
    assert!((freqs.last().unwrap() - op.freq_mhz.get()).abs() < 1e-6);
    let t = rig.rt.telemetry();
    assert_eq!(t.power_target_w, Watts(target));
    assert!(t.power_w.get() > 5.0 && t.power_w.get() <= target, "{t:?}");

    // No job given: heat-only work keeps the chips busy, nothing returned.
    rig.run(Duration::from_secs(20));
    let heat = rig.rt.counters().heat_only_nonces;
    assert!(heat >= 5, "{heat} heat-only nonces");
    assert!(rig.nonces.is_empty());
    assert!(rig.rt.counters().heat_jobs_sent >= 1);
    assert!(rig.rt.telemetry().hashrate_ghs.get() > 0.0);

    // A given job: real, verified nonces come back.
    let work = job(7);
    rig.rt.set_job(work.clone(), rig.now).unwrap();
    rig.run(Duration::from_secs(20));
    assert!(rig.nonces.len() >= 5, "{} nonces", rig.nonces.len());
    for found in &rig.nonces {
        assert!(verifies(&work, found), "{found:?}");
        assert_eq!(found.board.as_str(), "board-0");
    }
    assert_eq!(rig.rt.counters().nonces, rig.nonces.len() as u64);
    // Heat-only work stopped (at most a report in flight at the switch).
    assert!(rig.rt.counters().heat_only_nonces <= heat + 1);
    assert_eq!(rig.rt.chain_stats().errors.total(), 0);
    assert!(rig.events.is_empty(), "{:?}", rig.events);
}

// ----- 2. power changes -----

#[test]
fn power_changes_order_voltage_and_frequency_and_zero_idles() {
    let mut rig = Rig::gamma();
    let (lo_w, hi_w) = (14.0, 22.0);
    let lo = operating_point_for(&rig.profile, Watts(lo_w)).unwrap();
    let hi = operating_point_for(&rig.profile, Watts(hi_w)).unwrap();
    assert!(lo.freq_mhz < hi.freq_mhz && lo.voltage_mv < hi.voltage_mv);
    rig.power(lo_w);
    rig.run_until(Duration::from_secs(20), "low point", |r| r.running_at(lo));

    // Up: voltage first, then the clock.
    let t_up = rig.now;
    rig.power(hi_w);
    rig.run_until(Duration::from_secs(20), "high point", |r| r.running_at(hi));
    let v_up = vouts_after(&rig, t_up);
    assert_eq!(v_up.len(), 1, "{v_up:?}");
    assert_eq!(v_up[0].1, hi.voltage_mv.get());
    let f_up = rig
        .freq_log
        .iter()
        .find(|(at, f)| *at >= t_up && *f > lo.freq_mhz.get() + 1e-6)
        .unwrap()
        .0;
    assert!(
        v_up[0].0 < f_up,
        "clock rose at {f_up} before VOUT at {}",
        v_up[0].0
    );

    // Down: the clock first, then the voltage.
    let t_down = rig.now;
    rig.power(lo_w);
    rig.run_until(Duration::from_secs(20), "low point again", |r| {
        r.running_at(lo)
    });
    let v_down = vouts_after(&rig, t_down);
    assert_eq!(v_down.len(), 1, "{v_down:?}");
    assert_eq!(v_down[0].1, lo.voltage_mv.get());
    let f_down = rig
        .freq_log
        .iter()
        .find(|(at, f)| *at >= t_down && *f <= lo.freq_mhz.get() + 1e-6)
        .unwrap()
        .0;
    assert!(
        v_down[0].0 > f_down,
        "VOUT fell at {} before the clock at {f_down}",
        v_down[0].0
    );

    // 0 W: ramp down to the floor, then voltage off and chips in reset.
    let t_idle = rig.now;
    rig.power(0.0);
    rig.run_until(Duration::from_secs(20), "idle", |r| {
        r.rt.state() == BoardState::Idle
    });
    {
        let w = rig.w();
        assert!(!w.reg_enabled && w.reset_held);
    }
    assert!(rig.sim.is_none());
    let down: Vec<f64> = rig
        .freq_log
        .iter()
        .filter(|(at, _)| *at >= t_idle)
        .map(|(_, f)| *f)
        .collect();
    assert!(down.len() > 10, "{down:?}");
    for pair in down.windows(2) {
        assert!(
            pair[1] < pair[0] && pair[0] - pair[1] <= 6.25 + 1e-6,
            "{down:?}"
        );
    }
    assert!((down.last().unwrap() - 56.25).abs() < 1e-6, "{down:?}");
    let t = rig.rt.telemetry();
    assert_eq!(t.operating_point, None);
    assert_eq!(t.power_w, Watts::ZERO);
    assert_eq!(t.hashrate_ghs.get(), 0.0);
    // Below the lowest point is idle too.
    rig.power(1.0);
    rig.run(Duration::from_secs(2));
    assert_eq!(rig.rt.state(), BoardState::Idle);
    assert!(rig.events.is_empty(), "{:?}", rig.events);
}

// ----- 3. fan stall -----

#[test]
fn a_stalled_fan_trips_and_the_board_recovers_one_point_lower() {
    let mut rig = Rig::gamma();
    rig.w().temp_c = 55.0;
    let op = rig.profile.default_point();
    let watts = rig.profile.power_model().power(op).get() + 0.01;
    assert_eq!(operating_point_for(&rig.profile, Watts(watts)), Some(op));
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    rig.run(Duration::from_secs(90));
    assert_eq!(rig.rt.state(), BoardState::Running);
    let duty = rig.w().fan_duty;
    assert!((30.0..100.0).contains(&duty), "fan loop at {duty} %");

    rig.w().fan_stalled = true;
    let stalled_at = rig.now;
    rig.run_until(Duration::from_secs(15), "a trip", |r| {
        !r.event_times(is_tripped).is_empty()
    });
    let (trip_at, reason) = match &rig.events[0] {
        (at, BoardEvent::Tripped { reason }, _) => (*at, reason.clone()),
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("fan stalled"), "{reason}");
    assert!(trip_at >= stalled_at.plus(Duration::from_secs(10)));
    {
        let w = rig.w();
        assert_eq!(w.fan_duty, 100.0);
        assert!(!w.reg_enabled && w.reset_held);
    }
    assert_eq!(rig.rt.state(), BoardState::Tripped);
    assert_eq!(rig.rt.telemetry().operating_point, None);

    // While the fan stays stalled the board stays off, however long.
    rig.run(Duration::from_secs(40));
    assert!(rig.event_times(|e| *e == BoardEvent::Recovered).is_empty());
    assert!(!rig.w().reg_enabled);
    // The fan comes back: recovery after the wait and below 45 °C.
    rig.w().fan_stalled = false;
    rig.run_until(Duration::from_secs(120), "recovery", |r| {
        !r.event_times(|e| *e == BoardEvent::Recovered).is_empty()
    });
    let (recovered_at, _, temp) = rig
        .events
        .iter()
        .find(|(_, e, _)| *e == BoardEvent::Recovered)
        .cloned()
        .unwrap();
    assert!(recovered_at >= trip_at.plus(Duration::from_secs(30)));
    assert!(temp < 45.0, "recovered at {temp} °C");

    // Back up, re-enumerated, one step (100 MHz) lower at its stable voltage.
    let capped = rig
        .profile
        .vf_table()
        .point_at(FreqMhz(op.freq_mhz.get() - 100.0));
    rig.run_until(Duration::from_secs(30), "running capped", |r| {
        r.running_at(capped)
    });
    assert_eq!(rig.fresh_sims, 2);
    assert_eq!(rig.rt.protection().trips(), 1);
}

// ----- 4. overheat -----

#[test]
fn an_overheat_trips_and_recovers_after_the_hysteresis() {
    let mut rig = Rig::gamma();
    rig.w().temp_c = 55.0;
    let op = rig.profile.default_point();
    let watts = rig.profile.power_model().power(op).get() + 0.01;
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    rig.run(Duration::from_secs(30));

    // A blocked heatsink: even a full fan cannot hold it.
    rig.w().heatsink = 3.0;
    rig.run_until(Duration::from_secs(300), "a trip", |r| {
        !r.event_times(is_tripped).is_empty()
    });
    let (trip_at, reason, temp) = match &rig.events[0] {
        (at, BoardEvent::Tripped { reason }, t) => (*at, reason.clone(), *t),
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("chip temperature"), "{reason}");
    assert!(temp > 75.0 && temp < 80.0, "{temp}");
    assert_eq!(rig.w().fan_duty, 100.0);
    assert!(!rig.w().reg_enabled);

    // Still blocked: cooling is slow; the minimum wait passes first and the
    // hysteresis (below 45 °C) keeps it off.
    rig.run_until(Duration::from_secs(31), "the minimum wait", |r| {
        r.now >= trip_at.plus(Duration::from_secs(30))
    });
    assert!(rig.w().temp_c > 45.0);
    assert!(rig.event_times(|e| *e == BoardEvent::Recovered).is_empty());
    assert_eq!(rig.rt.state(), BoardState::Tripped);
    rig.run_until(Duration::from_secs(300), "recovery", |r| {
        !r.event_times(|e| *e == BoardEvent::Recovered).is_empty()
    });
    let (_, _, temp) = rig
        .events
        .iter()
        .find(|(_, e, _)| *e == BoardEvent::Recovered)
        .cloned()
        .unwrap();
    assert!(temp < 45.0 && temp > 43.0, "{temp}");
    rig.w().heatsink = 1.0;
    let capped = rig
        .profile
        .vf_table()
        .point_at(FreqMhz(op.freq_mhz.get() - 100.0));
    rig.run_until(Duration::from_secs(30), "running capped", |r| {
        r.running_at(capped)
    });
    rig.run(Duration::from_secs(30));
    assert_eq!(rig.rt.protection().trips(), 1);
}

// ----- 5. chain trouble -----

/// A regulator whose commands are still being applied (the PIC behind
/// its worker thread) holds the bring-up: the chips stay in reset until it
/// has caught up, then the board comes up as usual.
#[test]
fn the_reset_is_released_only_after_the_regulator_has_applied_its_commands() {
    let mut rig = Rig::gamma();
    rig.run(Duration::from_secs(1));
    let op = rig.profile.default_point();
    let watts = rig.profile.power_model().power(op).get() + 0.01;
    rig.w().reg_pending = true;
    let t0 = rig.now;
    rig.power(watts);
    rig.run(Duration::from_secs(2));
    {
        let w = rig.w();
        assert!(w
            .reg_log
            .iter()
            .any(|(at, c)| *at >= t0 && *c == RegCmd::Enable(true)));
        assert!(
            w.reset_held,
            "reset released while the regulator was still busy"
        );
        assert!(!w.reset_log.iter().any(|(at, held)| *at >= t0 && !held));
    }
    assert_eq!(rig.fresh_sims, 0);
    let caught_up = rig.now;
    rig.w().reg_pending = false;
    rig.run_until(Duration::from_secs(20), "running at the point", |r| {
        r.running_at(op)
    });
    let released = rig
        .w()
        .reset_log
        .iter()
        .find(|(_, held)| !held)
        .map(|(at, _)| *at);
    let released = released.unwrap();
    assert!(released >= caught_up, "{released:?} before {caught_up:?}");
    // Looked at again within a few polls, not a whole tick later.
    assert!(
        released.since(caught_up) <= Duration::from_millis(50),
        "{:?}",
        released.since(caught_up)
    );
}

/// A multi-chip board watched only through a heatsink probe (as a
/// `[[hashboard]]` table names it): accepted, and protection trips on the
/// heatsink reading at the die limit less the margin.
#[test]
fn a_chain_watched_through_a_heatsink_probe_trips_at_the_lowered_limit() {
    let cfg: hearth_board::config::HashboardConfig = toml::from_str(
        "id = \"c\"\nzone = \"z\"\nprofile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\n\
         chip = \"BM1370\"\nchips = 1\nheatsink_probes = [\"28-0000075a1b2c\"]\n",
    )
    .unwrap();
    let board = hearth_board::config::validate_hashboard(0, &cfg).unwrap();
    let trip_c = board.profile.thermal().chip_trip_c;
    assert_eq!(trip_c, 75.0 - hearth_board::config::HEATSINK_MARGIN_K);
    let mut rig = Rig::new(board.profile.clone(), 20.4, RuntimeOptions::default());
    rig.w().temp_c = 45.0;
    let op = rig.profile.default_point();
    let watts = rig.profile.power_model().power(op).get() + 0.01;
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    rig.w().heatsink = 3.0;
    rig.run_until(Duration::from_secs(300), "a trip", |r| {
        !r.event_times(is_tripped).is_empty()
    });
    let (_, reason, temp) = rig
        .events
        .iter()
        .find(|(_, e, _)| is_tripped(e))
        .map(|(at, e, t)| (*at, format!("{e:?}"), *t))
        .unwrap();
    assert!(reason.contains("chip temperature"), "{reason}");
    assert!(
        temp > trip_c && temp < trip_c + 5.0,
        "tripped at {temp} °C, limit {trip_c}"
    );
    assert_eq!(rig.w().fan_duty, 100.0);
    assert!(!rig.w().reg_enabled);
    assert!(rig.w().reset_held);
}

fn four_chip_rig() -> (Rig, OperatingPoint, f64) {
    let profile = four_chips();
    let watts = 60.0;
    let op = operating_point_for(&profile, Watts(watts)).unwrap();
    let design = profile.power_model().power(op).get();
    let rig = Rig::new(
        profile,
        design,
        RuntimeOptions {
            retry_backoff: Duration::from_secs(2),
            ..RuntimeOptions::default()
        },
    );
    rig.w().temp_c = 50.0;
    (rig, op, watts)
}

#[test]
fn a_silent_chip_is_counted_and_a_dead_chain_faults_and_retries() {
    let (mut rig, op, watts) = four_chip_rig();
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    assert_eq!(rig.rt.chain_stats().chips.len(), 4);

    // One chip stops answering (its relay still works): counted, the board
    // keeps running on the other three.
    rig.dead_mode = DeadChipMode::SilencesOnlyItself;
    rig.sim
        .as_mut()
        .unwrap()
        .set_dead_chip_mode(DeadChipMode::SilencesOnlyItself);
    rig.sim.as_mut().unwrap().set_chip_dead(2, true);
    rig.run(Duration::from_secs(8));
    assert_eq!(rig.rt.counters().chips_silent, 1);
    assert!(rig.rt.chain_stats().chips[2].silent);
    assert_eq!(rig.rt.state(), BoardState::Running);
    assert!(rig.events.is_empty(), "{:?}", rig.events);
    rig.sim.as_mut().unwrap().set_chip_dead(2, false);
    rig.run(Duration::from_secs(3));
    assert_eq!(rig.rt.counters().chips_back, 1);

    // The first chip's link breaks: every chip goes silent, the board
    // faults, powers down and retries with a growing backoff.
    rig.dead = vec![0];
    rig.dead_mode = DeadChipMode::SilencesDownstream;
    let sim = rig.sim.as_mut().unwrap();
    sim.set_dead_chip_mode(DeadChipMode::SilencesDownstream);
    sim.set_chip_dead(0, true);
    let broke_at = rig.now;
    rig.run_until(Duration::from_secs(10), "a fault", |r| {
        r.rt.state() == BoardState::Fault
    });
    let (fault_at, reason) = match &rig.events[0] {
        (at, BoardEvent::Fault { reason }, _) => (*at, reason.clone()),
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("all 4 chips stopped answering"), "{reason}");
    assert!(fault_at >= broke_at.plus(Duration::from_secs(4)));
    assert!(!rig.w().reg_enabled && rig.w().reset_held);
    assert_eq!(rig.rt.telemetry().operating_point, None);

    // Retries find no chip behind the broken link.
    rig.run_until(Duration::from_secs(30), "two failed retries", |r| {
        r.events.len() >= 3
    });
    let faults: Vec<(Timestamp, String)> = rig
        .events
        .iter()
        .map(|(at, e, _)| match e {
            BoardEvent::Fault { reason } => (*at, reason.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(faults[1].1.contains("no chip answered"), "{faults:?}");
    let gap1 = faults[1].0.since(faults[0].0);
    let gap2 = faults[2].0.since(faults[1].0);
    assert!(gap2 > gap1 + Duration::from_secs(1), "{gap1:?} {gap2:?}");
    assert_eq!(rig.rt.state(), BoardState::Fault);

    // The link is repaired: the next retry brings the board back.
    rig.dead.clear();
    rig.run_until(Duration::from_secs(30), "running again", |r| {
        r.running_at(op)
    });
    assert!(rig.fresh_sims >= 4);
    assert_eq!(rig.rt.counters().faults, 3);
}

#[test]
fn crc_errors_on_the_line_are_counted_and_never_become_shares() {
    let (mut rig, op, watts) = four_chip_rig();
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    let work = job(3);
    rig.rt.set_job(work.clone(), rig.now).unwrap();
    rig.run(Duration::from_secs(2));
    rig.sim.as_mut().unwrap().corrupt_tx(Some(3));
    rig.run(Duration::from_secs(15));
    rig.sim.as_mut().unwrap().corrupt_tx(None);
    let stats = rig.rt.chain_stats();
    assert!(stats.errors.crc_errors >= 10, "{:?}", stats.errors);
    assert!(rig.rt.counters().chain_warnings >= 1);
    assert!(rig.nonces.len() >= 5, "{}", rig.nonces.len());
    assert!(rig.nonces.iter().all(|n| verifies(&work, n)));
    assert_eq!(stats.errors.bad_nonces, 0);
    assert_eq!(rig.rt.state(), BoardState::Running);
    assert!(rig.events.is_empty(), "{:?}", rig.events);
}

#[test]
fn work_is_renewed_and_a_swept_job_gives_way_to_heat_only_work() {
    let (mut rig, op, watts) = four_chip_rig();
    rig.power(watts);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    // Four BM1370s at 625 MHz sweep a full-mask job in under a minute.
    let life = rig.rt.work_lifetime(0x1FFF_E000);
    assert!(
        life > Duration::from_secs(40) && life < Duration::from_secs(70),
        "{life:?}"
    );
    // Heat-only work is renewed before the chips could run dry.
    rig.run(Duration::from_secs(90));
    assert!(
        rig.rt.counters().heat_jobs_sent >= 3,
        "{:?}",
        rig.rt.counters()
    );

    // A job rolling 4 version bits is swept in milliseconds: the board
    // falls back to heat-only work rather than idle.
    let mut narrow = job(9);
    narrow.version_mask = 0x0001_E000;
    assert!(rig.rt.work_lifetime(narrow.version_mask) < TICK);
    let heat_before = rig.rt.counters().heat_jobs_sent;
    rig.rt.set_job(narrow, rig.now).unwrap();
    rig.run(Duration::from_secs(1));
    assert_eq!(rig.rt.counters().jobs_swept, 1);
    assert_eq!(rig.rt.counters().heat_jobs_sent, heat_before + 1);

    // A new job is hashed at once.
    let work = job(10);
    rig.rt.set_job(work.clone(), rig.now).unwrap();
    rig.run(Duration::from_secs(10));
    let on_work: Vec<_> = rig.nonces.iter().filter(|n| n.job_id == 10).collect();
    assert!(on_work.len() >= 3, "{}", on_work.len());
    assert!(on_work.iter().all(|n| verifies(&work, n)));
    assert_eq!(rig.rt.counters().jobs_swept, 1);
    assert_eq!(rig.rt.state(), BoardState::Running);
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let profile = gamma();
    let world = Arc::new(Mutex::new(World {
        profile: profile.clone(),
        reg_enabled: false,
        vout_mv: 0.0,
        reg_log: Vec::new(),
        refuse_disable: false,
        reset_held: false,
        reset_log: Vec::new(),
        fan_duty: 0.0,
        fan_stalled: false,
        chip_freq_mhz: 0.0,
        temp_c: AMBIENT_C,
        rth: 1.0,
        capacity: 30.0,
        heatsink: 1.0,
        sensor_fails: false,
        reg_pending: false,
    }));
    let devices = || BoardDevices {
        regulator: Box::new(FakeRegulator(world.clone())),
        fan: Box::new(FakeFan(world.clone())),
        chip_sensors: vec![Box::new(FakeThermometer(world.clone()))],
        reset: None,
    };
    let id = BoardId::new("b").unwrap();
    let now = Timestamp::from_secs(1);
    let bad = [
        RuntimeOptions {
            ticket_difficulty: Some(1000),
            ..RuntimeOptions::default()
        },
        RuntimeOptions {
            retry_backoff: Duration::ZERO,
            ..RuntimeOptions::default()
        },
    ];
    for options in bad {
        let err =
            BoardRuntime::new(id.clone(), profile.clone(), devices(), options, now).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    // A good one puts the devices in the safe state at once.
    let rt = BoardRuntime::new(id, profile, devices(), RuntimeOptions::default(), now).unwrap();
    assert_eq!(rt.state(), BoardState::Idle);
    assert_eq!(rt.info().chips, 1);
    assert_eq!(rt.info().model, "bitaxe-gamma");
    let w = lock(&world);
    assert_eq!(w.reg_log, vec![(now, RegCmd::Enable(false))]);
    assert_eq!(w.fan_duty, 100.0);
}

// ----- 6. stop -----

#[test]
fn stop_safely_is_idempotent_and_refuses_power_afterwards() {
    let mut rig = Rig::gamma();
    let op = operating_point_for(&rig.profile, Watts(18.0)).unwrap();
    rig.power(18.0);
    rig.rt.set_job(job(1), rig.now).unwrap();
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));

    assert_eq!(rig.rt.stop_safely(rig.now), Ok(()));
    rig.pump();
    {
        let w = rig.w();
        assert!(!w.reg_enabled && w.reset_held);
        assert!(w.fan_duty >= 50.0);
    }
    assert_eq!(rig.rt.state(), BoardState::Stopped);
    assert_eq!(rig.rt.stop_safely(rig.now), Ok(()));
    assert_eq!(
        rig.rt.set_power_target(Watts(18.0), rig.now),
        Err(HashboardError::Stopped)
    );
    assert_eq!(
        rig.rt.set_job(job(2), rig.now),
        Err(HashboardError::Stopped)
    );
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.rt.stop_safely(rig.now), Ok(()));
    rig.pump();
    let stops: Vec<_> = rig.event_times(|e| *e == BoardEvent::Stopped);
    assert_eq!(stops.len(), 1, "{:?}", rig.events);
    let t = rig.rt.telemetry();
    assert_eq!(t.state, BoardState::Stopped);
    assert_eq!(t.operating_point, None);
    assert_eq!(t.power_target_w, Watts::ZERO);
    assert!(t.fan_duty.get() >= 50.0);
    assert!(!rig.w().reg_enabled);
    assert_eq!(rig.fresh_sims, 1);
}

#[test]
fn a_regulator_that_will_not_switch_off_is_a_fault_and_is_retried() {
    let mut rig = Rig::gamma();
    let op = operating_point_for(&rig.profile, Watts(18.0)).unwrap();
    rig.power(18.0);
    rig.run_until(Duration::from_secs(20), "running", |r| r.running_at(op));
    rig.w().refuse_disable = true;
    assert!(matches!(
        rig.rt.stop_safely(rig.now),
        Err(HashboardError::Hardware(_))
    ));
    rig.pump();
    rig.run(Duration::from_secs(2));
    let faults: Vec<_> = rig
        .events
        .iter()
        .filter(|(_, e, _)| matches!(e, BoardEvent::Fault { reason } if reason.contains("did not switch off")))
        .collect();
    assert_eq!(faults.len(), 1, "{:?}", rig.events);
    assert!(rig.w().reg_enabled && rig.w().reset_held);
    assert!(rig.rt.counters().regulator_errors >= 10);
    rig.w().refuse_disable = false;
    rig.step();
    assert!(!rig.w().reg_enabled);
    assert_eq!(rig.rt.stop_safely(rig.now), Ok(()));
    assert_eq!(rig.rt.state(), BoardState::Stopped);
}

// ----- 7. property: never unsafe -----

#[derive(Debug, Clone)]
enum Action {
    Power(f64),
    Hot(bool),
    SensorFails(bool),
    Stall(bool),
    Wait(u64),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0.0f64..30.0).prop_map(Action::Power),
        1 => any::<bool>().prop_map(Action::Hot),
        1 => any::<bool>().prop_map(Action::SensorFails),
        1 => any::<bool>().prop_map(Action::Stall),
        2 => (1u64..30).prop_map(Action::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the power targets and temperature faults, the regulator is
    /// never on while protection says off, and no point above the profile's
    /// limits is ever commanded (checked at every step by the rig).
    #[test]
    fn never_powered_while_protection_says_off_nor_above_the_limits(
        actions in proptest::collection::vec(action(), 1..10),
    ) {
        let mut rig = Rig::gamma();
        rig.w().temp_c = 50.0;
        for a in actions {
            match a {
                Action::Power(w) => rig.power(w),
                Action::Hot(on) => rig.w().heatsink = if on { 4.0 } else { 1.0 },
                Action::SensorFails(on) => rig.w().sensor_fails = on,
                Action::Stall(on) => rig.w().fan_stalled = on,
                Action::Wait(s) => rig.run(Duration::from_secs(s)),
            }
            rig.run(Duration::from_secs(2));
        }
        let limits = rig.profile.limits();
        for (_, cmd) in &rig.w().reg_log {
            if let RegCmd::Vout(v) = cmd {
                prop_assert!(*v <= limits.max_voltage_mv.get() + 1e-9);
            }
        }
        for (_, f) in &rig.freq_log {
            prop_assert!(*f <= limits.max_freq_mhz.get() + 1e-9);
        }
        prop_assert!(rig.rt.chain_stats().target_frequency.khz() as f64 <= limits.max_freq_mhz.get() * 1000.0);
    }
}
