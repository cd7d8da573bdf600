//! `/policies`: what to replicate, from where to where, when, and with
//! which template. Harbor's fields and defaults.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, ApiPath, ApiResult, AppState};
use crate::engine::Schedule;
use crate::runtime::FilterKind;
use crate::server::{App, resolve};
use crate::store::{
    Policy, PolicyFilter, RegistryRef, StoreError, Trigger, TriggerKind, object, whole,
};

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update, remove))
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
    Trigger::manual()
}

/// A policy as clients send it; omitted fields take Harbor's defaults.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Not blank, no NUL; stored without surrounding white space.
    #[schema(
        min_length = 1,
        pattern = "^[^\\x00]*[^\\x00\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub name: String,
    /// No NUL.
    #[serde(default)]
    #[schema(pattern = "^[^\\x00]*$")]
    pub description: String,
    #[serde(default, deserialize_with = "object::opt")]
    #[schema(value_type = RegistryRef, required = true)]
    pub src_registry: Option<RegistryRef>,
    #[serde(default, deserialize_with = "object::opt")]
    #[schema(value_type = RegistryRef, required = true)]
    pub dest_registry: Option<RegistryRef>,
    #[serde(default)]
    pub dest_namespace: String,
    /// -1: replace the whole namespace; N: its first N levels.
    #[serde(default = "default_count", deserialize_with = "whole::int")]
    #[schema(default = -1, minimum = -1)]
    pub dest_namespace_replace_count: i32,
    #[serde(default, deserialize_with = "object::vec")]
    pub filters: Vec<PolicyFilter>,
    #[serde(default = "manual", deserialize_with = "object::one")]
    #[schema(default = json!({"type": "manual", "trigger_settings": {}}))]
    pub trigger: Trigger,
    #[serde(default)]
    pub replicate_deletion: bool,
    #[serde(rename = "override", default = "yes")]
    #[schema(default = true)]
    pub override_existing: bool,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub enabled: bool,
    #[serde(default = "unlimited", deserialize_with = "whole::int")]
    #[schema(default = -1, minimum = -1)]
    /// KB/s; -1 or 0: unlimited.
    pub speed: i64,
    #[serde(default)]
    pub copy_by_chunk: bool,
    /// Bytes.
    #[serde(default = "ten_mb", deserialize_with = "whole::int")]
    #[schema(default = 10485760, minimum = 1)]
    pub chunk_size: i64,
    #[serde(default)]
    pub single_active_replication: bool,
    #[serde(default = "oci_to_oci")]
    #[schema(default = "oci-to-oci")]
    /// `name` or `name@version` of a template.
    pub template: String,
    // Read-only fields a client may echo back from a GET.
    #[serde(
        default,
        deserialize_with = "whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[allow(dead_code)]
    #[schema(read_only)]
    pub id: Option<i64>,
    #[serde(
        default,
        deserialize_with = "whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[allow(dead_code)]
    #[schema(read_only)]
    pub creation_time: Option<i64>,
    #[serde(
        default,
        deserialize_with = "whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[allow(dead_code)]
    #[schema(read_only)]
    pub update_time: Option<i64>,
    #[serde(
        default,
        deserialize_with = "whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[allow(dead_code)]
    #[schema(read_only)]
    pub next_fire_time: Option<i64>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

async fn validate(app: &App, p: PolicyInput) -> ApiResult<Policy> {
    if p.name.trim().is_empty() {
        return Err(bad("name: must not be empty"));
    }
    for (field, text) in [("name", &p.name), ("description", &p.description)] {
        if text.contains('\0') {
            return Err(bad(format!("{field}: may not contain NUL (\\u0000)")));
        }
    }
    let src = p
        .src_registry
        .ok_or_else(|| bad("src_registry: required ({\"id\": N})"))?;
    let dest = p
        .dest_registry
        .ok_or_else(|| bad("dest_registry: required ({\"id\": N})"))?;
    let mut registries = Vec::with_capacity(2);
    for (field, r) in [("src_registry", &src), ("dest_registry", &dest)] {
        match app.store.get_registry(r.id).await {
            Ok(reg) => registries.push(reg),
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
    let filters = resolve::filters(&p.filters).map_err(|e| bad(format!("filters: {e}")))?;
    if filters.iter().any(|f| f.kind == FilterKind::Label) {
        return Err(bad(format!(
            "filters: a label filter cannot apply: registries of kind {} have no labels \
             (Harbor's labels live in Harbor's database, not in the registry API); filter \
             by name, tag or resource instead",
            registries[0].kind
        )));
    }
    let schedule = match p.trigger.kind {
        TriggerKind::Manual | TriggerKind::EventBased => None,
        TriggerKind::Scheduled => {
            let spec = p.trigger.trigger_settings.cron.as_deref().unwrap_or("");
            if spec.trim().is_empty() {
                return Err(bad(
                    "trigger.trigger_settings.cron: required for a scheduled trigger",
                ));
            }
            Some(
                spec.parse::<Schedule>()
                    .map_err(|e| bad(format!("trigger.trigger_settings.cron: {e}")))?,
            )
        }
    };
    if p.trigger.kind == TriggerKind::EventBased && p.single_active_replication {
        return Err(bad(
            "single_active_replication cannot be used with an event_based trigger: events would be skipped",
        ));
    }
    if p.speed < -1 {
        return Err(bad("speed: KB/s, or -1 for unlimited"));
    }
    if p.chunk_size <= 0 {
        return Err(bad("chunk_size: a positive number of bytes"));
    }
    let template = resolve::template(app, &p.template)
        .await
        .map_err(|e| match e {
            resolve::ResolveError::Store(StoreError::NotFound { what }) => {
                bad(format!("template: {what} not found"))
            }
            other => bad(format!("template: {other}")),
        })?;
    if let Some(why) = template
        .kinds
        .refuses(&registries[0].kind, &registries[1].kind)
    {
        return Err(bad(format!(
            "template: {} cannot replicate from {} to {}: {why}",
            p.template, registries[0].name, registries[1].name
        )));
    }
    if p.replicate_deletion && !template.deletes() {
        return Err(bad(format!(
            "replicate_deletion: template {} has no stage for deletions (an artifact-scoped \
             stage with `operation: delete`); use one that has, such as oci-to-oci",
            p.template
        )));
    }
    let now = crate::store::now_ms();
    let next_fire_time = schedule
        .filter(|_| p.enabled)
        .and_then(|s| s.next_after(now));
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
        next_fire_time,
    })
}

/// Creates a policy.
#[utoipa::path(
    post,
    path = "/policies",
    tag = "policies",
    operation_id = "create_policy",
    request_body = PolicyInput,
    responses(
        (status = 201, description = "The policy", body = Policy),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
async fn create(
    state: AppState,
    ApiJson(input): ApiJson<PolicyInput>,
) -> ApiResult<(StatusCode, axum::Json<Policy>)> {
    let p = validate(&state, input).await?;
    let created = state.store.create_policy(&p).await?;
    state.scheduler.wake();
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Lists the policies.
#[utoipa::path(
    get,
    path = "/policies",
    tag = "policies",
    operation_id = "list_policies",
    responses((status = 200, description = "Every policy", body = [Policy]))
)]
async fn list(state: AppState) -> ApiResult<axum::Json<Vec<Policy>>> {
    Ok(axum::Json(state.store.list_policies().await?))
}

/// Shows a policy.
#[utoipa::path(
    get,
    path = "/policies/{id}",
    tag = "policies",
    operation_id = "get_policy",
    params(("id" = i64, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The policy", body = Policy),
        (status = 404, description = "No such policy", body = ErrorBody),
    )
)]
async fn show(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<axum::Json<Policy>> {
    Ok(axum::Json(state.store.get_policy(id).await?))
}

/// Replaces a policy.
#[utoipa::path(
    put,
    path = "/policies/{id}",
    tag = "policies",
    operation_id = "update_policy",
    params(("id" = i64, Path, description = "Policy id")),
    request_body = PolicyInput,
    responses(
        (status = 200, description = "The updated policy", body = Policy),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
async fn update(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PolicyInput>,
) -> ApiResult<axum::Json<Policy>> {
    state.store.get_policy(id).await?;
    let p = validate(&state, input).await?;
    let updated = state.store.update_policy(id, &p).await?;
    state.scheduler.wake();
    Ok(axum::Json(updated))
}

/// Deletes a policy.
#[utoipa::path(
    delete,
    path = "/policies/{id}",
    tag = "policies",
    operation_id = "delete_policy",
    params(("id" = i64, Path, description = "Policy id")),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 409, description = "One of its executions is pending or running", body = ErrorBody),
    )
)]
async fn remove(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    state.store.delete_policy(id).await?;
    Ok(StatusCode::OK)
}
