#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! CLI parity: `hearth token create`, `hearth status`, `hearth zone ...` and
//! `hearth events` against a running `hearth run --sim`, as a user types them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const PASSWORD: &str = "cli test owner password";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn raw(addr: SocketAddr, req: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn start() -> (Daemon, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let child = Command::new(BIN)
        .args([
            "run",
            "--sim",
            "--speed",
            "60",
            "--http",
            &addr.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let d = Daemon(child);
    let t0 = Instant::now();
    let health = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    while !raw(addr, &health).is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "daemon not healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = format!(r#"{{"password": "{PASSWORD}"}}"#);
    let setup = format!(
        "POST /api/v1/auth/setup HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert!(raw(addr, &setup)
        .expect("setup")
        .starts_with("HTTP/1.1 200"));
    (d, addr, dir)
}

fn hearth(addr: SocketAddr, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HEARTH_URL", format!("http://{addr}"))
        .env_remove("HEARTH_TOKEN")
        .env_remove("HEARTH_PASSWORD");
    if let Some(t) = token {
        c.env("HEARTH_TOKEN", t);
    }
    c.output().expect("run hearth")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_talks_to_the_running_daemon() {
    let (_daemon, addr, _dir) = start();

    // A token from the owner password on stdin.
    let mut child = Command::new(BIN)
        .args([
            "token",
            "create",
            "laptop",
            "--url",
            &format!("http://{addr}"),
        ])
        .env_remove("HEARTH_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("token");
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();
    assert!(token.starts_with("hth_") && token.len() == 68, "{token}");

    // A wrong password gets the daemon's refusal.
    let mut c = Command::new(BIN);
    c.args(["token", "create", "x"])
        .env("HEARTH_URL", format!("http://{addr}"))
        .env("HEARTH_PASSWORD", "not the password");
    let out = c.output().expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));

    // Without a token: refused, plainly.
    let out = hearth(addr, None, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("authentication required"),
        "{}",
        stderr(&out)
    );

    let out = hearth(addr, Some(&token), &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("living-room") && text.contains("21.0 °C") && text.contains("board-0"),
        "{text}"
    );

    let out = hearth(
        addr,
        Some(&token),
        &["zone", "set-setpoint", "living-room", "22.5"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "living-room: setpoint 22.5 °C mode heat"
    );

    // Refusals: the daemon's reason, exit 1, nothing changed.
    for (args, why) in [
        (
            &["zone", "set-setpoint", "living-room", "99"][..],
            "outside",
        ),
        (
            &["zone", "set-setpoint", "living-room", "-40"][..],
            "outside",
        ),
        (&["zone", "set-setpoint", "attic", "20"][..], "attic"),
        (
            &["zone", "set-mode", "living-room", "turbo"][..],
            "invalid JSON",
        ),
    ] {
        let out = hearth(addr, Some(&token), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    // The status is the latest tick's: the accepted change shows within a tick.
    let t0 = Instant::now();
    let v = loop {
        let out = hearth(addr, Some(&token), &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        if v["zones"][0]["setpoint_c"] == 22.5 || t0.elapsed() > Duration::from_secs(5) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        v["zones"][0]["setpoint_c"], 22.5,
        "only the accepted change took effect"
    );
    assert_eq!(v["zones"][0]["mode"], "heat");

    let out = hearth(
        addr,
        Some(&token),
        &["zone", "set-mode", "living-room", "off"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("mode off"));

    let out = hearth(addr, Some(&token), &["events", "--json", "--limit", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(serde_json::from_str::<serde_json::Value>(&stdout(&out))
        .expect("json")
        .is_array());
    let out = hearth(addr, Some(&token), &["events", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));

    // Nothing listening: a plain error, not a hang.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let out = hearth(closed, Some(&token), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the daemon"),
        "{}",
        stderr(&out)
    );
    let out = hearth(addr, Some(&token), &["status", "--url", "ftp://x"]);
    assert!(stderr(&out).contains("bad URL"), "{}", stderr(&out));
}

/// `hearth status` until its text contains `want` (the work service reads
/// the switch at its next tick).
fn status_until(addr: SocketAddr, token: &str, want: &str) -> String {
    let t0 = Instant::now();
    loop {
        let out = hearth(addr, Some(token), &["status"]);
        let text = stdout(&out);
        if text.contains(want) {
            return text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "status never showed {want:?}: {text}{}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mining_on_and_off_from_the_cli_shows_in_status() {
    let (_daemon, addr, _dir) = start();
    let mut c = Command::new(BIN);
    c.args(["token", "create", "mining"])
        .env("HEARTH_URL", format!("http://{addr}"))
        .env("HEARTH_PASSWORD", PASSWORD);
    let out = c.output().expect("token");
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();

    status_until(addr, &token, "mining: on (work: ");
    // Without a token the switch is refused and stays on.
    let out = hearth(addr, None, &["mining", "off"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    // Not on/off: clap refuses it before anything is sent.
    let out = hearth(addr, Some(&token), &["mining", "maybe"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    status_until(addr, &token, "mining: on (work: ");

    let out = hearth(addr, Some(&token), &["mining", "off"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "mining off: heat only, nothing is submitted"
    );
    status_until(addr, &token, "mining: off (work: heat_only");
    let out = hearth(addr, Some(&token), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["work"]["mining_enabled"], false, "{v}");

    let out = hearth(addr, Some(&token), &["mining", "on"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "mining on");
    let text = status_until(addr, &token, "mining: on (work: ");
    assert!(!text.contains("heat_only"), "{text}");
}
