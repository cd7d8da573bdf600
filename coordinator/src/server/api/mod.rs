//! The HTTP API: JSON under `/api/v1`, Harbor's field names, Bearer auth.

pub(crate) mod auth;
mod error;
mod events;
mod executions;
mod functions;
mod kinds;
mod openapi;
mod policies;
mod previews;
mod registries;
mod session;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ApiText};
// The bodies the API reads and the answers that are not store models, for
// the CLI client.
pub use executions::{ExecutionDetail, StartInput};
pub use policies::PolicyInput;
pub use registries::{CredentialInput, Health, HealthStatus, RegistryInput};

use super::App;
use auth::Guard;

/// Every `/api/v1` route with its documentation, from one declaration
/// (utoipa-axum): the document cannot miss a route, nor name one that is
/// not served.
/// (`guard` is None only for the document, which layers do not change.)
fn api(upload_limit: usize, guard: Option<Guard>) -> OpenApiRouter<Arc<App>> {
    let mut protected = OpenApiRouter::new()
        .merge(registries::routes())
        .merge(kinds::routes())
        .merge(functions::routes(upload_limit))
        .merge(templates::routes())
        .merge(policies::routes())
        .merge(previews::routes())
        .merge(executions::routes())
        .merge(events::routes());
    let mut session = session::routes();
    if let Some(guard) = guard {
        protected = protected.layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            auth::require_auth,
        ));
        session = session.layer(axum::Extension(guard));
    }
    // A registry's notifications carry its own event secret, not the
    // admin token; signing in is how a console gets its session.
    let open = events::open_routes().merge(session);
    OpenApiRouter::new().nest("/api/v1", open.merge(protected))
}

/// The API router: `/healthz`, the OpenAPI document and the console's
/// assets are open; the rest needs the admin token or a console session.
pub fn router(app: Arc<App>, token: String) -> Router {
    let guard = Guard {
        token: Arc::new(token),
        store: app.store.clone(),
    };
    let (api, _) = api(app.max_upload_bytes, Some(guard)).split_for_parts();
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(api)
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .fallback(super::console::asset)
        .with_state(app)
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The routes' paths, operations and schemas, as the OpenAPI document
/// lists them.
fn routes_document() -> utoipa::openapi::OpenApi {
    api(0, None).split_for_parts().1
}

/// Handlers' shared state.
pub type AppState = axum::extract::State<Arc<App>>;
