//! Executions: start (manual trigger), list, show, stop, retry, and tasks.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState};
use crate::engine::{PlanEntry, StageRecord};
use crate::server::App;
use crate::store::{
    Event, ExecStatus, ExecTrigger, Execution, ExecutionFilter, NewExecution, Task,
};

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(list_all))
        .routes(routes!(show))
        .routes(routes!(stop))
        .routes(routes!(retry))
        .routes(routes!(tasks))
}

/// What to start (the body is optional; `null` is the same as none).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// Only list: the execution's `plan` says what would be copied, skipped
    /// and deleted, and why; nothing is written to the target.
    #[serde(default)]
    pub dry_run: bool,
}

/// Starts an execution; with single active replication on and another one
/// active, the new one is recorded as `skipped` (still 201: it exists).
#[utoipa::path(
    post,
    path = "/policies/{id}/executions",
    tag = "executions",
    operation_id = "start_execution",
    summary = "Starts an execution of the policy",
    description = "With single active replication on and another execution active, the new one is recorded as `skipped` (still 201: it exists). A dry run (`{\"dry_run\": true}`) only lists, never waits for the active one, and writes nothing.",
    params(("id" = i64, Path, description = "Policy id")),
    request_body(content = Option<StartInput>, content_type = "application/json"),
    responses(
        (status = 201, description = "The execution (possibly `skipped`)", body = Execution),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 409, description = "The policy is disabled", body = ErrorBody),
    )
)]
async fn start(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    input: Option<ApiJson<Option<StartInput>>>,
) -> ApiResult<(StatusCode, axum::Json<Execution>)> {
    // No body, or `null`: the defaults.
    let input = input.and_then(|ApiJson(i)| i).unwrap_or_default();
    let policy = state.store.get_policy(id).await?;
    if !policy.enabled && !input.dry_run {
        return Err(ApiError::conflict(format!(
            "policy {} is disabled: enable it to run it (a dry run may still list it)",
            policy.name
        )));
    }
    let new = NewExecution {
        dry_run: input.dry_run,
        ..NewExecution::new(ExecTrigger::Manual)
    };
    let exec = state.store.start_execution(&policy, new).await?;
    state.executor.wake();
    Ok((StatusCode::CREATED, axum::Json(exec)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// From 1.
    #[serde(default = "first")]
    #[param(default = 1, minimum = 1)]
    page: i64,
    #[serde(default = "twenty")]
    #[param(default = 20, minimum = 1, maximum = 100)]
    page_size: i64,
}

impl Page {
    fn check(&self) -> ApiResult<()> {
        if self.page < 1 || !(1..=100).contains(&self.page_size) {
            return Err(ApiError::bad_request(
                "page starts at 1; page_size is 1..=100",
            ));
        }
        Ok(())
    }
}

fn first() -> i64 {
    1
}
fn twenty() -> i64 {
    20
}

/// Newest first; `X-Total-Count` carries the total, as Harbor does.
#[utoipa::path(
    get,
    path = "/policies/{id}/executions",
    tag = "executions",
    operation_id = "list_executions",
    summary = "Lists a policy's executions",
    description = "Newest first; `X-Total-Count` carries the total, as Harbor does.",
    params(("id" = i64, Path, description = "Policy id"), Page),
    responses(
        (status = 200, description = "A page of the policy's executions", body = [Execution],
            headers(("X-Total-Count" = i64, description = "How many executions the policy has"))),
        (status = 400, description = "Bad paging", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
    )
)]
async fn list(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<Execution>>)> {
    p.check()?;
    state.store.get_policy(id).await?;
    page_of(&state, ExecutionFilter::policy(id), &p).await
}

/// Which executions the list of every policy's picks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pick {
    /// Only this policy's.
    #[serde(default)]
    policy_id: Option<i64>,
    /// Only those in this status.
    #[serde(default)]
    status: Option<ExecStatus>,
}

/// Lists every policy's executions, newest first, optionally only one
/// policy's or one status's; `X-Total-Count` carries the total.
#[utoipa::path(
    get,
    path = "/executions",
    tag = "executions",
    operation_id = "list_all_executions",
    params(Pick, Page),
    responses(
        (status = 200, description = "A page of the executions picked", body = [Execution],
            headers(("X-Total-Count" = i64, description = "How many executions are picked in all"))),
        (status = 400, description = "Bad paging, or an unknown status", body = ErrorBody),
    )
)]
async fn list_all(
    state: AppState,
    ApiQuery(pick): ApiQuery<Pick>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<Execution>>)> {
    p.check()?;
    let filter = ExecutionFilter {
        policy_id: pick.policy_id,
        status: pick.status,
    };
    page_of(&state, filter, &p).await
}

/// A checked page of the executions `filter` picks, with the total.
async fn page_of(
    state: &App,
    filter: ExecutionFilter,
    p: &Page,
) -> ApiResult<(HeaderMap, axum::Json<Vec<Execution>>)> {
    let (items, total) = state
        .store
        .list_executions(filter, p.page, p.page_size)
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, axum::Json(items)))
}

/// An execution with what it did as a whole: the records of its
/// execution-scoped stages, and a dry run's plan.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub execution: Execution,
    /// The execution-scoped stages' records (listing, prepare, post
    /// actions), in template order, once the execution ended; the
    /// per-artifact records are in its tasks.
    pub stages: Vec<StageRecord>,
    /// A dry run's plan: what it would copy, skip and delete, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanEntry>>,
    /// The registry events that started or joined it, and the blobs they
    /// had copied ahead, each with its outcome (event-based runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// Shows an execution.
#[utoipa::path(
    get,
    path = "/executions/{id}",
    tag = "executions",
    operation_id = "get_execution",
    params(("id" = i64, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The execution", body = ExecutionDetail),
        (status = 404, description = "No such execution", body = ErrorBody),
    )
)]
async fn show(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<ExecutionDetail>> {
    let execution = state.store.get_execution(id).await?;
    let stages =
        serde_json::from_value(state.store.execution_report(id).await?).unwrap_or_default();
    let plan = if execution.dry_run {
        serde_json::from_value(state.store.execution_plan(id).await?).unwrap_or_default()
    } else {
        None
    };
    let events = if execution.trigger == ExecTrigger::EventBased {
        state.store.execution_events(id).await?
    } else {
        Vec::new()
    };
    Ok(axum::Json(ExecutionDetail {
        execution,
        stages,
        plan,
        events,
    }))
}

/// Stops an execution.
///
/// A pending one stops at once, a running one as soon as its coordinator
/// notices; a finished one is left as it is.
#[utoipa::path(
    post,
    path = "/executions/{id}/stop",
    tag = "executions",
    operation_id = "stop_execution",
    params(("id" = i64, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The execution", body = Execution),
        (status = 404, description = "No such execution", body = ErrorBody),
    )
)]
async fn stop(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<axum::Json<Execution>> {
    Ok(axum::Json(state.store.request_stop(id).await?))
}

/// Re-runs only the failed tasks, as a new execution.
#[utoipa::path(
    post,
    path = "/executions/{id}/retry",
    tag = "executions",
    operation_id = "retry_execution",
    summary = "Retries an execution's failed tasks",
    description = "Re-runs only the failed tasks, as a new execution.",
    params(("id" = i64, Path, description = "Execution id")),
    responses(
        (status = 201, description = "The new execution", body = Execution),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "Still active, skipped, or nothing failed", body = ErrorBody),
    )
)]
async fn retry(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, axum::Json<Execution>)> {
    let exec = state.store.get_execution(id).await?;
    if !exec.status.is_final() {
        return Err(ApiError::conflict(format!(
            "execution {id} is still {}: stop it or wait",
            exec.status.as_str()
        )));
    }
    if exec.status == ExecStatus::Skipped {
        return Err(ApiError::conflict(format!(
            "execution {id} was skipped: start a new one instead"
        )));
    }
    let failed = state.store.task_artifacts(id, ExecStatus::Failed).await?;
    if failed.is_empty() {
        return Err(ApiError::conflict(format!(
            "execution {id} has no failed tasks to retry"
        )));
    }
    let policy = state.store.get_policy(exec.policy_id).await?;
    let new = state
        .store
        .start_execution(&policy, NewExecution::retry(id))
        .await?;
    state.executor.wake();
    Ok((StatusCode::CREATED, axum::Json(new)))
}

/// Lists an execution's tasks.
#[utoipa::path(
    get,
    path = "/executions/{id}/tasks",
    tag = "executions",
    operation_id = "list_tasks",
    params(("id" = i64, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The tasks", body = [Task]),
        (status = 404, description = "No such execution", body = ErrorBody),
    )
)]
async fn tasks(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<axum::Json<Vec<Task>>> {
    state.store.get_execution(id).await?;
    Ok(axum::Json(state.store.list_tasks(id).await?))
}
