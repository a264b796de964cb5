//! The web app's files, embedded in the binary at build time: the page
//! needs nothing from the internet or the disk at run time.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes).
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../web/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../web/icon.svg"),
    ),
    (
        "manifest.webmanifest",
        "application/manifest+json",
        include_str!("../../web/manifest.webmanifest"),
    ),
];

const INDEX: &str = include_str!("../../web/index.html");

/// No inline scripts, nothing from elsewhere.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

#[utoipa::path(get, path = "/", tag = "web",
    responses((status = 200, content_type = "text/html", body = String, description = "the web app")))]
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        INDEX,
    )
        .into_response()
}

#[utoipa::path(get, path = "/assets/{file}", tag = "web",
    params(("file" = String, Path, description = "app.js, app.css, icon.svg, manifest.webmanifest")),
    responses((status = 200, description = "the file"), (status = 404, description = "no such file")))]
pub async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no asset {file:?}") })),
        )
            .into_response(),
    }
}
