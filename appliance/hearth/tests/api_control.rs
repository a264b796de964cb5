#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Control endpoints (policy, house inputs, schedules, presets, window,
//! circulation) against a daemon on the simulator with real files on disk:
//! bad bodies are refused with a reason and change nothing, good ones are
//! persisted and survive a restart, and the policy's decision reaches the
//! zones.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth::api::router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tower::ServiceExt;

fn options(data_dir: &Path) -> RunOptions {
    let mut config = Config::sim_default().validate().expect("default config");
    config.raw.daemon.tick_ms = 100;
    RunOptions {
        config,
        simulate: true,
        data_dir: data_dir.to_path_buf(),
        http: "127.0.0.1:0".parse().expect("addr"),
        speed: Some(100.0),
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn running(
    dir: &Path,
) -> (
    axum::Router,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let daemon = Daemon::build(&options(dir)).expect("build");
    let app = router(daemon.shared.clone());
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

async fn stop(tx: watch::Sender<bool>, handle: tokio::task::JoinHandle<()>) {
    tx.send(true).expect("stop");
    handle.await.expect("loop ends");
}

fn error_of(json: &Value) -> String {
    json["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_control_bodies_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let (_, before) = call(&app, "GET", "/api/v1/control", None).await;
    let refused = [
        (
            "/api/v1/control/policy",
            r#"{"balance_point_c": 99}"#,
            "balance_point_c",
        ),
        (
            "/api/v1/control/policy",
            r#"{"pv_stop_w": 900, "pv_start_w": 500}"#,
            "pv_stop_w",
        ),
        (
            "/api/v1/control/policy",
            r#"{"colour": 1}"#,
            "unknown field",
        ),
        (
            "/api/v1/control/economics",
            r#"{"tariff": {"kind": "fixed", "per_kwh": 1e9}}"#,
            "per_kwh",
        ),
        (
            "/api/v1/control/economics",
            r#"{"heat_pump_cop": [[7, 4.5], [-7, 2.5]]}"#,
            "increase",
        ),
        (
            "/api/v1/control/house",
            r#"{"outdoor_c": 200}"#,
            "outdoor_c",
        ),
        (
            "/api/v1/control/house",
            r#"{"sg_ready": "maybe"}"#,
            "unknown variant",
        ),
        (
            "/api/v1/zones/living-room/schedule",
            r#"[{"at": "25:00", "setpoint_c": 21}]"#,
            "time of day",
        ),
        (
            "/api/v1/zones/living-room/schedule",
            r#"[{"at": "06:00", "setpoint_c": 99}]"#,
            "outside",
        ),
        (
            "/api/v1/zones/living-room/schedule",
            r#"[{"at": "06:00", "setpoint_c": 21, "days": ["funday"]}]"#,
            "funday",
        ),
        (
            "/api/v1/zones/living-room/preset",
            r#"{"preset": "sauna"}"#,
            "preset must be",
        ),
        (
            "/api/v1/zones/living-room/presets",
            r#"{"comfort_c": 21, "eco_c": 19, "away_c": 16, "boost_c": 45, "frost_c": 7}"#,
            "boost",
        ),
        (
            "/api/v1/zones/living-room/window",
            r#"{"open": "yes"}"#,
            "invalid type",
        ),
        (
            "/api/v1/control/site",
            r#"{"power_limit_w": -5}"#,
            "power_limit_w",
        ),
    ];
    for (uri, body, reason) in refused {
        let (code, json) = call(&app, "PUT", uri, Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri} {body}: {json}");
        assert!(error_of(&json).contains(reason), "{uri} {body}: {json}");
    }
    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/zones/attic/preset",
        Some(r#"{"preset": "eco"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, after) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(before["settings"], after["settings"], "nothing changed");
    assert!(!dir.path().join("control.json").exists(), "nothing written");
    let (_, sched) = call(&app, "GET", "/api/v1/zones/living-room/schedule", None).await;
    assert_eq!(sched, Value::Array(vec![]));
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_persist_across_a_restart_and_the_policy_reaches_the_zones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let schedule = r#"[{"at": "22:00", "setpoint_c": 18}, {"at": "06:30", "setpoint_c": 21, "days": ["mon", "tue", "wed", "thu", "fri"]}]"#;
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/schedule",
        Some(schedule),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json[0]["at"], "06:30", "sorted by time");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/policy",
        Some(r#"{"balance_point_c": -8, "backup_offset_k": 0.5}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/economics",
        Some(
            r#"{"heat_pump_cop": [[-20, 1.6], [-7, 2.5], [7, 4.5]], "hashprice_per_th_day": 0.04}"#,
        ),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/preset",
        Some(r#"{"preset": "eco"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["setpoint_c"], 19.0);
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/site",
        Some(r#"{"power_limit_w": 3000}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");

    // A utility block on the SG-Ready input: the miner stops and says why.
    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/control/house",
        Some(r#"{"sg_ready": "block", "outdoor_c": 2}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let mut blocked = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
        let reason = s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reason.contains("SG-Ready") && s["zones"][0]["power_w"] == 0.0 {
            blocked = true;
            break;
        }
    }
    assert!(blocked, "the block never reached the zone");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["decision"]["rule"], "utility_block", "{c}");
    assert_eq!(c["decision"]["miner"], "off");
    // The boards heated before the block: the economics counted it.
    assert!(
        c["economics"]["heat_kwh"].as_f64().unwrap_or(0.0) > 0.0,
        "{c}"
    );
    assert!(
        c["economics"]["revenue"].as_f64().unwrap_or(0.0) > 0.0,
        "{c}"
    );
    assert!(c["economics"]["net_cost_per_heat_kwh"].is_number(), "{c}");
    // At 2 °C with a heat pump and a hashprice this low, the heat pump is
    // cheaper: once the block lifts the miner is the backup stage.
    call(
        &app,
        "PUT",
        "/api/v1/control/house",
        Some(r#"{"sg_ready": "normal"}"#),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["decision"]["rule"], "economic_heat_pump", "{c}");
    assert!(c["decision"]["why"][0]
        .as_str()
        .unwrap_or_default()
        .contains("heat pump is the cheaper"));
    stop(tx, handle).await;
    let stored = hearth::store::Store::open_in(dir.path())
        .expect("open")
        .load_zone_settings("living-room")
        .expect("load")
        .expect("the preset's settings were stored");
    assert_eq!(stored.setpoint_c.get(), 19.0);

    // Restart on the same directory: everything persisted is back.
    let (app, tx, handle) = running(dir.path()).await;
    let (_, sched) = call(&app, "GET", "/api/v1/zones/living-room/schedule", None).await;
    assert_eq!(sched.as_array().map(Vec::len), Some(2), "{sched}");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["settings"]["policy"]["balance_point_c"], -8.0);
    assert_eq!(c["settings"]["hashprice_per_th_day"], 0.04);
    assert_eq!(c["settings"]["site_limit_w"], 3000.0);
    assert!(c["settings"]["heat_pump_cop"].is_array());
    assert_eq!(
        c["house"]["sg_ready"],
        Value::Null,
        "live inputs are not persisted"
    );
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sim_the_worlds_outdoor_temperature_is_the_policys_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let mut seen = None;
    for _ in 0..50 {
        let (code, c) = call(&app, "GET", "/api/v1/control", None).await;
        assert_eq!(code, StatusCode::OK, "{c}");
        let (_, status) = call(&app, "GET", "/api/v1/status", None).await;
        if let (Some(house), Some(world)) = (
            c["house"]["outdoor_c"].as_f64(),
            status["outdoor_temp_c"].as_f64(),
        ) {
            seen = Some((house, world));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (house, world) = seen.expect("house outdoor_c and status outdoor_temp_c appear");
    // Same world, read a tick or so apart: within a fraction of a kelvin.
    assert!(
        (house - world).abs() < 0.5,
        "house {house} vs world {world}"
    );
    stop(tx, handle).await;
}
