//! What the daemon serves: the API ([`crate::api::router`] and whatever
//! other modules merge into it), the auth endpoints, `/metrics`, the live
//! stream, the OpenAPI document and the embedded web app, all behind one
//! authentication layer ([`auth::guard`]) so that every write route, present
//! or added later, needs the owner.

pub mod assets;
pub mod auth;
pub mod auth_api;
pub mod config;
pub mod limits;
pub mod metrics;
mod metrics_work;
pub mod openapi;
pub mod settings_mqtt;
pub mod settings_work;
pub mod stream;
pub mod tls;

pub use auth::Auth;
pub use config::WebConfig;

use crate::state::Shared;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Request bodies larger than this are refused, on every route.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// How often the metrics tracker looks at the status snapshot.
const TRACK_EVERY: Duration = Duration::from_secs(1);

/// State of the web-only routes.
#[derive(Debug, Clone)]
pub struct WebState {
    pub shared: Arc<Shared>,
    pub tracker: Arc<Mutex<metrics::Tracker>>,
    pub streams: Arc<tokio::sync::Semaphore>,
}

/// The served application. Must be called inside a tokio runtime (it starts
/// the metrics tracker, which ends when `shared` is dropped).
pub fn app(shared: Arc<Shared>, auth: Arc<Auth>) -> Router {
    let tracker = Arc::new(Mutex::new(metrics::Tracker::default()));
    spawn_tracker(Arc::downgrade(&shared), tracker.clone());
    let web = WebState {
        shared: shared.clone(),
        tracker,
        streams: Arc::new(tokio::sync::Semaphore::new(stream::MAX_STREAMS)),
    };
    let auth_routes = Router::new()
        .route("/api/v1/auth/state", get(auth_api::state))
        .route("/api/v1/auth/setup", post(auth_api::setup))
        .route("/api/v1/auth/login", post(auth_api::login))
        .route("/api/v1/auth/logout", post(auth_api::logout))
        .route("/api/v1/auth/password", put(auth_api::change_password))
        .route(
            "/api/v1/auth/tokens",
            get(auth_api::list_tokens).post(auth_api::create_token),
        )
        .route("/api/v1/auth/tokens/{id}", delete(auth_api::revoke_token))
        .with_state(auth.clone());
    let web_routes = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route(
            "/api/v1/settings/mqtt",
            get(settings_mqtt::get_mqtt).put(settings_mqtt::put_mqtt),
        )
        .route(
            "/api/v1/settings/work",
            get(settings_work::get_work).put(settings_work::put_work),
        )
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::asset))
        .with_state(web);
    crate::api::router(shared)
        .merge(auth_routes)
        .merge(web_routes)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(auth, auth::guard))
}

fn spawn_tracker(shared: Weak<Shared>, tracker: Arc<Mutex<metrics::Tracker>>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: energy and trip counters will stay at zero");
        return;
    };
    rt.spawn(async move {
        let mut every = tokio::time::interval(TRACK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let snapshot = shared
                .status
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(Ok(s)) = snapshot.map(|s| serde_json::to_value(&s)) {
                tracker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(&s);
            }
        }
    });
}

#[utoipa::path(get, path = "/metrics", tag = "metrics",
    description = "Prometheus text format: temperatures, setpoints, power, energy, hashrate, board states, trips, the rule in charge, work-source shares, sharechain height, peers and sync.",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics_handler(State(web): State<WebState>) -> impl IntoResponse {
    let snapshot = web
        .shared
        .status
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .and_then(|s| serde_json::to_value(&s).ok());
    let decision = crate::state::lock(&web.shared.control)
        .last_decision
        .as_ref()
        .and_then(|d| serde_json::to_value(d).ok())
        .unwrap_or(serde_json::Value::Null);
    let chain = crate::sharechain::api::current()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(serde_json::Value::Null);
    let body = {
        let tracker = web.tracker.lock().unwrap_or_else(|p| p.into_inner());
        metrics::render_all(
            snapshot.as_ref(),
            &tracker,
            web.shared.heartbeat.alive(),
            &decision,
            &chain,
        )
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
