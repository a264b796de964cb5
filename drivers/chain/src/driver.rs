//! The chain state machine: [`ChainDriver`].

use std::collections::VecDeque;

use hearth_bm13xx::registers::address::{
    CHIP_ID, CHIP_NONCE_OFFSET, HASH_COUNTING_NUMBER, MISC_CONTROL, PLL_DIVIDER, TICKET_MASK,
    UART_BAUD, VERSION_ROLLING,
};
use hearth_bm13xx::registers::baud::{
    baud_for_divider, bm1397_misc_baud_register, divider_for_baud, uart_baud_register,
};
use hearth_bm13xx::registers::hcn::{hash_counting_number, MAX_CHAIN_LEN};
use hearth_bm13xx::registers::misc::misc_control_open_core;
use hearth_bm13xx::registers::nonce_offset::{chip_index_for_nonce, chip_nonce_offset};
use hearth_bm13xx::registers::ticket_mask::ticket_mask_for_difficulty;
use hearth_bm13xx::registers::version::{
    midstate_version, version_rolling_register, VERSION_BITS_SHIFT, VERSION_ROLLING_ENABLE,
};
use hearth_bm13xx::{
    frequency_ramp, pll_for_frequency, ChipIdentity, ChipKind, Command, Destination, FrameError,
    FreqKhz, JobFrame, JobId, MidstateJobFrame, MidstateJobId, NonceResponse, PllConfig,
    RegisterError, RegisterResponse, Response, ResponseLayout, ResponseParser,
};
use hearth_core::{FreqMhz, GhPerSec, Job, Timestamp};

use crate::config::{ChainConfig, ConfigError, HcnMode};
use crate::event::{ChainEvent, ChipInfo, FailReason, FoundNonce, WarningKind};
use crate::jobs::{ActiveJob, JobTable, Lookup};
use crate::stats::{ChainStats, ChipStats, ErrorCounts, RateWindow};
use crate::verify::header_zero_bits;

/// Events kept for [`ChainDriver::poll_event`]; beyond this they are dropped
/// and counted ([`WarningKind::EventsDropped`]).
pub const MAX_QUEUED_EVENTS: usize = 4096;
/// Unsent job frames kept in the transmit queue; an older unsent job is
/// replaced by a newer one ([`WarningKind::JobDropped`]).
pub const MAX_QUEUED_JOBS: usize = 2;
/// Recently reported nonces remembered to suppress duplicates.
const DUPLICATE_MEMORY: usize = 256;

/// Bytes for the UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxChunk {
    /// Write these, in order.
    pub bytes: Vec<u8>,
    /// The baud they must go out at (the host's current rate).
    pub at_baud: u32,
    /// After the bytes have been flushed (fully on the wire), switch the
    /// host UART to this rate before writing anything else.
    pub then_set_baud: Option<u32>,
}

/// Where the driver is, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainState {
    /// Constructed, `start` not called.
    Idle,
    /// Counting chips.
    Enumerating,
    /// Addressing, configuring, switching baud, checking the link.
    Configuring,
    /// Ready for jobs (possibly ramping).
    Running,
    /// `stop` was called.
    Stopped,
    /// Bring-up gave up (see [`ChainEvent::Failed`]).
    Failed,
}

/// Why a job was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Jobs are accepted only once the chain is [`ChainState::Running`].
    #[error("chain is {0:?}, not running")]
    NotRunning(ChainState),
    /// The job allows no version bits the chain may roll; the chips always
    /// roll, so their nonces could not be used.
    #[error("job version mask {job_mask:#010x} shares no bit with the chain's {chain_mask:#010x}")]
    NoRollableBits {
        /// The job's mask.
        job_mask: u32,
        /// The configured mask.
        chain_mask: u32,
    },
}

/// Why a frequency request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrequencyError {
    /// NaN, infinite, or not positive.
    #[error("{0} MHz is not a usable frequency")]
    NotAFrequency(f64),
    /// Outside what the chip's PLL can produce.
    #[error("{0}")]
    OutOfRange(RegisterError),
    /// The chain is stopped or failed.
    #[error("chain is {0:?}")]
    NotRunning(ChainState),
}

/// A queued frame.
#[derive(Debug, Clone)]
struct TxItem {
    bytes: Vec<u8>,
    then_set_baud: Option<u32>,
    is_job: bool,
}

/// Bring-up and run phases, with their exchange bookkeeping.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Discovering {
        attempt: u32,
        sent_at: Timestamp,
        answers: usize,
        last_answer: Option<Timestamp>,
    },
    /// Commands queued; waiting for the baud switch to be handed out
    /// (`settle_at` None) and then for the settle time.
    Configuring {
        settle_at: Option<Timestamp>,
    },
    LinkCheck {
        attempt: u32,
        sent_at: Timestamp,
        answered: Vec<bool>,
    },
    Running,
    Stopped,
    Failed,
}

/// Per-chip runtime state.
#[derive(Debug, Clone)]
struct Chip {
    info: ChipInfo,
    nonces: u64,
    hw_errors: u64,
    stale: u64,
    missed_polls: u64,
    last_seen: Option<Timestamp>,
    silent: bool,
    answered_poll: bool,
    rate: RateWindow,
}

/// The frequency ramp in progress.
#[derive(Debug, Clone, Default)]
struct Ramp {
    /// Points still to program.
    points: VecDeque<FreqKhz>,
    /// When the next point may be written.
    next_at: Timestamp,
}

/// A BM13xx chain as a sans-IO state machine.
///
/// The caller owns the serial port and the clock:
///
/// 1. [`ChainDriver::start`], then loop:
/// 2. write every [`ChainDriver::poll_transmit`] chunk (honouring
///    [`TxChunk::then_set_baud`]),
/// 3. feed received bytes to [`ChainDriver::handle_rx`],
/// 4. call [`ChainDriver::handle_timeout`] at or after
///    [`ChainDriver::next_deadline`],
/// 5. drain [`ChainDriver::poll_event`].
///
/// Bring-up: broadcast chip-id read (counting answers), chain inactive,
/// addresses `0, step, 2 x step, ...` with `step = 256 / chips`, MISC_CONTROL
/// open-core, extra writes, PLL at the start frequency, ticket mask, version
/// rolling (responses become 11 bytes), HCN, per-chip nonce offsets (BM1370),
/// UART baud (the chunk carries the host's switch), then a chip-id read at the
/// new rate that every chip must answer at its address: [`ChainEvent::Ready`].
#[derive(Debug)]
pub struct ChainDriver {
    cfg: ChainConfig,
    phase: Phase,
    now: Timestamp,
    parser: ResponseParser,
    tx: VecDeque<TxItem>,
    events: VecDeque<ChainEvent>,
    host_baud: u32,
    chips: Vec<Chip>,
    address_step: u16,
    /// Unattributed nonces and the chain-wide rate.
    unattributed: u64,
    chain_rate: RateWindow,
    nonces: u64,
    jobs: JobTable,
    jobs_sent: u64,
    /// Whether a job was sent since Ready (hashrate windows start there).
    have_work: bool,
    /// The version mask register's current mask.
    programmed_mask: u32,
    recent: VecDeque<(u64, u32, u32)>,
    errors: ErrorCounts,
    warned: u32,
    /// The ramp grid point last programmed, and the PLL's actual output.
    current_point: FreqKhz,
    achieved: FreqKhz,
    target: FreqKhz,
    pending_target: Option<FreqKhz>,
    ramp: Ramp,
    last_step_at: Option<Timestamp>,
    last_hcn: Option<u32>,
    next_poll_at: Timestamp,
    poll_sent_at: Option<Timestamp>,
}

impl ChainDriver {
    /// A driver for one chain.
    ///
    /// # Errors
    /// The config's first problem ([`ChainConfig::validate`]).
    pub fn new(cfg: ChainConfig) -> Result<ChainDriver, ConfigError> {
        cfg.validate()?;
        let layout = ResponseLayout::new(cfg.chip, false);
        Ok(ChainDriver {
            phase: Phase::Idle,
            now: Timestamp::default(),
            parser: ResponseParser::new(layout),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            host_baud: cfg.initial_baud,
            chips: Vec::new(),
            address_step: 1,
            unattributed: 0,
            chain_rate: RateWindow::new(cfg.hashrate_window),
            nonces: 0,
            jobs: JobTable::new(cfg.job_history),
            jobs_sent: 0,
            have_work: false,
            programmed_mask: cfg.version_mask,
            recent: VecDeque::new(),
            errors: ErrorCounts::default(),
            warned: 0,
            current_point: cfg.start_frequency,
            achieved: FreqKhz(0),
            target: cfg.start_frequency,
            pending_target: None,
            ramp: Ramp::default(),
            last_step_at: None,
            last_hcn: None,
            next_poll_at: Timestamp::default(),
            poll_sent_at: None,
            cfg,
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &ChainConfig {
        &self.cfg
    }

    /// Begin bring-up (again, if called later: everything but the error
    /// counters is reset). The chips must be fresh out of reset, talking at
    /// [`ChainConfig::initial_baud`]; the caller sets its UART to
    /// [`ChainDriver::host_baud`] first.
    pub fn start(&mut self, now: Timestamp) {
        self.now = now;
        self.parser = ResponseParser::new(ResponseLayout::new(self.cfg.chip, false));
        self.tx.clear();
        self.host_baud = self.cfg.initial_baud;
        self.chips.clear();
        self.jobs = JobTable::new(self.cfg.job_history);
        self.have_work = false;
        self.programmed_mask = self.cfg.version_mask;
        self.recent.clear();
        self.current_point = self.cfg.start_frequency;
        self.achieved = FreqKhz(0);
        self.target = self.pending_target.unwrap_or(self.cfg.start_frequency);
        self.ramp = Ramp::default();
        self.last_step_at = None;
        self.last_hcn = None;
        self.poll_sent_at = None;
        self.chain_rate = RateWindow::new(self.cfg.hashrate_window);
        self.send_discovery(1, now);
    }

    /// Bytes received from the chain, split anywhere.
    pub fn handle_rx(&mut self, bytes: &[u8], now: Timestamp) {
        self.now = now;
        let mut rest = bytes;
        loop {
            let taken = self.parser.push(rest);
            rest = rest.get(taken..).unwrap_or_default();
            let mut progressed = taken > 0;
            while let Some(item) = self.parser.next_response() {
                progressed = true;
                self.on_response(item, now);
            }
            if rest.is_empty() || !progressed {
                break;
            }
        }
    }

    /// The next bytes to write, if any. Consecutive frames come as one chunk;
    /// a chunk ends after a baud switch.
    pub fn poll_transmit(&mut self) -> Option<TxChunk> {
        let first = self.tx.pop_front()?;
        let mut bytes = first.bytes;
        let mut then_set_baud = first.then_set_baud;
        while then_set_baud.is_none() {
            let Some(item) = self.tx.pop_front() else {
                break;
            };
            bytes.extend_from_slice(&item.bytes);
            then_set_baud = item.then_set_baud;
        }
        let chunk = TxChunk {
            bytes,
            at_baud: self.host_baud,
            then_set_baud,
        };
        if let Some(baud) = then_set_baud {
            self.on_baud_handed_out(baud);
        }
        Some(chunk)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ChainEvent> {
        self.events.pop_front()
    }

    /// When [`ChainDriver::handle_timeout`] must next be called.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::Discovering {
                sent_at,
                answers,
                last_answer,
                ..
            } => Some(match last_answer {
                Some(last) if *answers > 0 && self.cfg.expected_chips == 0 => {
                    last.plus(self.cfg.discovery_quiet)
                }
                _ => sent_at.plus(self.cfg.exchange_timeout),
            }),
            Phase::Configuring { settle_at } => *settle_at,
            Phase::LinkCheck { sent_at, .. } => Some(sent_at.plus(self.cfg.exchange_timeout)),
            Phase::Running => {
                let mut deadline = self.next_poll_at;
                if let Some(sent) = self.poll_sent_at {
                    deadline = deadline.min(sent.plus(self.cfg.exchange_timeout));
                }
                if !self.ramp.points.is_empty() {
                    deadline = deadline.min(self.ramp.next_at);
                }
                for chip in self.chips.iter().filter(|chip| !chip.silent) {
                    if let Some(seen) = chip.last_seen {
                        deadline = deadline.min(seen.plus(self.cfg.chip_silence_timeout));
                    }
                }
                Some(deadline)
            }
            Phase::Idle | Phase::Stopped | Phase::Failed => None,
        }
    }

    /// Act on whatever is due at `now` (early calls do nothing).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.now = now;
        match self.phase.clone() {
            Phase::Discovering {
                attempt, answers, ..
            } => {
                if self.next_deadline().is_some_and(|due| now >= due) {
                    self.discovery_timed_out(attempt, answers, now);
                }
            }
            Phase::Configuring {
                settle_at: Some(settle_at),
            } => {
                if now >= settle_at {
                    self.send_link_check(1, now);
                }
            }
            Phase::LinkCheck {
                attempt, answered, ..
            } => {
                if self.next_deadline().is_some_and(|due| now >= due) {
                    self.link_check_timed_out(attempt, &answered, now);
                }
            }
            Phase::Running => self.running_timeouts(now),
            Phase::Configuring { settle_at: None }
            | Phase::Idle
            | Phase::Stopped
            | Phase::Failed => {}
        }
    }

    /// Ramp the hash clock to `target` in 6.25 MHz steps, one per
    /// [`ChainConfig::ramp_step_interval`], rewriting HCN after each step
    /// ([`HcnMode::Formula`]). Before the chain is ready the target is kept
    /// and the ramp starts at [`ChainEvent::Ready`]. A new target replaces a
    /// ramp in progress, continuing from the point reached.
    ///
    /// Returns the number of steps planned (0 when deferred or already
    /// there).
    ///
    /// # Errors
    /// [`FrequencyError`] for a non-finite or out-of-range target, or a
    /// stopped or failed chain.
    pub fn set_frequency(
        &mut self,
        target: FreqMhz,
        now: Timestamp,
    ) -> Result<usize, FrequencyError> {
        let mhz = target.get();
        if !mhz.is_finite() || mhz <= 0.0 || mhz * 1000.0 > f64::from(u32::MAX) {
            return Err(FrequencyError::NotAFrequency(mhz));
        }
        // Range-checked above; rounding to whole kHz.
        let khz = FreqKhz((mhz * 1000.0).round() as u32);
        self.set_frequency_khz(khz, now)
    }

    /// [`ChainDriver::set_frequency`] in kHz.
    ///
    /// # Errors
    /// As [`ChainDriver::set_frequency`].
    pub fn set_frequency_khz(
        &mut self,
        target: FreqKhz,
        now: Timestamp,
    ) -> Result<usize, FrequencyError> {
        self.now = now;
        pll_for_frequency(self.cfg.chip, target).map_err(FrequencyError::OutOfRange)?;
        match self.phase {
            Phase::Stopped => Err(FrequencyError::NotRunning(ChainState::Stopped)),
            Phase::Failed => Err(FrequencyError::NotRunning(ChainState::Failed)),
            Phase::Running => Ok(self.plan_ramp(target, now)),
            _ => {
                self.pending_target = Some(target);
                self.target = target;
                Ok(0)
            }
        }
    }

    /// Give the chips a job. Returns the chip job id it travels under.
    ///
    /// The base version sent has the rolled bits (job mask within the chain
    /// mask) cleared, so `version | bits << 13` is exactly the version the
    /// chip hashed. A job with a different mask first rewrites the version
    /// rolling register. `job.clean` retires every older job.
    ///
    /// # Errors
    /// [`JobError`] if the chain is not running or the masks share no bit.
    pub fn send_job(&mut self, job: &Job, now: Timestamp) -> Result<JobId, JobError> {
        self.now = now;
        if !matches!(self.phase, Phase::Running) {
            return Err(JobError::NotRunning(self.state()));
        }
        let mask = job.version_mask & self.cfg.version_mask;
        let midstate_chip = !self.cfg.chip.takes_full_header_jobs();
        if midstate_chip {
            // Host rolling: no register to program, and an empty mask just
            // means one midstate.
        } else {
            // A job with an empty mask (a pool without BIP310 version
            // rolling) keeps rolling switched on with no bits: the chips
            // hash the job's version as given, and responses keep their
            // 11-byte layout (no re-sync of the parser mid-run). A non-empty
            // mask sharing no bit with the chain's is a mistake: refused.
            let register = if job.version_mask == 0 {
                VERSION_ROLLING_ENABLE
            } else {
                version_rolling_register(mask).map_err(|_| JobError::NoRollableBits {
                    job_mask: job.version_mask,
                    chain_mask: self.cfg.version_mask,
                })?
            };
            if mask != self.programmed_mask {
                self.queue_write(Destination::Broadcast, VERSION_ROLLING, register);
                self.programmed_mask = mask;
            }
        }
        if job.clean {
            self.jobs.retire_all();
        }
        let job_id = self.jobs.next_id();
        let frame = JobFrame {
            job_id,
            version: job.version & !mask,
            prev_block_hash: job.prev_block_hash,
            merkle_root: job.merkle_root,
            ntime: job.ntime,
            nbits: job.nbits,
            starting_nonce: 0,
        };
        let (bytes, midstates) = if midstate_chip {
            // As many midstates as configured, never more than the mask has
            // versions (2^bits); an empty mask gives one.
            let versions = 1u64 << mask.count_ones().min(32);
            let count = u64::from(self.cfg.midstates).min(versions);
            let count = u8::try_from(count).unwrap_or(1).max(1);
            let midstate_job =
                MidstateJobFrame::from_fields(MidstateJobId::from(job_id), &frame, mask, count)
                    .map_err(|_| JobError::NotRunning(self.state()))?;
            (midstate_job.to_bytes().as_bytes().to_vec(), count)
        } else {
            (frame.to_bytes_with(self.cfg.job_length_byte).to_vec(), 0)
        };
        self.jobs
            .insert(job.id, frame, mask, midstates, job.heat_only);
        self.jobs_sent = self.jobs_sent.saturating_add(1);
        if !self.have_work {
            // Hashrate windows measure from the first work on, not from an
            // idle stretch before it.
            self.have_work = true;
            self.chain_rate.start(now);
            for chip in &mut self.chips {
                chip.rate.start(now);
            }
        }
        // Unsent older jobs are stale work: keep at most MAX_QUEUED_JOBS.
        while self.tx.iter().filter(|item| item.is_job).count() >= MAX_QUEUED_JOBS {
            if let Some(position) = self.tx.iter().position(|item| item.is_job) {
                self.tx.remove(position);
                self.trouble(WarningKind::JobDropped, || {
                    "an unsent job frame was replaced by a newer job (transmit queue not drained)"
                        .to_string()
                });
            } else {
                break;
            }
        }
        self.tx.push_back(TxItem {
            bytes,
            then_set_baud: None,
            is_job: true,
        });
        Ok(job_id)
    }

    /// Bring the chain to a safe idle: queued frames and the ramp are
    /// dropped, every job retires, the clock goes straight to
    /// [`ChainConfig::start_frequency`], then chain inactive. No more jobs are
    /// accepted; `start` begins a new bring-up (after a chip reset).
    pub fn stop(&mut self, now: Timestamp) {
        self.now = now;
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        let was_idle = matches!(self.phase, Phase::Idle);
        self.tx.clear();
        self.ramp = Ramp::default();
        self.pending_target = None;
        self.jobs.retire_all();
        self.have_work = false;
        self.poll_sent_at = None;
        if !was_idle {
            if let Ok(pll) = pll_for_frequency(self.cfg.chip, self.cfg.start_frequency) {
                self.queue_write(
                    Destination::Broadcast,
                    PLL_DIVIDER,
                    pll.to_register(self.cfg.chip),
                );
                self.achieved = pll.frequency();
            }
            self.current_point = self.cfg.start_frequency;
            self.target = self.cfg.start_frequency;
            self.queue_command(Command::ChainInactive);
        }
        self.phase = Phase::Stopped;
        self.push_event(ChainEvent::Stopped);
    }

    /// Where the driver is.
    #[must_use]
    pub fn state(&self) -> ChainState {
        match self.phase {
            Phase::Idle => ChainState::Idle,
            Phase::Discovering { .. } => ChainState::Enumerating,
            Phase::Configuring { .. } | Phase::LinkCheck { .. } => ChainState::Configuring,
            Phase::Running => ChainState::Running,
            Phase::Stopped => ChainState::Stopped,
            Phase::Failed => ChainState::Failed,
        }
    }

    /// The chips found by the last discovery.
    #[must_use]
    pub fn chips(&self) -> Vec<ChipInfo> {
        self.chips.iter().map(|chip| chip.info).collect()
    }

    /// The rate the host UART must run at now.
    #[must_use]
    pub fn host_baud(&self) -> u32 {
        self.host_baud
    }

    /// The PLL's current output (0 before configuration).
    #[must_use]
    pub fn frequency(&self) -> FreqKhz {
        self.achieved
    }

    /// Whether a frequency ramp is in progress.
    #[must_use]
    pub fn is_ramping(&self) -> bool {
        !self.ramp.points.is_empty()
    }

    /// Counters and estimates as of the last call that passed a time.
    #[must_use]
    pub fn stats(&self) -> ChainStats {
        let per_nonce = self.cfg.hashes_per_nonce();
        let ghs = |rate: &RateWindow| GhPerSec(rate.per_second(self.now) * per_nonce / 1e9);
        let chips = self
            .chips
            .iter()
            .map(|chip| ChipStats {
                index: chip.info.index,
                address: chip.info.address,
                nonces: chip.nonces,
                hw_errors: chip.hw_errors,
                stale_nonces: chip.stale,
                missed_polls: chip.missed_polls,
                last_seen: chip.last_seen,
                silent: chip.silent,
                hashrate: ghs(&chip.rate),
            })
            .collect();
        let expected = f64::from(self.achieved.khz()) / 1000.0
            * f64::from(self.cfg.chip.small_core_count())
            * self.chips.len() as f64
            / 1000.0;
        ChainStats {
            chips,
            errors: self.errors,
            parser: self.parser.stats(),
            nonces: self.nonces,
            unattributed_nonces: self.unattributed,
            jobs_sent: self.jobs_sent,
            hashrate: ghs(&self.chain_rate),
            expected_hashrate: GhPerSec(expected),
            frequency: self.achieved,
            target_frequency: self.target,
            baud: self.host_baud,
        }
    }

    // ----- bring-up -----

    fn send_discovery(&mut self, attempt: u32, now: Timestamp) {
        self.queue_command(Command::ReadRegister {
            destination: Destination::Broadcast,
            register: CHIP_ID,
        });
        self.phase = Phase::Discovering {
            attempt,
            sent_at: now,
            answers: 0,
            last_answer: None,
        };
    }

    fn discovery_timed_out(&mut self, attempt: u32, answers: usize, now: Timestamp) {
        let expected = self.cfg.expected_chips;
        let complete = answers > 0 && (expected == 0 || answers == expected);
        if complete {
            self.finish_discovery(answers);
        } else if attempt <= self.cfg.max_retries {
            self.send_discovery(attempt + 1, now);
        } else if answers == 0 {
            self.fail(FailReason::NoChips { attempts: attempt });
        } else {
            self.fail(FailReason::ChipCountMismatch {
                expected,
                found: answers,
                attempts: attempt,
            });
        }
    }

    fn fail(&mut self, reason: FailReason) {
        self.phase = Phase::Failed;
        self.push_event(ChainEvent::Failed { reason });
    }

    /// Address and configure `count` chips; the baud switch ends the queue.
    fn finish_discovery(&mut self, count: usize) {
        let chain_len = match u16::try_from(count) {
            Ok(len) if len <= MAX_CHAIN_LEN && len > 0 => len,
            _ => {
                self.fail(FailReason::TooManyChips { found: count });
                return;
            }
        };
        let chip = self.cfg.chip;
        let max_step = MAX_CHAIN_LEN / chain_len;
        self.address_step = self
            .cfg
            .address_step
            .map_or(max_step, u16::from)
            .min(max_step)
            .max(1);
        self.chips = (0..chain_len)
            .map(|index| {
                // (len - 1) * (256 / len) < 256: always a valid address.
                let address = u8::try_from(index * self.address_step).unwrap_or(u8::MAX);
                Chip {
                    info: ChipInfo {
                        index: usize::from(index),
                        address,
                        kind: chip,
                    },
                    nonces: 0,
                    hw_errors: 0,
                    stale: 0,
                    missed_polls: 0,
                    last_seen: None,
                    silent: false,
                    answered_poll: false,
                    rate: RateWindow::new(self.cfg.hashrate_window),
                }
            })
            .collect();
        self.push_event(ChainEvent::Enumerated {
            chips: self.chips(),
        });

        self.queue_command(Command::ChainInactive);
        let addresses: Vec<u8> = self.chips.iter().map(|c| c.info.address).collect();
        for address in addresses {
            self.queue_command(Command::SetChipAddress { address });
        }
        if let Some(open_core) = misc_control_open_core(chip) {
            self.queue_write(Destination::Broadcast, MISC_CONTROL, open_core);
        }
        for write in self.cfg.extra_writes.clone() {
            self.queue_write(Destination::Broadcast, write.register, write.value);
        }
        let pll = pll_for_frequency(chip, self.cfg.start_frequency);
        if let Ok(pll) = pll {
            self.queue_write(Destination::Broadcast, PLL_DIVIDER, pll.to_register(chip));
            self.achieved = pll.frequency();
        }
        self.current_point = self.cfg.start_frequency;
        if let Ok(mask) = ticket_mask_for_difficulty(u64::from(self.cfg.ticket_difficulty)) {
            self.queue_write(Destination::Broadcast, TICKET_MASK, mask);
        }
        if chip.has_hardware_version_rolling() {
            if let Ok(value) = version_rolling_register(self.cfg.version_mask) {
                self.queue_write(Destination::Broadcast, VERSION_ROLLING, value);
                // Every response after this write is 11 bytes long.
                self.parser.set_layout(ResponseLayout::new(chip, true));
            }
        }
        self.programmed_mask = self.cfg.version_mask;
        let hcn = match (self.cfg.hcn, pll) {
            (HcnMode::Fixed(value), _) => Some(value),
            (HcnMode::Formula, Ok(pll)) => self.formula_hcn(&pll),
            (HcnMode::Formula, Err(_)) => None,
        };
        if let Some(value) = hcn {
            self.queue_write(Destination::Broadcast, HASH_COUNTING_NUMBER, value);
            self.last_hcn = Some(value);
        }
        if chip == ChipKind::Bm1370 {
            let offsets: Vec<(u8, u32)> = self
                .chips
                .iter()
                .filter_map(|c| {
                    let index = u16::try_from(c.info.index).ok()?;
                    Some((c.info.address, chip_nonce_offset(index, chain_len).ok()?))
                })
                .collect();
            for (address, value) in offsets {
                self.queue_write(Destination::Chip(address), CHIP_NONCE_OFFSET, value);
            }
        }
        // Validated in new().
        let divider = divider_for_baud(self.cfg.target_baud).unwrap_or(26);
        let (register, value) = if chip == ChipKind::Bm1397 {
            // The BM1397's divider lives in MISC_CONTROL bits 12-8 (5 bits,
            // checked in validate()).
            (
                MISC_CONTROL,
                bm1397_misc_baud_register(divider).unwrap_or(0x0000_7A31),
            )
        } else {
            (UART_BAUD, uart_baud_register(divider))
        };
        let frame = Command::WriteRegister {
            destination: Destination::Broadcast,
            register,
            value,
        }
        .to_frame();
        self.tx.push_back(TxItem {
            bytes: frame.as_bytes().to_vec(),
            then_set_baud: Some(baud_for_divider(divider)),
            is_job: false,
        });
        self.phase = Phase::Configuring { settle_at: None };
    }

    fn formula_hcn(&self, pll: &PllConfig) -> Option<u32> {
        if self.cfg.chip == ChipKind::Bm1397 {
            // ESP-Miner never writes HCN to a BM1397; neither does this
            // driver unless configured with a fixed value.
            return None;
        }
        let chain_len = u16::try_from(self.chips.len()).ok()?;
        hash_counting_number(self.cfg.chip, chain_len, pll).ok()
    }

    /// The baud-switch chunk has been handed to the IO layer.
    fn on_baud_handed_out(&mut self, baud: u32) {
        self.host_baud = baud;
        // Bytes straddling the switch are garbage at either rate.
        self.parser.clear();
        self.push_event(ChainEvent::BaudChanged { baud });
        if let Phase::Configuring { settle_at } = &mut self.phase {
            *settle_at = Some(self.now.plus(self.cfg.baud_settle));
        }
    }

    fn send_link_check(&mut self, attempt: u32, now: Timestamp) {
        let answered = match &self.phase {
            Phase::LinkCheck { answered, .. } => answered.clone(),
            _ => vec![false; self.chips.len()],
        };
        self.queue_command(Command::ReadRegister {
            destination: Destination::Broadcast,
            register: CHIP_ID,
        });
        self.phase = Phase::LinkCheck {
            attempt,
            sent_at: now,
            answered,
        };
    }

    fn link_check_timed_out(&mut self, attempt: u32, answered: &[bool], now: Timestamp) {
        if attempt <= self.cfg.max_retries {
            self.send_link_check(attempt + 1, now);
        } else {
            self.fail(FailReason::LinkCheck {
                answered: answered.iter().filter(|a| **a).count(),
                expected: self.chips.len(),
                baud: self.host_baud,
                attempts: attempt,
            });
        }
    }

    fn become_ready(&mut self, now: Timestamp) {
        self.phase = Phase::Running;
        for chip in &mut self.chips {
            chip.last_seen = Some(chip.last_seen.unwrap_or(now));
            chip.silent = false;
            chip.rate.start(now);
        }
        self.chain_rate.start(now);
        self.next_poll_at = now.plus(self.cfg.health_poll_interval);
        self.poll_sent_at = None;
        self.push_event(ChainEvent::Ready {
            chips: self.chips.len(),
            baud: self.host_baud,
            frequency: self.achieved,
        });
        if let Some(target) = self.pending_target.take() {
            self.plan_ramp(target, now);
        }
    }

    // ----- running -----

    fn running_timeouts(&mut self, now: Timestamp) {
        // Frequency ramp: at most one step per call, so a late call never
        // makes two steps closer than the interval.
        if !self.ramp.points.is_empty() && now >= self.ramp.next_at {
            self.ramp_step(now);
        }
        // Close the health poll in flight.
        if let Some(sent) = self.poll_sent_at {
            if now >= sent.plus(self.cfg.exchange_timeout) {
                for chip in &mut self.chips {
                    if !chip.answered_poll {
                        chip.missed_polls = chip.missed_polls.saturating_add(1);
                    }
                }
                self.poll_sent_at = None;
            }
        }
        if now >= self.next_poll_at {
            if self.poll_sent_at.is_none() {
                for chip in &mut self.chips {
                    chip.answered_poll = false;
                }
                self.queue_command(Command::ReadRegister {
                    destination: Destination::Broadcast,
                    register: CHIP_ID,
                });
                self.poll_sent_at = Some(now);
            }
            self.next_poll_at = now.plus(self.cfg.health_poll_interval);
        }
        let silence = self.cfg.chip_silence_timeout;
        let mut newly_silent = Vec::new();
        for chip in &mut self.chips {
            let overdue = chip.last_seen.is_some_and(|seen| now >= seen.plus(silence));
            if !chip.silent && overdue {
                chip.silent = true;
                newly_silent.push(chip.info.index);
            }
        }
        for index in newly_silent {
            self.push_event(ChainEvent::ChipSilent { index });
        }
    }

    fn plan_ramp(&mut self, target: FreqKhz, now: Timestamp) -> usize {
        self.target = target;
        self.ramp.points = frequency_ramp(self.current_point, target).skip(1).collect();
        let earliest = self
            .last_step_at
            .map_or(now, |last| last.plus(self.cfg.ramp_step_interval));
        self.ramp.next_at = now.max(earliest);
        if self.ramp.points.is_empty() {
            self.push_event(ChainEvent::FrequencyReached {
                frequency: self.achieved,
            });
        }
        self.ramp.points.len()
    }

    fn ramp_step(&mut self, now: Timestamp) {
        let Some(point) = self.ramp.points.pop_front() else {
            return;
        };
        let chip = self.cfg.chip;
        if let Ok(pll) = pll_for_frequency(chip, point) {
            self.queue_write(Destination::Broadcast, PLL_DIVIDER, pll.to_register(chip));
            self.achieved = pll.frequency();
            if self.cfg.hcn == HcnMode::Formula {
                if let Some(value) = self.formula_hcn(&pll) {
                    if self.last_hcn != Some(value) {
                        self.queue_write(Destination::Broadcast, HASH_COUNTING_NUMBER, value);
                        self.last_hcn = Some(value);
                    }
                }
            }
        }
        self.current_point = point;
        self.last_step_at = Some(now);
        self.ramp.next_at = now.plus(self.cfg.ramp_step_interval);
        if self.ramp.points.is_empty() {
            self.push_event(ChainEvent::FrequencyReached {
                frequency: self.achieved,
            });
        }
    }

    // ----- receive path -----

    fn on_response(&mut self, item: Result<Response, FrameError>, now: Timestamp) {
        match item {
            Ok(Response::Register(register)) => self.on_register(register, now),
            Ok(Response::Nonce(nonce)) => self.on_nonce(nonce, now),
            Err(FrameError::Crc { last_byte }) => self.trouble(WarningKind::CrcError, || {
                format!("response frame failed its CRC5 check (last byte {last_byte:#04x})")
            }),
            Err(error) => self.trouble(WarningKind::MalformedFrame, || {
                format!("malformed response frame: {error}")
            }),
        }
    }

    fn on_register(&mut self, register: RegisterResponse, now: Timestamp) {
        let expecting_ids = matches!(
            self.phase,
            Phase::Discovering { .. } | Phase::LinkCheck { .. } | Phase::Running
        );
        if !expecting_ids || register.register != CHIP_ID {
            self.trouble(WarningKind::UnexpectedRegister, || {
                format!(
                    "unexpected answer for register {:#04x} = {:#010x} from chip address {:#04x}",
                    register.register, register.value, register.chip_addr
                )
            });
            return;
        }
        let identity = ChipIdentity::from_register(register.value);
        if identity.id != self.cfg.chip.id() {
            let configured = self.cfg.chip;
            self.trouble(WarningKind::UnknownChipId, || match identity.kind() {
                Ok(kind) => format!(
                    "a {kind:?} (id {:#06x}) answered on a chain configured for {configured:?}; ignored",
                    identity.id
                ),
                Err(_) => format!("unknown chip id {:#06x}; ignored", identity.id),
            });
            return;
        }
        if let Phase::Discovering {
            answers,
            last_answer,
            ..
        } = &mut self.phase
        {
            *answers += 1;
            *last_answer = Some(now);
            let count = *answers;
            let expected = self.cfg.expected_chips;
            if count > usize::from(MAX_CHAIN_LEN) {
                self.fail(FailReason::TooManyChips { found: count });
            } else if expected > 0 && count == expected {
                self.finish_discovery(count);
            }
            return;
        }
        let Some(index) = self.index_for_address(register.chip_addr) else {
            self.trouble(WarningKind::UnknownChipAddress, || {
                format!(
                    "chip-id answer from address {:#04x}, which no chip was given",
                    register.chip_addr
                )
            });
            return;
        };
        self.mark_seen(index, now);
        if let Some(chip) = self.chips.get_mut(index) {
            chip.answered_poll = true;
        }
        if let Phase::LinkCheck { answered, .. } = &mut self.phase {
            if let Some(flag) = answered.get_mut(index) {
                *flag = true;
            }
            if answered.iter().all(|a| *a) {
                self.become_ready(now);
            }
        }
    }

    fn index_for_address(&self, address: u8) -> Option<usize> {
        let step = self.address_step.max(1);
        let address = u16::from(address);
        if address % step != 0 {
            return None;
        }
        let index = usize::from(address / step);
        (index < self.chips.len()).then_some(index)
    }

    /// Which chip a nonce came from: BM1370 by nonce-offset range, BM1366 and
    /// BM1368 by the address bits in the nonce. `Err` carries an address
    /// that matches no chip.
    fn attribute(&self, nonce: &NonceResponse) -> Result<Option<usize>, u8> {
        let chip = self.cfg.chip;
        let chain_len = self.chips.len();
        if chain_len == 0 {
            return Ok(None);
        }
        match chip {
            ChipKind::Bm1370 => {
                let len = u16::try_from(chain_len).unwrap_or(MAX_CHAIN_LEN);
                Ok(chip_index_for_nonce(nonce.nonce, len)
                    .ok()
                    .map(usize::from)
                    .filter(|index| *index < chain_len))
            }
            _ => match nonce.chip_address(chip) {
                Some(address) => {
                    let mut matching = self
                        .chips
                        .iter()
                        .filter(|c| c.info.address & 0xFE == address);
                    match (matching.next(), matching.next()) {
                        (Some(found), None) => Ok(Some(found.info.index)),
                        (Some(_), Some(_)) => Ok(None),
                        (None, _) => Err(address),
                    }
                }
                None => Ok(None),
            },
        }
    }

    fn on_nonce(&mut self, response: NonceResponse, now: Timestamp) {
        let chip_index = match self.attribute(&response) {
            Ok(index) => index,
            Err(address) => {
                self.trouble(WarningKind::UnknownChipAddress, || {
                    format!("nonce carries chip address {address:#04x}, which no chip was given")
                });
                None
            }
        };
        let job = match self.jobs.lookup(response.job_id) {
            Lookup::Active(job) => job.clone(),
            Lookup::Retired | Lookup::Unknown => {
                let retired = matches!(self.jobs.lookup(response.job_id), Lookup::Retired);
                if let Some(chip) = chip_index.and_then(|i| self.chips.get_mut(i)) {
                    chip.stale = chip.stale.saturating_add(1);
                }
                let job_id = response.job_id;
                if retired {
                    self.trouble(WarningKind::StaleJob, || {
                        format!("nonce for retired job id {job_id}; not reported")
                    });
                } else {
                    self.trouble(WarningKind::UnknownJob, || {
                        format!("nonce for job id {job_id}, which was never sent; not reported")
                    });
                }
                return;
            }
        };
        if job.midstates > 0 {
            self.on_midstate_nonce(&response, &job, chip_index, now);
            return;
        }
        let rolled_bits = u32::from(response.version_bits.unwrap_or(0)) << VERSION_BITS_SHIFT;
        if rolled_bits & !job.mask != 0 {
            self.hw_error(chip_index);
            let mask = job.mask;
            self.trouble(WarningKind::VersionOutsideMask, || {
                format!(
                    "nonce rolled version bits {rolled_bits:#010x} outside the job mask {mask:#010x}; not reported"
                )
            });
            return;
        }
        let version = job.frame.version | rolled_bits;
        self.verify_and_report(&response, &job, version, chip_index, now);
    }

    /// BM1397: the result header's low bits name the midstate, hence the
    /// version the host computed it for.
    fn on_midstate_nonce(
        &mut self,
        response: &NonceResponse,
        job: &ActiveJob,
        chip_index: Option<usize>,
        now: Timestamp,
    ) {
        let index = response.small_core_id;
        if index >= job.midstates {
            self.hw_error(chip_index);
            let count = job.midstates;
            self.trouble(WarningKind::VersionOutsideMask, || {
                format!(
                    "nonce names midstate {index} of a job with {count} midstates; not reported"
                )
            });
            return;
        }
        let version = midstate_version(job.frame.version, job.mask, index);
        self.verify_and_report(response, job, version, chip_index, now);
    }

    /// Hash the rebuilt header, drop hardware errors and repeats, report.
    fn verify_and_report(
        &mut self,
        response: &NonceResponse,
        job: &ActiveJob,
        version: u32,
        chip_index: Option<usize>,
        now: Timestamp,
    ) {
        let header = job.frame.block_header(response.nonce, version);
        let zero_bits = header_zero_bits(&header);
        let required = self.cfg.required_zero_bits();
        if zero_bits < required {
            self.hw_error(chip_index);
            let nonce = response.nonce;
            self.trouble(WarningKind::BadNonce, || {
                format!(
                    "nonce {nonce:#010x} for job {} hashes to {zero_bits} zero bits, {required} required: hardware error, not reported",
                    job.host_id
                )
            });
            return;
        }
        let key = (job.host_id, response.nonce, version);
        if self.recent.contains(&key) {
            let nonce = response.nonce;
            self.trouble(WarningKind::DuplicateNonce, || {
                format!(
                    "nonce {nonce:#010x} for job {} reported twice; reported once",
                    job.host_id
                )
            });
            return;
        }
        if self.recent.len() >= DUPLICATE_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back(key);

        self.nonces = self.nonces.saturating_add(1);
        self.chain_rate.record(now);
        match chip_index {
            Some(index) => {
                if let Some(chip) = self.chips.get_mut(index) {
                    chip.nonces = chip.nonces.saturating_add(1);
                    chip.rate.record(now);
                }
                self.mark_seen(index, now);
            }
            None => self.unattributed = self.unattributed.saturating_add(1),
        }
        self.push_event(ChainEvent::Nonce(FoundNonce {
            job_id: job.host_id,
            nonce: response.nonce,
            version,
            ntime: job.frame.ntime,
            chip: chip_index,
            core_id: response.core_id(self.cfg.chip),
            small_core_id: response.small_core_id,
            zero_bits,
            found_at: now,
            heat_only: job.heat_only,
        }));
    }

    fn hw_error(&mut self, chip_index: Option<usize>) {
        if let Some(chip) = chip_index.and_then(|i| self.chips.get_mut(i)) {
            chip.hw_errors = chip.hw_errors.saturating_add(1);
        }
    }

    fn mark_seen(&mut self, index: usize, now: Timestamp) {
        let running = matches!(self.phase, Phase::Running);
        let Some(chip) = self.chips.get_mut(index) else {
            return;
        };
        chip.last_seen = Some(now);
        if chip.silent {
            chip.silent = false;
            if running {
                self.push_event(ChainEvent::ChipBack { index });
            }
        }
    }

    // ----- plumbing -----

    fn queue_command(&mut self, command: Command) {
        self.tx.push_back(TxItem {
            bytes: command.to_frame().as_bytes().to_vec(),
            then_set_baud: None,
            is_job: false,
        });
    }

    fn queue_write(&mut self, destination: Destination, register: u8, value: u32) {
        self.queue_command(Command::WriteRegister {
            destination,
            register,
            value,
        });
    }

    fn push_event(&mut self, event: ChainEvent) {
        if self.events.len() < MAX_QUEUED_EVENTS {
            self.events.push_back(event);
        } else {
            self.errors.bump(WarningKind::EventsDropped);
            // One slot is kept for the warning itself.
            if self.warned & WarningKind::EventsDropped.bit() == 0 {
                self.warned |= WarningKind::EventsDropped.bit();
                if let Some(last) = self.events.back_mut() {
                    *last = ChainEvent::Warning {
                        kind: WarningKind::EventsDropped,
                        detail: format!(
                            "event queue full ({MAX_QUEUED_EVENTS}); events are being dropped"
                        ),
                    };
                }
            }
        }
    }

    /// Count `kind`; the first time, also report it.
    fn trouble(&mut self, kind: WarningKind, detail: impl FnOnce() -> String) {
        self.errors.bump(kind);
        if self.warned & kind.bit() == 0 {
            self.warned |= kind.bit();
            self.push_event(ChainEvent::Warning {
                kind,
                detail: detail(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_driver_has_no_deadline_and_sends_nothing() {
        let mut driver =
            ChainDriver::new(ChainConfig::default()).unwrap_or_else(|_| unreachable!());
        assert_eq!(driver.state(), ChainState::Idle);
        assert_eq!(driver.next_deadline(), None);
        assert_eq!(driver.poll_transmit(), None);
        assert!(driver.send_job(&test_job(), Timestamp(0)).is_err());
        driver.stop(Timestamp(0));
        assert_eq!(driver.poll_transmit(), None);
        assert_eq!(driver.poll_event(), Some(ChainEvent::Stopped));
    }

    fn test_job() -> Job {
        Job {
            id: 1,
            version: 0x2000_0000,
            version_mask: 0x1FFF_E000,
            prev_block_hash: [0; 32],
            merkle_root: [0; 32],
            ntime: 0,
            nbits: 0,
            clean: false,
            heat_only: true,
        }
    }
}
