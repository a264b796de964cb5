#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The network fault kinds of the campaign, on the real daemon: a seeded
//! run of `hearth run --sim` (simulated chips, so in real time) with a real
//! mosquitto broker, the in-process fake bitcoind and an honest sharechain
//! peer, in which the broker is killed and restarted (`mqtt_gone`), the
//! node's credentials stop working as when bitcoind restarts (`node_gone`)
//! and the peer goes away and comes back (`peers_gone`), in an order, with
//! lengths and overlaps drawn from the seed (`HEARTH_NETFAULT_SEED`, default
//! 1; printed, so a failing seed replays the same plan).
//!
//! Checked every 200 ms for the whole run: the status API answers, the
//! zone is below its hard limit and the boards heat while the room is below
//! its setpoint. After the last fault clears: MQTT inputs flow again, the
//! boards mine into the sharechain again, the peer is back in sync, and the
//! heat still follows the thermostat (a setpoint below the room stops it).
//!
//! Not covered here: `pool_gone` (its own test, `tests/pool_gone.rs`, with
//! a pool as the only source), and speeds above real time (the chips are
//! simulated at the byte level, in real time).

mod common;

use common::{anonymous_broker, free_port, mosquitto_on, Killed};

use hearth::sharechain::p2p::{start, P2pConfig, P2pHandle};
use hearth_sharechain::miner::test_payout_script;
use hearth_sharechain::{ChainParams, Network};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
/// The zone's hard limit in the test's config.
const HARD_MAX_C: f64 = 30.0;

fn mosquitto(dir: &Path, port: u16) -> Killed {
    mosquitto_on(dir, port, &anonymous_broker(port))
}

fn publish(port: u16, topic: &str, payload: &str) {
    let _ = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-r",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status();
}

/// splitmix64: the plan, from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
/// What is gone: the MQTT broker, the Bitcoin node, the sharechain peer.
enum Gone {
    Mqtt,
    Node,
    Peers,
}

#[derive(Debug)]
struct Fault {
    kind: Gone,
    start_ms: u64,
    end_ms: u64,
}

/// Every kind once, in a seeded order; each starts 0.5-4 s after the one
/// before (so some overlap) and lasts 3-6 s (the node is polled every second: three polls at least).
fn plan(seed: u64) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut kinds = vec![Gone::Mqtt, Gone::Node, Gone::Peers];
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.next() as usize % (i + 1));
    }
    let mut at = 0;
    kinds
        .into_iter()
        .map(|kind| {
            at += rng.between(500, 4000);
            let len = rng.between(3000, 6000);
            Fault {
                kind,
                start_ms: at,
                end_ms: at + len,
            }
        })
        .collect()
}

async fn honest_peer(dir: &Path, daemon_p2p: SocketAddr) -> P2pHandle {
    start(
        P2pConfig {
            params: ChainParams::for_network(Network::Regtest),
            listen: "127.0.0.1:0".parse().unwrap(),
            seeds: vec![daemon_p2p],
            data_dir: dir.join("honest"),
            store_write_delay: std::time::Duration::ZERO,
        },
        Some(test_payout_script(7)),
    )
    .await
    .expect("honest peer")
}

async fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_node_and_peers_gone_and_back_heat_goes_on_and_everything_recovers() {
    let seed: u64 = std::env::var("HEARTH_NETFAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let faults = plan(seed);
    eprintln!("netfaults: seed {seed}: {faults:?}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mqtt_port = free_port();
    let mut broker = Some(mosquitto(dir, mqtt_port));
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = dir.join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\nhard_max_c = {HARD_MAX_C}\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\n\
             [web]\npublic_read = true\n\n[work]\nswitch_back_after_s = 3\n\n\
             [mqtt]\nenabled = true\nport = {mqtt_port}\nkeep_alive_s = 5\n[mqtt.inputs]\noutdoor_temp_c = {{ topic = \"house/outdoor\" }}\n"
        ),
    )
    .unwrap();
    let data: PathBuf = dir.join("data");
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
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("panicked") {
                let _ = tx.send(Err(line));
            } else if line.contains("sharechain node running") {
                if let Some(a) = line
                    .split("listen=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(Ok(a));
                }
            }
        }
    });
    let child = Killed(child);
    let p2p_any = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    let p2p: SocketAddr = format!("127.0.0.1:{}", p2p_any.port()).parse().unwrap();
    let token = common::owner_token(addr);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (code, _, body) = common::http_with(
        addr,
        &auth,
        "PUT",
        "/api/v1/zones/living-room/setpoint",
        Some(r#"{"setpoint_c": 25.0}"#),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let mut peer = Some(honest_peer(dir, p2p).await);
    let cookie_path = data.join("fake-node").join(".cookie");
    let cookie = std::fs::read_to_string(&cookie_path).unwrap();
    // Steady state first: mining into the sharechain, the peer in sync, an
    // MQTT input read.
    publish(mqtt_port, "house/outdoor", "4.5");
    let mut last = String::new();
    let steady = Instant::now();
    until("steady state", 90, || {
        let s = common::get(addr, "/api/v1/status")?;
        let c = common::get(addr, "/api/v1/sharechain")?;
        let p = peer.as_ref()?.status();
        let outdoor = common::get(addr, "/api/v1/control")?["house"]["outdoor_c"].clone();
        let now = format!(
            "work {} outdoor {outdoor} daemon peers {} tip {} peer tip {:?}",
            s["work"]["name"], c["peers"], c["tip"], p.tip
        );
        if now != last {
            eprintln!(
                "netfaults: {:>5.1} s waiting: {now}",
                steady.elapsed().as_secs_f64()
            );
            last = now;
        }
        (s["work"]["name"] == "sharechain"
            && outdoor.as_f64() == Some(4.5)
            && c["peers"].as_u64() >= Some(1)
            && p.tip.is_some()
            && c["tip"].as_str() == p.tip.as_deref())
        .then_some(())
    })
    .await;

    // The run: faults begin and end on the plan; invariants every 200 ms.
    let t0 = Instant::now();
    let last_end = faults.iter().map(|f| f.end_ms).max().unwrap_or(0);
    let mut active = [false; 3];
    let (mut polls, mut failed, mut min_heat_w, mut max_temp_c) = (0u64, 0u64, f64::MAX, f64::MIN);
    let hard_limit_c = HARD_MAX_C;
    let mut fell_back = false;
    while t0.elapsed().as_millis() as u64 <= last_end + 200 {
        let now_ms = t0.elapsed().as_millis() as u64;
        for (i, f) in faults.iter().enumerate() {
            let on = now_ms >= f.start_ms && now_ms < f.end_ms;
            if on == active[i] {
                continue;
            }
            active[i] = on;
            eprintln!(
                "netfaults: {:>6} ms {:?} {}",
                now_ms,
                f.kind,
                if on { "begins" } else { "ends" }
            );
            match (f.kind, on) {
                (Gone::Mqtt, true) => broker = None,
                (Gone::Mqtt, false) => broker = Some(mosquitto(dir, mqtt_port)),
                (Gone::Node, true) => {
                    std::fs::write(&cookie_path, "__cookie__:changed-by-a-restart").unwrap()
                }
                (Gone::Node, false) => std::fs::write(&cookie_path, &cookie).unwrap(),
                (Gone::Peers, true) => peer = None,
                (Gone::Peers, false) => peer = Some(honest_peer(dir, p2p).await),
            }
        }
        polls += 1;
        match common::get(addr, "/api/v1/status") {
            Some(s) => {
                let z = &s["zones"][0];
                let temp = z["temperature_c"].as_f64().unwrap_or(f64::NAN);
                max_temp_c = max_temp_c.max(temp);
                assert!(temp < hard_limit_c, "zone at {temp} °C: {s}");
                if temp < 24.0 {
                    min_heat_w = min_heat_w.min(common::heat_w(&s));
                }
                fell_back |= s["work"]["name"] == "sim-pool";
            }
            None => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(broker.is_some() && peer.is_some());
    let run_s = t0.elapsed().as_secs_f64();

    // Recovery, each timed from the end of the last fault.
    let rec = Instant::now();
    publish(mqtt_port, "house/outdoor", "-2.5");
    until("MQTT inputs flow again", 60, || {
        (common::get(addr, "/api/v1/control")?["house"]["outdoor_c"].as_f64() == Some(-2.5))
            .then_some(())
    })
    .await;
    let mqtt_s = rec.elapsed().as_secs_f64();
    until("mining into the sharechain again", 60, || {
        (common::get(addr, "/api/v1/status")?["work"]["name"] == "sharechain").then_some(())
    })
    .await;
    let node_s = rec.elapsed().as_secs_f64();
    let p = peer.as_ref().unwrap();
    let _ = p.mine_regtest(test_payout_script(7)).await;
    until("the peer back in sync", 60, || {
        let c = common::get(addr, "/api/v1/sharechain")?;
        let t = p.status().tip;
        (c["peers"].as_u64() >= Some(1) && t.is_some() && c["tip"].as_str() == t.as_deref())
            .then_some(())
    })
    .await;
    let peers_s = rec.elapsed().as_secs_f64();
    // The thermostat still rules: a setpoint below the room stops the heat.
    let room = common::get(addr, "/api/v1/status").unwrap()["zones"][0]["temperature_c"]
        .as_f64()
        .unwrap();
    let low = (room - 3.0).max(5.0);
    let (code, _, body) = common::http_with(
        addr,
        &auth,
        "PUT",
        "/api/v1/zones/living-room/setpoint",
        Some(&format!(r#"{{"setpoint_c": {low:.1}}}"#)),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    // The controller's answer is a PI loop ticking every 10 s: demand
    // falls at once and heat stops once the integral has unwound.
    let demand_before = common::get(addr, "/api/v1/status").unwrap()["zones"][0]["demand"]
        .as_f64()
        .unwrap_or(1.0);
    let mut seen = Vec::new();
    let fallen = until("demand falling below the new setpoint", 90, || {
        let s = common::get(addr, "/api/v1/status")?;
        let z = &s["zones"][0];
        let d = z["demand"].as_f64()?;
        if seen.last() != Some(&d) {
            seen.push(d);
        }
        (z["action"] != "heating" || d <= 0.5 * demand_before).then(|| z.clone())
    })
    .await;
    eprintln!("netfaults: setpoint {low:.1} °C in a {room:.2} °C room: demand {demand_before:.2} -> {seen:?}, now {}", fallen["action"]);
    let thermostat_s = rec.elapsed().as_secs_f64();
    eprintln!(
        "netfaults: seed {seed}: {run_s:.1} s of faults, {polls} polls, {failed} failed; least heat below setpoint {min_heat_w:.0} W; warmest {max_temp_c:.2} °C (hard limit {hard_limit_c}); fell back to the pool: {fell_back}; recovered after the last fault: MQTT {mqtt_s:.1} s, sharechain mining {node_s:.1} s, peer sync {peers_s:.1} s, thermostat {thermostat_s:.1} s"
    );
    assert_eq!(failed, 0, "status API failed during the faults");
    assert!(
        min_heat_w > 10.0,
        "heat dropped to {min_heat_w} W while below the setpoint"
    );
    assert!(
        fell_back,
        "the node was gone but work never fell back to the pool"
    );
    if let Ok(Err(line)) = rx.try_recv() {
        panic!("daemon panicked: {line}");
    }
    drop(child);
}
