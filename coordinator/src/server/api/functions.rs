//! `/functions`: stage functions, uploaded at runtime. Each upload is
//! checked against the `ferry:replication/stage` world and stored
//! content-addressed; a name@version is immutable.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiPath, ApiQuery, ApiResult, AppState};
use crate::server::App;
use crate::server::functions::new_function;
use crate::store::FunctionRow;

pub fn routes(limit: usize) -> OpenApiRouter<std::sync::Arc<App>> {
    let (schemas, paths, upload_and_list) = routes!(upload, list);
    // The limit guards the upload; the list has no body to bound.
    let upload_and_list = upload_and_list.layer(DefaultBodyLimit::max(limit));
    OpenApiRouter::new()
        .routes((schemas, paths, upload_and_list))
        .routes(routes!(show))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Lowercase letters, digits and `-`, at most 64.
    #[param(example = "retag", pattern = "^[a-z0-9-]{1,64}$")]
    name: String,
    /// Letters, digits, `.`, `_`, `+` and `-`, at most 64.
    #[param(example = "1.0.0", pattern = "^[A-Za-z0-9._+-]{1,64}$")]
    version: String,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// Uploads a stage function.
///
/// The body is a WebAssembly component of the `ferry:replication/stage`
/// world. A name@version is immutable; uploading the same bytes again is a
/// no-op.
#[utoipa::path(
    post,
    path = "/functions",
    tag = "functions",
    operation_id = "upload_function",
    params(UploadQuery),
    request_body(
        description = "The component's bytes (whatever the `Content-Type`)",
        content(("application/wasm"), ("application/octet-stream")),
    ),
    responses(
        (status = 201, description = "The stored function", body = FunctionRow),
        (status = 400, description = "Bad name, version or component", body = ErrorBody),
        (status = 409, description = "name@version exists with other bytes", body = ErrorBody),
        (status = 413, description = "The component is larger than the upload limit", body = ErrorBody),
    )
)]
async fn upload(
    state: AppState,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, axum::Json<FunctionRow>)> {
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "a function component may be at most {} MiB",
                state.max_upload_bytes >> 20
            ),
        ),
        s => ApiError::new(s, "BAD_REQUEST", e.body_text()),
    })?;
    if !valid_name(&q.name) {
        return Err(ApiError::bad_request(
            "name: lowercase letters, digits and '-', at most 64",
        ));
    }
    if !valid_version(&q.version) {
        return Err(ApiError::bad_request(
            "version: letters, digits, '.', '_', '+' and '-', at most 64",
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the component's bytes (application/wasm)",
        ));
    }
    let reference = format!("{}@{}", q.name, q.version);
    let f = state
        .runtime
        .load(&reference, &bytes)
        .await
        .map_err(|e| ApiError::bad_request(format!("{reference}: {e}")))?;
    let row = state
        .store
        .put_function(new_function(&q.name, &q.version, &f, false), &bytes)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(row)))
}

/// Lists the functions, built-in and uploaded.
#[utoipa::path(
    get,
    path = "/functions",
    tag = "functions",
    operation_id = "list_functions",
    responses((status = 200, description = "Every function version", body = [FunctionRow]))
)]
async fn list(state: AppState) -> ApiResult<axum::Json<Vec<FunctionRow>>> {
    Ok(axum::Json(state.store.list_functions().await?))
}

/// Shows a function version.
#[utoipa::path(
    get,
    path = "/functions/{name}/{version}",
    tag = "functions",
    operation_id = "get_function",
    params(
        ("name" = String, Path, description = "Function name"),
        ("version" = String, Path, description = "Function version"),
    ),
    responses(
        (status = 200, description = "The function", body = FunctionRow),
        (status = 404, description = "No such function version", body = ErrorBody),
    )
)]
async fn show(
    state: AppState,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<axum::Json<FunctionRow>> {
    Ok(axum::Json(state.store.get_function(&name, &version).await?))
}
