//! SG-Ready outputs: the two relays with which Hearth holds a heat pump
//! back while the miner is the cheaper source. The policy says which state
//! it wants ([`crate::Decision::sg_ready_out`]); this decides which state the
//! relays may show now. Sans-IO: the daemon writes the relays.
//!
//! Limits (heating.md: a minimum switching time of about 60 s, a lock of at
//! most about 2 h):
//! - the relays change at most once per [`MIN_SWITCH`] (by default; the
//!   policy setting `sg_ready_min_switch_s` sets a longer dwell, see
//!   [`SgReadyOutput::set_min_switch`]);
//! - a block lasts at most [`MAX_BLOCK`]; then `normal` for at least
//!   [`BLOCK_REST`] (our choice: the heat pump gets time to catch up)
//!   before the next block;
//! - "normal" is the default: at start, when the policy wants nothing (no
//!   decision, a decision that does not drive SG-Ready), and at exit
//!   ([`SgReadyOutput::release`], which ignores the switching time: a
//!   daemon that stops must not leave the heat pump blocked).

use crate::house::SgReady;
use hearth_core::Timestamp;
use serde::Serialize;
use std::time::Duration;

pub const MIN_SWITCH: Duration = Duration::from_secs(60);
pub const MAX_BLOCK: Duration = Duration::from_secs(2 * 3600);
pub const BLOCK_REST: Duration = Duration::from_secs(10 * 60);

/// The relay contacts of a state, as the standard writes them
/// (relay 1, relay 2): block `10`, normal `00`, recommend `01`, force `11`.
pub fn relays_of(state: SgReady) -> (bool, bool) {
    match state {
        SgReady::Block => (true, false),
        SgReady::Normal => (false, false),
        SgReady::Recommend => (false, true),
        SgReady::Force => (true, true),
    }
}

/// What the outputs show and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SgOutputView {
    pub state: SgReady,
    pub relay1: bool,
    pub relay2: bool,
    /// What the policy asked for (`None`: nothing, so normal).
    pub wanted: Option<SgReady>,
    /// Since when `state` is shown (ms since the epoch), if it ever changed.
    pub since_ms: Option<u64>,
    /// Why `state` differs from `wanted`, if it does.
    pub held: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SgReadyOutput {
    state: SgReady,
    /// When `state` was entered (none: the start-up default).
    since: Option<Timestamp>,
    /// When the last block ended because of [`MAX_BLOCK`].
    block_ended: Option<Timestamp>,
    wanted: Option<SgReady>,
    held: Option<&'static str>,
    /// Minimum time between two changes, at least [`MIN_SWITCH`].
    min_switch: Duration,
}

impl Default for SgReadyOutput {
    fn default() -> SgReadyOutput {
        SgReadyOutput {
            state: SgReady::Normal,
            since: None,
            block_ended: None,
            wanted: None,
            held: None,
            min_switch: MIN_SWITCH,
        }
    }
}

impl SgReadyOutput {
    /// Outputs that change at most once per `min_switch` (never less than
    /// [`MIN_SWITCH`]).
    pub fn with_min_switch(min_switch: Duration) -> SgReadyOutput {
        let mut o = SgReadyOutput::default();
        o.set_min_switch(min_switch);
        o
    }

    /// A new minimum switching time (a settings change); never below
    /// [`MIN_SWITCH`].
    pub fn set_min_switch(&mut self, min_switch: Duration) {
        self.min_switch = min_switch.max(MIN_SWITCH);
    }

    pub fn min_switch(&self) -> Duration {
        self.min_switch
    }

    /// The state the relays should show at `now` when the policy wants
    /// `wanted`.
    pub fn update(&mut self, wanted: Option<SgReady>, now: Timestamp) -> SgReady {
        self.wanted = wanted;
        let mut target = wanted.unwrap_or(SgReady::Normal);
        self.held = None;
        if self.state == SgReady::Block && self.since.is_some_and(|t| now.since(t) >= MAX_BLOCK) {
            // The lock limit overrides the switching time (it is longer).
            self.block_ended = Some(now);
            self.enter(SgReady::Normal, now);
            if target == SgReady::Block {
                self.held = Some("block limit reached; resting");
            }
            return self.state;
        }
        if target == SgReady::Block && self.block_ended.is_some_and(|t| now.since(t) < BLOCK_REST) {
            target = SgReady::Normal;
            self.held = Some("block limit reached; resting");
        }
        if target != self.state {
            if self.since.is_some_and(|t| now.since(t) < self.min_switch) {
                self.held = Some("minimum switching time");
            } else {
                self.enter(target, now);
            }
        }
        self.state
    }

    /// At exit or on doubt that must not wait: normal now.
    pub fn release(&mut self, now: Timestamp) -> SgReady {
        self.wanted = None;
        self.held = None;
        if self.state != SgReady::Normal {
            self.enter(SgReady::Normal, now);
        }
        self.state
    }

    pub fn state(&self) -> SgReady {
        self.state
    }

    pub fn view(&self) -> SgOutputView {
        let (relay1, relay2) = relays_of(self.state);
        SgOutputView {
            state: self.state,
            relay1,
            relay2,
            wanted: self.wanted,
            since_ms: self.since.map(|t| t.0),
            held: self.held,
        }
    }

    fn enter(&mut self, state: SgReady, now: Timestamp) {
        self.state = state;
        self.since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn starts_normal_and_blocks_when_asked() {
        let mut o = SgReadyOutput::default();
        assert_eq!(o.state(), SgReady::Normal);
        assert_eq!(o.update(None, at(0)), SgReady::Normal);
        assert_eq!(o.update(Some(SgReady::Block), at(1)), SgReady::Block);
        assert_eq!(relays_of(o.state()), (true, false));
        assert_eq!(o.view().since_ms, Some(1000));
    }

    #[test]
    fn the_relays_change_at_most_once_a_minute() {
        let mut o = SgReadyOutput::default();
        o.update(Some(SgReady::Block), at(0));
        // Policy flips back after 10 s: held until 60 s have passed.
        assert_eq!(o.update(Some(SgReady::Normal), at(10)), SgReady::Block);
        assert_eq!(o.view().held, Some("minimum switching time"));
        assert_eq!(o.update(None, at(59)), SgReady::Block);
        assert_eq!(o.update(None, at(60)), SgReady::Normal);
        assert_eq!(o.update(Some(SgReady::Block), at(61)), SgReady::Normal);
        assert_eq!(o.update(Some(SgReady::Block), at(120)), SgReady::Block);
    }

    #[test]
    fn a_block_ends_after_two_hours_and_rests_before_the_next() {
        let mut o = SgReadyOutput::default();
        o.update(Some(SgReady::Block), at(0));
        assert_eq!(o.update(Some(SgReady::Block), at(7199)), SgReady::Block);
        assert_eq!(o.update(Some(SgReady::Block), at(7200)), SgReady::Normal);
        assert_eq!(o.view().held, Some("block limit reached; resting"));
        assert_eq!(
            o.update(Some(SgReady::Block), at(7200 + 599)),
            SgReady::Normal
        );
        assert_eq!(
            o.update(Some(SgReady::Block), at(7200 + 600)),
            SgReady::Block
        );
        // Other states are not limited by the rest.
        let mut o = SgReadyOutput::default();
        o.update(Some(SgReady::Block), at(0));
        o.update(Some(SgReady::Block), at(7200));
        assert_eq!(
            o.update(Some(SgReady::Recommend), at(7300)),
            SgReady::Recommend
        );
        assert_eq!(relays_of(SgReady::Recommend), (false, true));
        assert_eq!(relays_of(SgReady::Force), (true, true));
    }

    #[test]
    fn a_longer_dwell_holds_the_relays_longer_but_never_shorter_than_a_minute() {
        let mut o = SgReadyOutput::with_min_switch(Duration::from_secs(600));
        o.update(Some(SgReady::Block), at(0));
        assert_eq!(o.update(Some(SgReady::Normal), at(300)), SgReady::Block);
        assert_eq!(o.view().held, Some("minimum switching time"));
        assert_eq!(o.update(Some(SgReady::Normal), at(599)), SgReady::Block);
        assert_eq!(o.update(Some(SgReady::Normal), at(600)), SgReady::Normal);
        // The block limit still ends a block at 2 h, whatever the dwell.
        let mut o = SgReadyOutput::with_min_switch(Duration::from_secs(7200));
        o.update(Some(SgReady::Block), at(0));
        assert_eq!(o.update(Some(SgReady::Block), at(7200)), SgReady::Normal);
        let o = SgReadyOutput::with_min_switch(Duration::from_secs(5));
        assert_eq!(o.min_switch(), MIN_SWITCH);
    }

    #[test]
    fn release_is_normal_at_once() {
        let mut o = SgReadyOutput::default();
        o.update(Some(SgReady::Block), at(0));
        assert_eq!(o.release(at(5)), SgReady::Normal);
        assert_eq!(o.view().wanted, None);
    }
}
