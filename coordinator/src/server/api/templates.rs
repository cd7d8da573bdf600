//! `/templates`: process templates, validated on write and versioned.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiPath, ApiQuery, ApiResult, ApiText, AppState};
use crate::domain::RegistryKind;
use crate::engine::Template;
use crate::engine::template::{Scope, When};
use crate::server::App;
use crate::store::Operation;
use crate::store::TemplateRow;

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update))
        .routes(routes!(versions))
        .routes(routes!(validate))
}

/// Validates the YAML (functions, parameters) and stores a new version.
async fn store_version(
    state: &App,
    body: String,
    expected: Option<&str>,
) -> ApiResult<TemplateRow> {
    if body.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the template's YAML",
        ));
    }
    let t = Template::load("template", &body, &state.catalog).await?;
    if t.name.trim().is_empty() {
        return Err(ApiError::bad_request("name: must not be empty"));
    }
    if let Some(name) = expected
        && name != t.name
    {
        return Err(ApiError::bad_request(format!(
            "name: the YAML says {:?}, the URL {name:?}",
            t.name
        )));
    }
    Ok(state
        .store
        .put_template(&t.name, &t.description, &body)
        .await?)
}

/// Creates a template, or a new version of an existing one.
///
/// The name comes from the YAML.
#[utoipa::path(
    post,
    path = "/templates",
    tag = "templates",
    operation_id = "create_template",
    request_body(
        description = "The template's YAML",
        content = String,
        content_type = "application/yaml",
    ),
    responses(
        (status = 201, description = "The stored version", body = TemplateRow),
        (status = 400, description = "Invalid YAML, unknown functions or parameters", body = ErrorBody),
    )
)]
async fn create(
    state: AppState,
    ApiText(body): ApiText,
) -> ApiResult<(StatusCode, axum::Json<TemplateRow>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(store_version(&state, body, None).await?),
    ))
}

/// Stores a new version of an existing template.
#[utoipa::path(
    put,
    path = "/templates/{name}",
    tag = "templates",
    operation_id = "update_template",
    params(("name" = String, Path, description = "Template name")),
    request_body(
        description = "The template's YAML",
        content = String,
        content_type = "application/yaml",
    ),
    responses(
        (status = 200, description = "The stored version", body = TemplateRow),
        (status = 400, description = "Invalid YAML, or its name is not the URL's", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
async fn update(
    state: AppState,
    ApiPath(name): ApiPath<String>,
    ApiText(body): ApiText,
) -> ApiResult<axum::Json<TemplateRow>> {
    state.store.get_template(&name, None).await?;
    Ok(axum::Json(store_version(&state, body, Some(&name)).await?))
}

/// Lists the templates.
#[utoipa::path(
    get,
    path = "/templates",
    tag = "templates",
    operation_id = "list_templates",
    responses((status = 200, description = "Every template", body = [TemplateRow]))
)]
async fn list(state: AppState) -> ApiResult<axum::Json<Vec<TemplateRow>>> {
    Ok(axum::Json(state.store.list_templates().await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version number; the latest when omitted.
    version: Option<i64>,
}

/// Shows a template's latest version, or the one asked for.
#[utoipa::path(
    get,
    path = "/templates/{name}",
    tag = "templates",
    operation_id = "get_template",
    params(("name" = String, Path, description = "Template name"), VersionQuery),
    responses(
        (status = 200, description = "The template version", body = TemplateRow),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "No such template or version", body = ErrorBody),
    )
)]
async fn show(
    state: AppState,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<axum::Json<TemplateRow>> {
    Ok(axum::Json(
        state.store.get_template(&name, q.version).await?,
    ))
}

/// Lists a template's versions.
#[utoipa::path(
    get,
    path = "/templates/{name}/versions",
    tag = "templates",
    operation_id = "list_template_versions",
    params(("name" = String, Path, description = "Template name")),
    responses(
        (status = 200, description = "Every version", body = [TemplateRow]),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
async fn versions(
    state: AppState,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<axum::Json<Vec<TemplateRow>>> {
    let v = state.store.template_versions(&name).await?;
    if v.is_empty() {
        return Err(ApiError::not_found(format!("template {name} not found")));
    }
    Ok(axum::Json(v))
}

/// A valid template's shape: what the console's stage diagram draws.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outline {
    pub name: String,
    pub description: String,
    pub source_kinds: Vec<RegistryKind>,
    pub target_kinds: Vec<RegistryKind>,
    /// In template order.
    pub stages: Vec<StageOutline>,
}

/// One stage of a valid template.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageOutline {
    pub name: String,
    /// `name@version`.
    pub function: String,
    pub scope: Scope,
    /// Artifacts at once (artifact scope).
    pub concurrency: usize,
    pub when: When,
    /// The tasks it serves (artifact scope).
    pub operation: Operation,
    pub timeout_secs: u64,
    /// Further attempts after the first.
    pub retries: u32,
}

impl From<&Template> for Outline {
    fn from(t: &Template) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            source_kinds: t.kinds.source.clone(),
            target_kinds: t.kinds.target.clone(),
            stages: t
                .stages
                .iter()
                .map(|s| StageOutline {
                    name: s.name.clone(),
                    function: s.function.reference.clone(),
                    scope: s.scope,
                    concurrency: s.concurrency,
                    when: s.when,
                    operation: s.operation,
                    timeout_secs: s.timeout.as_secs(),
                    retries: s.retries.count,
                })
                .collect(),
        }
    }
}

/// Validates a template's YAML without storing it.
///
/// What the console's editor asks as the user types: the same checks as a
/// save (syntax, functions, parameters, kinds). A valid template answers
/// its outline (what the stage diagram draws); an invalid one a 400 whose
/// error has the problem's line and column.
#[utoipa::path(
    post,
    path = "/templates/validate",
    tag = "templates",
    operation_id = "validate_template",
    request_body(
        description = "The template's YAML",
        content = String,
        content_type = "application/yaml",
    ),
    responses(
        (status = 200, description = "Valid: its outline", body = Outline),
        (status = 400, description = "Not valid: the first problem, with its `line` and `column`", body = ErrorBody),
    )
)]
async fn validate(state: AppState, ApiText(body): ApiText) -> ApiResult<axum::Json<Outline>> {
    if body.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the template's YAML",
        ));
    }
    let t = Template::load("template", &body, &state.catalog).await?;
    if t.name.trim().is_empty() {
        return Err(ApiError {
            at: Some((1, 1)),
            ..ApiError::bad_request("name: must not be empty")
        });
    }
    Ok(axum::Json(Outline::from(&t)))
}
