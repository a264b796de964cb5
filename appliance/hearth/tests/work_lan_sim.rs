#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` with `[work.server]` on: a scripted LAN miner (real
//! TCP, Stratum V1) mines a share on the work of our own regtest sharechain
//! and the sharechain accepts it, the same path our chains' shares take,
//! under the miner's own payout address: its script is in its job's
//! coinbase and, once the share is in the PPLNS window, in the payouts of
//! a second miner's job; our own address gets nothing. A user that is no
//! regtest address is refused.

use hearth_shacheck::Checker;
use hearth_work::difficulty::difficulty_of_hash;
use hearth_work::jobs::header_bytes;
use hearth_work::stratum::codec::{hex_decode, hex_encode, parse_server_line};
use hearth_work::stratum::{Notify, ServerMessage};
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

/// A regtest P2WPKH address of a LAN miner and its script.
fn miner_address(key: u8) -> (String, bitcoin::ScriptBuf) {
    use bitcoin::hashes::Hash as _;
    let script = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([key; 20]));
    let address = bitcoin::Address::from_script(&script, bitcoin::Network::Regtest).unwrap();
    (address.to_string(), script)
}

fn miner_address_script(address: &str) -> bitcoin::ScriptBuf {
    use std::str::FromStr as _;
    bitcoin::Address::from_str(address)
        .unwrap()
        .require_network(bitcoin::Network::Regtest)
        .unwrap()
        .script_pubkey()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Subscribes and authorizes as `user`: the extranonce1 and the first job,
/// or the authorize's refusal.
fn login(
    lan: SocketAddr,
    user: &str,
) -> (
    BufReader<TcpStream>,
    TcpStream,
    Vec<u8>,
    Result<Notify, Value>,
) {
    let s = TcpStream::connect(lan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut wr = s;
    for (id, method, params) in [
        (1, "mining.subscribe", json!(["bitaxe/test"])),
        (2, "mining.authorize", json!([user, "x"])),
    ] {
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        wr.write_all(line.as_bytes()).unwrap();
    }
    let mut extranonce1 = Vec::new();
    loop {
        let mut line = String::new();
        assert!(rd.read_line(&mut line).unwrap() > 0, "closed");
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        if v["id"] == 1 {
            extranonce1 = hex_decode(v["result"][1].as_str().unwrap()).unwrap();
        }
        if v["id"] == 2 && v["result"] != json!(true) {
            return (rd, wr, extranonce1, Err(v));
        }
        if let Ok(ServerMessage::Notify(n)) = parse_server_line(line.trim()) {
            return (rd, wr, extranonce1, Ok(n));
        }
    }
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

    // A user that is no regtest address is refused while the source is
    // our sharechain, with a Stratum error that says why.
    let (_, _, _, refused) = login(lan, "bcrt1qlanminer.bitaxe");
    let refused = refused.expect_err("an invalid address authorized");
    assert_eq!(refused["result"], false, "{refused}");
    assert_eq!(refused["error"][0], 24, "{refused}");
    assert!(
        refused["error"][1]
            .as_str()
            .unwrap()
            .contains("not a bitcoin address"),
        "{refused}"
    );

    let (address, script) = miner_address(0xa1);
    let user = format!("{address}.bitaxe");
    let (mut rd, mut wr, extranonce1, first) = login(lan, &user);
    let notify = first.expect("a valid regtest address is refused");
    // Its job pays its own address, not ours.
    let ours = miner_address_script(hearth::work::own::SIM_PAYOUT_ADDRESS);
    let coinb2 = &notify.coinb2;
    assert!(
        contains(coinb2, script.as_bytes()),
        "the miner's script is not in its coinbase"
    );
    assert!(
        !contains(coinb2, ours.as_bytes()),
        "our script is in the LAN miner's coinbase"
    );
    let mut send = |id: u64, method: &str, params: Value| {
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        wr.write_all(line.as_bytes()).unwrap();
    };
    // Mine in software until a hash meets the sharechain's target; if a
    // clean job arrived meanwhile (a new block on the fake node), again on
    // that one.
    use bitcoin::hashes::{sha256d, Hash as _};
    let checker = Checker::detect();
    let mut job = notify;
    let mut accepted = false;
    let mut block_hash = None;
    // Every job the first miner got after its first.
    let mut seen: Vec<Notify> = Vec::new();
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
                // Also a block (regtest's target is about half of all
                // hashes), so the block path is taken too.
                if difficulty_of_hash(&checker.hash_headers(&[h])[0]) >= want {
                    let header: bitcoin::block::Header =
                        bitcoin::consensus::deserialize(&h).unwrap();
                    let block_target = bitcoin::Target::from_compact(header.bits);
                    if !block_target.is_met_by(header.block_hash()) {
                        continue;
                    }
                    block_hash = Some(header.block_hash());
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
                user,
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
                seen.push(n.clone());
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
    // The sharechain accepted it: counted on the source and on the worker.
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
    assert_eq!(worker["user"], address.as_str());
    assert_eq!(worker["payout_address"], address.as_str());
    assert_eq!(worker["relayed"], 1);
    // In the window under the miner's address, none of it ours.
    let chain = get(http, "/api/v1/sharechain").unwrap();
    assert!(chain["window_shares"].as_u64() >= Some(1), "{chain}");
    assert_eq!(chain["our_shares"], 0, "{chain}");
    // The window pays it: a second miner's job (its own address as the
    // finder) carries the first miner's payout output, and none for us.
    let (other, _) = miner_address(0xb2);
    let (_rd2, _wr2, _, second) = login(lan, &format!("{other}.s9"));
    let second = second.expect("the second miner is refused");
    // The share was a block too: submitted, accepted by the node (its tip
    // is that block now, whose coinbase pays the miner), counted.
    let block_hash = block_hash.unwrap();
    assert_eq!(second.prev_block_hash, block_hash.to_byte_array());
    assert!(
        st["work"]["blocks_found"].as_u64() >= Some(1),
        "{}",
        st["work"]
    );
    assert!(!contains(&second.coinb2, ours.as_bytes()));
    assert!(
        contains(&second.coinb2, script.as_bytes()),
        "the first miner's share does not pay it in the window"
    );
    // The new block reached the first miner too: a clean job on it, rebuilt
    // for its own payout (its script in the coinbase, ours not).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|n| n.prev_block_hash == block_hash.to_byte_array())
        && Instant::now() < deadline
    {
        let mut line = String::new();
        assert!(rd.read_line(&mut line).unwrap() > 0, "closed");
        if let Ok(ServerMessage::Notify(n)) = parse_server_line(line.trim()) {
            seen.push(n);
        }
    }
    let on_block = seen
        .iter()
        .find(|n| n.prev_block_hash == block_hash.to_byte_array())
        .expect("no job on the new block for the first miner");
    assert!(on_block.clean, "the new block's job is not clean");
    assert!(contains(&on_block.coinb2, script.as_bytes()));
    assert!(!contains(&on_block.coinb2, ours.as_bytes()));
    // Its own job, not the second miner's: that one pays the second miner
    // as finder (the first only through the window).
    let (_, other_script) = miner_address(0xb2);
    assert_ne!(on_block.coinb2, second.coinb2);
    assert!(contains(&second.coinb2, other_script.as_bytes()));
}
