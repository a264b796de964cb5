#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! LAN miners in Home Assistant, on a real mosquitto broker: `hearth run
//! --sim` with `[work.server]` and `[mqtt]` on; a scripted LAN miner logs
//! in and its entities appear in the device discovery with a state topic;
//! it disconnects and they are removed (platform-only components, the
//! retained state cleared). Needs Debian's `mosquitto` (scripts/test.sh
//! installs it).

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, mosquitto, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn status(addr: SocketAddr) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /api/v1/status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    serde_json::from_str(r.split("\r\n\r\n").nth(1)?).ok()
}

fn watch(port: u16, filters: &[&str]) -> (Client, Receiver<(String, Vec<u8>)>) {
    let mut o = MqttOptions::new(format!("lan-watch-{}", free_port()), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 64);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).unwrap();
    }
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    (client, rx)
}

fn wait_for(
    rx: &Receiver<(String, Vec<u8>)>,
    topic: &str,
    what: &str,
    pred: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        if let Ok((t, p)) = rx.recv_timeout(Duration::from_millis(200)) {
            if t == topic && pred(&p) {
                return p;
            }
        }
    }
    panic!("no {what} on {topic} within 45 s");
}

fn component(payload: &[u8], id: &str) -> Value {
    serde_json::from_slice::<Value>(payload).unwrap_or(Value::Null)["components"][id].clone()
}

#[test]
fn a_lan_miner_appears_in_home_assistant_and_is_removed_when_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = mosquitto(dir.path());
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let lan: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = dir.path().join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\n\n[web]\npublic_read = true\n\n\
             [work.server]\nenabled = true\nlisten = \"{lan}\"\ndifficulty = 0.00000095367431640625\nvardiff = false\n\n\
             [mqtt]\nenabled = true\nport = {port}\nkeep_alive_s = 5\nstate_interval_s = 1\n"
        ),
    )
    .unwrap();
    let (_w, rx) = watch(
        port,
        &["homeassistant/device/hearth/config", "hearth/lan/#"],
    );
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &http.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("hearth.log")).unwrap())
        .spawn()
        .unwrap();
    let _hearth = Killed(child);
    // Work for LAN miners (our regtest sharechain).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status(http).is_some_and(|s| s["work"]["lan_server"]["no_work"].is_null()) {
        assert!(Instant::now() < deadline, "no LAN work");
        std::thread::sleep(Duration::from_millis(200));
    }
    let address = {
        use bitcoin::hashes::Hash as _;
        let script =
            bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([0x33; 20]));
        bitcoin::Address::from_script(&script, bitcoin::Network::Regtest)
            .unwrap()
            .to_string()
    };
    let key = format!("{address}_bitaxe");
    let hashrate_id = format!("hearth_lan_{key}_hashrate_ghs");
    let connected_id = format!("hearth_lan_{key}_connected");
    let state_topic = format!("hearth/lan/{key}/state");

    let s = TcpStream::connect(lan).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut wr = s.try_clone().unwrap();
    let mut rd = BufReader::new(s);
    for (id, method, params) in [
        (1, "mining.subscribe", json!(["bitaxe/BM1370/v2.9.0"])),
        (
            2,
            "mining.authorize",
            json!([format!("{address}.bitaxe"), "x"]),
        ),
    ] {
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        wr.write_all(line.as_bytes()).unwrap();
    }
    loop {
        let mut line = String::new();
        assert!(rd.read_line(&mut line).unwrap() > 0, "closed");
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        if v["id"] == 2 {
            assert_eq!(v["result"], json!(true), "{line}");
            break;
        }
    }

    // Announced, with its state.
    let announced = wait_for(
        &rx,
        "homeassistant/device/hearth/config",
        "the miner's entities",
        |p| component(p, &hashrate_id)["state_topic"] == state_topic.as_str(),
    );
    assert_eq!(
        component(&announced, &connected_id)["platform"],
        "binary_sensor"
    );
    assert_eq!(
        component(&announced, &connected_id)["device_class"],
        "connectivity"
    );
    let state = wait_for(&rx, &state_topic, "the miner's state", |p| !p.is_empty());
    let state: Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["connected"], "ON", "{state}");
    assert_eq!(state["accepted"], 0, "{state}");
    assert!(state["hashrate_ghs"].is_number(), "{state}");

    // Gone: removed from the discovery, its retained state cleared.
    drop(wr);
    drop(rd);
    let removed = wait_for(
        &rx,
        "homeassistant/device/hearth/config",
        "the removal",
        |p| component(p, &hashrate_id) == json!({"platform": "sensor"}),
    );
    assert_eq!(
        component(&removed, &connected_id),
        json!({"platform": "binary_sensor"})
    );
    wait_for(&rx, &state_topic, "the cleared state", |p| p.is_empty());
}
