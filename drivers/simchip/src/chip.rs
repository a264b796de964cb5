//! One simulated chip: its register file, its job table, and the nonce search
//! over its share of the nonce space.

use hearth_bm13xx::chip::ChipIdentity;
use hearth_bm13xx::registers::address::{
    CHIP_ID, CHIP_NONCE_OFFSET, HASH_COUNTING_NUMBER, MISC_CONTROL, PLL_DIVIDER, TICKET_MASK,
    UART_BAUD, VERSION_ROLLING,
};
use hearth_bm13xx::registers::baud::{baud_for_divider, divider_from_register, UART_BAUD_RESET};
use hearth_bm13xx::registers::misc::{report_enables, MISC_CONTROL_RESET};
use hearth_bm13xx::registers::nonce_offset::{chip_nonce_offset, nonce_offset_from_register};
use hearth_bm13xx::registers::pll::{frequency_from_register, pll_for_frequency, PllConfig};
use hearth_bm13xx::registers::version::{version_mask_from_register, VERSION_BITS_SHIFT};
use hearth_bm13xx::{ChipKind, FreqKhz, JobFrame, MidstateJobFrame, ResponseLayout};
use rand_chacha::ChaCha8Rng;

use crate::hash;

/// Job ids are 4 bits on full-header chips and 6 bits on the BM1397: the job
/// table has one slot per id.
pub(crate) const JOB_SLOTS: usize = 64;
/// The PLL0 lock flag a read-back shows once the dividers are valid.
const PLL_LOCKED: u32 = 1 << 31;
/// BM1397 MISC_CONTROL out of reset: baud divider 26 in bits 12-8
/// (*unverified*, from the codec's notes).
const BM1397_MISC_RESET: u32 = 0x0000_3A01;
/// Hash clock the chips come out of reset with (assumption: the real reset
/// PLL value is not captured; ESP-Miner's ramp starts near here).
const RESET_FREQUENCY: FreqKhz = FreqKhz(50_000);
/// Counter bits below the core id on the BM1370 (nonce fields bits 24-0).
const BM1370_COUNTER_BITS: u32 = 25;
/// Counter bits below the stamped address on the BM1366/BM1368 (bits 17-0).
const BM1366_COUNTER_BITS: u32 = 18;
/// BM1397 (simulator's choice, *unverified*): core id in bits 31-24 (the
/// codec's reading), the chip address in bits 23-16, a 16-bit counter below.
const BM1397_COUNTER_BITS: u32 = 16;
/// Nonce counter bits the 16-bit CHIP_NONCE_OFFSET sits above.
const NONCE_OFFSET_SHIFT: u32 = 9;

/// The baud rate a chip of this model comes out of reset with (115,740).
pub(crate) fn reset_baud(kind: ChipKind) -> u32 {
    match kind {
        ChipKind::Bm1397 => baud_for_divider(((BM1397_MISC_RESET >> 8) & 0x1F) as u8),
        _ => baud_for_divider(divider_from_register(UART_BAUD_RESET)),
    }
}

/// A nonce the search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub job_id: u8,
    pub nonce: u32,
    pub version_bits: Option<u16>,
    pub small_core_id: u8,
    pub zero_bits: u32,
}

/// What one search call ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Found(Found),
    /// The budget ran out; the cursor is kept for the next call.
    OutOfBudget,
    /// Every candidate of the job has been hashed.
    Exhausted,
    /// Nothing to hash (no job, halted, closed cores).
    Idle,
}

/// Where the search is in the current job.
#[derive(Debug, Clone, Default)]
struct SearchState {
    cursor: u64,
    exhausted: bool,
    /// Midstate of the version being swept, reused while it holds.
    midstate: Option<Midstate>,
}

#[derive(Debug, Clone, Copy)]
struct Midstate {
    job_id: u8,
    version_index: u64,
    roll_mask: u16,
    bits: u16,
    state: [u32; 8],
}

/// A job as a chip keeps it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoredJob {
    /// BM1366/BM1368/BM1370: the whole header; the chip rolls versions.
    Full(JobFrame),
    /// BM1397: host midstates, one per version.
    Midstate(MidstateJobFrame),
}

impl StoredJob {
    fn id(&self) -> u8 {
        match self {
            StoredJob::Full(job) => job.job_id.get(),
            StoredJob::Midstate(job) => job.job_id.get(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SimChip {
    pub kind: ChipKind,
    regs: [u32; 256],
    pub address: u8,
    /// Takes the next set-address command (reset state; chain inactive
    /// re-arms it).
    pub awaiting_address: bool,
    pub dead: bool,
    /// HCN was written since reset (an unwritten HCN means "whole slice").
    hcn_written: bool,
    jobs: [Option<StoredJob>; JOB_SLOTS],
    current_job: Option<u8>,
    search: SearchState,
    pub rng: ChaCha8Rng,
    /// Simulated time (us) the next nonce report is due.
    pub next_due_us: Option<u64>,
    /// Report rate (1/s) the schedule was drawn with.
    pub scheduled_rate: f64,
}

/// The chip's share of the nonce space and the order it sweeps it in.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    quarter_cores: u64,
    open_quarters: [u8; 4],
    open_count: u64,
    /// Sub-cores that roll versions (1 without rolling).
    subs: u64,
    /// Nonces one core sweeps per version batch.
    sweep: u64,
    counter_base: u32,
    counter_mask: u32,
    stamp: u32,
    /// Position of the core id (32 - its width).
    core_shift: u32,
    rolling: bool,
    roll_mask: u16,
    versions: u64,
    low_mask: u8,
}

enum Candidate {
    Hash {
        fields: u32,
        version_index: u64,
        small_core_id: u8,
    },
    /// Sub-cores without a version to roll: jump the cursor here.
    Skip(u64),
    Exhausted,
}

impl Geometry {
    fn candidate(&self, j: u64) -> Candidate {
        let core_slot = j % self.open_count;
        let r = j / self.open_count;
        let sub = r % self.subs;
        let r2 = r / self.subs;
        let counter = r2 % self.sweep;
        let batch = r2 / self.sweep;
        let version_index = if self.rolling {
            let batch_start = batch.saturating_mul(self.subs);
            if batch_start >= self.versions {
                return Candidate::Exhausted;
            }
            let index = batch_start + sub;
            if index >= self.versions {
                let next_r = (r / self.subs + 1).saturating_mul(self.subs);
                return Candidate::Skip(next_r.saturating_mul(self.open_count));
            }
            index
        } else {
            if batch > 0 {
                return Candidate::Exhausted;
            }
            0
        };
        let quarter_slot = usize::try_from(core_slot / self.quarter_cores).unwrap_or(0);
        let quarter = u64::from(self.open_quarters.get(quarter_slot).copied().unwrap_or(0));
        let core = quarter * self.quarter_cores + core_slot % self.quarter_cores;
        // counter < sweep <= 2^25, core < 256: the casts keep every bit.
        let counter_bits = (u64::from(self.counter_base) + counter) as u32 & self.counter_mask;
        let fields = ((core as u32) << self.core_shift) | self.stamp | counter_bits;
        let small_core_id = if self.rolling {
            sub as u8 & self.low_mask
        } else {
            counter as u8 & self.low_mask
        };
        Candidate::Hash {
            fields,
            version_index,
            small_core_id,
        }
    }
}

/// Spread the low bits of `value` over the set bits of `mask` (a software
/// PDEP): version index -> rolled version bits.
fn deposit(mut value: u64, mask: u16) -> u16 {
    let mut out = 0u16;
    let mut remaining = mask;
    while remaining != 0 {
        let bit = remaining & remaining.wrapping_neg();
        if value & 1 != 0 {
            out |= bit;
        }
        value >>= 1;
        remaining &= remaining - 1;
    }
    out
}

impl SimChip {
    pub fn new(kind: ChipKind, rng: ChaCha8Rng) -> SimChip {
        let mut regs = [0u32; 256];
        regs[usize::from(CHIP_ID)] = ChipIdentity {
            id: kind.id(),
            unknown: if kind == ChipKind::Bm1397 { 0x18 } else { 0 },
            address: 0,
        }
        .to_register();
        regs[usize::from(PLL_DIVIDER)] = pll_for_frequency(kind, RESET_FREQUENCY)
            .map(|pll| pll.to_register(kind))
            .unwrap_or(0);
        match kind {
            ChipKind::Bm1397 => regs[usize::from(MISC_CONTROL)] = BM1397_MISC_RESET,
            _ => {
                regs[usize::from(MISC_CONTROL)] = MISC_CONTROL_RESET;
                regs[usize::from(UART_BAUD)] = UART_BAUD_RESET;
            }
        }
        SimChip {
            kind,
            regs,
            address: 0,
            awaiting_address: true,
            dead: false,
            hcn_written: false,
            jobs: [None; JOB_SLOTS],
            current_job: None,
            search: SearchState::default(),
            rng,
            next_due_us: None,
            scheduled_rate: 0.0,
        }
    }

    fn reg(&self, register: u8) -> u32 {
        self.regs[usize::from(register)]
    }

    pub fn set_address(&mut self, address: u8) {
        self.address = address;
        let id = self.reg(CHIP_ID);
        self.regs[usize::from(CHIP_ID)] = (id & 0xFFFF_FF00) | u32::from(address);
        self.awaiting_address = false;
    }

    /// The value a register read answers with.
    pub fn read(&self, register: u8) -> u32 {
        let value = self.reg(register);
        if register == PLL_DIVIDER && PllConfig::from_register(value).is_ok() {
            value | PLL_LOCKED
        } else {
            value
        }
    }

    /// Apply a register write. Chip id is read-only.
    pub fn write(&mut self, register: u8, value: u32) {
        if register == CHIP_ID {
            return;
        }
        let before_rolling = self.version_rolling();
        self.regs[usize::from(register)] = value;
        match register {
            HASH_COUNTING_NUMBER => self.hcn_written = true,
            VERSION_ROLLING if self.version_rolling() != before_rolling => {
                // The sweep order and the frames change shape: start over.
                self.search = SearchState::default();
            }
            _ => {}
        }
    }

    pub fn store_job(&mut self, job: StoredJob) {
        let id = job.id();
        if let Some(slot) = self.jobs.get_mut(usize::from(id)) {
            *slot = Some(job);
            self.current_job = Some(id);
            self.search = SearchState::default();
        }
    }

    fn current_job(&self) -> Option<&StoredJob> {
        self.current_job
            .and_then(|id| self.jobs.get(usize::from(id)))
            .and_then(Option::as_ref)
    }

    pub fn has_job(&self) -> bool {
        self.current_job().is_some()
    }

    pub fn baud(&self) -> u32 {
        match self.kind {
            ChipKind::Bm1397 => baud_for_divider(((self.reg(MISC_CONTROL) >> 8) & 0x1F) as u8),
            _ => baud_for_divider(divider_from_register(self.reg(UART_BAUD))),
        }
    }

    pub fn freq_khz(&self) -> u32 {
        frequency_from_register(self.reg(PLL_DIVIDER))
            .map(FreqKhz::khz)
            .unwrap_or(0)
    }

    pub fn version_rolling(&self) -> bool {
        self.kind.has_hardware_version_rolling()
            && version_mask_from_register(self.reg(VERSION_ROLLING)).is_some()
    }

    pub fn layout(&self) -> ResponseLayout {
        ResponseLayout::new(self.kind, self.version_rolling())
    }

    /// Report-enable quarters (MISC_CONTROL bits 31-28); the BM1397 has no
    /// such gate.
    fn open_quarter_bits(&self) -> u8 {
        match self.kind {
            ChipKind::Bm1397 => 0x0F,
            _ => report_enables(self.reg(MISC_CONTROL)) & 0x0F,
        }
    }

    fn hcn_halted(&self) -> bool {
        self.hcn_written && self.reg(HASH_COUNTING_NUMBER) == 0
    }

    /// Ticket difficulty the chip reports at: the chip tests `hash & mask == 0`,
    /// so each set mask bit halves the report rate (exact for valid masks,
    /// honest for malformed ones).
    pub fn ticket_difficulty(&self) -> f64 {
        2f64.powi(self.reg(TICKET_MASK).count_ones() as i32)
    }

    /// Hashes per second the chip performs on its current work, 0 when idle.
    pub fn hashrate_hps(&self) -> f64 {
        if !self.has_job() || self.search.exhausted || self.hcn_halted() {
            return 0.0;
        }
        let open = f64::from(self.open_quarter_bits().count_ones()) / 4.0;
        f64::from(self.freq_khz()) * 1e3 * f64::from(self.kind.small_core_count()) * open
    }

    /// Nonce reports per second at the ticket difficulty.
    pub fn report_rate(&self) -> f64 {
        self.hashrate_hps() / (self.ticket_difficulty() * 4_294_967_296.0)
    }

    fn geometry(&self, index: usize, chain_len: usize) -> Option<Geometry> {
        let quarter_bits = self.open_quarter_bits();
        let mut open_quarters = [0u8; 4];
        let mut open = 0usize;
        for quarter in 0..4u8 {
            if quarter_bits & (1 << quarter) != 0 {
                if let Some(slot) = open_quarters.get_mut(open) {
                    *slot = quarter;
                }
                open += 1;
            }
        }
        let quarter_cores = u64::from(self.kind.core_count() / 4);
        let open_count = quarter_cores * open as u64;
        if open_count == 0 {
            return None;
        }
        let job = self.current_job()?;
        let rolling = self.version_rolling();
        let layout = self.kind.result_header_layout();
        let chain = u16::try_from(chain_len.max(1)).unwrap_or(u16::MAX);
        let me = u16::try_from(index).unwrap_or(0);
        let (counter_bits, counter_base, stamp, default_sweep) = match self.kind {
            ChipKind::Bm1370 => {
                // Start: the host's CHIP_NONCE_OFFSET if enabled, otherwise the
                // simulator's own even split (the codec's formula).
                let split = |i: u16| -> u64 {
                    if i >= chain {
                        1 << 16
                    } else {
                        chip_nonce_offset(i, chain)
                            .ok()
                            .and_then(nonce_offset_from_register)
                            .map_or(0, u64::from)
                    }
                };
                let base = nonce_offset_from_register(self.reg(CHIP_NONCE_OFFSET))
                    .map_or_else(|| split(me), u64::from);
                let share = split(me.saturating_add(1)).saturating_sub(split(me)).max(1);
                (
                    BM1370_COUNTER_BITS,
                    (base << NONCE_OFFSET_SHIFT) as u32,
                    0,
                    share << NONCE_OFFSET_SHIFT,
                )
            }
            ChipKind::Bm1366 | ChipKind::Bm1368 => (
                BM1366_COUNTER_BITS,
                0,
                u32::from(self.address >> 1) << BM1366_COUNTER_BITS,
                1 << BM1366_COUNTER_BITS,
            ),
            ChipKind::Bm1397 => (
                BM1397_COUNTER_BITS,
                0,
                u32::from(self.address) << BM1397_COUNTER_BITS,
                1 << BM1397_COUNTER_BITS,
            ),
        };
        let max_sweep = 1u64 << counter_bits;
        let sweep = if self.hcn_written {
            // HCN ticks of 25 MHz, two nonces per hash clock per core.
            let hcn = u64::from(self.reg(HASH_COUNTING_NUMBER));
            hcn.saturating_mul(2)
                .saturating_mul(u64::from(self.freq_khz()))
                / 25_000
        } else {
            default_sweep
        }
        .clamp(1, max_sweep);
        let (subs, roll_mask, versions, rolling) = match job {
            // Each of the (up to) four sub-cores hashes its own midstate; the
            // midstate index is the reported low field.
            StoredJob::Midstate(job) => {
                let count = u64::from(job.count());
                (count, 0, count, true)
            }
            StoredJob::Full(job) if rolling => {
                let mask = (self.reg(VERSION_ROLLING) & 0xFFFF) as u16;
                // Never roll bits the job's version already has set: base |
                // bits (the host's formula) then names each header exactly
                // once.
                let base_bits = (job.version >> VERSION_BITS_SHIFT) as u16;
                let roll_mask = mask & !base_bits;
                (
                    u64::from(self.kind.sub_cores_per_core()),
                    roll_mask,
                    1u64 << roll_mask.count_ones(),
                    true,
                )
            }
            StoredJob::Full(_) => (1, 0, 1, false),
        };
        Some(Geometry {
            quarter_cores,
            open_quarters,
            open_count,
            subs,
            sweep,
            counter_base,
            counter_mask: ((1u64 << counter_bits) - 1) as u32,
            stamp,
            core_shift: 32 - self.kind.nonce_core_id_bits(),
            rolling,
            roll_mask,
            versions,
            low_mask: layout.low_mask(),
        })
    }

    /// Hash candidates until one has `zero_bits` leading zero bits, the budget
    /// runs out, or the job's space is exhausted.
    pub fn search(
        &mut self,
        index: usize,
        chain_len: usize,
        zero_bits: u32,
        budget: &mut u64,
        hashes: &mut u64,
    ) -> Outcome {
        if self.search.exhausted {
            return Outcome::Exhausted;
        }
        let Some(geometry) = self.geometry(index, chain_len) else {
            return Outcome::Idle;
        };
        let Some(job) = self.current_job().copied() else {
            return Outcome::Idle;
        };
        let job_id = job.id();
        let mut first = [0u8; 64];
        let mut tail = [0u8; 16];
        match &job {
            StoredJob::Full(job) => {
                let template = job.block_header(0, job.version);
                first.copy_from_slice(&template[..64]);
                tail.copy_from_slice(&template[64..]);
            }
            StoredJob::Midstate(job) => {
                // The second block's 12 known bytes, as the chip has them.
                tail[0..4].copy_from_slice(&job.merkle_root_tail);
                tail[4..8].copy_from_slice(&job.ntime.to_le_bytes());
                tail[8..12].copy_from_slice(&job.nbits.to_le_bytes());
            }
        }
        let midstate_job = match &job {
            StoredJob::Midstate(job) => Some(*job),
            StoredJob::Full(_) => None,
        };
        loop {
            if *budget == 0 {
                return Outcome::OutOfBudget;
            }
            let (fields, version_index, small_core_id) =
                match geometry.candidate(self.search.cursor) {
                    Candidate::Exhausted => {
                        self.search.exhausted = true;
                        return Outcome::Exhausted;
                    }
                    Candidate::Skip(next) => {
                        self.search.cursor = next.max(self.search.cursor.saturating_add(1));
                        continue;
                    }
                    Candidate::Hash {
                        fields,
                        version_index,
                        small_core_id,
                    } => (fields, version_index, small_core_id),
                };
            self.search.cursor = self.search.cursor.saturating_add(1);
            *budget -= 1;
            *hashes = hashes.saturating_add(1);

            // The midstate (and the rolled bits) only change with the version
            // index, once per sweep of the open cores.
            let (bits, state) = match self.search.midstate {
                Some(cached)
                    if cached.job_id == job_id
                        && cached.version_index == version_index
                        && cached.roll_mask == geometry.roll_mask =>
                {
                    (cached.bits, cached.state)
                }
                _ => {
                    let bits = deposit(version_index, geometry.roll_mask);
                    let state = match (&job, &midstate_job) {
                        (_, Some(midstates)) => usize::try_from(version_index)
                            .ok()
                            .and_then(|i| midstates.midstates().get(i).copied())
                            .unwrap_or_default(),
                        (StoredJob::Full(full), None) => {
                            let version = full.version | (u32::from(bits) << VERSION_BITS_SHIFT);
                            first[..4].copy_from_slice(&version.to_le_bytes());
                            hash::midstate(&first)
                        }
                        (StoredJob::Midstate(_), None) => [0; 8],
                    };
                    self.search.midstate = Some(Midstate {
                        job_id,
                        version_index,
                        roll_mask: geometry.roll_mask,
                        bits,
                        state,
                    });
                    (bits, state)
                }
            };
            // Header order: the nonce's wire bytes are its fields read MSB first.
            let nonce = fields.swap_bytes();
            let [n0, n1, n2, n3] = nonce.to_le_bytes();
            tail[12] = n0;
            tail[13] = n1;
            tail[14] = n2;
            tail[15] = n3;
            let zeros = hash::leading_zero_bits_of_words(&hash::finish_words(&state, &tail));
            if zeros >= zero_bits {
                return Outcome::Found(Found {
                    job_id,
                    nonce,
                    // Only chips with hardware rolling report version bits.
                    version_bits: (geometry.rolling && midstate_job.is_none()).then_some(bits),
                    small_core_id,
                    zero_bits: zeros,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_spreads_bits_over_the_mask() {
        assert_eq!(deposit(0b101, 0xFFFF), 0b101);
        assert_eq!(deposit(0b11, 0b1010), 0b1010);
        assert_eq!(deposit(0b10, 0b1010), 0b1000);
        assert_eq!(deposit(0xFFFF_FFFF, 0x00F0), 0x00F0);
        assert_eq!(deposit(1, 0), 0);
    }
}
