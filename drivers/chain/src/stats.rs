//! Counters and hashrate estimates: [`ChainStats`], [`ChipStats`],
//! [`ErrorCounts`].

use std::time::Duration;

use hearth_bm13xx::{FreqKhz, ParserStats};
use hearth_core::{GhPerSec, Timestamp};

use crate::event::WarningKind;

/// Buckets in a [`RateWindow`].
const BUCKETS: usize = 12;

/// Events per second over a sliding window, in fixed buckets (constant
/// memory, no per-event storage).
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    bucket_ms: u64,
    counts: [u64; BUCKETS],
    /// Which absolute bucket number each slot currently holds.
    epochs: [u64; BUCKETS],
    /// Counting started here (rates are not diluted by time before it).
    since: Option<Timestamp>,
}

impl RateWindow {
    pub(crate) fn new(window: Duration) -> RateWindow {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        RateWindow {
            bucket_ms: (window_ms / BUCKETS as u64).max(1),
            counts: [0; BUCKETS],
            epochs: [u64::MAX; BUCKETS],
            since: None,
        }
    }

    /// Start (or restart) the observation period.
    pub(crate) fn start(&mut self, now: Timestamp) {
        self.counts = [0; BUCKETS];
        self.epochs = [u64::MAX; BUCKETS];
        self.since = Some(now);
    }

    fn slot(&self, epoch: u64) -> usize {
        // BUCKETS is tiny; the remainder fits usize.
        usize::try_from(epoch % BUCKETS as u64).unwrap_or(0)
    }

    pub(crate) fn record(&mut self, now: Timestamp) {
        if self.since.is_none() {
            self.since = Some(now);
        }
        let epoch = now.as_millis() / self.bucket_ms;
        let slot = self.slot(epoch);
        if let (Some(count), Some(held)) = (self.counts.get_mut(slot), self.epochs.get_mut(slot)) {
            if *held != epoch {
                *held = epoch;
                *count = 0;
            }
            *count = count.saturating_add(1);
        }
    }

    /// Events per second over the window ending at `now` (0 before any
    /// observation time has passed).
    pub(crate) fn per_second(&self, now: Timestamp) -> f64 {
        let Some(since) = self.since else {
            return 0.0;
        };
        let current = now.as_millis() / self.bucket_ms;
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        let total: u64 = self
            .epochs
            .iter()
            .zip(self.counts.iter())
            .filter(|(epoch, _)| **epoch != u64::MAX && **epoch >= oldest && **epoch <= current)
            .map(|(_, count)| *count)
            .sum();
        let window_start = (oldest * self.bucket_ms).max(since.as_millis());
        let span_ms = now.as_millis().saturating_sub(window_start);
        if span_ms == 0 {
            return 0.0;
        }
        total as f64 * 1000.0 / span_ms as f64
    }
}

/// How often each kind of trouble happened (see [`WarningKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorCounts {
    /// Frames failing CRC5.
    pub crc_errors: u64,
    /// Malformed frames (unknown type, ...).
    pub malformed_frames: u64,
    /// Nonces for job ids never assigned.
    pub unknown_job: u64,
    /// Nonces for retired jobs.
    pub stale_job: u64,
    /// Nonces failing verification (hardware errors).
    pub bad_nonces: u64,
    /// Nonces rolled outside the job's version mask.
    pub version_outside_mask: u64,
    /// Nonces reported again.
    pub duplicate_nonces: u64,
    /// Chip-id answers of another model.
    pub unknown_chip_id: u64,
    /// Answers or nonces from an address no chip has.
    pub unknown_chip_address: u64,
    /// Register answers nobody asked for.
    pub unexpected_register: u64,
    /// Events dropped on a full queue.
    pub events_dropped: u64,
    /// Job frames replaced before they were sent.
    pub jobs_dropped: u64,
}

impl ErrorCounts {
    /// The counter of one kind.
    #[must_use]
    pub const fn get(&self, kind: WarningKind) -> u64 {
        match kind {
            WarningKind::CrcError => self.crc_errors,
            WarningKind::MalformedFrame => self.malformed_frames,
            WarningKind::UnknownJob => self.unknown_job,
            WarningKind::StaleJob => self.stale_job,
            WarningKind::BadNonce => self.bad_nonces,
            WarningKind::VersionOutsideMask => self.version_outside_mask,
            WarningKind::DuplicateNonce => self.duplicate_nonces,
            WarningKind::UnknownChipId => self.unknown_chip_id,
            WarningKind::UnknownChipAddress => self.unknown_chip_address,
            WarningKind::UnexpectedRegister => self.unexpected_register,
            WarningKind::EventsDropped => self.events_dropped,
            WarningKind::JobDropped => self.jobs_dropped,
        }
    }

    pub(crate) fn bump(&mut self, kind: WarningKind) {
        let counter = match kind {
            WarningKind::CrcError => &mut self.crc_errors,
            WarningKind::MalformedFrame => &mut self.malformed_frames,
            WarningKind::UnknownJob => &mut self.unknown_job,
            WarningKind::StaleJob => &mut self.stale_job,
            WarningKind::BadNonce => &mut self.bad_nonces,
            WarningKind::VersionOutsideMask => &mut self.version_outside_mask,
            WarningKind::DuplicateNonce => &mut self.duplicate_nonces,
            WarningKind::UnknownChipId => &mut self.unknown_chip_id,
            WarningKind::UnknownChipAddress => &mut self.unknown_chip_address,
            WarningKind::UnexpectedRegister => &mut self.unexpected_register,
            WarningKind::EventsDropped => &mut self.events_dropped,
            WarningKind::JobDropped => &mut self.jobs_dropped,
        };
        *counter = counter.saturating_add(1);
    }

    /// Sum over every kind.
    #[must_use]
    pub fn total(&self) -> u64 {
        WarningKind::ALL
            .iter()
            .fold(0u64, |sum, kind| sum.saturating_add(self.get(*kind)))
    }
}

/// One chip's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct ChipStats {
    /// Chain position.
    pub index: usize,
    /// Assigned address.
    pub address: u8,
    /// Verified nonces.
    pub nonces: u64,
    /// Nonces that failed verification or rolled outside the mask.
    pub hw_errors: u64,
    /// Nonces for unknown or retired jobs.
    pub stale_nonces: u64,
    /// Health polls it did not answer in time.
    pub missed_polls: u64,
    /// Last register answer or verified nonce.
    pub last_seen: Option<Timestamp>,
    /// Currently reported silent.
    pub silent: bool,
    /// Estimated hashrate: verified nonces x hashes per nonce over the
    /// window.
    pub hashrate: GhPerSec,
}

/// A snapshot of the whole chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainStats {
    /// Per chip, in chain order.
    pub chips: Vec<ChipStats>,
    /// Trouble counters.
    pub errors: ErrorCounts,
    /// The response framer's counters (frames, skipped bytes, ...).
    pub parser: ParserStats,
    /// Verified nonces, all chips.
    pub nonces: u64,
    /// Verified nonces no chip could be named for.
    pub unattributed_nonces: u64,
    /// Job frames queued.
    pub jobs_sent: u64,
    /// Estimated hashrate from verified nonces.
    pub hashrate: GhPerSec,
    /// What the chips should do at the current clock:
    /// `f_MHz x small cores x chips / 1000`.
    pub expected_hashrate: GhPerSec,
    /// The PLL's current frequency.
    pub frequency: FreqKhz,
    /// Where the current ramp ends.
    pub target_frequency: FreqKhz,
    /// The host UART rate.
    pub baud: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_counts_recent_events_only() {
        let mut window = RateWindow::new(Duration::from_secs(12));
        window.start(Timestamp::from_secs(100));
        assert!(window.per_second(Timestamp::from_secs(100)).abs() < f64::EPSILON);
        for second in 100..106 {
            window.record(Timestamp::from_secs(second));
        }
        // 6 events over 6 s.
        assert!((window.per_second(Timestamp::from_secs(106)) - 1.0).abs() < 1e-9);
        // 12 s window: at 118 only buckets from 107 on count.
        assert!(window.per_second(Timestamp::from_secs(118)).abs() < f64::EPSILON);
        // All six still inside the window, spread over the 11 s since start.
        let rate = window.per_second(Timestamp::from_secs(111));
        assert!((rate - 6.0 / 11.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn error_counts_by_kind() {
        let mut counts = ErrorCounts::default();
        for kind in WarningKind::ALL {
            counts.bump(kind);
            assert_eq!(counts.get(kind), 1);
        }
        assert_eq!(counts.total(), WarningKind::ALL.len() as u64);
    }
}
