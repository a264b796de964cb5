//! Which work source feeds the boards. Sources are tried in the configured
//! order (for example: our own sharechain first, then a pool); the first
//! that is healthy (connected, with fresh work) is active. When none is,
//! the boards hash local heat-only work: the heat goes on, nothing found on
//! it is submitted, and the status says so.
//!
//! A source that comes back must stay healthy for `switch_back_after`
//! before it takes over from a lower one (no flapping on a shaky link);
//! when the boards are on heat-only work any healthy source takes over at
//! once.

use hearth_core::Timestamp;
use serde::Serialize;
use std::time::Duration;

/// What a source can do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceHealth {
    /// Not connected (or never was).
    Down,
    /// Connected, no work yet.
    Connecting,
    /// Has work for the boards.
    Up,
}

/// What the boards are hashing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum WorkMode {
    /// Real work from the source at this index.
    Source { index: usize, name: String },
    /// No source can give work: local heat-only work, never submitted.
    HeatOnly { reason: String },
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    health: SourceHealth,
    up_since: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct Failover {
    sources: Vec<Entry>,
    active: Option<usize>,
    switch_back_after: Duration,
    /// While the daemon starts, a preferred source that comes up is taken
    /// at once (no switch-back wait): it was never lost, only slower to
    /// start than a fallback (our own node beside an external pool).
    startup_grace: Duration,
    first_decide: Option<Timestamp>,
    /// The homeowner switched mining off ("heat only"): no source is
    /// active whatever its health, so the boards hash heat-only work.
    paused: bool,
}

impl Failover {
    /// Sources by name, in priority order.
    pub fn new(names: Vec<String>, switch_back_after: Duration) -> Failover {
        Failover {
            sources: names
                .into_iter()
                .map(|name| Entry {
                    name,
                    health: SourceHealth::Down,
                    up_since: None,
                })
                .collect(),
            active: None,
            switch_back_after,
            startup_grace: Duration::ZERO,
            first_decide: None,
            paused: false,
        }
    }

    /// Mining off (`true`) or on. Takes effect at the next [`Failover::decide`];
    /// sources keep their health, so mining resumes at once when switched on.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// See [`Failover`]'s `startup_grace`: counted from the first decision.
    pub fn set_startup_grace(&mut self, grace: Duration) {
        self.startup_grace = grace;
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub fn name(&self, index: usize) -> Option<&str> {
        self.sources.get(index).map(|e| e.name.as_str())
    }

    pub fn health(&self, index: usize) -> Option<SourceHealth> {
        self.sources.get(index).map(|e| e.health)
    }

    /// Record a source's health; returns the (possibly new) active source.
    pub fn set_health(
        &mut self,
        index: usize,
        health: SourceHealth,
        now: Timestamp,
    ) -> Option<usize> {
        if let Some(e) = self.sources.get_mut(index) {
            if health == SourceHealth::Up && e.health != SourceHealth::Up {
                e.up_since = Some(now);
            }
            if health != SourceHealth::Up {
                e.up_since = None;
            }
            e.health = health;
        }
        self.decide(now)
    }

    /// Re-evaluate (also call it on a timer so a switch-back happens).
    pub fn decide(&mut self, now: Timestamp) -> Option<usize> {
        if self.paused {
            self.first_decide.get_or_insert(now);
            self.active = None;
            return None;
        }
        let current_ok = self
            .active
            .and_then(|i| self.sources.get(i))
            .is_some_and(|e| e.health == SourceHealth::Up);
        let started = *self.first_decide.get_or_insert(now);
        let starting = now.since(started) < self.startup_grace;
        let settled = |e: &Entry| {
            e.health == SourceHealth::Up
                && (starting
                    || e.up_since
                        .is_some_and(|t| now.since(t) >= self.switch_back_after))
        };
        let best = if current_ok {
            let cur = self.active.unwrap_or(0);
            // Only a settled source of higher priority displaces the active one.
            self.sources[..cur].iter().position(settled).or(Some(cur))
        } else {
            self.sources
                .iter()
                .position(|e| e.health == SourceHealth::Up)
        };
        self.active = best;
        best
    }

    pub fn active(&self) -> Option<usize> {
        self.active
    }

    /// For the status API and the logs.
    pub fn mode(&self) -> WorkMode {
        match self
            .active
            .and_then(|i| self.sources.get(i).map(|e| (i, e)))
        {
            Some((index, e)) => WorkMode::Source {
                index,
                name: e.name.clone(),
            },
            None if self.paused => WorkMode::HeatOnly {
                reason: "mining is switched off: heating on local work, nothing is submitted"
                    .into(),
            },
            None if self.sources.is_empty() => WorkMode::HeatOnly {
                reason: "no work source is configured".into(),
            },
            None => WorkMode::HeatOnly {
                reason: format!(
                    "no work source is reachable ({}): heating on local work, nothing is submitted",
                    self.sources
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    #[test]
    fn first_healthy_source_in_order_wins_and_none_means_heat_only() {
        let mut f = Failover::new(
            vec!["sharechain".into(), "pool".into()],
            Duration::from_secs(10),
        );
        assert!(matches!(f.mode(), WorkMode::HeatOnly { .. }));
        assert_eq!(f.set_health(1, SourceHealth::Up, t(0)), Some(1));
        // The preferred one comes back: not before it has settled.
        assert_eq!(f.set_health(0, SourceHealth::Up, t(1)), Some(1));
        assert_eq!(f.decide(t(5)), Some(1));
        assert_eq!(f.decide(t(11)), Some(0));
        // It fails: straight to the pool.
        assert_eq!(f.set_health(0, SourceHealth::Down, t(12)), Some(1));
        assert_eq!(f.set_health(1, SourceHealth::Connecting, t(13)), None);
        assert!(matches!(f.mode(), WorkMode::HeatOnly { .. }));
        // From heat-only any healthy source takes over at once.
        assert_eq!(f.set_health(0, SourceHealth::Up, t(14)), Some(0));
    }

    #[test]
    fn a_preferred_source_that_is_merely_slow_to_start_is_taken_at_once() {
        let mut f = Failover::new(
            vec!["sharechain".into(), "pool".into()],
            Duration::from_secs(30),
        );
        f.set_startup_grace(Duration::from_secs(10));
        assert_eq!(f.decide(t(100)), None);
        assert_eq!(f.set_health(1, SourceHealth::Up, t(100)), Some(1));
        // Within the grace: no switch-back wait.
        assert_eq!(f.set_health(0, SourceHealth::Up, t(102)), Some(0));
        // After it, a loss and return waits as usual.
        assert_eq!(f.set_health(0, SourceHealth::Down, t(120)), Some(1));
        assert_eq!(f.set_health(0, SourceHealth::Up, t(121)), Some(1));
        assert_eq!(f.decide(t(150)), Some(1));
        assert_eq!(f.decide(t(151)), Some(0));
    }

    #[test]
    fn paused_means_heat_only_whatever_the_health_and_resumes_at_once() {
        let mut f = Failover::new(
            vec!["sharechain".into(), "pool".into()],
            Duration::from_secs(10),
        );
        assert_eq!(f.set_health(0, SourceHealth::Up, t(0)), Some(0));
        f.set_paused(true);
        assert!(f.paused());
        assert_eq!(f.decide(t(1)), None);
        assert_eq!(f.active(), None);
        match f.mode() {
            WorkMode::HeatOnly { reason } => assert!(reason.contains("switched off"), "{reason}"),
            m => panic!("{m:?}"),
        }
        // Health changes while paused are kept but change nothing.
        assert_eq!(f.set_health(1, SourceHealth::Up, t(2)), None);
        assert_eq!(f.health(1), Some(SourceHealth::Up));
        // Switched on: the preferred healthy source at once (from heat-only).
        f.set_paused(false);
        assert_eq!(f.decide(t(3)), Some(0));
        assert!(matches!(f.mode(), WorkMode::Source { index: 0, .. }));
    }
}
