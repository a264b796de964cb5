//! `hearth bench work`: latency of the work pipeline on simulated chains.
//!
//! Everything a real deployment runs, in one process: `chains` boards,
//! each its real board task and chain driver talking over an in-memory
//! byte stream to simulated BM13xx chips; the work service; its Stratum
//! client over loopback TCP to the in-process pool. Two taps on the byte
//! streams timestamp what crosses them:
//!
//! - **new work**: the pool announces a new block; the time until a job
//!   frame (`55 AA 21`) has been written to every chain's port;
//! - **share relay**: a chip writes a nonce response (`AA 55`, nonce in the
//!   next four bytes); the time until the pool has read the
//!   `mining.submit` carrying that nonce (driver verification, the board
//!   task, the tap to the work service, the share checker's nonce path,
//!   the Stratum client, TCP).
//!
//! A third figure is the pure part of building work from a block template
//! of our own node: coinbase, merkle branch over `template_txs`
//! transactions, and the fan-out to every chain.
//!
//! A fourth is the LAN server's per-miner part on our sharechain: from one
//! template to a `mining.notify` line for each of 1, 8 and 64 LAN miners,
//! each its own sharechain job paying its address (the sharechain's `job`,
//! coinbase and merkle branch, the session's notify), as
//! `lan_payout::miner_unit` builds them. Not in it: the round trip to the
//! sharechain node task and the TCP writes.

use super::testpool::{Quirks, TestPool};
use super::{client::Backoff, client::PoolConfig, WorkOptions, WorkSink, SIM_POOL_DIFFICULTY};
use crate::backends::{sim_params_for, simulated_runtime, SystemClock};
use crate::boards::{run_sim_chain, spawn_board, ChainPort, SimChainFaults};
use anyhow::{bail, Context, Result};
use hearth_board::config::{validate_hashboard, HashboardConfig};
use hearth_core::{BoardState, Clock, Hashboard};
use hearth_shacheck::{Checker, Target};
use hearth_sim::clock::ScaledClock;
use hearth_sim::devices::SimBoardPeripherals;
use hearth_sim::room::RoomParams;
use hearth_sim::weather::WeatherParams;
use hearth_sim::World;
use hearth_simchip::SimChainConfig;
use hearth_work::stratum::{ClientConfig, FollowReconnect};
use hearth_work::{JobBook, TemplateWork};
use serde::Serialize;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

/// Targets from the issue.
pub const NEW_WORK_P99_TARGET_MS: f64 = 20.0;
pub const SHARE_RELAY_P99_TARGET_MS: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub chains: usize,
    pub chip: BenchChip,
    pub rounds: usize,
    pub mine_s: u64,
    pub template_txs: usize,
}

/// The chip kinds the bench runs, each on a board the size real ones have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchChip {
    /// 65 x BM1370 (S21 Pro class), full-header jobs, chips roll versions.
    Bm1370,
    /// 108 x BM1368 (S21 class).
    Bm1368,
    /// 110 x BM1366 (S19 XP class).
    Bm1366,
    /// 63 x BM1397 (S17/S19 class): midstate jobs, versions rolled by the
    /// host (four midstates per job).
    Bm1397,
}

impl BenchChip {
    pub const ALL: [BenchChip; 4] = [
        BenchChip::Bm1370,
        BenchChip::Bm1368,
        BenchChip::Bm1366,
        BenchChip::Bm1397,
    ];

    /// `--chip`: one kind or `all`.
    pub fn parse_list(s: &str) -> Result<Vec<BenchChip>> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "all" => BenchChip::ALL.to_vec(),
            "bm1370" => vec![BenchChip::Bm1370],
            "bm1368" => vec![BenchChip::Bm1368],
            "bm1366" => vec![BenchChip::Bm1366],
            "bm1397" => vec![BenchChip::Bm1397],
            other => bail!("--chip {other:?}: expected bm1370, bm1368, bm1366, bm1397 or all"),
        })
    }

    /// The `[[hashboard]]` entry for chain `i`.
    fn hashboard_toml(self, i: usize) -> String {
        let head = format!("id = \"bench-{i}\"\nzone = \"room\"\n");
        let uart = |chip: &str, chips: u32| {
            format!("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyBENCH{i}\"\nchip = \"{chip}\"\nchips = {chips}\n")
        };
        head + &match self {
            BenchChip::Bm1370 => "profile = \"generic-bm1370-65\"\n".to_string(),
            BenchChip::Bm1368 => "profile = \"generic-bm1368-108\"\n".to_string(),
            BenchChip::Bm1366 => uart("BM1366", 110),
            BenchChip::Bm1397 => uart("BM1397", 63),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            let i = ((v.len() as f64 - 1.0) * q).round() as usize;
            v[i.min(v.len() - 1)]
        }
    };
    Percentiles {
        count: v.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub chains: usize,
    pub chip: String,
    pub chips_per_chain: u32,
    pub sha_backend: &'static str,
    /// Pool announces a block -> a job frame on every chain's port.
    pub new_work_all_chains: Percentiles,
    pub new_work_p99_target_ms: f64,
    /// Chip writes a nonce -> the pool reads its submit.
    pub share_relay: Percentiles,
    pub share_relay_p99_target_ms: f64,
    /// Nonces the chips sent during the mining phase, and submits matched.
    pub chip_nonces: usize,
    pub submits_matched: usize,
    /// Template with `template_txs` transactions -> jobs for every chain
    /// (pure: coinbase, merkle branch, fan-out).
    pub template_txs: usize,
    pub template_to_jobs: Percentiles,
    /// Template -> a job for every LAN miner, each with its own payout
    /// (pure part, see the module doc), for 1, 8 and 64 miners.
    pub template_to_lan_miner_jobs: Vec<LanMinerJobs>,
    pub targets_met: bool,
}

/// [`BenchReport::template_to_lan_miner_jobs`] for one miner count.
#[derive(Debug, Clone, Serialize)]
pub struct LanMinerJobs {
    pub miners: usize,
    pub all_miners: Percentiles,
}

/// LAN miner counts the per-miner figure is taken for.
pub const LAN_MINER_COUNTS: [usize; 3] = [1, 8, 64];

type Log<T> = Arc<Mutex<Vec<T>>>;

fn push<T>(log: &Log<T>, item: T) {
    if let Ok(mut l) = log.lock() {
        if l.len() < 1_000_000 {
            l.push(item);
        }
    }
}

/// The host side of a chain's byte stream, timestamping job frames.
struct HostTap {
    inner: DuplexStream,
    chain: usize,
    jobs: Log<(usize, Instant)>,
}

impl ChainPort for HostTap {
    fn set_baud(&mut self, _baud: u32) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for HostTap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for HostTap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if buf[..*n].windows(3).any(|w| w == [0x55, 0xAA, 0x21]) {
                push(&self.jobs, (self.chain, Instant::now()));
            }
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The chips' side, timestamping nonce responses.
struct ChipTap {
    inner: DuplexStream,
    nonces: Log<(u32, Instant)>,
}

impl AsyncRead for ChipTap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChipTap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            let now = Instant::now();
            let b = &buf[..*n];
            for i in 0..b.len().saturating_sub(5) {
                if b[i] == 0xAA && b[i + 1] == 0x55 {
                    let nonce = u32::from_le_bytes([b[i + 2], b[i + 3], b[i + 4], b[i + 5]]);
                    push(&self.nonces, (nonce, now));
                }
            }
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A template like `testpool::template(1)` with `txs` transactions.
fn bench_template(txs: usize) -> hearth_work::BlockTemplate {
    use bitcoin::blockdata::script::ScriptBuf;
    use bitcoin::blockdata::transaction::{OutPoint, Transaction, TxIn, TxOut, Version};
    use bitcoin::hashes::Hash as _;
    let transactions: Vec<Transaction> = (0..txs)
        .map(|n| Transaction {
            version: Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: bitcoin::Txid::from_byte_array([(n % 251) as u8; 32]),
                    vout: u32::try_from(n).unwrap_or(0),
                },
                script_sig: ScriptBuf::new(),
                sequence: bitcoin::Sequence::MAX,
                witness: bitcoin::Witness::new(),
            }],
            output: vec![TxOut {
                value: bitcoin::Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new_op_return([1u8; 20]),
            }],
        })
        .collect();
    let mut template = super::testpool::template(1);
    template.transactions = transactions;
    template
}

/// Template -> a `mining.notify` for each of `miners` LAN miners, each on
/// its own sharechain job (regtest chain, empty window) paying its own
/// P2WPKH script.
fn template_to_lan_miners(txs: usize, miners: usize, rounds: usize) -> Result<Percentiles> {
    use bitcoin::hashes::Hash as _;
    use hearth_work::stratum::{ServerConfig, ServerSession};
    let template = bench_template(txs);
    let mut chain = hearth_sharechain::Chain::new(
        hearth_sharechain::ChainParams::for_network(hearth_sharechain::Network::Regtest),
        Checker::detect(),
    );
    let split = hearth_work::LanSplit::for_source(super::own::EXTRANONCE2_LEN)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut sessions = Vec::with_capacity(miners);
    for i in 0..miners {
        let key = u8::try_from(i % 256).unwrap_or(0);
        let script =
            bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([key; 20]));
        let en1 = split
            .extranonce1(i)
            .ok_or_else(|| anyhow::anyhow!("slot {i} does not fit"))?;
        let mut session = ServerSession::new(
            ServerConfig {
                extranonce2_len: split.miner_extranonce2_len,
                difficulty: 1024.0,
                version_mask: 0x1FFF_E000,
            },
            Checker::detect(),
            en1,
        );
        session.on_line(r#"{"id":1,"method":"mining.subscribe","params":["bench"]}"#);
        session.on_line(r#"{"id":2,"method":"mining.authorize","params":["bench.rig","x"]}"#);
        sessions.push((script, session));
    }
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        // The shared unit (our chains' work) is built first: its merkle
        // branch is what every miner's job reuses. Timed from the template.
        let t0 = Instant::now();
        let shared = super::own::work_for(
            &format!("t{r}"),
            template.clone(),
            &chain.job(
                bitcoin::ScriptBuf::new_op_return([0x55; 20]),
                template.coinbase_value.to_sat(),
                template.bits,
                u64::from(template.curtime),
            ),
            0x1FFF_E000,
            true,
        )?;
        for (i, (script, session)) in sessions.iter_mut().enumerate() {
            let job = chain.job(
                script.clone(),
                template.coinbase_value.to_sat(),
                template.bits,
                u64::from(template.curtime),
            );
            let work = super::own::work_on(&shared, &format!("t{r}l{i}"), &job, 0x1FFF_E000, true)?;
            let line = session
                .notify(work.unit())
                .ok_or_else(|| anyhow::anyhow!("session not logged in"))?;
            std::hint::black_box(line);
        }
        out.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(percentiles(out))
}

fn template_to_jobs(txs: usize, chains: usize, rounds: usize) -> Result<Percentiles> {
    use bitcoin::blockdata::script::ScriptBuf;
    use bitcoin::blockdata::transaction::TxOut;
    let template = bench_template(txs);
    let spec = hearth_work::CoinbaseSpec {
        outputs: vec![TxOut {
            value: bitcoin::Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new_op_return([2u8; 20]),
        }],
        commitment: Some(ScriptBuf::new_op_return([3u8; 32])),
        tag: b"/hearth/".to_vec(),
        extranonce1: Vec::new(),
        extranonce2_len: 8,
    };
    let mut book = JobBook::new(Checker::detect());
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let t = template.clone();
        let t0 = Instant::now();
        let work = TemplateWork::new(&format!("t{r}"), t, &spec, Target::MAX, 0x1FFF_E000, true)
            .map_err(|e| anyhow::anyhow!("template: {e}"))?;
        let jobs = book
            .fan_out(0, work.unit(), chains)
            .map_err(|e| anyhow::anyhow!("fan-out: {e}"))?;
        out.push(t0.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(jobs);
    }
    Ok(percentiles(out))
}

pub async fn run(opts: &BenchOptions) -> Result<BenchReport> {
    if opts.chains == 0 || opts.chains > 16 {
        bail!("--chains must be 1..=16");
    }
    let boards: Vec<_> = (0..opts.chains)
        .map(|i| {
            let cfg: HashboardConfig =
                toml::from_str(&opts.chip.hashboard_toml(i)).context("bench board")?;
            validate_hashboard(i, &cfg).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<Result<_>>()?;
    let board = boards[0].clone();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(SystemClock.now(), 1.0));
    let mut world = World::new(
        clock.now(),
        7,
        WeatherParams {
            noise_sd_c: 0.0,
            ..WeatherParams::default()
        },
    );
    let room = world.add_room(
        "room",
        RoomParams::default(),
        hearth_core::Celsius(18.0),
        hearth_core::Watts::ZERO,
    );
    let idxs: Vec<usize> = boards
        .iter()
        .map(|b| world.add_board(room, sim_params_for(b)))
        .collect();
    let world = world.into_shared();
    let jobs_log: Log<(usize, Instant)> = Arc::new(Mutex::new(Vec::new()));
    let nonce_log: Log<(u32, Instant)> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    let mut feeds = Vec::new();
    for (chain, idx) in idxs.iter().enumerate() {
        let periph =
            SimBoardPeripherals::attach(world.clone(), *idx).context("board peripherals")?;
        let runtime = simulated_runtime(&periph, &boards[chain], clock.now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (host, chips) = tokio::io::duplex(16 * 1024);
        let sim = SimChainConfig {
            chip: board.profile.chip(),
            chips: usize::try_from(board.profile.chips()).unwrap_or(1),
            seed: 11 + chain as u64,
            sim_zero_bits: crate::backends::SIM_ZERO_BITS,
            ..SimChainConfig::default()
        };
        tokio::spawn(run_sim_chain(
            sim,
            ChipTap {
                inner: chips,
                nonces: nonce_log.clone(),
            },
            periph,
            clock.clone(),
            Arc::new(Mutex::new(SimChainFaults::default())),
        ));
        let handle = spawn_board(
            runtime,
            HostTap {
                inner: host,
                chain,
                jobs: jobs_log.clone(),
            },
            clock.clone(),
        );
        feeds.push(handle.job_feed());
        handles.push(handle);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let w = world.clone();
        let c = clock.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                hearth_sim::world::lock(&w).advance_to(c.now());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .context("starting the pool")?;
    let sink = WorkSink {
        status: Arc::new(std::sync::RwLock::new(None)),
        hashrate_ghs: Arc::new(|| 0.0),
        mining_enabled: Arc::new(|| true),
    };
    let work = WorkOptions {
        pools: vec![PoolConfig {
            name: "bench-pool".into(),
            address: pool.address.to_string(),
            client: ClientConfig {
                user: "bcrt1qbench.heater".into(),
                password: "x".into(),
                agent: "hearth-bench".into(),
                version_mask: 0x1FFF_E000,
            },
            backoff: Backoff {
                first: Duration::from_millis(50),
                max: Duration::from_millis(500),
            },
            follow_reconnect: FollowReconnect::SameHost,
        }],
        switch_back_after: Duration::from_secs(30),
        data_dir: None,
        own_source: None,
        lan_server: None,
    };
    super::spawn(work, feeds, clock.clone(), sink.clone(), stop_rx.clone());
    // Power every chain to full and wait until all hash on the pool's work.
    let started = Instant::now();
    for h in &mut handles {
        let max = h.info().max_power_w;
        h.set_power_target(max, clock.now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    loop {
        let running = handles
            .iter_mut()
            .all(|h| h.poll(clock.now()).telemetry.state == BoardState::Running);
        let mining = sink
            .status
            .read()
            .map(|s| {
                s.as_ref()
                    .is_some_and(|s| matches!(s.mode, hearth_work::WorkMode::Source { .. }))
            })
            .unwrap_or(false);
        if running && mining {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            bail!("chains not running on pool work within 90 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // New work: the pool announces a block; wait for a job on every chain.
    let mut new_work = Vec::with_capacity(opts.rounds);
    for _ in 0..opts.rounds {
        let t0 = Instant::now();
        pool.new_block();
        let deadline = t0 + Duration::from_secs(2);
        loop {
            let firsts: Vec<Option<Instant>> = {
                let log = jobs_log
                    .lock()
                    .map_err(|_| anyhow::anyhow!("log poisoned"))?;
                (0..opts.chains)
                    .map(|c| {
                        log.iter()
                            .filter(|(ch, t)| *ch == c && *t > t0)
                            .map(|(_, t)| *t)
                            .min()
                    })
                    .collect()
            };
            if firsts.iter().all(Option::is_some) {
                let last = firsts.into_iter().flatten().max().unwrap_or(t0);
                new_work.push(last.duration_since(t0).as_secs_f64() * 1e3);
                break;
            }
            if Instant::now() > deadline {
                new_work.push(2000.0);
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        for h in &mut handles {
            let _ = h.poll(clock.now());
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    // Share relay: mine for a while, then match chip nonces to submits.
    if let Ok(mut l) = nonce_log.lock() {
        l.clear();
    }
    let submits_before = pool.log().submit_times.len();
    let mine_until = Instant::now() + Duration::from_secs(opts.mine_s);
    while Instant::now() < mine_until {
        for h in &mut handles {
            let _ = h.poll(clock.now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chip_nonces = nonce_log.lock().map(|l| l.clone()).unwrap_or_default();
    let submits = pool.log().submit_times;
    let mut relay = Vec::new();
    for (at, nonce) in submits.iter().skip(submits_before) {
        let sent = chip_nonces
            .iter()
            .filter(|(n, t)| n == nonce && t <= at)
            .map(|(_, t)| *t)
            .max();
        if let Some(sent) = sent {
            relay.push(at.duration_since(sent).as_secs_f64() * 1e3);
        }
    }
    let _ = stop_tx.send(true);
    for h in &mut handles {
        let _ = tokio::task::block_in_place(|| h.stop_safely(clock.now()));
    }
    let template = template_to_jobs(opts.template_txs, opts.chains, opts.rounds.max(20))?;
    let template_to_lan_miner_jobs = LAN_MINER_COUNTS
        .iter()
        .map(|&miners| {
            Ok(LanMinerJobs {
                miners,
                all_miners: template_to_lan_miners(opts.template_txs, miners, opts.rounds.max(20))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let new_work = percentiles(new_work);
    let share_relay = percentiles(relay);
    let targets_met = new_work.p99_ms <= NEW_WORK_P99_TARGET_MS
        && share_relay.count > 0
        && share_relay.p99_ms <= SHARE_RELAY_P99_TARGET_MS;
    Ok(BenchReport {
        chains: opts.chains,
        chip: format!("{:?}", board.profile.chip()),
        chips_per_chain: board.profile.chips(),
        sha_backend: Checker::detect().backend().name(),
        new_work_all_chains: new_work,
        new_work_p99_target_ms: NEW_WORK_P99_TARGET_MS,
        submits_matched: share_relay.count,
        share_relay,
        share_relay_p99_target_ms: SHARE_RELAY_P99_TARGET_MS,
        chip_nonces: chip_nonces.len(),
        template_txs: opts.template_txs,
        template_to_jobs: template,
        template_to_lan_miner_jobs,
        targets_met,
    })
}

/// `hearth bench work --json`: one run per chip kind.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRuns {
    pub runs: Vec<BenchReport>,
    /// Every run met both targets.
    pub targets_met: bool,
}

/// `hearth bench work`.
pub fn main(args: &crate::cli::BenchWorkArgs) -> Result<()> {
    let chips = BenchChip::parse_list(&args.chip)?;
    let mut runs = Vec::new();
    for chip in chips {
        let opts = BenchOptions {
            chains: args.chains,
            chip,
            rounds: args.rounds.clamp(1, 100_000),
            mine_s: args.mine_s.clamp(1, 3600),
            template_txs: args.template_txs.min(100_000),
        };
        // Each kind in a fresh runtime: its own pool, boards and service,
        // nothing left over from the previous kind competing for the CPU.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let report = runtime
            .block_on(run(&opts))
            .with_context(|| format!("{chip:?}"))?;
        runtime.shutdown_timeout(Duration::from_secs(2));
        if !args.json {
            print_report(&report);
        }
        runs.push(report);
    }
    let targets_met = runs.iter().all(|r| r.targets_met);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&BenchRuns { runs, targets_met })?
        );
    } else if runs.len() > 1 {
        println!("all targets met: {targets_met}");
    }
    Ok(())
}

fn print_report(report: &BenchReport) {
    {
        let p = |x: &Percentiles| {
            format!(
                "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {}",
                x.p50_ms, x.p99_ms, x.max_ms, x.count
            )
        };
        println!(
            "{} chains of {} {} chips, checker {}",
            report.chains, report.chips_per_chain, report.chip, report.sha_backend
        );
        println!(
            "new block -> job on every chain: {} (target p99 {} ms)",
            p(&report.new_work_all_chains),
            report.new_work_p99_target_ms
        );
        println!(
            "chip nonce -> pool submit:       {} (target p99 {} ms)",
            p(&report.share_relay),
            report.share_relay_p99_target_ms
        );
        println!(
            "template ({} txs) -> jobs:      {}",
            report.template_txs,
            p(&report.template_to_jobs)
        );
        for l in &report.template_to_lan_miner_jobs {
            println!(
                "template -> {:>2} LAN miners' own jobs: {}",
                l.miners,
                p(&l.all_miners)
            );
        }
        println!("targets met: {}", report.targets_met);
    }
}
