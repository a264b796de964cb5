//! `hearth check-headers` end to end: mainnet vectors, a failing header and
//! malformed lines, through a file and through stdin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
const H1: &str = "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299";
const H100000: &str = "0100000050120119172a610421a6c3011dd330d9df07b63616c2cc1f1cd00200000000006657a9252aacd5c0b2940996ecff952228c3067cc38d4885efb5a4ac4247e9f337221b4d4c86041b0f2b5710";

fn hearth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
}

#[test]
fn file_with_vectors_failures_and_malformed_lines() {
    // Height 1 with its nonce changed: a valid header that misses its target.
    let failing = format!("{}00000000", &H1[..152]);
    // Genesis with nBits 0x1d80ffff (sign bit): malformed.
    let negative = GENESIS.replace("ffff001d", "ffff801d");
    let text = format!(
        "# mainnet\n{GENESIS}\n\n{H1}\n  {H100000}  \n{failing}\nabc\n{}\n{negative}\n",
        "zz".repeat(80)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headers.txt");
    std::fs::write(&path, text).unwrap();
    for backend in [None, Some("scalar")] {
        let mut cmd = hearth();
        cmd.arg("check-headers").arg(&path);
        if let Some(b) = backend {
            cmd.args(["--backend", b]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 7, "{stdout}");
        assert_eq!(
            lines[0],
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f ok"
        );
        assert_eq!(
            lines[1],
            "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048 ok"
        );
        assert_eq!(
            lines[2],
            "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506 ok"
        );
        assert!(
            lines[3].ends_with(" fail") && lines[3].len() == 69,
            "{}",
            lines[3]
        );
        assert!(lines[4].starts_with("error: line 7:"), "{}", lines[4]);
        assert!(lines[5].starts_with("error: line 8:"), "{}", lines[5]);
        assert!(
            lines[6].starts_with("error: line 9:") && lines[6].contains("negative"),
            "{}",
            lines[6]
        );
    }
}

#[test]
fn stdin_all_valid_exits_zero() {
    let mut child = hearth()
        .arg("check-headers")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{GENESIS}\n{H100000}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2);
    assert!(stdout.lines().all(|l| l.ends_with(" ok")));
}

#[test]
fn unknown_backend_is_refused() {
    let out = hearth()
        .args(["check-headers", "--backend", "sha9000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown SHA-256 backend"));
}

#[test]
fn bench_checker_prints_json() {
    let out = hearth()
        .args([
            "bench",
            "checker",
            "--backend",
            "scalar",
            "--count",
            "1000",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "scalar");
    assert_eq!(v["headers"], 1000);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["headers_per_s"].as_f64().unwrap() > 0.0);
}
