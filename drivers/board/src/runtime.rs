//! [`BoardRuntime`]: one hashboard's brain, sans-IO.
//!
//! It composes the chain driver (`hearth-chain`, bytes in and out), the
//! board's [`BoardProfile`], [`Protection`], the [`QuietFan`] (fan duty
//! from chip temperature and heat power) and the board's devices behind `hearth-core`'s seam traits ([`BoardDevices`]).
//! It knows no runtime and reads no clock: the daemon owns the serial port
//! (or pty) and the clock, and pumps it:
//!
//! ```text
//! loop {
//!     while let Some(chunk) = rt.poll_transmit() {
//!         write chunk.bytes; if let Some(b) = chunk.then_set_baud { flush; set UART to b }
//!     }
//!     wait for rx bytes, a command, or rt.next_deadline() (at most TICK);
//!     rt.handle_rx(&bytes, now) / rt.set_power_target(w, now) / rt.set_job(job, now) / ...
//!     rt.tick(now) when TICK has passed or next_deadline() is due;
//!     publish rt.telemetry(), rt.drain_events(n), rt.drain_nonces(n) (and rt.drain_messages(n) to the log)
//! }
//! ```
//!
//! # Power
//!
//! A power target becomes an operating point through
//! [`operating_point_for`]; `None` (0 W, or below the board's lowest point)
//! means idle. Every sensing step (at most one per [`TICK`]-ish, see
//! [`BoardRuntime::tick`]) [`Protection`] caps that request; the runtime
//! then moves the hardware one safe step at a time toward what is allowed:
//!
//! - **idle → a point**: chips held in reset, regulator VOUT set to the
//!   point's voltage and enabled, after [`RuntimeOptions::power_settle`] the
//!   reset is released, after another `power_settle` the chain is started
//!   (enumerated afresh: chips out of reset remember nothing); on the chain's
//!   `Ready` the frequency ramps (6.25 MHz steps, the chain's pace) to the
//!   point's frequency;
//! - **a higher point**: voltage first, then the frequency ramps up;
//! - **a lower point**: the frequency ramps down; the voltage is lowered
//!   only once the ramp has finished. At every moment the core voltage is at
//!   least the V/f table's stable voltage for the clock the chips run at;
//! - **a point → idle**: the frequency ramps down to the chain's start
//!   frequency, then the chain is stopped, the core voltage switched off
//!   (regulator disabled) and the chips held in reset;
//! - **protection off** (a trip or a latch), a failed chain, or
//!   [`BoardRuntime::stop_safely`]: at once, no ramp (the safety path): the
//!   chain is stopped (clock to the floor, chain inactive), the core voltage
//!   switched off and the chips held in reset.
//!
//! Every point is clamped to the profile's [`crate::OperatingLimits`]
//! before it reaches a device; VOUT is never commanded above the limit.
//!
//! # Protection and fan
//!
//! Each sensing step reads every chip sensor (the hottest valid reading
//! counts), the regulator (temperature, power) and the fan tachometer,
//! feeds [`Protection::step`], and applies the output: `allowed` caps the
//! requested point, `core_voltage_off`/`hold_in_reset` force the board off,
//! `fan_override` replaces the [`QuietFan`]'s duty (which otherwise
//! follows the hottest chip and the power target). The duty is commanded through the `Fan` seam
//! every step. Protection's events become [`BoardEvent`]s as they are
//! (`Tripped{reason}`, `Recovered`, `Fault{reason}` for a latch); its human
//! lines go to [`BoardRuntime::drain_messages`].
//!
//! # Work
//!
//! [`BoardRuntime::set_job`] keeps the newest job and sends it to the chain
//! as soon as the chain is `Ready` (again after every bring-up); a new job
//! replaces it (`job.clean` retires older ones on the chain). Until a job
//! is given, the runtime generates deterministic local **heat-only** work
//! ([`heat_only_job`]: `heat_only = true`, a fixed dummy header, ids from
//! [`HEAT_ONLY_JOB_ID_BASE`]) so the chips hash and heat.
//!
//! `NonceFound` carries no heat-only flag, so nonces on heat-only work
//! (generated here, or a given job with `heat_only = true`) are **never
//! returned by [`BoardRuntime::drain_nonces`]**: they are only counted in
//! [`RuntimeCounters::heat_only_nonces`]. Everything `drain_nonces` returns
//! was found on a job the caller gave and verified by double SHA-256.
//!
//! The chips give up on a job once they have swept its whole nonce x
//! version space (`2^(32 + rolled bits)` hashes for the chain), which a big
//! board does in seconds. The runtime estimates the hashes done from the
//! power model's hashrate at the running frequency: heat-only work is
//! renewed (a new merkle root) at half its space, and a given job that is
//! estimated swept is replaced by heat-only work until a new job arrives
//! ([`RuntimeCounters::jobs_swept`]), so the board keeps heating when the
//! work source stalls.
//!
//! # Chain trouble
//!
//! `ChipSilent`, `ChipBack` and `Warning` events are counted
//! ([`RuntimeCounters`]) and described in [`BoardRuntime::drain_messages`];
//! the chain keeps running on the chips that answer. A `Failed` bring-up,
//! every chip silent at once, or a device error while powering up is a
//! [`BoardEvent::Fault`]: the board is powered down (state `Fault`) and the
//! bring-up retried after a backoff that doubles from
//! [`RuntimeOptions::retry_backoff`] up to
//! [`RuntimeOptions::retry_backoff_max`]; the count of consecutive failures
//! resets after a minute of running.
//!
//! # Errors and bounds
//!
//! Device errors are counted ([`RuntimeCounters`]) and never panic; a
//! regulator that fails to switch off is a `Fault` event (once per episode)
//! and is retried every call until it does. Events, nonces and messages wait
//! in bounded queues ([`MAX_QUEUED_EVENTS`], [`MAX_QUEUED_NONCES`],
//! [`MAX_QUEUED_MESSAGES`]) that drop the oldest and count the drops.

mod power;
mod queue;
mod work;

use std::fmt;
use std::time::Duration;

use hearth_bm13xx::FreqKhz;
use hearth_chain::{
    ChainConfig, ChainDriver, ChainEvent, ChainState, ChainStats, ConfigError, NonceCheck, TxChunk,
};
use hearth_core::{
    BoardEvent, BoardId, BoardInfo, BoardState, BoardTelemetry, Celsius, DeviceError, Fan, FreqMhz,
    GhPerSec, HashboardError, Job, Millivolts, NonceFound, OperatingPoint, Percent, Regulator,
    RegulatorReading, Rpm, Thermometer, Timestamp, Watts,
};

use crate::profile::{operating_point_for, BoardProfile, RESET_BAUD};
use crate::protection::{Protection, ProtectionInputs};
use crate::quiet_fan::{QuietFan, QuietTuning};

use queue::Bounded;
use work::Work;
pub use work::{heat_only_job, HEAT_ONLY_JOB_ID_BASE};

/// Call [`BoardRuntime::tick`] at least this often (and whenever
/// [`BoardRuntime::next_deadline`] passes).
pub const TICK: Duration = Duration::from_millis(100);
/// Sensor reads and protection steps are at least this far apart, however
/// often `tick` is called (a little under [`TICK`] so a jittery 100 ms timer
/// still reads every tick).
const SENSE_INTERVAL: Duration = Duration::from_millis(90);
/// Board events kept for [`BoardRuntime::drain_events`].
pub const MAX_QUEUED_EVENTS: usize = 1024;
/// Nonces kept for [`BoardRuntime::drain_nonces`].
pub const MAX_QUEUED_NONCES: usize = 4096;
/// Log lines kept for [`BoardRuntime::drain_messages`].
pub const MAX_QUEUED_MESSAGES: usize = 256;
/// Fan duty (%) after [`BoardRuntime::stop_safely`], unless protection or
/// the fan loop asks for more.
pub const STOPPED_FAN_PERCENT: f64 = 50.0;
/// Running this long after `Ready` clears the count of consecutive
/// bring-up failures (so the backoff starts small again).
const STABLE_RUN: Duration = Duration::from_secs(60);

/// Holds the chips in reset (true) or releases them (false). Real: a GPIO
/// line; sim: a flag.
pub trait ResetLine: Send {
    fn set_reset(&mut self, held: bool, now: Timestamp) -> Result<(), DeviceError>;
}

/// The devices around one board's chips.
pub struct BoardDevices {
    pub regulator: Box<dyn Regulator>,
    pub fan: Box<dyn Fan>,
    /// Chip / board temperature sensors; the hottest valid reading counts.
    pub chip_sensors: Vec<Box<dyn Thermometer>>,
    /// The chips' reset line, if wired; without one the chips come out of
    /// reset when the core voltage comes up.
    pub reset: Option<Box<dyn ResetLine>>,
}

impl fmt::Debug for BoardDevices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sensors: Vec<&str> = self.chip_sensors.iter().map(|s| s.name()).collect();
        f.debug_struct("BoardDevices")
            .field("chip_sensors", &sensors)
            .field("reset", &self.reset.is_some())
            .finish_non_exhaustive()
    }
}

/// Tuning of a [`BoardRuntime`]; `Default` is right for real boards.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeOptions {
    /// Simulation: verify nonces against N leading zero bits instead of the
    /// ticket difficulty.
    pub sim_zero_bits: Option<u32>,
    /// Override the ticket difficulty (default: [`default_ticket_difficulty`],
    /// chosen from the profile's max hashrate so the chain reports ~1-4
    /// nonces/s at full power).
    pub ticket_difficulty: Option<u32>,
    /// Host UART rate at bring-up (default 115,200: the chips' reset rate).
    pub initial_baud: Option<u32>,
    /// Rate to switch the chain to after configuration (default: the
    /// profile's `peripherals().baud`).
    pub target_baud: Option<u32>,
    /// After enabling the core voltage, wait this long before releasing the
    /// reset; after releasing it, this long again before talking to the
    /// chips. Default 100 ms.
    pub power_settle: Duration,
    /// First wait before retrying a failed bring-up; doubles per consecutive
    /// failure. Default 5 s.
    pub retry_backoff: Duration,
    /// Longest wait between bring-up retries. Default 5 min.
    pub retry_backoff_max: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> RuntimeOptions {
        RuntimeOptions {
            sim_zero_bits: None,
            ticket_difficulty: None,
            initial_baud: None,
            target_baud: None,
            power_settle: Duration::from_millis(100),
            retry_backoff: Duration::from_secs(5),
            retry_backoff_max: Duration::from_secs(300),
        }
    }
}

/// Why a [`BoardRuntime`] could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// The chain configuration derived from the profile and options is invalid.
    #[error("chain configuration: {0}")]
    Chain(#[from] ConfigError),
    /// An option is out of range (the message names it).
    #[error("runtime options: {0}")]
    Options(String),
}

/// Counters since construction; they saturate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeCounters {
    /// Verified nonces on heat-only work: counted here, never returned by
    /// [`BoardRuntime::drain_nonces`].
    pub heat_only_nonces: u64,
    /// Nonces returned (queued for `drain_nonces`).
    pub nonces: u64,
    /// Nonces dropped because `drain_nonces` was not called in time.
    pub nonces_dropped: u64,
    /// Events dropped because `drain_events` was not called in time.
    pub events_dropped: u64,
    /// Messages dropped because `drain_messages` was not called in time.
    pub messages_dropped: u64,
    /// Regulator commands or reads that failed.
    pub regulator_errors: u64,
    /// Fan commands or tachometer reads that failed.
    pub fan_errors: u64,
    /// Chip sensor reads that failed.
    pub sensor_errors: u64,
    /// Reset line commands that failed.
    pub reset_errors: u64,
    /// Power-ups started (each re-enumerates the chain).
    pub bringups: u64,
    /// Faults that powered the board down for a retry (failed bring-up,
    /// every chip silent, a device error while powering up).
    pub faults: u64,
    /// `ChipSilent` events from the chain.
    pub chips_silent: u64,
    /// `ChipBack` events from the chain.
    pub chips_back: u64,
    /// `Warning` events from the chain (first of each kind; the chain's own
    /// [`ChainStats::errors`] counts every occurrence).
    pub chain_warnings: u64,
    /// Jobs the chain refused.
    pub job_errors: u64,
    /// Frequency requests the chain refused.
    pub frequency_errors: u64,
    /// Given jobs estimated swept and replaced by heat-only work.
    pub jobs_swept: u64,
    /// Heat-only jobs sent to the chain.
    pub heat_jobs_sent: u64,
}

/// The board's power sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Core voltage off, chips in reset, chain stopped.
    Off,
    /// Core voltage on; the chips stay in reset until `release_at`.
    Energizing { release_at: Timestamp },
    /// Reset released; the chain starts at `start_at`.
    Releasing { start_at: Timestamp },
    /// The chain is bringing the chips up or running them.
    On,
}

/// What the board is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Powered down after a fault; bring-up is retried at `retry_at`.
    Fault {
        retry_at: Timestamp,
    },
    /// `stop_safely` was called: off for good.
    Stopped,
}

/// One hashboard's brain; see the module documentation.
pub struct BoardRuntime {
    info: BoardInfo,
    profile: BoardProfile,
    options: RuntimeOptions,
    devices: BoardDevices,
    chain: ChainDriver,
    protection: Protection,
    fan_ctl: QuietFan,
    mode: Mode,
    stage: Stage,
    now: Timestamp,
    power_target: Watts,
    /// The point for the power target (`None` = idle).
    requested: Option<OperatingPoint>,
    /// What protection allowed at the last sensing step (`None` = off).
    allowed: Option<OperatingPoint>,
    /// Protection wants the core voltage off and the chips in reset.
    protection_off: bool,
    last_sense: Option<Timestamp>,
    // What the devices were told.
    /// Whether the regulator may be on (also after a failed switch-off).
    regulator_on: bool,
    vout: Option<Millivolts>,
    reset_held: bool,
    fan_duty: Percent,
    /// The frequency last asked of the running chain.
    freq_asked: Option<FreqKhz>,
    /// When VOUT last changed.
    vout_set_at: Option<Timestamp>,
    /// When the chain's ramp was first seen finished (for lowering VOUT).
    ramp_done_at: Option<Timestamp>,
    regulator_fault_reported: bool,
    // Latest readings.
    hottest: Option<Celsius>,
    regulator_reading: Option<RegulatorReading>,
    fan_rpm: Option<Rpm>,
    // Chain health.
    failures: u32,
    ready_at: Option<Timestamp>,
    work: Work,
    events: Bounded<BoardEvent>,
    nonces: Bounded<NonceFound>,
    messages: Bounded<String>,
    counters: RuntimeCounters,
}

impl fmt::Debug for BoardRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoardRuntime")
            .field("id", &self.info.id)
            .field("model", &self.info.model)
            .field("mode", &self.mode)
            .field("stage", &self.stage)
            .field("chain", &self.chain.state())
            .field("power_target", &self.power_target)
            .field("allowed", &self.allowed)
            .field("vout", &self.vout)
            .field("regulator_on", &self.regulator_on)
            .field("reset_held", &self.reset_held)
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

/// The ticket difficulty that makes the chain report ~1-4 nonces/s at the
/// profile's maximum hashrate: the next power of two of
/// `hashrate_hps / (2^32 x 2)`, at least 256 (Bitaxe firmware's value).
pub fn default_ticket_difficulty(profile: &BoardProfile) -> u32 {
    let hps = profile.hashrate(profile.limits().max_freq_mhz).get() * 1e9;
    let per = hps / (4_294_967_296.0 * 2.0);
    if !per.is_finite() || per <= 256.0 {
        return 256;
    }
    // Float-to-int casts saturate; the largest u32 power of two is 2^31.
    let whole = per.ceil() as u64;
    let pow = whole.checked_next_power_of_two().unwrap_or(1 << 31);
    u32::try_from(pow.min(1 << 31)).unwrap_or(1 << 31)
}

/// The chain configuration a profile and options give.
pub fn chain_config(
    profile: &BoardProfile,
    options: &RuntimeOptions,
) -> Result<ChainConfig, RuntimeError> {
    let mut cfg = ChainConfig::new(profile.chip());
    cfg.expected_chips = usize::try_from(profile.chips()).unwrap_or(usize::MAX);
    cfg.initial_baud = options.initial_baud.unwrap_or(RESET_BAUD);
    cfg.target_baud = options.target_baud.unwrap_or(profile.peripherals().baud);
    cfg.ticket_difficulty = options
        .ticket_difficulty
        .unwrap_or_else(|| default_ticket_difficulty(profile));
    cfg.nonce_check = options
        .sim_zero_bits
        .map_or(NonceCheck::TicketDifficulty, NonceCheck::LeadingZeroBits);
    cfg.validate()?;
    Ok(cfg)
}

impl BoardRuntime {
    /// A runtime for board `id`. The devices are put in the safe state at
    /// once (chips in reset, core voltage off, fan at 100 % until the first
    /// tick decides); device errors there are counted, not fatal.
    pub fn new(
        id: BoardId,
        profile: BoardProfile,
        devices: BoardDevices,
        options: RuntimeOptions,
        now: Timestamp,
    ) -> Result<BoardRuntime, RuntimeError> {
        if options.retry_backoff.is_zero() || options.retry_backoff_max < options.retry_backoff {
            return Err(RuntimeError::Options(
                "retry_backoff must be positive and at most retry_backoff_max".into(),
            ));
        }
        if options.power_settle > Duration::from_secs(10) {
            return Err(RuntimeError::Options(
                "power_settle must be at most 10 s".into(),
            ));
        }
        let chain = ChainDriver::new(chain_config(&profile, &options)?)?;
        let protection = Protection::new(&profile);
        let fan_ctl = QuietFan::new(*profile.fan_tuning(), QuietTuning::default());
        let info = profile.board_info(id);
        let mut rt = BoardRuntime {
            info,
            profile,
            options,
            devices,
            chain,
            protection,
            fan_ctl,
            mode: Mode::Normal,
            stage: Stage::Off,
            now,
            power_target: Watts::ZERO,
            requested: None,
            allowed: None,
            protection_off: false,
            last_sense: None,
            // Unknown at start: switch it off explicitly.
            regulator_on: true,
            vout: None,
            reset_held: false,
            fan_duty: Percent::FULL,
            freq_asked: None,
            vout_set_at: None,
            ramp_done_at: None,
            regulator_fault_reported: false,
            hottest: None,
            regulator_reading: None,
            fan_rpm: None,
            failures: 0,
            ready_at: None,
            work: Work::default(),
            events: Bounded::new(MAX_QUEUED_EVENTS),
            nonces: Bounded::new(MAX_QUEUED_NONCES),
            messages: Bounded::new(MAX_QUEUED_MESSAGES),
            counters: RuntimeCounters::default(),
        };
        rt.hold_reset(now);
        rt.regulator_off(now);
        rt.command_fan(Percent::FULL, now);
        Ok(rt)
    }

    /// Static facts from the profile (`profile.board_info(id)`).
    pub fn info(&self) -> &BoardInfo {
        &self.info
    }

    /// The profile the board runs with.
    pub fn profile(&self) -> &BoardProfile {
        &self.profile
    }

    /// The protection state machine (trips, cap, latch).
    pub fn protection(&self) -> &Protection {
        &self.protection
    }

    /// The chain driver's coarse state.
    pub fn chain_state(&self) -> ChainState {
        self.chain.state()
    }

    /// Run at the most efficient point drawing at most `target` (0 W, or
    /// below the lowest point: idle). Takes effect at the next sensing step,
    /// once protection has capped it.
    pub fn set_power_target(
        &mut self,
        target: Watts,
        now: Timestamp,
    ) -> Result<(), HashboardError> {
        self.now = now;
        if self.mode == Mode::Stopped {
            return Err(HashboardError::Stopped);
        }
        if !target.is_finite() || target < Watts::ZERO {
            return Err(HashboardError::BadPowerTarget(target));
        }
        self.power_target = target;
        self.requested =
            operating_point_for(&self.profile, target).map(|op| self.profile.limits().clamp(op));
        Ok(())
    }

    /// New work: replaces the previous job (sent at once when the chain is
    /// ready, else at `Ready`). A job with an empty version mask (a pool
    /// without version rolling) is hashed on its own version only: the
    /// chain driver rolls nothing, new extranonce2s come from the work
    /// service. A non-empty mask that shares no bit with the chain's
    /// rollable bits is refused with `HashboardError::Hardware`.
    pub fn set_job(&mut self, job: Job, now: Timestamp) -> Result<(), HashboardError> {
        self.now = now;
        if self.mode == Mode::Stopped {
            return Err(HashboardError::Stopped);
        }
        let chain_mask = self.chain.config().version_mask;
        if job.version_mask != 0 && job.version_mask & chain_mask == 0 {
            return Err(HashboardError::Hardware(format!(
                "job {}: version mask {:#010x} shares no bit with the chain's rollable bits {chain_mask:#010x}",
                job.id, job.version_mask
            )));
        }
        self.work.set_job(job);
        if self.stage == Stage::On && self.chain.state() == ChainState::Running {
            self.send_work(now);
        }
        self.process_chain_events(now);
        Ok(())
    }

    /// Bring the board to a safe state for good: chain stopped (clock to
    /// the floor), core voltage off, chips held in reset, fan left running
    /// (at least [`STOPPED_FAN_PERCENT`], more if protection or the fan loop
    /// ask). Idempotent (one `BoardEvent::Stopped`); afterwards power targets
    /// and jobs are refused with `HashboardError::Stopped`. Errs with
    /// `Hardware` while the regulator refuses to switch off (retried on every
    /// call and tick).
    pub fn stop_safely(&mut self, now: Timestamp) -> Result<(), HashboardError> {
        self.now = now;
        let first = self.mode != Mode::Stopped;
        self.mode = Mode::Stopped;
        self.power_target = Watts::ZERO;
        self.requested = None;
        self.allowed = None;
        self.work.clear();
        self.power_off(now);
        let duty = at_least(self.fan_duty, STOPPED_FAN_PERCENT);
        self.command_fan(duty, now);
        self.process_chain_events(now);
        if first {
            self.push_event(BoardEvent::Stopped);
            self.note("stopped safely: core voltage off, chips in reset, fan left running");
        }
        if self.regulator_on {
            return Err(HashboardError::Hardware(
                "core regulator did not switch off".into(),
            ));
        }
        Ok(())
    }

    /// Bytes received from the chain (any split).
    pub fn handle_rx(&mut self, bytes: &[u8], now: Timestamp) {
        self.now = now;
        self.chain.handle_rx(bytes, now);
        self.process_chain_events(now);
        self.reconcile(now);
        self.process_chain_events(now);
    }

    /// Periodic work; call at least every [`TICK`] (100 ms) and whenever
    /// [`BoardRuntime::next_deadline`] passes. Sensors are read and
    /// protection stepped at most once per ~90 ms however often it is called.
    pub fn tick(&mut self, now: Timestamp) {
        self.now = now;
        if self.chain.next_deadline().is_some_and(|due| due <= now) {
            self.chain.handle_timeout(now);
        }
        self.process_chain_events(now);
        if self
            .last_sense
            .is_none_or(|last| now.since(last) >= SENSE_INTERVAL)
        {
            self.sense(now);
        }
        self.account_work(now);
        self.reconcile(now);
        self.process_chain_events(now);
        if self
            .ready_at
            .is_some_and(|ready| now.since(ready) >= STABLE_RUN)
        {
            self.failures = 0;
        }
    }

    /// When `tick` must next be called (never later than one [`TICK`] after
    /// the last sensing step).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let mut due = self.last_sense.map_or(self.now, |t| t.plus(TICK));
        if let Some(chain) = self.chain.next_deadline() {
            due = due.min(chain);
        }
        match self.stage {
            Stage::Energizing { release_at } => due = due.min(release_at),
            Stage::Releasing { start_at } => due = due.min(start_at),
            Stage::Off => {}
            Stage::On => {
                // A pending settle (raise the clock, lower VOUT, switch off).
                for at in [self.vout_set_at, self.ramp_done_at].into_iter().flatten() {
                    let settled = at.plus(power::SETTLE);
                    if settled > self.now {
                        due = due.min(settled);
                    }
                }
            }
        }
        if let Mode::Fault { retry_at } = self.mode {
            due = due.min(retry_at);
        }
        Some(due)
    }

    /// The next bytes for the UART (honour `then_set_baud`).
    pub fn poll_transmit(&mut self) -> Option<TxChunk> {
        self.chain.poll_transmit()
    }

    /// The latest picture.
    pub fn telemetry(&self) -> BoardTelemetry {
        let running = self.stage == Stage::On && self.chain.state() == ChainState::Running;
        let freq = FreqMhz(f64::from(self.chain.frequency().khz()) / 1000.0);
        let operating_point = match (running, self.vout) {
            (true, Some(voltage_mv)) if freq.get() > 0.0 && self.regulator_on => {
                Some(OperatingPoint {
                    freq_mhz: freq,
                    voltage_mv,
                })
            }
            _ => None,
        };
        let measured = self.regulator_reading.and_then(|r| {
            r.power_w.filter(|p| p.is_finite()).or_else(|| {
                let (v, i) = (r.vout_mv?, r.iout_a?);
                let p = Watts(v.get() / 1000.0 * i);
                p.is_finite().then_some(p)
            })
        });
        let power_w = match (measured, operating_point) {
            // Known off: the last reading may predate the switch-off.
            _ if !self.regulator_on => Watts::ZERO,
            (Some(p), _) => p,
            (None, Some(op)) => self.profile.power_model().power(op),
            (None, None) => Watts::ZERO,
        };
        let hashrate_ghs = if operating_point.is_some() {
            let estimate = self.chain.stats().hashrate;
            if estimate.get() > 0.0 {
                estimate
            } else {
                self.profile.hashrate(freq)
            }
        } else {
            GhPerSec::ZERO
        };
        BoardTelemetry {
            state: self.state(),
            power_w,
            power_target_w: self.power_target,
            hashrate_ghs,
            chip_temp_c: self.hottest,
            regulator_temp_c: self.regulator_reading.and_then(|r| r.temp_c),
            fan_duty: self.fan_duty,
            fan_rpm: self.fan_rpm,
            operating_point,
        }
    }

    /// What the board is doing.
    pub fn state(&self) -> BoardState {
        if self.mode == Mode::Stopped {
            return BoardState::Stopped;
        }
        if let Some(state) = self.protection.board_state() {
            return state;
        }
        if matches!(self.mode, Mode::Fault { .. })
            || (self.regulator_on && self.regulator_fault_reported)
        {
            return BoardState::Fault;
        }
        match self.stage {
            Stage::Off => BoardState::Idle,
            Stage::Energizing { .. } | Stage::Releasing { .. } => BoardState::Ramping,
            Stage::On => {
                let settled = self.chain.state() == ChainState::Running
                    && !self.chain.is_ramping()
                    && self.target().is_some_and(|op| {
                        self.freq_asked == power::khz(op.freq_mhz)
                            && self.vout == Some(op.voltage_mv)
                    });
                if settled {
                    BoardState::Running
                } else {
                    BoardState::Ramping
                }
            }
        }
    }

    /// Up to `max` events, oldest first.
    pub fn drain_events(&mut self, max: usize) -> Vec<BoardEvent> {
        self.events.drain(max)
    }

    /// Up to `max` nonces found on given (not heat-only) jobs, oldest first.
    pub fn drain_nonces(&mut self, max: usize) -> Vec<NonceFound> {
        self.nonces.drain(max)
    }

    /// Up to `max` human lines for the log (protection notes, chain
    /// warnings, silent chips, retries), oldest first.
    pub fn drain_messages(&mut self, max: usize) -> Vec<String> {
        self.messages.drain(max)
    }

    /// The chain driver's counters and estimates.
    pub fn chain_stats(&self) -> ChainStats {
        self.chain.stats()
    }

    /// The runtime's own counters.
    pub fn counters(&self) -> RuntimeCounters {
        RuntimeCounters {
            nonces_dropped: self.nonces.dropped(),
            events_dropped: self.events.dropped(),
            messages_dropped: self.messages.dropped(),
            ..self.counters
        }
    }

    /// Operator action: release a protection latch and forget the bring-up
    /// backoff. The board then still cools down and meets protection's
    /// recovery conditions before it restarts. Returns whether anything was
    /// cleared. A stopped board stays stopped.
    pub fn clear_fault(&mut self, now: Timestamp) -> bool {
        self.now = now;
        if self.mode == Mode::Stopped {
            return false;
        }
        let latched = self.protection.clear_latch(now);
        let faulted = matches!(self.mode, Mode::Fault { .. });
        if faulted {
            self.mode = Mode::Normal;
        }
        self.failures = 0;
        if latched || faulted {
            self.note("fault cleared by the operator");
        }
        latched || faulted
    }

    // ----- sensing, protection, fan -----

    fn sense(&mut self, now: Timestamp) {
        let dt = self.last_sense.map_or(Duration::ZERO, |t| now.since(t));
        self.last_sense = Some(now);
        let mut temps = Vec::with_capacity(self.devices.chip_sensors.len());
        for sensor in &mut self.devices.chip_sensors {
            match sensor.read_temp(now) {
                Ok(t) => temps.push(Some(t.get())),
                Err(_) => {
                    bump(&mut self.counters.sensor_errors);
                    temps.push(None);
                }
            }
        }
        self.regulator_reading = match self.devices.regulator.read(now) {
            Ok(reading) => Some(reading),
            Err(_) => {
                bump(&mut self.counters.regulator_errors);
                None
            }
        };
        self.fan_rpm = match self.devices.fan.read_rpm(now) {
            Ok(rpm) => Some(rpm),
            Err(_) => {
                bump(&mut self.counters.fan_errors);
                None
            }
        };
        let requested = match self.mode {
            Mode::Stopped => None,
            Mode::Normal | Mode::Fault { .. } => self.requested,
        };
        let out = self.protection.step(ProtectionInputs {
            now,
            chip_temps_c: &temps,
            regulator_temp_c: self
                .regulator_reading
                .and_then(|r| r.temp_c)
                .map(Celsius::get),
            fan_rpm: self.fan_rpm.map(Rpm::get),
            fan_duty_percent: self.fan_duty,
            requested,
        });
        for event in out.events {
            self.push_event(event);
        }
        for message in out.messages {
            self.note(message);
        }
        self.hottest = out.hottest_chip_c;
        self.protection_off = out.core_voltage_off || out.hold_in_reset;
        self.allowed = if self.protection_off {
            None
        } else {
            out.allowed
        };
        // Heat power for the quiet fan's feed-forward: the target while
        // protection lets the board run (it leads the chips' warming).
        let full_w = self.profile.power_range().1.get();
        let power_fraction = if self.allowed.is_some() && full_w > 0.0 {
            self.power_target.get() / full_w
        } else {
            0.0
        };
        let auto = self.fan_ctl.step(self.hottest, power_fraction, dt);
        let mut duty = out.fan_override.unwrap_or(auto);
        if self.mode == Mode::Stopped {
            duty = at_least(duty, STOPPED_FAN_PERCENT);
        }
        self.command_fan(duty, now);
    }

    fn command_fan(&mut self, duty: Percent, now: Timestamp) {
        // What was asked counts for stall detection even if the write failed.
        self.fan_duty = duty;
        if self.devices.fan.set_duty(duty, now).is_err() {
            bump(&mut self.counters.fan_errors);
        }
    }

    // ----- chain events -----

    fn process_chain_events(&mut self, now: Timestamp) {
        while let Some(event) = self.chain.poll_event() {
            match event {
                ChainEvent::Enumerated { chips } => {
                    self.note(format!("chain enumerated: {} chips", chips.len()));
                }
                ChainEvent::BaudChanged { .. }
                | ChainEvent::FrequencyReached { .. }
                | ChainEvent::Stopped => {}
                ChainEvent::Ready {
                    chips,
                    baud,
                    frequency,
                } => {
                    self.ready_at = Some(now);
                    self.note(format!(
                        "chain ready: {chips} chips at {baud} baud, {:.2} MHz",
                        f64::from(frequency.khz()) / 1000.0
                    ));
                    if self.stage == Stage::On {
                        self.send_work(now);
                    }
                }
                ChainEvent::Nonce(found) => {
                    if found.heat_only {
                        bump(&mut self.counters.heat_only_nonces);
                    } else {
                        bump(&mut self.counters.nonces);
                        let nonce = found.to_nonce_found(self.info.id.clone());
                        self.nonces.push(nonce);
                    }
                }
                ChainEvent::ChipSilent { index } => {
                    bump(&mut self.counters.chips_silent);
                    self.note(format!("chip {index} stopped answering"));
                    let stats = self.chain.stats();
                    let all = !stats.chips.is_empty() && stats.chips.iter().all(|c| c.silent);
                    if all && self.stage == Stage::On {
                        let n = stats.chips.len();
                        self.fault(now, format!("all {n} chips stopped answering"));
                    }
                }
                ChainEvent::ChipBack { index } => {
                    bump(&mut self.counters.chips_back);
                    self.note(format!("chip {index} answers again"));
                }
                ChainEvent::Warning { kind, detail } => {
                    bump(&mut self.counters.chain_warnings);
                    self.note(format!("chain warning ({kind}): {detail}"));
                }
                ChainEvent::Failed { reason } => {
                    if self.stage == Stage::On {
                        self.fault(now, format!("chain bring-up failed: {reason}"));
                    }
                }
            }
        }
    }

    // ----- queues -----

    fn push_event(&mut self, event: BoardEvent) {
        self.events.push(event);
    }

    fn note(&mut self, message: impl Into<String>) {
        self.messages.push(message.into());
    }
}

/// `duty`, raised to at least `percent`.
fn at_least(duty: Percent, percent: f64) -> Percent {
    if duty.get() < percent {
        Percent::new(percent)
    } else {
        duty
    }
}

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileKind;

    #[test]
    fn the_runtime_can_move_into_a_task() {
        fn send<T: Send>() {}
        send::<BoardRuntime>();
    }

    #[test]
    fn ticket_difficulty_gives_a_few_nonces_per_second_at_full_power() {
        for kind in ProfileKind::ALL {
            let Some(profile) = BoardProfile::builtin(kind) else {
                continue;
            };
            let d = default_ticket_difficulty(&profile);
            assert!(d >= 256 && d.is_power_of_two(), "{kind:?}: {d}");
            let hps = profile.hashrate(profile.limits().max_freq_mhz).get() * 1e9;
            let rate = hps / (f64::from(d) * 4_294_967_296.0);
            assert!(rate <= 2.0, "{kind:?}: {rate}/s");
            assert!(d == 256 || rate >= 1.0, "{kind:?}: {rate}/s");
        }
        let gamma = BoardProfile::by_name("bitaxe-gamma").unwrap();
        assert_eq!(default_ticket_difficulty(&gamma), 256);
        let big = BoardProfile::by_name("generic-bm1370-65").unwrap();
        assert_eq!(default_ticket_difficulty(&big), 16_384);
    }

    #[test]
    fn bad_options_are_refused() {
        let profile = BoardProfile::by_name("bitaxe-gamma").unwrap();
        let bad = [
            RuntimeOptions {
                ticket_difficulty: Some(300),
                ..RuntimeOptions::default()
            },
            RuntimeOptions {
                target_baud: Some(10),
                ..RuntimeOptions::default()
            },
            RuntimeOptions {
                sim_zero_bits: Some(300),
                ..RuntimeOptions::default()
            },
        ];
        for options in bad {
            assert!(chain_config(&profile, &options).is_err(), "{options:?}");
        }
        let ok = chain_config(&profile, &RuntimeOptions::default()).unwrap();
        assert_eq!(ok.expected_chips, 1);
        assert_eq!(ok.initial_baud, RESET_BAUD);
        assert_eq!(ok.target_baud, 1_000_000);
        assert_eq!(ok.nonce_check, NonceCheck::TicketDifficulty);
    }
}
