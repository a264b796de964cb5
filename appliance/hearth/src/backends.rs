//! The one place where real or simulated hardware is chosen. Everything after
//! this sees only the seam traits.

use crate::boards::{command_lease, run_sim_chain, spawn_board_with_lease, SimChainFaults};
use crate::config::{SimBoards, Validated, ValidatedZone, ZoneSensor};
use anyhow::{bail, Context, Result};
use hearth_board::config::ConfiguredBoard;
use hearth_board::runtime::{BoardDevices, BoardRuntime, ResetLine, RuntimeOptions};
use hearth_control::{ZoneConfig, ZoneHardware, ZoneSettings};
use hearth_core::{BoardId, Celsius, Clock, DeviceError, Hashboard, Thermometer, Timestamp, Watts};
use hearth_sim::board::SimBoardParams;
use hearth_sim::clock::ScaledClock;
use hearth_sim::devices::{SimBoardPeripherals, SimHashboard, SimThermometer};
use hearth_sim::{SharedWorld, World};
use hearth_simchip::SimChainConfig;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Leading zero bits a simulated chip's nonce must have: cheap enough to
/// find on a CPU (about 4,000 hashes), and still a real proof of work that
/// the chain driver verifies.
pub const SIM_ZERO_BITS: u32 = 12;

/// Devices for every zone, the clock to run them on, and (in simulation) the
/// world behind them.
pub struct Hardware {
    pub zones: Vec<(ZoneConfig, ZoneHardware)>,
    /// The control loop's time: on real hardware the wall clock's date,
    /// following its steps (`wall_clock`); in simulation the world's.
    pub clock: Arc<dyn Clock>,
    /// Time that never steps, for timeouts and rates (the work pipeline):
    /// monotonic on real hardware, the world's in simulation.
    pub steady_clock: Arc<dyn Clock>,
    pub world: Option<SharedWorld>,
    /// Fault injection for simulated chains, by board id.
    pub sim_faults: BTreeMap<BoardId, Arc<Mutex<SimChainFaults>>>,
    /// Simulated board index in the world, by board id.
    pub sim_boards: BTreeMap<BoardId, usize>,
    /// Job feeds of the boards driven through their chain (for the work
    /// service); modelled boards have none.
    pub job_feeds: Vec<crate::boards::JobFeed>,
    /// The SG-Ready output relays, if any (GPIO lines, or simulated).
    pub sg_relays: Option<Box<dyn crate::sg_relays::RelayPair>>,
    /// Pool circulation-pump inputs from `circulation_gpio`, by zone id.
    pub circulation: crate::circulation_input::CirculationInputs,
}

impl std::fmt::Debug for Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hardware")
            .field("zones", &self.zones)
            .field("simulated", &self.world.is_some())
            .finish()
    }
}

/// The wall clock, for real hardware.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// Must be called inside a tokio runtime: board tasks are spawned here.
pub fn build(config: &Validated, simulate: bool, speed_override: Option<f64>) -> Result<Hardware> {
    if simulate {
        return simulated(config, speed_override);
    }
    real(config)
}

/// Real hardware: DS18B20 probes for zones, and per board its serial chain,
/// I2C regulator/fan/diode and GPIO lines as its profile describes.
fn real(config: &Validated) -> Result<Hardware> {
    // Monotonic, aligned to the wall clock at start: a system clock step
    // (NTP) must not look like a stalled chain or a frozen fan.
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(SystemClock.now(), 1.0));
    // The control loop follows the wall clock's steps: its schedules need
    // the date NTP sets after boot (the Pi has no real-time clock).
    let control_clock: Arc<dyn Clock> = Arc::new(crate::wall_clock::WallClock::system());
    let mut zones = Vec::new();
    let mut job_feeds = Vec::new();
    for (i, zone) in config.zones.iter().enumerate() {
        let thermometer: Box<dyn Thermometer> = match &zone.sensor {
            Some(ZoneSensor::Ds18b20(which)) => Box::new(
                hearth_linux::open_ds18b20(
                    std::path::Path::new(hearth_linux::W1_DEVICES),
                    which,
                    &format!("{} air", zone.id),
                    hearth_linux::DEFAULT_W1_DEADLINE,
                )
                .with_context(|| format!("zone {}: opening its temperature sensor", zone.id))?,
            ),
            None => bail!(
                "config key `zone[{i}].sensor`: zone {} needs a temperature sensor on real hardware \
                 (e.g. sensor = \"ds18b20:first\"), or start with --sim",
                zone.id
            ),
        };
        let mut boards: Vec<Box<dyn Hashboard>> = Vec::new();
        for board in &zone.boards {
            let handle = real_board(board, &clock, lease_of(config))?;
            job_feeds.push(handle.job_feed());
            boards.push(Box::new(handle));
        }
        zones.push((
            zone_config(zone),
            ZoneHardware {
                thermometer,
                boards,
            },
        ));
    }
    Ok(Hardware {
        zones,
        clock: control_clock,
        steady_clock: clock,
        world: None,
        sim_faults: BTreeMap::new(),
        sim_boards: BTreeMap::new(),
        job_feeds,
        sg_relays: crate::sg_relays::GpioRelays::open(&config.raw.sg_ready_output)?
            .map(|r| Box::new(r) as Box<dyn crate::sg_relays::RelayPair>),
        circulation: crate::circulation_input::open_all(config, false)?,
    })
}

/// A regulator whose enable also switches the board's power-enable line, so
/// "core voltage off" really removes power where the board has such a line.
struct GatedRegulator {
    inner: Box<dyn hearth_core::Regulator>,
    enable: hearth_linux::PowerEnableOutput,
}

impl hearth_core::Regulator for GatedRegulator {
    fn set_vout(
        &mut self,
        vout: hearth_core::Millivolts,
        now: Timestamp,
    ) -> Result<(), DeviceError> {
        self.inner.set_vout(vout, now)
    }
    fn set_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), DeviceError> {
        if on {
            self.enable.set_power(true, now)?;
            self.inner.set_enabled(true, now)
        } else {
            // Both, even if the first fails: off must win.
            let a = self.inner.set_enabled(false, now);
            let b = self.enable.set_power(false, now);
            a.and(b)
        }
    }
    fn read(&mut self, now: Timestamp) -> Result<hearth_core::RegulatorReading, DeviceError> {
        self.inner.read(now)
    }
    fn pending(&self) -> bool {
        self.inner.pending()
    }
}

/// The board tasks' command lease (stale-heartbeat guard) for this config.
fn lease_of(config: &Validated) -> std::time::Duration {
    command_lease(std::time::Duration::from_millis(config.raw.daemon.tick_ms))
}

fn real_board(
    board: &ConfiguredBoard,
    clock: &Arc<dyn Clock>,
    lease: std::time::Duration,
) -> Result<crate::boards::BoardHandle> {
    let profile = &board.profile;
    let opened = hearth_linux::open_board_devices(
        profile,
        &hearth_linux::BoardOpenOptions::new(board.id.as_str()),
    )
    .with_context(|| format!("board {}: opening its devices", board.id))?;
    for note in &opened.notes {
        tracing::info!(board = %board.id, "{note}");
    }
    let Some(regulator) = opened.regulator else {
        bail!(
            "board {}: profile {} has no core-voltage regulator Hearth can drive on this build \
             (an S9-generation PIC is named with regulator = \"bitmain-pic\"; PSU-controlled boards are not supported yet)",
            board.id,
            profile.name()
        );
    };
    let Some(fan) = opened.fan else {
        bail!(
            "board {}: no fan is configured; Hearth will not run a board it cannot cool",
            board.id
        );
    };
    if opened.chip_thermometers.is_empty() {
        bail!(
            "board {}: no chip temperature sensor (set fan_address for the EMC2101's ASIC diode, \
             thermometer_address for a generic-* board's TMP75, or heatsink_probes); \
             Hearth will not run chips it cannot watch",
            board.id
        );
    }
    let regulator: Box<dyn hearth_core::Regulator> = match opened.power_enable {
        Some(enable) => Box::new(GatedRegulator {
            inner: regulator,
            enable,
        }),
        None => regulator,
    };
    let devices = BoardDevices {
        regulator,
        fan,
        // Only chip sensors: a cooler board thermometer must never stand in
        // for a dead chip diode.
        chip_sensors: opened.chip_thermometers,
        reset: opened.reset.map(|r| Box::new(r) as Box<dyn ResetLine>),
    };
    let runtime = BoardRuntime::new(
        board.id.clone(),
        profile.clone(),
        devices,
        RuntimeOptions::default(),
        clock.now(),
    )
    .map_err(|e| anyhow::anyhow!("board {}: {e}", board.id))?;
    let serial = &profile.peripherals().serial;
    let port = tokio_serial::SerialStream::open(&tokio_serial::new(serial, hearth_board::profile::RESET_BAUD))
        .with_context(|| {
            format!("board {}: opening serial device {serial} (is enable_uart=1 set and the user in group dialout?)", board.id)
        })?;
    Ok(spawn_board_with_lease(runtime, port, clock.clone(), lease))
}

/// The simulator's physics for a profile: the same power model and V/f
/// table, and a heatsink sized so full power runs the chips ~45 K above air
/// at full fan.
pub fn sim_params_for(board: &ConfiguredBoard) -> SimBoardParams {
    let profile = &board.profile;
    let (_, max_w) = profile.power_range();
    let mut params = SimBoardParams::bm1370_65();
    params.model = format!("sim-{}", profile.name());
    params.power = *profile.power_model();
    params.vf_table = profile.vf_table().clone();
    params.r_th_full_fan_k_per_w = 45.0 / max_w.get().max(1.0);
    // A profile's `overhead_w` already counts its fans (fixed), so the
    // simulator books no separate fan power here: the daemon's simulated
    // board draws what its profile says.
    params.fan_max_w = 0.0;
    params
}

/// Simulated devices for every configured zone and board. Rooms and weather
/// start at the wall time (so the simulated day matches the real one) and run
/// `speed` times faster; chips, when simulated as chips, run in real time.
fn simulated(config: &Validated, speed_override: Option<f64>) -> Result<Hardware> {
    let start = SystemClock.now();
    let speed = speed_override.unwrap_or(config.raw.sim.speed);
    let boards_mode = config
        .raw
        .sim
        .effective_boards(speed)
        .map_err(|r| anyhow::anyhow!("--speed {speed}: {r}"))?;
    if boards_mode == SimBoards::Model && config.zones.iter().any(|z| !z.boards.is_empty()) {
        tracing::info!(
            speed,
            "boards are simulated by their physics model (simulated chips only run in real time)"
        );
    }
    let world_clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(start, speed));
    let chip_clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(start, 1.0));
    let mut world = World::new(start, config.raw.sim.seed, config.raw.sim.weather);
    let mut layout = Vec::new();
    for zone in &config.zones {
        let room = world.add_room(
            zone.id.as_str(),
            zone.sim.room,
            Celsius(zone.sim.initial_c),
            Watts(zone.sim.internal_gain_w),
        );
        let boards: Vec<(ConfiguredBoard, usize)> = zone
            .boards
            .iter()
            .map(|b| (b.clone(), world.add_board(room, sim_params_for(b))))
            .collect();
        layout.push((zone, room, boards));
    }
    let world = world.into_shared();
    let mut hw = Hardware {
        zones: Vec::new(),
        clock: world_clock.clone(),
        steady_clock: world_clock,
        world: Some(world.clone()),
        sim_faults: BTreeMap::new(),
        sim_boards: BTreeMap::new(),
        job_feeds: Vec::new(),
        sg_relays: Some(Box::new(crate::sg_relays::SimRelays::default())),
        circulation: crate::circulation_input::open_all(config, true)?,
    };
    for (zone, room, boards) in layout {
        let thermometer: Box<dyn Thermometer> = Box::new(SimThermometer::new(
            world.clone(),
            room,
            format!("{} air", zone.id),
        ));
        let mut handles: Vec<Box<dyn Hashboard>> = Vec::new();
        for (board, idx) in boards {
            hw.sim_boards.insert(board.id.clone(), idx);
            let handle: Box<dyn Hashboard> = match boards_mode {
                SimBoards::Model => Box::new(
                    SimHashboard::new(world.clone(), idx, board.id.clone())
                        .with_context(|| format!("simulated board {}", board.id))?,
                ),
                SimBoards::Chips => {
                    let faults = Arc::new(Mutex::new(SimChainFaults::default()));
                    hw.sim_faults.insert(board.id.clone(), faults.clone());
                    let handle = simulated_chain_board(
                        &world,
                        idx,
                        &board,
                        config.raw.sim.seed,
                        &chip_clock,
                        faults,
                        lease_of(config),
                    )?;
                    hw.job_feeds.push(handle.job_feed());
                    Box::new(handle)
                }
            };
            handles.push(handle);
        }
        hw.zones.push((
            zone_config(zone),
            ZoneHardware {
                thermometer,
                boards: handles,
            },
        ));
    }
    Ok(hw)
}

fn zone_config(zone: &ValidatedZone) -> ZoneConfig {
    ZoneConfig {
        id: zone.id.clone(),
        name: zone.name.clone(),
        kind: zone.kind,
        limits: zone.limits,
        settings: ZoneSettings {
            setpoint_c: zone.setpoint_c,
            mode: zone.mode,
        },
    }
}

/// The reset line of a simulated board: holding it resets the chips.
#[derive(Debug)]
struct SimReset(SimBoardPeripherals);

impl ResetLine for SimReset {
    fn set_reset(&mut self, held: bool, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.set_reset_held(held)
    }
}

/// The board runtime of a simulated board: its regulator, fan, chip sensor
/// and reset line are the world's, and nonces are checked against the
/// simulation target.
pub fn simulated_runtime(
    periph: &SimBoardPeripherals,
    board: &ConfiguredBoard,
    now: Timestamp,
) -> Result<BoardRuntime, hearth_board::runtime::RuntimeError> {
    simulated_runtime_clocked(
        periph,
        board,
        now,
        Arc::new(crate::sim_pic::FrozenClock(now)),
    )
}

/// [`simulated_runtime`] with the clock a simulated PIC's heartbeat
/// watchdog runs on (a frozen clock never starves it).
pub fn simulated_runtime_clocked(
    periph: &SimBoardPeripherals,
    board: &ConfiguredBoard,
    now: Timestamp,
    clock: Arc<dyn Clock>,
) -> Result<BoardRuntime, hearth_board::runtime::RuntimeError> {
    let devices = BoardDevices {
        regulator: crate::sim_pic::simulated_regulator(periph, board, clock),
        fan: Box::new(periph.fan()),
        chip_sensors: vec![Box::new(periph.chip_sensor(format!("{} chips", board.id)))],
        reset: Some(Box::new(SimReset(periph.clone()))),
    };
    let options = RuntimeOptions {
        sim_zero_bits: Some(SIM_ZERO_BITS),
        ..RuntimeOptions::default()
    };
    BoardRuntime::new(
        board.id.clone(),
        board.profile.clone(),
        devices,
        options,
        now,
    )
}

/// A board whose chips are simulated byte for byte behind a pseudo-terminal,
/// driven by the real chain driver and board runtime.
fn simulated_chain_board(
    world: &SharedWorld,
    idx: usize,
    board: &ConfiguredBoard,
    seed: u64,
    clock: &Arc<dyn Clock>,
    faults: Arc<Mutex<SimChainFaults>>,
    lease: std::time::Duration,
) -> Result<crate::boards::BoardHandle> {
    let periph = SimBoardPeripherals::attach(world.clone(), idx)
        .context("attaching simulated peripherals")?;
    let runtime = simulated_runtime_clocked(&periph, board, clock.now(), clock.clone())
        .map_err(|e| anyhow::anyhow!("board {}: {e}", board.id))?;
    let (host, chips) = tokio_serial::SerialStream::pair()
        .context("creating a pseudo-terminal for simulated chips")?;
    let chain_config = SimChainConfig {
        chip: board.profile.chip(),
        chips: usize::try_from(board.profile.chips()).unwrap_or(1),
        seed: seed ^ (idx as u64).wrapping_mul(0x9E37_79B9),
        sim_zero_bits: SIM_ZERO_BITS,
        ..SimChainConfig::default()
    };
    tokio::spawn(run_sim_chain(
        chain_config,
        chips,
        periph,
        clock.clone(),
        faults,
    ));
    Ok(spawn_board_with_lease(runtime, host, clock.clone(), lease))
}
