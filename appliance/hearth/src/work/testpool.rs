//! An in-process Stratum V1 pool for tests, the benchmark and `hearth run
//! --sim`. It speaks through the same LAN-server state machine
//! ([`ServerSession`]), mines on regtest-like templates (nBits 0x207fffff,
//! a new "block" on demand or on a timer), checks every submit, and has
//! the quirks real pools have, each switchable: stale rejects, extranonce
//! changes, difficulty changes mid-job, malformed JSON, dropping the
//! connection in the middle of a submit, and no version rolling.

use super::lines::{LineReader, Read};
use bitcoin::blockdata::script::ScriptBuf;
use bitcoin::blockdata::transaction::TxOut;
use bitcoin::hashes::{sha256d, Hash as _};
use bitcoin::{Amount, BlockHash, CompactTarget};
use hearth_shacheck::{Checker, Target};
use hearth_work::stratum::{ServerConfig, ServerEvent, ServerSession};
use hearth_work::{BlockTemplate, CoinbaseSpec, Share, TemplateWork};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Switchable misbehaviour.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// Reject every Nth valid submit as stale.
    pub stale_every: Option<u64>,
    /// After every N accepted shares on a connection, change its extranonce1.
    pub extranonce_change_every: Option<u64>,
    /// After N accepted shares, change the difficulty (without new work).
    pub difficulty_change: Option<(u64, f64)>,
    /// Send a malformed line after every N lines.
    pub malformed_every: Option<u64>,
    /// Drop the connection on receiving the Nth submit (pool-wide count),
    /// without answering it.
    pub disconnect_on_submit: Option<u64>,
    /// A new block (clean job) this often.
    pub new_block_every: Option<Duration>,
    /// No BIP310: `mining.configure` answers "version-rolling": false and a
    /// submit with rolled version bits is refused.
    pub no_version_rolling: bool,
    /// Extranonce2 bytes given to each client (`None`: 8). Many pools give
    /// 4, some 2 or 3.
    pub extranonce2_len: Option<usize>,
    /// On the first connection, once authorized and given a job: send
    /// `client.reconnect [host, port, 0]` and hang up, as a pool moving its
    /// miners does (or one that would steal them).
    pub reconnect_to: Option<(String, u16)>,
}

/// What the pool saw.
#[derive(Debug, Default, Clone)]
pub struct PoolLog {
    pub connections: u64,
    pub submits: u64,
    pub accepted: Vec<(String, Share)>,
    pub stale_rejected: u64,
    pub refused: Vec<String>,
    /// When each submit line arrived, with its nonce (the newest
    /// [`MAX_SUBMIT_TIMES`]), for latency measurements.
    pub submit_times: Vec<(std::time::Instant, u32)>,
}

/// Submit arrival times kept in [`PoolLog::submit_times`].
pub const MAX_SUBMIT_TIMES: usize = 100_000;

/// The nonce of a `mining.submit` line.
fn submit_nonce(line: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    hearth_work::stratum::codec::hex_u32(v.get("params")?.get(4)?.as_str()?)
}

#[derive(Debug)]
pub struct TestPool {
    pub address: SocketAddr,
    pub log: Arc<Mutex<PoolLog>>,
    blocks: watch::Sender<u64>,
}

/// `count` is a (non-zero) multiple of `n`.
fn every(count: u64, n: Option<u64>) -> bool {
    n.is_some_and(|n| n > 0 && count.checked_rem(n) == Some(0))
}

fn lock(m: &Mutex<PoolLog>) -> std::sync::MutexGuard<'_, PoolLog> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestPool {
    /// Listens on 127.0.0.1 (a free port) with `difficulty` for shares.
    pub async fn start(difficulty: f64, quirks: Quirks) -> std::io::Result<TestPool> {
        Self::start_on("127.0.0.1:0", difficulty, quirks).await
    }

    /// Listens on `address` (e.g. a port a client was already told about).
    pub async fn start_on(
        address: &str,
        difficulty: f64,
        quirks: Quirks,
    ) -> std::io::Result<TestPool> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let log = Arc::new(Mutex::new(PoolLog::default()));
        let (blocks, blocks_rx) = watch::channel(0u64);
        let shared = Arc::new(PoolShared {
            difficulty,
            quirks: quirks.clone(),
            log: log.clone(),
            checker: Checker::detect(),
        });
        tokio::spawn(accept_loop(listener, shared, blocks_rx));
        if let Some(every) = quirks.new_block_every {
            let tx = blocks.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                t.tick().await;
                loop {
                    t.tick().await;
                    if tx.send_modify_checked() {
                        break;
                    }
                }
            });
        }
        Ok(TestPool {
            address,
            log,
            blocks,
        })
    }

    /// A new block: clean jobs to every connection.
    pub fn new_block(&self) {
        self.blocks.send_modify(|n| *n += 1);
    }

    pub fn log(&self) -> PoolLog {
        lock(&self.log).clone()
    }
}

trait SendModifyChecked {
    /// Bumps the block counter; true when every receiver is gone.
    fn send_modify_checked(&self) -> bool;
}

impl SendModifyChecked for watch::Sender<u64> {
    fn send_modify_checked(&self) -> bool {
        self.send_modify(|n| *n += 1);
        self.receiver_count() == 0
    }
}

#[derive(Debug)]
struct PoolShared {
    difficulty: f64,
    quirks: Quirks,
    log: Arc<Mutex<PoolLog>>,
    checker: Checker,
}

async fn accept_loop(listener: TcpListener, shared: Arc<PoolShared>, blocks: watch::Receiver<u64>) {
    let mut conn = 0u32;
    while let Ok((stream, _)) = listener.accept().await {
        conn += 1;
        lock(&shared.log).connections += 1;
        tokio::spawn(connection(stream, conn, shared.clone(), blocks.clone()));
    }
}

/// The template for block number `n`: regtest difficulty, one payout.
pub fn template(n: u64) -> BlockTemplate {
    BlockTemplate {
        version: bitcoin::block::Version::from_consensus(0x2000_0000),
        prev_blockhash: BlockHash::from_byte_array(
            sha256d::Hash::hash(&n.to_le_bytes()).to_byte_array(),
        ),
        bits: CompactTarget::from_consensus(0x207F_FFFF),
        curtime: 1_700_000_000 + u32::try_from(n % 1_000_000).unwrap_or(0) * 600,
        height: 1000 + u32::try_from(n % 1_000_000).unwrap_or(0),
        coinbase_value: Amount::from_sat(50 * 100_000_000),
        transactions: Vec::new(),
        witness_commitment: None,
    }
}

fn work_for(n: u64, session: &ServerSession) -> Option<TemplateWork> {
    let spec = CoinbaseSpec {
        outputs: vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000),
            script_pubkey: ScriptBuf::new_op_return([0x70; 20]),
        }],
        commitment: None,
        tag: b"/test-pool/".to_vec(),
        extranonce1: Vec::new(),
        extranonce2_len: session.extranonce_len(),
    };
    TemplateWork::new(
        &format!("block-{n}"),
        template(n),
        &spec,
        Target::MAX,
        0x1FFF_E000,
        true,
    )
    .ok()
}

async fn connection(
    mut stream: TcpStream,
    conn: u32,
    shared: Arc<PoolShared>,
    mut blocks: watch::Receiver<u64>,
) {
    let _ = stream.set_nodelay(true);
    let cfg = ServerConfig {
        extranonce2_len: shared.quirks.extranonce2_len.unwrap_or(8),
        difficulty: shared.difficulty,
        version_mask: if shared.quirks.no_version_rolling {
            0
        } else {
            0x1FFF_E000
        },
    };
    let mut en1_seq = conn;
    let mut session = ServerSession::new(cfg, shared.checker, en1_seq.to_be_bytes().to_vec());
    let mut reader = LineReader::default();
    let mut sent_lines = 0u64;
    let mut accepted_here = 0u64;
    let mut out: Vec<String> = Vec::new();
    let mut hang_up = false;
    loop {
        // Flush what is queued, with the malformed-line quirk.
        for line in out.drain(..) {
            sent_lines += 1;
            let mut bytes = line.into_bytes();
            if every(sent_lines, shared.quirks.malformed_every) {
                bytes.splice(
                    0..0,
                    b"{\"id\":null,\"method\":\"mining.notify\",\"params\":[oops\n"
                        .iter()
                        .copied(),
                );
            }
            if stream.write_all(&bytes).await.is_err() {
                return;
            }
        }
        if hang_up {
            let _ = stream.shutdown().await;
            return;
        }
        tokio::select! {
            read = reader.read(&mut stream) => {
                let lines = match read {
                    Ok(Read::Lines(l)) => l,
                    _ => return,
                };
                for line in lines {
                    let is_submit = line.contains("mining.submit");
                    if is_submit {
                        let at = std::time::Instant::now();
                        let n = {
                            let mut log = lock(&shared.log);
                            log.submits += 1;
                            if let Some(nonce) = submit_nonce(&line) {
                                if log.submit_times.len() < MAX_SUBMIT_TIMES {
                                    log.submit_times.push((at, nonce));
                                }
                            }
                            log.submits
                        };
                        if shared.quirks.disconnect_on_submit == Some(n) {
                            return; // dropped mid-submit, unanswered
                        }
                    }
                    for ev in session.on_line(&line) {
                        match ev {
                            ServerEvent::Send(l) => out.push(l),
                            ServerEvent::Authorized { .. } => {
                                let n = *blocks.borrow();
                                if let Some(w) = work_for(n, &session) {
                                    if let Some(l) = session.notify(w.unit()) {
                                        out.push(l);
                                    }
                                }
                                if let (1, Some((host, port))) = (conn, &shared.quirks.reconnect_to) {
                                    out.push(format!(
                                        "{}\n",
                                        serde_json::json!({"id": null, "method": "client.reconnect", "params": [host, port, 0]})
                                    ));
                                    hang_up = true;
                                }
                            }
                            ServerEvent::Share { user, share } => {
                                accepted_here += 1;
                                let stale = every(accepted_here, shared.quirks.stale_every);
                                if stale {
                                    // Replace the acceptance just queued with a stale reject.
                                    if let Some(last) = out.pop() {
                                        out.push(last.replace("\"result\":true", "\"result\":null").replace("\"error\":null", "\"error\":[21,\"Stale share\",null]"));
                                    }
                                    lock(&shared.log).stale_rejected += 1;
                                } else {
                                    lock(&shared.log).accepted.push((user, *share));
                                }
                                if let Some((after, d)) = shared.quirks.difficulty_change {
                                    if accepted_here == after {
                                        if let Some(l) = session.set_difficulty(d) {
                                            out.push(l);
                                        }
                                    }
                                }
                                if every(accepted_here, shared.quirks.extranonce_change_every) {
                                    en1_seq = en1_seq.wrapping_add(0x0100_0000);
                                    out.push(session.set_extranonce(en1_seq.to_be_bytes().to_vec()));
                                    let n = *blocks.borrow();
                                    if let Some(w) = work_for(n, &session) {
                                        if let Some(l) = session.notify(w.unit()) {
                                            out.push(l);
                                        }
                                    }
                                }
                            }
                            ServerEvent::Refused { why } => lock(&shared.log).refused.push(why),
                        }
                    }
                }
            }
            changed = blocks.changed() => {
                if changed.is_err() {
                    return;
                }
                let n = *blocks.borrow_and_update();
                if let Some(w) = work_for(n, &session) {
                    if let Some(l) = session.notify(w.unit()) {
                        out.push(l);
                    }
                }
            }
        }
    }
}
