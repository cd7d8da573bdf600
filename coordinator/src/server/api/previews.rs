//! Previews the console shows beside a policy's fields, computed by the same
//! code that acts on them: a cron expression's next fire times (the
//! scheduler's `Schedule`) and where a source repository lands at the
//! target (the scope crate's mapping, as the listing and events use it).

use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, ApiResult};
use crate::engine::Schedule;
use crate::server::App;
use crate::store::now_ms;

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(schedule))
        .routes(routes!(namespace))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CronQuery {
    /// A cron expression: 6 fields (with seconds) or the classic 5; UTC.
    cron: String,
    /// How many fire times.
    #[serde(default = "five")]
    #[param(default = 5, minimum = 1, maximum = 100)]
    count: usize,
}

fn five() -> usize {
    5
}

/// A cron expression's next fire times, or why it has none.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchedulePreview {
    /// Epoch milliseconds, UTC, soonest first (fewer when it never fires
    /// again; none when the expression is not valid).
    pub next: Vec<i64>,
    /// Why the expression is not valid: what a policy saved with it would
    /// be refused for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Previews a schedule: the next fire times of a cron expression.
#[utoipa::path(
    get,
    path = "/schedule/preview",
    tag = "policies",
    operation_id = "preview_schedule",
    params(CronQuery),
    responses(
        (status = 200, description = "The next fire times, or why there are none", body = SchedulePreview),
        (status = 400, description = "A count out of range", body = ErrorBody),
    )
)]
async fn schedule(ApiQuery(q): ApiQuery<CronQuery>) -> ApiResult<axum::Json<SchedulePreview>> {
    if !(1..=100).contains(&q.count) {
        return Err(ApiError::bad_request("count: 1 to 100"));
    }
    Ok(axum::Json(match q.cron.parse::<Schedule>() {
        Ok(cron) => SchedulePreview {
            next: cron.upcoming(now_ms(), q.count),
            error: None,
        },
        Err(e) => SchedulePreview {
            next: Vec::new(),
            error: Some(e.to_string()),
        },
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NamespaceQuery {
    /// A source repository, e.g. `library/nginx`.
    #[param(min_length = 1)]
    repository: String,
    /// The policy's `dest_namespace` (empty: keep the path).
    #[serde(default)]
    namespace: String,
    /// The policy's `dest_namespace_replace_count`: -1 replaces the whole
    /// namespace, N its first N levels.
    #[serde(default = "whole")]
    #[param(default = -1, minimum = -1)]
    replace_count: i32,
}

fn whole() -> i32 {
    -1
}

/// Where a source repository lands, or why the mapping does not apply.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NamespacePreview {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why that repository cannot be mapped: what the policy's runs would
    /// report for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Previews a policy's namespace mapping for one source repository.
#[utoipa::path(
    get,
    path = "/namespace/preview",
    tag = "policies",
    operation_id = "preview_namespace",
    params(NamespaceQuery),
    responses(
        (status = 200, description = "The target repository, or why the mapping does not apply", body = NamespacePreview),
        (status = 400, description = "An empty repository, or a count below -1", body = ErrorBody),
    )
)]
async fn namespace(
    ApiQuery(q): ApiQuery<NamespaceQuery>,
) -> ApiResult<axum::Json<NamespacePreview>> {
    if q.repository.trim().is_empty() {
        return Err(ApiError::bad_request("repository: must not be empty"));
    }
    if q.replace_count < -1 {
        return Err(ApiError::bad_request("replace_count: -1 or more"));
    }
    let mapped = ferry_scope::map_repository(&q.repository, &q.namespace, q.replace_count);
    Ok(axum::Json(match mapped {
        Ok(target) => NamespacePreview {
            target: Some(target),
            error: None,
        },
        Err(e) => NamespacePreview {
            target: None,
            error: Some(e),
        },
    }))
}
