//! `GET/PUT /api/v1/settings/mqtt`: the MQTT connection, changed from the
//! page. A change is validated like the config file (400 with the key and
//! the reason, nothing changed), stored in the data directory, and only then
//! acknowledged and applied by restarting the MQTT client
//! ([`crate::mqtt::live`]). The password is never sent back.

use super::WebState;
use crate::api::ApiError;
use crate::mqtt::live::{ChangeError, Connection, MqttControl};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The MQTT connection as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MqttSettingsView {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    /// Whether a password is stored (the password itself is never returned).
    pub password_set: bool,
    pub client_id: String,
    pub base_topic: String,
    pub discovery_prefix: String,
    pub keep_alive_s: u64,
    pub state_interval_s: u64,
    pub max_backoff_s: u64,
}

impl MqttSettingsView {
    fn of(c: &crate::mqtt::config::MqttConfig) -> MqttSettingsView {
        MqttSettingsView {
            enabled: c.enabled,
            host: c.host.clone(),
            port: c.port,
            username: c.username.clone(),
            password_set: c.password.is_some(),
            client_id: c.client_id.clone(),
            base_topic: c.base_topic.clone(),
            discovery_prefix: c.discovery_prefix.clone(),
            keep_alive_s: c.keep_alive_s,
            state_interval_s: c.state_interval_s,
            max_backoff_s: c.max_backoff_s,
        }
    }
}

/// A change: keys left out keep their value. `username`/`password`: `null`
/// removes, a string sets (an empty string also removes).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttSettingsBody {
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub client_id: Option<String>,
    pub base_topic: Option<String>,
    pub discovery_prefix: Option<String>,
    pub keep_alive_s: Option<u64>,
    pub state_interval_s: Option<u64>,
    pub max_backoff_s: Option<u64>,
}

/// Tells "absent" from "null" for one optional field.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Longest user name or password taken (MQTT allows 65535; nobody needs it).
const MAX_CREDENTIAL_LEN: usize = 256;

impl MqttSettingsBody {
    fn apply(self, mut c: Connection) -> Result<Connection, String> {
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        if let Some(v) = self.enabled {
            c.enabled = v;
        }
        if let Some(v) = self.host {
            c.host = v;
        }
        if let Some(v) = self.port {
            c.port = v;
        }
        if let Some(v) = self.username {
            c.username = non_empty(v);
        }
        if let Some(v) = self.password {
            c.password = non_empty(v);
        }
        for (key, v) in [("username", &c.username), ("password", &c.password)] {
            if v.as_ref().is_some_and(|s| s.len() > MAX_CREDENTIAL_LEN) {
                return Err(format!("config key `mqtt.{key}`: at most 256 bytes"));
            }
        }
        if let Some(v) = self.client_id {
            c.client_id = v;
        }
        if let Some(v) = self.base_topic {
            c.base_topic = v;
        }
        if let Some(v) = self.discovery_prefix {
            c.discovery_prefix = v;
        }
        if let Some(v) = self.keep_alive_s {
            c.keep_alive_s = v;
        }
        if let Some(v) = self.state_interval_s {
            c.state_interval_s = v;
        }
        if let Some(v) = self.max_backoff_s {
            c.max_backoff_s = v;
        }
        Ok(c)
    }
}

fn not_running() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            serde_json::json!({"error": "MQTT settings can only be changed on the running daemon"}),
        ),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/settings/mqtt", tag = "settings",
    description = "The MQTT connection now in force (the config file's [mqtt], with changes made through this API). The password is never returned.",
    responses((status = 200, body = MqttSettingsView),
        (status = 401, description = "reads are not public and no owner credentials were sent"),
        (status = 503, description = "not served by a running daemon")),
    security((), ("bearer" = []), ("session" = [])))]
pub async fn get_mqtt(control: Option<Extension<Arc<MqttControl>>>) -> Response {
    match control {
        Some(Extension(c)) => Json(MqttSettingsView::of(&c.current())).into_response(),
        None => not_running(),
    }
}

#[utoipa::path(put, path = "/api/v1/settings/mqtt", tag = "settings",
    description = "Changes the MQTT connection: validated, stored in the data directory, then applied by restarting the MQTT client. Keys left out keep their value.",
    request_body = MqttSettingsBody,
    responses((status = 200, description = "the settings now in force", body = MqttSettingsView),
        (status = 400, description = "invalid key or body; nothing changed"),
        (status = 401, description = "not the owner"),
        (status = 503, description = "not served by a running daemon")),
    security(("bearer" = []), ("session" = [])))]
pub async fn put_mqtt(
    State(web): State<WebState>,
    control: Option<Extension<Arc<MqttControl>>>,
    body: Result<Json<MqttSettingsBody>, JsonRejection>,
) -> Response {
    let Some(Extension(control)) = control else {
        return not_running();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _gate = web.shared.settings_gate.lock().await;
    let next = match body.apply(Connection::of(&control.current())) {
        Ok(n) => n,
        Err(why) => return ApiError::bad_request(why).into_response(),
    };
    let changed = tokio::task::spawn_blocking(move || control.change(&next)).await;
    match changed {
        Ok(Ok(cfg)) => {
            tracing::info!(enabled = cfg.enabled, host = %cfg.host, port = cfg.port, "MQTT settings changed");
            Json(MqttSettingsView::of(&cfg)).into_response()
        }
        Ok(Err(ChangeError::Invalid(why))) => ApiError::bad_request(why).into_response(),
        Ok(Err(e)) => ApiError::internal(e.to_string()).into_response(),
        Err(e) => ApiError::internal(format!("settings task failed: {e}")).into_response(),
    }
}
