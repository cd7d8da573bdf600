//! `/registries/{id}/events`: where a registry sends its notifications
//! (CNCF distribution's envelope, or Harbor's webhook payloads), guarded by
//! the registry's own event secret, not the admin token. Events are stored
//! before the answer, so nothing acknowledged is lost; the inbox acts on
//! them.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth;
use super::error::ErrorBody;
use super::registries::secret_hash;
use super::{ApiError, ApiPath, ApiQuery, ApiResult, AppState};
use crate::server::{App, inbox, notifications};
use crate::store::{Event, EventCounts};

/// The notification endpoint: open to the registry, not the admin.
pub fn open_routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new().routes(routes!(receive))
}

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Receives a registry's notifications.
///
/// Needs `Authorization: Bearer <the registry's event_secret>`. Each event
/// Ferry acts on is stored before the answer; a redelivered one (the same
/// id) is stored once. Events for repositories no enabled event-based
/// policy covers are dropped, and counted.
#[utoipa::path(
    post,
    path = "/registries/{id}/events",
    tag = "events",
    operation_id = "receive_events",
    params(("id" = i64, Path, description = "Registry id")),
    request_body(
        description = "A distribution notification envelope (`application/vnd.docker.distribution.events.v1+json`) or a Harbor webhook payload",
        content(
            (Object = "application/vnd.docker.distribution.events.v1+json"),
            (Object = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "Stored (or dropped, or ignored): what came of each", body = EventCounts),
        (status = 400, description = "Not a notification Ferry reads; nothing was stored", body = ErrorBody),
        (status = 401, description = "Missing or wrong event secret", body = ErrorBody),
        (status = 404, description = "No such registry", body = ErrorBody),
    ),
    security(("event_secret" = [])),
)]
async fn receive(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<EventCounts>> {
    let stored = state.store.registry_event_secret(id).await?;
    let given = auth::bearer(&headers);
    match (&stored, given) {
        (None, _) => {
            return Err(ApiError::unauthorized(format!(
                "registry {id} has no event_secret: set one to accept its notifications"
            )));
        }
        (Some(_), None) => {
            return Err(ApiError::unauthorized(
                "missing `Authorization: Bearer <the registry's event_secret>`",
            ));
        }
        (Some(hash), Some(g))
            if !auth::constant_time_eq(secret_hash(g).as_bytes(), hash.as_bytes()) =>
        {
            return Err(ApiError::unauthorized("the event secret is not valid"));
        }
        _ => {}
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let notice = notifications::parse(content_type, &body)
        .map_err(|e| ApiError::bad_request(format!("registry {id} notification: {e}")))?;
    // Pulls and the like only count: no need to read the policies.
    let listeners = if notice.events.is_empty() {
        Vec::new()
    } else {
        inbox::listeners(&state, id).await?
    };
    let (kept, dropped): (Vec<_>, Vec<_>) = notice.events.into_iter().partition(|e| {
        listeners
            .iter()
            .any(|(p, s)| inbox::covers(p, s, e.kind, &e.repository, e.tag.as_deref()))
    });
    let counts = state
        .store
        .accept_events(id, &kept, dropped.len() as i64, notice.ignored)
        .await?;
    if counts.accepted > 0 {
        state.inbox.wake();
    }
    tracing::debug!(
        registry = id,
        accepted = counts.accepted,
        duplicates = counts.duplicates,
        dropped = counts.dropped,
        ignored = counts.ignored,
        "notification"
    );
    Ok(axum::Json(counts))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Recent {
    /// How many, newest first.
    #[serde(default = "fifty")]
    #[param(default = 50, minimum = 1, maximum = 500)]
    limit: i64,
}

fn fifty() -> i64 {
    50
}

/// A registry's recent events and what came of each.
#[utoipa::path(
    get,
    path = "/registries/{id}/events",
    tag = "events",
    operation_id = "list_events",
    params(("id" = i64, Path, description = "Registry id"), Recent),
    responses(
        (status = 200, description = "Newest first", body = [Event]),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 404, description = "No such registry", body = ErrorBody),
    )
)]
async fn list(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<Recent>,
) -> ApiResult<axum::Json<Vec<Event>>> {
    if !(1..=500).contains(&q.limit) {
        return Err(ApiError::bad_request("limit: 1..=500"));
    }
    state.store.get_registry(id).await?;
    Ok(axum::Json(state.store.list_events(id, q.limit).await?))
}
