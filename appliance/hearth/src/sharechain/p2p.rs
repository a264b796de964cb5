//! The sharechain node's tokio side: a TCP listener and outbound
//! connections (seeds), one reader and one writer task per connection with
//! bounded queues and timeouts, and one node task that owns the sans-IO
//! [`Node`], the SQLite store, and carries out the node's actions.

use super::store::{ShareDb, SHARECHAIN_DB_FILE};
use super::writer::{StoreWriter, WriteOp};
use anyhow::{Context, Result};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, BlockBase};
use hearth_sharechain::node::{Action, Node, PeerId, BAN_SECONDS};
use hearth_sharechain::p2p::{encode_frame, FrameReader, Message, ProtocolError};
use hearth_sharechain::store::{load_chain, BanRecord, PeerRecord, ShareStore};
use hearth_sharechain::{
    Chain, ChainParams, ConsensusId, Network, ReceivedShare, Share, ShareHash,
};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Frames queued to one peer; a peer that does not read is dropped.
pub const WRITE_QUEUE: usize = 256;
/// How often seeds we are not connected to are dialed again.
const REDIAL_EVERY: Duration = Duration::from_secs(10);

/// Events queued from all connections to the node task.
pub const EVENT_QUEUE: usize = 1024;
/// Most connections at once.
pub const MAX_PEERS: usize = 32;
/// How long a connection may take over its handshake before a newcomer may
/// take its slot when all are full (an honest handshake takes a few round
/// trips and the handshake proof of work: milliseconds).
const HANDSHAKE_GRACE: Duration = Duration::from_secs(2);
/// A read or write that takes longer ends the connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Connecting to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the p2p node.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Chain parameters.
    pub params: ChainParams,
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Peers to keep connected to.
    pub seeds: Vec<SocketAddr>,
    /// Where `sharechain.db` lives.
    pub data_dir: PathBuf,
    /// An artificial delay per SQLite write (tests of a slow disk); zero
    /// in the daemon.
    pub store_write_delay: Duration,
}

/// Per-IP limits on the p2p port (`[sharechain]` `max_inbound_per_ip`,
/// `ban_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// Inbound connections one IP (an IPv4 address, or an IPv6 /64) may
    /// hold at once; more are closed on arrival. Outbound connections (our
    /// seeds) do not count.
    pub max_inbound_per_ip: usize,
    /// How long a misbehaving peer's IP is refused.
    pub ban_seconds: u64,
}

/// Inbound connections per IP by default: a few nodes behind one NAT.
pub const MAX_INBOUND_PER_IP: usize = 4;

impl Default for PeerLimits {
    fn default() -> PeerLimits {
        PeerLimits {
            max_inbound_per_ip: MAX_INBOUND_PER_IP,
            ban_seconds: BAN_SECONDS,
        }
    }
}

/// What `hearth sharechain status` and `/api/v1/sharechain` show.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SharechainStatus {
    /// Network name.
    pub network: String,
    /// Consensus id (hex).
    pub consensus_id: String,
    /// Best tip (display hex).
    pub tip: Option<String>,
    /// Best height.
    pub height: Option<u64>,
    /// Connected, handshaken peers.
    pub peers: usize,
    /// Highest tip a peer announced.
    pub best_peer_height: u64,
    /// Shares queued or in flight in sync.
    pub sync_pending: usize,
    /// Shares in the PPLNS window.
    pub window_shares: usize,
    /// Distinct payees in the window.
    pub window_payees: usize,
    /// Our shares in the window (when a payout script is set).
    pub our_shares: usize,
    /// Our fraction of the window's work.
    pub our_fraction: f64,
    /// Expected payout if the next block is found now, for a block worth
    /// `block_value_sat`.
    pub our_expected_payout_sat: u64,
    /// The block value the expectation uses.
    pub block_value_sat: u64,
    /// Active bans.
    pub bans: usize,
    /// Blocks found (shares meeting the block target) since start.
    pub blocks_found: u64,
}

enum Event {
    /// The bool: inbound (accepted on our port) rather than dialed by us.
    Connected(
        PeerId,
        SocketAddr,
        bool,
        mpsc::Sender<Vec<u8>>,
        JoinHandle<()>,
    ),
    /// A message (shares in it as the bytes they were received as).
    Message(PeerId, Message),
    /// A frame whose payload is not a message: the peer is scored, and
    /// its reader goes on to the next frame.
    BadMessage(PeerId, ProtocolError),
    Closed(PeerId),
}

enum Command {
    Submit(Box<Share>, oneshot::Sender<Result<(), String>>),
    MineRegtest(
        bitcoin::ScriptBuf,
        oneshot::Sender<Result<ShareHash, String>>,
    ),
    Connect(SocketAddr),
    Payouts(u64, oneshot::Sender<Vec<(String, u64)>>),
    /// The work pipeline's job on the tip (payout script, block value, nBits).
    Job(
        bitcoin::ScriptBuf,
        u64,
        bitcoin::CompactTarget,
        oneshot::Sender<hearth_sharechain::ShareJob>,
    ),
}

/// A running p2p node.
#[derive(Debug, Clone)]
pub struct P2pHandle {
    cmd: mpsc::Sender<Command>,
    status: watch::Receiver<SharechainStatus>,
    /// The bound listen address.
    pub local_addr: SocketAddr,
    blocks: watch::Receiver<Option<Share>>,
    store_backlog: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The IP a peer is counted and banned under, never its port (a banned
/// peer reconnecting from a new port is the same peer): the IPv4 address
/// (also when mapped into IPv6), or the /64 of an IPv6 address, since one
/// host may use any address of its /64. Tests tell local peers apart by
/// using distinct loopback addresses (127.0.0.2, ...).
pub fn ip_key(addr: &SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn ban_key(addr: &SocketAddr) -> String {
    ip_key(addr).to_string()
}

impl P2pHandle {
    /// The latest status.
    pub fn status(&self) -> SharechainStatus {
        self.status.borrow().clone()
    }

    /// Waits for the status to change (or `timeout`).
    pub async fn changed(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.status.changed()).await;
    }

    /// A share of ours (from the work pipeline): validate, store, relay.
    pub async fn submit(&self, share: Share) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Submit(Box::new(share), tx))
            .await
            .context("sharechain node stopped")?;
        rx.await
            .context("sharechain node stopped")?
            .map_err(|e| anyhow::anyhow!("share refused: {e}"))
    }

    /// Regtest only: mine one share on the CPU paying `script` (tests, sim).
    pub async fn mine_regtest(&self, script: bitcoin::ScriptBuf) -> Result<ShareHash> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::MineRegtest(script, tx))
            .await
            .context("sharechain node stopped")?;
        rx.await
            .context("sharechain node stopped")?
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Connects to a peer.
    pub async fn connect(&self, addr: SocketAddr) -> Result<()> {
        self.cmd
            .send(Command::Connect(addr))
            .await
            .context("sharechain node stopped")
    }

    /// The payouts (script hex, sat) the window gives for a block worth
    /// `value_sat`.
    pub async fn payouts(&self, value_sat: u64) -> Result<Vec<(String, u64)>> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Payouts(value_sat, tx))
            .await
            .context("sharechain node stopped")?;
        rx.await.context("sharechain node stopped")
    }

    /// The job for our next share on the current tip, paying `script` for a
    /// block worth `value_sat` at `block_bits` (the work pipeline's source).
    pub async fn job(
        &self,
        script: bitcoin::ScriptBuf,
        value_sat: u64,
        block_bits: bitcoin::CompactTarget,
    ) -> Result<hearth_sharechain::ShareJob> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Job(script, value_sat, block_bits, tx))
            .await
            .context("sharechain node stopped")?;
        rx.await.context("sharechain node stopped")
    }

    /// SQLite writes queued and not yet on disk.
    pub fn store_backlog(&self) -> usize {
        self.store_backlog
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The last share that met the block target (for `submitblock`).
    pub fn last_block(&self) -> Option<Share> {
        self.blocks.borrow().clone()
    }
}

/// Starts the node: opens the store (resuming the chain from it), binds
/// the listener, dials the seeds.
pub async fn start(cfg: P2pConfig, our_script: Option<bitcoin::ScriptBuf>) -> Result<P2pHandle> {
    start_limited(cfg, our_script, PeerLimits::default()).await
}

/// [`start`] with per-IP limits other than the defaults.
pub async fn start_limited(
    cfg: P2pConfig,
    our_script: Option<bitcoin::ScriptBuf>,
    limits: PeerLimits,
) -> Result<P2pHandle> {
    cfg.params.check()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let mut db = ShareDb::open_in(&cfg.data_dir)?;
    let mut chain = Chain::new(cfg.params.clone(), Checker::detect());
    let now = now_s();
    let refused = load_chain(&mut chain, &mut db, now)?;
    if refused > 0 {
        tracing::warn!(refused, "stored shares refused on reload");
    }
    let bans: HashMap<String, u64> = db
        .bans(now)?
        .into_iter()
        .map(|b| (b.addr, b.until))
        .collect();
    // Writes go to their own thread and connection; `db` stays for reads.
    let store = StoreWriter::spawn(
        &cfg.data_dir.join(SHARECHAIN_DB_FILE),
        cfg.store_write_delay,
    )?;
    let store_backlog = store.backlog();
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the sharechain port {}", cfg.listen))?;
    let local_addr = listener.local_addr()?;
    let seed = now ^ u64::from(local_addr.port()).rotate_left(17) ^ u64::from(std::process::id());
    let node = Node::new(chain, seed, local_addr.port());
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (status_tx, status_rx) = watch::channel(SharechainStatus::default());
    let (block_tx, block_rx) = watch::channel(None);
    let id = node.chain().consensus_id();
    let next_peer = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    {
        let ev_tx = ev_tx.clone();
        let next_peer = next_peer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, addr)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let pid = PeerId(next_peer.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                spawn_connection(stream, addr, true, pid, id, ev_tx.clone());
            }
        });
    }
    let task = NodeTask {
        node,
        db,
        store,
        id,
        bans,
        limits,
        inbound: HashSet::new(),
        writers: HashMap::new(),
        addrs: HashMap::new(),
        connected_at: HashMap::new(),
        seeds: cfg.seeds.clone(),
        ev_tx,
        next_peer,
        status_tx,
        block_tx,
        our_script,
        blocks_found: 0,
        network: cfg.params.network,
    };
    for s in cfg.seeds {
        task.dial(s);
    }
    tokio::spawn(task.run(ev_rx, cmd_rx));
    Ok(P2pHandle {
        cmd: cmd_tx,
        status: status_rx,
        local_addr,
        blocks: block_rx,
        store_backlog,
    })
}

fn spawn_connection(
    stream: TcpStream,
    addr: SocketAddr,
    inbound: bool,
    pid: PeerId,
    id: ConsensusId,
    ev_tx: mpsc::Sender<Event>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (w_tx, mut w_rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = w_rx.recv().await {
            match tokio::time::timeout(IO_TIMEOUT, wr.write_all(&frame)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
    });
    let ev = ev_tx.clone();
    // The reader starts only once the node task has the connection, so no
    // message can overtake `Connected`.
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        if go_rx.await.is_err() {
            writer.abort();
            return;
        }
        let mut fr = FrameReader::new(&id);
        let mut buf = vec![0u8; 64 * 1024];
        'conn: loop {
            let want = fr.wanted().min(buf.len());
            let n = match tokio::time::timeout(IO_TIMEOUT, rd.read(&mut buf[..want])).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            fr.push(&buf[..n]);
            while let Some(m) = fr.next_message() {
                let event = match m {
                    Ok(m) => Event::Message(pid, m),
                    Err(e) if e.ends_connection() => {
                        tracing::info!(peer = pid.0, "sharechain peer sent a bad frame: {e}");
                        break 'conn;
                    }
                    Err(e) => Event::BadMessage(pid, e),
                };
                if ev.send(event).await.is_err() {
                    break 'conn;
                }
            }
        }
        let _ = ev.send(Event::Closed(pid)).await;
        writer.abort();
    });
    let ev_tx2 = ev_tx.clone();
    tokio::spawn(async move {
        if ev_tx2
            .send(Event::Connected(pid, addr, inbound, w_tx, reader))
            .await
            .is_ok()
        {
            let _ = go_tx.send(());
        }
    });
}

struct NodeTask {
    node: Node,
    /// Reads (serving shares to peers); every write goes to `store`.
    db: ShareDb,
    store: StoreWriter,
    id: ConsensusId,
    /// Banned IP -> until (unix seconds).
    bans: HashMap<String, u64>,
    limits: PeerLimits,
    /// Connections accepted on our port (the per-IP limit counts these).
    inbound: HashSet<PeerId>,
    writers: HashMap<PeerId, (mpsc::Sender<Vec<u8>>, JoinHandle<()>)>,
    addrs: HashMap<PeerId, SocketAddr>,
    /// When each connection arrived (to evict stale handshakes, below).
    connected_at: HashMap<PeerId, std::time::Instant>,
    seeds: Vec<SocketAddr>,
    ev_tx: mpsc::Sender<Event>,
    next_peer: std::sync::Arc<std::sync::atomic::AtomicU64>,
    status_tx: watch::Sender<SharechainStatus>,
    block_tx: watch::Sender<Option<Share>>,
    our_script: Option<bitcoin::ScriptBuf>,
    blocks_found: u64,
    network: Network,
}

impl NodeTask {
    fn banned(&self, addr: &SocketAddr, now: u64) -> bool {
        self.bans
            .get(&ban_key(addr))
            .is_some_and(|until| *until > now)
    }

    /// Inbound connections from `addr`'s IP now.
    fn inbound_from(&self, addr: &SocketAddr) -> usize {
        let ip = ip_key(addr);
        self.inbound
            .iter()
            .filter(|pid| self.addrs.get(pid).is_some_and(|a| ip_key(a) == ip))
            .count()
    }

    fn dial(&self, addr: SocketAddr) {
        if self.banned(&addr, now_s()) {
            return;
        }
        let ev_tx = self.ev_tx.clone();
        let pid = PeerId(
            self.next_peer
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        let id = self.id;
        tokio::spawn(async move {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                spawn_connection(stream, addr, false, pid, id, ev_tx);
            }
        });
    }

    async fn run(mut self, mut ev_rx: mpsc::Receiver<Event>, mut cmd_rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Not at once: the seeds were just dialed, and a redial before their
        // `Connected` arrives would open a second connection to the same node.
        let mut redial =
            tokio::time::interval_at(tokio::time::Instant::now() + REDIAL_EVERY, REDIAL_EVERY);
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        self.publish();
        loop {
            self.store.flush_overflow();
            // A full store queue holds peer events back (not commands,
            // ticks or status) until the store thread catches up.
            let store_has_room = self.store.has_room();
            tokio::select! {
                ev = ev_rx.recv(), if store_has_room => {
                    let Some(ev) = ev else { break };
                    self.on_event(ev);
                }
                cmd = cmd_rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.on_command(cmd);
                }
                _ = tick.tick() => {
                    let acts = self.node.tick(now_s());
                    self.apply(acts);
                }
                _ = prune.tick() => {
                    // Two windows stay, in memory and on disk.
                    if self.node.chain_mut().prune(0) > 0 {
                        let floor = self.node.chain().base_height();
                        self.store.write(WriteOp::PruneBelow(floor));
                    }
                }
                _ = redial.tick() => {
                    let connected: HashSet<SocketAddr> = self.addrs.values().copied().collect();
                    for s in self.seeds.clone() {
                        if !connected.contains(&s) {
                            self.dial(s);
                        }
                    }
                }
            }
            self.publish();
        }
    }

    fn on_event(&mut self, ev: Event) {
        let now = now_s();
        match ev {
            Event::Connected(pid, addr, inbound, w, reader) => {
                if self.banned(&addr, now) {
                    tracing::debug!(peer = %addr, "sharechain: banned IP refused");
                    reader.abort();
                    return;
                }
                if inbound && self.inbound_from(&addr) >= self.limits.max_inbound_per_ip {
                    tracing::debug!(peer = %addr, "sharechain: per-IP connection limit; refused");
                    reader.abort();
                    return;
                }
                if self.writers.len() >= MAX_PEERS && !self.evict_stale_handshake() {
                    reader.abort();
                    return;
                }
                if inbound {
                    self.inbound.insert(pid);
                }
                self.connected_at.insert(pid, std::time::Instant::now());
                self.writers.insert(pid, (w, reader));
                self.addrs.insert(pid, addr);
                let acts = self.node.on_connect(pid, now);
                self.apply(acts);
            }
            Event::Message(pid, m) => {
                if !self.writers.contains_key(&pid) {
                    return;
                }
                let wanted = Node::wanted_from_store(&m).filter(|_| self.node.is_ready(pid));
                let acts = self.node.on_message(pid, m, now);
                self.apply(acts);
                if let Some(hashes) = wanted {
                    // As stored (a peer's as received): not decoded.
                    let shares: Vec<ReceivedShare> = hashes
                        .iter()
                        .filter_map(|h| {
                            // Not yet written: from the store's queue.
                            self.store.pending_share(h).or_else(|| {
                                let bytes = self.db.get_encoded(h).ok().flatten()?;
                                ReceivedShare::from_bytes(bytes).ok()
                            })
                        })
                        .collect();
                    self.send(pid, &Message::Shares(shares));
                }
            }
            Event::BadMessage(pid, e) => {
                if !self.writers.contains_key(&pid) {
                    return;
                }
                tracing::info!(peer = pid.0, "sharechain peer sent a bad message: {e}");
                let acts = self.node.on_bad_message(pid, &e, now);
                self.apply(acts);
            }
            Event::Closed(pid) => self.drop_peer(pid),
        }
    }

    /// With every slot taken, a new connection may replace the oldest one
    /// still not through its handshake after [`HANDSHAKE_GRACE`]: otherwise
    /// an attacker holding `MAX_PEERS` silent connections (each cut only by
    /// the 20 s handshake timeout, then reopened) keeps every honest newcomer
    /// out (measured by `tests/flood.rs`). Handshaken peers are never evicted.
    fn evict_stale_handshake(&mut self) -> bool {
        let stale = self
            .connected_at
            .iter()
            .filter(|(pid, at)| !self.node.is_ready(**pid) && at.elapsed() >= HANDSHAKE_GRACE)
            .min_by_key(|(_, at)| **at)
            .map(|(pid, _)| *pid);
        match stale {
            Some(pid) => {
                tracing::debug!(
                    peer = pid.0,
                    "sharechain slots full; stale handshake evicted"
                );
                self.drop_peer(pid);
                true
            }
            None => false,
        }
    }

    fn drop_peer(&mut self, pid: PeerId) {
        self.connected_at.remove(&pid);
        self.inbound.remove(&pid);
        self.node.on_disconnect(pid);
        if let Some((_, reader)) = self.writers.remove(&pid) {
            reader.abort();
        }
        self.addrs.remove(&pid);
    }

    fn send(&mut self, pid: PeerId, m: &Message) {
        let frame = encode_frame(&self.id, m);
        let full = match self.writers.get(&pid) {
            Some((w, _)) => w.try_send(frame).is_err(),
            None => false,
        };
        if full {
            tracing::info!(peer = pid.0, "sharechain peer not reading; dropped");
            self.drop_peer(pid);
        }
    }

    fn apply(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Send(pid, m) => self.send(pid, &m),
                Action::Disconnect(pid, why) => {
                    tracing::info!(peer = pid.0, "sharechain peer disconnected: {why}");
                    self.drop_peer(pid);
                }
                Action::Ban(pid, why) => {
                    if let Some(addr) = self.addrs.get(&pid) {
                        let key = ban_key(addr);
                        tracing::warn!(peer = %addr, "sharechain peer banned: {why}");
                        let until = now_s().saturating_add(self.limits.ban_seconds);
                        self.store.write(WriteOp::Ban(BanRecord {
                            addr: key.clone(),
                            until,
                            reason: why,
                        }));
                        self.bans.insert(key, until);
                    }
                    self.drop_peer(pid);
                }
                Action::Store { shares, tip } => {
                    self.store.write(WriteOp::Shares { shares, tip });
                }
                Action::SubmitBlock(share) => {
                    self.blocks_found += 1;
                    tracing::info!(share = %share.hash().to_hex(), "share meets the block target");
                    self.block_tx.send_replace(Some(*share));
                }
                Action::LearnedAddr(a) => {
                    self.store.write(WriteOp::Peer(PeerRecord {
                        addr: a,
                        last_seen: now_s(),
                    }));
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = now_s();
        match cmd {
            Command::Submit(share, reply) => {
                let r = self.node.submit_local(*share, now);
                let _ = reply.send(match r {
                    Ok(acts) => {
                        self.apply(acts);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                });
            }
            Command::MineRegtest(script, reply) => {
                let _ = reply.send(self.mine_regtest(script, now));
            }
            Command::Connect(addr) => self.dial(addr),
            Command::Job(script, value, bits, reply) => {
                let _ = reply.send(self.node.chain_mut().job(script, value, bits, now));
            }
            Command::Payouts(value, reply) => {
                let finder = self
                    .our_script
                    .clone()
                    .unwrap_or_else(|| bitcoin::ScriptBuf::from_bytes(vec![0x51]));
                // The next share builds on the tip: its lottery seed.
                let parent = self
                    .node
                    .chain()
                    .tip()
                    .map_or(ShareHash([0; 32]), |t| t.hash);
                let outs = self.node.chain().window().payouts(value, &finder, &parent);
                let _ = reply.send(
                    outs.into_iter()
                        .map(|o| (hex(o.script_pubkey.as_bytes()), o.value.to_sat()))
                        .collect(),
                );
            }
        }
    }

    fn mine_regtest(&mut self, script: bitcoin::ScriptBuf, now: u64) -> Result<ShareHash, String> {
        if self.network != Network::Regtest {
            return Err("CPU mining is for regtest only".into());
        }
        let bits = bitcoin::CompactTarget::from_consensus(0x207f_ffff);
        let job = self.node.chain_mut().job(script, 50_000_000, bits, now);
        let base = BlockBase {
            prev_blockhash: bitcoin::BlockHash::from_raw_hash(
                bitcoin::hashes::Hash::from_byte_array([0; 32]),
            ),
            height: 1000,
            bits,
            time: now as u32,
        };
        let extra = self.node.chain().height().map_or(0, |h| h + 1)
            ^ (u64::from(self.id.0[0]) << 40)
            ^ now.rotate_left(20);
        let share = mine(&job, &base, &[], extra, 1_000_000).ok_or("no share found")?;
        let hash = share.hash();
        let acts = self
            .node
            .submit_local(share, now)
            .map_err(|e| e.to_string())?;
        self.apply(acts);
        Ok(hash)
    }

    fn publish(&self) {
        let chain = self.node.chain();
        let progress = self.node.progress();
        let window = chain.window();
        let block_value_sat = 312_500_000;
        let (our_shares, our_fraction, our_payout) = match &self.our_script {
            Some(s) => {
                let n = window.iter().filter(|e| &e.script == s).count();
                let total = window.total_work();
                let frac = if total > 0 {
                    window.weight_of(s) as f64 / total as f64
                } else {
                    0.0
                };
                // The expectation (direct or through the lottery).
                let pay = window.expected_payout(block_value_sat, s);
                (n, frac, pay)
            }
            None => (0, 0.0, 0),
        };
        let st = SharechainStatus {
            network: chain.params().network.name().into(),
            consensus_id: chain.consensus_id().to_hex(),
            tip: chain.tip().map(|t| t.hash.to_hex()),
            height: chain.height(),
            peers: progress.peers,
            best_peer_height: progress.best_peer_height,
            sync_pending: progress.pending,
            window_shares: window.len(),
            window_payees: window.payees(),
            our_shares,
            our_fraction,
            our_expected_payout_sat: our_payout,
            block_value_sat,
            bans: {
                let now = now_s();
                self.bans.values().filter(|until| **until > now).count()
            },
            blocks_found: self.blocks_found,
        };
        self.status_tx.send_if_modified(|old| {
            if *old != st {
                *old = st;
                true
            } else {
                false
            }
        });
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
