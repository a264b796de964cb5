//! `/api/v1/openapi.json`, generated from the handlers' own annotations
//! (utoipa). `tests/openapi.rs` fails when a route is served but missing
//! here, so a route added later must be listed in `paths(...)`.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Hearth",
        description = "Local API of the Hearth heater daemon. Writes need the owner: a session cookie (the page) or `Authorization: Bearer <token>` (scripts). Reads need it too unless `web.public_read` is set. A refused request gets 4xx with `{\"error\": \"<reason>\"}` and changes nothing."
    ),
    paths(
        crate::api::health,
        crate::api::status,
        crate::api::put_setpoint,
        crate::api::put_mode,
        crate::api::history,
        crate::api::events,
        crate::api_control::get_control,
        crate::api_control::put_policy,
        crate::api_control::put_economics,
        crate::api_control::put_site,
        crate::api_control::put_mining,
        crate::api_control::put_house,
        crate::api_control::get_schedule,
        crate::api_control::put_schedule,
        crate::api_control::put_preset,
        crate::api_control::get_presets,
        crate::api_control::put_presets,
        crate::api_control::put_window,
        crate::api_control::put_circulation,
        crate::api_control::put_sim_circulation,
        crate::api_control::put_zone_temperature,
        crate::sharechain::api::status,
        super::auth_api::state,
        super::auth_api::setup,
        super::auth_api::login,
        super::auth_api::logout,
        super::auth_api::change_password,
        super::auth_api::list_tokens,
        super::auth_api::create_token,
        super::auth_api::revoke_token,
        super::metrics_handler,
        super::settings_mqtt::get_mqtt,
        super::settings_mqtt::put_mqtt,
        super::settings_work::get_work,
        super::settings_work::put_work,
        super::stream::stream,
        document,
        super::assets::index,
        super::assets::asset,
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::auth::SESSION_COOKIE,
            ))),
        );
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
