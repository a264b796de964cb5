//! `hearth sharechain status`: asks the running daemon's API; when no
//! daemon answers, reads the sharechain database directly (tip, height,
//! window, our shares and expected payout from the stored chain; no live
//! peers).

use super::p2p::SharechainStatus;
use super::store::{ShareDb, SHARECHAIN_DB_FILE};
use anyhow::{Context, Result};
use hearth_shacheck::Checker;
use hearth_sharechain::store::{load_chain, ShareStore};
use hearth_sharechain::Chain;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A block's value the offline expectation uses (3.125 BTC subsidy).
pub const BLOCK_VALUE_SAT: u64 = 312_500_000;

/// GET `/api/v1/sharechain` from a daemon at `http` (2 s timeout, 1 MB cap),
/// with the bearer token in `$HEARTH_TOKEN` when reads are not public.
pub async fn fetch(http: SocketAddr) -> Result<SharechainStatus> {
    let auth = std::env::var("HEARTH_TOKEN")
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let work = async {
        let mut s = tokio::net::TcpStream::connect(http).await?;
        s.write_all(
            format!(
                "GET /api/v1/sharechain HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n{auth}\r\n"
            )
            .as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.take(1 << 20).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .context("daemon did not answer in 2 s")??;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed HTTP answer")?;
    let body = &buf[split + 4..];
    let head = String::from_utf8_lossy(&buf[..split]);
    if !head.starts_with("HTTP/1.1 200") {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        anyhow::bail!(
            "daemon: {}",
            v.get("error").and_then(|e| e.as_str()).unwrap_or("error")
        );
    }
    serde_json::from_slice(body).context("decoding the daemon's sharechain status")
}

/// Status from the database in `data_dir`, for `params`.
pub fn offline(
    data_dir: &Path,
    settings: &super::config::SharechainSettings,
) -> Result<SharechainStatus> {
    let path = data_dir.join(SHARECHAIN_DB_FILE);
    anyhow::ensure!(
        path.exists(),
        "no sharechain database at {}",
        path.display()
    );
    let mut db = ShareDb::open(&path)?;
    let mut chain = Chain::new(settings.params.clone(), Checker::detect());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    load_chain(&mut chain, &mut db, now)?;
    let w = chain.window();
    let (ours, frac, pay) = match &settings.payout_script {
        Some(s) => (
            w.iter().filter(|e| &e.script == s).count(),
            if w.total_work() > 0 {
                w.weight_of(s) as f64 / w.total_work() as f64
            } else {
                0.0
            },
            w.expected_payout(BLOCK_VALUE_SAT, s),
        ),
        None => (0, 0.0, 0),
    };
    Ok(SharechainStatus {
        network: settings.params.network.name().into(),
        consensus_id: chain.consensus_id().to_hex(),
        tip: chain.tip().map(|t| t.hash.to_hex()),
        height: chain.height(),
        peers: 0,
        best_peer_height: 0,
        sync_pending: 0,
        window_shares: w.len(),
        window_payees: w.payees(),
        our_shares: ours,
        our_fraction: frac,
        our_expected_payout_sat: pay,
        block_value_sat: BLOCK_VALUE_SAT,
        bans: db.bans(now)?.len(),
        blocks_found: 0,
    })
}

/// Prints a status for people.
pub fn print(s: &SharechainStatus, live: bool) {
    println!(
        "sharechain {} (consensus id {}){}",
        s.network,
        &s.consensus_id.get(..16).unwrap_or(""),
        if live {
            ""
        } else {
            " [from the database; daemon not running]"
        }
    );
    println!(
        "tip {} height {}",
        s.tip.as_deref().unwrap_or("-"),
        s.height.map_or("-".into(), |h| h.to_string())
    );
    println!(
        "peers {} (best peer height {}, {} shares pending), {} bans",
        s.peers, s.best_peer_height, s.sync_pending, s.bans
    );
    println!(
        "window {} shares, {} payees; ours {} shares ({:.2} % of the work)",
        s.window_shares,
        s.window_payees,
        s.our_shares,
        s.our_fraction * 100.0
    );
    println!(
        "expected payout if a block is found now: {} sat of {} sat",
        s.our_expected_payout_sat, s.block_value_sat
    );
}

/// `hearth sharechain ...`.
pub fn run(cmd: crate::cli::SharechainCommand) -> Result<()> {
    match cmd {
        crate::cli::SharechainCommand::Status(args) => status(&args),
    }
}

fn status(args: &crate::cli::SharechainStatusArgs) -> Result<()> {
    let config = match &args.config {
        Some(p) => Some(crate::config::Config::load(p)?),
        None if Path::new(crate::config::DEFAULT_CONFIG_PATH).exists() => Some(
            crate::config::Config::load(Path::new(crate::config::DEFAULT_CONFIG_PATH))?,
        ),
        None => None,
    };
    let section = config
        .as_ref()
        .map(|c| c.raw.sharechain.clone())
        .unwrap_or_default();
    let settings = section.settings()?;
    let http = args
        .http
        .or(config.as_ref().and_then(|c| c.raw.daemon.http))
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.follow {
        // Progress needs the live node; the database alone does not sync.
        return rt
            .block_on(super::follow::follow(
                http,
                Duration::from_millis(args.every_ms),
                Duration::from_secs(args.timeout),
            ))
            .with_context(|| format!("following the daemon at {http}"));
    }
    let (st, live) = match rt.block_on(fetch(http)) {
        Ok(s) => (s, true),
        Err(live_err) => {
            let dir = args
                .data_dir
                .clone()
                .or(config.as_ref().and_then(|c| c.raw.daemon.data_dir.clone()))
                .unwrap_or_else(|| "/var/lib/hearth".into());
            let s = offline(&dir, &settings).with_context(|| {
                format!(
                    "no daemon at {http} ({live_err:#}), and reading {} failed",
                    dir.display()
                )
            })?;
            (s, false)
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&st)?;
        v["live"] = serde_json::json!(live);
        println!("{v}");
    } else {
        print(&st, live);
    }
    Ok(())
}
