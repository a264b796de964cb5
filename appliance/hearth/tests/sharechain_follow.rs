#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth sharechain status --follow` prints sync progress lines from the
//! daemon's `/api/v1/sharechain` until in sync, and gives up with an error
//! when sync does not finish in time. The daemon here is a stand-in HTTP
//! server that plays a scripted sync (a real node's sync is covered by
//! tests/sharechain_p2p.rs); what is under test is the CLI.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn status(height: u64, best: u64, pending: usize, peers: usize) -> String {
    // The daemon's own type, so fields added to it later stay in the fake.
    serde_json::to_string(&hearth::sharechain::p2p::SharechainStatus {
        network: "regtest".into(),
        tip: Some("ab".into()),
        height: Some(height),
        peers,
        best_peer_height: best,
        sync_pending: pending,
        window_shares: usize::try_from(height).unwrap(),
        ..Default::default()
    })
    .unwrap()
}

/// Serves the scripted statuses one per request, then the last forever.
fn fake_daemon(script: Vec<String>) -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    std::thread::spawn(move || {
        let mut i = 0;
        for conn in l.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /api/v1/sharechain "));
            let body = &script[i.min(script.len() - 1)];
            i += 1;
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, done)
}

fn follow(addr: SocketAddr, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args([
            "sharechain",
            "status",
            "--follow",
            "--every-ms",
            "50",
            "--http",
        ])
        .arg(addr.to_string())
        .args(extra)
        .env_remove("HEARTH_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn follow_prints_progress_until_in_sync() {
    let (addr, _done) = fake_daemon(vec![
        status(0, 200, 200, 1),
        status(0, 200, 200, 1), // unchanged: no second line
        status(50, 200, 150, 2),
        status(150, 200, 50, 2),
        status(200, 200, 0, 2),
    ]);
    let out = follow(addr, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "sync: height 0 of 200 (0.0 %), 200 shares pending, 1 peer",
            "sync: height 50 of 200 (25.0 %), 150 shares pending, 2 peers",
            "sync: height 150 of 200 (75.0 %), 50 shares pending, 2 peers",
            "sync: height 200 of 200 (100.0 %), 0 shares pending, 2 peers",
            "in sync at height 200",
        ]
    );
}

#[test]
fn follow_gives_up_after_its_timeout() {
    let (addr, _done) = fake_daemon(vec![status(10, 200, 190, 1)]);
    let out = follow(addr, &["--timeout", "1"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["sync: height 10 of 200 (5.0 %), 190 shares pending, 1 peer"]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not in sync after 1 s (still syncing)"),
        "{stderr}"
    );
}

#[test]
fn follow_without_a_daemon_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = follow(port, &["--timeout", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("following the daemon at"), "{stderr}");
}
