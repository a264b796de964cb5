#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The mining switch (`PUT /api/v1/control/mining`): bad bodies change
//! nothing, the setting is persisted, and in the daemon "off" means heat
//! only: the board keeps heating as the thermostat asks on heat-only work
//! while the pool receives nothing; "on" mines again.

mod common;

use axum::http::StatusCode;
use common::router::call;
use hearth::api::router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use hearth::work::testpool::{Quirks, TestPool};
use hearth::work::SIM_POOL_DIFFICULTY;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn options(dir: &Path, pool: Option<&str>) -> RunOptions {
    let pool = pool.map_or(String::new(), |address| {
        format!(
            "[[work.pool]]\nname = \"home-pool\"\nurl = \"stratum+tcp://{address}\"\nuser = \"bcrt1qhome.heater\"\n"
        )
    });
    let text = format!(
        r#"
        [daemon]
        tick_ms = 100
        {pool}
        [[zone]]
        id = "living-room"
        kind = "room"
        setpoint_c = 21.0
        [[hashboard]]
        id = "board-0"
        zone = "living-room"
        profile = "generic-bm1370-65"
        "#
    );
    let config: Config = toml::from_str(&text).unwrap();
    RunOptions {
        config: config.validate().unwrap(),
        simulate: true,
        data_dir: dir.to_path_buf(),
        http: "127.0.0.1:0".parse().unwrap(),
        speed: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mining_switch_is_checked_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::build(&options(dir.path(), None)).unwrap();
    let app = router(daemon.shared.clone());
    let (_, before) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(before["settings"]["mining_enabled"], true, "on by default");
    for bad in [
        r#"{"enabled": "no"}"#,
        r#"{}"#,
        r#"{"enabled": false, "x": 1}"#,
        "off",
    ] {
        let (code, v) = call(&app, "PUT", "/api/v1/control/mining", Some(bad)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    let (_, same) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(same["settings"], before["settings"]);
    assert!(
        !dir.path().join("control.json").exists(),
        "nothing was written"
    );

    let (code, v) = call(
        &app,
        "PUT",
        "/api/v1/control/mining",
        Some(r#"{"enabled": false}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v, serde_json::json!({"enabled": false}));
    let (_, after) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(after["settings"]["mining_enabled"], false);
    drop(app);
    drop(daemon);

    // A restart keeps it.
    let daemon = Daemon::build(&options(dir.path(), None)).unwrap();
    let app = router(daemon.shared.clone());
    let (_, again) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(again["settings"]["mining_enabled"], false);
}

fn status(shared: &hearth::state::Shared) -> Option<Value> {
    let s = shared.status.read().unwrap().clone()?;
    Some(serde_json::to_value(&s).unwrap())
}

async fn wait_for(shared: &hearth::state::Shared, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        if let Some(v) = status(shared) {
            if f(&v) {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never {what}: {:?}",
        status(shared).map(|v| v["work"].clone())
    );
}

fn accepted(v: &Value) -> u64 {
    v["work"]["sources"][0]["stats"]["accepted"]
        .as_u64()
        .unwrap_or(0)
}

/// Hashing and drawing power (ramping is the controller following the
/// thermostat, not a stop).
fn heating(v: &Value) -> bool {
    let state = v["boards"][0]["state"].as_str().unwrap_or("?");
    matches!(state, "running" | "ramping")
        && v["boards"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_off_heats_on_heat_only_work_and_submits_nothing_then_mines_again() {
    let dir = tempfile::tempdir().unwrap();
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let opts = options(dir.path(), Some(&pool.address.to_string()));
    let mut daemon = Daemon::build(&opts).unwrap();
    let shared = daemon.shared.clone();
    let app = router(shared.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feeds = std::mem::take(&mut daemon.job_feeds);
    let _none = hearth::work::start(&opts, shared.clone(), feeds, stop_rx.clone())
        .await
        .unwrap();
    let control = tokio::spawn(daemon.control_loop(stop_rx));

    let v = wait_for(&shared, "mining", |v| {
        v["work"]["mode"] == "source" && accepted(v) >= 2
    })
    .await;
    assert_eq!(v["work"]["mining_enabled"], true);

    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/control/mining",
        Some(r#"{"enabled": false}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let v = wait_for(&shared, "heat-only", |v| v["work"]["mode"] == "heat_only").await;
    assert_eq!(v["work"]["mining_enabled"], false);
    assert!(
        v["work"]["reason"]
            .as_str()
            .unwrap()
            .contains("switched off"),
        "{}",
        v["work"]
    );
    // The source stays healthy: only the homeowner's switch holds it back.
    assert_eq!(v["work"]["sources"][0]["health"], "up");
    // Shares found just before the switch may still be on their way; after
    // that the pool gets nothing while the board heats on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let submits_off = pool.log().submits;
    let shares_off = status(&shared).unwrap()["work"]["shares_found"]
        .as_u64()
        .unwrap();
    let mut states = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let v = status(&shared).unwrap();
        assert!(
            heating(&v),
            "the board heats while mining is off: {}",
            v["boards"][0]
        );
        states.insert(v["work"]["mode"].as_str().unwrap().to_string());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        states.into_iter().collect::<Vec<_>>(),
        vec!["heat_only".to_string()]
    );
    let v = status(&shared).unwrap();
    assert_eq!(
        pool.log().submits,
        submits_off,
        "nothing submitted while mining is off"
    );
    assert_eq!(v["work"]["shares_found"].as_u64().unwrap(), shares_off);
    assert!(v["work"]["nonces_checked"].as_u64().unwrap() > 0);

    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/control/mining",
        Some(r#"{"enabled": true}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let before_on = pool.log().accepted.len();
    wait_for(&shared, "mining again", |v| {
        v["work"]["mode"] == "source" && v["work"]["mining_enabled"] == true
    })
    .await;
    for _ in 0..300 {
        if pool.log().accepted.len() > before_on {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        pool.log().accepted.len() > before_on,
        "mining resumed: {:?}",
        pool.log().refused
    );
    assert!(pool.log().refused.is_empty(), "{:?}", pool.log().refused);

    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(10), control)
        .await
        .unwrap()
        .unwrap();
}
