#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! A driver-level trip reaches the API and the log: the daemon built on
//! simulated chips behind a pty (the real chain driver and board runtime,
//! `hearth run --sim` at speed 1), a stalled fan injected into the world,
//! and `/api/v1/events` read through the router.

mod common;

use axum::http::StatusCode;
use common::router::call;
use hearth::api::router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const CONFIG: &str = "\
[daemon]
tick_ms = 200
[[zone]]
id = \"den\"
setpoint_c = 24
[[hashboard]]
id = \"chain-a\"
zone = \"den\"
profile = \"bm13xx-uart\"
serial = \"/dev/ttyUSB7\"
chip = \"BM1370\"
chips = 2
min_fan_percent = 40
heatsink_probes = [\"28-0000075a1b2c\"]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_fan_trip_is_an_event_the_api_shows() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml(CONFIG, Path::new("trip.toml")).unwrap();
    // The heatsink probe's margin is in the profile the daemon runs.
    let trip_c = config.zones[0].boards[0].profile.thermal().chip_trip_c;
    assert_eq!(trip_c, 60.0);
    let daemon = Daemon::build(&RunOptions {
        config,
        simulate: true,
        data_dir: dir.path().to_path_buf(),
        http: "127.0.0.1:0".parse().unwrap(),
        speed: Some(1.0),
    })
    .unwrap();
    let world = daemon.world.clone().unwrap();
    let idx = *daemon.sim_boards.values().next().unwrap();
    let app = router(daemon.shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));

    // Heating: the board runs, so its fan turns at 40 % or more.
    let start = Instant::now();
    loop {
        let running = hearth_sim::world::lock(&world)
            .board(idx)
            .and_then(|b| b.external().map(|d| d.regulator_enabled))
            .unwrap_or(false);
        if running {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the board never powered up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, before) = call(&app, "GET", "/api/v1/events?limit=50", None).await;
    assert!(
        !before
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["kind"] == "tripped"),
        "tripped before any fault: {before}"
    );
    hearth_sim::world::lock(&world)
        .board_mut(idx)
        .unwrap()
        .set_fan_stalled(true);

    // The stall trips after 10 s; the event is stored and served.
    let start = Instant::now();
    let tripped = loop {
        let (code, events) = call(&app, "GET", "/api/v1/events?limit=50", None).await;
        assert_eq!(code, StatusCode::OK);
        let found = events.as_array().into_iter().flatten().find(|e| {
            e["kind"] == "tripped" && e["source"].as_str().is_some_and(|s| s.contains("chain-a"))
        });
        if let Some(e) = found {
            break e.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no trip event: {events}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("tripped {:?} after the stall: {tripped}", start.elapsed());
    // Without airflow the simulated chips heat by 10-13 K per 1 s world
    // step; read 200 ms after the previous reading that exceeds the
    // plausible slew (15 K/s + 5 K), so protection may see unmeasurable
    // chips before the tach rule's 10 s are up. Either is a trip for cause.
    let message = tripped["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("fan stalled") || message.contains("no valid chip temperature"),
        "{tripped}"
    );
    // Protection's action on the world: rail off, fan asked for 100 %.
    let (rail_on, duty) = {
        let w = hearth_sim::world::lock(&world);
        let d = w.board(idx).unwrap().external().unwrap();
        (d.regulator_enabled, d.fan_duty)
    };
    assert!(!rail_on, "the core voltage is off after the trip");
    assert_eq!(duty.get(), 100.0);
    tx.send(true).unwrap();
    handle.await.unwrap();
}
