//! The HTTP API (axum). Every input is validated before anything changes; a
//! refused request gets a JSON `{"error": "..."}` with the reason.

use crate::state::{lock, Shared};
use crate::store::StoredEvent;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use hearth_control::{SettingError, ZoneMode, ZoneSettings};
use hearth_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Request bodies larger than this are refused before parsing.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/status", get(status))
        .route("/api/v1/zones/{id}/setpoint", put(put_setpoint))
        .route("/api/v1/zones/{id}/mode", put(put_mode))
        .route("/api/v1/zones/{id}/history", get(history))
        .route("/api/v1/events", get(events))
        .merge(crate::api_control::routes())
        .merge(crate::sharechain::api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// The reason, as the client sees it (MQTT logs it).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<SettingError> for ApiError {
    fn from(e: SettingError) -> ApiError {
        let status = match e {
            SettingError::UnknownZone(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        ApiError::bad_request(format!("invalid JSON body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("invalid query: {}", e.body_text()))
    }
}

#[utoipa::path(get, path = "/health", tag = "status",
    responses((status = 200, description = "the control loop ticks"),
        (status = 503, description = "not ticking: starting up, stalled or shutting down")))]
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    if shared.heartbeat.alive() {
        (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "control loop not running" })),
        )
            .into_response()
    }
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, body = crate::state::Status), (status = 503, description = "starting up")))]
async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = shared
        .status
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match snapshot {
        Some(s) => Json(s).into_response(),
        None => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "starting up".into(),
        }
        .into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetpointBody {
    setpoint_c: f64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    #[schema(value_type = String, example = "heat")]
    mode: ZoneMode,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ZoneSettingsView {
    id: String,
    setpoint_c: f64,
    #[schema(value_type = String)]
    mode: ZoneMode,
}

#[utoipa::path(put, path = "/api/v1/zones/{id}/setpoint", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = SetpointBody,
    responses((status = 200, body = ZoneSettingsView), (status = 400, description = "invalid setpoint or body"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_setpoint(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<SetpointBody>, JsonRejection>,
) -> Result<Json<ZoneSettingsView>, ApiError> {
    let Json(body) = body?;
    change_settings(&shared, &id, |app, current| {
        let setpoint_c = app.validate_setpoint(&id, body.setpoint_c)?;
        Ok(ZoneSettings {
            setpoint_c,
            ..current
        })
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/zones/{id}/mode", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = ModeBody,
    responses((status = 200, body = ZoneSettingsView), (status = 400, description = "invalid mode or body"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_mode(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<ModeBody>, JsonRejection>,
) -> Result<Json<ZoneSettingsView>, ApiError> {
    let Json(body) = body?;
    change_settings(&shared, &id, |_, current| {
        Ok(ZoneSettings {
            mode: body.mode,
            ..current
        })
    })
    .await
}

/// Validate, persist, then apply: a change the client saw acknowledged is on
/// disk, and a change that could not be stored never takes effect.
pub(crate) async fn change_settings(
    shared: &Arc<Shared>,
    id: &str,
    change: impl FnOnce(&hearth_control::Appliance, ZoneSettings) -> Result<ZoneSettings, SettingError>,
) -> Result<Json<ZoneSettingsView>, ApiError> {
    let _gate = shared.settings_gate.lock().await;
    let new = {
        let app = lock(&shared.appliance);
        let current = app
            .settings(id)
            .ok_or_else(|| SettingError::UnknownZone(id.to_string()))?;
        change(&app, current)?
    };
    let now = shared.clock.now();
    let store = shared.store.clone();
    let zone = id.to_string();
    tokio::task::spawn_blocking(move || lock(&store).save_zone_settings(&zone, new, now))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("could not store the setting: {e}")))?;
    lock(&shared.appliance).apply_settings(id, new)?;
    tracing::info!(
        zone = id,
        setpoint_c = new.setpoint_c.get(),
        mode = new.mode.as_str(),
        "zone settings changed"
    );
    Ok(Json(ZoneSettingsView {
        id: id.to_string(),
        setpoint_c: new.setpoint_c.get(),
        mode: new.mode,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// How far back, in hours (default 24, at most 2 years).
    hours: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct HistoryPoint {
    ts_ms: u64,
    tier: i64,
    temp_c: Option<f64>,
    setpoint_c: f64,
    power_w: f64,
    hashrate_ghs: f64,
}

#[utoipa::path(get, path = "/api/v1/zones/{id}/history", tag = "zones",
    params(("id" = String, Path, description = "zone id"), HistoryQuery),
    responses((status = 200, body = Vec<HistoryPoint>), (status = 400, description = "invalid hours"),
        (status = 404, description = "unknown zone")))]
async fn history(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<HistoryPoint>>, ApiError> {
    let Query(q) = query?;
    let hours = q.hours.unwrap_or(24.0);
    if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 731.0) {
        return Err(ApiError::bad_request(
            "hours must be above 0 and at most 17544",
        ));
    }
    if lock(&shared.appliance).settings(&id).is_none() {
        return Err(SettingError::UnknownZone(id).into());
    }
    let now = shared.clock.now();
    let from = Timestamp(now.as_millis().saturating_sub((hours * 3_600_000.0) as u64));
    let store = shared.store.clone();
    let rows = tokio::task::spawn_blocking(move || {
        lock(&store).history(&id, from, now.plus(std::time::Duration::from_secs(1)))
    })
    .await
    .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(
        rows.into_iter()
            .map(|r| HistoryPoint {
                ts_ms: r.ts_ms,
                tier: r.tier,
                temp_c: r.sample.temp_c,
                setpoint_c: r.sample.setpoint_c,
                power_w: r.sample.power_w,
                hashrate_ghs: r.sample.hashrate_ghs,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "status", params(EventsQuery),
    responses((status = 200, body = Vec<StoredEvent>), (status = 400, description = "invalid limit")))]
async fn events(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<StoredEvent>>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let store = shared.store.clone();
    let rows = tokio::task::spawn_blocking(move || lock(&store).recent_events(limit))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(rows))
}
