#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` with no `[sharechain]` section mines end to end: the
//! simulated chains' nonces, checked by the real chain driver and checker,
//! become sharechain shares accepted by the local regtest node, and blocks
//! reach the in-process fake bitcoind (`submitblock`). When the Bitcoin node
//! goes away (its cookie changes, as when bitcoind restarts), the boards
//! fall back to the in-process pool without a gap in heat, and come back.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
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

fn http(addr: SocketAddr, req: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(req.as_bytes()).ok()?;
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

fn get(addr: SocketAddr, path: &str) -> Option<(u16, Value)> {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// `getblockchaininfo` on the fake node with the cookie in `cookie`.
fn node_blocks(rpc: SocketAddr, cookie: &str) -> Option<u64> {
    let body = r#"{"jsonrpc":"1.0","id":1,"method":"getblockchaininfo","params":[]}"#;
    let auth = base64(cookie.as_bytes());
    let (code, v) = http(
        rpc,
        &format!(
            "POST / HTTP/1.1\r\nHost: {rpc}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )?;
    (code == 200)
        .then(|| v["result"]["blocks"].as_u64())
        .flatten()
}

fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn source<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["work"]["sources"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

fn heat_w(status: &Value) -> f64 {
    status["boards"]
        .as_array()
        .map(|b| b.iter().map(|b| b["power_w"].as_f64().unwrap_or(0.0)).sum())
        .unwrap_or(0.0)
}

#[test]
fn sim_mines_into_the_sharechain_submits_blocks_and_falls_back_without_a_gap_in_heat() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let cfg = dir.path().join("hearth.toml");
    std::fs::write(
        &cfg,
        "[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\n[web]\npublic_read = true\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &addr.to_string(), "--data-dir"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    // The fake node's RPC address, from the log.
    let (rpc_tx, rpc_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("fake node") && line.contains("rpc=") {
                if let Some(a) = line
                    .split("rpc=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse::<SocketAddr>().ok())
                {
                    let _ = rpc_tx.send(a);
                }
            }
        }
    });
    let rpc = rpc_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let cookie_path = data.join("fake-node").join(".cookie");
    let cookie = std::fs::read_to_string(&cookie_path).unwrap();
    let premined = node_blocks(rpc, &cookie).unwrap();

    // 1. Shares accepted by the sharechain and blocks on the node, in a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_share = None;
    let mut st = Value::Null;
    while Instant::now() < deadline {
        if let Some((200, v)) = get(addr, "/api/v1/status") {
            let sc = source(&v, "sharechain");
            if first_share.is_none() && sc["stats"]["accepted"].as_u64() > Some(0) {
                first_share = Some(started.elapsed());
            }
            st = v;
            if first_share.is_some() && node_blocks(rpc, &cookie) > Some(premined) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_share = first_share.unwrap_or_else(|| panic!("no accepted share: {st}"));
    eprintln!("time to first accepted sharechain share: {first_share:?}");
    assert_eq!(st["work"]["mode"], "source", "{st}");
    assert_eq!(st["work"]["name"], "sharechain", "{st}");
    let blocks = node_blocks(rpc, &cookie).unwrap();
    assert!(blocks > premined, "no block reached the node: {blocks}");
    let (code, chain) = get(addr, "/api/v1/sharechain").unwrap();
    assert_eq!(code, 200, "{chain}");
    assert!(chain["our_shares"].as_u64().unwrap() >= 1, "{chain}");

    // 2. The node goes away: the boards fall back to the pool, never cold.
    std::fs::write(&cookie_path, "__cookie__:changed-by-a-restart").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut min_heat_w = f64::MAX;
    let mut fell_back = false;
    while Instant::now() < deadline {
        if let Some((200, v)) = get(addr, "/api/v1/status") {
            min_heat_w = min_heat_w.min(heat_w(&v));
            if v["work"]["name"] == "sim-pool" {
                fell_back = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(fell_back, "no fallback to the pool");
    // 3. It returns: after the switch-back wait, mining resumes on it.
    std::fs::write(&cookie_path, &cookie).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut back = false;
    while Instant::now() < deadline {
        if let Some((200, v)) = get(addr, "/api/v1/status") {
            min_heat_w = min_heat_w.min(heat_w(&v));
            if v["work"]["name"] == "sharechain" {
                back = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "never back on the sharechain");
    assert!(
        min_heat_w > 10.0,
        "heat dropped to {min_heat_w} W during the switch"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
