//! What the driver reports: [`ChainEvent`] and the values it carries.

use std::fmt;

use hearth_bm13xx::{ChipKind, FreqKhz};
use hearth_core::{BoardId, NonceFound, Timestamp};

/// One chip found by discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipInfo {
    /// Position in the chain, 0 = nearest the host.
    pub index: usize,
    /// The address the driver gives it.
    pub address: u8,
    /// Its model, from its chip-id answer.
    pub kind: ChipKind,
}

/// A verified nonce, mapped back to the host's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundNonce {
    /// The host job id ([`hearth_core::Job::id`]).
    pub job_id: u64,
    /// The nonce, as the block header takes it.
    pub nonce: u32,
    /// The rolled block version the nonce was found with.
    pub version: u32,
    /// The job's ntime (the chips do not roll it).
    pub ntime: u32,
    /// The finding chip's index, when the nonce says which chip it was.
    pub chip: Option<usize>,
    /// The big core that found it (top bits of the nonce).
    pub core_id: u8,
    /// The small core (sub-core) that found it.
    pub small_core_id: u8,
    /// Leading zero bits of its hash (at least the verification target).
    pub zero_bits: u32,
    /// When the driver received it.
    pub found_at: Timestamp,
    /// Whether the job was heat-only work (never submitted anywhere).
    pub heat_only: bool,
}

impl FoundNonce {
    /// The work-source view of this nonce.
    #[must_use]
    pub fn to_nonce_found(&self, board: BoardId) -> NonceFound {
        NonceFound {
            board,
            job_id: self.job_id,
            nonce: self.nonce,
            version: self.version,
            ntime: self.ntime,
            found_at: self.found_at,
        }
    }
}

/// Kinds of bad input and trouble. Each is counted every time (see
/// [`crate::ErrorCounts`]) and reported as a [`ChainEvent::Warning`] the
/// first time only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// A frame whose CRC5 does not check out (line noise, a baud mismatch).
    CrcError,
    /// Bytes that never formed a frame, or a CRC-valid frame of an unknown
    /// type.
    MalformedFrame,
    /// A nonce for a job id the driver never assigned.
    UnknownJob,
    /// A nonce for a job the driver has retired (replaced or cleaned).
    StaleJob,
    /// A nonce whose hash misses the target: the chip's hardware error.
    BadNonce,
    /// A nonce rolled version bits outside the job's mask.
    VersionOutsideMask,
    /// The same nonce reported twice (reported once).
    DuplicateNonce,
    /// A chip-id answer from a model other than the configured one.
    UnknownChipId,
    /// A chip address (in an answer or a nonce) no chip was given.
    UnknownChipAddress,
    /// A register answer the driver did not ask for.
    UnexpectedRegister,
    /// The event queue was full; events were dropped.
    EventsDropped,
    /// A job frame was replaced in the transmit queue before it was sent.
    JobDropped,
}

impl WarningKind {
    /// Every kind, in a fixed order.
    pub const ALL: [WarningKind; 12] = [
        WarningKind::CrcError,
        WarningKind::MalformedFrame,
        WarningKind::UnknownJob,
        WarningKind::StaleJob,
        WarningKind::BadNonce,
        WarningKind::VersionOutsideMask,
        WarningKind::DuplicateNonce,
        WarningKind::UnknownChipId,
        WarningKind::UnknownChipAddress,
        WarningKind::UnexpectedRegister,
        WarningKind::EventsDropped,
        WarningKind::JobDropped,
    ];

    /// A stable snake_case name for logs and metrics.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            WarningKind::CrcError => "crc_error",
            WarningKind::MalformedFrame => "malformed_frame",
            WarningKind::UnknownJob => "unknown_job",
            WarningKind::StaleJob => "stale_job",
            WarningKind::BadNonce => "bad_nonce",
            WarningKind::VersionOutsideMask => "version_outside_mask",
            WarningKind::DuplicateNonce => "duplicate_nonce",
            WarningKind::UnknownChipId => "unknown_chip_id",
            WarningKind::UnknownChipAddress => "unknown_chip_address",
            WarningKind::UnexpectedRegister => "unexpected_register",
            WarningKind::EventsDropped => "events_dropped",
            WarningKind::JobDropped => "job_dropped",
        }
    }

    pub(crate) const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bring-up gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// No chip answered the discovery read.
    NoChips {
        /// Discovery reads sent.
        attempts: u32,
    },
    /// A different number of chips answered than configured.
    ChipCountMismatch {
        /// Configured.
        expected: usize,
        /// Answers in the last attempt.
        found: usize,
        /// Discovery reads sent.
        attempts: u32,
    },
    /// More chips answered than 256 addresses hold.
    TooManyChips {
        /// Answers counted.
        found: usize,
    },
    /// After configuration and the baud switch, not every chip answered at
    /// its new address.
    LinkCheck {
        /// Chips that answered.
        answered: usize,
        /// Chips enumerated.
        expected: usize,
        /// The baud the chain was switched to.
        baud: u32,
        /// Reads sent.
        attempts: u32,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::NoChips { attempts } => write!(
                f,
                "no chip answered the chip-id read ({attempts} attempts): check power, reset line and UART wiring"
            ),
            FailReason::ChipCountMismatch {
                expected,
                found,
                attempts,
            } => write!(
                f,
                "expected {expected} chips but {found} answered ({attempts} attempts): a chip in the chain may be dead"
            ),
            FailReason::TooManyChips { found } => {
                write!(f, "{found} chip answers is more than a chain can address (256)")
            }
            FailReason::LinkCheck {
                answered,
                expected,
                baud,
                attempts,
            } => write!(
                f,
                "only {answered} of {expected} chips answered after switching to {baud} baud ({attempts} attempts)"
            ),
        }
    }
}

/// Something the caller should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// Discovery finished; addressing and configuration follow.
    Enumerated {
        /// The chips, in chain order with their new addresses.
        chips: Vec<ChipInfo>,
    },
    /// The host should now run its UART at this rate (also signalled on the
    /// [`crate::TxChunk`] that carries the switch).
    BaudChanged {
        /// The new rate.
        baud: u32,
    },
    /// Bring-up done: every chip answered at its address at the new baud.
    /// Jobs are accepted from now on.
    Ready {
        /// Chips in the chain.
        chips: usize,
        /// Link rate.
        baud: u32,
        /// Hash clock.
        frequency: FreqKhz,
    },
    /// A frequency ramp reached its target.
    FrequencyReached {
        /// The frequency the PLL actually runs at.
        frequency: FreqKhz,
    },
    /// A verified nonce.
    Nonce(FoundNonce),
    /// A chip has not been heard from for the silence timeout.
    ChipSilent {
        /// Chain position.
        index: usize,
    },
    /// A silent chip answered again.
    ChipBack {
        /// Chain position.
        index: usize,
    },
    /// The first occurrence of a kind of trouble (later ones are only
    /// counted).
    Warning {
        /// Which kind.
        kind: WarningKind,
        /// What happened, for the log.
        detail: String,
    },
    /// Bring-up gave up; call `start` again (after resetting the chips) to
    /// retry.
    Failed {
        /// Why.
        reason: FailReason,
    },
    /// `stop` was processed: clock at the floor, chain inactive.
    Stopped,
}
