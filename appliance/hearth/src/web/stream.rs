//! `GET /api/v1/stream`: server-sent events. Each new status snapshot is
//! sent as an `event: status` whose data is the same JSON as
//! `/api/v1/status`. The stream ends when the control loop stops, so a
//! graceful shutdown is not held open by browsers (they reconnect).

use super::WebState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// Open streams at once; more get 503.
pub const MAX_STREAMS: usize = 16;
/// How often a stream looks for a new snapshot.
const POLL: Duration = Duration::from_millis(250);

#[utoipa::path(get, path = "/api/v1/stream", tag = "status",
    description = "Server-sent events: `event: status` with the /api/v1/status JSON, each time it changes.",
    responses((status = 200, content_type = "text/event-stream", body = String),
        (status = 503, description = "too many open streams")))]
pub async fn stream(State(web): State<WebState>) -> Response {
    let Ok(permit) = web.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": format!("at most {MAX_STREAMS} live streams") })),
        )
            .into_response();
    };
    let shared = web.shared;
    let state = (shared, None::<u64>, false, permit);
    let events =
        futures_util::stream::unfold(state, |(shared, last, seen_alive, permit)| async move {
            let mut seen_alive = seen_alive;
            loop {
                let alive = shared.heartbeat.alive();
                if seen_alive && !alive {
                    return None;
                }
                seen_alive |= alive;
                let snapshot = shared
                    .status
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                if let Some(s) = snapshot.filter(|s| Some(s.time_ms) != last) {
                    let time_ms = s.time_ms;
                    let event = Event::default().event("status").json_data(&s);
                    return Some((event, (shared, Some(time_ms), seen_alive, permit)));
                }
                tokio::time::sleep(POLL).await;
            }
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
