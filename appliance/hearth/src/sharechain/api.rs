//! `GET /api/v1/sharechain`: the running node's status (tip, height,
//! peers, window, our shares, expected payout), mounted from api.rs.

use super::p2p::P2pHandle;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::OnceLock;

static HANDLE: OnceLock<P2pHandle> = OnceLock::new();

/// Makes the running node visible to the API (once, at start-up).
pub fn install(handle: P2pHandle) {
    let _ = HANDLE.set(handle);
}

/// The running node's status, when one runs (for `/metrics`).
pub fn current() -> Option<super::p2p::SharechainStatus> {
    HANDLE.get().map(P2pHandle::status)
}

/// The route, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/api/v1/sharechain", get(status))
}

#[utoipa::path(get, path = "/api/v1/sharechain", tag = "sharechain",
    description = "The sharechain node: network, tip, height, peers, sync progress, the PPLNS window, our shares and expected payout.",
    responses((status = 200, description = "the node's status", body = Object),
        (status = 401, description = "reads are not public and no owner credentials were sent"),
        (status = 503, description = "the sharechain node is not running")),
    security((), ("bearer" = []), ("session" = [])))]
pub(crate) async fn status() -> Response {
    match HANDLE.get() {
        Some(h) => Json(h.status()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "error": "the sharechain node is not running (set enabled = true in [sharechain])"
            })),
        )
            .into_response(),
    }
}
