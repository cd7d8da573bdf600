//! From stored rows to what the engine runs: a policy with its registries'
//! endpoints and unsealed credentials, and a loaded template.

use crate::engine::{self, Template};
use crate::runtime::{Decoration, Filter, FilterKind};
use crate::store::{Policy, PolicyDecoration, PolicyFilter, PolicyFilterKind, StoreError};
use crate::transfer::gate::Bounds;
use crate::transfer::{Credentials, Endpoint};

use super::App;

/// Why a stored policy cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] engine::TemplateError),
}

/// `name` or `name@version` of a stored template.
pub fn split_template(reference: &str) -> Result<(&str, Option<i64>), ResolveError> {
    match reference.split_once('@') {
        None => Ok((reference, None)),
        Some((name, v)) => v.parse::<i64>().map(|v| (name, Some(v))).map_err(|_| {
            ResolveError::Invalid(format!(
                "template {reference:?}: the version after @ must be a number"
            ))
        }),
    }
}

/// Loads (and so validates) a stored template.
pub async fn template(app: &App, reference: &str) -> Result<Template, ResolveError> {
    let (name, version) = split_template(reference)?;
    let row = app.store.get_template(name, version).await?;
    Ok(Template::load(
        &format!("template {}@{}", row.name, row.version),
        &row.body,
        &app.catalog,
    )
    .await?)
}

/// Filters in the engine's terms; a label filter lists labels that must all
/// be present, so it becomes one filter per label.
pub fn filters(list: &[PolicyFilter]) -> Result<Vec<Filter>, ResolveError> {
    let mut out = Vec::new();
    for f in list {
        let kind = match f.kind {
            PolicyFilterKind::Name | PolicyFilterKind::Repository => FilterKind::Repository,
            PolicyFilterKind::Tag => FilterKind::Tag,
            PolicyFilterKind::Label => FilterKind::Label,
            PolicyFilterKind::Resource => FilterKind::Resource,
        };
        let decoration = match f.decoration.unwrap_or_default() {
            PolicyDecoration::Matches => Decoration::Matches,
            PolicyDecoration::Excludes => Decoration::Excludes,
        };
        let values: Vec<String> = match &f.value {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) if kind == FilterKind::Label => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| ResolveError::Invalid("label values must be strings".into()))
                })
                .collect::<Result<_, _>>()?,
            serde_json::Value::Null => vec![String::new()],
            other => {
                return Err(ResolveError::Invalid(format!(
                    "filter value {other} must be a string"
                )));
            }
        };
        if kind == FilterKind::Resource
            && values
                .iter()
                .any(|v| !matches!(v.as_str(), "" | "image" | "artifact"))
        {
            return Err(ResolveError::Invalid(
                "a resource filter's value is image or artifact".into(),
            ));
        }
        out.extend(values.into_iter().map(|pattern| Filter {
            kind,
            pattern,
            decoration,
        }));
    }
    Ok(out)
}

/// A policy's scope as the host routes events with it: its filters, the
/// same ones its listing applies.
pub fn scope(p: &Policy) -> Result<ferry_scope::Filters, ResolveError> {
    let list = filters(&p.filters)?;
    ferry_scope::Filters::new(list.iter().map(|f| ferry_scope::Filter {
        kind: match f.kind {
            FilterKind::Repository => ferry_scope::Kind::Repository,
            FilterKind::Tag => ferry_scope::Kind::Tag,
            FilterKind::Label => ferry_scope::Kind::Label,
            FilterKind::Resource => ferry_scope::Kind::Resource,
        },
        pattern: &f.pattern,
        keep: f.decoration == Decoration::Matches,
    }))
    .map_err(ResolveError::Invalid)
}

/// A registry's stored credential, unsealed.
pub async fn credentials(app: &App, id: i64) -> Result<Option<Credentials>, ResolveError> {
    let Some((_, sealed)) = app.store.registry_credential(id).await? else {
        return Ok(None);
    };
    let plain = app.sealer.open(&sealed).map_err(ResolveError::Invalid)?;
    let text = String::from_utf8(plain).map_err(|_| {
        ResolveError::Invalid(format!("registry {id}: stored credential is not text"))
    })?;
    let (user, pass) = text.split_once('\0').unwrap_or((text.as_str(), ""));
    Ok(Some(Credentials {
        username: user.to_string(),
        password: pass.to_string(),
    }))
}

/// A stored registry as the engine reaches it.
pub async fn endpoint(app: &App, id: i64) -> Result<Endpoint, ResolveError> {
    let reg = app.store.get_registry(id).await?;
    let credentials = credentials(app, id).await?;
    let mut endpoint = Endpoint::new(reg.kind, &reg.url, reg.insecure, credentials)
        .map_err(|e| ResolveError::Invalid(format!("registry {}: {e}", reg.name)))?;
    let bound = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).filter(|&v| v > 0);
    endpoint.bounds = Bounds {
        requests_per_second: bound(reg.requests_per_second),
        max_concurrency: bound(reg.max_concurrency),
    };
    Ok(endpoint)
}

/// The engine's policy for a stored one.
pub async fn engine_policy(app: &App, p: &Policy) -> Result<engine::Policy, ResolveError> {
    Ok(engine::Policy {
        name: p.name.clone(),
        source: endpoint(app, p.src_registry.id).await?,
        target: endpoint(app, p.dest_registry.id).await?,
        dest_namespace: p.dest_namespace.clone(),
        dest_namespace_replace_count: p.dest_namespace_replace_count,
        filters: filters(&p.filters)?,
        override_existing: p.override_existing,
        replicate_deletion: p.replicate_deletion,
        copy_by_chunk: p.copy_by_chunk,
        chunk_size: u64::try_from(p.chunk_size).unwrap_or(0),
        // KB/s, as Harbor counts them (1024 bytes).
        speed: u64::try_from(p.speed)
            .ok()
            .filter(|&kb| kb > 0)
            .map(|kb| kb.saturating_mul(1024)),
    })
}
