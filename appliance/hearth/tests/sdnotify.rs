#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The `hearth` binary under a stand-in service manager: a unix datagram
//! socket passed as `$NOTIFY_SOCKET`, as systemd does for `Type=notify`.
//! It must say READY=1 only once `/health` would answer, then WATCHDOG=1
//! at about half of `$WATCHDOG_USEC`, and STOPPING=1 on SIGTERM.

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn recv(sock: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 512];
    let len = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

#[test]
fn ready_then_watchdog_pings_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--http", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &sock_path)
        // 2 s watchdog: pings every second.
        .env("WATCHDOG_USEC", "2000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let first = recv(&sock).expect("a first notification within 60 s");
    assert!(
        first.lines().any(|l| l == "READY=1"),
        "first message is READY=1: {first:?}"
    );
    // READY means serving: the health endpoint must answer right away.
    let health = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(health.is_ok(), "HTTP listener bound before READY=1");

    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        let m = recv(&sock).expect("a watchdog ping within 5 s");
        assert_eq!(m, "WATCHDOG=1");
        pings += 1;
    }
    let elapsed = start.elapsed();
    // Three pings at 1 s intervals: about 2-3 s, certainly not instant.
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "three pings took {elapsed:?}"
    );

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut saw_stopping = false;
    while let Some(m) = recv(&sock) {
        if m == "STOPPING=1" {
            saw_stopping = true;
            break;
        }
        assert_eq!(m, "WATCHDOG=1");
    }
    assert!(saw_stopping, "STOPPING=1 after SIGTERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit: {status:?}");
}

#[test]
fn watchdog_meant_for_another_pid_is_ignored() {
    // A watchdog meant for another process is ignored; the daemon still runs.
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--http", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .env("WATCHDOG_PID", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(
        recv(&sock).as_deref().map(|m| m.lines().next()),
        Some(Some("READY=1"))
    );
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // WATCHDOG_PID is not ours: no pings at all within two intervals.
    assert_eq!(recv(&sock), None);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}
