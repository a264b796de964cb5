//! A command lease: a board heats only while its controller keeps asking.
//!
//! The control loop renews every board's power target on every tick. If the
//! loop hangs (a deadlock, a stuck device call, a runaway task), the board's
//! own side sees the lease run out and goes to idle by itself, without
//! waiting for anyone. The simulator's fault campaign and the daemon's board
//! tasks use this same type, so what the campaign proves is what runs.

use crate::Timestamp;
use std::time::Duration;

/// How long a power target stays valid without being renewed. The control
/// tick is 1-10 s, so this allows several missed ticks before heat stops.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLease {
    lease: Duration,
    renewed_at: Option<Timestamp>,
}

impl CommandLease {
    pub const fn new(lease: Duration) -> CommandLease {
        CommandLease {
            lease,
            renewed_at: None,
        }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// A command arrived at `now`.
    pub fn renew(&mut self, now: Timestamp) {
        self.renewed_at = Some(now);
    }

    /// True once a lease was granted and not renewed within its length. A
    /// lease never granted has not expired: there is nothing to withdraw.
    /// A clock that went backwards reads as "just renewed", never as expired.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.renewed_at.is_some_and(|at| now.since(at) > self.lease)
    }

    /// Forget the grant (after the holder acted on the expiry).
    pub fn clear(&mut self) {
        self.renewed_at = None;
    }
}

impl Default for CommandLease {
    fn default() -> CommandLease {
        CommandLease::new(DEFAULT_LEASE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_only_after_the_lease_without_renewal() {
        let mut l = CommandLease::new(Duration::from_secs(30));
        assert!(!l.expired(Timestamp::from_secs(1_000)), "never granted");
        l.renew(Timestamp::from_secs(100));
        assert!(!l.expired(Timestamp::from_secs(130)));
        assert!(l.expired(Timestamp::from_millis(130_001)));
        l.renew(Timestamp::from_secs(131));
        assert!(!l.expired(Timestamp::from_secs(160)));
        // Clock stepped back: not an expiry.
        assert!(!l.expired(Timestamp::from_secs(5)));
        l.clear();
        assert!(!l.expired(Timestamp::from_secs(10_000)));
        // An unbounded lease (tools and tests) never runs out.
        let mut forever = CommandLease::new(Duration::MAX);
        forever.renew(Timestamp(0));
        assert!(!forever.expired(Timestamp(u64::MAX)));
    }
}
