#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `hearth sim --faults`: a campaign runs and reports, a seed replays with
//! the same figures, and a bad campaign file is refused naming the key.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

fn sim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("sim")
        .args(args)
        .output()
        .expect("run hearth");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_campaign_runs_and_a_seed_replays() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "name = \"t\"\nruns = 6\nhours = 2\nrecovery_window_min = 30\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, out, err) = sim(&["--faults", path, "--json"]);
    assert!(ok, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["runs"], 6);
    assert_eq!(r["passed"], 6);
    let injected: u64 = r["by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["injected"].as_u64().unwrap())
        .sum();
    assert_eq!(injected, 12);
    let (ok, a, _) = sim(&["--faults", path, "--seed", "3", "--json"]);
    assert!(ok);
    let (_, b, _) = sim(&["--faults", path, "--seed", "3", "--json"]);
    assert_eq!(a, b, "a seed must replay bit for bit");
    let one: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(one["plan"]["seed"], 3);
    let (ok, _, err) = sim(&["--faults", path, "--seed", "3"]);
    assert!(ok, "{err}");

    std::fs::write(&file, "runs = 0\n").unwrap();
    let (ok, _, err) = sim(&["--faults", path]);
    assert!(!ok);
    assert!(err.contains("runs"), "{err}");
}
