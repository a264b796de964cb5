#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` with `[work.server]` on: a scripted LAN miner (real
//! TCP, Stratum V1) mines a share on the work of our own regtest sharechain
//! and the sharechain accepts it, the same path our chains' shares take.

use hearth_shacheck::Checker;
use hearth_work::difficulty::difficulty_of_hash;
use hearth_work::jobs::header_bytes;
use hearth_work::stratum::codec::{hex_decode, hex_encode, parse_server_line};
use hearth_work::stratum::ServerMessage;
use serde_json::{json, Value};
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

fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    serde_json::from_str(r.split("\r\n\r\n").nth(1)?).ok()
}

fn sharechain_source(v: &Value) -> Value {
    v["work"]["sources"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "sharechain").cloned())
        .unwrap_or(Value::Null)
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn a_lan_miner_mines_into_our_sharechain() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let lan = free_port();
    let cfg = dir.path().join("hearth.toml");
    // No hashboard of our own: the LAN miner is the only one mining, so the
    // share tip does not move under its job.
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\n\n[web]\npublic_read = true\n\n[work.server]\nenabled = true\nlisten = \"{lan}\"\ndifficulty = 0.00000095367431640625\nvardiff = false\n"
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &http.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = Kill(child);

    // Mining on the sharechain, with work for LAN miners.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut st = Value::Null;
    while Instant::now() < deadline {
        if let Some(v) = get(http, "/api/v1/status") {
            st = v;
            if st["work"]["name"] == "sharechain" && st["work"]["lan_server"]["no_work"].is_null() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(st["work"]["name"], "sharechain", "{}", st["work"]);
    let share_difficulty = sharechain_source(&st)["stats"]["share_difficulty"]
        .as_f64()
        .unwrap();
    assert!(share_difficulty > 0.0);

    let s = TcpStream::connect(lan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut wr = s;
    let mut send = |id: u64, method: &str, params: Value| {
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        wr.write_all(line.as_bytes()).unwrap();
    };
    send(1, "mining.subscribe", json!(["bitaxe/test"]));
    send(2, "mining.authorize", json!(["bcrt1qlanminer.bitaxe", "x"]));
    let mut extranonce1 = Vec::new();
    let mut notify = None;
    while notify.is_none() {
        let mut line = String::new();
        assert!(rd.read_line(&mut line).unwrap() > 0, "closed");
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        if v["id"] == 1 {
            extranonce1 = hex_decode(v["result"][1].as_str().unwrap()).unwrap();
        }
        if let Ok(ServerMessage::Notify(n)) = parse_server_line(line.trim()) {
            notify = Some(n);
        }
    }
    // Mine in software until a hash meets the sharechain's target; if a
    // clean job arrived meanwhile (a new block on the fake node), again on
    // that one.
    use bitcoin::hashes::{sha256d, Hash as _};
    let checker = Checker::detect();
    let mut job = notify.unwrap();
    let mut accepted = false;
    // Both the session's difficulty (2^-20, configured) and the source's.
    let want = share_difficulty.max(0.000_000_953_674_316_406_25);
    for attempt in 0..5 {
        let mut found = None;
        'search: for en2_n in 0u32..64 {
            let en2 = en2_n.to_be_bytes();
            let mut coinbase = job.coinb1.clone();
            coinbase.extend_from_slice(&extranonce1);
            coinbase.extend_from_slice(&en2);
            coinbase.extend_from_slice(&job.coinb2);
            let root = job
                .branch
                .root(sha256d::Hash::hash(&coinbase).to_byte_array());
            for nonce in 0u32..(1 << 22) {
                let h = header_bytes(
                    job.version,
                    &job.prev_block_hash,
                    &root,
                    job.ntime,
                    job.nbits,
                    nonce,
                );
                if difficulty_of_hash(&checker.hash_headers(&[h])[0]) >= want {
                    found = Some((en2, nonce));
                    break 'search;
                }
            }
        }
        let (en2, nonce) = found.expect("a share within the search budget");
        let id = 10 + attempt;
        send(
            id,
            "mining.submit",
            json!([
                "bcrt1qlanminer.bitaxe",
                job.job_id,
                hex_encode(&en2),
                format!("{:08x}", job.ntime),
                format!("{nonce:08x}")
            ]),
        );
        let mut newer = None;
        loop {
            let mut line = String::new();
            assert!(rd.read_line(&mut line).unwrap() > 0, "closed");
            if let Ok(ServerMessage::Notify(n)) = parse_server_line(line.trim()) {
                newer = Some(n);
                continue;
            }
            let v: Value = serde_json::from_str(line.trim()).unwrap();
            if v["id"] == id {
                accepted = v["result"] == json!(true);
                eprintln!("attempt {attempt}: {v}");
                break;
            }
        }
        if accepted {
            break;
        }
        job = newer.expect("refused without newer work");
    }
    assert!(accepted, "no LAN share accepted");
    // The sharechain accepted it: our shares in the window, counted on the
    // source and on the worker.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(v) = get(http, "/api/v1/status") {
            st = v;
            if sharechain_source(&st)["stats"]["accepted"].as_u64() >= Some(1) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let sc = sharechain_source(&st);
    assert!(
        sc["stats"]["accepted"].as_u64() >= Some(1),
        "{}",
        st["work"]
    );
    assert_eq!(st["work"]["lan_shares_relayed"], 1, "{}", st["work"]);
    let worker = &st["work"]["lan_server"]["workers"][0];
    assert_eq!(worker["user"], "bcrt1qlanminer");
    assert_eq!(worker["relayed"], 1);
    let chain = get(http, "/api/v1/sharechain").unwrap();
    assert!(chain["our_shares"].as_u64() >= Some(1), "{chain}");
}
