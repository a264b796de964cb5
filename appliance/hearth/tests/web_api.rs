#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The served application (API + auth layer + web app) against a daemon
//! built on the simulator with real database files: every endpoint, logged
//! in and not, and its refusals (which must change nothing).

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use hearth::web::{self, Auth, WebConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower::ServiceExt;

const PASSWORD: &str = "a long owner password";

struct Running {
    app: Router,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(dir: &Path, web_config: WebConfig) -> Running {
        let mut config = Config::sim_default().validate().expect("default config");
        config.raw.daemon.tick_ms = 100;
        let opts = RunOptions {
            config,
            simulate: true,
            data_dir: dir.to_path_buf(),
            http: "127.0.0.1:0".parse().expect("addr"),
            speed: Some(100.0),
        };
        let daemon = Daemon::build(&opts).expect("build");
        let auth = Auth::open(dir, &web_config).expect("auth");
        let app = web::app(daemon.shared.clone(), Arc::new(auth));
        let (stop, rx) = watch::channel(false);
        let handle = tokio::spawn(daemon.control_loop(rx));
        let r = Running { app, stop, handle };
        for _ in 0..100 {
            if r.call("GET", "/health", &[], None).await.0 == StatusCode::OK {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("daemon never became healthy");
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let (code, h, bytes) = self.raw(method, uri, headers, body).await;
        (
            code,
            h,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let resp = self.send(method, uri, headers, body).await;
        let code = resp.status();
        let h = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (code, h, bytes.to_vec())
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> axum::response::Response {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        self.app.clone().oneshot(req).await.expect("response")
    }

    async fn setpoint(&self, auth: &[(&str, &str)]) -> f64 {
        let (code, _, s) = self.call("GET", "/api/v1/status", auth, None).await;
        assert_eq!(code, StatusCode::OK, "{s}");
        s["zones"][0]["setpoint_c"].as_f64().expect("setpoint")
    }

    async fn finish(self) {
        self.stop.send(true).expect("stop");
        self.handle.await.expect("loop ends");
    }
}

fn cookie_of(h: &HeaderMap) -> String {
    let c = h
        .get("set-cookie")
        .expect("set-cookie")
        .to_str()
        .expect("ascii");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    c.split(';').next().expect("pair").to_string()
}

/// Sets the owner password and returns the session cookie pair.
async fn setup(r: &Running) -> String {
    let body = format!(r#"{{"password": "{PASSWORD}"}}"#);
    let (code, h, v) = r.call("POST", "/api/v1/auth/setup", &[], Some(&body)).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    cookie_of(&h)
}

async fn bearer(r: &Running, cookie: &str) -> String {
    let (code, _, v) = r
        .call(
            "POST",
            "/api/v1/auth/tokens",
            &[("cookie", cookie), ("x-requested-with", "hearth")],
            Some(r#"{"name": "script"}"#),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    format!("Bearer {}", v["token"].as_str().expect("token"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_setup_then_sessions_guard_every_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let (_, _, st) = r.call("GET", "/api/v1/auth/state", &[], None).await;
    assert_eq!(st["owner_set"], false);
    assert_eq!(st["authenticated"], false);

    // Before setup: data and writes are refused, logging in is impossible.
    let (code, _, v) = r.call("GET", "/api/v1/status", &[], None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("set the owner password"));
    let put = r#"{"setpoint_c": 23.0}"#;
    let uri = "/api/v1/zones/living-room/setpoint";
    assert_eq!(
        r.call("PUT", uri, &[], Some(put)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let login = format!(r#"{{"password": "{PASSWORD}"}}"#);
    let (code, _, _) = r
        .call("POST", "/api/v1/auth/login", &[], Some(&login))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);

    // Setup refuses weak, overlong and malformed passwords.
    for (body, why) in [
        (r#"{"password": "short"}"#, "at least 8"),
        (
            &*format!(r#"{{"password": "{}"}}"#, "x".repeat(257)),
            "at most 256",
        ),
        (r#"{"password": 12345678}"#, "invalid JSON"),
        (
            r#"{"password": "long enough", "admin": true}"#,
            "invalid JSON",
        ),
    ] {
        let (code, _, v) = r.call("POST", "/api/v1/auth/setup", &[], Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["error"].as_str().unwrap().contains(why), "{v}");
    }
    let cookie = setup(&r).await;
    let (code, _, _) = r
        .call(
            "POST",
            "/api/v1/auth/setup",
            &[],
            Some(r#"{"password": "another password"}"#),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "setup only once");

    let session = [("cookie", cookie.as_str()), ("x-requested-with", "hearth")];
    let (_, _, st) = r.call("GET", "/api/v1/auth/state", &session, None).await;
    assert_eq!(st["owner_set"], true);
    assert_eq!(st["via"], "session");
    assert_eq!(r.setpoint(&session).await, 21.0);

    // A cookie without the page's header cannot write (cross-site forgery).
    let (code, _, _) = r
        .call("PUT", uri, &[("cookie", cookie.as_str())], Some(put))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        r.setpoint(&session).await,
        21.0,
        "refused write changed nothing"
    );
    let (code, _, v) = r.call("PUT", uri, &session, Some(put)).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["setpoint_c"], 23.0);

    // A forged or unknown cookie is nobody.
    let forged = [
        ("cookie", "hearth_session=00ff"),
        ("x-requested-with", "hearth"),
    ];
    assert_eq!(
        r.call("PUT", uri, &forged, Some(put)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Wrong password; then log in again with the right one.
    let (code, _, v) = r
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(r#"{"password": "wrong password"}"#),
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{v}");
    let (code, h, _) = r
        .call("POST", "/api/v1/auth/login", &[], Some(&login))
        .await;
    assert_eq!(code, StatusCode::OK);
    let second = cookie_of(&h);
    assert_ne!(second, cookie);

    // Logout ends that session only.
    let (code, _, _) = r
        .call(
            "POST",
            "/api/v1/auth/logout",
            &[("cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "the page's header is needed here too"
    );
    let (code, h, _) = r
        .call(
            "POST",
            "/api/v1/auth/logout",
            &[("cookie", cookie.as_str()), ("x-requested-with", "hearth")],
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(h["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(
        r.call(
            "GET",
            "/api/v1/status",
            &[("cookie", cookie.as_str())],
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        r.call(
            "GET",
            "/api/v1/status",
            &[("cookie", second.as_str())],
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let cookie = setup(&r).await;
    let token = bearer(&r, &cookie).await;
    let auth = [("authorization", token.as_str())];

    // (method, uri, body, expected status, substring of the error or body)
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("GET", "/health", None, 200, "ok"),
        ("GET", "/api/v1/status", None, 200, "living-room"),
        (
            "GET",
            "/api/v1/zones/living-room/history?hours=1",
            None,
            200,
            "setpoint_c",
        ),
        (
            "GET",
            "/api/v1/zones/living-room/history?hours=0",
            None,
            400,
            "hours",
        ),
        (
            "GET",
            "/api/v1/zones/living-room/history?hours=x",
            None,
            400,
            "invalid query",
        ),
        ("GET", "/api/v1/zones/attic/history", None, 404, "attic"),
        ("GET", "/api/v1/events?limit=5", None, 200, ""),
        ("GET", "/api/v1/events?limit=0", None, 400, "limit"),
        (
            "GET",
            "/api/v1/events?limit=5&x=1",
            None,
            400,
            "invalid query",
        ),
        (
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            Some(r#"{"setpoint_c": 99}"#),
            400,
            "outside",
        ),
        (
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            Some(r#"{"setpoint_c": 21.55}"#),
            400,
            "0.1",
        ),
        (
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            Some("{"),
            400,
            "invalid JSON",
        ),
        (
            "PUT",
            "/api/v1/zones/attic/setpoint",
            Some(r#"{"setpoint_c": 20}"#),
            404,
            "attic",
        ),
        (
            "PUT",
            "/api/v1/zones/living-room/mode",
            Some(r#"{"mode": "turbo"}"#),
            400,
            "invalid JSON",
        ),
        (
            "PUT",
            "/api/v1/zones/attic/mode",
            Some(r#"{"mode": "off"}"#),
            404,
            "attic",
        ),
        ("GET", "/api/v1/auth/state", None, 200, "token"),
        ("GET", "/api/v1/auth/tokens", None, 200, "script"),
        (
            "POST",
            "/api/v1/auth/tokens",
            Some(r#"{"name": ""}"#),
            400,
            "1 to 64",
        ),
        (
            "POST",
            "/api/v1/auth/tokens",
            Some(r#"{"name": "a\u0007b"}"#),
            400,
            "control",
        ),
        ("DELETE", "/api/v1/auth/tokens/abc", None, 400, "integer"),
        ("DELETE", "/api/v1/auth/tokens/999", None, 404, "999"),
        (
            "PUT",
            "/api/v1/auth/password",
            Some(r#"{"current_password": "wrong password", "new_password": "new password ok"}"#),
            401,
            "current",
        ),
        (
            "PUT",
            "/api/v1/auth/password",
            Some(r#"{"current_password": "x", "new_password": "short"}"#),
            400,
            "at least 8",
        ),
        ("GET", "/api/v1/openapi.json", None, 200, "openapi"),
        ("GET", "/assets/nope.js", None, 404, "nope"),
    ];
    let huge = format!(r#"{{"password": "{}"}}"#, "x".repeat(20 * 1024));
    let (code, _, v) = r.call("POST", "/api/v1/auth/login", &[], Some(&huge)).await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "bodies are bounded on auth routes too"
    );
    assert!(v["error"].as_str().unwrap().contains("length limit"), "{v}");
    for (method, uri, body, want, needle) in cases {
        let (code, _, bytes) = r.raw(method, uri, &auth, *body).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(code.as_u16(), *want, "{method} {uri}: {text}");
        assert!(
            text.contains(needle),
            "{method} {uri}: {text} lacks {needle:?}"
        );
        // Every refusal is JSON with a reason.
        if *want >= 400 {
            let v: Value = serde_json::from_slice(&bytes).expect("JSON error");
            assert!(v["error"].is_string(), "{method} {uri}: {text}");
        }
    }
    // None of the refusals changed the zone.
    let (_, _, s) = r.call("GET", "/api/v1/status", &auth, None).await;
    assert_eq!(s["zones"][0]["setpoint_c"], 21.0);
    assert_eq!(s["zones"][0]["mode"], "heat");

    // And the writes that are valid work with the bearer token.
    let (code, _, v) = r
        .call(
            "PUT",
            "/api/v1/zones/living-room/mode",
            &auth,
            Some(r#"{"mode": "off"}"#),
        )
        .await;
    assert_eq!((code, v["mode"].as_str()), (StatusCode::OK, Some("off")));
    let (code, _, v) = r
        .call(
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            &auth,
            Some(r#"{"setpoint_c": 19.5}"#),
        )
        .await;
    assert_eq!(
        (code, v["setpoint_c"].as_f64()),
        (StatusCode::OK, Some(19.5))
    );

    // Without credentials each of those is 401.
    for (method, uri) in [
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/zones/living-room/history"),
        ("GET", "/api/v1/stream"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/tokens"),
        ("DELETE", "/api/v1/auth/tokens/1"),
        ("PUT", "/api/v1/auth/password"),
        ("PUT", "/api/v1/zones/living-room/setpoint"),
        ("PUT", "/api/v1/zones/living-room/mode"),
        ("POST", "/api/v1/route-added-by-someone-later"),
    ] {
        let (code, _, _) = r.call(method, uri, &[], Some("{}")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_listed_without_secrets_revoked_and_persisted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let cookie = setup(&r).await;
    let token = bearer(&r, &cookie).await;
    let auth = [("authorization", token.as_str())];
    let (_, _, list) = r.call("GET", "/api/v1/auth/tokens", &auth, None).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "script");
    assert!(
        list[0].get("token").is_none(),
        "the secret is shown once only"
    );
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(
        r.call(
            "GET",
            "/api/v1/status",
            &[("authorization", "Bearer hth_nope")],
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    r.finish().await;

    // Tokens survive a restart (the auth database is a file); sessions do not.
    let r = Running::start(dir.path(), WebConfig::default()).await;
    assert_eq!(
        r.call("GET", "/api/v1/status", &auth, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        r.call(
            "GET",
            "/api/v1/status",
            &[("cookie", cookie.as_str())],
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (code, _, _) = r
        .call("DELETE", &format!("/api/v1/auth/tokens/{id}"), &auth, None)
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    assert_eq!(
        r.call("GET", "/api/v1/status", &auth, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let _ = setup(&r).await;
    let wrong = r#"{"password": "not the password"}"#;
    for _ in 0..web::auth::MAX_FAILURES_PER_CLIENT {
        let (code, _, _) = r.call("POST", "/api/v1/auth/login", &[], Some(wrong)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is turned away until the window passes.
    let right = format!(r#"{{"password": "{PASSWORD}"}}"#);
    let (code, h, v) = r
        .call("POST", "/api/v1/auth/login", &[], Some(&right))
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(h.get("set-cookie").is_none());
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let cookie = setup(&r).await;
    let session = [("cookie", cookie.as_str()), ("x-requested-with", "hearth")];
    let body =
        format!(r#"{{"current_password": "{PASSWORD}", "new_password": "the new password"}}"#);
    let (code, h, v) = r
        .call("PUT", "/api/v1/auth/password", &session, Some(&body))
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let fresh = cookie_of(&h);
    assert_eq!(
        r.call("GET", "/api/v1/status", &session, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        r.call("GET", "/api/v1/status", &[("cookie", fresh.as_str())], None)
            .await
            .0,
        StatusCode::OK
    );
    let old = format!(r#"{{"password": "{PASSWORD}"}}"#);
    assert_eq!(
        r.call("POST", "/api/v1/auth/login", &[], Some(&old))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let new = r#"{"password": "the new password"}"#;
    assert_eq!(
        r.call("POST", "/api/v1/auth/login", &[], Some(new)).await.0,
        StatusCode::OK
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_opens_reads_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = WebConfig {
        public_read: true,
        ..WebConfig::default()
    };
    let r = Running::start(dir.path(), cfg).await;
    let _ = setup(&r).await;
    for uri in [
        "/api/v1/status",
        "/api/v1/events",
        "/metrics",
        "/api/v1/zones/living-room/history",
    ] {
        assert_eq!(
            r.call("GET", uri, &[], None).await.0,
            StatusCode::OK,
            "{uri}"
        );
    }
    assert_eq!(
        r.call("GET", "/api/v1/auth/tokens", &[], None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (code, _, _) = r
        .call(
            "PUT",
            "/api/v1/zones/living-room/setpoint",
            &[],
            Some(r#"{"setpoint_c": 22}"#),
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (_, _, st) = r.call("GET", "/api/v1/auth/state", &[], None).await;
    assert_eq!(
        (st["public_read"].as_bool(), st["authenticated"].as_bool()),
        (Some(true), Some(false))
    );
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_can_provide_the_owner_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owner-password");
    std::fs::write(&file, "installer password\n").unwrap();
    let cfg = WebConfig {
        owner_password_file: Some(file.clone()),
        ..WebConfig::default()
    };
    let r = Running::start(dir.path(), cfg.clone()).await;
    let (_, _, st) = r.call("GET", "/api/v1/auth/state", &[], None).await;
    assert_eq!(st["owner_set"], true);
    assert!(
        !file.exists(),
        "the clear-text file is deleted once its hash is stored"
    );
    let (code, _, _) = r
        .call(
            "POST",
            "/api/v1/auth/setup",
            &[],
            Some(r#"{"password": "someone else"}"#),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "nobody can claim an installed appliance"
    );
    let (code, _, _) = r
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(r#"{"password": "installer password"}"#),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    r.finish().await;

    // A too-short provided password is refused at start, with the reason.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let short = dir2.path().join("pw");
    std::fs::write(&short, "short\n").unwrap();
    let err = Auth::open(
        dir2.path(),
        &WebConfig {
            owner_password_file: Some(short),
            ..WebConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 8"), "{err}");
    assert!(
        dir2.path().join("pw").exists(),
        "a refused file is left for the owner to fix"
    );
    // A named file that is absent (the image names one and writes it only
    // when the owner gave a password): setup stays with the page.
    let dir3 = tempfile::tempdir().expect("tempdir");
    let auth = Auth::open(
        dir3.path(),
        &WebConfig {
            owner_password_file: Some(dir3.path().join("not-written")),
            ..WebConfig::default()
        },
    )
    .unwrap();
    assert!(!auth.owner_set());
    // And the config refuses a relative path or a silly session length.
    let text = "[web]\nowner_password_file = \"pw.txt\"\n";
    let e = Config::from_toml(text, Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("web.owner_password_file"), "{e}");
    let e = Config::from_toml("[web]\nsession_hours = 0\n", Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("web.session_hours"), "{e}");
    let e = Config::from_toml("[web]\npublic = true\n", Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("public"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_and_count_energy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let cookie = setup(&r).await;
    let token = bearer(&r, &cookie).await;
    let auth = [("authorization", token.as_str())];
    let mut energy = 0.0;
    let mut text = String::new();
    for _ in 0..100 {
        let (code, h, bytes) = r.raw("GET", "/metrics", &auth, None).await;
        assert_eq!(code, StatusCode::OK);
        assert!(h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        text = String::from_utf8(bytes).unwrap();
        energy = text
            .lines()
            .find_map(|l| l.strip_prefix("hearth_board_energy_joules_total{board=\"board-0\"} "))
            .map_or(0.0, |v| v.parse().unwrap());
        if energy > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(energy > 0.0, "energy counted:\n{text}");
    for needle in [
        "hearth_up 1\n",
        "hearth_zone_setpoint_celsius{zone=\"living-room\"} 21\n",
        "hearth_zone_temperature_celsius{zone=\"living-room\"} ",
        "hearth_board_power_watts{board=\"board-0\",zone=\"living-room\"} ",
        "hearth_board_hashrate_gigahashes_per_second{board=\"board-0\",zone=\"living-room\"} ",
        "hearth_board_trips_total{board=\"board-0\"} 0\n",
        "hearth_zone_rule_info{zone=\"living-room\",rule=\"controller\",reason=\"\"} 1\n",
        "# TYPE hearth_board_energy_joules_total counter\n",
        "hearth_zone_mode{zone=\"living-room\",mode=\"auto\"} 0\n",
        "hearth_policy_rule_info{rule=\"no_heat_pump\",miner=\"primary\",reason=\"",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_status_events_and_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let cookie = setup(&r).await;
    let token = bearer(&r, &cookie).await;
    let auth = [("authorization", token.as_str())];
    let resp = r.send("GET", "/api/v1/stream", &auth, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut seen = String::new();
    let mut times = Vec::new();
    while times.len() < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("stream open")
            .expect("frame");
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
        while let Some(end) = seen.find("\n\n") {
            let event: String = seen.drain(..end + 2).collect();
            assert!(event.starts_with("event: status\n"), "{event}");
            let json = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("data");
            let s: Value = serde_json::from_str(json).expect("status JSON");
            assert_eq!(s["zones"][0]["id"], "living-room");
            times.push(s["time_ms"].as_u64().unwrap());
        }
    }
    assert!(
        times[1] > times[0],
        "each event is a newer snapshot: {times:?}"
    );
    drop(body);

    // At most MAX_STREAMS at once.
    let mut open = Vec::new();
    for _ in 0..web::stream::MAX_STREAMS {
        let resp = r.send("GET", "/api/v1/stream", &auth, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        open.push(resp);
    }
    let (code, _, v) = r.call("GET", "/api/v1/stream", &auth, None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    drop(open);
    let resp = r.send("GET", "/api/v1/stream", &auth, None).await;
    assert_eq!(resp.status(), StatusCode::OK, "slots come back");
    drop(resp);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_embedded_and_public() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Running::start(dir.path(), WebConfig::default()).await;
    let (code, h, bytes) = r.raw("GET", "/", &[], None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.contains(r#"<script src="/assets/app.js""#));
    assert!(html.contains("width=device-width"), "phone viewport");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from the internet"
    );
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
        ("manifest.webmanifest", "application/manifest+json"),
    ] {
        let (code, h, bytes) = r.raw("GET", &format!("/assets/{file}"), &[], None).await;
        assert_eq!(code, StatusCode::OK, "{file}");
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{file}"
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            !text.contains("https://"),
            "{file} loads nothing from elsewhere"
        );
    }
    r.finish().await;
}
