//! `/api/v1/openapi.json`.

use axum::Json;

/// The OpenAPI document of the API.
pub async fn document() -> Json<serde_json::Value> {
    Json(
        serde_json::json!({"openapi": "3.1.0", "info": {"title": "Ferry", "version": env!("CARGO_PKG_VERSION")}, "paths": {}}),
    )
}
