#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The LAN Stratum server (`[work.server]`) with real TCP miners: a scripted
//! Stratum client subscribes, authorizes, gets a job, mines a valid share in
//! software and submits it with an invalid one; the counts show up per
//! worker in the work status, and the valid share reaches the upstream pool
//! (the same place our own chains' shares go). Distinct extranonce1 per
//! connection, the connection limit, and no work while heat-only.

use hearth::backends::SystemClock;
use hearth::work::client::{Backoff, PoolConfig};
use hearth::work::config::LanServerConfig;
use hearth::work::testpool::{Quirks, TestPool};
use hearth::work::{spawn, WorkOptions, WorkSink, WorkStatus, SIM_POOL_DIFFICULTY};
use hearth_shacheck::Checker;
use hearth_work::jobs::header_bytes;
use hearth_work::stratum::codec::{hex_decode, hex_encode, parse_server_line, Notify};
use hearth_work::stratum::{ClientConfig, FollowReconnect, ServerMessage};
use hearth_work::{target_from_difficulty, LAN_EXTRANONCE_BIT};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

fn pool_cfg(address: String) -> PoolConfig {
    PoolConfig {
        name: "pool".into(),
        address,
        client: ClientConfig {
            user: "bcrt1qhearthupstream.heater".into(),
            password: "x".into(),
            agent: "hearth-test".into(),
            version_mask: 0x1FFF_E000,
        },
        backoff: Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        follow_reconnect: FollowReconnect::SameHost,
    }
}

struct Running {
    sink: WorkSink,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    fn status(&self) -> Option<WorkStatus> {
        self.sink.status.read().unwrap().clone()
    }

    async fn wait<F: Fn(&WorkStatus) -> bool>(&self, what: &str, f: F) -> WorkStatus {
        for _ in 0..200 {
            if let Some(s) = self.status() {
                if f(&s) {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never {what}: {:#?}", self.status());
    }
}

fn start_service(pools: Vec<PoolConfig>, lan: LanServerConfig) -> Running {
    let sink = WorkSink {
        status: Arc::new(std::sync::RwLock::new(None)),
        hashrate_ghs: Arc::new(|| 0.0),
        mining_enabled: Arc::new(|| true),
    };
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let opts = WorkOptions {
        pools,
        switch_back_after: Duration::from_secs(30),
        data_dir: None,
        own_source: None,
        lan_server: Some((lan, 0x1FFF_E000)),
    };
    spawn(
        opts,
        Vec::new(),
        Arc::new(SystemClock),
        sink.clone(),
        stop_rx,
    );
    Running { sink, _stop: stop }
}

/// LAN miners get work (the server is up and the source's work shareable).
fn lan_work_up(s: &WorkStatus) -> bool {
    s.lan_server.as_ref().is_some_and(|l| l.no_work.is_none())
}

/// The (first) upstream pool accepted at least one share.
fn pool_accepted_a_share(s: &WorkStatus) -> bool {
    s.sources
        .first()
        .is_some_and(|p| p.stats.counters.accepted >= 1)
}

fn lan_cfg(max_connections: usize) -> LanServerConfig {
    LanServerConfig {
        enabled: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections,
        // The pool's own share difficulty: every LAN share is relayed.
        difficulty: SIM_POOL_DIFFICULTY,
        vardiff: false,
        ..LanServerConfig::default()
    }
}

/// A Bitaxe-like miner speaking Stratum V1 over a real socket.
struct Miner {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    next_id: u64,
    extranonce1: Vec<u8>,
    extranonce2_len: usize,
    difficulty: f64,
    job: Option<Notify>,
}

impl Miner {
    async fn connect(address: &str) -> Miner {
        Miner::from_stream(TcpStream::connect(address).await.unwrap())
    }

    /// From another loopback address: another client for per-IP limits.
    async fn connect_from(source: [u8; 4], address: &str) -> Miner {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .unwrap();
        Miner::from_stream(socket.connect(address.parse().unwrap()).await.unwrap())
    }

    fn from_stream(s: TcpStream) -> Miner {
        let (rd, wr) = s.into_split();
        Miner {
            rd: BufReader::new(rd),
            wr,
            next_id: 1,
            extranonce1: Vec::new(),
            extranonce2_len: 0,
            difficulty: 0.0,
            job: None,
        }
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.wr.write_all(line.as_bytes()).await.unwrap();
        id
    }

    /// Reads lines until the answer to `id`, taking note of notifications.
    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let v = self.next_line().await.expect("connection open");
            if v.get("id").and_then(Value::as_u64) == Some(id) && v.get("method").is_none() {
                return v;
            }
        }
    }

    /// One line (notifications applied); `None` when the server closed.
    async fn next_line(&mut self) -> Option<Value> {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(10), self.rd.read_line(&mut line))
            .await
            .expect("a line within 10 s");
        // A server that closes with our lines unread resets the
        // connection: closed, like an orderly end.
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        };
        if n == 0 {
            return None;
        }
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        if v.get("method").is_some() {
            match parse_server_line(line.trim()).unwrap() {
                ServerMessage::Notify(n) => self.job = Some(n),
                ServerMessage::SetDifficulty(d) => self.difficulty = d,
                ServerMessage::SetExtranonce {
                    extranonce1,
                    extranonce2_len,
                } => {
                    self.extranonce1 = extranonce1;
                    self.extranonce2_len = extranonce2_len;
                }
                _ => {}
            }
        }
        Some(v)
    }

    async fn login(&mut self, user: &str) {
        let a = self.login_with(user, "x").await;
        assert_eq!(a["result"], json!(true), "{a}");
    }

    /// Configure, subscribe and authorize with `password`: the authorize
    /// answer.
    async fn login_with(&mut self, user: &str, password: &str) -> Value {
        let id = self
            .send(
                "mining.configure",
                json!([["version-rolling"], {"version-rolling.mask": "1fffe000"}]),
            )
            .await;
        let a = self.answer(id).await;
        assert_eq!(a["result"]["version-rolling"], json!(true), "{a}");
        let id = self.send("mining.subscribe", json!(["bitaxe/test"])).await;
        let a = self.answer(id).await;
        self.extranonce1 = hex_decode(a["result"][1].as_str().unwrap()).unwrap();
        self.extranonce2_len = a["result"][2].as_u64().unwrap() as usize;
        let id = self.send("mining.authorize", json!([user, password])).await;
        self.answer(id).await
    }

    async fn wait_job(&mut self) -> Notify {
        while self.job.is_none() {
            self.next_line()
                .await
                .expect("a job before the server closes");
        }
        self.job.clone().unwrap()
    }

    /// (nonce, meets the session difficulty) for the first `want` nonce.
    fn search(&self, en2: &[u8], want_valid: bool) -> u32 {
        let job = self.job.as_ref().unwrap();
        let mut coinbase = job.coinb1.clone();
        coinbase.extend_from_slice(&self.extranonce1);
        coinbase.extend_from_slice(en2);
        coinbase.extend_from_slice(&job.coinb2);
        use bitcoin::hashes::{sha256d, Hash as _};
        let root = job
            .branch
            .root(sha256d::Hash::hash(&coinbase).to_byte_array());
        let target = target_from_difficulty(self.difficulty).unwrap();
        let checker = Checker::detect();
        for nonce in 0u32.. {
            let h = header_bytes(
                job.version,
                &job.prev_block_hash,
                &root,
                job.ntime,
                job.nbits,
                nonce,
            );
            let hash = checker.hash_headers(&[h])[0];
            if target.is_met_by(&hash) == want_valid {
                return nonce;
            }
        }
        unreachable!()
    }

    async fn submit(&mut self, user: &str, en2: &[u8], nonce: u32) -> Value {
        let job = self.job.clone().unwrap();
        let id = self
            .send(
                "mining.submit",
                json!([
                    user,
                    job.job_id,
                    hex_encode(en2),
                    format!("{:08x}", job.ntime),
                    format!("{nonce:08x}")
                ]),
            )
            .await;
        self.answer(id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lan_miner_gets_work_and_its_valid_share_reaches_the_pool() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let svc = start_service(vec![pool_cfg(pool.address.to_string())], lan_cfg(4));
    let st = svc
        .wait("mining on the pool with the LAN server up", lan_work_up)
        .await;
    let address = st.lan_server.unwrap().listen;

    let user = "bcrt1qlanminer.bitaxe";
    let mut m = Miner::connect(&address).await;
    m.login(user).await;
    let job = m.wait_job().await;
    assert!(job.clean);
    // The pool's 8 extranonce2 bytes: 4 for the session, 4 for the miner.
    assert_eq!(m.extranonce1.len(), 4);
    assert_eq!(m.extranonce2_len, 4);
    assert!(
        m.extranonce1[0] & LAN_EXTRANONCE_BIT != 0,
        "{:?}",
        m.extranonce1
    );
    assert_eq!(m.difficulty, SIM_POOL_DIFFICULTY);

    // A second miner: its own extranonce1.
    let mut m2 = Miner::connect(&address).await;
    m2.login("bcrt1qother.s9").await;
    m2.wait_job().await;
    assert_ne!(m.extranonce1, m2.extranonce1);

    let en2 = [0, 0, 0, 7];
    let good = m.search(&en2, true);
    let bad = m.search(&en2, false);
    let a = m.submit(user, &en2, good).await;
    assert_eq!(a["result"], json!(true), "{a}");
    let a = m.submit(user, &en2, bad).await;
    assert_eq!(a["result"], json!(false), "{a}");
    assert!(a["error"].to_string().contains("low difficulty"), "{a}");
    // A submit for a job the session never sent: stale.
    let id = m
        .send(
            "mining.submit",
            json!([user, "ffff", "00000007", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(m.answer(id).await["result"], json!(false));
    // Garbage: a bad line, counted, the session goes on.
    m.wr.write_all(b"{not json\n").await.unwrap();

    let st = svc
        .wait("the share at the pool", pool_accepted_a_share)
        .await;
    assert_eq!(st.lan_shares_relayed, 1);
    let lan = st.lan_server.clone().unwrap();
    assert_eq!(lan.connections, 2);
    let w = lan
        .workers
        .iter()
        .find(|w| w.user.as_deref() == Some("bcrt1qlanminer"))
        .unwrap();
    assert_eq!(w.worker.as_deref(), Some("bitaxe"));
    assert_eq!(
        (w.accepted, w.rejected, w.stale, w.relayed),
        (1, 1, 1, 1),
        "{w:?}"
    );
    let other = lan
        .workers
        .iter()
        .find(|w| w.user.as_deref() == Some("bcrt1qother"))
        .unwrap();
    assert_eq!(other.accepted, 0);
    // The pool got exactly that share under our (upstream) account, with
    // the session's extranonce1 in front of the miner's extranonce2.
    let log = pool.log.lock().unwrap().clone();
    assert_eq!(log.accepted.len(), 1, "{:?}", log.refused);
    let (pool_user, share) = &log.accepted[0];
    assert_eq!(pool_user, "bcrt1qhearthupstream");
    assert_eq!(share.nonce, good);
    let mut full = m.extranonce1.clone();
    full.extend_from_slice(&en2);
    // (The pool logs its own extranonce1 in front.)
    assert!(
        share.extranonce2.ends_with(&full),
        "{:?}",
        share.extranonce2
    );
    // The bad line shows up on the worker.
    let st = svc
        .wait("the bad line counted", |s| {
            s.lan_server
                .as_ref()
                .is_some_and(|l| l.workers.iter().any(|w| w.bad_lines >= 1))
        })
        .await;
    assert!(st
        .lan_server
        .unwrap()
        .workers
        .iter()
        .any(|w| w.accepted == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_and_no_work_is_shared_while_heat_only() {
    // No pool answers: heat-only, nothing for LAN miners.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let svc = start_service(vec![pool_cfg(dead.to_string())], lan_cfg(1));
    let st = svc
        .wait("the LAN server up", |s| s.lan_server.is_some())
        .await;
    let lan = st.lan_server.unwrap();
    assert!(lan.no_work.is_some(), "{lan:?}");
    let mut m = Miner::connect(&lan.listen).await;
    m.login("bcrt1qlanminer.bitaxe").await;
    // Subscribed and authorized (its difficulty follows), but no job
    // arrives.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(line) = tokio::time::timeout_at(until, m.next_line()).await {
        let line = line.expect("still connected");
        assert_ne!(line["method"], json!("mining.notify"), "{line}");
    }
    assert!(m.job.is_none());
    assert_eq!(m.difficulty, SIM_POOL_DIFFICULTY);
    // The second connection is over the limit: closed at once, counted.
    let mut over = Miner::connect(&lan.listen).await;
    assert!(over.next_line().await.is_none());
    let st = svc
        .wait("the refused connection counted", |s| {
            s.lan_server
                .as_ref()
                .is_some_and(|l| l.refused_connections == 1)
        })
        .await;
    assert_eq!(st.lan_server.unwrap().connections, 1);
    // The first miner is still served.
    let id = m.send("mining.suggest_difficulty", json!([1.0])).await;
    assert_eq!(m.answer(id).await["result"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vardiff_raises_a_fast_miners_difficulty_and_sends_fresh_work() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let svc = start_service(
        vec![pool_cfg(pool.address.to_string())],
        LanServerConfig {
            vardiff: true,
            target_share_interval_s: 10,
            ..lan_cfg(4)
        },
    );
    let st = svc.wait("LAN work", lan_work_up).await;
    let address = st.lan_server.unwrap().listen;
    let user = "bcrt1qfast.s9";
    let mut m = Miner::connect(&address).await;
    m.login(user).await;
    m.wait_job().await;
    let start = m.difficulty;
    let first_job = m.job.as_ref().unwrap().job_id.clone();
    // 16 shares in well under a minute: far above one per 10 s.
    for i in 0..16u32 {
        let en2 = i.to_be_bytes();
        let nonce = m.search(&en2, true);
        let a = m.submit(user, &en2, nonce).await;
        assert_eq!(a["result"], json!(true), "share {i}: {a}");
    }
    // The new difficulty (at most 4x) and a fresh job after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline
        && (m.difficulty == start || m.job.as_ref().unwrap().job_id == first_job)
    {
        m.next_line().await.expect("open");
    }
    assert_eq!(m.difficulty, start * 4.0);
    assert_ne!(m.job.as_ref().unwrap().job_id, first_job);
    let st = svc
        .wait("the worker's difficulty in the status", |s| {
            s.lan_server
                .as_ref()
                .is_some_and(|l| l.workers.iter().any(|w| w.difficulty == start * 4.0))
        })
        .await;
    let w = &st.lan_server.unwrap().workers[0];
    assert_eq!(w.accepted, 16);
    assert!(w.effective_hashrate_ghs > 0.0);
}

// ---------------------------------------------------------------------
// Short extranonce2 sources: the split adapts, with a limit on miners.

fn short_pool_quirks(extranonce2_len: usize) -> Quirks {
    Quirks {
        extranonce2_len: Some(extranonce2_len),
        ..Quirks::default()
    }
}

/// A LAN miner behind a pool that gives `pool_len` extranonce2 bytes: its
/// split, and its valid share at the pool with the session's extranonce1
/// in front of its own extranonce2.
async fn mine_behind_a_short_pool(pool_len: usize, en1_len: usize, en2_len: usize) {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, short_pool_quirks(pool_len))
        .await
        .unwrap();
    let svc = start_service(vec![pool_cfg(pool.address.to_string())], lan_cfg(200));
    let st = svc.wait("LAN work from the short pool", lan_work_up).await;
    let lan = st.lan_server.unwrap();
    // One byte of extranonce1: 7 slot bits, the limit below the config's.
    assert_eq!(lan.capacity, Some(128), "{lan:?}");
    let user = "bcrt1qshortpool.bitaxe";
    let mut m = Miner::connect(&lan.listen).await;
    m.login(user).await;
    m.wait_job().await;
    assert_eq!((m.extranonce1.len(), m.extranonce2_len), (en1_len, en2_len));
    assert!(m.extranonce1[0] & LAN_EXTRANONCE_BIT != 0);
    let mut m2 = Miner::connect(&lan.listen).await;
    m2.login("bcrt1qsecond.s9").await;
    m2.wait_job().await;
    assert_ne!(m.extranonce1, m2.extranonce1);
    let en2 = vec![0x5a; en2_len];
    let nonce = m.search(&en2, true);
    let a = m.submit(user, &en2, nonce).await;
    assert_eq!(a["result"], json!(true), "{a}");
    svc.wait("the share at the pool", pool_accepted_a_share)
        .await;
    let log = pool.log();
    assert_eq!(log.accepted.len(), 1, "{:?}", log.refused);
    let share = &log.accepted[0].1;
    assert_eq!(share.nonce, nonce);
    let mut ours = m.extranonce1.clone();
    ours.extend_from_slice(&en2);
    // The pool's extranonce2 is exactly the session's part + the miner's.
    assert_eq!(
        share.extranonce2.len(),
        4 + pool_len,
        "{:?}",
        share.extranonce2
    );
    assert!(
        share.extranonce2.ends_with(&ours),
        "{:?}",
        share.extranonce2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_byte_pool_is_shared_one_byte_for_the_session_three_for_the_miner() {
    mine_behind_a_short_pool(4, 1, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_byte_pool_is_shared_one_byte_each() {
    mine_behind_a_short_pool(2, 1, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_miners_than_a_short_pool_fits_are_refused_with_the_reason() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, short_pool_quirks(2))
        .await
        .unwrap();
    let svc = start_service(vec![pool_cfg(pool.address.to_string())], lan_cfg(130));
    let st = svc.wait("LAN work", lan_work_up).await;
    let address = st.lan_server.unwrap().listen;
    let mut miners = Vec::new();
    for i in 0..128 {
        let mut m = Miner::connect(&address).await;
        m.login(&format!("bcrt1qminer{i}.rig")).await;
        miners.push(m);
    }
    let en1s: std::collections::HashSet<Vec<u8>> =
        miners.iter().map(|m| m.extranonce1.clone()).collect();
    assert_eq!(en1s.len(), 128);
    // The 129th fits the connection limit (130) but not the extranonce
    // space: its first request is answered with the reason, then closed.
    let mut over = Miner::connect(&address).await;
    let id = over
        .send(
            "mining.configure",
            json!([["version-rolling"], {"version-rolling.mask": "1fffe000"}]),
        )
        .await;
    let a = over.answer(id).await;
    assert_eq!(a["result"], json!(false), "{a}");
    let why = a["error"][1].as_str().unwrap();
    assert!(why.contains("fits 128 LAN miners"), "{why}");
    assert!(over.next_line().await.is_none(), "still open");
    let st = svc
        .wait("the refusal counted", |s| {
            s.lan_server
                .as_ref()
                .is_some_and(|l| l.refused_no_room == 1 && l.connections == 128)
        })
        .await;
    assert_eq!(st.lan_server.unwrap().refused_connections, 0);
    // The ones that fit still mine.
    let m = miners.last_mut().unwrap();
    m.wait_job().await;
    let id = m.send("mining.suggest_difficulty", json!([1])).await;
    assert_eq!(m.answer(id).await["result"], json!(true));
}

// ---------------------------------------------------------------------
// The LAN server fed by hand (no pool): what happens to connected miners
// when the source changes under them.

mod by_hand {
    use super::*;
    use bitcoin::{Amount, ScriptBuf, TxOut};
    use hearth::work::server::{self, LanHandle, LanWork};
    use hearth_work::{CoinbaseSpec, TemplateWork, WorkUnit};

    pub fn unit(n: u64, extranonce2_len: usize) -> WorkUnit {
        let spec = CoinbaseSpec {
            outputs: vec![TxOut {
                value: Amount::from_sat(50 * 100_000_000),
                script_pubkey: ScriptBuf::new_op_return([0x42; 20]),
            }],
            commitment: None,
            tag: b"/by-hand/".to_vec(),
            extranonce1: Vec::new(),
            extranonce2_len,
        };
        TemplateWork::new(
            &format!("hand-{n}"),
            hearth::work::testpool::template(n),
            &spec,
            hearth_shacheck::Target::MAX,
            0x1FFF_E000,
            true,
        )
        .unwrap()
        .unit()
        .clone()
    }

    pub struct Server {
        pub work: tokio::sync::watch::Sender<Option<LanWork>>,
        pub handle: LanHandle,
        pub address: String,
        _shares: tokio::sync::mpsc::Receiver<server::LanShare>,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    pub fn start(first: LanWork) -> Server {
        let (work, work_rx) = tokio::sync::watch::channel(Some(first));
        let (share_tx, shares) = tokio::sync::mpsc::channel(16);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let handle = server::start(
            &lan_cfg(4),
            0x1FFF_E000,
            Arc::new(SystemClock),
            work_rx,
            share_tx,
            stop_rx,
        )
        .unwrap();
        let address = handle.status().listen;
        Server {
            work,
            handle,
            address,
            _shares: shares,
            _stop: stop,
        }
    }

    pub fn pool_work(n: u64, extranonce2_len: usize) -> LanWork {
        LanWork {
            source: 1,
            unit: unit(n, extranonce2_len),
            sharechain: None,
        }
    }

    /// Reads until the server closes the connection (true) or 3 s pass.
    pub async fn closed_soon(m: &mut Miner) -> bool {
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            match tokio::time::timeout_at(until, m.next_line()).await {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_address_user_from_a_pool_is_dropped_when_the_sharechain_takes_over_and_refused_after(
) {
    let srv = by_hand::start(by_hand::pool_work(1, 8));
    // Under a pool any user is taken (its shares go to our pool account).
    let mut pool_user = Miner::connect(&srv.address).await;
    pool_user.login("pooluser.rig1").await;
    pool_user.wait_job().await;
    // A miner whose user is a regtest address.
    let address = {
        use bitcoin::hashes::Hash as _;
        let script =
            bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([7; 20]));
        bitcoin::Address::from_script(&script, bitcoin::Network::Regtest)
            .unwrap()
            .to_string()
    };
    let mut addressed = Miner::connect(&srv.address).await;
    addressed.login(&format!("{address}.bitaxe")).await;
    addressed.wait_job().await;

    // Our sharechain (regtest) becomes the source.
    srv.work.send_replace(Some(hearth::work::server::LanWork {
        source: 0,
        unit: by_hand::unit(2, 8),
        sharechain: Some(bitcoin::Network::Regtest),
    }));
    assert!(
        by_hand::closed_soon(&mut pool_user).await,
        "the non-address miner was not dropped"
    );
    // The addressed miner stays (its own jobs need our sharechain node,
    // which this test has not: it waits for them, connected).
    assert!(!by_hand::closed_soon(&mut addressed).await);
    let id = addressed
        .send("mining.suggest_difficulty", json!([1]))
        .await;
    assert_eq!(addressed.answer(id).await["result"], json!(true));
    let st = srv.handle.status();
    assert_eq!(st.connections, 1, "{st:?}");
    assert_eq!(
        st.workers[0].payout_address.as_deref(),
        Some(address.as_str())
    );

    // It comes back: refused at authorize, with the reason.
    let mut again = Miner::connect(&srv.address).await;
    let id = again
        .send("mining.subscribe", json!(["bitaxe/BM1370/v2.4.0"]))
        .await;
    again.answer(id).await;
    let id = again
        .send("mining.authorize", json!(["pooluser.rig1", "x"]))
        .await;
    let a = again.answer(id).await;
    assert_eq!(a["result"], json!(false), "{a}");
    assert_eq!(a["error"][0], json!(24), "{a}");
    assert!(
        a["error"][1]
            .as_str()
            .unwrap()
            .contains("not a bitcoin address"),
        "{a}"
    );
    assert!(again.job.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_extranonce_space_reaches_subscribed_miners_and_drops_the_others() {
    let srv = by_hand::start(by_hand::pool_work(1, 8));
    // A Bitaxe with extranonce.subscribe on.
    let mut subscribed = Miner::connect(&srv.address).await;
    subscribed.login("bcrt1qsubscribed.bitaxe").await;
    let id = subscribed
        .send("mining.extranonce.subscribe", json!([]))
        .await;
    assert_eq!(subscribed.answer(id).await["result"], json!(true));
    let first = subscribed.wait_job().await;
    assert_eq!(
        (subscribed.extranonce1.len(), subscribed.extranonce2_len),
        (4, 4)
    );
    // A cgminer: no extranonce.subscribe.
    let mut plain = Miner::connect(&srv.address).await;
    plain.login("bcrt1qplain.s9").await;
    plain.wait_job().await;

    // The source fails over to a 4-byte pool.
    srv.work.send_replace(Some(by_hand::pool_work(2, 4)));
    // The subscribed miner: set_extranonce (1 + 3 bytes), then a clean job.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline
        && subscribed.job.as_ref().unwrap().job_id == first.job_id
    {
        subscribed.next_line().await.expect("open");
    }
    assert_eq!(
        (subscribed.extranonce1.len(), subscribed.extranonce2_len),
        (1, 3)
    );
    assert!(subscribed.extranonce1[0] & LAN_EXTRANONCE_BIT != 0);
    assert!(subscribed.job.as_ref().unwrap().clean);
    // Its share on the new job, with the new split, is accepted.
    let user = "bcrt1qsubscribed.bitaxe";
    subscribed.difficulty = SIM_POOL_DIFFICULTY;
    let en2 = [1, 2, 3];
    let nonce = subscribed.search(&en2, true);
    let a = subscribed.submit(user, &en2, nonce).await;
    assert_eq!(a["result"], json!(true), "{a}");
    // The other is dropped (it reconnects and subscribes anew).
    assert!(by_hand::closed_soon(&mut plain).await);
    let mut back = Miner::connect(&srv.address).await;
    back.login("bcrt1qplain.s9").await;
    back.wait_job().await;
    assert_eq!((back.extranonce1.len(), back.extranonce2_len), (1, 3));
}

// ---------------------------------------------------------------------
// Stock firmware conversations, line for line: ESP-Miner (a Bitaxe) and
// cgminer / bmminer (an old S9), parsed the way those clients parse.

mod firmware {
    use super::*;

    /// A raw line client: it writes exactly the firmware's lines.
    pub struct Raw {
        pub rd: BufReader<OwnedReadHalf>,
        pub wr: OwnedWriteHalf,
    }

    impl Raw {
        pub async fn connect(address: &str) -> Raw {
            let (rd, wr) = TcpStream::connect(address).await.unwrap().into_split();
            Raw {
                rd: BufReader::new(rd),
                wr,
            }
        }

        pub async fn write(&mut self, line: &str) {
            self.wr
                .write_all(format!("{line}\n").as_bytes())
                .await
                .unwrap();
        }

        pub async fn read(&mut self) -> (String, Value) {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.rd.read_line(&mut line))
                .await
                .expect("a line within 10 s")
                .unwrap();
            assert!(n > 0, "the server closed the connection");
            let v = serde_json::from_str(line.trim()).unwrap();
            (line.trim().to_string(), v)
        }
    }

    /// A nonce (with `version_bits` rolled in) meeting `difficulty`.
    pub fn mine(
        job: &Notify,
        extranonce1: &[u8],
        en2: &[u8],
        version_bits: u32,
        difficulty: f64,
    ) -> u32 {
        use bitcoin::hashes::{sha256d, Hash as _};
        let mut coinbase = job.coinb1.clone();
        coinbase.extend_from_slice(extranonce1);
        coinbase.extend_from_slice(en2);
        coinbase.extend_from_slice(&job.coinb2);
        let root = job
            .branch
            .root(sha256d::Hash::hash(&coinbase).to_byte_array());
        let target = target_from_difficulty(difficulty).unwrap();
        let checker = Checker::detect();
        (0u32..)
            .find(|nonce| {
                let h = header_bytes(
                    job.version ^ version_bits,
                    &job.prev_block_hash,
                    &root,
                    job.ntime,
                    job.nbits,
                    *nonce,
                );
                target.is_met_by(&checker.hash_headers(&[h])[0])
            })
            .unwrap()
    }

    pub fn notify_of(line: &str) -> Option<Notify> {
        match parse_server_line(line) {
            Ok(ServerMessage::Notify(n)) => Some(n),
            _ => None,
        }
    }
}

/// What ESP-Miner took from the conversation.
#[derive(Default)]
struct EspMinerView {
    version_mask: Option<u32>,
    extranonce1: Vec<u8>,
    extranonce2_len: usize,
    /// `mining.set_difficulty` as ESP-Miner stores it (cJSON valueint).
    difficulty_int: Option<u32>,
    difficulty: f64,
    job: Option<Notify>,
    setup_accepted: Vec<i64>,
    setup_rejected: Vec<String>,
    /// Answers ESP-Miner files as share results (id 5 and up: its
    /// extranonce.subscribe answers land here, a quirk of its own).
    results: Vec<(i64, bool)>,
}

/// ESP-Miner's login: configure (id 1), subscribe (id 2), authorize (id 3)
/// written back to back; after a setup answer with result true it sends
/// suggest_difficulty (id 4, after authorize) and extranonce.subscribe;
/// responses are told apart by id (below 5: setup) and by their shape.
async fn esp_miner_login(
    raw: &mut firmware::Raw,
    configure_params: &str,
    user: &str,
) -> EspMinerView {
    raw.write(&format!(
        r#"{{"jsonrpc": "2.0", "id": 1, "method": "mining.configure", "params": {configure_params}}}"#
    ))
    .await;
    raw.write(r#"{"jsonrpc": "2.0", "id": 2, "method": "mining.subscribe", "params": ["bitaxe/BM1370/v2.9.0"]}"#)
        .await;
    raw.write(&format!(
        r#"{{"jsonrpc": "2.0", "id": 3, "method": "mining.authorize", "params": ["{user}", "x"]}}"#
    ))
    .await;
    let mut view = EspMinerView::default();
    let mut next_id = 4;
    // (It mines as soon as a job is in; here also until the answer to its
    // suggest_difficulty, to check it.)
    let answered_suggest =
        |v: &EspMinerView| v.setup_accepted.contains(&4) || !v.setup_rejected.is_empty();
    while view.job.is_none() || !answered_suggest(&view) {
        let (line, v) = raw.read().await;
        let id = v["id"].as_i64().unwrap_or(-1);
        match v["method"].as_str() {
            Some("mining.notify") => view.job = firmware::notify_of(&line),
            Some("mining.set_difficulty") => {
                let d = v["params"][0].as_f64().unwrap();
                view.difficulty = d;
                view.difficulty_int = Some(d as u32);
            }
            Some("mining.set_version_mask") => {
                view.version_mask = u32::from_str_radix(v["params"][0].as_str().unwrap(), 16).ok()
            }
            Some("mining.set_extranonce") => {
                view.extranonce1 = hex_decode(v["params"][0].as_str().unwrap()).unwrap();
                view.extranonce2_len = v["params"][1].as_u64().unwrap() as usize;
            }
            Some(other) => panic!("ESP-Miner does not handle {other}: {line}"),
            None => {
                if !v["error"].is_null() {
                    view.setup_rejected.push(line);
                } else if let Some(ok) = v["result"].as_bool() {
                    if id >= 5 {
                        view.results.push((id, ok));
                    } else if ok {
                        view.setup_accepted.push(id);
                        if id == 3 {
                            raw.write(&format!(r#"{{"jsonrpc": "2.0", "id": {next_id}, "method": "mining.suggest_difficulty", "params": [1000]}}"#)).await;
                            next_id += 1;
                        }
                        if id == 3 || id == 4 {
                            raw.write(&format!(r#"{{"jsonrpc": "2.0", "id": {next_id}, "method": "mining.extranonce.subscribe", "params": []}}"#)).await;
                            next_id += 1;
                        }
                    } else {
                        view.setup_rejected.push(line);
                    }
                } else if id == 2 {
                    view.extranonce2_len = v["result"][2].as_u64().unwrap() as usize;
                    view.extranonce1 = hex_decode(v["result"][1].as_str().unwrap()).unwrap();
                } else if id == 1 {
                    let mask = v["result"]["version-rolling.mask"].as_str().unwrap();
                    view.version_mask = u32::from_str_radix(mask, 16).ok();
                } else {
                    panic!("ESP-Miner cannot place this answer: {line}");
                }
            }
        }
    }
    view
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bitaxe_with_stock_esp_miner_mines_on_the_lan_server() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let svc = start_service(vec![pool_cfg(pool.address.to_string())], lan_cfg(4));
    let st = svc.wait("LAN work", lan_work_up).await;
    let address = st.lan_server.unwrap().listen;
    // Two firmware generations: the mask alone, and with min-bit-count.
    let configures = [
        r#"[["version-rolling"], {"version-rolling.mask": "ffffffff"}]"#,
        r#"[["version-rolling"], {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 16}]"#,
    ];
    for (i, configure) in configures.iter().enumerate() {
        let user = format!("bcrt1qbitaxe{i}.gamma");
        let mut raw = firmware::Raw::connect(&address).await;
        let view = esp_miner_login(&mut raw, configure, &user).await;
        assert!(view.setup_rejected.is_empty(), "{:?}", view.setup_rejected);
        assert!(view.results.iter().all(|(_, ok)| *ok), "{:?}", view.results);
        assert_eq!(&view.setup_accepted[..2], &[3, 4], "authorize, suggest");
        // Our allowed mask, out of the "ffffffff" it asked for.
        assert_eq!(view.version_mask, Some(0x1FFF_E000));
        assert_eq!((view.extranonce1.len(), view.extranonce2_len), (4, 4));
        // Below 1 ESP-Miner reads 0 (every ASIC nonce goes up, all of them
        // at least the server's difficulty); 1 or more arrives whole.
        assert_eq!(view.difficulty_int, Some(0));
        let job = view.job.clone().unwrap();
        assert!(job.clean);
        // The chip rolls bit 13; ESP-Miner submits rolled ^ job version.
        let rolled = 0x0000_2000;
        let en2 = [0, 0, 0, 0x2a + i as u8];
        let nonce = firmware::mine(&job, &view.extranonce1, &en2, rolled, view.difficulty);
        let submit_id = 6 + i;
        raw.write(&format!(
            r#"{{"jsonrpc": "2.0", "id": {submit_id}, "method": "mining.submit", "params": ["{user}", "{}", "{}", "{:08x}", "{nonce:08x}", "{rolled:08x}"]}}"#,
            job.job_id,
            hex_encode(&en2),
            job.ntime
        ))
        .await;
        loop {
            let (line, v) = raw.read().await;
            if v["id"] == json!(submit_id) {
                // ESP-Miner: accepted = result true and error null.
                assert_eq!(v["result"], json!(true), "{line}");
                assert!(v["error"].is_null(), "{line}");
                break;
            }
        }
    }
    let st = svc
        .wait("both shares at the pool", |s| {
            s.sources
                .first()
                .is_some_and(|p| p.stats.counters.accepted >= 2)
        })
        .await;
    let lan = st.lan_server.unwrap();
    for w in &lan.workers {
        assert_eq!((w.accepted, w.rejected, w.bad_lines), (1, 0, 0), "{w:?}");
        assert_eq!(w.worker.as_deref(), Some("gamma"));
    }
    let log = pool.log();
    assert_eq!(log.accepted.len(), 2, "{:?}", log.refused);
    for (_, share) in &log.accepted {
        assert_eq!(share.version & 0x1FFF_E000, 0x0000_2000, "{share:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgminer_and_bmminer_mine_on_the_lan_server_behind_a_four_byte_pool() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, short_pool_quirks(4))
        .await
        .unwrap();
    let svc = start_service(vec![pool_cfg(pool.address.to_string())], lan_cfg(4));
    let st = svc.wait("LAN work", lan_work_up).await;
    let address = st.lan_server.unwrap().listen;
    // (agent, BIP310 configure first, rolled bits in the submit)
    let miners = [
        ("cgminer/4.12.1", false, None),
        ("bmminer/2.0.0", true, Some(0x0004_0000u32)),
    ];
    for (i, (agent, configure, rolled)) in miners.into_iter().enumerate() {
        let user = format!("bcrt1qantminer{i}.s9");
        let mut raw = firmware::Raw::connect(&address).await;
        let mut id = 0;
        let mut mask = 0;
        if configure {
            raw.write(&format!(r#"{{"id": {id}, "method": "mining.configure", "params": [["version-rolling"], {{"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}}]}}"#)).await;
            let (line, v) = raw.read().await;
            assert_eq!(v["id"], json!(id), "{line}");
            assert_eq!(v["result"]["version-rolling"], json!(true), "{line}");
            mask = u32::from_str_radix(v["result"]["version-rolling.mask"].as_str().unwrap(), 16)
                .unwrap();
            id += 1;
        }
        raw.write(&format!(
            r#"{{"id": {id}, "method": "mining.subscribe", "params": ["{agent}"]}}"#
        ))
        .await;
        let (line, v) = raw.read().await;
        // cgminer's initiate_stratum: a session id from the mining.notify
        // entry, nonce1 as valid hex, 2 <= n2size <= 16.
        assert!(v["error"].is_null(), "{line}");
        let subs = v["result"][0].as_array().unwrap();
        assert!(
            subs.iter()
                .any(|s| s[0] == "mining.notify" && s[1].is_string()),
            "{line}"
        );
        let extranonce1 = hex_decode(v["result"][1].as_str().unwrap()).unwrap();
        let n2size = v["result"][2].as_u64().unwrap() as usize;
        assert!((2..=16).contains(&n2size), "{line}");
        assert_eq!((extranonce1.len(), n2size), (1, 3));
        id += 1;
        // cgminer writes params first.
        raw.write(&format!(
            r#"{{"params": ["{user}", "x"], "id": {id}, "method": "mining.authorize"}}"#
        ))
        .await;
        let auth_id = id;
        id += 1;
        let mut difficulty = None;
        let mut job = None;
        let mut authorized = false;
        while !(authorized && job.is_some() && difficulty.is_some()) {
            let (line, v) = raw.read().await;
            match v["method"].as_str() {
                Some("mining.set_difficulty") => difficulty = v["params"][0].as_f64(),
                Some("mining.notify") => {
                    // cgminer's parse_notify: nine params, hex fields, a bool.
                    let p = v["params"].as_array().unwrap();
                    assert_eq!(p.len(), 9, "{line}");
                    assert_eq!(p[1].as_str().unwrap().len(), 64);
                    for f in &p[5..8] {
                        assert_eq!(f.as_str().unwrap().len(), 8, "{line}");
                    }
                    assert!(p[8].is_boolean());
                    job = firmware::notify_of(&line);
                }
                Some(other) => panic!("cgminer does not expect {other}: {line}"),
                None => {
                    assert_eq!(v["id"], json!(auth_id), "{line}");
                    assert_eq!(v["result"], json!(true), "{line}");
                    assert!(v["error"].is_null(), "{line}");
                    authorized = true;
                }
            }
        }
        // After authorize: suggest_difficulty, and bmminer's multi_version.
        raw.write(&format!(
            r#"{{"id": {id}, "method": "mining.suggest_difficulty", "params": [512]}}"#
        ))
        .await;
        let (line, v) = raw.read().await;
        assert_eq!(
            (v["id"].clone(), v["result"].clone()),
            (json!(id), json!(true)),
            "{line}"
        );
        id += 1;
        raw.write(&format!(
            r#"{{"id": {id}, "method": "mining.multi_version", "params": [4]}}"#
        ))
        .await;
        let (line, v) = raw.read().await;
        assert_eq!(v["id"], json!(id), "{line}");
        assert_eq!(v["result"], json!(false), "{line}");
        assert!(v["error"].is_null(), "{line}");
        id += 1;

        let job = job.unwrap();
        let en2 = [0, 0, 0x10 + i as u8];
        let bits = rolled.unwrap_or(0);
        assert_eq!(bits & !mask, 0);
        let nonce = firmware::mine(&job, &extranonce1, &en2, bits, difficulty.unwrap());
        let mut params = vec![
            json!(user),
            json!(job.job_id),
            json!(hex_encode(&en2)),
            json!(format!("{:08x}", job.ntime)),
            json!(format!("{nonce:08x}")),
        ];
        if let Some(b) = rolled {
            params.push(json!(format!("{b:08x}")));
        }
        raw.write(&json!({"params": params, "id": id, "method": "mining.submit"}).to_string())
            .await;
        let (line, v) = raw.read().await;
        assert_eq!(v["id"], json!(id), "{line}");
        assert_eq!(v["result"], json!(true), "{line}");
        assert!(v["error"].is_null(), "{line}");
    }
    let st = svc
        .wait("both shares at the pool", |s| {
            s.sources
                .first()
                .is_some_and(|p| p.stats.counters.accepted >= 2)
        })
        .await;
    for w in &st.lan_server.unwrap().workers {
        assert_eq!((w.accepted, w.rejected, w.bad_lines), (1, 0, 0), "{w:?}");
    }
    assert_eq!(pool.log().accepted.len(), 2);
}

/// `work.server.password`: a miner with it mines and its share reaches the
/// pool; one without gets no job, is closed after three tries, and a client
/// that keeps guessing is shut out while another client with the password
/// still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_only_miners_that_know_it_get_work() {
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let svc = start_service(
        vec![pool_cfg(pool.address.to_string())],
        LanServerConfig {
            password: Some("stove-pipe-42".into()),
            ..lan_cfg(8)
        },
    );
    let st = svc.wait("LAN work", lan_work_up).await;
    let lan = st.lan_server.unwrap();
    assert!(lan.password_required);
    let address = lan.listen;

    // A guesser: refused each time, never a job, closed after the third.
    let mut guesser = Miner::connect(&address).await;
    let a = guesser.login_with("bcrt1qguess.rig", "x").await;
    assert_eq!(a["result"], json!(false), "{a}");
    assert!(a["error"].to_string().contains("wrong password"), "{a}");
    for _ in 0..2 {
        let id = guesser
            .send("mining.authorize", json!(["bcrt1qguess.rig", "guess"]))
            .await;
        assert_eq!(guesser.answer(id).await["result"], json!(false));
    }
    while guesser.next_line().await.is_some() {}
    assert!(
        guesser.job.is_none(),
        "a job reached a miner without the password"
    );

    // The owner's miner, with the password: work, and its share is relayed.
    let user = "bcrt1qowner.bitaxe";
    let mut m = Miner::connect(&address).await;
    let a = m.login_with(user, "stove-pipe-42").await;
    assert_eq!(a["result"], json!(true), "{a}");
    m.wait_job().await;
    let en2 = [0, 0, 0, 3];
    let good = m.search(&en2, true);
    assert_eq!(m.submit(user, &en2, good).await["result"], json!(true));
    let st = svc
        .wait("the share at the pool", pool_accepted_a_share)
        .await;
    let lan = st.lan_server.unwrap();
    assert_eq!(lan.refused_password, 1);
    assert_eq!(lan.connections, 1);

    // The guesser keeps trying from its address (hanging up after each
    // try counts too): after 10 failures in all it is closed on connect.
    for _ in 0..7 {
        let mut g = Miner::connect(&address).await;
        let a = g.login_with("bcrt1qguess.rig", "guess").await;
        assert_eq!(a["result"], json!(false), "{a}");
    }
    let mut locked = false;
    for _ in 0..50 {
        let mut g = Miner::connect(&address).await;
        // Unlocked, the subscribe gets its answer; locked, the server
        // has already closed the connection.
        g.send("mining.subscribe", json!(["x"])).await;
        if g.next_line().await.is_none() {
            locked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(locked, "a client with 10 wrong passwords was not shut out");
    // Another client with the password is not locked out, and the owner's
    // connected miner keeps its session.
    let mut other = Miner::connect_from([127, 0, 0, 2], &address).await;
    let a = other.login_with("bcrt1qother.s9", "stove-pipe-42").await;
    assert_eq!(a["result"], json!(true), "{a}");
    other.wait_job().await;
    let en2 = [0, 0, 0, 4];
    let good = m.search(&en2, true);
    assert_eq!(m.submit(user, &en2, good).await["result"], json!(true));
}
