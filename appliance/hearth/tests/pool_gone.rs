#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `pool_gone` on the real daemon: `hearth run --sim` with one Stratum
//! pool as its only work source (a pool configured, so no sharechain node
//! in the simulation), the in-process test pool of the work tests, run in
//! its own tokio runtime so that killing it is what a pool's death is to
//! the daemon: every socket closed and the port refusing connections. The
//! pool is killed after a seeded delay, stays gone for a seeded time
//! (`HEARTH_NETFAULT_SEED`, default 1, printed) and is restarted on the
//! same port as a new process would be: a fresh log, a new block (so none
//! of its jobs is one the first pool issued). Its connection counter starts
//! again too, so the daemon gets the same extranonce1 and takes the new
//! session for a resumed one: the harder case, in which anything still
//! queued from before the outage would be flushed to the new pool.
//!
//! Checked every 200 ms while it is gone: the status API answers, the zone
//! is below its hard limit, the board heats while the room is below its
//! setpoint, and the status says heat-only in plain words. After the
//! restart: real work again and shares accepted, and the restarted pool
//! never saw a submit it refused (no share from the first pool's jobs or
//! from heat-only work reaches it). The recovery time is printed.

mod common;

use common::{free_port, Killed};
use hearth::work::testpool::{Quirks, TestPool};
use hearth::work::SIM_POOL_DIFFICULTY;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
/// The zone's hard limit in the test's config.
const HARD_MAX_C: f64 = 30.0;
const SETPOINT_C: f64 = 25.0;

/// splitmix64: the plan, from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A test pool with a runtime of its own: dropping the runtime ends every
/// task of the pool at once (listener and connections), as a kill would.
struct PoolProcess {
    runtime: Option<tokio::runtime::Runtime>,
    pool: TestPool,
}

impl PoolProcess {
    fn start(address: &str, new_blocks: u64) -> PoolProcess {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let pool = runtime
            .block_on(TestPool::start_on(
                address,
                SIM_POOL_DIFFICULTY,
                Quirks::default(),
            ))
            .unwrap();
        for _ in 0..new_blocks {
            pool.new_block();
        }
        PoolProcess {
            runtime: Some(runtime),
            pool,
        }
    }

    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for PoolProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pool_gone_heats_on_heat_only_work_submits_nothing_of_it_and_mines_again_after() {
    let seed: u64 = std::env::var("HEARTH_NETFAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rng = Rng(seed);
    let kill_after_ms = rng.between(0, 1500);
    let gone_ms = rng.between(2000, 4000);
    eprintln!("pool_gone: seed {seed}: kill after {kill_after_ms} ms of mining, gone {gone_ms} ms");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pool_addr = format!("127.0.0.1:{}", free_port());
    let mut pool = PoolProcess::start(&pool_addr, 0);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = dir.join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[zone]]\nid = \"living-room\"\nhard_max_c = {HARD_MAX_C}\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\n\
             [web]\npublic_read = true\n\n[work]\nswitch_back_after_s = 1\n\n\
             [[work.pool]]\nname = \"home-pool\"\nurl = \"stratum+tcp://{pool_addr}\"\nuser = \"bcrt1qhome.heater\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &addr.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("panicked") {
                let _ = tx.send(line);
            }
        }
    });
    let child = Killed(child);
    until("the API", 60, || common::get(addr, "/api/v1/status"));
    let token = common::owner_token(addr);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (code, _, body) = common::http_with(
        addr,
        &auth,
        "PUT",
        "/api/v1/zones/living-room/setpoint",
        Some(&format!(r#"{{"setpoint_c": {SETPOINT_C}}}"#)),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");

    // Steady state: mining on the pool, shares accepted.
    let steady = Instant::now();
    until("mining on the pool", 90, || {
        let s = common::get(addr, "/api/v1/status")?;
        (s["work"]["mode"] == "source"
            && s["work"]["name"] == "home-pool"
            && pool.pool.log().accepted.len() >= 2)
            .then_some(())
    });
    let first_accepted = pool.pool.log().accepted.len();
    eprintln!(
        "pool_gone: mining after {:.1} s, {first_accepted} shares accepted",
        steady.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(kill_after_ms));

    let jobs_before = common::get(addr, "/api/v1/status").unwrap()["work"]["jobs_sent"]
        .as_u64()
        .unwrap();
    // The pool dies.
    pool.kill();
    let t0 = Instant::now();
    let (mut polls, mut failed, mut min_heat_w, mut max_temp_c) = (0u64, 0u64, f64::MAX, f64::MIN);
    let mut heat_only_at: Option<f64> = None;
    let mut summary = String::new();
    let mut found_at_heat_only = None;
    while t0.elapsed() < Duration::from_millis(gone_ms) {
        polls += 1;
        match common::get(addr, "/api/v1/status") {
            Some(s) => {
                let temp = s["zones"][0]["temperature_c"].as_f64().unwrap_or(f64::NAN);
                max_temp_c = max_temp_c.max(temp);
                assert!(temp < HARD_MAX_C, "zone at {temp} °C: {s}");
                if temp < SETPOINT_C - 1.0 {
                    min_heat_w = min_heat_w.min(common::heat_w(&s));
                }
                if s["work"]["mode"] == "heat_only" && heat_only_at.is_none() {
                    heat_only_at = Some(t0.elapsed().as_secs_f64());
                    summary = s["work"]["summary"].as_str().unwrap_or("").to_string();
                    found_at_heat_only = s["work"]["shares_found"].as_u64();
                }
            }
            None => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let heat_only_s = heat_only_at.expect("the pool was gone but work never went heat-only");
    assert!(
        summary.starts_with("Heating on local work only"),
        "the status says heat-only plainly: {summary:?}"
    );
    let work = common::get(addr, "/api/v1/status").unwrap()["work"].clone();
    assert!(
        work["jobs_sent"].as_u64().unwrap() > jobs_before,
        "the boards were given heat-only work, not left on the dead pool's job: {work}"
    );
    let found_while_gone = work["shares_found"].as_u64();
    assert_eq!(
        found_while_gone, found_at_heat_only,
        "no share is counted on heat-only work"
    );

    // The pool comes back on the same port, a block further on: none of its
    // jobs is one the first pool issued.
    let back = PoolProcess::start(&pool_addr, 1);
    let rec = Instant::now();
    until("real work again and a share accepted", 60, || {
        let s = common::get(addr, "/api/v1/status")?;
        (s["work"]["mode"] == "source" && !back.pool.log().accepted.is_empty()).then_some(())
    });
    let recovery_s = rec.elapsed().as_secs_f64();
    // A few more shares, so that anything queued from before had its chance
    // to reach the new pool.
    until("three shares accepted by the restarted pool", 60, || {
        (back.pool.log().accepted.len() >= 3).then_some(())
    });
    let log = back.pool.log();
    eprintln!(
        "pool_gone: seed {seed}: gone {:.1} s, {polls} polls, {failed} failed; heat-only after {heat_only_s:.1} s ({summary:?}); least heat below setpoint {min_heat_w:.0} W; warmest {max_temp_c:.2} °C (hard limit {HARD_MAX_C}); shares found by the end of the outage {found_while_gone:?}; recovered {recovery_s:.1} s after the pool came back (first share accepted); restarted pool: {} submits, {} accepted, {} refused, {} stale",
        t0.elapsed().as_secs_f64() - rec.elapsed().as_secs_f64(),
        log.submits,
        log.accepted.len(),
        log.refused.len(),
        log.stale_rejected
    );
    assert_eq!(failed, 0, "status API failed while the pool was gone");
    assert!(
        min_heat_w > 10.0,
        "heat dropped to {min_heat_w} W while below the setpoint"
    );
    assert!(
        log.refused.is_empty() && log.stale_rejected == 0,
        "the restarted pool was sent shares of jobs it never issued: {:?}",
        log.refused
    );
    assert_eq!(
        log.submits,
        log.accepted.len() as u64,
        "every submit the restarted pool saw was one of its own jobs"
    );
    if let Ok(line) = rx.try_recv() {
        panic!("daemon panicked: {line}");
    }
    drop(child);
}
