#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `GET/PUT /api/v1/settings/mqtt` on `hearth run --sim` with a real
//! mosquitto broker: refusals change nothing, a change is stored before it
//! is acknowledged, the MQTT client is restarted with it (the broker sees the
//! old client go `offline` and the new one come `online`), it survives a
//! restart of the daemon, and the password is never sent back.
//! Needs Debian's `mosquitto` (scripts/test.sh installs it).

mod common;

use common::{free_port, http_with, mosquitto, Killed};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// Every availability message (`<base_topic>/status`) on the broker, in order.
fn watch(port: u16) -> (Client, Receiver<(String, String)>) {
    let (client, mut conn) = Client::new(MqttOptions::new("watcher", "127.0.0.1", port), 64);
    client
        .subscribe("+/status", QoS::AtLeastOnce)
        .expect("subscribe");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    if tx.send((p.topic.clone(), payload)).is_err() {
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

fn wait_for(rx: &Receiver<(String, String)>, topic: &str, payload: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((t, p)) = rx.recv_timeout(Duration::from_millis(200)) {
            if t == topic && p == payload {
                return;
            }
        }
    }
    panic!("no {payload:?} on {topic} within 30 s");
}

fn start_hearth(dir: &Path, http: SocketAddr) -> Killed {
    let config = "[[zone]]\nid = \"living-room\"\nname = \"Living room\"\n\
        [[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\
        [sim]\nboards = \"model\"\n";
    let path = dir.join("hearth.toml");
    std::fs::write(&path, config).expect("write config");
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--http", &http.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("hearth.log")).expect("log file"))
        .spawn()
        .expect("spawn hearth");
    let start = Instant::now();
    while http_with(http, "", "GET", "/health", None).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not serve"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Killed(child)
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

fn auth_token(header: &str) -> String {
    header
        .trim_start_matches("Authorization: Bearer ")
        .trim_end()
        .to_string()
}

fn put(http: SocketAddr, auth: &str, body: &str) -> (u16, Value) {
    let (code, _, v) =
        http_with(http, auth, "PUT", "/api/v1/settings/mqtt", Some(body)).expect("PUT");
    (code, v)
}

fn get(http: SocketAddr, auth: &str) -> Value {
    let (code, _, v) = http_with(http, auth, "GET", "/api/v1/settings/mqtt", None).expect("GET");
    assert_eq!(code, 200, "{v}");
    v
}

#[test]
fn mqtt_settings_are_validated_stored_applied_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_broker, port) = mosquitto(dir.path());
    let (_watcher, rx) = watch(port);
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let daemon = start_hearth(dir.path(), http);
    let token = common::owner_token(http);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let file = dir.path().join("data").join("mqtt-settings.json");

    let before = get(http, &auth);
    assert_eq!(before["enabled"], false, "{before}");
    assert_eq!(before["password_set"], false);

    // Refusals: no owner, bad values, bad bodies. Nothing changes.
    let (code, _) = put(http, "", r#"{"enabled": true}"#);
    assert_eq!(code, 401);
    for (body, reason) in [
        (r#"{"enabled": true, "port": 0}"#, "mqtt.port"),
        (r#"{"base_topic": "a/+/b"}"#, "mqtt.base_topic"),
        (r#"{"client_id": "has space"}"#, "mqtt.client_id"),
        (r#"{"password": "pw"}"#, "mqtt.password"),
        (r#"{"keep_alive_s": 1}"#, "mqtt.keep_alive_s"),
        (r#"{"hots": "typo"}"#, "invalid JSON body"),
        (r#"{"port": "1883"}"#, "invalid JSON body"),
        ("not json", "invalid JSON body"),
    ] {
        let (code, v) = put(http, &auth, body);
        assert_eq!(code, 400, "{body}: {v}");
        let why = v["error"].as_str().unwrap_or("");
        assert!(why.contains(reason), "{body}: {why}");
    }
    assert_eq!(get(http, &auth), before, "refusals changed nothing");
    assert!(!file.exists(), "refusals stored nothing");

    // A change: stored, acknowledged without the password, applied.
    let (code, v) = put(
        http,
        &auth,
        &format!(
            r#"{{"enabled": true, "port": {port}, "base_topic": "first", "username": "hearth", "password": "broker-secret"}}"#
        ),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["password_set"], true);
    assert!(v.get("password").is_none() && !v.to_string().contains("broker-secret"));
    let stored = std::fs::read_to_string(&file).expect("stored before acknowledged");
    assert!(stored.contains("\"first\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file holds the broker password");
    }
    wait_for(&rx, "first/status", "online");

    // Another change restarts the client: the old one leaves cleanly.
    let (code, v) = put(http, &auth, r#"{"base_topic": "second"}"#);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["username"], "hearth", "keys left out keep their value");
    assert_eq!(v["password_set"], true);
    wait_for(&rx, "first/status", "offline");
    wait_for(&rx, "second/status", "online");

    // A typo'd port (nothing listens), then fixed: the client that never
    // connected is replaced promptly and the fixed one comes online.
    let dead = free_port();
    let (code, v) = put(http, &auth, &format!(r#"{{"port": {dead}}}"#));
    assert_eq!(code, 200, "{v}");
    wait_for(&rx, "second/status", "offline");
    std::thread::sleep(Duration::from_millis(1500));
    let fixed = Instant::now();
    let (code, v) = put(http, &auth, &format!(r#"{{"port": {port}}}"#));
    assert_eq!(code, 200, "{v}");
    wait_for(&rx, "second/status", "online");
    eprintln!(
        "back online {} ms after the fix",
        fixed.elapsed().as_millis()
    );

    // Kept across a restart of the daemon.
    terminate(daemon);
    wait_for(&rx, "second/status", "offline");
    let daemon = start_hearth(dir.path(), http);
    wait_for(&rx, "second/status", "online");
    let auth = format!("Authorization: Bearer {}\r\n", common::owner_token(http));
    let after = get(http, &auth);
    assert_eq!(after["base_topic"], "second");
    assert_eq!(after["enabled"], true);
    assert!(!after.to_string().contains("broker-secret"));

    // The CLI: show, a refusal with the daemon's reason, and a change with
    // the password from stdin.
    let url = format!("http://{http}");
    let cli = |args: &[&str], stdin: &str| {
        let mut c = Command::new(BIN)
            .arg("mqtt")
            .args(args)
            .args(["--url", &url])
            .env("HEARTH_TOKEN", auth_token(&auth))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut c.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let out = cli(&["show"], "");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("mqtt enabled\n") && shown.contains("base topic second\n"),
        "{shown}"
    );
    assert!(shown.contains("user hearth (password stored)") && !shown.contains("broker-secret"));
    let out = cli(&["set", "--base-topic", "a/#"], "");
    assert!(!out.status.success());
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("mqtt.base_topic"), "{why}");
    assert_eq!(
        get(http, &auth)["base_topic"],
        "second",
        "refused: unchanged"
    );
    let out = cli(
        &["set", "--base-topic", "third", "--password-stdin"],
        "new-secret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("base topic third"));
    wait_for(&rx, "third/status", "online");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("\"new-secret\""));

    // Disabling stops the client.
    let (code, v) = put(http, &auth, r#"{"enabled": false, "password": null}"#);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["password_set"], false);
    wait_for(&rx, "third/status", "offline");
    terminate(daemon);
}
