//! Executions: start (manual trigger), list, show, stop, retry, and tasks.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{ApiError, ApiQuery, ApiResult, AppState};
use crate::server::App;
use crate::store::{ExecStatus, Execution, Task};

pub fn routes() -> Router<std::sync::Arc<App>> {
    Router::new()
        .route("/policies/{id}/executions", post(start).get(list))
        .route("/executions/{id}", get(show))
        .route("/executions/{id}/stop", post(stop))
        .route("/executions/{id}/retry", post(retry))
        .route("/executions/{id}/tasks", get(tasks))
}

/// Starts an execution; with single active replication on and another one
/// active, the new one is recorded as `skipped` (still 201: it exists).
async fn start(
    state: AppState,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<Execution>)> {
    let policy = state.store.get_policy(id).await?;
    if !policy.enabled {
        return Err(ApiError::conflict(format!(
            "policy {} is disabled: enable it to run it",
            policy.name
        )));
    }
    let exec = state.store.start_execution(&policy, "manual", None).await?;
    state.executor.wake();
    Ok((StatusCode::CREATED, axum::Json(exec)))
}

#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default = "first")]
    page: i64,
    #[serde(default = "twenty")]
    page_size: i64,
}

fn first() -> i64 {
    1
}
fn twenty() -> i64 {
    20
}

/// Newest first; `X-Total-Count` carries the total, as Harbor does.
async fn list(
    state: AppState,
    Path(id): Path<i64>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<Execution>>)> {
    if p.page < 1 || !(1..=100).contains(&p.page_size) {
        return Err(ApiError::bad_request(
            "page starts at 1; page_size is 1..=100",
        ));
    }
    state.store.get_policy(id).await?;
    let (items, total) = state.store.list_executions(id, p.page, p.page_size).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, axum::Json(items)))
}

async fn show(state: AppState, Path(id): Path<i64>) -> ApiResult<axum::Json<Execution>> {
    Ok(axum::Json(state.store.get_execution(id).await?))
}

async fn stop(state: AppState, Path(id): Path<i64>) -> ApiResult<axum::Json<Execution>> {
    Ok(axum::Json(state.store.request_stop(id).await?))
}

/// Re-runs only the failed tasks, as a new execution.
async fn retry(
    state: AppState,
    Path(id): Path<i64>,
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
    let failed = state.store.task_artifacts(id, "failed").await?;
    if failed.is_empty() {
        return Err(ApiError::conflict(format!(
            "execution {id} has no failed tasks to retry"
        )));
    }
    let policy = state.store.get_policy(exec.policy_id).await?;
    let new = state
        .store
        .start_execution(&policy, "retry", Some(id))
        .await?;
    state.executor.wake();
    Ok((StatusCode::CREATED, axum::Json(new)))
}

async fn tasks(state: AppState, Path(id): Path<i64>) -> ApiResult<axum::Json<Vec<Task>>> {
    state.store.get_execution(id).await?;
    Ok(axum::Json(state.store.list_tasks(id).await?))
}
