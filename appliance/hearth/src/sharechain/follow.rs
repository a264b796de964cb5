//! `hearth sharechain status --follow`: sync progress from the running
//! daemon, one line each time it changes, until the node is in sync with
//! its best peer (exit 0) or the time limit passes (an error). The line and
//! the "in sync" test are pure; the loop only polls.

use super::p2p::SharechainStatus;
use anyhow::{bail, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// In sync: at least one peer, nothing queued, and our tip at least as high
/// as the best any peer announced. Without peers we cannot know.
pub fn in_sync(s: &SharechainStatus) -> bool {
    s.peers > 0 && s.sync_pending == 0 && s.height.unwrap_or(0) >= s.best_peer_height
}

/// How far along, 0 to 100 (100 when no peer is ahead).
pub fn percent(s: &SharechainStatus) -> f64 {
    let ours = s.height.unwrap_or(0);
    if s.best_peer_height == 0 || ours >= s.best_peer_height {
        100.0
    } else {
        100.0 * ours as f64 / s.best_peer_height as f64
    }
}

/// One progress line, e.g. `sync: height 50 of 100 (50.0 %), 50 shares pending, 2 peers`.
pub fn progress_line(s: &SharechainStatus) -> String {
    let height = s.height.map_or("-".to_string(), |h| h.to_string());
    format!(
        "sync: height {height} of {} ({:.1} %), {} shares pending, {} peer{}",
        s.best_peer_height.max(s.height.unwrap_or(0)),
        percent(s),
        s.sync_pending,
        s.peers,
        if s.peers == 1 { "" } else { "s" }
    )
}

/// Polls `http` every `every` until in sync or `limit` has passed. A
/// daemon that stops answering midway is an error, not progress.
pub async fn follow(http: SocketAddr, every: Duration, limit: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let s = super::cli::fetch(http).await?;
        let line = progress_line(&s);
        if line != last {
            println!("{line}");
            last = line;
        }
        if in_sync(&s) {
            println!(
                "in sync at height {}",
                s.height.map_or("-".into(), |h| h.to_string())
            );
            return Ok(());
        }
        if start.elapsed() >= limit {
            bail!(
                "not in sync after {} s ({})",
                limit.as_secs(),
                if s.peers == 0 {
                    "no peers"
                } else {
                    "still syncing"
                }
            );
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(height: Option<u64>, best: u64, pending: usize, peers: usize) -> SharechainStatus {
        SharechainStatus {
            height,
            best_peer_height: best,
            sync_pending: pending,
            peers,
            ..SharechainStatus::default()
        }
    }

    #[test]
    fn progress_and_sync() {
        let s = st(Some(25), 100, 75, 2);
        assert_eq!(
            progress_line(&s),
            "sync: height 25 of 100 (25.0 %), 75 shares pending, 2 peers"
        );
        assert!(!in_sync(&s));
        assert!(in_sync(&st(Some(100), 100, 0, 1)));
        assert!(in_sync(&st(Some(120), 100, 0, 1)), "ahead of the peers");
        assert!(!in_sync(&st(Some(100), 100, 3, 1)), "shares still queued");
        assert!(!in_sync(&st(None, 0, 0, 0)), "no peers: unknown");
        assert_eq!(
            progress_line(&st(None, 0, 0, 1)),
            "sync: height - of 0 (100.0 %), 0 shares pending, 1 peer"
        );
    }
}
