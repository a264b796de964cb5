#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` with `[sharechain]` on regtest: the node mines
//! simulated shares, `/api/v1/sharechain` and `hearth sharechain status`
//! report them, and after the daemon stops the status comes from the
//! database (restart resumes without re-sync). Also `hearth bench
//! sharechain --json` prints its figures.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let code = r.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        r.split("\r\n\r\n")
            .nth(1)
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null),
    ))
}

fn status_cli(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(["sharechain", "status", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sim_daemon_serves_sharechain_status_and_it_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let p2p = free_port();
    let cfg = dir.path().join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\n[sharechain]\nenabled = true\nnetwork = \"regtest\"\nlisten = \"{p2p}\"\npayout_address = \"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080\"\n\n# Status reads are public here; writes still need the owner.\n[web]\npublic_read = true\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &http.to_string(), "--data-dir"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut st = Value::Null;
    while Instant::now() < deadline {
        if let Some((200, v)) = get(http, "/api/v1/sharechain") {
            if v["height"].as_u64().is_some() {
                st = v;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(st["network"], "regtest", "{st}");
    assert!(st["our_shares"].as_u64().unwrap() >= 1, "{st}");
    assert!(st["our_expected_payout_sat"].as_u64().unwrap() > 0, "{st}");
    let live = status_cli(&[
        "--http",
        &http.to_string(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(live["live"], true);
    let tip = live["tip"].clone();
    assert!(tip.is_string());
    stop_daemon(&mut child);
    // Offline: from sharechain.db, same chain (at least as far as the API saw).
    let off = status_cli(&[
        "--http",
        &free_port().to_string(),
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(off["live"], false);
    assert!(
        off["height"].as_u64() >= live["height"].as_u64(),
        "{off} vs {live}"
    );
    assert!(off["our_shares"].as_u64().unwrap() >= 1);
}

fn stop_daemon(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bench_sharechain_prints_the_figures() {
    let out = Command::new(BIN)
        .args(["bench", "sharechain", "--shares", "300", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shares"], 300);
    for k in ["validate_seconds", "shares_per_s", "peak_rss_mb"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    let bad = Command::new(BIN)
        .args(["bench", "sharechain", "--shares", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
