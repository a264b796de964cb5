#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `/metrics` of a running `hearth run --sim` (which runs a regtest
//! sharechain node and the work service): every family of issue 9's list is
//! there, from the real daemon's own data, and every sample line parses.

mod common;

use common::{http_with, Killed};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn metrics(http: SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&http, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    r.starts_with("HTTP/1.1 200")
        .then(|| r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))
        .flatten()
}

#[test]
fn a_running_daemon_exports_every_listed_family() {
    let dir = tempfile::tempdir().unwrap();
    let http: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        "[web]\npublic_read = true\n[[zone]]\nid = \"living-room\"\nname = \"Living room\"\n\
         [[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\
         [sim]\nboards = \"model\"\n",
    )
    .unwrap();
    let _daemon = Killed(
        Command::new(BIN)
            .args(["run", "--sim", "--speed", "30", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--http", &http.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wanted = [
        "hearth_zone_temperature_celsius{zone=\"living-room\"}",
        "hearth_zone_setpoint_celsius{zone=\"living-room\"}",
        "hearth_board_power_watts{board=\"board-0\"",
        "hearth_board_energy_joules_total{board=\"board-0\"}",
        "hearth_board_hashrate_gigahashes_per_second{board=\"board-0\"",
        "hearth_board_trips_total{board=\"board-0\"}",
        "hearth_work_shares_accepted_total{source=",
        "hearth_zone_rule_info{zone=\"living-room\"",
        "hearth_policy_rule_info{",
        "hearth_sharechain_peers ",
        "hearth_sharechain_sync_pending_shares ",
    ];
    let start = Instant::now();
    let text = loop {
        let text = metrics(http).unwrap_or_default();
        if wanted.iter().all(|w| text.contains(w)) {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "missing {:?} in:\n{text}",
            wanted
                .iter()
                .filter(|w| !text.contains(*w))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    // The sharechain series are the node's own figures (a lone regtest
    // node: its peer count and network do not move between the two reads).
    let (code, _, chain) = http_with(http, "", "GET", "/api/v1/sharechain", None).unwrap();
    assert_eq!(code, 200, "{chain}");
    assert_eq!(chain["network"], "regtest");
    let peers = format!("hearth_sharechain_peers {}\n", chain["peers"]);
    assert!(text.contains(&peers), "{peers} in\n{text}");
}
