#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The OpenAPI document matches the routes: every `.route("...", ...)` in
//! the daemon's source is documented with the same methods, and every
//! documented operation is routed in the served app. A route someone adds
//! later without documenting it fails here.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth::web::openapi::ApiDoc;
use http_body_util::BodyExt;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tower::ServiceExt;
use utoipa::OpenApi;

const METHODS: &[&str] = &["get", "post", "put", "delete", "patch", "head", "options"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(path, methods)` of every `.route("<path>", <method router>)` call.
fn routes_in(source: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        let Some(lit) = trimmed.strip_prefix('"') else {
            panic!(
                "a .route( call whose path is not a string literal; this check needs literals: {}",
                &trimmed[..trimmed.len().min(80)]
            );
        };
        let end = lit.find('"').expect("closing quote");
        let path = lit[..end].to_string();
        // The method router: up to the `.route(` call's closing parenthesis.
        let after = &lit[end + 1..];
        let mut depth = 1usize;
        let mut stop = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        stop = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let router = &after[..stop];
        let mut methods = BTreeSet::new();
        for m in METHODS {
            let needle = format!("{m}(");
            let mut from = 0;
            while let Some(i) = router[from..].find(&needle) {
                let i = from + i;
                let before = router[..i].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    methods.insert((*m).to_string());
                }
                from = i + needle.len();
            }
        }
        assert!(
            !router.contains("any("),
            "{path}: `any` routes cannot be documented per method"
        );
        assert!(!methods.is_empty(), "{path}: no method found in {router:?}");
        out.push((path, methods));
    }
    out
}

fn routed() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut all: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Not the daemon's API: the in-process fake bitcoind (tests and --sim)
    // answers JSON-RPC on its own port, as a real node would.
    let not_served = [Path::new("node").join("fake.rs")];
    for f in files {
        if not_served.iter().any(|n| f.ends_with(n)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        for (path, methods) in routes_in(&text) {
            all.entry(path).or_default().extend(methods);
        }
    }
    all
}

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, ops)| {
            let methods = ops
                .as_object()
                .expect("operations")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[test]
fn the_scanner_finds_methods() {
    let src = r#"Router::new().route("/a", get(x).post(y)).route(
        "/b/{id}",
        axum::routing::delete(z),
    ).route("/c", put(budget_get(1)))"#;
    let r = routes_in(src);
    assert_eq!(
        r[0],
        ("/a".into(), ["get", "post"].map(String::from).into())
    );
    assert_eq!(
        r[1],
        ("/b/{id}".into(), ["delete"].map(String::from).into())
    );
    assert_eq!(r[2], ("/c".into(), ["put"].map(String::from).into()));
}

#[test]
fn every_route_in_the_source_is_documented() {
    let routed = routed();
    let documented = documented();
    assert!(routed.len() >= 18, "scanner found the routes: {routed:?}");
    let mut missing = Vec::new();
    for (path, methods) in &routed {
        let doc = documented.get(path).cloned().unwrap_or_default();
        for m in methods.difference(&doc) {
            missing.push(format!("{} {path}", m.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] \
         and list it in web/openapi.rs): {missing:?}"
    );
    let mut stale = Vec::new();
    for (path, methods) in &documented {
        let r = routed.get(path).cloned().unwrap_or_default();
        for m in methods.difference(&r) {
            stale.push(format!("{} {path}", m.to_uppercase()));
        }
    }
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
}

/// The document's operations answer in the served app: never the router's
/// own 404 (empty body) or 405 (no such method).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = hearth::config::Config::sim_default()
        .validate()
        .expect("config");
    let opts = hearth::daemon::RunOptions {
        config,
        simulate: true,
        data_dir: dir.path().to_path_buf(),
        http: "127.0.0.1:0".parse().expect("addr"),
        speed: Some(100.0),
    };
    let daemon = hearth::daemon::Daemon::build(&opts).expect("build");
    let auth =
        hearth::web::Auth::open(dir.path(), &hearth::web::WebConfig::default()).expect("auth");
    let (_, token) = auth.create_token("openapi test").expect("token");
    let app = hearth::web::app(daemon.shared.clone(), std::sync::Arc::new(auth));
    for (path, methods) in documented() {
        let uri = path
            .replace("{id}", "living-room")
            .replace("{file}", "app.js");
        for m in methods {
            if uri == "/api/v1/stream" {
                continue; // endless by design; covered in tests/web_api.rs
            }
            let req = Request::builder()
                .method(m.to_uppercase().as_str())
                .uri(&uri)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let resp = app.clone().oneshot(req).await.expect("response");
            let code = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            assert_ne!(code, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
            assert!(
                !(code == StatusCode::NOT_FOUND && body.is_empty()),
                "{m} {uri} is not routed"
            );
        }
    }
}

#[test]
fn the_document_is_openapi_3_with_security_schemes() {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );
    // Request and response bodies are described, not just named.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Status",
        "ZoneView",
        "BoardView",
        "SetpointBody",
        "StoredEvent",
        "TokenInfo",
    ] {
        assert!(schemas[name]["properties"].is_object(), "{name}");
    }
    assert!(schemas["SetpointBody"]["properties"]["setpoint_c"].is_object());
}
