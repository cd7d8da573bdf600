//! `/registries`: where images come from and go to. Credentials are
//! write-only: sealed at rest, never returned, never logged.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, ApiPath, ApiResult, AppState};
use crate::domain::RegistryKind;
use crate::server::{App, kinds, resolve};
use crate::store::{NewRegistry, Registry};
use crate::transfer::{Endpoint, EndpointError, Kind, RegistryClient, Request, Role};

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update, remove))
        .routes(routes!(ping))
}

/// The kind of a registry that does not say: Harbor's API requires
/// `type`, and an OCI distribution registry is what most mean.
const DEFAULT_KIND: &str = "distribution";

/// A credential type, as the document lists them: only `basic`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CredentialType {
    Basic,
}

/// A registry credential; write-only (sealed at rest, never returned).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    /// Only `basic`: a user and a password or token.
    #[serde(rename = "type", default = "basic")]
    #[schema(value_type = CredentialType, default = "basic")]
    pub kind: String,
    #[schema(min_length = 1)]
    pub access_key: String,
    #[schema(format = Password, write_only)]
    pub access_secret: String,
}

fn basic() -> String {
    "basic".into()
}

/// A registry as clients send it (create, or replace on update).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryInput {
    /// Not blank, no NUL; stored without surrounding white space.
    #[schema(
        min_length = 1,
        pattern = "^[^\\x00]*[^\\x00\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    pub name: String,
    /// `https://host[:port][/path]`; plain `http://` needs `insecure`. OCI
    /// registries are reached at the root (`/v2/`); kinds such as chart
    /// repositories use the path.
    #[schema(
        format = "uri",
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://registry.example.com"
    )]
    pub url: String,
    /// Registry kind: one that an installed template serves (`GET
    /// /api/v1/kinds`). Harbor's `docker-registry` means `distribution`.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<RegistryKind>, default = "distribution")]
    pub kind: Option<String>,
    /// Plain HTTP, or HTTPS without verifying the certificate.
    #[serde(default)]
    pub insecure: bool,
    /// No NUL.
    #[serde(default)]
    #[schema(pattern = "^[^\\x00]*$")]
    pub description: String,
    /// On update, omitting it keeps the stored credential.
    #[serde(default, deserialize_with = "crate::store::object::opt")]
    pub credential: Option<CredentialInput>,
    /// The secret the registry's notifications carry as
    /// `Authorization: Bearer <secret>` (at least 16 characters); write-only.
    /// On update, omitting it keeps the stored one and `""` removes it.
    #[serde(default)]
    #[schema(
        format = Password,
        write_only,
        pattern = "^$|^[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][\\s\\S]{14,}[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]$"
    )]
    pub event_secret: Option<String>,
    /// Requests Ferry starts per second to this registry, across every
    /// execution on a coordinator (a 429 slows it down further for a
    /// while); omitted or `null`: no bound.
    #[serde(default, deserialize_with = "crate::store::whole::opt")]
    #[schema(minimum = 1, maximum = 100000)]
    pub requests_per_second: Option<i64>,
    /// Requests Ferry has waiting for this registry's answer at once, across
    /// every execution on a coordinator; omitted or `null`: no bound.
    #[serde(default, deserialize_with = "crate::store::whole::opt")]
    #[schema(minimum = 1, maximum = 1024)]
    pub max_concurrency: Option<i64>,
}

/// Plain HTTP needs `insecure`: the one rule of a registry's input that
/// spans two fields, added to its schema.
pub struct PlainHttp;

impl utoipa::Modify for PlainHttp {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
        let Some(schemas) = doc.components.as_mut().map(|c| &mut c.schemas) else {
            return;
        };
        let Some(input) = schemas.remove("RegistryInput") else {
            return;
        };
        let insecure = ObjectBuilder::new()
            .property(
                "insecure",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([true])),
            )
            .required("insecure");
        let https = ObjectBuilder::new().property(
            "url",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[Hh][Tt][Tt][Pp][Ss]://")),
        );
        let rule = AnyOfBuilder::new()
            .description(Some("An `http://` URL needs `\"insecure\": true`"))
            .item(https)
            .item(insecure);
        let schema = AllOfBuilder::new().item(input).item(rule).build();
        schemas.insert(
            "RegistryInput".to_string(),
            utoipa::openapi::RefOr::T(utoipa::openapi::Schema::AllOf(schema)),
        );
    }
}

/// Shortest event secret accepted: it is all that guards the endpoint.
const MIN_EVENT_SECRET: usize = 16;

/// The stored form of an event secret: its SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    crate::transfer::sha256_hex(secret.as_bytes())
}

async fn validate(app: &App, input: RegistryInput) -> ApiResult<(NewRegistry, bool)> {
    if input.name.trim().is_empty() {
        return Err(ApiError::bad_request("name: must not be empty"));
    }
    for (field, text) in [("name", &input.name), ("description", &input.description)] {
        if text.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "{field}: may not contain NUL (\\u0000)"
            )));
        }
    }
    // As the document's pattern says; a URL parser would also take what
    // surrounds it (white space) or other spellings of the scheme.
    let scheme = input.url.split_once("://").map(|(s, _)| s);
    if !scheme.is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")) {
        return Err(ApiError::bad_request(format!(
            "url: {:?} does not start with https:// (or http:// with \"insecure\": true)",
            input.url
        )));
    }
    let kind = RegistryKind::parse(input.kind.as_deref().unwrap_or(DEFAULT_KIND))
        .map_err(|e| ApiError::bad_request(format!("type: {e}")))?;
    let installed = kinds::installed(&app.store).await?;
    if !installed.contains_key(&kind) {
        return Err(ApiError::bad_request(format!(
            "type: no installed template serves registries of kind {:?}; kinds available: \
             {} (a new kind is its functions and a template declaring it in `kinds`)",
            kind.as_str(),
            kinds::listing(&installed)
        )));
    }
    Endpoint::new(kind.clone(), &input.url, input.insecure, None).map_err(|e| match e {
        EndpointError::PlainHttp { url } => {
            ApiError::bad_request(format!("url: {url}: plain HTTP needs \"insecure\": true"))
        }
        other => ApiError::bad_request(format!("url: {other}")),
    })?;
    for (field, value, max) in [
        ("requests_per_second", input.requests_per_second, 100_000),
        ("max_concurrency", input.max_concurrency, 1024),
    ] {
        if value.is_some_and(|v| !(1..=max).contains(&v)) {
            return Err(ApiError::bad_request(format!(
                "{field}: from 1 to {max}, or null for no bound"
            )));
        }
    }
    let has_credential = input.credential.is_some();
    let (credential_type, credential_sealed) = match input.credential {
        None => (None, None),
        Some(c) if c.kind != "basic" => {
            return Err(ApiError::bad_request(format!(
                "credential.type: {:?} is not supported (use basic: a user and a password or token)",
                c.kind
            )));
        }
        Some(c) if c.access_key.is_empty() => {
            return Err(ApiError::bad_request(
                "credential.access_key: must not be empty",
            ));
        }
        Some(c) => (
            Some(c.kind),
            Some(
                app.sealer
                    .seal(format!("{}\0{}", c.access_key, c.access_secret).as_bytes()),
            ),
        ),
    };
    let event_secret_hash = match input.event_secret.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(s) if s.chars().count() < MIN_EVENT_SECRET || s.trim() != s => {
            return Err(ApiError::bad_request(format!(
                "event_secret: at least {MIN_EVENT_SECRET} characters, without surrounding \
                 spaces (e.g. `openssl rand -hex 24`); \"\" removes it"
            )));
        }
        Some(s) => Some(Some(secret_hash(s))),
    };
    Ok((
        NewRegistry {
            name: input.name.trim().to_string(),
            url: input.url.trim_end_matches('/').to_string(),
            kind,
            insecure: input.insecure,
            description: input.description,
            credential_type,
            credential_sealed,
            event_secret_hash,
            requests_per_second: input.requests_per_second,
            max_concurrency: input.max_concurrency,
        },
        has_credential,
    ))
}

/// A registry's kind may change only while every policy that uses it has a
/// template that serves the new kind.
async fn policies_still_served(app: &App, id: i64, kind: &RegistryKind) -> ApiResult<()> {
    let problems = kinds::conflicts_of_registry(&app.store, id, kind)
        .await
        .map_err(|e| match e {
            resolve::ResolveError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other.to_string()),
        })?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "type: registry {id} cannot become {kind}: {}",
            problems.join("; ")
        )))
    }
}

/// Creates a registry.
#[utoipa::path(
    post,
    path = "/registries",
    tag = "registries",
    operation_id = "create_registry",
    request_body = RegistryInput,
    responses(
        (status = 201, description = "The registry, without its credential", body = Registry),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
async fn create(
    state: AppState,
    ApiJson(input): ApiJson<RegistryInput>,
) -> ApiResult<(StatusCode, axum::Json<Registry>)> {
    let (row, _) = validate(&state, input).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(state.store.create_registry(row).await?),
    ))
}

/// Lists the registries.
#[utoipa::path(
    get,
    path = "/registries",
    tag = "registries",
    operation_id = "list_registries",
    responses((status = 200, description = "Every registry", body = [Registry]))
)]
async fn list(state: AppState) -> ApiResult<axum::Json<Vec<Registry>>> {
    Ok(axum::Json(state.store.list_registries().await?))
}

/// Shows a registry.
#[utoipa::path(
    get,
    path = "/registries/{id}",
    tag = "registries",
    operation_id = "get_registry",
    params(("id" = i64, Path, description = "Registry id")),
    responses(
        (status = 200, description = "The registry", body = Registry),
        (status = 404, description = "No such registry", body = ErrorBody),
    )
)]
async fn show(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<axum::Json<Registry>> {
    Ok(axum::Json(state.store.get_registry(id).await?))
}

/// Replaces a registry. An update without `credential` keeps the stored one.
#[utoipa::path(
    put,
    path = "/registries/{id}",
    tag = "registries",
    operation_id = "update_registry",
    params(("id" = i64, Path, description = "Registry id")),
    request_body = RegistryInput,
    responses(
        (status = 200, description = "The updated registry", body = Registry),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 404, description = "No such registry", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
async fn update(
    state: AppState,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<RegistryInput>,
) -> ApiResult<axum::Json<Registry>> {
    let (row, has_credential) = validate(&state, input).await?;
    policies_still_served(&state, id, &row.kind).await?;
    Ok(axum::Json(
        state
            .store
            .update_registry(id, row, !has_credential)
            .await?,
    ))
}

/// Deletes a registry.
#[utoipa::path(
    delete,
    path = "/registries/{id}",
    tag = "registries",
    operation_id = "delete_registry",
    params(("id" = i64, Path, description = "Registry id")),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such registry", body = ErrorBody),
        (status = 409, description = "A policy uses the registry", body = ErrorBody),
    )
)]
async fn remove(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    state.store.delete_registry(id).await?;
    Ok(StatusCode::OK)
}

/// Whether a registry answered a ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        })
    }
}

/// The outcome of a ping.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub message: String,
}

/// Checks the registry answers, with the stored credential: at the path its
/// kind's templates name (`/v2/` for distribution), else at its URL.
///
/// An unreachable or refusing registry is still a 200, with `unhealthy`.
#[utoipa::path(
    post,
    path = "/registries/{id}/ping",
    tag = "registries",
    operation_id = "ping_registry",
    params(("id" = i64, Path, description = "Registry id")),
    responses(
        (status = 200, description = "Whether the registry answered", body = Health),
        (status = 400, description = "The stored URL is not usable", body = ErrorBody),
        (status = 404, description = "No such registry", body = ErrorBody),
    )
)]
async fn ping(state: AppState, ApiPath(id): ApiPath<i64>) -> ApiResult<axum::Json<Health>> {
    let endpoint = resolve::endpoint(&state, id).await.map_err(|e| match e {
        resolve::ResolveError::Store(e) => ApiError::from(e),
        other => ApiError::internal(other.to_string()),
    })?;
    let path = kinds::installed(&state.store)
        .await?
        .remove(&endpoint.kind)
        .and_then(|s| s.ping)
        .unwrap_or_default();
    // A health check answers now: one try.
    let network = crate::transfer::Network {
        attempts: 1,
        ..Default::default()
    };
    let client = RegistryClient::new(Role::Target, endpoint, network)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let url = client
        .url(&path)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let req = Request {
        method: "GET".into(),
        path: path.clone(),
        headers: Vec::new(),
        body: None,
    };
    let health =
        match tokio::time::timeout(std::time::Duration::from_secs(15), client.send(req)).await {
            Err(_) => Health {
                status: HealthStatus::Unhealthy,
                message: format!("{}: no answer within 15 s", url),
            },
            Ok(Ok(r)) if r.status == 200 => Health {
                status: HealthStatus::Healthy,
                message: format!("{url} answered 200"),
            },
            Ok(Ok(r)) => {
                let e = crate::transfer::TransferError::from_status(
                    r.status,
                    format!("GET {url}"),
                    &r.body,
                );
                Health {
                    status: HealthStatus::Unhealthy,
                    message: if e.kind == Kind::Unauthorized {
                        format!("{e}: the registry refused the credential")
                    } else {
                        e.to_string()
                    },
                }
            }
            Ok(Err(e)) => Health {
                status: HealthStatus::Unhealthy,
                message: e.to_string(),
            },
        };
    Ok(axum::Json(health))
}
