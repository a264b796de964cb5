#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Control endpoints (policy, house inputs, schedules, presets, window,
//! circulation) against a daemon on the simulator with real files on disk:
//! bad bodies are refused with a reason and change nothing, good ones are
//! persisted and survive a restart, and the policy's decision reaches the
//! zones.

mod common;

use axum::http::StatusCode;
use common::router::call;
use hearth::api::router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

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
            r#"{"sg_ready_min_switch_s": 5}"#,
            "sg_ready_min_switch_s",
        ),
        (
            "/api/v1/control/policy",
            r#"{"economic_min_dwell_s": 999999}"#,
            "economic_min_dwell_s",
        ),
        (
            "/api/v1/control/policy",
            r#"{"economic_hysteresis_per_kwh": -0.5}"#,
            "economic_hysteresis_per_kwh",
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
    let heat_kwh_before = c["economics"]["heat_kwh"].as_f64().unwrap_or(0.0);
    let revenue_before = c["economics"]["revenue"].as_f64().unwrap_or(0.0);
    assert!(heat_kwh_before > 0.0, "{c}");
    stop(tx, handle).await;
    assert!(dir.path().join("control-live.json").exists());
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
    // Live inputs and the economics totals are persisted too.
    assert_eq!(c["house"]["sg_ready"], "normal", "{c}");
    assert!(
        c["economics"]["heat_kwh"].as_f64().unwrap_or(0.0) >= heat_kwh_before,
        "heat_kwh {} was {heat_kwh_before} before the restart",
        c["economics"]["heat_kwh"]
    );
    assert!(c["economics"]["revenue"].as_f64().unwrap_or(0.0) >= revenue_before);
    stop(tx, handle).await;
}

async fn zone_temperature(app: &axum::Router) -> Option<f64> {
    let (_, s) = call(app, "GET", "/api/v1/status", None).await;
    s["zones"][0]["temperature_c"].as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_zone_temperature_steers_control_until_it_goes_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    for (uri, body, code) in [
        (
            "/api/v1/zones/living-room/temperature",
            r#"{"temperature_c": 200}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/zones/living-room/temperature",
            r#"{"temp": 20}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/zones/nowhere/temperature",
            r#"{"temperature_c": 20}"#,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, json) = call(&app, "PUT", uri, Some(body)).await;
        assert!(
            got == code || (code == StatusCode::UNPROCESSABLE_ENTITY && got.is_client_error()),
            "{uri} {body}: {got} {json}"
        );
    }
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(
        c["zone_inputs"],
        serde_json::json!({}),
        "refused: nothing set"
    );
    // The simulated room is at its own temperature; 35 °C is far from it
    // and above any setpoint: the zone must show it and stop heating.
    let own = zone_temperature(&app).await.expect("the sim sensor reads");
    assert!((own - 35.0).abs() > 5.0, "sim room at {own}");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/temperature",
        Some(r#"{"temperature_c": 35}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["max_age_s"], 300);
    let mut followed = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
        if s["zones"][0]["temperature_c"] == 35.0 && s["zones"][0]["demand"] == 0.0 {
            followed = true;
            break;
        }
    }
    assert!(followed, "control never used the external temperature");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(
        c["zone_inputs"]["living-room"]["temperature_c"], 35.0,
        "{c}"
    );
    // At 100x, 300 s of control time pass in about 3 s: then the zone
    // falls back to its own sensor.
    let mut fell_back = None;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(t) = zone_temperature(&app).await.filter(|t| *t != 35.0) {
            fell_back = Some(t);
            break;
        }
    }
    let t = fell_back.expect("the stale external value was never dropped");
    assert!(
        (t - own).abs() < 3.0,
        "back to the sim sensor: {t} vs {own}"
    );
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(
        c["zone_inputs"]["living-room"]["temperature_c"],
        Value::Null,
        "{c}"
    );
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zones_own_window_contact_in_the_house_inputs_holds_that_zone() {
    // What MQTT's per-zone contacts feed (mqtt::inputs tests cover the
    // topic side): `house.zone_window_open`, per zone, into control.
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::build(&options(dir.path())).expect("build");
    let shared = daemon.shared.clone();
    let app = router(shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    let hold = |s: &Value| {
        s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let set = |zone: &str, open: bool| {
        let now = shared.clock.now();
        hearth::state::lock(&shared.control)
            .house
            .zone_window_open
            .insert(zone.into(), hearth_control::Reading::new(open, now));
    };
    // Another zone's open window does nothing here.
    set("greenhouse", true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert!(!hold(&s).contains("window"), "{s}");
    set("living-room", true);
    let mut held = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
        if hold(&s).contains("window open (contact)") {
            held = true;
            break;
        }
    }
    assert!(held, "the zone's own open contact never held it");
    // The contact disappears (MQTT: no fresh contact): the hold lifts.
    hearth::state::lock(&shared.control)
        .house
        .zone_window_open
        .remove("living-room");
    let mut lifted = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
        if !hold(&s).contains("window") {
            lifted = true;
            break;
        }
    }
    assert!(lifted, "a vanished contact kept holding the zone");
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_left_open_through_the_api_is_forgotten_after_two_hours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::build(&options(dir.path())).expect("build");
    let shared = daemon.shared.clone();
    let app = router(shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    let hold = |s: &Value| {
        s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    async fn wait_for(app: &axum::Router, want: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = call(app, "GET", "/api/v1/status", None).await.1;
            if want(&last) {
                break;
            }
        }
        last
    }
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/nowhere/window",
        Some(r#"{"open": true}"#),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{json}");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/window",
        Some(r#"{"open": true}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["max_age_s"], 7200, "{json}");
    // Persisted with its time before it was acknowledged.
    let live = std::fs::read_to_string(dir.path().join("control-live.json")).expect("live file");
    assert!(live.contains("zone_window_api"), "{live}");
    // Held by the contact, and still held after several ticks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = wait_for(&app, |s| hold(s).contains("window open (contact)")).await;
    assert!(hold(&s).contains("window open (contact)"), "{s}");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(
        c["zone_inputs"]["living-room"]["api_window_open"], true,
        "{c}"
    );
    // The same contact, as if set 1 h 59 min ago: still held.
    let backdate = |mins: u64| {
        let at = hearth_core::Timestamp(shared.clock.now().0.saturating_sub(mins * 60 * 1000));
        hearth::state::lock(&shared.control)
            .house
            .zone_window_api
            .insert("living-room".into(), hearth_control::Reading::new(true, at));
    };
    backdate(119);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert!(hold(&s).contains("window open (contact)"), "{s}");
    // Set 2 h 1 min ago: forgotten, the zone heats again.
    backdate(121);
    let s = wait_for(&app, |s| !hold(s).contains("window")).await;
    assert!(
        !hold(&s).contains("window"),
        "a 2 h old open contact still holds: {s}"
    );
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(
        c["zone_inputs"]["living-room"]["api_window_open"],
        Value::Null,
        "{c}"
    );
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sg_ready_outputs_follow_the_policy_within_their_limits_and_end_normal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    let out = &c["sg_ready_output"];
    assert_eq!(out["state"], "normal", "{c}");
    assert_eq!(out["driver"], "simulated relay pair", "{c}");
    assert_eq!(
        (out["relay1"].clone(), out["relay2"].clone()),
        (false.into(), false.into())
    );
    // A heat pump and a hashprice that makes the miner far cheaper: the
    // policy holds the heat pump back through the outputs (`10`).
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/economics",
        Some(r#"{"heat_pump_cop": [[-20, 3], [20, 3]], "hashprice_per_th_day": 50}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let mut blocked = None;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
        if c["sg_ready_output"]["state"] == "block" {
            blocked = Some(c);
            break;
        }
    }
    let c = blocked.expect("the outputs never blocked the heat pump");
    assert_eq!(c["decision"]["rule"], "economic_miner", "{c}");
    let out = &c["sg_ready_output"];
    assert_eq!(
        (out["relay1"].clone(), out["relay2"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(out["written"], true, "{c}");
    // At exit the outputs go back to normal at once.
    stop(tx, handle).await;
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    let out = &c["sg_ready_output"];
    assert_eq!(out["state"], "normal", "{c}");
    assert_eq!(
        (out["relay1"].clone(), out["relay2"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(out["written"], true, "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_circulation_input_in_the_house_inputs_gates_its_heat() {
    // What an MQTT circulation topic feeds (mqtt::inputs tests cover the
    // topic side): `house.zone_circulation`, stale = not running.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut raw = Config::sim_default();
    raw.zones[0].kind = hearth_control::ZoneKind::Pool;
    raw.zones[0].setpoint_c = 28.0;
    let mut opts = options(dir.path());
    opts.config = raw.validate().expect("a pool config");
    opts.config.raw.daemon.tick_ms = 100;
    let daemon = Daemon::build(&opts).expect("build");
    let shared = daemon.shared.clone();
    let app = router(shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    let hold = |s: &Value| {
        s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let set = |running: bool, at: hearth_core::Timestamp| {
        hearth::state::lock(&shared.control)
            .house
            .zone_circulation
            .insert(
                "living-room".into(),
                hearth_control::Reading::new(running, at),
            );
    };
    async fn wait_for(app: &axum::Router, want: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = call(app, "GET", "/api/v1/status", None).await.1;
            if want(&last) {
                break;
            }
        }
        last
    }
    let s = wait_for(&app, |s| hold(s).contains("circulation")).await;
    assert!(hold(&s).contains("circulation pump is not running"), "{s}");
    set(true, shared.clock.now());
    let s = wait_for(&app, |s| {
        s["zones"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    assert!(
        s["zones"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0,
        "the cold pool heats once the pump runs: {s}"
    );
    // A reading 31 minutes old: stale, so not running.
    let old = hearth_core::Timestamp(shared.clock.now().0.saturating_sub(31 * 60 * 1000));
    set(true, old);
    let s = wait_for(&app, |s| hold(s).contains("circulation")).await;
    assert!(hold(&s).contains("circulation pump is not running"), "{s}");
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_circulation_gpio_in_sim_gates_its_heat_and_overrides_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut raw = Config::sim_default();
    raw.zones[0].kind = hearth_control::ZoneKind::Pool;
    raw.zones[0].setpoint_c = 28.0;
    raw.zones[0].sim.circulation_running = false;
    raw.zones[0].circulation_gpio = Some(hearth::circulation_input::CirculationGpioConfig {
        chip: "/dev/gpiochip0".into(),
        line: 17,
        active_low: false,
    });
    let mut opts = options(dir.path());
    opts.config = raw.validate().expect("a pool config");
    opts.config.raw.daemon.tick_ms = 100;
    let daemon = Daemon::build(&opts).expect("build");
    let shared = daemon.shared.clone();
    let line = hearth::state::lock(&shared.control)
        .sim_circulation_line("living-room")
        .expect("a simulated circulation line");
    let app = router(shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    let hold = |s: &Value| {
        s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let power = |s: &Value| s["zones"][0]["power_w"].as_f64().unwrap_or(0.0);
    async fn wait_for(app: &axum::Router, want: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = call(app, "GET", "/api/v1/status", None).await.1;
            if want(&last) {
                break;
            }
        }
        last
    }
    // The line says the pump is off: held, and the API cannot say otherwise.
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/circulation",
        Some(r#"{"running": true}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = wait_for(&app, |s| hold(s).contains("circulation")).await;
    assert!(hold(&s).contains("circulation pump is not running"), "{s}");
    assert_eq!(power(&s), 0.0, "{s}");
    // The simulated pump starts: the cold pool heats.
    line.set(true);
    let s = wait_for(&app, |s| power(s) > 0.0).await;
    assert!(
        power(&s) > 0.0,
        "the cold pool heats once the line says running: {s}"
    );
    assert!(!hold(&s).contains("circulation"), "{s}");
    // It stops again: held again, whatever the API said.
    line.set(false);
    let s = wait_for(&app, |s| hold(s).contains("circulation")).await;
    assert!(hold(&s).contains("circulation pump is not running"), "{s}");
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_circulation_endpoint_stops_and_resumes_the_pools_heat_at_run_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut raw = Config::sim_default();
    raw.zones[0].kind = hearth_control::ZoneKind::Pool;
    raw.zones[0].setpoint_c = 28.0;
    raw.zones[0].sim.circulation_running = true;
    raw.zones[0].circulation_gpio = Some(hearth::circulation_input::CirculationGpioConfig {
        chip: "/dev/gpiochip0".into(),
        line: 17,
        active_low: false,
    });
    let mut opts = options(dir.path());
    opts.config = raw.validate().expect("a pool config");
    opts.config.raw.daemon.tick_ms = 100;
    let daemon = Daemon::build(&opts).expect("build");
    let shared = daemon.shared.clone();
    let app = router(shared.clone());
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(daemon.control_loop(rx));
    let hold = |s: &Value| {
        s["zones"][0]["hold_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let power = |s: &Value| s["zones"][0]["power_w"].as_f64().unwrap_or(0.0);
    async fn wait_for(app: &axum::Router, want: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = call(app, "GET", "/api/v1/status", None).await.1;
            if want(&last) {
                break;
            }
        }
        last
    }
    let put = |body: &'static str| {
        let app = app.clone();
        async move {
            call(
                &app,
                "PUT",
                "/api/v1/sim/zones/living-room/circulation",
                Some(body),
            )
            .await
        }
    };
    // Running from the start: the cold pool heats.
    let s = wait_for(&app, |s| power(s) > 0.0).await;
    assert!(power(&s) > 0.0, "{s}");
    // The pump stops (over HTTP, as its contact would): the pool stops heating.
    let (code, json) = put(r#"{"running": false}"#).await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["running"], false);
    let s = wait_for(&app, |s| hold(s).contains("circulation") && power(s) == 0.0).await;
    assert!(hold(&s).contains("circulation pump is not running"), "{s}");
    assert_eq!(power(&s), 0.0, "{s}");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert!(
        c["circulation_inputs"]["living-room"]["input"]
            .as_str()
            .unwrap_or_default()
            .contains("simulated"),
        "{c}"
    );
    // It runs again: the pool resumes.
    let (code, _) = put(r#"{"running": true}"#).await;
    assert_eq!(code, StatusCode::OK);
    let s = wait_for(&app, |s| power(s) > 0.0).await;
    assert!(power(&s) > 0.0, "the pool resumes: {s}");
    assert!(!hold(&s).contains("circulation"), "{s}");
    // Bad bodies and unknown zones are refused and change nothing.
    for (body, want) in [
        (r#"{"running": "yes"}"#, StatusCode::BAD_REQUEST),
        (r#"{"running": true, "x": 1}"#, StatusCode::BAD_REQUEST),
        (r#"{}"#, StatusCode::BAD_REQUEST),
    ] {
        let (code, json) = put(body).await;
        assert_eq!(code, want, "{body}: {json}");
    }
    let (code, _) = call(
        &app,
        "PUT",
        "/api/v1/sim/zones/attic/circulation",
        Some(r#"{"running": false}"#),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let s = wait_for(&app, |s| power(s) > 0.0).await;
    assert!(power(&s) > 0.0, "still heating after the refusals: {s}");
    stop(tx, handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_without_a_simulated_circulation_line_refuses_the_sim_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/sim/zones/living-room/circulation",
        Some(r#"{"running": true}"#),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        error_of(&json).contains("no simulated circulation line"),
        "{json}"
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

/// Polls `GET /api/v1/control` until the decision's rule is `rule`.
async fn decision_until(app: &axum::Router, rule: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, c) = call(app, "GET", "/api/v1/control", None).await;
        if c["decision"]["rule"] == rule {
            return c;
        }
        last = c;
    }
    panic!("the decision never became {rule}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_strategies_reach_the_decision_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    for (uri, body) in [
        (
            "/api/v1/control/economics",
            r#"{"heat_pump_cop": [[-20, 1.6], [-7, 2.5], [7, 4.5]], "hashprice_per_th_day": 0.04}"#,
        ),
        ("/api/v1/control/house", r#"{"outdoor_c": 2}"#),
    ] {
        let (code, json) = call(&app, "PUT", uri, Some(body)).await;
        assert_eq!(code, StatusCode::OK, "{uri}: {json}");
    }
    // The heat pump is the cheaper heat here: economic makes the miner backup.
    decision_until(&app, "economic_heat_pump").await;
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/policy",
        Some(r#"{"strategy": "miner_first"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["strategy"], "miner_first");
    let c = decision_until(&app, "miner_first").await;
    assert_eq!(c["decision"]["miner"], "primary", "{c}");
    assert_eq!(c["settings"]["policy"]["strategy"], "miner_first");
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/policy",
        Some(r#"{"strategy": "pv_only"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let c = decision_until(&app, "pv_only").await;
    assert_eq!(c["decision"]["miner"], "off", "no PV surplus: {c}");

    for (body, reason) in [
        (r#"{"strategy": "cheapest"}"#, "unknown variant"),
        (r#"{"strategy": "pv_only", "pv_soak": false}"#, "pv_only"),
    ] {
        let (code, json) = call(&app, "PUT", "/api/v1/control/policy", Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert!(error_of(&json).contains(reason), "{body}: {json}");
    }
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["settings"]["policy"]["strategy"], "pv_only", "unchanged");
    assert_eq!(c["settings"]["policy"]["pv_soak"], true, "unchanged");
    stop(tx, handle).await;
}

/// `PUT /api/v1/control/policy` is a partial update: keys left out keep
/// their current values (also across a restart), a bad key is refused with
/// its name and nothing changes, and a full object (what the web page and
/// MQTT send) still replaces everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_policy_update_keeps_the_other_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, tx, handle) = running(dir.path()).await;
    let put = |body: &'static str| {
        let app = app.clone();
        async move { call(&app, "PUT", "/api/v1/control/policy", Some(body)).await }
    };
    let (code, json) =
        put(r#"{"balance_point_c": -8, "pv_start_w": 1200, "pv_stop_w": 200}"#).await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    let before = c["settings"]["policy"].clone();
    assert_eq!(before["balance_point_c"], -8.0);

    // One key: only that key changes, in the answer and in force.
    let (code, json) = put(r#"{"pv_delay_s": 120}"#).await;
    assert_eq!(code, StatusCode::OK, "{json}");
    let mut expected = before.clone();
    expected["pv_delay_s"] = 120.into();
    assert_eq!(json, expected);
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["settings"]["policy"], expected);

    // Bad bodies: refused naming the key, nothing changed.
    for (body, key) in [
        (r#"{"pv_delay_s": 60, "pv_start_w": "lots"}"#, "pv_start_w"),
        (r#"{"pv_delay_s": 60, "colour": 1}"#, "colour"),
        // Valid alone, invalid with the start threshold in force (1200 W).
        (r#"{"pv_delay_s": 60, "pv_stop_w": 1500}"#, "pv_stop_w"),
        (r#"[1, 2]"#, "object"),
    ] {
        let (code, json) = put(body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert!(error_of(&json).contains(key), "{body}: {json}");
    }
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["settings"]["policy"], expected, "unchanged");

    // A full object, as the web page and MQTT send: replaces everything.
    let mut full: Value =
        serde_json::to_value(hearth_control::PolicySettings::default()).expect("json");
    full["economic_min_dwell_s"] = 900.into();
    let body: &'static str = Box::leak(full.to_string().into_boxed_str());
    let (code, json) = put(body).await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json, full);
    stop(tx, handle).await;

    // What was kept is what a restart reads back.
    let (app, tx, handle) = running(dir.path()).await;
    let (_, c) = call(&app, "GET", "/api/v1/control", None).await;
    assert_eq!(c["settings"]["policy"], full);
    stop(tx, handle).await;
}
