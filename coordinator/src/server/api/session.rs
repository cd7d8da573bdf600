//! `/session`: the web console signs in with the admin token and gets an
//! HttpOnly, SameSite=Strict session cookie plus a CSRF token for its
//! writes; the token itself never reaches JavaScript-readable storage.

use std::time::Duration;

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, SESSION_COOKIE};
use super::error::ErrorBody;
use super::{ApiError, ApiJson, ApiResult, AppState};
use crate::server::App;

/// How long a console session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The routes; sign-in needs an `Extension<auth::Guard>` layer.
pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new().routes(routes!(sign_in, current, sign_out))
}

/// Sign-in: the admin token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    /// The admin token.
    #[schema(min_length = 1)]
    pub token: String,
}

/// A console session: the token its writes carry in `X-CSRF-Token`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub csrf_token: String,
    /// When the session ends (epoch milliseconds).
    pub expires_at: i64,
}

/// Signs the console in: sets the session cookie.
#[utoipa::path(
    post,
    path = "/session",
    tag = "session",
    operation_id = "sign_in",
    security(()),
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the `ferry_session` cookie is set (HttpOnly, SameSite=Strict)", body = SessionInfo),
        (status = 401, description = "The token is not valid", body = ErrorBody),
    )
)]
async fn sign_in(
    state: AppState,
    axum::Extension(guard): axum::Extension<auth::Guard>,
    ApiJson(input): ApiJson<SignIn>,
) -> ApiResult<Response> {
    if !auth::constant_time_eq(input.token.trim().as_bytes(), guard.token.as_bytes()) {
        return Err(ApiError::unauthorized("the token is not valid"));
    }
    let cookie = auth::random_token(48);
    let id_hash = crate::transfer::sha256_digest(cookie.as_bytes());
    let session = state
        .store
        .create_session(&id_hash, &auth::random_token(40), SESSION_TTL)
        .await?;
    let set = format!(
        "{SESSION_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    Ok(with_cookie(&set, axum::Json(info(session)).into_response()))
}

/// The console's session, if its cookie names a live one.
#[utoipa::path(
    get,
    path = "/session",
    tag = "session",
    operation_id = "get_session",
    security(()),
    responses(
        (status = 200, description = "The session", body = SessionInfo),
        (status = 401, description = "No live session: sign in", body = ErrorBody),
    )
)]
async fn current(state: AppState, headers: HeaderMap) -> ApiResult<axum::Json<SessionInfo>> {
    let (_, session) = auth::session(&state.store, &headers, false).await?;
    Ok(axum::Json(info(session)))
}

/// Signs out: ends the session and clears its cookie.
#[utoipa::path(
    delete,
    path = "/session",
    tag = "session",
    operation_id = "sign_out",
    security(()),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No live session", body = ErrorBody),
        (status = 403, description = "No X-CSRF-Token, or not the session's", body = ErrorBody),
    )
)]
async fn sign_out(state: AppState, headers: HeaderMap) -> ApiResult<Response> {
    let (id_hash, _) = auth::session(&state.store, &headers, true).await?;
    state.store.delete_session(&id_hash).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(with_cookie(&clear, StatusCode::NO_CONTENT.into_response()))
}

fn info(session: crate::store::Session) -> SessionInfo {
    SessionInfo {
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    }
}

fn with_cookie(cookie: &str, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}
