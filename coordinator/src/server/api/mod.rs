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
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ApiText};
// The bodies the API reads and the answers that are not store models, for
// the CLI client.
pub use executions::{ExecutionDetail, StartInput};
pub use policies::PolicyInput;
pub use registries::{CredentialInput, Health, HealthStatus, RegistryInput};

use super::App;

/// Every `/api/v1` route with its documentation, from one declaration
/// (utoipa-axum): the document cannot miss a route, nor name one that is
/// not served.
fn api(upload_limit: usize, token: Arc<String>) -> OpenApiRouter<Arc<App>> {
    let protected = OpenApiRouter::new()
        .merge(registries::routes())
        .merge(kinds::routes())
        .merge(functions::routes(upload_limit))
        .merge(templates::routes())
        .merge(policies::routes())
        .merge(executions::routes())
        .merge(events::routes())
        .layer(axum::middleware::from_fn_with_state(
            token,
            super::auth::require_token,
        ));
    // A registry's notifications carry its own event secret, not the
    // admin token.
    OpenApiRouter::new().nest("/api/v1", events::open_routes().merge(protected))
}

/// The API router: `/healthz` and the OpenAPI document are open; the rest
/// needs the admin token.
pub fn router(app: Arc<App>, token: String) -> Router {
    let (api, _) = api(app.max_upload_bytes, Arc::new(token)).split_for_parts();
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(app)
}

/// The routes' paths, operations and schemas, as the OpenAPI document
/// lists them.
fn routes_document() -> utoipa::openapi::OpenApi {
    api(0, Arc::new(String::new())).split_for_parts().1
}

/// Handlers' shared state.
pub type AppState = axum::extract::State<Arc<App>>;
