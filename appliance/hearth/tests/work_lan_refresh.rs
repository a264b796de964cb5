#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` with `[work.server]` on, two cases the LAN payout
//! must survive:
//! - a miner that authorized with its regtest address while a POOL fed the
//!   work stays connected when our sharechain is switched on at run time
//!   (`PUT /api/v1/settings/work`): it gets a clean job paying its own
//!   script, and the share it finds lands in our sharechain under its
//!   address;
//! - a template refresh without a new block (`[work]
//!   template_refresh_s`) reaches the miner as a new job on the same block,
//!   not clean, still paying its own script, and a share on it is accepted.

mod common;

use common::{free_port, http_with, Killed};
use hearth_shacheck::Checker;
use hearth_work::difficulty::difficulty_of_hash;
use hearth_work::jobs::header_bytes;
use hearth_work::stratum::codec::{hex_decode, hex_encode, parse_server_line};
use hearth_work::stratum::{Notify, ServerMessage};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
/// The LAN sessions' fixed difficulty (2^-20): a share in about a million
/// hashes.
const LAN_DIFFICULTY: f64 = 0.000_000_953_674_316_406_25;

fn addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

fn status(http: SocketAddr) -> Value {
    http_with(http, "", "GET", "/api/v1/status", None)
        .map(|(_, _, v)| v)
        .unwrap_or(Value::Null)
}

fn wait_status(http: SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = status(http);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {}", v["work"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn source<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["work"]["sources"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

fn start(dir: &Path, http: SocketAddr, lan: SocketAddr, work: &str) -> Killed {
    let cfg = dir.join("hearth.toml");
    // No hashboard of our own: the LAN miner is the only one mining, so
    // neither the block nor the share tip moves under its jobs.
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\n\n[web]\npublic_read = true\n\n[work]\n{work}\n\n[work.server]\nenabled = true\nlisten = \"{lan}\"\ndifficulty = {LAN_DIFFICULTY}\nvardiff = false\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("hearth.log")).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &http.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Killed(child)
}

/// A regtest P2WPKH address of a LAN miner and its script.
fn miner_address(key: u8) -> (String, bitcoin::ScriptBuf) {
    use bitcoin::hashes::Hash as _;
    let script = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([key; 20]));
    let address = bitcoin::Address::from_script(&script, bitcoin::Network::Regtest).unwrap();
    (address.to_string(), script)
}

fn our_script() -> bitcoin::ScriptBuf {
    use std::str::FromStr as _;
    bitcoin::Address::from_str(hearth::work::own::SIM_PAYOUT_ADDRESS)
        .unwrap()
        .require_network(bitcoin::Network::Regtest)
        .unwrap()
        .script_pubkey()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A LAN miner's connection (real TCP, Stratum V1).
struct Miner {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    user: String,
    extranonce1: Vec<u8>,
    extranonce2_len: usize,
}

impl Miner {
    /// Subscribes (and to `mining.set_extranonce`) and authorizes as
    /// `user`; returns the first job.
    fn login(lan: SocketAddr, user: &str) -> (Miner, Notify) {
        let s = TcpStream::connect(lan).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut m = Miner {
            rd: BufReader::new(s.try_clone().unwrap()),
            wr: s,
            user: user.to_string(),
            extranonce1: Vec::new(),
            extranonce2_len: 0,
        };
        m.send(1, "mining.subscribe", json!(["bitaxe/test"]));
        m.send(2, "mining.extranonce.subscribe", json!([]));
        m.send(3, "mining.authorize", json!([user, "x"]));
        loop {
            let line = m.line();
            if let Ok(ServerMessage::Notify(n)) = parse_server_line(&line) {
                return (m, n);
            }
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == 1 {
                m.extranonce1 = hex_decode(v["result"][1].as_str().unwrap()).unwrap();
                m.extranonce2_len = v["result"][2].as_u64().unwrap() as usize;
            }
            assert!(v["id"] != 3 || v["result"] == json!(true), "{v}");
        }
    }

    fn send(&mut self, id: u64, method: &str, params: Value) {
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.wr.write_all(line.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        assert!(self.rd.read_line(&mut line).unwrap() > 0, "closed");
        line.trim().to_string()
    }

    /// The next job (a new extranonce1 on the way is taken).
    fn next_job(&mut self) -> Notify {
        loop {
            let line = self.line();
            if let Ok(ServerMessage::Notify(n)) = parse_server_line(&line) {
                return n;
            }
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["method"] == "mining.set_extranonce" {
                self.extranonce1 = hex_decode(v["params"][0].as_str().unwrap()).unwrap();
                self.extranonce2_len = v["params"][1].as_u64().unwrap() as usize;
            }
        }
    }

    /// Mines `job` in software to `difficulty` and submits the share:
    /// the pool's answer, and the jobs that came meanwhile.
    fn mine(&mut self, job: &Notify, difficulty: f64, id: u64) -> (Value, Vec<Notify>) {
        use bitcoin::hashes::{sha256d, Hash as _};
        let checker = Checker::detect();
        let mut found = None;
        'search: for en2_n in 0u32..64 {
            let mut en2 = vec![0u8; self.extranonce2_len];
            let n = en2_n.to_be_bytes();
            let k = n.len().min(en2.len());
            let at = en2.len() - k;
            en2[at..].copy_from_slice(&n[n.len() - k..]);
            let mut coinbase = job.coinb1.clone();
            coinbase.extend_from_slice(&self.extranonce1);
            coinbase.extend_from_slice(&en2);
            coinbase.extend_from_slice(&job.coinb2);
            let root = job
                .branch
                .root(sha256d::Hash::hash(&coinbase).to_byte_array());
            for nonce in 0u32..(1 << 23) {
                let h = header_bytes(
                    job.version,
                    &job.prev_block_hash,
                    &root,
                    job.ntime,
                    job.nbits,
                    nonce,
                );
                if difficulty_of_hash(&checker.hash_headers(&[h])[0]) >= difficulty {
                    found = Some((en2, nonce));
                    break 'search;
                }
            }
        }
        let (en2, nonce) = found.expect("a share within the search budget");
        let user = self.user.clone();
        self.send(
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
        let mut jobs = Vec::new();
        loop {
            let line = self.line();
            if let Ok(ServerMessage::Notify(n)) = parse_server_line(&line) {
                jobs.push(n);
                continue;
            }
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return (v, jobs);
            }
        }
    }
}

#[test]
fn a_miner_logged_in_under_a_pool_is_paid_once_our_sharechain_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let (http, lan) = (addr(), addr());
    // The sharechain node runs (`--sim`'s regtest one) but is no source:
    // the in-process pool feeds the work, as after an owner switched the
    // sharechain off.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("work-settings.json"),
        r#"{"sharechain": false, "pools": []}"#,
    )
    .unwrap();
    let _daemon = start(dir.path(), http, lan, "");
    wait_status(http, "mining on the sim pool with LAN work", |v| {
        v["work"]["name"] == "sim-pool" && v["work"]["lan_server"]["no_work"].is_null()
    });

    let (address, script) = miner_address(0xa1);
    let ours = our_script();
    let (mut miner, pool_job) = Miner::login(lan, &format!("{address}.bitaxe"));
    // The pool's job pays the pool (our account there), not the miner.
    assert!(!contains(&pool_job.coinb2, script.as_bytes()));

    // The owner switches our sharechain on.
    let token = common::owner_token(http);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (code, _, body) = http_with(
        http,
        &auth,
        "PUT",
        "/api/v1/settings/work",
        Some(r#"{"sharechain": true}"#),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");

    // Still connected: a clean job paying its own script, not ours.
    let deadline = Instant::now() + Duration::from_secs(30);
    let job = loop {
        assert!(Instant::now() < deadline, "no sharechain job for the miner");
        let n = miner.next_job();
        if contains(&n.coinb2, script.as_bytes()) {
            break n;
        }
    };
    assert!(job.clean, "the first job of the new source is not clean");
    assert!(!contains(&job.coinb2, ours.as_bytes()));
    let st = wait_status(http, "mining on the sharechain", |v| {
        v["work"]["name"] == "sharechain"
    });
    let share_difficulty = source(&st, "sharechain")["stats"]["share_difficulty"]
        .as_f64()
        .unwrap();

    // Its share lands in our sharechain, under its address.
    let (answer, _) = miner.mine(&job, share_difficulty.max(LAN_DIFFICULTY), 10);
    assert_eq!(answer["result"], true, "{answer}");
    let st = wait_status(http, "the sharechain accepted the LAN share", |v| {
        source(v, "sharechain")["stats"]["accepted"].as_u64() >= Some(1)
    });
    let worker = &st["work"]["lan_server"]["workers"][0];
    assert_eq!(worker["payout_address"], address.as_str());
    assert_eq!(worker["relayed"], 1, "{worker}");
    let (_, _, chain) = http_with(http, "", "GET", "/api/v1/sharechain", None).unwrap();
    assert!(chain["window_shares"].as_u64() >= Some(1), "{chain}");
    assert_eq!(chain["our_shares"], 0, "{chain}");
    // Credited to its address: another miner's job pays it from the window.
    let (other, _) = miner_address(0xb2);
    let (_second, job2) = Miner::login(lan, &format!("{other}.s9"));
    assert!(
        contains(&job2.coinb2, script.as_bytes()),
        "the share does not pay the first miner in the window"
    );
    assert!(!contains(&job2.coinb2, ours.as_bytes()));
}

#[test]
fn a_template_refresh_without_a_new_block_reaches_the_miner_paying_it() {
    let dir = tempfile::tempdir().unwrap();
    let (http, lan) = (addr(), addr());
    let _daemon = start(dir.path(), http, lan, "template_refresh_s = 1");
    let st = wait_status(http, "mining on the sharechain with LAN work", |v| {
        v["work"]["name"] == "sharechain" && v["work"]["lan_server"]["no_work"].is_null()
    });
    let share_difficulty = source(&st, "sharechain")["stats"]["share_difficulty"]
        .as_f64()
        .unwrap();
    let (address, script) = miner_address(0xc3);
    let ours = our_script();
    let (mut miner, first) = Miner::login(lan, &format!("{address}.bitaxe"));
    assert!(contains(&first.coinb2, script.as_bytes()));

    // Nobody mines, so neither the block nor the share tip moves: the next
    // job is the refresh, on the same block, not clean, still the miner's.
    let t0 = Instant::now();
    let refreshed = miner.next_job();
    eprintln!(
        "refresh after {:?}: {} -> {} clean {}",
        t0.elapsed(),
        first.job_id,
        refreshed.job_id,
        refreshed.clean
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(refreshed.prev_block_hash, first.prev_block_hash);
    assert_ne!(refreshed.job_id, first.job_id);
    assert!(!refreshed.clean, "a refresh on the same block is clean");
    assert!(contains(&refreshed.coinb2, script.as_bytes()));
    assert!(!contains(&refreshed.coinb2, ours.as_bytes()));

    // A share on the refreshed job is the miner's and is accepted.
    let (answer, _) = miner.mine(&refreshed, share_difficulty.max(LAN_DIFFICULTY), 10);
    assert_eq!(answer["result"], true, "{answer}");
    let st = wait_status(http, "the sharechain accepted the LAN share", |v| {
        source(v, "sharechain")["stats"]["accepted"].as_u64() >= Some(1)
    });
    assert_eq!(st["work"]["lan_server"]["workers"][0]["relayed"], 1);
    let (_, _, chain) = http_with(http, "", "GET", "/api/v1/sharechain", None).unwrap();
    assert_eq!(chain["our_shares"], 0, "{chain}");
    assert!(chain["window_shares"].as_u64() >= Some(1), "{chain}");
}
