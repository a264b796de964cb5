#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)] // shared by several test binaries
//! Talking to a `hearth run` child process over raw HTTP/1.1, as the
//! daemon's end-to-end tests do: requests with extra headers, and the
//! owner's bearer token (first start sets the password, a restart logs in).

pub mod certs;
pub mod loopback;
pub mod router;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Same, with extra header lines (each ending in CRLF); also returns the
/// response's header block.
pub fn http_with(
    addr: SocketAddr,
    headers: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String, Value)> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    http_on(s, addr, headers, method, path, body)
}

/// Same, from the loopback address `src` (127.0.0.N): the daemon's limits
/// count clients by source address (`loopback`). `rt` makes the connection.
pub fn http_with_from(
    rt: &tokio::runtime::Runtime,
    src: std::net::IpAddr,
    addr: SocketAddr,
    headers: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String, Value)> {
    let s = loopback::connect_from_std(rt, src, addr).ok()?;
    http_on(s, addr, headers, method, path, body)
}

fn http_on(
    mut s: TcpStream,
    addr: SocketAddr,
    headers: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String, Value)> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    let (head, rest) = resp.split_once("\r\n\r\n")?;
    let json = serde_json::from_str(rest).unwrap_or(Value::Null);
    Some((code, head.to_string(), json))
}

/// Reads and writes need the owner: set the password on first start (or log
/// in after a restart) and make a bearer token.
pub fn owner_token(addr: SocketAddr) -> String {
    let pw = r#"{"password": "e2e owner password"}"#;
    let (code, mut head, _) =
        http_with(addr, "", "POST", "/api/v1/auth/setup", Some(pw)).expect("setup");
    if code == 409 {
        let (code, h, body) =
            http_with(addr, "", "POST", "/api/v1/auth/login", Some(pw)).expect("login");
        assert_eq!(code, 200, "{body}");
        head = h;
    } else {
        assert_eq!(code, 200, "setup");
    }
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let headers = format!("Cookie: {cookie}\r\nX-Requested-With: hearth\r\n");
    let (code, _, body) = http_with(
        addr,
        &headers,
        "POST",
        "/api/v1/auth/tokens",
        Some(r#"{"name": "e2e"}"#),
    )
    .expect("token");
    assert_eq!(code, 201, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// A child process that is killed and reaped when dropped, so a failing
/// test leaves no daemon or broker behind.
pub struct Killed(pub std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A real mosquitto on a free loopback port, anonymous, no persistence.
pub fn mosquitto(dir: &std::path::Path) -> (Killed, u16) {
    let port = free_port();
    let broker = mosquitto_on(dir, port, &anonymous_broker(port));
    (broker, port)
}

/// The configuration of an anonymous loopback broker on `port`.
pub fn anonymous_broker(port: u16) -> String {
    format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
}

/// Debian's mosquitto with `conf_text`, once it listens on `port`.
pub fn mosquitto_on(dir: &std::path::Path, port: u16, conf_text: &str) -> Killed {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, conf_text).expect("write conf");
    let exe = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto is not installed: apt-get install mosquitto (scripts/test.sh does)");
    let child = Command::new(exe)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let broker = Killed(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

/// A GET with no credentials: the JSON body of a 200, else `None` (the
/// daemon down or refusing counts as no answer, which fault tests poll for).
pub fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    match http_with(addr, "", "GET", path, None) {
        Some((200, _, v)) => Some(v),
        _ => None,
    }
}

/// The heat the boards draw now: the sum of `/api/v1/status`'s
/// `boards[].power_w`.
pub fn heat_w(status: &Value) -> f64 {
    status["boards"]
        .as_array()
        .map(|b| b.iter().map(|b| b["power_w"].as_f64().unwrap_or(0.0)).sum())
        .unwrap_or(0.0)
}
