//! `/policies`: what to replicate, from where to where, when, and with
//! which template. Harbor's fields and defaults.

use std::str::FromStr as _;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::{ApiError, ApiJson, ApiResult, AppState};
use crate::server::{App, resolve};
use crate::store::{Policy, PolicyFilter, RegistryRef, StoreError, Trigger, TriggerSettings};

pub fn routes() -> Router<std::sync::Arc<App>> {
    Router::new()
        .route("/policies", post(create).get(list))
        .route(
            "/policies/{id}",
            axum::routing::get(show).put(update).delete(remove),
        )
}

fn default_count() -> i32 {
    -1
}
fn yes() -> bool {
    true
}
fn unlimited() -> i64 {
    -1
}
fn ten_mb() -> i64 {
    10 * 1024 * 1024
}
fn oci_to_oci() -> String {
    "oci-to-oci".into()
}
fn manual() -> Trigger {
    Trigger {
        kind: "manual".into(),
        trigger_settings: TriggerSettings::default(),
    }
}

/// A policy as clients send it; omitted fields take Harbor's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    name: String,
    #[serde(default)]
    description: String,
    src_registry: Option<RegistryRef>,
    dest_registry: Option<RegistryRef>,
    #[serde(default)]
    dest_namespace: String,
    #[serde(default = "default_count")]
    dest_namespace_replace_count: i32,
    #[serde(default)]
    filters: Vec<PolicyFilter>,
    #[serde(default = "manual")]
    trigger: Trigger,
    #[serde(default)]
    replicate_deletion: bool,
    #[serde(rename = "override", default = "yes")]
    override_existing: bool,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "unlimited")]
    speed: i64,
    #[serde(default)]
    copy_by_chunk: bool,
    #[serde(default = "ten_mb")]
    chunk_size: i64,
    #[serde(default)]
    single_active_replication: bool,
    #[serde(default = "oci_to_oci")]
    template: String,
    // Read-only fields a client may echo back from a GET.
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    creation_time: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    update_time: Option<i64>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

async fn validate(app: &App, p: PolicyInput) -> ApiResult<Policy> {
    if p.name.trim().is_empty() {
        return Err(bad("name: must not be empty"));
    }
    let src = p
        .src_registry
        .ok_or_else(|| bad("src_registry: required ({\"id\": N})"))?;
    let dest = p
        .dest_registry
        .ok_or_else(|| bad("dest_registry: required ({\"id\": N})"))?;
    for (field, r) in [("src_registry", &src), ("dest_registry", &dest)] {
        match app.store.get_registry(r.id).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(bad(format!("{field}: unknown registry {}", r.id)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if p.dest_namespace_replace_count < -1 {
        return Err(bad(
            "dest_namespace_replace_count: -1, 0 or a positive number",
        ));
    }
    resolve::filters(&p.filters).map_err(|e| bad(format!("filters: {e}")))?;
    match p.trigger.kind.as_str() {
        "manual" => {}
        "scheduled" => {
            let spec = p.trigger.trigger_settings.cron.as_deref().unwrap_or("");
            if spec.trim().is_empty() {
                return Err(bad(
                    "trigger.trigger_settings.cron: required for a scheduled trigger",
                ));
            }
            cron::Schedule::from_str(spec).map_err(|e| {
                bad(format!(
                    "trigger.trigger_settings.cron: {spec:?} is not a cron expression ({e}); use 6 fields with seconds, e.g. \"0 0 * * * *\""
                ))
            })?;
        }
        "event_based" if p.single_active_replication => {
            return Err(bad(
                "single_active_replication cannot be used with an event_based trigger: events would be skipped",
            ));
        }
        "event_based" => {}
        other => {
            return Err(bad(format!(
                "trigger.type: {other:?} is not manual, scheduled or event_based"
            )));
        }
    }
    if p.speed < -1 {
        return Err(bad("speed: KB/s, or -1 for unlimited"));
    }
    if p.chunk_size <= 0 {
        return Err(bad("chunk_size: a positive number of bytes"));
    }
    resolve::template(app, &p.template)
        .await
        .map_err(|e| match e {
            resolve::ResolveError::Store(StoreError::NotFound { what }) => {
                bad(format!("template: {what} not found"))
            }
            other => bad(format!("template: {other}")),
        })?;
    let now = crate::store::now_ms();
    Ok(Policy {
        id: 0,
        name: p.name.trim().to_string(),
        description: p.description,
        src_registry: src,
        dest_registry: dest,
        dest_namespace: p.dest_namespace.trim_matches('/').to_string(),
        dest_namespace_replace_count: p.dest_namespace_replace_count,
        filters: p.filters,
        trigger: p.trigger,
        replicate_deletion: p.replicate_deletion,
        override_existing: p.override_existing,
        enabled: p.enabled,
        speed: p.speed,
        copy_by_chunk: p.copy_by_chunk,
        chunk_size: p.chunk_size,
        single_active_replication: p.single_active_replication,
        template: p.template,
        creation_time: now,
        update_time: now,
    })
}

async fn create(
    state: AppState,
    ApiJson(input): ApiJson<PolicyInput>,
) -> ApiResult<(StatusCode, axum::Json<Policy>)> {
    let p = validate(&state, input).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.store.create_policy(&p).await?),
    ))
}

async fn list(state: AppState) -> ApiResult<axum::Json<Vec<Policy>>> {
    Ok(axum::Json(state.store.list_policies().await?))
}

async fn show(state: AppState, Path(id): Path<i64>) -> ApiResult<axum::Json<Policy>> {
    Ok(axum::Json(state.store.get_policy(id).await?))
}

async fn update(
    state: AppState,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PolicyInput>,
) -> ApiResult<axum::Json<Policy>> {
    state.store.get_policy(id).await?;
    let p = validate(&state, input).await?;
    Ok(axum::Json(state.store.update_policy(id, &p).await?))
}

async fn remove(state: AppState, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.store.delete_policy(id).await?;
    Ok(StatusCode::OK)
}
