#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The `hearth` binary as a user runs it: start, health, a warming room, a
//! setpoint that survives a restart, SIGTERM, the simulator CLI, and refusals
//! of bad configuration.

mod common;

use common::{http_with, owner_token};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A tiny HTTP/1.1 client: enough for JSON requests to localhost.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Option<(u16, Value)> {
    http_with(addr, "", method, path, body).map(|(code, _, json)| (code, json))
}

struct Daemon {
    child: Child,
    addr: SocketAddr,
    /// `Authorization` header line for the owner's bearer token.
    auth: String,
}

impl Daemon {
    fn start(data_dir: &Path, speed: &str) -> Daemon {
        let addr = free_port();
        let child = Command::new(BIN)
            .args([
                "run",
                "--sim",
                "--speed",
                speed,
                "--http",
                &addr.to_string(),
                "--data-dir",
            ])
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hearth");
        let mut d = Daemon {
            child,
            addr,
            auth: String::new(),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some((200, _)) = http(d.addr, "GET", "/health", None) {
                d.auth = format!("Authorization: Bearer {}\r\n", owner_token(d.addr));
                return d;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("/health did not answer 200 within 60 s");
    }

    fn status(&self) -> Value {
        http_with(self.addr, &self.auth, "GET", "/api/v1/status", None)
            .expect("status")
            .2
    }

    fn put(&self, path: &str, body: &str) -> (u16, Value) {
        let (code, _, json) =
            http_with(self.addr, &self.auth, "PUT", path, Some(body)).expect("put");
        (code, json)
    }

    /// SIGTERM, and the exit status once it has stopped.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "did not exit within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn runs_warms_the_room_and_keeps_a_setpoint_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "120");
    // The chips are brought up and ramped in real time (6.25 MHz per 100 ms):
    // wait until the board runs at its operating point.
    let start = Instant::now();
    while daemon.status()["boards"][0]["state"] != "running" {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "board never ran: {}",
            daemon.status()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let t0 = daemon.status()["zones"][0]["temperature_c"]
        .as_f64()
        .expect("temperature");
    // Four real seconds are eight simulated minutes at full power.
    std::thread::sleep(Duration::from_secs(4));
    let s = daemon.status();
    let t1 = s["zones"][0]["temperature_c"]
        .as_f64()
        .expect("temperature");
    assert!(t1 > t0 + 0.2, "room should warm: {t0} -> {t1}");
    assert_eq!(s["zones"][0]["action"], "heating");
    assert!(s["boards"][0]["power_w"].as_f64().unwrap_or(0.0) > 400.0);

    let (code, _) = http(
        daemon.addr,
        "PUT",
        "/api/v1/zones/living-room/setpoint",
        Some(r#"{"setpoint_c": 22.5}"#),
    )
    .expect("put");
    assert_eq!(code, 401, "a write without the owner is refused");
    let (code, body) = daemon.put(
        "/api/v1/zones/living-room/setpoint",
        r#"{"setpoint_c": 22.5}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = daemon.put(
        "/api/v1/zones/living-room/setpoint",
        r#"{"setpoint_c": 45}"#,
    );
    assert_eq!(code, 400);
    let status = daemon.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    let daemon = Daemon::start(dir.path(), "1");
    assert_eq!(daemon.status()["zones"][0]["setpoint_c"], 22.5);
    assert!(daemon.terminate().success());
}

fn hearth(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run hearth")
}

#[test]
fn sim_runs_are_deterministic_per_seed() {
    let a = hearth(&["sim", "--json", "--seed", "5", "--hours", "6"]);
    let b = hearth(&["sim", "--json", "--seed", "5", "--hours", "6"]);
    let c = hearth(&["sim", "--json", "--seed", "6", "--hours", "6"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
    let v: Value = serde_json::from_slice(&a.stdout).expect("json");
    assert_eq!(v["seed"], 5);
    assert!(v["energy_kwh"].as_f64().unwrap_or(0.0) > 0.0);
}

#[test]
fn sim_reads_a_scenario_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "seed = 3\nduration_hours = 2\n[[zone]]\nid = \"den\"\nsetpoint_c = 20\n",
    )
    .expect("write");
    let out = hearth(&[
        "sim",
        "--json",
        "--scenario",
        good.to_str().unwrap_or_default(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["zones"][0]["id"], "den");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[zone]]\nid = \"den\"\nsetpoint_c = 200\n").expect("write");
    let out = hearth(&["sim", "--scenario", bad.to_str().unwrap_or_default()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zone[0].setpoint_c"));
}

#[test]
fn bad_configuration_is_refused_at_start_with_the_key_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml");
    let out = hearth(&[
        "run",
        "--sim",
        "--config",
        missing.to_str().unwrap_or_default(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.toml") && err.contains("cannot read"),
        "{err}"
    );

    let cases = [
        (
            "[daemon]\ntick_ms = 1000\nturbo = true\n[[zone]]\nid = \"a\"\n",
            "turbo",
        ),
        (
            "[daemon]\ntick_ms = 5\n[[zone]]\nid = \"a\"\n",
            "daemon.tick_ms",
        ),
        (
            "[[zone]]\nid = \"a\"\nsetpoint_c = 40\n",
            "zone[0].setpoint_c",
        ),
    ];
    for (text, key) in cases {
        let path = dir.path().join("hearth.toml");
        std::fs::write(&path, text).expect("write");
        let out = hearth(&[
            "run",
            "--sim",
            "--config",
            path.to_str().unwrap_or_default(),
            "--http",
            "127.0.0.1:1",
        ]);
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{text}: {err}");
    }
}

/// Without `--sim` the real backends open real devices; on a machine
/// without them each missing piece is refused with the key or path and a hint.
#[test]
fn real_hardware_that_is_not_there_is_refused_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let board = "[[hashboard]]\nid = \"b0\"\nzone = \"a\"\nprofile = \"bitaxe-gamma\"\n";
    let cases = [
        (format!("[[zone]]\nid = \"a\"\n{board}"), "zone[0].sensor"),
        (
            format!("[[zone]]\nid = \"a\"\nsensor = \"thermocouple\"\n{board}"),
            "zone[0].sensor",
        ),
        (
            format!("[[zone]]\nid = \"a\"\nsensor = \"ds18b20:first\"\n{board}"),
            "/sys/bus/w1/devices",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("hearth.toml");
        std::fs::write(&path, &text).expect("write");
        let out = hearth(&[
            "run",
            "--config",
            path.to_str().unwrap_or_default(),
            "--data-dir",
            data.to_str().unwrap_or_default(),
            "--http",
            "127.0.0.1:0",
        ]);
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{text}: {err}");
    }
}
