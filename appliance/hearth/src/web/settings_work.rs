//! `GET/PUT /api/v1/settings/work`: the work sources (our sharechain node on
//! or off, the Stratum pools in failover order), changed from the page. A
//! change is validated like the config file (400 with the key and the
//! reason, nothing changed), stored in the data directory, and only then
//! acknowledged and applied: the work service restarts its sources while
//! the boards heat on local work ([`crate::work::live`]). Passwords are
//! write-only.

use super::WebState;
use crate::api::ApiError;
use crate::work::config::PoolEntry;
use crate::work::live::{ChangeError, Sources, WorkControl};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hearth_work::stratum::FollowReconnect;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Stratum's customary "no password".
const NO_PASSWORD: &str = "x";

/// One pool as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolView {
    /// 1 is tried first (after our sharechain node, when it is on).
    pub priority: usize,
    pub name: String,
    pub url: String,
    pub user: String,
    /// Whether a password other than Stratum's customary `x` is stored (the
    /// password itself is never returned).
    pub password_set: bool,
    /// Which `client.reconnect` targets are followed: `same_host` (the
    /// configured host, any port), `any_host` or `never`.
    #[schema(value_type = String, example = "same_host")]
    pub follow_reconnect: FollowReconnect,
}

/// The work sources as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkSettingsView {
    /// Our sharechain node is the first source.
    pub sharechain: bool,
    /// Whether our sharechain node runs at all (`[sharechain]` in the
    /// config file); `sharechain: true` is refused without it.
    pub sharechain_available: bool,
    /// The pools in failover order.
    pub pools: Vec<PoolView>,
    /// `true`: the list comes from the data directory's `work-settings.json`
    /// (set through this API), which overrides the config file's `[work]`
    /// list; `false`: from the config file.
    pub stored: bool,
}

impl WorkSettingsView {
    fn of(s: &Sources, stored: bool, sharechain_available: bool) -> WorkSettingsView {
        WorkSettingsView {
            sharechain: s.sharechain,
            sharechain_available,
            pools: s
                .pools
                .iter()
                .enumerate()
                .map(|(i, p)| PoolView {
                    priority: i + 1,
                    name: p.name.clone(),
                    url: p.url.clone(),
                    user: p.user.clone(),
                    password_set: !p.password.is_empty() && p.password != NO_PASSWORD,
                    follow_reconnect: p.follow_reconnect,
                })
                .collect(),
            stored,
        }
    }
}

/// One pool in a change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    pub name: String,
    /// `stratum+tcp://host:port` or `host:port`.
    pub url: String,
    pub user: String,
    /// Left out: the password stored for the pool of this name is kept
    /// (`x` for a new pool); `null` or `""`: `x`; a string: set.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    /// Lower is tried first; pools without one keep their place in the
    /// array (ties keep the array's order).
    pub priority: Option<u32>,
    /// `same_host`, `any_host` or `never`; left out: kept for the pool of
    /// this name (`same_host` for a new pool).
    #[schema(value_type = Option<String>)]
    pub follow_reconnect: Option<FollowReconnect>,
}

/// A change: keys left out keep their value; `pools`, when given, is the
/// whole new list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkSettingsBody {
    pub sharechain: Option<bool>,
    pub pools: Option<Vec<PoolBody>>,
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

impl WorkSettingsBody {
    /// `current` with this change (checked afterwards by [`Sources::validate`]).
    fn apply(self, current: &Sources) -> Sources {
        let mut next = current.clone();
        if let Some(v) = self.sharechain {
            next.sharechain = v;
        }
        if let Some(pools) = self.pools {
            let mut ranked: Vec<(u64, usize, PoolEntry)> = pools
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let follow_reconnect = p.follow_reconnect.unwrap_or_else(|| {
                        current
                            .pools
                            .iter()
                            .find(|q| q.name == p.name)
                            .map(|q| q.follow_reconnect)
                            .unwrap_or_default()
                    });
                    let password = match p.password {
                        None => current
                            .pools
                            .iter()
                            .find(|q| q.name == p.name)
                            .map_or_else(|| NO_PASSWORD.to_string(), |q| q.password.clone()),
                        Some(None) => NO_PASSWORD.to_string(),
                        Some(Some(s)) if s.is_empty() => NO_PASSWORD.to_string(),
                        Some(Some(s)) => s,
                    };
                    // Without a priority: the array position (after any
                    // explicit 1..n, before nothing: positions are 1-based).
                    let rank = p.priority.map_or(i as u64 + 1, u64::from);
                    (
                        rank,
                        i,
                        PoolEntry {
                            name: p.name,
                            url: p.url,
                            user: p.user,
                            password,
                            follow_reconnect,
                        },
                    )
                })
                .collect();
            ranked.sort_by_key(|(rank, i, _)| (*rank, *i));
            next.pools = ranked.into_iter().map(|(_, _, p)| p).collect();
        }
        next
    }
}

fn not_running() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            serde_json::json!({"error": "work sources can only be changed on the running daemon"}),
        ),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/settings/work", tag = "settings",
    description = "The work sources now in force: our sharechain node on or off, and the Stratum pools in failover order (the config file's [work] list, or the one stored through this API, which overrides it). Passwords are never returned.",
    responses((status = 200, body = WorkSettingsView),
        (status = 401, description = "reads are not public and no owner credentials were sent"),
        (status = 503, description = "not served by a running daemon")),
    security((), ("bearer" = []), ("session" = [])))]
pub async fn get_work(control: Option<Extension<Arc<WorkControl>>>) -> Response {
    match control {
        Some(Extension(c)) => {
            let (s, stored) = c.current();
            Json(WorkSettingsView::of(
                &s,
                stored,
                c.base.sharechain_available,
            ))
            .into_response()
        }
        None => not_running(),
    }
}

#[utoipa::path(put, path = "/api/v1/settings/work", tag = "settings",
    description = "Changes the work sources: validated like the config file, stored in the data directory, then applied by restarting the sources while the boards heat on local work. Keys left out keep their value; `pools` replaces the whole list.",
    request_body = WorkSettingsBody,
    responses((status = 200, description = "the sources now in force", body = WorkSettingsView),
        (status = 400, description = "invalid key or body; nothing changed"),
        (status = 401, description = "not the owner"),
        (status = 503, description = "not served by a running daemon")),
    security(("bearer" = []), ("session" = [])))]
pub async fn put_work(
    State(web): State<WebState>,
    control: Option<Extension<Arc<WorkControl>>>,
    body: Result<Json<WorkSettingsBody>, JsonRejection>,
) -> Response {
    let Some(Extension(control)) = control else {
        return not_running();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _gate = web.shared.settings_gate.lock().await;
    let next = body.apply(&control.current().0);
    let available = control.base.sharechain_available;
    let changed = tokio::task::spawn_blocking(move || control.change(next)).await;
    match changed {
        Ok(Ok(s)) => {
            let names: Vec<&str> = s.pools.iter().map(|p| p.name.as_str()).collect();
            tracing::info!(sharechain = s.sharechain, pools = ?names, "work sources changed");
            Json(WorkSettingsView::of(&s, true, available)).into_response()
        }
        Ok(Err(ChangeError::Invalid(why))) => ApiError::bad_request(why).into_response(),
        Ok(Err(e)) => ApiError::internal(e.to_string()).into_response(),
        Err(e) => ApiError::internal(format!("settings task failed: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pool(name: &str, password: &str) -> PoolEntry {
        PoolEntry {
            name: name.into(),
            url: format!("{name}.example:3333"),
            user: "u".into(),
            password: password.into(),
            follow_reconnect: FollowReconnect::default(),
        }
    }

    #[test]
    fn passwords_are_kept_by_name_and_priorities_order_the_list() {
        let current = Sources {
            sharechain: false,
            pools: vec![pool("a", "secret-a"), pool("b", "x")],
        };
        let body: WorkSettingsBody = serde_json::from_str(
            r#"{"pools": [
                {"name": "b", "url": "b.example:1", "user": "u", "priority": 2},
                {"name": "a", "url": "a.example:1", "user": "u", "priority": 1},
                {"name": "c", "url": "c.example:1", "user": "u", "password": "new"},
                {"name": "d", "url": "d.example:1", "user": "u", "password": null}
            ]}"#,
        )
        .unwrap();
        let next = body.apply(&current);
        let got: Vec<(&str, &str)> = next
            .pools
            .iter()
            .map(|p| (p.name.as_str(), p.password.as_str()))
            .collect();
        assert_eq!(
            got,
            [("a", "secret-a"), ("b", "x"), ("c", "new"), ("d", "x")]
        );
        let view = serde_json::to_value(WorkSettingsView::of(&next, true, false)).unwrap();
        assert_eq!(view["pools"][0]["password_set"], true);
        assert_eq!(view["pools"][1]["password_set"], false);
        assert_eq!(view["pools"][2]["priority"], 3);
        assert!(!view.to_string().contains("secret-a") && !view.to_string().contains("new\""));
        let keep: WorkSettingsBody = serde_json::from_str(r#"{"sharechain": true}"#).unwrap();
        assert_eq!(keep.apply(&current).pools, current.pools);
        assert!(serde_json::from_str::<WorkSettingsBody>(r#"{"pool": []}"#).is_err());
    }
}
