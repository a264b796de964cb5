//! The LAN Stratum V1 server: other miners in the house (a Bitaxe with its
//! stock firmware, an old S9) point at the Pi and mine on the work the
//! boards get (the active source's: our sharechain or a pool).
//!
//! One tokio task accepts connections (at most `max_connections`, the rest
//! are closed at once and counted); one task per connection speaks through
//! `hearth-work`'s sans-IO [`ServerSession`], which checks every submit
//! against the session's difficulty with the share checker. A share that
//! also meets the source's share target goes to the work service
//! ([`LanShare`]) and from there to the same place our own chains' shares go.
//!
//! Extranonces: the source's extranonce2 space is split ([`LanSplit`]) into
//! the session's extranonce1 (first byte with [`LAN_EXTRANONCE_BIT`] set,
//! which our own chains never use, then the connection's slot number) and
//! the bytes the miner rolls, so no two miners and no miner and chain ever
//! do the same work. The split adapts to short sources (a 4-byte pool: one
//! byte of extranonce1, three for the miner, room for 128 miners); a miner
//! whose slot does not fit is refused with the reason. A source with less
//! than 2 bytes cannot be shared: LAN miners then get no work (the status
//! says why). When the split changes under a connected miner it gets
//! `mining.set_extranonce` if it subscribed to it, else it is dropped and
//! reconnects for the new one (cgminer ignores `set_extranonce`).
//!
//! Limits: a bounded write queue per connection (a miner that does not read
//! is dropped), a login timeout, an idle timeout, a write timeout, bounded
//! lines ([`LineReader`]).

use super::config::LanServerConfig;
use super::lines::{LineReader, Read};
use hearth_core::{Clock, Timestamp};
use hearth_shacheck::{Checker, Target};
use hearth_work::stratum::server::{miner_difficulty, payout_script_of};
use hearth_work::stratum::{ServerConfig, ServerEvent, ServerSession};
use hearth_work::vardiff::{Vardiff, VardiffConfig};
use hearth_work::{LanSplit, Share, SourceStats, WorkUnit, LAN_EXTRANONCE_BIT};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// The split assumed before any source has work (an 8-byte source, as
/// our own templates and most pools give).
const DEFAULT_SOURCE_EXTRANONCE2_LEN: usize = 8;
/// Lines waiting to be written to one miner.
const WRITE_QUEUE: usize = 64;
/// One write may take this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscribe and authorize within this.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A miner that sends nothing this long is dropped (it reconnects).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Vardiff looks at the share rate this often.
const RETARGET_EVERY: Duration = Duration::from_secs(60);

/// The work LAN miners get: the active source's latest unit.
#[derive(Debug, Clone)]
pub struct LanWork {
    pub source: usize,
    pub unit: WorkUnit,
    /// The source is our sharechain on this network: miners need a payout
    /// address valid for it and get jobs paying it (`lan_payout`).
    pub sharechain: Option<bitcoin::Network>,
}

/// A LAN miner's share that meets the source's share target.
#[derive(Debug, Clone)]
pub struct LanShare {
    pub source: usize,
    pub worker: String,
    pub share: Share,
}

/// One connected miner in the status.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    pub slot: usize,
    pub peer: String,
    /// `mining.authorize`'s user (payout address part).
    pub user: Option<String>,
    pub worker: Option<String>,
    /// The authorize user as a payout address valid for our sharechain's
    /// network: while the sharechain is the source, this miner's shares pay
    /// it. `None`: no such address (its shares, on a pool, go to our
    /// account).
    pub payout_address: Option<String>,
    pub difficulty: f64,
    /// Shares that met the session's difficulty.
    pub accepted: u64,
    /// Shares refused (low difficulty, malformed, wrong extranonce size).
    pub rejected: u64,
    /// Shares for jobs no longer current.
    pub stale: u64,
    /// Accepted shares that also met the source's target and were passed on.
    pub relayed: u64,
    pub bad_lines: u64,
    /// From accepted shares over the last 10 minutes.
    pub effective_hashrate_ghs: f64,
    pub connected_s: f64,
    /// Seconds since its last accepted share (`None`: none yet).
    pub last_share_s_ago: Option<f64>,
}

/// `work.lan_server` in `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LanStatus {
    pub listen: String,
    pub connections: usize,
    pub max_connections: usize,
    pub refused_connections: u64,
    /// Why LAN miners get no work right now (`None`: they do).
    pub no_work: Option<String>,
    /// LAN miners the active source's extranonce space fits (the smaller
    /// of its slots and `max_connections`; `None`: no shareable work).
    pub capacity: Option<u64>,
    /// Miners refused or dropped because the source's extranonce space
    /// had no slot left for them.
    pub refused_no_room: u64,
    /// Connections closed after too many wrong or missing passwords
    /// (`work.server.password`).
    pub refused_password: u64,
    /// Whether `mining.authorize` needs `work.server.password`.
    pub password_required: bool,
    pub workers: Vec<WorkerView>,
}

#[derive(Debug)]
struct Worker {
    peer: String,
    user: Option<String>,
    worker: Option<String>,
    payout_address: Option<String>,
    difficulty: f64,
    accepted: u64,
    rejected: u64,
    stale: u64,
    relayed: u64,
    bad_lines: u64,
    stats: SourceStats,
    since: Timestamp,
    last_share: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Board {
    status: LanStatus,
    workers: BTreeMap<usize, Worker>,
    /// Wrong or missing passwords per client (an IPv4 address or an IPv6
    /// /64) in the current window: (count, window start).
    password_failures: BTreeMap<std::net::IpAddr, (u32, std::time::Instant)>,
}

/// Wrong passwords one client may send per [`PASSWORD_FAILURE_WINDOW`]
/// before its new connections are closed at once: enough for a miner
/// whose owner mistyped it, far too few to guess one.
const MAX_PASSWORD_FAILURES_PER_CLIENT: u32 = 10;
const PASSWORD_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Clients remembered; past this, the oldest window is forgotten.
const MAX_CLIENTS_REMEMBERED: usize = 1024;

impl Board {
    fn password_locked(&mut self, client: std::net::IpAddr) -> bool {
        match self.password_failures.get(&client) {
            Some((_, since)) if since.elapsed() >= PASSWORD_FAILURE_WINDOW => {
                self.password_failures.remove(&client);
                false
            }
            Some((n, _)) => *n >= MAX_PASSWORD_FAILURES_PER_CLIENT,
            None => false,
        }
    }

    fn password_failed(&mut self, client: std::net::IpAddr, failures: u32) {
        if !self.password_failures.contains_key(&client)
            && self.password_failures.len() >= MAX_CLIENTS_REMEMBERED
        {
            let oldest = self
                .password_failures
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                self.password_failures.remove(&ip);
            }
        }
        let entry = self
            .password_failures
            .entry(client)
            .or_insert((0, std::time::Instant::now()));
        entry.0 = entry.0.saturating_add(failures);
    }
}

/// The server's shared view, read by the work service for the status.
#[derive(Clone)]
pub struct LanHandle {
    board: Arc<Mutex<Board>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LanHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanHandle").finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Board>) -> std::sync::MutexGuard<'_, Board> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LanHandle {
    pub fn status(&self) -> LanStatus {
        let now = self.clock.now();
        let mut b = lock(&self.board);
        let mut status = b.status.clone();
        status.connections = b.workers.len();
        status.workers = b
            .workers
            .iter_mut()
            .map(|(slot, w)| WorkerView {
                slot: *slot,
                peer: w.peer.clone(),
                user: w.user.clone(),
                worker: w.worker.clone(),
                payout_address: w.payout_address.clone(),
                difficulty: w.difficulty,
                accepted: w.accepted,
                rejected: w.rejected,
                stale: w.stale,
                relayed: w.relayed,
                bad_lines: w.bad_lines,
                effective_hashrate_ghs: w.stats.effective_hashrate_hs(now, w.since) / 1e9,
                connected_s: now.since(w.since).as_secs_f64(),
                last_share_s_ago: w.last_share.map(|t| now.since(t).as_secs_f64()),
            })
            .collect();
        status
    }

    fn with_worker(&self, slot: usize, f: impl FnOnce(&mut Worker)) {
        if let Some(w) = lock(&self.board).workers.get_mut(&slot) {
            f(w);
        }
    }
}

/// The split of `work`'s extranonce space (the default before any work),
/// or why it cannot be shared.
fn split_of(work: &Option<LanWork>) -> Result<LanSplit, String> {
    LanSplit::for_source(
        work.as_ref()
            .map_or(DEFAULT_SOURCE_EXTRANONCE2_LEN, |w| w.unit.extranonce2_len),
    )
}

/// The extranonce1 of `slot`, or a placeholder (with the LAN bit) for a
/// slot that does not fit: that miner is refused before it gets any work.
fn extranonce1_or_placeholder(split: &LanSplit, slot: usize) -> Vec<u8> {
    split
        .extranonce1(slot)
        .unwrap_or_else(|| vec![LAN_EXTRANONCE_BIT; split.extranonce1_len])
}

/// Binds `cfg.listen` and starts the accept loop. Returns the handle (its
/// status has the bound address, useful with port 0).
pub fn start(
    cfg: &LanServerConfig,
    version_mask: u32,
    clock: Arc<dyn Clock>,
    work: watch::Receiver<Option<LanWork>>,
    shares: mpsc::Sender<LanShare>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<LanHandle> {
    let std_listener = std::net::TcpListener::bind(cfg.listen)?;
    std_listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(std_listener)?;
    let local = listener.local_addr()?;
    let handle = LanHandle {
        board: Arc::new(Mutex::new(Board {
            status: LanStatus {
                listen: local.to_string(),
                max_connections: cfg.max_connections,
                password_required: cfg.password.is_some(),
                no_work: Some("no work source yet".into()),
                ..LanStatus::default()
            },
            workers: BTreeMap::new(),
            password_failures: BTreeMap::new(),
        })),
        clock,
    };
    tracing::info!(address = %local, "LAN Stratum server listening");
    let ctx = Arc::new(Ctx {
        cfg: cfg.clone(),
        version_mask,
        handle: handle.clone(),
        shares,
        checker: Checker::detect(),
    });
    tokio::spawn(accept_loop(listener, ctx, work, shutdown));
    Ok(handle)
}

struct Ctx {
    cfg: LanServerConfig,
    version_mask: u32,
    handle: LanHandle,
    shares: mpsc::Sender<LanShare>,
    checker: Checker,
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    work: watch::Receiver<Option<LanWork>>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Keep the "no work" note current even with nobody connected.
    let mut watch_work = work.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "LAN server: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let client = crate::web::auth::client_key(peer.ip());
                if lock(&ctx.handle.board).password_locked(client) {
                    lock(&ctx.handle.board).status.refused_password += 1;
                    tracing::info!(%peer, "LAN server: too many wrong passwords from this client; closed");
                    drop(stream);
                    continue;
                }
                let slot = {
                    let mut b = lock(&ctx.handle.board);
                    let free = (0..ctx.cfg.max_connections).find(|s| !b.workers.contains_key(s));
                    match free {
                        Some(slot) => {
                            b.workers.insert(slot, Worker {
                                peer: peer.to_string(),
                                user: None,
                                worker: None,
                                payout_address: None,
                                difficulty: miner_difficulty(ctx.cfg.difficulty),
                                accepted: 0,
                                rejected: 0,
                                stale: 0,
                                relayed: 0,
                                bad_lines: 0,
                                stats: SourceStats::default(),
                                since: ctx.handle.clock.now(),
                                last_share: None,
                            });
                            Some(slot)
                        }
                        None => {
                            b.status.refused_connections += 1;
                            None
                        }
                    }
                };
                let Some(slot) = slot else {
                    tracing::info!(%peer, "LAN server full: connection refused");
                    drop(stream);
                    continue;
                };
                let ctx = ctx.clone();
                let work = work.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(why) = serve(stream, peer, slot, &ctx, work, shutdown).await {
                        tracing::info!(%peer, "LAN miner disconnected: {why}");
                    }
                    // Its jobs first: once the slot is free a new miner
                    // may take it and build its own.
                    super::lan_payout::forget(slot);
                    lock(&ctx.handle.board).workers.remove(&slot);
                });
            }
            changed = watch_work.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = watch_work.borrow().clone();
                let (note, capacity) = match &current {
                    None => (Some("no work source is up (heat-only work is never shared)".into()), None),
                    Some(_) => match split_of(&current) {
                        Ok(split) => (None, Some(split.slots.min(ctx.cfg.max_connections as u64))),
                        Err(why) => (Some(why), None),
                    },
                };
                let mut b = lock(&ctx.handle.board);
                b.status.no_work = note;
                b.status.capacity = capacity;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// One miner's connection: the session, its writer, its work.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    slot: usize,
    ctx: &Ctx,
    mut work: watch::Receiver<Option<LanWork>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(WRITE_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            // The codec's lines end with their newline.
            match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(line.as_bytes())).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    });
    let send = |line: String| -> Result<(), String> {
        out_tx
            .try_send(line)
            .map_err(|_| "the miner does not read its lines (write queue full)".to_string())
    };
    let clock = ctx.handle.clock.clone();
    // The split the miner was told (at subscribe, or by set_extranonce).
    let mut split = split_of(&work.borrow()).or_else(|_| split_of(&None))?;
    let mut session = ServerSession::new(
        ServerConfig {
            extranonce2_len: split.miner_extranonce2_len,
            difficulty: ctx.cfg.difficulty,
            version_mask: ctx.version_mask,
        },
        ctx.checker,
        extranonce1_or_placeholder(&split, slot),
    );
    session.require_password(ctx.cfg.password.clone());
    let mut vardiff = ctx.cfg.vardiff.then(|| {
        Vardiff::new(
            VardiffConfig {
                start: ctx.cfg.difficulty,
                min: ctx.cfg.min_difficulty,
                max: ctx.cfg.max_difficulty,
                target_interval: Duration::from_secs(ctx.cfg.target_share_interval_s),
                retarget_every: RETARGET_EVERY,
            },
            clock.now(),
        )
    });
    // The source behind each job sent (by the unit's job id), for relaying.
    let mut sent_source: Option<(usize, Target, u32)> = None;
    // The miner's own payout (address, script) once it authorized with an
    // address valid for our sharechain's network.
    let mut payout: Option<(String, bitcoin::ScriptBuf)> = None;
    let mut lan_serial = next_serial();
    let mut reader = LineReader::default();
    let login_deadline = tokio::time::Instant::now() + LOGIN_TIMEOUT;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_line = tokio::time::Instant::now();
    let result = loop {
        tokio::select! {
            r = reader.read(&mut rd) => {
                let lines = match r {
                    Ok(Read::Lines(l)) => l,
                    Ok(Read::Closed) => break Err("closed".to_string()),
                    Err(e) => break Err(e.to_string()),
                };
                last_line = tokio::time::Instant::now();
                let mut authorized = false;
                let mut retarget = false;
                let mut failed = None;
                let network = work.borrow().as_ref().and_then(|w| w.sharechain);
                let current = work.borrow().clone();
                // Not subscribed yet: the subscribe answer carries the
                // split of the work it will get.
                if !session.subscribed() {
                    if let Ok(now_split) = split_of(&current) {
                        if now_split != split {
                            split = now_split;
                            session.reset_extranonce(extranonce1_or_placeholder(&split, slot), split.miner_extranonce2_len);
                        }
                    }
                }
                // More miners than the source's extranonce space fits:
                // this one is told why and closed.
                let no_room = current.as_ref().and_then(|w| {
                    split_of(&current).ok().and_then(|s| s.no_room(slot, w.unit.extranonce2_len))
                });
                if let Some(why) = no_room {
                    if let Some(first) = lines.first() {
                        let id = serde_json::from_str::<serde_json::Value>(first)
                            .ok()
                            .and_then(|v| v.get("id").cloned())
                            .unwrap_or(serde_json::Value::Null);
                        let _ = send(hearth_work::stratum::codec::response(&id, serde_json::json!(false), Some((24, &why))));
                    }
                    lock(&ctx.handle.board).status.refused_no_room += 1;
                    break Err(why);
                }
                for line in lines {
                    // Our sharechain's work needs a valid payout address.
                    session.require_address_on(network);
                    for ev in session.on_line(&line) {
                        match ev {
                            ServerEvent::Send(l) => {
                                if let Err(e) = send(l) {
                                    failed = Some(e);
                                }
                            }
                            ServerEvent::Authorized { user } => {
                                let worker = line_worker(&line);
                                payout = (network.or_else(super::lan_payout::network))
                                    .and_then(|n| payout_script_of(&user, n).ok())
                                    .map(|script| (user.clone(), script));
                                let address = payout.as_ref().map(|(a, _)| a.clone());
                                ctx.handle.with_worker(slot, |w| {
                                    w.user = Some(user.clone());
                                    w.worker = worker;
                                    w.payout_address = address;
                                });
                                tracing::info!(%peer, %user, "LAN miner authorized");
                                authorized = true;
                            }
                            ServerEvent::Share { user, share } => {
                                let now = clock.now();
                                let difficulty = session.difficulty();
                                let relay = sent_source.filter(|(_, target, mask)| {
                                    target.is_met_by(&share.hash) && share.version_bits & !mask == 0
                                });
                                ctx.handle.with_worker(slot, |w| {
                                    w.accepted += 1;
                                    w.stats.accepted(difficulty, now);
                                    w.last_share = Some(now);
                                    if relay.is_some() {
                                        w.relayed += 1;
                                    }
                                });
                                if let Some((source, _, _)) = relay {
                                    let lan = LanShare { source, worker: user, share: *share };
                                    if ctx.shares.try_send(lan).is_err() {
                                        tracing::warn!(%peer, "LAN share not queued (work service busy)");
                                    }
                                }
                                if let Some(d) = vardiff.as_mut().and_then(|v| v.on_share(now)) {
                                    if let Some(l) = session.set_difficulty(d) {
                                        failed = send(l).err().or(failed);
                                        let d = session.difficulty();
                                        ctx.handle.with_worker(slot, |w| w.difficulty = d);
                                        retarget = true;
                                    }
                                }
                            }
                            ServerEvent::Refused { why } => {
                                let stale = why.contains("stale");
                                ctx.handle.with_worker(slot, |w| {
                                    if stale { w.stale += 1 } else { w.rejected += 1 }
                                });
                            }
                        }
                    }
                }
                if session.should_close() {
                    // A guesser (or a miner with the wrong password) is cut
                    // off; its slot frees for the next connection.
                    tracing::warn!(%peer, "LAN miner closed after {} wrong passwords", session.failed_auths());
                    lock(&ctx.handle.board).status.refused_password += 1;
                    break Err("wrong password".into());
                }
                let bad = session.bad_lines + reader.too_long;
                ctx.handle.with_worker(slot, |w| w.bad_lines = bad);
                if let Some(e) = failed {
                    break Err(e);
                }
                if authorized || retarget {
                    // Work at once, if there is any; after a new difficulty
                    // too, so the miner moves to it on a fresh job (miners
                    // apply a difficulty from their next job on). Marked
                    // seen: the same unit must not come again as a second
                    // job (clean, if the source's was) right after this one.
                    let current = work.borrow_and_update().clone();
                    if let Err(e) = give_work(&mut session, &mut split, (slot, &ctx.handle), current, &mut sent_source, &send, (&mut payout, &mut lan_serial), authorized).await {
                        break Err(e);
                    }
                }
            }
            changed = work.changed() => {
                if changed.is_err() {
                    break Err("work service stopped".into());
                }
                let current = work.borrow_and_update().clone();
                if let Err(e) = give_work(&mut session, &mut split, (slot, &ctx.handle), current, &mut sent_source, &send, (&mut payout, &mut lan_serial), false).await {
                    break Err(e);
                }
            }
            _ = tick.tick() => {
                if session.user().is_none() && tokio::time::Instant::now() >= login_deadline {
                    break Err("no subscribe/authorize within the login timeout".into());
                }
                if last_line.elapsed() >= IDLE_TIMEOUT {
                    break Err("idle".into());
                }
                let now = clock.now();
                if let Some(d) = vardiff.as_mut().and_then(|v| v.on_tick(now)) {
                    if let Some(l) = session.set_difficulty(d) {
                        if let Err(e) = send(l) {
                            break Err(e);
                        }
                        let d = session.difficulty();
                        ctx.handle.with_worker(slot, |w| w.difficulty = d);
                        let current = work.borrow_and_update().clone();
                        if let Err(e) = give_work(&mut session, &mut split, (slot, &ctx.handle), current, &mut sent_source, &send, (&mut payout, &mut lan_serial), false).await {
                            break Err(e);
                        }
                    }
                }
            }
            _ = shutdown.changed() => break Ok(()),
        }
    };
    // Counted per client however the connection ended, so a guesser
    // that hangs up after each try is bounded too.
    if session.failed_auths() > 0 {
        lock(&ctx.handle.board).password_failed(
            crate::web::auth::client_key(peer.ip()),
            session.failed_auths(),
        );
    }
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    result
}

/// A number unique to this connection, so its jobs' ids differ from those
/// of an earlier connection in the same slot.
fn next_serial() -> u64 {
    static SERIALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SERIALS.fetch_add(1 << 32, std::sync::atomic::Ordering::Relaxed)
}

/// The "address.worker" name's worker part from an authorize line.
fn line_worker(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let user = v.get("params")?.get(0)?.as_str()?;
    user.split_once('.')
        .map(|(_, w)| w.chars().take(64).collect())
}

/// Sends `current` to the miner (a new extranonce1 first when the source's
/// extranonce space changed). `first`: right after authorize, the job is
/// clean whatever the source said.
#[allow(clippy::too_many_arguments)] // one connection's state, passed as it is
async fn give_work(
    session: &mut ServerSession,
    split: &mut LanSplit,
    (slot, handle): (usize, &LanHandle),
    current: Option<LanWork>,
    sent_source: &mut Option<(usize, Target, u32)>,
    send: &impl Fn(String) -> Result<(), String>,
    (payout, serial): (&mut Option<(String, bitcoin::ScriptBuf)>, &mut u64),
    first: bool,
) -> Result<(), String> {
    let Some(LanWork {
        source,
        mut unit,
        sharechain,
    }) = current
    else {
        return Ok(());
    };
    if session.user().is_none() {
        return Ok(());
    }
    let Ok(wanted) = LanSplit::for_source(unit.extranonce2_len) else {
        return Ok(()); // the status says why there is no work
    };
    if let Some(why) = wanted.no_room(slot, unit.extranonce2_len) {
        lock(&handle.board).status.refused_no_room += 1;
        return Err(why);
    }
    if wanted != *split {
        if !session.takes_set_extranonce() {
            return Err(format!(
                "the source's extranonce space changed ({} bytes now) and the miner did not subscribe to mining.set_extranonce: it reconnects for the new split",
                unit.extranonce2_len
            ));
        }
        *split = wanted;
        let en1 = extranonce1_or_placeholder(split, slot);
        send(session.set_extranonce_and_size(en1, split.miner_extranonce2_len))?;
        unit.clean = true;
    }
    if first {
        unit.clean = true;
    }
    // A miner that logged in under a pool with a user that is no address
    // on the sharechain's network must not mine for our payout now that
    // the sharechain is the source: drop it (it is refused if it returns).
    if let (Some(network), None, Some(user)) = (sharechain, &payout, session.user()) {
        // Logged in before the sharechain's network was known: its user
        // may still be a payout address for it.
        if let Ok(script) = payout_script_of(user, network) {
            let address = user.to_string();
            handle.with_worker(slot, |w| w.payout_address = Some(address.clone()));
            *payout = Some((address, script));
        }
    }
    if sharechain.is_some() && payout.is_none() {
        return Err(format!(
            "the sharechain is the source now and {:?} is not a payout address on its network",
            session.user().unwrap_or_default()
        ));
    }
    // Our sharechain: the same template, the job paying the miner's own
    // address. If that job cannot be made the miner gets nothing (never
    // our payout in its name); the next unit tries again.
    if let (Some(_), Some((_, script))) = (sharechain, payout.as_ref()) {
        *serial += 1;
        match super::lan_payout::miner_unit(slot, *serial, script.clone(), &unit).await {
            Ok(own) => {
                unit = WorkUnit {
                    clean: unit.clean,
                    ..own
                }
            }
            Err(e) => {
                tracing::warn!(slot, "no job with the LAN miner's payout: {e:#}");
                return Ok(());
            }
        }
    }
    // The difficulty the source wants and the version bits it allows go
    // with the job: only shares meeting them are relayed.
    *sent_source = Some((source, unit.share_target, unit.version_mask));
    if let Some(line) = session.notify(&unit) {
        send(line)?;
    }
    Ok(())
}
