//! Simulated BM13xx chains that speak the real bytes.
//!
//! A sans-IO model of a daisy chain of BM13xx chips: the host's bytes go in
//! ([`SimChain::receive`]), the chips' bytes come out ([`SimChain::transmit`]),
//! and simulated time is an argument ([`SimChain::advance`]). No threads, no
//! async, no IO: a daemon wraps it in a pty or an in-memory duplex, a test
//! drives it directly. Every frame is built and parsed with the real codec
//! (`hearth-bm13xx`), and every nonce it reports is a real one: its header
//! double-SHA-256es to at least [`SimChainConfig::sim_zero_bits`] leading zero
//! bits.
//!
//! # What the chips do
//!
//! - **Framing**: host bytes go through the codec's `HostFrameParser`
//!   (bounded buffer). Garbage and frames with a bad CRC5/CRC16 are dropped
//!   and counted ([`SimChainStats`]), as real chips drop them.
//! - **Enumeration**: a broadcast read of register 0x00 makes every reachable
//!   chip answer with its CHIP_ID (`13 70 00 <addr>` for a BM1370), in chain
//!   order. Chips come out of reset with address 0 and *awaiting* an address;
//!   each set-address command gives its address to the first reachable chip
//!   still awaiting one, in chain order; chain-inactive (`0x53`) makes every
//!   reachable chip await an address again. Set-address with nobody waiting is
//!   ignored.
//! - **Registers**: a 256-word register file per chip. Addressed reads and
//!   writes act on every reachable chip with that address (so before
//!   addressing, "chip 0" is all of them, as on a real chain); broadcast ones
//!   on every reachable chip. Reads answer in chain order in 9-byte frames, or
//!   11-byte frames once that chip's version rolling (0xA4, bit 31) is on.
//!   Writes with an effect: PLL0 0x08 (hash clock, decoded with the codec; a
//!   read-back shows the lock bit 31 when the dividers are valid), CHIP_NONCE_OFFSET
//!   0x0C, HCN 0x10 (a written 0 halts hashing), TICKET_MASK 0x14 (report
//!   rate), MISC_CONTROL 0x18 (bits 31-28 open the four core quarters; the
//!   chip reports **no nonces until the host opens the cores**, e.g. with
//!   0xF000C100, as real chips), UART_BAUD 0x28, VERSION_ROLLING 0xA4. CHIP_ID
//!   is read-only; other registers just store what is written.
//! - **Baud**: each chip has its own baud rate (reset 115,740); the chain's
//!   [`SimChain::baud`] is the first chip's. A write takes effect once its
//!   frame has been processed. A chip whose rate differs from the chain's can
//!   no longer hear or be heard, and (like a dead chip) cuts off the chips
//!   behind it, so write the baud register broadcast, as real firmware does.
//!   The BM1397 keeps its divider in MISC_CONTROL bits 12-8 (*unverified*).
//! - **Jobs**: 88-byte full-header job frames (CRC16 checked) reach every
//!   reachable BM1366/BM1368/BM1370; each keeps one job per job id and hashes
//!   the newest. A BM1397 chain reads job frames as midstate jobs (1-4
//!   host-computed midstates, the codec's `MidstateJobFrame`): each of a
//!   core's sub-cores hashes one midstate, and the 9-byte nonce frame's
//!   result header carries the job id and the midstate index, which names
//!   the version to the host.
//!
//! # Dead chips
//!
//! [`SimChain::set_chip_dead`] takes a chip off the line: it no longer answers,
//! takes addresses, receives jobs or hashes. By default
//! ([`DeadChipMode::SilencesDownstream`]) it also stops relaying, so every chip
//! behind it goes silent too: what a broken link in a daisy chain does and
//! what a driver sees as "the chain got shorter". [`DeadChipMode::SilencesOnlyItself`]
//! models a chip whose hashing/answering died but whose relay still works.
//! A revived chip keeps its registers and jobs (a link fault, not a reset).
//!
//! # Nonces: real hashes, real rate
//!
//! The CPU cannot find real difficulty-256 tickets, so the *content* and the
//! *timing* of reports are decoupled:
//!
//! - **When**: each chip reports as a Poisson process of rate
//!   `hashrate / (ticket_difficulty x 2^32)` per second, where hashrate is
//!   `f x small_cores x open_quarters/4` and the ticket difficulty is
//!   `2^popcount(TICKET_MASK)` (exactly the difficulty for valid masks).
//!   Inter-arrival times come from a per-chip ChaCha8 stream seeded from
//!   [`SimChainConfig::seed`], so a run is reproducible. A rate change (PLL,
//!   ticket mask, misc, HCN, job, dead/alive) redraws the next arrival.
//! - **What**: when a report is due, the chip continues its sweep of the job
//!   and reports the next candidate whose double SHA-256 has at least
//!   `sim_zero_bits` leading zero bits (Bitcoin sense, see
//!   [`leading_zero_bits`]). The sweep is ordered like the hardware: cores
//!   fastest (round robin over the open cores), then sub-cores (each hashes
//!   its own rolled version), then the nonce counter, then version batches;
//!   it never repeats a candidate within a job, and when the job's space is
//!   exhausted the chip goes idle.
//! - **Budget**: one [`SimChain::advance`] hashes at most
//!   [`SimChainConfig::max_hashes_per_advance`] candidates. Due reports that do
//!   not fit are carried (cursor and schedule are kept) and sent by later
//!   calls, counted as `nonces_late`. A chip more than 10 simulated seconds
//!   behind drops the excess reports (`nonces_skipped`) rather than lag
//!   forever. Advance in small steps (tens to hundreds of ms) for faithful
//!   timing.
//!
//! # Nonce layout (the codec's decoding, in the nonce's MSB-first reading)
//!
//! - BM1370: core id in bits 31-25; bits 24-0 are the core's counter, starting
//!   at `CHIP_NONCE_OFFSET << 9` when the host enabled the offset, otherwise at
//!   the simulator's own even split by chain position (the codec's
//!   `chip_nonce_offset` formula), so `chip_index_for_nonce` attributes nonces
//!   correctly either way. The counter sweeps `HCN x 2 x f / 25 MHz` nonces
//!   per version batch when HCN is written, else the chip's whole share.
//! - BM1366/BM1368: core id in bits 31-25, address bits 7-1 in bits 24-18,
//!   an 18-bit counter below.
//! - BM1397 (simulator's choice, *unverified*): core id in bits 31-24 (the
//!   codec's reading), the chip address in bits 23-16, a 16-bit counter;
//!   every core sweeps the counter once per midstate, so a job is exhausted
//!   after `cores x 2^16 x midstates` hashes per chip (seconds at real clock
//!   rates: the host must keep jobs coming, as on real chips). HCN is not
//!   used.
//! - The result header holds the job id and the sub-core, which is the low
//!   bits of the version index (as in the captures: sub-core 9 reported
//!   version bits `..9`). Version bits are the rolled bits of
//!   `VERSION_ROLLING`'s mask that the job's version has clear, so the host's
//!   `job.version | bits << 13` is exactly the hashed version.
//! - The "excess difficulty" byte is `2 x (zero bits - sim_zero_bits)`,
//!   saturated (half-bit steps above the simulated ticket).
//!
//! # Output
//!
//! Frames wait in a bounded queue (4,096 frames) until [`SimChain::transmit`]
//! drains them; when the host does not drain, the oldest are dropped and
//! counted. [`SimChain::corrupt_tx`] flips one bit (after the preamble) in
//! every n-th frame, which the host's parser rejects as a CRC error.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod chip;
mod hash;
pub mod pic;

use std::collections::VecDeque;

use hearth_bm13xx::registers::hcn::MAX_CHAIN_LEN;
use hearth_bm13xx::response::MAX_RESPONSE_LEN;
use hearth_bm13xx::{
    encode_nonce_response, encode_register_response, ChipKind, Command, DecodeError, Destination,
    HostFrame, HostFrameParser, JobFormat, NonceResponse, RegisterResponse, ResponseFrame,
};
use hearth_core::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use chip::{Outcome, SimChip, StoredJob};
pub use hash::{block_hash, leading_zero_bits};

/// Frames the output queue holds before dropping the oldest.
pub const TX_QUEUE_FRAMES: usize = 4096;
/// Longest simulated lag (us) a chip's owed reports may build up.
const MAX_BACKLOG_US: u64 = 10_000_000;

/// How a simulated chain is built.
#[derive(Debug, Clone, PartialEq)]
pub struct SimChainConfig {
    /// Chip model of every chip on the chain.
    pub chip: ChipKind,
    /// Chips on the chain (capped at 256, the address space).
    pub chips: usize,
    /// Seed of every random choice (report timing, corrupted bits).
    pub seed: u64,
    /// Leading zero bits a reported nonce's double-SHA256 must have
    /// (simulation-only ticket; real chips use the ticket mask).
    pub sim_zero_bits: u32,
    /// Cap on hashes the CPU spends per `advance` call (bounded work).
    pub max_hashes_per_advance: u64,
}

impl Default for SimChainConfig {
    fn default() -> Self {
        SimChainConfig {
            chip: ChipKind::Bm1370,
            chips: 1,
            seed: 0,
            sim_zero_bits: 12,
            max_hashes_per_advance: 200_000,
        }
    }
}

/// What a dead chip does to the chips behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeadChipMode {
    /// A dead chip stops relaying: it and every chip after it go silent (a
    /// broken link in a daisy chain). The default.
    #[default]
    SilencesDownstream,
    /// Only the dead chip goes silent; its relay keeps passing traffic.
    SilencesOnlyItself,
}

/// Counters since construction; they saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimChainStats {
    /// Bytes handed to [`SimChain::receive`].
    pub bytes_received: u64,
    /// Host frames decoded (commands and jobs).
    pub frames_received: u64,
    /// Register commands among them.
    pub commands_received: u64,
    /// Job frames among them.
    pub jobs_received: u64,
    /// Candidate frames dropped for a bad CRC5/CRC16.
    pub rx_crc_errors: u64,
    /// Candidate frames dropped for other defects (length, type, reserved bits).
    pub rx_other_errors: u64,
    /// Bytes skipped while looking for frames.
    pub rx_skipped_bytes: u64,
    /// Bytes dropped because the receive buffer was full.
    pub rx_dropped_bytes: u64,
    /// Valid frames no chip acted on (no reachable chip with the address,
    /// nobody awaiting an address, a job of the other format for the chain).
    pub frames_unclaimed: u64,
    /// Register read answers queued.
    pub register_responses_sent: u64,
    /// Nonce reports queued.
    pub nonces_sent: u64,
    /// Reports sent after a later `advance` than the one they were due in
    /// (the hashing budget ran out).
    pub nonces_late: u64,
    /// Owed reports given up because a chip fell more than 10 s behind.
    pub nonces_skipped: u64,
    /// Double SHA-256 computations.
    pub hashes: u64,
    /// Jobs whose whole nonce x version space a chip swept.
    pub jobs_exhausted: u64,
    /// Frames queued for the host (answers and nonces).
    pub tx_frames: u64,
    /// Bytes handed out by [`SimChain::transmit`].
    pub tx_bytes: u64,
    /// Frames dropped because the host did not drain the queue.
    pub tx_frames_dropped: u64,
    /// Frames sent with a flipped bit ([`SimChain::corrupt_tx`]).
    pub tx_frames_corrupted: u64,
    /// Times the chain's baud rate changed.
    pub baud_changes: u64,
}

/// A queued response frame.
#[derive(Debug, Clone, Copy)]
struct TxFrame {
    bytes: [u8; MAX_RESPONSE_LEN],
    len: u8,
}

impl TxFrame {
    fn new(frame: &ResponseFrame) -> TxFrame {
        let src = frame.as_bytes();
        let mut bytes = [0u8; MAX_RESPONSE_LEN];
        let len = src.len().min(MAX_RESPONSE_LEN);
        bytes[..len].copy_from_slice(&src[..len]);
        TxFrame {
            bytes,
            len: len as u8,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

/// A simulated chain of BM13xx chips; see the crate documentation.
#[derive(Debug, Clone)]
pub struct SimChain {
    cfg: SimChainConfig,
    chips: Vec<SimChip>,
    parser: HostFrameParser,
    tx: VecDeque<TxFrame>,
    dead_mode: DeadChipMode,
    corrupt_every: Option<u32>,
    corrupt_counter: u64,
    corrupt_rng: ChaCha8Rng,
    /// Latest simulated time seen (us); time never runs backwards here.
    now_us: u64,
    /// `now` of the previous `advance` (us), to tell late reports.
    last_advance_us: Option<u64>,
    stats: SimChainStats,
}

/// Per-stream seeds: SplitMix64 of the seed and a stream number.
fn stream_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One exponential inter-arrival time (us) at `rate` per second.
fn exponential_us(rng: &mut ChaCha8Rng, rate: f64) -> u64 {
    // u in (0, 1]: never ln(0).
    let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let seconds = -u.ln() / rate;
    // Float-to-int casts saturate; a negligible rate lands far in the future.
    (seconds * 1e6) as u64
}

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

impl SimChain {
    /// A chain fresh out of reset.
    #[must_use]
    pub fn new(cfg: SimChainConfig) -> SimChain {
        let count = cfg.chips.min(usize::from(MAX_CHAIN_LEN));
        let chips = (0..count)
            .map(|index| {
                let rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, index as u64));
                SimChip::new(cfg.chip, rng)
            })
            .collect();
        let corrupt_rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, u64::MAX));
        let job_format = JobFormat::for_chip(cfg.chip);
        SimChain {
            cfg,
            chips,
            parser: HostFrameParser::with_job_format(job_format),
            tx: VecDeque::new(),
            dead_mode: DeadChipMode::default(),
            corrupt_every: None,
            corrupt_counter: 0,
            corrupt_rng,
            now_us: 0,
            last_advance_us: None,
            stats: SimChainStats::default(),
        }
    }

    /// The configuration the chain was built with.
    #[must_use]
    pub fn config(&self) -> &SimChainConfig {
        &self.cfg
    }

    fn observe(&mut self, now: Timestamp) -> u64 {
        let us = now.as_millis().saturating_mul(1000);
        self.now_us = self.now_us.max(us);
        self.now_us
    }

    /// Which chips the host can reach right now, in chain order.
    fn reachable(&self) -> Vec<bool> {
        let chain_baud = self.baud();
        let mut path_ok = true;
        self.chips
            .iter()
            .map(|chip| {
                let in_sync = chip.baud() == chain_baud;
                let ok = path_ok && !chip.dead && in_sync;
                let relays = if chip.dead {
                    self.dead_mode == DeadChipMode::SilencesOnlyItself
                } else {
                    in_sync
                };
                path_ok = path_ok && relays;
                ok
            })
            .collect()
    }

    /// Bytes written by the host (any split; garbage and bad-CRC frames are
    /// dropped and counted, like real chips).
    pub fn receive(&mut self, bytes: &[u8], now: Timestamp) {
        let now_us = self.observe(now);
        self.stats.bytes_received = self.stats.bytes_received.saturating_add(bytes.len() as u64);
        let mut rest = bytes;
        loop {
            let taken = self.parser.push(rest);
            rest = rest.get(taken..).unwrap_or_default();
            while let Some(item) = self.parser.next_frame() {
                self.handle(item);
            }
            if rest.is_empty() {
                break;
            }
            if taken == 0 {
                // Cannot happen with the codec's 256-byte window (every frame
                // is shorter), but never spin: drop and count the rest.
                self.stats.rx_dropped_bytes = self
                    .stats
                    .rx_dropped_bytes
                    .saturating_add(rest.len() as u64);
                break;
            }
        }
        self.reschedule(now_us);
    }

    fn handle(&mut self, item: Result<HostFrame, DecodeError>) {
        // Errors are counted by the parser; the chips just drop them.
        let Ok(frame) = item else { return };
        bump(&mut self.stats.frames_received);
        let claimed = match frame {
            HostFrame::Job(job) => self.store_job(StoredJob::Full(job), true),
            HostFrame::MidstateJob(job) => self.store_job(StoredJob::Midstate(job), false),
            HostFrame::Command(command) => {
                bump(&mut self.stats.commands_received);
                self.command(command)
            }
        };
        if !claimed {
            bump(&mut self.stats.frames_unclaimed);
        }
    }

    /// Give a job to every reachable chip of the matching kind.
    fn store_job(&mut self, job: StoredJob, full_header: bool) -> bool {
        bump(&mut self.stats.jobs_received);
        let reachable = self.reachable();
        let mut claimed = false;
        for (chip, _) in self
            .chips
            .iter_mut()
            .zip(reachable)
            .filter(|(chip, ok)| *ok && chip.kind.takes_full_header_jobs() == full_header)
        {
            chip.store_job(job);
            claimed = true;
        }
        claimed
    }

    fn targets(&self, destination: Destination) -> Vec<usize> {
        self.reachable()
            .into_iter()
            .enumerate()
            .filter(|&(index, ok)| {
                ok && match destination {
                    Destination::Broadcast => true,
                    Destination::Chip(address) => {
                        self.chips.get(index).is_some_and(|c| c.address == address)
                    }
                }
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// Apply one register command; whether any chip acted on it.
    fn command(&mut self, command: Command) -> bool {
        match command {
            Command::ChainInactive => {
                let reachable = self.reachable();
                let mut claimed = false;
                for (chip, _) in self.chips.iter_mut().zip(reachable).filter(|(_, ok)| *ok) {
                    chip.awaiting_address = true;
                    claimed = true;
                }
                claimed
            }
            Command::SetChipAddress { address } => {
                let reachable = self.reachable();
                let next = self
                    .chips
                    .iter_mut()
                    .zip(reachable)
                    .find(|(chip, ok)| *ok && chip.awaiting_address);
                match next {
                    Some((chip, _)) => {
                        chip.set_address(address);
                        true
                    }
                    None => false,
                }
            }
            Command::WriteRegister {
                destination,
                register,
                value,
            } => {
                let baud_before = self.baud();
                let targets = self.targets(destination);
                for &index in &targets {
                    if let Some(chip) = self.chips.get_mut(index) {
                        chip.write(register, value);
                    }
                }
                if self.baud() != baud_before {
                    bump(&mut self.stats.baud_changes);
                }
                !targets.is_empty()
            }
            Command::ReadRegister {
                destination,
                register,
            } => {
                let targets = self.targets(destination);
                for &index in &targets {
                    let Some(chip) = self.chips.get(index) else {
                        continue;
                    };
                    let response = RegisterResponse {
                        value: chip.read(register),
                        chip_addr: chip.address,
                        register,
                        extra: [0, 0],
                    };
                    if let Ok(frame) = encode_register_response(&response, chip.layout()) {
                        self.queue(&frame);
                        bump(&mut self.stats.register_responses_sent);
                    }
                }
                !targets.is_empty()
            }
        }
    }

    fn queue(&mut self, frame: &ResponseFrame) {
        let mut tx = TxFrame::new(frame);
        self.corrupt_counter = self.corrupt_counter.wrapping_add(1);
        if let Some(every) = self.corrupt_every.filter(|n| *n > 0) {
            if self.corrupt_counter % u64::from(every) == 0 {
                // One bit after the preamble: the frame is still found, and
                // its CRC5 fails (every single-bit error is detected).
                let body_bits = (usize::from(tx.len).saturating_sub(2) * 8).max(1) as u64;
                let bit = (self.corrupt_rng.next_u64() % body_bits) as usize;
                if let Some(byte) = tx.bytes.get_mut(2 + bit / 8) {
                    *byte ^= 0x80 >> (bit % 8);
                    bump(&mut self.stats.tx_frames_corrupted);
                }
            }
        }
        if self.tx.len() >= TX_QUEUE_FRAMES {
            self.tx.pop_front();
            bump(&mut self.stats.tx_frames_dropped);
        }
        self.tx.push_back(tx);
        bump(&mut self.stats.tx_frames);
    }

    /// Bring every chip's report schedule in line with its current rate: idle
    /// or unreachable chips have none; a changed rate redraws the next report
    /// from `now_us`; a chip too far behind drops the excess.
    fn reschedule(&mut self, now_us: u64) {
        let reachable = self.reachable();
        for (chip, ok) in self.chips.iter_mut().zip(reachable) {
            let rate = if ok { chip.report_rate() } else { 0.0 };
            if rate <= 0.0 || !rate.is_finite() {
                chip.next_due_us = None;
                chip.scheduled_rate = 0.0;
                continue;
            }
            if chip.next_due_us.is_none() || rate != chip.scheduled_rate {
                chip.scheduled_rate = rate;
                let wait = exponential_us(&mut chip.rng, rate);
                chip.next_due_us = Some(now_us.saturating_add(wait));
            }
            if let Some(due) = chip.next_due_us {
                let floor = now_us.saturating_sub(MAX_BACKLOG_US);
                if due < floor {
                    let owed = (floor - due) as f64 / 1e6 * rate;
                    self.stats.nonces_skipped =
                        self.stats.nonces_skipped.saturating_add(owed as u64 + 1);
                    chip.next_due_us = Some(floor);
                }
            }
        }
    }

    /// Advance simulated time: chips that have a job and a frequency find
    /// nonces and queue responses, in time order across the chain, spending at
    /// most `max_hashes_per_advance` hashes.
    pub fn advance(&mut self, now: Timestamp) {
        let now_us = self.observe(now);
        self.reschedule(now_us);
        let previous = self.last_advance_us.replace(now_us);
        let mut budget = self.cfg.max_hashes_per_advance;
        let chain_len = self.chips.len();
        let zero_bits = self.cfg.sim_zero_bits;
        loop {
            let next = self
                .chips
                .iter()
                .enumerate()
                .filter_map(|(index, chip)| chip.next_due_us.map(|due| (due, index)))
                .filter(|&(due, _)| due <= now_us)
                .min();
            let Some((due, index)) = next else { break };
            if budget == 0 {
                break;
            }
            let Some(chip) = self.chips.get_mut(index) else {
                break;
            };
            let outcome = chip.search(
                index,
                chain_len,
                zero_bits,
                &mut budget,
                &mut self.stats.hashes,
            );
            match outcome {
                Outcome::Found(found) => {
                    let wait = exponential_us(&mut chip.rng, chip.scheduled_rate);
                    chip.next_due_us = Some(due.saturating_add(wait));
                    let layout = chip.layout();
                    let extra = found.zero_bits.saturating_sub(zero_bits).saturating_mul(2);
                    let response = NonceResponse {
                        nonce: found.nonce,
                        excess_difficulty: u8::try_from(extra).unwrap_or(u8::MAX),
                        job_id: found.job_id,
                        small_core_id: found.small_core_id,
                        version_bits: found.version_bits,
                    };
                    if let Ok(frame) = encode_nonce_response(&response, layout) {
                        self.queue(&frame);
                        bump(&mut self.stats.nonces_sent);
                        if previous.is_some_and(|prev| due <= prev) {
                            bump(&mut self.stats.nonces_late);
                        }
                    }
                }
                Outcome::Exhausted => {
                    chip.next_due_us = None;
                    chip.scheduled_rate = 0.0;
                    bump(&mut self.stats.jobs_exhausted);
                }
                Outcome::Idle => {
                    chip.next_due_us = None;
                    chip.scheduled_rate = 0.0;
                }
                Outcome::OutOfBudget => break,
            }
        }
    }

    /// Drain bytes the chain sends to the host, appended to `out`.
    pub fn transmit(&mut self, out: &mut Vec<u8>) {
        for frame in self.tx.drain(..) {
            out.extend_from_slice(frame.as_bytes());
            self.stats.tx_bytes = self.stats.tx_bytes.saturating_add(u64::from(frame.len));
        }
    }

    /// Bytes waiting for [`SimChain::transmit`].
    #[must_use]
    pub fn pending_tx_bytes(&self) -> usize {
        self.tx.iter().map(|frame| usize::from(frame.len)).sum()
    }

    /// Current UART baud of the chain: the first chip's rate (115,740 out of
    /// reset; changes once a write of the baud register has been processed).
    #[must_use]
    pub fn baud(&self) -> u32 {
        self.chips
            .first()
            .map_or_else(|| chip::reset_baud(self.cfg.chip), SimChip::baud)
    }

    /// Chips on the chain, reachable or not.
    #[must_use]
    pub fn chip_count(&self) -> usize {
        self.chips.len()
    }

    /// The address chip `idx` (chain position) holds; chips start at 0.
    /// `None` past the end of the chain.
    #[must_use]
    pub fn chip_address(&self, idx: usize) -> Option<u8> {
        self.chips.get(idx).map(|chip| chip.address)
    }

    /// Chip `idx`'s hash clock (MHz) from its PLL0 register; 0 past the end.
    #[must_use]
    pub fn chip_freq_mhz(&self, idx: usize) -> f64 {
        self.chips
            .get(idx)
            .map_or(0.0, |chip| f64::from(chip.freq_khz()) / 1000.0)
    }

    /// Raw register value of chip `idx` as a read would answer it.
    #[must_use]
    pub fn chip_register(&self, idx: usize, register: u8) -> Option<u32> {
        self.chips.get(idx).map(|chip| chip.read(register))
    }

    /// Hashrate (GH/s) of chip `idx` on its current work: `f x small cores x
    /// open quarters / 4 / 1000` while it has a job and is reachable, else 0.
    #[must_use]
    pub fn chip_hashrate_ghs(&self, idx: usize) -> f64 {
        let reachable = self.reachable();
        match (self.chips.get(idx), reachable.get(idx)) {
            (Some(chip), Some(true)) => chip.hashrate_hps() / 1e9,
            _ => 0.0,
        }
    }

    /// Sum of [`SimChain::chip_hashrate_ghs`]: what the host should measure
    /// from the nonces (`nonces/s x ticket difficulty x 2^32`).
    #[must_use]
    pub fn expected_hashrate_ghs(&self) -> f64 {
        let reachable = self.reachable();
        self.chips
            .iter()
            .zip(reachable)
            .filter(|(_, ok)| *ok)
            .map(|(chip, _)| chip.hashrate_hps() / 1e9)
            .sum()
    }

    /// Expected nonce reports per second over the whole chain.
    #[must_use]
    pub fn expected_nonce_rate(&self) -> f64 {
        let reachable = self.reachable();
        self.chips
            .iter()
            .zip(reachable)
            .filter(|(_, ok)| *ok)
            .map(|(chip, _)| chip.report_rate())
            .sum()
    }

    /// Take chip `idx` off the line (or put it back); see [`DeadChipMode`].
    pub fn set_chip_dead(&mut self, idx: usize, dead: bool) {
        if let Some(chip) = self.chips.get_mut(idx) {
            chip.dead = dead;
        }
        self.reschedule(self.now_us);
    }

    /// Whether chip `idx` is marked dead.
    #[must_use]
    pub fn chip_is_dead(&self, idx: usize) -> bool {
        self.chips.get(idx).is_some_and(|chip| chip.dead)
    }

    /// Whether the host can currently reach chip `idx`.
    #[must_use]
    pub fn chip_reachable(&self, idx: usize) -> bool {
        self.reachable().get(idx).copied().unwrap_or(false)
    }

    /// Choose what a dead chip does to the chips behind it (default:
    /// [`DeadChipMode::SilencesDownstream`]).
    pub fn set_dead_chip_mode(&mut self, mode: DeadChipMode) {
        self.dead_mode = mode;
        self.reschedule(self.now_us);
    }

    /// Flip one bit in every n-th response frame from now on (CRC errors on
    /// the line); `None` or `Some(0)` stops it.
    pub fn corrupt_tx(&mut self, every_nth_frame: Option<u32>) {
        self.corrupt_every = every_nth_frame.filter(|n| *n > 0);
        self.corrupt_counter = 0;
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> SimChainStats {
        let parser = self.parser.stats();
        SimChainStats {
            rx_crc_errors: parser.crc_errors,
            rx_other_errors: parser.other_errors,
            rx_skipped_bytes: parser.skipped_bytes,
            ..self.stats
        }
    }
}
