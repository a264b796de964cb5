//! What a chain is and how to drive it: [`ChainConfig`] and its validation.

use std::time::Duration;

use hearth_bm13xx::registers::baud::{bm1397_misc_baud_register, divider_for_baud};
use hearth_bm13xx::registers::hcn::MAX_CHAIN_LEN;
use hearth_bm13xx::registers::ticket_mask::ticket_mask_for_difficulty;
use hearth_bm13xx::registers::version::{version_rolling_register, FULL_VERSION_MASK};
use hearth_bm13xx::{
    pll_for_frequency, ChipKind, FreqKhz, JobLengthByte, RegisterError, MAX_MIDSTATES,
};

/// Job ids are 4 bits wide: at most this many jobs can be told apart.
pub const MAX_JOB_HISTORY: usize = 16;

/// How a reported nonce is checked before it becomes a [`crate::FoundNonce`].
///
/// Every nonce is hashed (double SHA-256 of the rebuilt 80-byte header) and
/// must have at least this many leading zero bits, counting from the most
/// significant end of the hash read as a 256-bit little-endian number (the
/// way block explorers print it). A nonce that fails is a hardware error of
/// the chip that sent it and is never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Real chips: the ticket mask's target, `32 + log2(ticket_difficulty)`
    /// zero bits (the chips test exactly those bits).
    TicketDifficulty,
    /// Simulated chips whose nonces meet an easier, simulation-only target of
    /// this many leading zero bits (`hearth-simchip`'s `sim_zero_bits`). They
    /// still report at the ticket difficulty's rate, so hashrate estimates
    /// keep using [`ChainConfig::hashes_per_nonce`].
    LeadingZeroBits(u32),
}

/// What the driver writes to HASH_COUNTING_NUMBER (0x10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HcnMode {
    /// The reference formula for the chain length and the current PLL
    /// dividers, rewritten after every frequency step.
    Formula,
    /// A fixed value written once during configuration (factory firmware
    /// writes e.g. 0x1EB5 on the S21 Pro), never rewritten.
    Fixed(u32),
}

/// A broadcast register write added to the bring-up right after the
/// MISC_CONTROL write: vendor-specific settings (core mailbox, IO drive
/// strength, soft reset) the reference sequence does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterWrite {
    /// Register address.
    pub register: u8,
    /// Value.
    pub value: u32,
}

/// Everything the driver needs to know about one chain.
///
/// Build with [`ChainConfig::new`] and adjust fields; [`crate::ChainDriver::new`]
/// validates.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainConfig {
    /// The chip model (every chip of a chain is the same model).
    pub chip: ChipKind,
    /// Chips the board carries; 0 accepts however many answer discovery.
    pub expected_chips: usize,
    /// The host UART rate at `start` (chips come out of reset at 115,740
    /// baud; 115,200 on the host is within tolerance).
    pub initial_baud: u32,
    /// The rate to switch the chain to after configuration. The chips run at
    /// the nearest rate their divider gives (1,041,666 for 1,000,000), and
    /// that exact rate is what the host is told to use.
    pub target_baud: u32,
    /// Ticket difficulty (power of two): chips report nonces whose hash
    /// clears `32 + log2(d)` zero bits. 256 on Bitaxe firmware.
    pub ticket_difficulty: u32,
    /// Block-version bits the chips may roll (inside 0x1FFFE000). Jobs may
    /// narrow it further with their own mask.
    pub version_mask: u32,
    /// How reported nonces are verified.
    pub nonce_check: NonceCheck,
    /// Hash clock programmed during configuration; the bottom of ramps and
    /// where [`crate::ChainDriver::stop`] drops the clock.
    pub start_frequency: FreqKhz,
    /// HASH_COUNTING_NUMBER policy.
    pub hcn: HcnMode,
    /// Address step between chips; `None` = `256 / chips` (the reference).
    /// Never larger than `256 / chips`.
    pub address_step: Option<u8>,
    /// Extra broadcast writes after MISC_CONTROL.
    pub extra_writes: Vec<RegisterWrite>,
    /// Jobs kept for matching nonces, newest first (1..=16). A nonce for an
    /// older job is stale and is not reported.
    pub job_history: usize,
    /// The job frame's length byte (factory 0x36, ESP-Miner 0x56).
    /// Full-header chips only.
    pub job_length_byte: JobLengthByte,
    /// BM1397 only (host version rolling): midstates per job, 1..=4, each
    /// for the next version inside the job's mask. Fewer are sent when the
    /// mask has fewer versions. Ignored by full-header chips.
    pub midstates: u8,
    /// How long any exchange (discovery, link check, health poll) waits for
    /// its answers.
    pub exchange_timeout: Duration,
    /// Retries of a failed bring-up exchange before giving up.
    pub max_retries: u32,
    /// With `expected_chips == 0`: discovery ends this long after the last
    /// answer.
    pub discovery_quiet: Duration,
    /// Pause after the host switched baud before talking at the new rate.
    pub baud_settle: Duration,
    /// How often a running chain is asked to answer a chip-id read.
    pub health_poll_interval: Duration,
    /// A chip not heard from (register answer or verified nonce) for this
    /// long is reported silent.
    pub chip_silence_timeout: Duration,
    /// Time between frequency ramp steps (6.25 MHz each).
    pub ramp_step_interval: Duration,
    /// Window of the per-chip hashrate estimate.
    pub hashrate_window: Duration,
}

impl ChainConfig {
    /// Defaults for `chip`: accept any chain length, 1 Mbaud, ticket
    /// difficulty 256, full version mask, real-target verification, 56.25 MHz
    /// start, formula HCN, 8 jobs, 500 ms exchanges with 3 retries, 1 s health
    /// polls, 5 s silence, 100 ms ramp steps, 60 s hashrate window.
    #[must_use]
    pub fn new(chip: ChipKind) -> ChainConfig {
        ChainConfig {
            chip,
            expected_chips: 0,
            initial_baud: 115_200,
            target_baud: 1_000_000,
            ticket_difficulty: 256,
            version_mask: FULL_VERSION_MASK,
            nonce_check: NonceCheck::TicketDifficulty,
            start_frequency: FreqKhz(56_250),
            hcn: HcnMode::Formula,
            address_step: None,
            job_history: 8,
            job_length_byte: JobLengthByte::Factory,
            midstates: 4,
            extra_writes: bm1397_init_writes(chip),
            exchange_timeout: Duration::from_millis(500),
            max_retries: 3,
            discovery_quiet: Duration::from_millis(100),
            baud_settle: Duration::from_millis(10),
            health_poll_interval: Duration::from_secs(1),
            chip_silence_timeout: Duration::from_secs(5),
            ramp_step_interval: Duration::from_millis(100),
            hashrate_window: Duration::from_secs(60),
        }
    }

    /// Leading zero bits a reported nonce's hash must have.
    #[must_use]
    pub fn required_zero_bits(&self) -> u32 {
        match self.nonce_check {
            NonceCheck::TicketDifficulty => 32 + self.ticket_difficulty.max(1).ilog2(),
            NonceCheck::LeadingZeroBits(bits) => bits,
        }
    }

    /// Expected hashes behind one reported nonce: `d x 2^32` at ticket
    /// difficulty `d`. Simulated chips report at the real chips' rate too
    /// (only the nonces' content meets an easier target), so this does not
    /// depend on [`ChainConfig::nonce_check`].
    #[must_use]
    pub fn hashes_per_nonce(&self) -> f64 {
        f64::from(self.ticket_difficulty) * 4_294_967_296.0
    }

    /// Check every field.
    ///
    /// # Errors
    /// The first problem found, as a [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.midstates == 0 || usize::from(self.midstates) > MAX_MIDSTATES {
            return Err(ConfigError::Midstates(self.midstates));
        }
        if self.expected_chips > usize::from(MAX_CHAIN_LEN) {
            return Err(ConfigError::TooManyChips(self.expected_chips));
        }
        if self.initial_baud == 0 {
            return Err(ConfigError::Baud(RegisterError::BaudOutOfRange {
                requested: 0,
                min: 1,
                max: u32::MAX,
            }));
        }
        let divider = divider_for_baud(self.target_baud).map_err(ConfigError::Baud)?;
        if self.chip == ChipKind::Bm1397 {
            // Its divider field is 5 bits wide (MISC_CONTROL bits 12-8).
            bm1397_misc_baud_register(divider).map_err(ConfigError::Baud)?;
        }
        ticket_mask_for_difficulty(u64::from(self.ticket_difficulty))
            .map_err(ConfigError::TicketDifficulty)?;
        version_rolling_register(self.version_mask).map_err(ConfigError::VersionMask)?;
        if let NonceCheck::LeadingZeroBits(bits) = self.nonce_check {
            if bits > 256 {
                return Err(ConfigError::ZeroBits(bits));
            }
        }
        pll_for_frequency(self.chip, self.start_frequency).map_err(ConfigError::StartFrequency)?;
        if let HcnMode::Fixed(0) = self.hcn {
            return Err(ConfigError::ZeroHcn);
        }
        if self.job_history == 0 || self.job_history > MAX_JOB_HISTORY {
            return Err(ConfigError::JobHistory(self.job_history));
        }
        for (name, value) in [
            ("exchange_timeout", self.exchange_timeout),
            ("discovery_quiet", self.discovery_quiet),
            ("health_poll_interval", self.health_poll_interval),
            ("chip_silence_timeout", self.chip_silence_timeout),
            ("ramp_step_interval", self.ramp_step_interval),
            ("hashrate_window", self.hashrate_window),
        ] {
            // Timestamps have millisecond resolution.
            if value < Duration::from_millis(1) {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        Ok(())
    }
}

impl Default for ChainConfig {
    /// [`ChainConfig::new`] for a BM1370 (Bitaxe Gamma, S21 Pro).
    fn default() -> Self {
        ChainConfig::new(ChipKind::Bm1370)
    }
}

/// The broadcast writes ESP-Miner sends a BM1397 chain after addressing
/// (clock order control 0/1, ordered clock enable, core register control,
/// PLL3, fast UART configuration): the default `extra_writes` of a BM1397
/// chain, empty for the others. Their meaning is ESP-Miner's naming;
/// whether all are needed is *unverified*.
#[must_use]
pub fn bm1397_init_writes(chip: ChipKind) -> Vec<RegisterWrite> {
    if chip != ChipKind::Bm1397 {
        return Vec::new();
    }
    [
        (0x80, 0x0000_0000),
        (0x84, 0x0000_0000),
        (0x20, 0x0000_0001),
        (0x3C, 0x8000_8074),
        (0x68, 0xC070_0111),
        (0x28, 0x0600_000F),
    ]
    .into_iter()
    .map(|(register, value)| RegisterWrite { register, value })
    .collect()
}

/// A [`ChainConfig`] the driver refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Midstates per job outside 1..=4.
    #[error("{0} midstates per job; 1..=4 are possible")]
    Midstates(u8),
    /// More chips than the 8-bit address space holds.
    #[error("{0} chips do not fit the 256-address chain")]
    TooManyChips(usize),
    /// Baud rate out of range.
    #[error("baud rate: {0}")]
    Baud(RegisterError),
    /// Ticket difficulty not a power of two.
    #[error("ticket difficulty: {0}")]
    TicketDifficulty(RegisterError),
    /// Version mask empty or outside 0x1FFFE000.
    #[error("version mask: {0}")]
    VersionMask(RegisterError),
    /// A zero-bit target above 256.
    #[error("{0} leading zero bits is more than a 256-bit hash has")]
    ZeroBits(u32),
    /// Start frequency outside the PLL's range.
    #[error("start frequency: {0}")]
    StartFrequency(RegisterError),
    /// A fixed HCN of zero would halt hashing.
    #[error("a fixed hash counting number of 0 halts hashing")]
    ZeroHcn,
    /// Job history outside 1..=16.
    #[error("job history {0} is outside 1..=16")]
    JobHistory(usize),
    /// A timing field below one millisecond.
    #[error("{0} must be at least 1 ms")]
    ZeroDuration(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        for chip in ChipKind::ALL {
            assert_eq!(ChainConfig::new(chip).validate(), Ok(()));
        }
        assert_eq!(ChainConfig::new(ChipKind::Bm1397).extra_writes.len(), 6);
        assert!(ChainConfig::new(ChipKind::Bm1370).extra_writes.is_empty());
        assert_eq!(ChainConfig::default().required_zero_bits(), 40);
    }

    #[test]
    fn bad_fields_are_refused() {
        let base = ChainConfig::default();
        let cases = [
            ChainConfig {
                midstates: 0,
                ..base.clone()
            },
            ChainConfig {
                midstates: 5,
                ..base.clone()
            },
            // 5-bit divider: 50,000 baud needs 61.
            ChainConfig {
                target_baud: 50_000,
                ..ChainConfig::new(ChipKind::Bm1397)
            },
            ChainConfig {
                expected_chips: 257,
                ..base.clone()
            },
            ChainConfig {
                target_baud: 4_000_000,
                ..base.clone()
            },
            ChainConfig {
                ticket_difficulty: 300,
                ..base.clone()
            },
            ChainConfig {
                version_mask: 0x0000_1000,
                ..base.clone()
            },
            ChainConfig {
                start_frequency: FreqKhz(1_000),
                ..base.clone()
            },
            ChainConfig {
                job_history: 17,
                ..base.clone()
            },
            ChainConfig {
                hcn: HcnMode::Fixed(0),
                ..base.clone()
            },
            ChainConfig {
                exchange_timeout: Duration::ZERO,
                ..base.clone()
            },
            ChainConfig {
                nonce_check: NonceCheck::LeadingZeroBits(300),
                ..base.clone()
            },
        ];
        for config in cases {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
