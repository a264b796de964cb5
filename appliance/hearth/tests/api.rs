#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The HTTP API against a daemon built on the simulator and a real database
//! file, driven in process.

mod common;

use axum::http::StatusCode;
use common::router::call;
use hearth::api::router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

fn options(data_dir: &Path) -> RunOptions {
    let config = Config::sim_default().validate().expect("default config");
    let mut config = config;
    config.raw.daemon.tick_ms = 100;
    RunOptions {
        config,
        simulate: true,
        data_dir: data_dir.to_path_buf(),
        http: "127.0.0.1:0".parse().expect("addr"),
        speed: Some(100.0),
    }
}

/// Starts the control loop and waits until /health says 200.
async fn running(
    dir: &Path,
) -> (
    axum::Router,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let daemon = Daemon::build(&options(dir)).expect("build");
    let app = router(daemon.shared.clone());
    let (h, _) = call(&app, "GET", "/health", None).await;
    assert_eq!(
        h,
        StatusCode::SERVICE_UNAVAILABLE,
        "not healthy before the loop ticks"
    );
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    for _ in 0..50 {
        if call(&app, "GET", "/health", None).await.0 == StatusCode::OK {
            return (app, tx, handle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("daemon never became healthy");
}

async fn stop(app: &axum::Router, tx: watch::Sender<bool>, handle: tokio::task::JoinHandle<()>) {
    tx.send(true).expect("stop");
    handle.await.expect("loop ends");
    let (h, _) = call(app, "GET", "/health", None).await;
    assert_eq!(
        h,
        StatusCode::SERVICE_UNAVAILABLE,
        "not healthy once the loop stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_zones_and_boards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let (code, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(code, StatusCode::OK);
    let zone = &s["zones"][0];
    assert_eq!(zone["id"], "living-room");
    assert_eq!(zone["kind"], "room");
    assert_eq!(zone["mode"], "heat");
    assert_eq!(zone["setpoint_c"], 21.0);
    assert!(zone["temperature_c"].is_number());
    let board = &s["boards"][0];
    assert_eq!(board["id"], "board-0");
    for key in ["power_w", "hashrate_ghs", "chip_temp_c"] {
        assert!(board[key].is_number(), "{key} in {board}");
    }
    assert!(board["state"].is_string());
    assert_eq!(s["simulated"], true);
    stop(&app, tx, handle).await;
    // After shutdown the boards are idle.
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(s["boards"][0]["power_w"], 0.0);
    assert_eq!(s["boards"][0]["state"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setpoint_validation_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let uri = "/api/v1/zones/living-room/setpoint";
    let refused = [
        (r#"{"setpoint_c": 99}"#, "outside"),
        (r#"{"setpoint_c": -3}"#, "outside"),
        (r#"{"setpoint_c": 21.55}"#, "0.1"),
        (r#"{"setpoint_c": "warm"}"#, "invalid type"),
        (r#"{"setpoint": 21}"#, "unknown field"),
        (r#"{"setpoint_c": 21, "extra": 1}"#, "unknown field"),
        (r#"{}"#, "missing field"),
        ("not json", "JSON"),
        (r#"{"setpoint_c": 1e999}"#, ""),
    ];
    for (body, reason) in refused {
        let (code, json) = call(&app, "PUT", uri, Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {json}");
        let msg = json["error"].as_str().unwrap_or_default();
        assert!(msg.contains(reason), "{body}: {msg}");
    }
    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/zones/kitchen/setpoint",
        Some(r#"{"setpoint_c": 20}"#),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // Nothing changed, in memory or on disk.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(s["zones"][0]["setpoint_c"], 21.0);
    let stored = hearth::store::Store::open_in(dir.path())
        .expect("open")
        .load_zone_settings("living-room")
        .expect("load");
    assert_eq!(stored, None);

    let (code, json) = call(&app, "PUT", uri, Some(r#"{"setpoint_c": 19.5}"#)).await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["setpoint_c"], 19.5);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(s["zones"][0]["setpoint_c"], 19.5);

    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/mode",
        Some(r#"{"mode": "cool"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/mode",
        Some(r#"{"mode": "off"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    stop(&app, tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (app, tx, handle) = running(dir.path()).await;
        let (code, _) = call(
            &app,
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            Some(r#"{"setpoint_c": 23.5}"#),
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        let (code, _) = call(
            &app,
            "PUT",
            "/api/v1/zones/living-room/mode",
            Some(r#"{"mode": "off"}"#),
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        stop(&app, tx, handle).await;
    }
    let (app, tx, handle) = running(dir.path()).await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(s["zones"][0]["setpoint_c"], 23.5);
    assert_eq!(s["zones"][0]["mode"], "off");
    assert_eq!(s["zones"][0]["action"], "off");
    stop(&app, tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_events_are_served_and_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, rows) = call(
        &app,
        "GET",
        "/api/v1/zones/living-room/history?hours=1",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(rows.as_array().is_some_and(|r| !r.is_empty()), "{rows}");
    assert!(rows[0]["temp_c"].is_number());
    for bad in [
        "?hours=0",
        "?hours=-1",
        "?hours=abc",
        "?hours=100000",
        "?days=1",
    ] {
        let (code, _) = call(
            &app,
            "GET",
            &format!("/api/v1/zones/living-room/history{bad}"),
            None,
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (code, _) = call(&app, "GET", "/api/v1/zones/nope/history", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    stop(&app, tx, handle).await;
    let (code, events) = call(&app, "GET", "/api/v1/events?limit=5", None).await;
    assert_eq!(code, StatusCode::OK);
    let kinds: Vec<&str> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"shutdown"), "{kinds:?}");
    let (code, _) = call(&app, "GET", "/api/v1/events?limit=0", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}
