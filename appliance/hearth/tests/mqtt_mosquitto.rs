#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth run --sim` against a real mosquitto broker: the retained
//! messages a subscriber sees (device-based discovery, availability, states),
//! removal of entities that are no longer configured, commands good and bad,
//! Home Assistant's `online` announcement, a clean stop and the last will,
//! and the command rate limit under a flood.
//! Needs Debian's `mosquitto` (scripts/test.sh installs it).

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, mosquitto, mosquitto_on, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// A subscriber on the real broker; messages arrive on a channel.
struct Watcher {
    client: Client,
    rx: Receiver<(String, Vec<u8>, bool)>,
    /// Every message seen, and where `wait_for` starts looking.
    seen: std::cell::RefCell<Vec<(String, Vec<u8>)>>,
    from: std::cell::Cell<usize>,
}

impl Watcher {
    fn new(port: u16, id: &str, filters: &[&str]) -> Watcher {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(o, 64);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).expect("subscribe");
        }
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx
                            .send((p.topic.clone(), p.payload.to_vec(), p.retain))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Watcher {
            client,
            rx,
            seen: Default::default(),
            from: Default::default(),
        }
    }

    /// Later `wait_for`s only look at messages that arrive after this.
    fn mark(&self) {
        while let Ok((t, p, _)) = self.rx.try_recv() {
            self.seen.borrow_mut().push((t, p));
        }
        self.from.set(self.seen.borrow().len());
    }

    /// Waits for a message on `topic` matching `pred`, since the last mark.
    fn wait_for(&self, topic: &str, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut checked = self.from.get();
        loop {
            {
                let seen = self.seen.borrow();
                for (t, p) in &seen[checked..] {
                    if t == topic && pred(p) {
                        return p.clone();
                    }
                }
                checked = seen.len();
            }
            if Instant::now() > deadline {
                let last = self
                    .seen
                    .borrow()
                    .iter()
                    .rev()
                    .find(|(t, _)| t == topic)
                    .map(|(_, p)| String::from_utf8_lossy(p).into_owned());
                panic!("no {what} on {topic} within 30 s; last seen: {last:?}");
            }
            if let Ok((t, p, _)) = self.rx.recv_timeout(Duration::from_millis(200)) {
                self.seen.borrow_mut().push((t, p));
            }
        }
    }

    /// Everything retained right now under `filters`, read by a fresh client.
    fn retained(port: u16, filters: &[&str]) -> BTreeMap<String, Vec<u8>> {
        let w = Watcher::new(port, &format!("snap-{}", free_port()), filters);
        let mut out = BTreeMap::new();
        while let Ok((t, p, retain)) = w.rx.recv_timeout(Duration::from_millis(1500)) {
            if retain {
                out.insert(t, p);
            }
        }
        let _ = w.client.disconnect();
        out
    }

    fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .expect("publish");
    }
}

fn http(addr: SocketAddr, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    serde_json::from_str(resp.split("\r\n\r\n").nth(1)?).ok()
}

fn json(p: &[u8]) -> Value {
    serde_json::from_slice(p).unwrap_or(Value::Null)
}

fn start_hearth(dir: &Path, port: u16, discovery: &str, board: &str) -> (Killed, SocketAddr) {
    start_hearth_with(
        dir,
        &format!(
            "port = {port}\ndiscovery = \"{discovery}\"\n[mqtt.inputs]\n\
             outdoor_temp_c = {{ topic = \"house/outdoor\" }}\npresence = {{ topic = \"house/presence\" }}\n"
        ),
        board,
    )
}

/// `mqtt` is the rest of the `[mqtt]` section.
fn start_hearth_with(dir: &Path, mqtt: &str, board: &str) -> (Killed, SocketAddr) {
    let http_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut config = String::from("[[zone]]\nid = \"living-room\"\nname = \"Living room\"\n");
    // One board: two would need their own serial ports, PWM channels, ...
    config += &format!(
        "[[hashboard]]\nid = \"{board}\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n"
    );
    // The test observes Hearth through its status API; reads are public,
    // writes still need the owner (MQTT commands are what this test sends).
    config += "[web]\npublic_read = true\n";
    config += &format!(
        "[sim]\nboards = \"model\"\nspeed = 2\n[mqtt]\nenabled = true\nkeep_alive_s = 5\nstate_interval_s = 3\n{mqtt}"
    );
    let path = dir.join("hearth.toml");
    std::fs::write(&path, config).expect("write config");
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--http", &http_addr.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("hearth.log")).expect("log file"))
        .spawn()
        .expect("spawn hearth");
    (Killed(child), http_addr)
}

fn terminate(mut child: Killed) {
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let start = Instant::now();
    while child.0.try_wait().expect("wait").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn device_discovery_states_commands_and_availability_on_a_real_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let w = Watcher::new(port, "test-watcher", &["hearth/#", "homeassistant/#"]);
    // Left over from an earlier run: a board that is gone (device-based)
    // and a per-entity config from before a switch to device discovery.
    w.publish(
        "homeassistant/device/hearth/config",
        r#"{"components":{"hearth_old_power":{"platform":"sensor","unique_id":"hearth_old_power","state_topic":"x"}}}"#,
        true,
    );
    w.publish(
        "homeassistant/sensor/hearth/hearth_gone/config",
        r#"{"name":"gone","state_topic":"x"}"#,
        true,
    );
    let (hearth, api) = start_hearth(dir.path(), port, "device", "board-0");

    w.wait_for("hearth/status", "online", |p| p == b"online");
    let discovery = w.wait_for("homeassistant/device/hearth/config", "our discovery", |p| {
        json(p)["origin"]["name"] == "hearth"
    });
    let doc = json(&discovery);
    let cmps = doc["components"].as_object().expect("components");
    for id in [
        "hearth_living_room_climate",
        "hearth_energy",
        "hearth_power",
        "hearth_board_0_power",
        "hearth_board_0_chip_temp",
        "hearth_living_room_safety_mode",
        "hearth_heat_only",
        "hearth_shares_accepted",
        "hearth_estimated_earnings",
        "hearth_net_heat_cost",
        "hearth_electricity_cost",
        "hearth_mining_revenue",
    ] {
        assert!(cmps.contains_key(id), "missing {id} in {doc}");
    }
    assert_eq!(doc["availability_topic"], "hearth/status");

    // The stale ones are removed: the old board with its platform only, the
    // per-entity config cleared (an empty retained message).
    let removal = w.wait_for("homeassistant/device/hearth/config", "a removal", |p| {
        json(p)["components"]["hearth_old_power"] == serde_json::json!({"platform": "sensor"})
    });
    assert!(json(&removal)["components"]["hearth_living_room_climate"].is_object());
    w.wait_for(
        "homeassistant/sensor/hearth/hearth_gone/config",
        "the clearing",
        |p| p.is_empty(),
    );

    let zone = json(
        &w.wait_for("hearth/zone/living-room/state", "zone state", |p| {
            json(p)["temperature_c"].is_number()
        }),
    );
    assert_eq!(zone["mode"], "heat");
    assert_eq!(zone["setpoint_c"], 21.0);
    let board = json(
        &w.wait_for("hearth/board/board-0/state", "board power", |p| {
            json(p)["power"].as_f64().unwrap_or(0.0) > 100.0
        }),
    );
    assert!(board["hashrate"].as_f64().unwrap_or(0.0) > 0.0, "{board}");
    w.wait_for("hearth/state", "energy counting", |p| {
        json(p)["energy"].as_f64().unwrap_or(0.0) > 0.0
    });

    // A good command changes the setpoint (seen by the HTTP API too).
    w.publish("hearth/zone/living-room/setpoint/set", "23.5", false);
    w.wait_for("hearth/zone/living-room/state", "the new setpoint", |p| {
        json(p)["setpoint_c"] == 23.5
    });
    let start = Instant::now();
    while http(api, "/api/v1/status").map(|s| s["zones"][0]["setpoint_c"].clone())
        != Some(serde_json::json!(23.5))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "API never showed 23.5"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Bad ones are refused: the state is republished with the true value at
    // once, and nothing changed.
    for (topic, payload) in [
        ("hearth/zone/living-room/setpoint/set", "99"),
        ("hearth/zone/living-room/setpoint/set", "warm"),
        ("hearth/zone/living-room/mode/set", "cool"),
        ("hearth/zone/nowhere/mode/set", "off"),
    ] {
        w.mark();
        let before = Instant::now();
        w.publish(topic, payload, false);
        let p = w.wait_for(
            "hearth/zone/living-room/state",
            "a republished state",
            |_| true,
        );
        assert!(
            before.elapsed() < Duration::from_millis(900),
            "republished at once, not at the 3 s tick"
        );
        assert_eq!(json(&p)["setpoint_c"], 23.5, "{topic} {payload}");
        assert_eq!(json(&p)["mode"], "heat", "{topic} {payload}");
    }
    let s = http(api, "/api/v1/status").expect("status");
    assert_eq!(s["zones"][0]["setpoint_c"], 23.5);
    assert_eq!(s["zones"][0]["mode"], "heat");

    // House inputs: parsed, refused when bad, and shown on hearth/inputs.
    w.publish("house/outdoor", "-4.5", true);
    let inputs = json(&w.wait_for("hearth/inputs", "the outdoor input", |p| {
        json(p)["outdoor_temp_c"] == -4.5
    }));
    assert_eq!(
        inputs["presence"], true,
        "unset presence falls back to home"
    );
    assert_eq!(inputs["stale"], serde_json::json!(["presence"]));
    w.mark();
    w.publish("house/outdoor", "freezing", true);
    w.publish("house/presence", "not_home", true);
    let inputs = json(&w.wait_for("hearth/inputs", "presence", |p| {
        json(p)["presence"] == false
    }));
    assert_eq!(
        inputs["outdoor_temp_c"], -4.5,
        "a bad payload keeps the value"
    );
    assert_eq!(inputs["stale"], serde_json::json!([]));

    // Home Assistant restarting: discovery is sent again.
    w.mark();
    w.publish("homeassistant/status", "online", false);
    w.wait_for(
        "homeassistant/device/hearth/config",
        "discovery again",
        |p| json(p)["components"]["hearth_living_room_climate"].is_object(),
    );

    // A clean stop says offline, retained.
    terminate(hearth);
    let retained = Watcher::retained(port, &["hearth/status"]);
    assert_eq!(
        retained.get("hearth/status").map(Vec::as_slice),
        Some(&b"offline"[..])
    );

    // Restarted with board-0 replaced by board-9: board-0's components are removed.
    w.mark();
    let (hearth, _) = start_hearth(dir.path(), port, "device", "board-9");
    let p = w.wait_for(
        "homeassistant/device/hearth/config",
        "board-0 removed",
        |p| {
            json(p)["components"]["hearth_board_0_power"]
                == serde_json::json!({"platform": "sensor"})
        },
    );
    assert!(json(&p)["components"]["hearth_board_9_power"]["state_topic"].is_string());
    w.wait_for("hearth/status", "online again", |p| p == b"online");
    // Killed without a goodbye: the broker's last will says offline.
    w.mark();
    drop(hearth);
    w.wait_for("hearth/status", "the last will", |p| p == b"offline");
}

#[test]
fn per_entity_discovery_on_a_real_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let w = Watcher::new(port, "test-watcher", &["homeassistant/#", "hearth/status"]);
    // A device config from a run with device discovery is cleared.
    w.publish(
        "homeassistant/device/hearth/config",
        r#"{"components":{}}"#,
        true,
    );
    let (hearth, _) = start_hearth(dir.path(), port, "per_entity", "board-0");
    w.wait_for("homeassistant/device/hearth/config", "the clearing", |p| {
        p.is_empty()
    });
    w.wait_for("hearth/status", "online", |p| p == b"online");
    std::thread::sleep(Duration::from_secs(1));
    let retained = Watcher::retained(port, &["homeassistant/+/hearth/+/config"]);
    let climate = json(&retained["homeassistant/climate/hearth/hearth_living_room_climate/config"]);
    assert_eq!(climate["unique_id"], "hearth_living_room_climate");
    assert_eq!(climate["device"]["identifiers"][0], "hearth");
    let energy = json(&retained["homeassistant/sensor/hearth/hearth_energy/config"]);
    assert_eq!(energy["state_class"], "total_increasing");
    let chip = json(&retained["homeassistant/sensor/hearth/hearth_board_0_chip_temp/config"]);
    assert_eq!(chip["entity_category"], "diagnostic");
    assert!(retained
        .keys()
        .any(|t| t.starts_with("homeassistant/binary_sensor/hearth/")));

    // The broker restarts with nothing retained: Hearth reconnects (with
    // backoff) and announces itself again.
    drop(w);
    drop(_broker);
    let broker_dir = tempfile::tempdir().expect("tempdir");
    std::thread::sleep(Duration::from_secs(2));
    let _broker = mosquitto_on(
        broker_dir.path(),
        port,
        &format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    );
    let w = Watcher::new(
        port,
        "test-watcher-2",
        &["homeassistant/#", "hearth/status"],
    );
    w.wait_for("hearth/status", "online after the broker restart", |p| {
        p == b"online"
    });
    w.wait_for(
        "homeassistant/climate/hearth/hearth_living_room_climate/config",
        "discovery after the broker restart",
        |p| !p.is_empty(),
    );
    terminate(hearth);
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_with_a_ca_file_and_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::certs::certificates(dir.path());
    run(Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(dir.path().join("passwd"))
        .args(["hearth", "s3cret"]));
    let (plain, tls) = (free_port(), free_port());
    let p = |f: &str| dir.path().join(f).display().to_string();
    let conf = format!(
        "per_listener_settings true\nuser root\npersistence false\n\
         listener {plain} 127.0.0.1\nallow_anonymous true\n\
         listener {tls} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\n",
        p("ca.pem"),
        p("server.pem"),
        p("server.key"),
        p("passwd")
    );
    let _broker = mosquitto_on(dir.path(), plain, &conf);
    while TcpStream::connect(("127.0.0.1", tls)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let w = Watcher::new(plain, "test-watcher", &["hearth/status"]);

    // A wrong password is refused by the broker: Hearth keeps heating and retrying.
    let wrong = tempfile::tempdir().expect("tempdir");
    let (hearth, api) = start_hearth_with(
        wrong.path(),
        &format!(
            "port = {tls}\nusername = \"hearth\"\npassword = \"wrong\"\ntls_ca_file = \"{}\"\n",
            p("ca.pem")
        ),
        "board-0",
    );
    let start = Instant::now();
    while http(api, "/health").map(|h| h["status"].clone()) != Some(serde_json::json!("ok")) {
        assert!(start.elapsed() < Duration::from_secs(30), "no health");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        w.rx.try_iter().all(|(_, p, _)| p != b"online"),
        "a wrong password must not connect"
    );
    drop(hearth);
    let log = std::fs::read_to_string(wrong.path().join("hearth.log")).expect("log");
    assert!(log.contains("MQTT connection failed"), "{log}");

    // The right one, over TLS verified against the CA file.
    w.mark();
    let (hearth, _) = start_hearth_with(
        dir.path(),
        &format!(
            "port = {tls}\nusername = \"hearth\"\npassword = \"s3cret\"\ntls_ca_file = \"{}\"\n",
            p("ca.pem")
        ),
        "board-0",
    );
    w.wait_for("hearth/status", "online over TLS", |p| p == b"online");
    terminate(hearth);
    w.wait_for("hearth/status", "offline", |p| p == b"offline");
}

/// Polls GET /api/v1/control until `pred` holds (20 s at most).
fn control_until(api: SocketAddr, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(c) = http(api, "/api/v1/control") {
            if pred(&c) {
                return c;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; last /api/v1/control: {c}"
            );
        } else {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; no /api/v1/control"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_house_input_on_a_real_broker_steers_the_heat_source_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let w = Watcher::new(port, "test-watcher", &["hearth/status", "hearth/state"]);
    let (hearth, api) = start_hearth_with(
        dir.path(),
        &format!(
            "port = {port}\n[mqtt.inputs]\nsg_ready = {{ topic = \"house/sg_ready\" }}\n\
             outdoor_temp_c = {{ topic = \"house/outdoor\", max_age_s = 4 }}\n"
        ),
        "board-0",
    );
    w.wait_for("hearth/status", "online", |p| p == b"online");
    // No heat pump configured, nothing from the house yet: the miner heats.
    let c = control_until(api, "a first decision", |c| {
        c["decision"]["rule"] == "no_heat_pump"
    });
    assert_eq!(c["house"]["sg_ready"], Value::Null);
    // The simulator's own pool gives work: not heat-only, and the policy's
    // money figures are there.
    let state = json(&w.wait_for("hearth/state", "work and economics", |p| {
        json(p)["heat_only"].is_string() && json(p)["electricity_cost"].as_f64() > Some(0.0)
    }));
    let status = http(api, "/api/v1/status").expect("status");
    let heat_only = if status["work"]["mode"] == "heat_only" {
        "ON"
    } else {
        "OFF"
    };
    assert_eq!(state["heat_only"], heat_only, "{state} {}", status["work"]);
    assert!(state["shares_accepted"].is_u64(), "{state}");
    // Null until the active source knows a network difficulty.
    let earnings = &state["estimated_earnings"];
    assert!(earnings.is_number() || earnings.is_null(), "{state}");
    let (cost, revenue) = (
        state["electricity_cost"].as_f64().unwrap_or(f64::NAN),
        state["mining_revenue"].as_f64().unwrap_or(f64::NAN),
    );
    let net = state["net_heat_cost"].as_f64().unwrap_or(f64::NAN);
    assert!((net - (cost - revenue)).abs() < 2e-4, "{state}");

    // SG Ready state 1 (utility lock) from the house: the miner stops.
    w.publish("house/sg_ready", "10", true);
    w.publish("house/outdoor", "-7.5", false);
    let c = control_until(api, "the utility block", |c| {
        c["decision"]["rule"] == "utility_block"
    });
    assert_eq!(c["house"]["sg_ready"], "block");
    assert_eq!(c["decision"]["miner"], "off", "{c}");
    assert_eq!(c["house"]["outdoor_c"], -7.5);

    // A bad payload changes nothing.
    w.publish("house/sg_ready", "maybe", true);
    std::thread::sleep(Duration::from_millis(1500));
    let c = control_until(api, "the block kept", |_| true);
    assert_eq!(c["decision"]["rule"], "utility_block", "{c}");

    // The outdoor reading goes stale after its 4 s: the policy loses it.
    control_until(api, "the stale outdoor reading dropped", |c| {
        c["house"]["outdoor_c"].is_null()
    });

    // Home Assistant marks the entity unavailable: back to the fallback.
    w.publish("house/sg_ready", "unavailable", true);
    let c = control_until(api, "the block lifted", |c| {
        c["decision"]["rule"] == "no_heat_pump"
    });
    assert_eq!(c["house"]["sg_ready"], Value::Null);
    terminate(hearth);
}

/// The control entities' commands (preset, power limit, strategy, mining) on
/// a real broker: good ones change Hearth (read back from its API), bad ones
/// are refused and the true state is republished at once.
/// The zone's setpoint as the HTTP API shows it.
fn api_setpoint(api: SocketAddr) -> Option<f64> {
    http(api, "/api/v1/status").and_then(|s| s["zones"][0]["setpoint_c"].as_f64())
}

#[test]
fn a_command_flood_is_cut_to_the_budget_and_commands_work_again_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let w = Watcher::new(port, "flood-watcher", &["hearth/#", "homeassistant/#"]);
    let (_hearth, api) = start_hearth(dir.path(), port, "device", "board-0");
    w.wait_for("hearth/zone/living-room/state", "a first state", |p| {
        json(p)["setpoint_c"].is_number()
    });

    // 60 setpoints as fast as a client can publish them (15.0, 15.1, ...
    // 20.9). Each accepted one is validated, written to disk and
    // republished; a bucket of 20 refilling at 1 a second takes the first
    // 20 and one more per second, and refuses the rest unread.
    w.mark();
    let flood_from = w.from.get();
    let flood = Instant::now();
    for i in 0..60 {
        let sp = format!("{:.1}", 15.0 + 0.1 * f64::from(i));
        w.publish("hearth/zone/living-room/setpoint/set", &sp, false);
    }
    let log_path = dir.path().join("hearth.log");
    let start = Instant::now();
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("MQTT commands arrive faster than")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the flood was never refused"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Settled: the API's setpoint stops moving.
    let mut last = api_setpoint(api);
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = api_setpoint(api);
        if now == last {
            break;
        }
        last = now;
    }
    let flood_s = flood.elapsed().as_secs_f64();
    let sp = last.expect("a setpoint");
    let applied = ((sp - 15.0) / 0.1).round() as i64;
    // The last one applied is the 20th, or a later one for each second
    // the flood took to work through; never the flood's last.
    assert!(
        applied >= 19 && (applied as f64) <= 19.0 + flood_s.ceil(),
        "setpoint {sp} (command {applied}) after {flood_s:.1} s"
    );
    // Refused commands are not republished either (each used to send
    // every state again).
    w.mark();
    let states = w.seen.borrow()[flood_from..]
        .iter()
        .filter(|(t, _)| t == "hearth/zone/living-room/state")
        .count();
    assert!(states <= 30, "{states} zone states during the flood");

    // A quiet second later a command is taken again.
    std::thread::sleep(Duration::from_secs(2));
    w.publish("hearth/zone/living-room/setpoint/set", "22.5", false);
    w.wait_for("hearth/zone/living-room/state", "the setpoint after", |p| {
        json(p)["setpoint_c"] == 22.5
    });
    let start = Instant::now();
    while api_setpoint(api) != Some(22.5) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "API never showed 22.5"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Home Assistant's `online` three times at once: discovery is sent
    // again at once, then once more after 10 s, not three times.
    let config_topic = "homeassistant/device/hearth/config";
    w.mark();
    let asked = Instant::now();
    for _ in 0..3 {
        w.publish("homeassistant/status", "online", false);
    }
    w.wait_for(config_topic, "discovery again", |_| true);
    w.mark();
    w.wait_for(config_topic, "the deferred discovery", |_| true);
    let second_s = asked.elapsed().as_secs_f64();
    assert!(second_s >= 9.0, "{second_s:.1} s");
    w.mark();
    std::thread::sleep(Duration::from_secs(12));
    assert!(
        w.rx.try_iter().all(|(t, _, _)| t != config_topic),
        "discovery a third time"
    );
}

#[test]
fn control_commands_on_a_real_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let w = Watcher::new(port, "control-watcher", &["hearth/#"]);
    let (hearth, api) = start_hearth(dir.path(), port, "device", "board-0");
    let state = json(
        &w.wait_for("hearth/control/state", "the control state", |p| {
            json(p)["mining"] == "ON"
        }),
    );
    assert_eq!(state["strategy"], "economic");
    assert_eq!(state["power_limit_w"], Value::Null);
    let settings = || http(api, "/api/v1/control").map(|c| c["settings"].clone());
    let api_until = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        let start = Instant::now();
        loop {
            match settings() {
                Some(s) if pred(&s) => return s,
                last => assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "API never showed {what}: {last:?}"
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    w.publish("hearth/control/mining/set", "OFF", false);
    w.wait_for("hearth/control/state", "mining off", |p| {
        json(p)["mining"] == "OFF"
    });
    api_until("mining off", &|s| s["mining_enabled"] == false);
    w.publish("hearth/control/power_limit/set", "2000", false);
    w.wait_for("hearth/control/state", "the limit", |p| {
        json(p)["power_limit_w"] == 2000.0
    });
    api_until("the limit", &|s| s["site_limit_w"] == 2000.0);
    w.publish("hearth/control/strategy/set", "heat_pump_first", false);
    w.wait_for("hearth/control/state", "the strategy", |p| {
        json(p)["strategy"] == "heat_pump_first"
    });
    api_until("the strategy", &|s| s["policy"]["economic_switch"] == false);
    w.publish("hearth/zone/living-room/preset/set", "eco", false);
    w.wait_for("hearth/zone/living-room/state", "the preset", |p| {
        json(p)["preset"] == "eco" && json(p)["setpoint_c"] == 19.0
    });

    for (topic, payload) in [
        ("hearth/control/mining/set", "maybe"),
        ("hearth/control/power_limit/set", "-1"),
        ("hearth/control/power_limit/set", "2e9"),
        ("hearth/control/strategy/set", "cheapest"),
        ("hearth/control/colour/set", "red"),
        ("hearth/zone/living-room/preset/set", "sauna"),
        ("hearth/zone/nowhere/preset/set", "eco"),
    ] {
        w.mark();
        w.publish(topic, payload, false);
        let c = json(&w.wait_for("hearth/control/state", "a republished state", |_| true));
        assert_eq!(
            c,
            serde_json::json!({"mining": "OFF", "power_limit_w": 2000.0, "strategy": "heat_pump_first"}),
            "{topic} {payload}"
        );
        let z = json(&w.wait_for(
            "hearth/zone/living-room/state",
            "a republished zone",
            |_| true,
        ));
        assert_eq!(z["preset"], "eco", "{topic} {payload}");
    }
    let s = settings().expect("settings");
    assert_eq!(s["mining_enabled"], false);
    assert_eq!(s["site_limit_w"], 2000.0);
    assert_eq!(s["policy"]["economic_switch"], false);
    assert_eq!(s["policy"]["strategy"], "heat_pump_first");
    let log = std::fs::read_to_string(dir.path().join("hearth.log")).expect("log");
    assert_eq!(log.matches("MQTT command refused").count(), 7, "{log}");

    // "None" removes the limit; mining comes back on.
    w.publish("hearth/control/power_limit/set", "None", false);
    w.publish("hearth/control/mining/set", "ON", false);
    w.wait_for("hearth/control/state", "no limit, mining on", |p| {
        json(p)["power_limit_w"].is_null() && json(p)["mining"] == "ON"
    });
    api_until("no limit, mining on", &|s| {
        s["site_limit_w"].is_null() && s["mining_enabled"] == true
    });
    terminate(hearth);
}
