//! The work service: Stratum pools (and later the sharechain node) in,
//! jobs to every board's chain out, nonces back to shares.
//!
//! One task owns the sans-IO pieces of `hearth-work` — the [`JobBook`], the
//! [`Failover`] order, the per-source [`SourceStats`] — and talks to:
//! - one task per pool ([`client::run_pool`]: socket, reconnect, backoff);
//! - every board through its [`JobFeed`]: jobs go out on the board's
//!   command queue, nonces come straight back on a bounded tap (not through
//!   the control loop's once-a-tick poll), so a share is relayed as soon as
//!   the chain driver has verified its nonce.
//!
//! Heat never waits for work: when no source is up the boards get local
//! heat-only jobs at once (nothing found on them is submitted: the board
//! runtime keeps their nonces to itself, and the book refuses their ids);
//! when a source returns, its job replaces the heat-only one on the running
//! chain, without a stop. The mode is in `GET /api/v1/status` under `work`
//! and in the log.
//!
//! The homeowner's mining switch (`mining_enabled` in the control settings)
//! pauses the failover: heat-only work exactly as when no source is up, the
//! boards heating as the thermostat asks, nothing submitted.
//!
//! With `[work.server]` enabled, [`server`] shares the active source's work
//! with miners on the LAN; their shares that meet the source's target come
//! back here and go where our chains' shares go.

pub mod bench;
pub mod client;
pub mod config;
pub mod lan_payout;
mod lines;
pub mod live;
pub mod own;
pub mod persist;
pub mod server;
pub mod testpool;

pub use config::WorkConfig;

use crate::boards::JobFeed;
use client::{Backoff, PoolConfig, SourceEvent};
use hearth_core::{Clock, NonceFound, Timestamp};
use hearth_shacheck::Checker;
use hearth_work::stratum::{ClientConfig, ClientEvent, FollowReconnect};
use hearth_work::{
    Failover, JobBook, Outcome, Share, SourceHealth, SourceStats, StatsView, WorkMode, WorkUnit,
};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Nonces waiting for classification (all boards).
const NONCE_QUEUE: usize = 4096;
/// Events from the pool tasks.
const EVENT_QUEUE: usize = 256;
/// Shares waiting for a pool task.
const SUBMIT_QUEUE: usize = 256;
/// The active source's work is re-issued (fresh extranonce2 per chain, not
/// clean) this often, so a chain never sweeps a job's nonce x version space
/// before the next arrives: 2^48 hashes (16 rolled bits) last 3.5 s at
/// 80 TH/s, so one second leaves room up to ~280 TH/s per chain.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// A source without version rolling gives each job only 2^32 nonces per
/// chain (milliseconds of hashing at TH/s): its work is re-issued with a
/// fresh extranonce2 this often. The UART bounds how far this can go (a
/// job frame is ~90 bytes), so on fast chains most hashing on such a pool
/// repeats work: it still heats, it just finds fewer shares.
const REFRESH_NO_ROLLING_EVERY: Duration = Duration::from_millis(100);
/// Counters are written this often (and at shutdown).
const PERSIST_EVERY: Duration = Duration::from_secs(60);
/// Block reward assumed for earnings estimates (subsidy after the 2024
/// halving; fees not counted).
const BLOCK_REWARD_SAT: u64 = 312_500_000;

/// One source in the status.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    pub name: String,
    pub health: SourceHealth,
    pub active: bool,
    pub stats: StatsView,
}

/// `work` in `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkStatus {
    #[serde(flatten)]
    pub mode: WorkMode,
    /// Plain words for the homeowner.
    pub summary: String,
    pub sources: Vec<SourceView>,
    pub boards: usize,
    pub jobs_sent: u64,
    pub job_send_failures: u64,
    pub nonces_checked: u64,
    pub nonces_below_target: u64,
    pub nonces_stale: u64,
    pub nonces_unknown_job: u64,
    pub shares_found: u64,
    pub shares_not_queued: u64,
    pub blocks_found: u64,
    /// LAN miners' shares passed on to the source (they met its target).
    pub lan_shares_relayed: u64,
    /// `[work.server]`: the LAN Stratum server and its miners (`None`: off).
    pub lan_server: Option<server::LanStatus>,
    /// The homeowner's mining switch (`PUT /api/v1/control/mining`); off:
    /// heat-only work whatever the sources' health.
    pub mining_enabled: bool,
}

#[derive(Debug, Clone)]
pub struct WorkOptions {
    pub pools: Vec<PoolConfig>,
    pub switch_back_after: Duration,
    pub data_dir: Option<PathBuf>,
    /// Our sharechain node first in the failover order (`own::run`), with
    /// the BIP310 version mask its jobs may roll; `None`: pools only.
    pub own_source: Option<u32>,
    /// `[work.server]` when enabled, with the BIP310 mask LAN miners may
    /// roll.
    pub lan_server: Option<(config::LanServerConfig, u32)>,
}

impl WorkOptions {
    /// From `[work]`; `sim_pool` (an in-process pool address) is added
    /// when simulating and no pool is configured.
    pub fn from_config(
        cfg: &WorkConfig,
        data_dir: Option<PathBuf>,
        sim_pool: Option<String>,
    ) -> WorkOptions {
        let mut pools: Vec<PoolConfig> = cfg
            .pools
            .iter()
            .filter_map(|p| {
                Some(PoolConfig {
                    name: p.name.clone(),
                    address: config::pool_address(&p.url)?,
                    client: ClientConfig {
                        user: p.user.clone(),
                        password: p.password.clone(),
                        agent: concat!("hearth/", env!("CARGO_PKG_VERSION")).into(),
                        version_mask: cfg.version_mask,
                    },
                    backoff: Backoff::default(),
                    follow_reconnect: p.follow_reconnect,
                })
            })
            .collect();
        if pools.is_empty() {
            if let Some(address) = sim_pool {
                pools.push(PoolConfig {
                    name: "sim-pool".into(),
                    address,
                    client: ClientConfig {
                        user: "bcrt1qhearthsimulated.heater".into(),
                        password: "x".into(),
                        agent: concat!("hearth/", env!("CARGO_PKG_VERSION")).into(),
                        version_mask: cfg.version_mask,
                    },
                    backoff: Backoff {
                        first: Duration::from_millis(200),
                        max: Duration::from_secs(5),
                    },
                    follow_reconnect: FollowReconnect::SameHost,
                });
            }
        }
        WorkOptions {
            pools,
            switch_back_after: Duration::from_secs(cfg.switch_back_after_s),
            data_dir,
            own_source: None,
            lan_server: cfg
                .server
                .enabled
                .then(|| (cfg.server.clone(), cfg.version_mask)),
        }
    }
}

/// The service's state, owned by its task.
struct Service {
    clock: Arc<dyn Clock>,
    feeds: Vec<JobFeed>,
    book: JobBook,
    failover: Failover,
    stats: Vec<SourceStats>,
    active_since: Vec<Timestamp>,
    latest: Vec<Option<WorkUnit>>,
    submits: Vec<mpsc::Sender<Share>>,
    last_mode: Option<WorkMode>,
    heat_seq: u64,
    sink: WorkSink,
    status: WorkStatus,
    /// The active source's work for the LAN server's miners.
    lan_work: watch::Sender<Option<server::LanWork>>,
    lan_sent: Option<(usize, String)>,
    lan: Option<server::LanHandle>,
    /// Counters of every source seen since start (a source taken out of the
    /// list and put back keeps its counts).
    saved: std::collections::BTreeMap<String, hearth_work::stats::Counters>,
    switch_back_after: Duration,
}

fn heat_only_reason(f: &Failover) -> String {
    match f.mode() {
        WorkMode::HeatOnly { reason } => reason,
        WorkMode::Source { name, .. } => format!("mining on {name}"),
    }
}

impl Service {
    fn send_jobs(&mut self, jobs: Vec<hearth_core::Job>) {
        for (feed, job) in self.feeds.iter().zip(jobs) {
            match feed.send(job) {
                Ok(()) => self.status.jobs_sent += 1,
                Err(e) => {
                    self.status.job_send_failures += 1;
                    tracing::debug!(board = %feed.board, error = %e, "job not delivered");
                }
            }
        }
    }

    /// Fan `unit` of source `index` out to every chain.
    fn dispatch(&mut self, index: usize, unit: &WorkUnit) {
        self.share_with_lan(index, unit);
        if self.feeds.is_empty() {
            return;
        }
        match self.book.fan_out(index, unit, self.feeds.len()) {
            Ok(jobs) => self.send_jobs(jobs),
            Err(e) => {
                tracing::warn!(source = self.failover.name(index).unwrap_or("?"), error = %e, "work not usable")
            }
        }
    }

    /// New work of the active source (not a refresh of the same job) for
    /// the LAN miners.
    fn share_with_lan(&mut self, index: usize, unit: &WorkUnit) {
        if self.failover.active() != Some(index) {
            return;
        }
        let key = (index, unit.source_job_id.clone());
        if !unit.clean && self.lan_sent.as_ref() == Some(&key) {
            return;
        }
        self.lan_sent = Some(key);
        // Our sharechain's work: LAN miners mine under their own address.
        let sharechain = (self.failover.name(index) == Some(own::SOURCE_NAME))
            .then(lan_payout::network)
            .flatten();
        self.lan_work.send_replace(Some(server::LanWork {
            source: index,
            unit: unit.clone(),
            sharechain,
        }));
    }

    /// A LAN miner's share that meets its source's target: to the same
    /// place our chains' shares go.
    fn on_lan_share(&mut self, lan: server::LanShare) {
        let mut share = lan.share;
        let i = lan.source;
        share.source = i;
        self.status.lan_shares_relayed += 1;
        if share.is_block {
            self.status.blocks_found += 1;
            if let Some(s) = self.stats.get_mut(i) {
                s.block();
            }
        }
        tracing::debug!(worker = %lan.worker, source = self.failover.name(i).unwrap_or("?"), "LAN share relayed");
        let queued = self
            .submits
            .get(i)
            .is_some_and(|tx| tx.try_send(share).is_ok());
        if !queued {
            self.status.shares_not_queued += 1;
        }
    }

    /// The active source's work rolls no version bits.
    fn active_without_rolling(&self) -> bool {
        self.failover
            .active()
            .and_then(|i| self.latest.get(i))
            .is_some_and(|u| u.as_ref().is_some_and(|u| u.version_mask == 0))
    }

    /// Re-issue the active source's latest work with fresh extranonces.
    fn refresh(&mut self) {
        if let Some(i) = self.failover.active() {
            if let Some(mut unit) = self.latest.get(i).cloned().flatten() {
                unit.clean = false;
                self.dispatch(i, &unit);
            }
        }
    }

    /// Fresh local heat-only work on every chain (distinct per chain).
    fn heat_only(&mut self) {
        let jobs: Vec<_> = (0..self.feeds.len())
            .map(|_| {
                let job = hearth_board::runtime::heat_only_job(self.heat_seq);
                self.heat_seq += 1;
                job
            })
            .collect();
        self.send_jobs(jobs);
    }

    /// After any health change: follow the failover's choice.
    fn follow(&mut self, now: Timestamp) {
        let before = self.failover.active();
        self.follow_from(before, now);
    }

    /// [`Self::follow`], from the source that was active `before` the change.
    fn follow_from(&mut self, before: Option<usize>, now: Timestamp) {
        let enabled = (self.sink.mining_enabled)();
        self.failover.set_paused(!enabled);
        self.status.mining_enabled = enabled;
        let after = self.failover.decide(now);
        let mode = self.failover.mode();
        if self.last_mode.as_ref() != Some(&mode) {
            match &mode {
                WorkMode::Source { name, .. } => tracing::info!(source = %name, "mining on {name}"),
                WorkMode::HeatOnly { reason } => tracing::warn!("heat-only: {reason}"),
            }
            self.last_mode = Some(mode);
        }
        // Nothing new to send; without chains of our own (only LAN miners)
        // no job is ever counted, so the LAN's last unit says it was sent:
        // re-sending it clean every tick would make their shares stale.
        if before == after && (self.status.jobs_sent > 0 || self.lan_sent.is_some()) {
            return;
        }
        match after {
            Some(i) => {
                if let Some(i_since) = self.active_since.get_mut(i) {
                    *i_since = now;
                }
                if let Some(mut unit) = self.latest.get(i).cloned().flatten() {
                    unit.clean = true;
                    self.dispatch(i, &unit);
                }
            }
            None => {
                // Nothing from the old source may be submitted after this.
                if let Some(b) = before {
                    self.book.retire_source(b);
                }
                // Heat-only work is never shared: LAN miners wait.
                self.lan_sent = None;
                self.lan_work.send_replace(None);
                self.heat_only();
            }
        }
    }

    fn on_event(&mut self, ev: SourceEvent) {
        let now = self.clock.now();
        match ev {
            SourceEvent::Health(i, h) => {
                // `set_health` decides at once: read the active source
                // before it, or a switch to heat-only would look like no
                // change (the old job kept hashing, its shares counted).
                let before = self.failover.active();
                self.failover.set_health(i, h, now);
                self.follow_from(before, now);
            }
            SourceEvent::Problem(i, why) => {
                tracing::warn!(source = self.failover.name(i).unwrap_or("?"), "{why}");
            }
            SourceEvent::Client(i, ev) => self.on_client(i, *ev, now),
        }
    }

    fn on_client(&mut self, i: usize, ev: ClientEvent, now: Timestamp) {
        let name = self.failover.name(i).unwrap_or("?").to_string();
        let Some(stats) = self.stats.get_mut(i) else {
            return;
        };
        match ev {
            ClientEvent::Ready => tracing::info!(source = %name, "subscribed and authorized"),
            ClientEvent::Work(unit) => {
                stats.network_difficulty =
                    hearth_work::difficulty::difficulty_of_target(&unit.block_target);
                stats.share_difficulty =
                    hearth_work::difficulty::difficulty_of_target(&unit.share_target);
                if let Some(slot) = self.latest.get_mut(i) {
                    *slot = Some(unit.clone());
                }
                if self.failover.active() == Some(i) {
                    self.dispatch(i, &unit);
                }
            }
            ClientEvent::Difficulty { difficulty, target } => {
                stats.share_difficulty = difficulty;
                self.book.set_share_target(i, target);
                if let Some(Some(u)) = self.latest.get_mut(i) {
                    u.share_target = target;
                }
            }
            ClientEvent::ExtranonceChanged => {
                tracing::info!(source = %name, "pool changed our extranonce")
            }
            ClientEvent::Accepted { difficulty, .. } => stats.accepted(difficulty, now),
            ClientEvent::Rejected {
                job_id,
                reason,
                stale,
            } => {
                stats.rejected(stale);
                tracing::info!(source = %name, job = %job_id, stale, "share rejected: {reason}");
            }
            ClientEvent::Lost { count } => {
                stats.lost(count);
                tracing::warn!(source = %name, count, "shares lost with a dropped connection");
            }
            ClientEvent::Reconnect { .. } => {}
            ClientEvent::Note(n) => tracing::info!(source = %name, "{n}"),
        }
    }

    fn on_nonce(&mut self, found: &NonceFound) {
        self.status.nonces_checked += 1;
        match self.book.classify(found) {
            Ok(Outcome::Share(share)) => {
                self.status.shares_found += 1;
                let i = share.source;
                if share.is_block {
                    self.status.blocks_found += 1;
                    if let Some(s) = self.stats.get_mut(i) {
                        s.block();
                    }
                    // A pool submits the block itself; our own template source
                    // (the sharechain, later) will submit it to the node.
                    tracing::debug!(source = self.failover.name(i).unwrap_or("?"), hash = %share.hash, "a share meets the block target");
                }
                let queued = self
                    .submits
                    .get(i)
                    .is_some_and(|tx| tx.try_send(*share).is_ok());
                if !queued {
                    self.status.shares_not_queued += 1;
                }
            }
            Ok(Outcome::BelowTarget) => self.status.nonces_below_target += 1,
            Ok(Outcome::Stale) => self.status.nonces_stale += 1,
            Ok(Outcome::UnknownJob) | Ok(Outcome::BadVersion { .. }) => {
                self.status.nonces_unknown_job += 1
            }
            Ok(Outcome::HeatOnly) => {}
            Err(e) => tracing::warn!(error = %e, "nonce not checked"),
        }
    }

    fn publish(&mut self) {
        let now = self.clock.now();
        self.failover.decide(now);
        let hashrate = (self.sink.hashrate_ghs)();
        let active = self.failover.active();
        let sources = (0..self.failover.len())
            .map(|i| {
                let started = self.active_since.get(i).copied().unwrap_or(now);
                SourceView {
                    name: self.failover.name(i).unwrap_or("?").to_string(),
                    health: self.failover.health(i).unwrap_or(SourceHealth::Down),
                    active: active == Some(i),
                    stats: self.stats[i].view(
                        now,
                        started,
                        if active == Some(i) { hashrate } else { 0.0 },
                        BLOCK_REWARD_SAT,
                    ),
                }
            })
            .collect();
        self.status.mode = self.failover.mode();
        self.status.summary = match &self.status.mode {
            WorkMode::Source { name, .. } => format!("Mining on {name}; heat as usual."),
            WorkMode::HeatOnly { .. } => format!(
                "Heating on local work only: {}.",
                heat_only_reason(&self.failover)
            ),
        };
        self.status.sources = sources;
        self.status.lan_server = self.lan.as_ref().map(server::LanHandle::status);
        *self.sink.status.write().unwrap_or_else(|p| p.into_inner()) = Some(self.status.clone());
    }

    /// A new source list, live. The boards get heat-only work at once (they
    /// never stop: heat-only work replaces the old source's on the running
    /// chains), every unit of the old list is retired (a late nonce on it is
    /// stale, never submitted, to anyone), the old tasks end (their submit
    /// queues close and their events are no longer read), and the new
    /// sources take over through the failover as they come up. Returns the
    /// new sources' events.
    fn replace_sources(&mut self, plan: live::SourcePlan) -> mpsc::Receiver<SourceEvent> {
        for (name, c) in self.counters() {
            self.saved.insert(name, c);
        }
        for i in 0..self.failover.len() {
            self.book.retire_source(i);
        }
        self.submits.clear();
        let own_source = plan.own_source.is_some();
        let (names, submits, events) = spawn_sources(plan.pools, plan.own_source, &self.clock);
        tracing::info!(sources = ?names, "work sources changed: restarting them; heat-only work meanwhile");
        let now = self.clock.now();
        self.failover = new_failover(names.clone(), own_source, self.switch_back_after);
        self.stats = names
            .iter()
            .map(|n| SourceStats::new(self.saved.get(n).cloned().unwrap_or_default()))
            .collect();
        self.active_since = vec![now; names.len()];
        self.latest = vec![None; names.len()];
        self.submits = submits;
        self.last_mode = None;
        self.lan_sent = None;
        self.lan_work.send_replace(None);
        self.heat_only();
        self.follow(now);
        self.publish();
        events
    }

    fn counters(&self) -> Vec<(String, hearth_work::stats::Counters)> {
        (0..self.failover.len())
            .map(|i| {
                (
                    self.failover.name(i).unwrap_or("?").to_string(),
                    self.stats[i].counters.clone(),
                )
            })
            .collect()
    }
}

/// `hearth run`'s start of the work service: the configured pools, or with
/// `--sim` and none configured (and `sim_pool`), an in-process pool (kept
/// alive by the returned value).
pub async fn start(
    run: &crate::daemon::RunOptions,
    shared: Arc<crate::state::Shared>,
    feeds: Vec<JobFeed>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<testpool::TestPool>> {
    Ok(start_live(run, shared, feeds, shutdown).await?.0)
}

/// [`start`], with the source list stored by `PUT /api/v1/settings/work`
/// (if any) over the config file's, and the control that changes it live.
pub async fn start_live(
    run: &crate::daemon::RunOptions,
    shared: Arc<crate::state::Shared>,
    feeds: Vec<JobFeed>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Option<testpool::TestPool>, Arc<live::WorkControl>)> {
    let cfg = &run.config.raw.work;
    own::set_template_every(Duration::from_secs(cfg.template_refresh_s));
    let pool = if run.simulate && cfg.sim_pool && cfg.pools.is_empty() {
        let p = testpool::TestPool::start(
            SIM_POOL_DIFFICULTY,
            testpool::Quirks {
                new_block_every: Some(Duration::from_secs(600)),
                ..testpool::Quirks::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("starting the in-process Stratum pool: {e}"))?;
        tracing::info!(address = %p.address, "in-process Stratum pool for the simulation");
        Some(p)
    } else {
        None
    };
    let base = live::Base {
        work: cfg.clone(),
        sim_pool: pool.as_ref().map(|p| p.address.to_string()),
        sharechain_available: own::effective_section(
            &run.config.raw.sharechain,
            run.simulate,
            !cfg.pools.is_empty(),
        )
        .enabled,
    };
    let (sources, stored) = base.initial(&run.data_dir);
    if stored {
        tracing::info!(
            pools = sources.pools.len(),
            sharechain = sources.sharechain,
            "work sources from {} (over the config file's)",
            live::WORK_SETTINGS_FILE
        );
    }
    let (control, plans) = live::WorkControl::new(run.data_dir.clone(), base, sources, stored);
    let plan = plans.borrow().clone();
    let mut opts = WorkOptions::from_config(cfg, Some(run.data_dir.clone()), None);
    opts.pools = plan.pools;
    opts.own_source = plan.own_source;
    let hashrate_from = shared.clone();
    let sink = WorkSink {
        status: shared.work.clone(),
        hashrate_ghs: Arc::new(move || {
            hashrate_from
                .status
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(0.0, |s| s.boards.iter().map(|b| b.hashrate_ghs).sum())
        }),
        mining_enabled: {
            let shared = shared.clone();
            Arc::new(move || crate::state::lock(&shared.control).settings.mining_enabled)
        },
    };
    spawn_live(
        opts,
        feeds,
        shared.steady_clock.clone(),
        sink,
        shutdown,
        Some(plans),
    );
    Ok((pool, Arc::new(control)))
}

/// Where the service's status goes, and where it reads the boards' total
/// hashrate (for the expectations in the status).
#[derive(Clone)]
pub struct WorkSink {
    pub status: Arc<std::sync::RwLock<Option<WorkStatus>>>,
    pub hashrate_ghs: Arc<dyn Fn() -> f64 + Send + Sync>,
    /// Read every tick: false pauses the failover (heat-only work).
    pub mining_enabled: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for WorkSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkSink").finish_non_exhaustive()
    }
}

/// Share difficulty of the simulation's pool: 2^-19, so about half of the
/// simulated chips' nonces (12 leading zero bits, difficulty >= 2^-20) are
/// shares and half are below target, both paths exercised.
pub const SIM_POOL_DIFFICULTY: f64 = 1.0 / 524_288.0;

/// The next plan, once it changes; pending for ever without a receiver or
/// once its sender is gone (the service then keeps the sources it has).
async fn next_plan(
    plans: &mut Option<watch::Receiver<live::SourcePlan>>,
) -> Option<live::SourcePlan> {
    let Some(rx) = plans.as_mut() else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *plans = None;
        return std::future::pending().await;
    }
    let plan = rx.borrow_and_update().clone();
    Some(plan)
}

/// Starts the pool tasks and the service; runs until `shutdown`.
pub fn spawn(
    opts: WorkOptions,
    feeds: Vec<JobFeed>,
    clock: Arc<dyn Clock>,
    sink: WorkSink,
    shutdown: watch::Receiver<bool>,
) {
    spawn_live(opts, feeds, clock, sink, shutdown, None);
}

/// The source tasks for one plan: the failover names, one submit queue per
/// source, and the events of these tasks only (a restart drops them, so a
/// task of the old list can never speak for an index of the new one).
fn spawn_sources(
    pools: Vec<PoolConfig>,
    own_source: Option<u32>,
    clock: &Arc<dyn Clock>,
) -> (
    Vec<String>,
    Vec<mpsc::Sender<Share>>,
    mpsc::Receiver<SourceEvent>,
) {
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let mut names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let mut submits = Vec::new();
    // Our own sharechain first; the pools follow as fallbacks.
    let first_pool = usize::from(own_source.is_some());
    if let Some(version_mask) = own_source {
        names.insert(0, own::SOURCE_NAME.to_string());
        let (tx, rx) = mpsc::channel(SUBMIT_QUEUE);
        submits.push(tx);
        tokio::spawn(own::run(0, version_mask, ev_tx.clone(), rx));
    }
    for (i, pool) in pools.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(SUBMIT_QUEUE);
        submits.push(tx);
        tokio::spawn(client::run_pool(
            first_pool + i,
            pool,
            clock.clone(),
            ev_tx.clone(),
            rx,
        ));
    }
    (names, submits, ev_rx)
}

fn new_failover(names: Vec<String>, own_source: bool, switch_back_after: Duration) -> Failover {
    let mut f = Failover::new(names, switch_back_after);
    if own_source {
        f.set_startup_grace(own::STARTUP_GRACE);
    }
    f
}

/// [`spawn`], following `plans` when given: each new plan restarts the
/// sources ([`Service::replace_sources`]) while the boards keep heating.
pub fn spawn_live(
    opts: WorkOptions,
    feeds: Vec<JobFeed>,
    clock: Arc<dyn Clock>,
    sink: WorkSink,
    mut shutdown: watch::Receiver<bool>,
    mut plans: Option<watch::Receiver<live::SourcePlan>>,
) {
    let (nonce_tx, mut nonce_rx) = mpsc::channel::<NonceFound>(NONCE_QUEUE);
    for f in &feeds {
        f.tap_nonces(nonce_tx.clone());
    }
    drop(nonce_tx);
    let mut store = opts
        .data_dir
        .as_deref()
        .and_then(|d| match persist::StatsStore::open_in(d) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "work statistics will not be persisted");
                None
            }
        });
    let saved = store
        .as_ref()
        .and_then(|s| s.load().ok())
        .unwrap_or_default();
    let own_source = opts.own_source.is_some();
    let (names, submits, mut ev_rx) = spawn_sources(opts.pools, opts.own_source, &clock);
    let (lan_work, lan_work_rx) = watch::channel(None);
    let (lan_tx, mut lan_rx) = mpsc::channel::<server::LanShare>(SUBMIT_QUEUE);
    let lan = opts.lan_server.as_ref().and_then(|(cfg, version_mask)| {
        match server::start(
            cfg,
            *version_mask,
            clock.clone(),
            lan_work_rx,
            lan_tx,
            shutdown.clone(),
        ) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(listen = %cfg.listen, error = %e, "LAN Stratum server not started");
                None
            }
        }
    });
    let now = clock.now();
    let mut svc = Service {
        clock: clock.clone(),
        book: JobBook::new(Checker::detect()),
        failover: new_failover(names.clone(), own_source, opts.switch_back_after),
        stats: names
            .iter()
            .map(|n| SourceStats::new(saved.get(n).cloned().unwrap_or_default()))
            .collect(),
        active_since: vec![now; names.len()],
        latest: vec![None; names.len()],
        submits,
        last_mode: None,
        heat_seq: 1 << 20,
        sink,
        status: WorkStatus {
            mode: WorkMode::HeatOnly {
                reason: "starting".into(),
            },
            summary: String::new(),
            sources: Vec::new(),
            boards: feeds.len(),
            jobs_sent: 0,
            job_send_failures: 0,
            nonces_checked: 0,
            nonces_below_target: 0,
            nonces_stale: 0,
            nonces_unknown_job: 0,
            shares_found: 0,
            shares_not_queued: 0,
            blocks_found: 0,
            lan_shares_relayed: 0,
            lan_server: None,
            mining_enabled: true,
        },
        lan_work,
        lan_sent: None,
        lan,
        feeds,
        saved,
        switch_back_after: opts.switch_back_after,
    };
    tokio::spawn(async move {
        let now = svc.clock.now();
        svc.follow(now);
        svc.publish();
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        let mut fast_tick = tokio::time::interval(REFRESH_NO_ROLLING_EVERY);
        fast_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_persist = tokio::time::Instant::now();
        loop {
            tokio::select! {
                Some(ev) = ev_rx.recv() => svc.on_event(ev),
                Some(n) = nonce_rx.recv() => svc.on_nonce(&n),
                Some(s) = lan_rx.recv() => svc.on_lan_share(s),
                Some(plan) = next_plan(&mut plans) => {
                    if let Some(s) = store.as_mut() {
                        if let Err(e) = s.save(svc.clock.now().as_millis(), &svc.counters()) {
                            tracing::warn!(error = %e, "saving work statistics failed");
                        }
                    }
                    ev_rx = svc.replace_sources(plan);
                }
                _ = fast_tick.tick() => {
                    if svc.active_without_rolling() {
                        svc.refresh();
                    }
                }
                _ = tick.tick() => {
                    let now = svc.clock.now();
                    svc.follow(now);
                    svc.refresh();
                    svc.publish();
                    if last_persist.elapsed() >= PERSIST_EVERY {
                        last_persist = tokio::time::Instant::now();
                        if let Some(s) = store.as_mut() {
                            if let Err(e) = s.save(now.as_millis(), &svc.counters()) {
                                tracing::warn!(error = %e, "saving work statistics failed");
                            }
                        }
                    }
                }
                _ = shutdown.changed() => {
                    if let Some(s) = store.as_mut() {
                        if let Err(e) = s.save(svc.clock.now().as_millis(), &svc.counters()) {
                            tracing::warn!(error = %e, "saving work statistics failed");
                        }
                    }
                    svc.publish();
                    return;
                }
            }
        }
    });
}
