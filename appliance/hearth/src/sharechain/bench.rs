//! `hearth bench sharechain`: validate and store N shares received from a
//! peer (as bytes), the way a syncing node does, and print the figures.

use super::store::ShareDb;
use anyhow::{Context, Result};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::{Chain, ChainParams, Network, ReceivedShare};
use std::time::Instant;

/// Shares per batch, as a sync receives them.
pub const BATCH: usize = 500;

/// The figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharechainBench {
    /// Shares validated and stored.
    pub shares: usize,
    /// Wall time to decode, validate and store them.
    pub validate_seconds: f64,
    /// Throughput.
    pub shares_per_s: f64,
    /// Peak resident memory of the process, MB (VmHWM).
    pub peak_rss_mb: f64,
    /// CPU time of the validating thread (the figure that does not depend
    /// on what else the machine runs), seconds.
    pub cpu_seconds: f64,
    /// Resident memory the validated chain (index + window) added, MB.
    pub chain_rss_mb: f64,
    /// Share checker backend.
    pub backend: String,
    /// Distinct payout scripts.
    pub miners: u32,
    /// Shares in the window at the end.
    pub window_shares: usize,
    /// Time spent only in SQLite writes, seconds.
    pub store_seconds: f64,
    /// Time to mine the test shares (not counted), seconds.
    pub generate_seconds: f64,
}

fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Current RSS in MB.
pub fn rss_mb() -> f64 {
    proc_status_mb("VmRSS:")
}

/// Resets the kernel's peak-RSS mark (so share generation is not counted).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of the calling thread, seconds (/proc schedstat, ns).
pub fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

/// Peak RSS in MB from /proc (0 where there is none).
pub fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// Mines `n` regtest shares from `miners` payout scripts, 10 s apart.
pub fn generate(n: usize, miners: u32) -> Result<Vec<Vec<u8>>> {
    let params = ChainParams::for_network(Network::Regtest);
    let mut chain = Chain::new(params, Checker::detect());
    let mut out = Vec::with_capacity(n);
    let t0: u64 = 1_700_000_000;
    for i in 0..n {
        let t = t0 + 10 * i as u64;
        let base = BlockBase {
            prev_blockhash: bitcoin::BlockHash::from_raw_hash(
                bitcoin::hashes::Hash::from_byte_array([1; 32]),
            ),
            height: 1000,
            bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
            time: t as u32,
        };
        let job = chain.job(
            test_payout_script(i as u32 % miners.max(1)),
            3_125_000_000,
            base.bits,
            t,
        );
        let share = mine(&job, &base, &[[2; 32], [3; 32], [4; 32]], i as u64, 10_000)
            .context("mining a regtest share")?;
        chain
            .accept(share.clone(), t)
            .map_err(|e| anyhow::anyhow!("generated share refused: {e}"))?;
        out.push(share.to_bytes());
    }
    Ok(out)
}

/// Runs the benchmark with a database at `db_path` (deleted first).
pub fn run(n: usize, miners: u32, db_path: &std::path::Path) -> Result<SharechainBench> {
    let g = Instant::now();
    let received = generate(n, miners)?;
    let generate_seconds = g.elapsed().as_secs_f64();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    let mut db = ShareDb::open(db_path).context("opening the benchmark database")?;
    let checker = Checker::detect();
    let mut chain = Chain::new(ChainParams::for_network(Network::Regtest), checker);
    let now = 1_700_000_000 + 10 * n as u64;
    reset_peak_rss();
    let rss_before = rss_mb();
    let cpu_before = thread_cpu_seconds();
    let start = Instant::now();
    let mut store_seconds = 0.0;
    for batch in received.chunks(BATCH) {
        // As the daemon's node takes a peer's shares: kept as their bytes
        // (header and info read, coinbase not decoded), validated from them.
        let shares: Vec<ReceivedShare> = batch
            .iter()
            .map(|b| ReceivedShare::from_bytes(b.clone()))
            .collect::<Result<_, _>>()
            .context("reading the shares")?;
        let results = chain.accept_received(&shares, now);
        // The received bytes are stored, not the shares re-encoded.
        let mut accepted = Vec::with_capacity(batch.len());
        for (s, r) in shares.iter().zip(results) {
            let a = r.map_err(|e| anyhow::anyhow!("share refused: {e}"))?;
            accepted.push((a.hash, s.info().height, s.bytes()));
        }
        let w = Instant::now();
        db.put_encoded(&accepted, chain.tip().map(|t| t.hash))?;
        store_seconds += w.elapsed().as_secs_f64();
    }
    let validate_seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu_seconds() - cpu_before;
    let chain_mb = rss_mb() - rss_before;
    let stored = db.share_count()? as usize;
    anyhow::ensure!(stored == n, "stored {stored} of {n} shares");
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    Ok(SharechainBench {
        shares: n,
        validate_seconds,
        shares_per_s: if validate_seconds > 0.0 {
            n as f64 / validate_seconds
        } else {
            0.0
        },
        peak_rss_mb: peak_rss_mb(),
        cpu_seconds,
        chain_rss_mb: chain_mb,
        backend: checker.backend().name().into(),
        miners,
        window_shares: chain.window().len(),
        store_seconds,
        generate_seconds,
    })
}
