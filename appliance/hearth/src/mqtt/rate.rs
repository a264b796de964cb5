//! How fast MQTT may change things.
//!
//! Every accepted command is validated, written to disk (fsync) and
//! applied, and every command, good or bad, makes the bridge republish
//! every state. Anyone who can publish to the broker (a compromised Home
//! Assistant, a LAN client of an open broker) could otherwise make the Pi
//! write its SD card and flood the broker as fast as it can publish.
//! A person at a dashboard sends a few commands a second at most, and
//! automations a handful at once, so a bucket of [`COMMAND_BURST`] that
//! refills at [`COMMANDS_PER_S`] never gets in their way.
//!
//! Pure: time comes in as milliseconds on a monotonic clock.

/// Commands accepted at once after a quiet spell.
pub const COMMAND_BURST: f64 = 20.0;
/// Commands accepted per second, sustained.
pub const COMMANDS_PER_S: f64 = 1.0;
/// Home Assistant's `online` republishes everything (discovery and
/// states) at most this often; one that comes sooner is done once this
/// has passed ([`Republish`]).
pub const REPUBLISH_EVERY_MS: u64 = 10_000;

/// A token bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandBudget {
    tokens: f64,
    last_ms: Option<u64>,
    burst: f64,
    per_s: f64,
}

impl Default for CommandBudget {
    fn default() -> CommandBudget {
        CommandBudget::new(COMMAND_BURST, COMMANDS_PER_S)
    }
}

impl CommandBudget {
    pub fn new(burst: f64, per_s: f64) -> CommandBudget {
        CommandBudget {
            tokens: burst,
            last_ms: None,
            burst,
            per_s,
        }
    }

    /// Spends one token if there is one at `now_ms`.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        if let Some(last) = self.last_ms {
            let elapsed_s = now_ms.saturating_sub(last) as f64 / 1000.0;
            self.tokens = (self.tokens + elapsed_s * self.per_s).min(self.burst);
        }
        self.last_ms = Some(self.last_ms.map_or(now_ms, |l| l.max(now_ms)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether a full republication asked for at `now_ms` runs now, later, or
/// has already been promised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Republish {
    last_ms: Option<u64>,
    pending: bool,
}

impl Republish {
    /// Asked for (Home Assistant came online): `true` to republish now;
    /// otherwise it is pending and [`Republish::due`] says when.
    pub fn ask(&mut self, now_ms: u64) -> bool {
        if self.ready(now_ms) {
            self.last_ms = Some(now_ms);
            self.pending = false;
            true
        } else {
            self.pending = true;
            false
        }
    }

    /// On every tick: `true` when a pending republication may run now.
    pub fn due(&mut self, now_ms: u64) -> bool {
        if self.pending && self.ready(now_ms) {
            self.pending = false;
            self.last_ms = Some(now_ms);
            true
        } else {
            false
        }
    }

    fn ready(&self, now_ms: u64) -> bool {
        self.last_ms
            .is_none_or(|l| now_ms.saturating_sub(l) >= REPUBLISH_EVERY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_second() {
        let mut b = CommandBudget::default();
        let first = (0..100).filter(|_| b.allow(1_000)).count();
        assert_eq!(first, 20, "the burst");
        assert!(!b.allow(1_500), "half a token is not one");
        assert!(b.allow(2_000), "one second later: one more");
        assert!(!b.allow(2_000));
        // A long quiet spell refills to the burst, not beyond.
        let later = (0..100).filter(|_| b.allow(3_600_000)).count();
        assert_eq!(later, 20);
        // Sustained: a flood at 100 per second gets one per second.
        let mut b = CommandBudget::default();
        let got = (0..10_000u64).filter(|i| b.allow(i * 10)).count();
        assert_eq!(got, 20 + 99, "{got}");
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let mut b = CommandBudget::new(2.0, 1.0);
        assert!(b.allow(10_000) && b.allow(10_000));
        assert!(!b.allow(0), "earlier time: no tokens from it");
        assert!(
            !b.allow(10_500),
            "and the later time still counts from 10 s"
        );
        assert!(b.allow(11_000));
    }

    #[test]
    fn home_assistant_online_republishes_at_most_every_ten_seconds_and_never_loses_one() {
        let mut r = Republish::default();
        assert!(r.ask(0), "the first at once");
        assert!(!r.ask(1_000), "a second one within 10 s waits");
        assert!(!r.ask(2_000), "...and a third merges with it");
        assert!(!r.due(9_999));
        assert!(r.due(10_000), "done once 10 s have passed");
        assert!(!r.due(20_000), "once");
        assert!(r.ask(30_000), "a later one runs at once");
    }
}
