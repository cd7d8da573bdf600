//! `/kinds`: the registry kinds this service can replicate, from its
//! installed templates.

use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiResult, AppState};
use crate::domain::RegistryKind;
use crate::server::{App, kinds};

pub fn routes() -> OpenApiRouter<std::sync::Arc<App>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// A registry kind and the templates that serve it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KindInfo {
    #[schema(value_type = String, example = "distribution")]
    name: RegistryKind,
    /// Other names accepted for it in a registry's `type` (Harbor's).
    aliases: Vec<&'static str>,
    /// Templates (latest versions) that read from registries of this kind.
    source_templates: Vec<String>,
    /// Templates (latest versions) that write to registries of this kind.
    target_templates: Vec<String>,
}

/// Lists the registry kinds that the installed templates serve.
///
/// A kind exists while some template declares it in `kinds`: uploading a
/// kind's functions and such a template adds it, with no restart.
#[utoipa::path(
    get,
    path = "/kinds",
    tag = "registries",
    operation_id = "list_kinds",
    responses((status = 200, description = "Every kind, by name", body = [KindInfo]))
)]
async fn list(state: AppState) -> ApiResult<axum::Json<Vec<KindInfo>>> {
    let installed = kinds::installed(&state.store).await?;
    Ok(axum::Json(
        installed
            .into_iter()
            .map(|(name, served)| KindInfo {
                aliases: name.aliases(),
                name,
                source_templates: served.as_source,
                target_templates: served.as_target,
            })
            .collect(),
    ))
}
