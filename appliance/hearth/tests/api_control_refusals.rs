#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Refusals of the control endpoints not covered by tests/api_control.rs,
//! through the served app with its auth layer: without the owner every
//! write is 401 and changes nothing; an unknown zone is 404 on every
//! per-zone route; bad circulation/window/site/economics bodies are 400
//! with a reason and change nothing.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
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

/// A built daemon (no control loop needed: every refusal happens before
/// anything would be applied) behind the real auth layer, and a token.
async fn served(dir: &std::path::Path) -> (axum::Router, String) {
    let config = Config::sim_default().validate().expect("config");
    let opts = RunOptions {
        config,
        simulate: true,
        data_dir: dir.to_path_buf(),
        http: "127.0.0.1:0".parse().expect("addr"),
        speed: Some(100.0),
    };
    let daemon = Daemon::build(&opts).expect("build");
    let auth = hearth::web::Auth::open(dir, &hearth::web::WebConfig::default()).expect("auth");
    assert!(auth.setup("correct horse battery").await.expect("owner"));
    let (_, token) = auth.create_token("refusal test").expect("token");
    (
        hearth::web::app(daemon.shared.clone(), Arc::new(auth)),
        token,
    )
}

const WRITES: &[(&str, &str)] = &[
    ("/api/v1/control/policy", r#"{"balance_point_c": 5}"#),
    (
        "/api/v1/control/economics",
        r#"{"hashprice_per_th_day": 0.07}"#,
    ),
    ("/api/v1/control/site", r#"{"power_limit_w": 500}"#),
    ("/api/v1/control/house", r#"{"outdoor_c": 3}"#),
    (
        "/api/v1/zones/living-room/schedule",
        r#"[{"at": "06:30", "setpoint_c": 21}]"#,
    ),
    ("/api/v1/zones/living-room/preset", r#"{"preset": "eco"}"#),
    (
        "/api/v1/zones/living-room/presets",
        r#"{"comfort_c": 22, "eco_c": 19, "away_c": 16, "boost_c": 24, "frost_c": 7}"#,
    ),
    ("/api/v1/zones/living-room/window", r#"{"open": true}"#),
    (
        "/api/v1/zones/living-room/circulation",
        r#"{"running": true}"#,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_writes_need_the_owner_and_change_nothing_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, token) = served(dir.path()).await;
    let (_, before) = call(&app, "GET", "/api/v1/control", Some(&token), None).await;
    let (_, presets_before) = call(
        &app,
        "GET",
        "/api/v1/zones/living-room/presets",
        Some(&token),
        None,
    )
    .await;
    for (uri, body) in WRITES {
        let (code, _) = call(&app, "PUT", uri, None, Some(body)).await;
        assert_eq!(
            code,
            StatusCode::UNAUTHORIZED,
            "PUT {uri} without the owner"
        );
        let (code, _) = call(&app, "PUT", uri, Some("not-a-token"), Some(body)).await;
        assert_eq!(
            code,
            StatusCode::UNAUTHORIZED,
            "PUT {uri} with a wrong token"
        );
    }
    // Reads are private too unless web.public_read.
    for uri in ["/api/v1/control", "/api/v1/zones/living-room/schedule"] {
        let (code, _) = call(&app, "GET", uri, None, None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "GET {uri}");
    }
    let (_, after) = call(&app, "GET", "/api/v1/control", Some(&token), None).await;
    assert_eq!(before["settings"], after["settings"], "settings unchanged");
    assert_eq!(before["house"], after["house"], "house inputs unchanged");
    let (_, presets_after) = call(
        &app,
        "GET",
        "/api/v1/zones/living-room/presets",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(presets_before, presets_after);
    assert!(!dir.path().join("control.json").exists(), "nothing written");
    // The same writes with the owner's token go through: the 401s above
    // were the guard, not a broken route.
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/control/site",
        Some(&token),
        Some(r#"{"power_limit_w": 500}"#),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["power_limit_w"], 500.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_zones_are_404_on_every_zone_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, token) = served(dir.path()).await;
    let t = Some(token.as_str());
    for uri in [
        "/api/v1/zones/attic/schedule",
        "/api/v1/zones/attic/presets",
    ] {
        let (code, json) = call(&app, "GET", uri, t, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "GET {uri}: {json}");
        assert!(json["error"].as_str().unwrap().contains("attic"), "{json}");
    }
    for (uri, body) in WRITES {
        let Some(rest) = uri.strip_prefix("/api/v1/zones/living-room/") else {
            continue;
        };
        let uri = format!("/api/v1/zones/attic/{rest}");
        let (code, json) = call(&app, "PUT", &uri, t, Some(body)).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "PUT {uri}: {json}");
        assert!(json["error"].as_str().unwrap().contains("attic"), "{json}");
    }
    assert!(!dir.path().join("control.json").exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_not_covered_elsewhere_are_400_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, token) = served(dir.path()).await;
    let t = Some(token.as_str());
    let (_, before) = call(&app, "GET", "/api/v1/control", t, None).await;
    let refused = [
        (
            "/api/v1/zones/living-room/circulation",
            r#"{"running": "on"}"#,
            "invalid type",
        ),
        (
            "/api/v1/zones/living-room/circulation",
            r#"{"pump": true}"#,
            "unknown field",
        ),
        (
            "/api/v1/zones/living-room/window",
            r#"{"open": true, "tilted": true}"#,
            "unknown field",
        ),
        (
            "/api/v1/control/site",
            r#"{"power_limit_w": 2000000}"#,
            "power_limit_w",
        ),
        (
            "/api/v1/control/economics",
            r#"{"carbon": 1}"#,
            "unknown field",
        ),
        (
            "/api/v1/control/house",
            r#"{"pv_surplus_w": -1}"#,
            "pv_surplus_w",
        ),
        (
            "/api/v1/control/house",
            r#"{"heat_pump": "defrost"}"#,
            "unknown variant",
        ),
        (
            "/api/v1/zones/living-room/schedule",
            r#"{"at": "06:00"}"#,
            "invalid",
        ),
        (
            "/api/v1/zones/living-room/schedule",
            r#"[{"at": "6:30", "setpoint_c": 21}]"#,
            "time of day",
        ),
        (
            "/api/v1/zones/living-room/presets",
            r#"{"comfort_c": 21}"#,
            "missing field",
        ),
        (
            "/api/v1/zones/living-room/preset",
            "not json",
            "invalid JSON",
        ),
    ];
    for (uri, body, reason) in refused {
        let (code, json) = call(&app, "PUT", uri, t, Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri} {body}: {json}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{uri} {body}: {json}");
    }
    let too_many: Vec<String> = (0..65)
        .map(|i| {
            format!(
                r#"{{"at": "{:02}:{:02}", "setpoint_c": 20}}"#,
                i / 60,
                i % 60
            )
        })
        .collect();
    let (code, json) = call(
        &app,
        "PUT",
        "/api/v1/zones/living-room/schedule",
        t,
        Some(&format!("[{}]", too_many.join(","))),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("at most 64"),
        "{json}"
    );
    let (_, after) = call(&app, "GET", "/api/v1/control", t, None).await;
    assert_eq!(before["settings"], after["settings"], "nothing changed");
    assert_eq!(before["house"], after["house"], "house inputs unchanged");
    assert!(!dir.path().join("control.json").exists(), "nothing written");
}
