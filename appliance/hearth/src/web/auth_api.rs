//! `/api/v1/auth/*`: first-start setup, login and logout for the page,
//! password change, and bearer tokens for scripts. Which of these need a
//! login is decided by [`super::auth::guard`], not here.

use super::auth::{client_ip, session_cookie, Auth, AuthError, Principal, TokenInfo};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn bad_json(e: JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("invalid JSON body: {}", e.body_text()),
    )
}

fn from_auth_error(e: AuthError) -> Response {
    match e {
        AuthError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn limited(retry_after: std::time::Duration) -> Response {
    let secs = retry_after.as_secs().max(1);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins; try again in {secs} s"),
    );
    if let Ok(v) = secs.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn with_session(auth: &Auth, body: serde_json::Value) -> Response {
    match auth.new_session() {
        Ok(secret) => {
            let cookie = auth.session_cookie_header(&secret, auth.session_max_age_s());
            let mut r = Json(body).into_response();
            if let Ok(v) = cookie.parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => from_auth_error(e),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthState {
    /// False until the owner's password is set (first start).
    owner_set: bool,
    authenticated: bool,
    /// `session`, `token`, or null.
    via: Option<&'static str>,
    /// Whether read-only endpoints answer without a login.
    public_read: bool,
}

#[utoipa::path(get, path = "/api/v1/auth/state", tag = "auth",
    responses((status = 200, body = AuthState)))]
pub async fn state(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Json<AuthState> {
    let who = auth.identify(&headers);
    Json(AuthState {
        owner_set: auth.owner_set(),
        authenticated: who.is_some(),
        via: who.map(|p| match p {
            Principal::Session => "session",
            Principal::Token { .. } => "token",
        }),
        public_read: auth.public_read,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// 8 to 256 characters.
    password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = PasswordBody,
    description = "First start only: sets the owner's password and logs the page in.",
    responses((status = 200, description = "password set; session cookie issued"),
        (status = 400, description = "password too short or too long"),
        (status = 409, description = "a password is already set")))]
pub async fn setup(
    State(auth): State<Arc<Auth>>,
    req_ext: axum::http::Extensions,
    body: Result<Json<PasswordBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match auth.setup(&body.password).await {
        Ok(true) => {
            tracing::info!("owner password set from the page");
            auth.remember_client(client_ip(&req_ext));
            with_session(&auth, serde_json::json!({ "ok": true }))
        }
        Ok(false) => error(
            StatusCode::CONFLICT,
            "the owner password is already set; log in instead",
        ),
        Err(e) => from_auth_error(e),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = PasswordBody,
    responses((status = 200, description = "session cookie issued"),
        (status = 401, description = "wrong password"),
        (status = 409, description = "no password set yet"),
        (status = 429, description = "too many failed attempts; see Retry-After")))]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    req_ext: axum::http::Extensions,
    body: Result<Json<PasswordBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    if !auth.owner_set() {
        return error(
            StatusCode::CONFLICT,
            "no owner password is set yet (POST /api/v1/auth/setup)",
        );
    }
    let client = client_ip(&req_ext);
    match auth.check_password(client, &body.password).await {
        Ok(true) => with_session(&auth, serde_json::json!({ "ok": true })),
        Ok(false) => {
            tracing::warn!(client = %client, "failed login");
            error(StatusCode::UNAUTHORIZED, "wrong password")
        }
        Err(wait) => limited(wait),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, description = "session ended; cookie cleared")))]
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_cookie(&headers) {
        auth.end_session(&secret);
    }
    let mut r = Json(serde_json::json!({ "ok": true })).into_response();
    if let Ok(v) = auth.session_cookie_header("", 0).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePasswordBody,
    description = "Ends every page session and issues a new one to the caller.",
    responses((status = 200, description = "changed"), (status = 400, description = "new password invalid"),
        (status = 401, description = "current password wrong"), (status = 429, description = "rate limited")),
    security(("bearer" = []), ("session" = [])))]
pub async fn change_password(
    State(auth): State<Arc<Auth>>,
    req_ext: axum::http::Extensions,
    body: Result<Json<ChangePasswordBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    if let Err(e) = super::auth::check_password_strength(&body.new_password) {
        return from_auth_error(e);
    }
    match auth
        .check_password(client_ip(&req_ext), &body.current_password)
        .await
    {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::UNAUTHORIZED, "current password is wrong"),
        Err(wait) => return limited(wait),
    }
    match auth.change_password(&body.new_password).await {
        Ok(()) => {
            tracing::info!("owner password changed");
            with_session(&auth, serde_json::json!({ "ok": true }))
        }
        Err(e) => from_auth_error(e),
    }
}

#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth",
    responses((status = 200, body = Vec<TokenInfo>)), security(("bearer" = []), ("session" = [])))]
pub async fn list_tokens(State(auth): State<Arc<Auth>>) -> Json<Vec<TokenInfo>> {
    Json(auth.tokens())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// What the token is for, 1 to 64 characters.
    name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    info: TokenInfo,
    /// Shown once; send as `Authorization: Bearer <token>`.
    token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", request_body = NewTokenBody,
    responses((status = 201, body = NewToken), (status = 400, description = "bad name or too many tokens")),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_token(
    State(auth): State<Arc<Auth>>,
    Extension(who): Extension<Principal>,
    body: Result<Json<NewTokenBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match auth.create_token(&body.name) {
        Ok((info, token)) => {
            tracing::info!(id = info.id, name = %info.name, by = ?who, "bearer token created");
            (StatusCode::CREATED, Json(NewToken { info, token })).into_response()
        }
        Err(e) => from_auth_error(e),
    }
}

#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204, description = "revoked"), (status = 400, description = "id is not a number"),
        (status = 404, description = "no such token")),
    security(("bearer" = []), ("session" = [])))]
pub async fn revoke_token(State(auth): State<Arc<Auth>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "token id must be an integer");
    };
    match auth.revoke_token(id) {
        Ok(true) => {
            tracing::info!(id, "bearer token revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no token {id}")),
        Err(e) => from_auth_error(e),
    }
}
