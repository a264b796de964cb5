#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Crash durability. The daemon binary is started, given acknowledged writes
//! (setpoints and modes over the HTTP API) and killed with SIGKILL at a
//! random moment while writes are in flight, again and again. After every
//! kill the database passes `PRAGMA integrity_check`, holds the last
//! acknowledged write (or the one in flight when the kill came), and the
//! next daemon serves exactly what is stored.
//!
//! A power cut in the middle of a write is modelled at the file level: the
//! write-ahead log cut off at a random byte of the last transaction (and
//! the torn tail garbled), as a disk that persisted only part of it would
//! leave it.
//!
//! `HEARTH_CRASH_CYCLES` sets the number of kill cycles (default 200, about
//! a minute; the
//! figures in docs/reliability.md come from `scripts/reliability.sh`).
//! Seeded: `HEARTH_CRASH_SEED` replays a run's kill moments and values.

mod common;

use hearth::store::{Store, DB_FILE};
use hearth_control::{ZoneMode, ZoneSettings};
use hearth_core::{Celsius, Timestamp};
use rusqlite::Connection;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const ZONE: &str = "living-room";

/// SplitMix64: enough randomness for kill moments, and replayable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The owner's `Authorization` header line, made once on the first start:
/// writes need the owner, and the bearer token (kept in `auth.db`) outlives
/// every kill.
static AUTH: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let auth = AUTH.lock().unwrap().clone();
    common::http_with(addr, &auth, method, path, Some(body)).map(|(code, _, json)| (code, json))
}

fn start(data_dir: &Path) -> (Child, SocketAddr) {
    let addr = free_port();
    // The sim's default room and board. The HTTP request rate limit is
    // lifted: this test writes as fast as one client can, which the
    // default limit (docs/security.md) would refuse by design.
    let cfg = data_dir.with_extension("toml");
    std::fs::write(
        &cfg,
        "[web]\nrequests_per_s = 100000\nrequest_burst = 1000000\n\n[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n",
    )
    .expect("write config");
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &addr.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hearth");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Some((200, _)) = http(addr, "GET", "/health", "") {
            let mut auth = AUTH.lock().unwrap();
            if auth.is_empty() {
                *auth = format!("Authorization: Bearer {}\r\n", common::owner_token(addr));
            }
            return (child, addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not become healthy within 60 s");
}

/// What a write sets, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Written {
    setpoint_c: f64,
    heat: bool,
}

fn stored(dir: &Path) -> (String, Option<Written>) {
    let conn = Connection::open(dir.join(DB_FILE)).expect("open db");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    let row = conn
        .query_row(
            "SELECT setpoint_c, mode FROM zone_settings WHERE zone_id = ?1",
            [ZONE],
            |r| Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?)),
        )
        .ok()
        .map(|(setpoint_c, mode)| Written {
            setpoint_c,
            heat: mode == "heat",
        });
    (check, row)
}

fn served(addr: SocketAddr) -> Written {
    let (code, v) = http(addr, "GET", "/api/v1/status", "").expect("status");
    assert_eq!(code, 200);
    let z = v["zones"]
        .as_array()
        .and_then(|zs| zs.iter().find(|z| z["id"] == ZONE))
        .cloned()
        .expect("zone in status");
    Written {
        setpoint_c: z["setpoint_c"].as_f64().expect("setpoint"),
        heat: z["mode"] == "heat",
    }
}

#[cfg(unix)]
#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let cycles = env_u64("HEARTH_CRASH_CYCLES", 200);
    let seed = env_u64("HEARTH_CRASH_SEED", 0x5EED);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Values cycle slowly, so a stored value names its write.
    let mut serial = 0u64;
    let mut acked: Option<Written> = None;
    let (mut total_acked, mut killed_in_flight) = (0u64, 0u64);
    let started = Instant::now();
    for cycle in 0..cycles {
        let (mut child, addr) = start(&data);
        if let Some(a) = acked {
            assert_eq!(
                served(addr),
                a,
                "cycle {cycle} (seed {seed}): restart did not restore the last write"
            );
        }
        let kill_after = Duration::from_millis(rng.below(400));
        let t = Instant::now();
        let mut in_flight: Option<Written> = None;
        // Writes back to back until the kill moment; the kill itself comes
        // from a second thread so it can land inside a request.
        let pid = child.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            // SIGKILL: no handler runs, nothing is flushed.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        });
        while t.elapsed() < kill_after + Duration::from_millis(50) {
            serial += 1;
            let w = if rng.below(4) == 0 {
                Written {
                    setpoint_c: acked.map_or(21.0, |a| a.setpoint_c),
                    heat: !acked.is_none_or(|a| a.heat),
                }
            } else {
                // 5.0 .. 27.9 in 0.1 steps (the API's resolution), cycling
                // through 230 values: a repeat is 230 writes back.
                Written {
                    setpoint_c: (50 + serial % 230) as f64 / 10.0,
                    heat: acked.is_none_or(|a| a.heat),
                }
            };
            in_flight = Some(w);
            let (path, body) = if w.heat != acked.is_none_or(|a| a.heat) {
                (
                    format!("/api/v1/zones/{ZONE}/mode"),
                    format!("{{\"mode\":\"{}\"}}", if w.heat { "heat" } else { "off" }),
                )
            } else {
                (
                    format!("/api/v1/zones/{ZONE}/setpoint"),
                    format!("{{\"setpoint_c\":{}}}", w.setpoint_c),
                )
            };
            match http(addr, "PUT", &path, &body) {
                Some((200, _)) => {
                    acked = Some(w);
                    in_flight = None;
                    total_acked += 1;
                }
                Some((code, v)) => panic!("write refused with {code}: {v}"),
                None => break, // the daemon is gone
            }
        }
        killer.join().unwrap();
        let _ = child.wait();
        if in_flight.is_some() {
            killed_in_flight += 1;
        }
        let (check, row) = stored(&data);
        assert_eq!(check, "ok", "cycle {cycle} (seed {seed})");
        if let Some(a) = acked {
            let row = row.expect("settings row");
            // The in-flight write may or may not have landed; nothing older may show.
            if Some(row) != in_flight {
                assert_eq!(
                    row, a,
                    "cycle {cycle} (seed {seed}): acknowledged write lost"
                );
            }
            acked = Some(row);
        }
    }
    eprintln!(
        "crash durability: {cycles} SIGKILL cycles, {total_acked} acknowledged writes, {killed_in_flight} kills with a write in flight, 0 lost, integrity ok every time ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

fn settings(setpoint_c: f64, heat: bool) -> ZoneSettings {
    ZoneSettings {
        setpoint_c: Celsius(setpoint_c),
        mode: if heat { ZoneMode::Heat } else { ZoneMode::Off },
    }
}

/// Power cut mid-write: for each trial, `n` acknowledged writes, then one
/// more whose WAL frames reach the disk only in part.
#[test]
fn a_power_cut_mid_write_keeps_every_acknowledged_write() {
    let trials = env_u64("HEARTH_POWERCUT_TRIALS", 60);
    let mut rng = Rng(env_u64("HEARTH_CRASH_SEED", 0x5EED) ^ 0xC0FFEE);
    let (mut landed, mut rolled_back) = (0u64, 0u64);
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        let store = Store::open(&db).unwrap();
        let sync: i64 = store
            .connection()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "settings must be written with synchronous=FULL");
        let n = 1 + rng.below(20);
        let mut last = settings(21.0, true);
        for i in 0..n {
            last = settings(5.0 + i as f64 / 10.0, i % 3 != 0);
            store.save_zone_settings(ZONE, last, Timestamp(i)).unwrap();
            // Telemetry between settings, as the daemon writes it.
            store
                .add_event(Timestamp(i), "test", "note", "between writes")
                .unwrap();
        }
        // With FULL sync every byte up to here was fsynced at its commit.
        let durable = std::fs::metadata(&wal).unwrap().len();
        let next = settings(27.5, true);
        store.save_zone_settings(ZONE, next, Timestamp(n)).unwrap();
        let full = std::fs::metadata(&wal).unwrap().len();
        assert!(full > durable);
        // Copy the files as the disk holds them at the cut: the database
        // file (never written before a checkpoint) and a torn WAL.
        let cut = dir.path().join("cut");
        std::fs::create_dir(&cut).unwrap();
        std::fs::copy(&db, cut.join(DB_FILE)).unwrap();
        let mut bytes = std::fs::read(&wal).unwrap();
        // A quarter of the cuts come just after the write completed (before
        // the client heard back); the rest tear it somewhere.
        let keep = if rng.below(4) == 0 {
            full
        } else {
            durable + rng.below(full - durable)
        };
        bytes.truncate(keep as usize);
        // Half the time the last sector is garbage rather than missing.
        if keep < full && rng.below(2) == 0 && keep > durable {
            let from = keep.saturating_sub(1 + rng.below(512)).max(durable) as usize;
            for b in &mut bytes[from..] {
                *b = rng.next() as u8;
            }
        }
        std::fs::write(cut.join(format!("{DB_FILE}-wal")), &bytes).unwrap();
        drop(store);
        let reopened = Store::open(&cut.join(DB_FILE)).unwrap();
        let check: String = reopened
            .connection()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "trial {trial}");
        let got = reopened.load_zone_settings(ZONE).unwrap().expect("row");
        if got == next {
            landed += 1;
        } else {
            assert_eq!(got, last, "trial {trial}: an acknowledged write was lost (cut at {keep} of {durable}..{full})");
            rolled_back += 1;
        }
    }
    eprintln!(
        "power cut: {trials} torn writes, {landed} landed whole, {rolled_back} rolled back to the last acknowledged write, 0 lost"
    );
}
