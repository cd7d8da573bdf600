//! The HTTP API: JSON under `/api/v1`, Harbor's field names, Bearer auth.

mod error;
mod events;
mod executions;
mod functions;
mod kinds;
mod openapi;
mod policies;
mod registries;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ApiText};

use super::App;

/// The API router: `/healthz` and the OpenAPI document are open; the rest
/// needs the admin token.
pub fn router(app: Arc<App>, token: String) -> Router {
    let limit = app.max_upload_bytes;
    let protected = Router::new()
        .merge(registries::routes())
        .merge(kinds::routes())
        .merge(functions::routes(limit))
        .merge(templates::routes())
        .merge(policies::routes())
        .merge(executions::routes())
        .merge(events::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            super::auth::require_token,
        ))
        .with_state(app.clone());
    // A registry's notifications carry its own event secret, not the
    // admin token.
    let notifications = events::open_routes().with_state(app.clone());
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/api/v1/openapi.json",
            get(openapi::document).with_state(app.clone()),
        )
        .nest("/api/v1", notifications.merge(protected))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
}

/// Handlers' shared state.
pub type AppState = axum::extract::State<Arc<App>>;
