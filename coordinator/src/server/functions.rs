//! Functions and templates in the store: the catalog's source for the
//! service, and the built-ins registered at every start.

use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::engine::template::BUILTIN;
use crate::runtime::{DirSource, Function, FunctionSource, Runtime};
use crate::store::{NewFunction, Store, StoreError};

/// Uploaded (and built-in) functions, as stored: shared by every
/// coordinator on the same database.
pub struct StoreFunctions {
    store: Store,
}

impl StoreFunctions {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl FunctionSource for StoreFunctions {
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            let row = match self.store.get_function(name, version).await {
                Ok(row) => row,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            self.store
                .function_content(&row.digest)
                .await
                .map(Some)
                .map_err(|e| e.to_string())
        })
    }

    fn describe(&self) -> String {
        "not uploaded: see GET /api/v1/functions".into()
    }
}

/// The row describing a loaded function.
pub fn new_function(name: &str, version: &str, f: &Function, builtin: bool) -> NewFunction {
    NewFunction {
        name: name.to_string(),
        version: version.to_string(),
        digest: f.digest.clone(),
        size: f.size as i64,
        description: f.info.description.clone(),
        imports: f.imports.clone(),
        exports: f.exports.clone(),
        params: serde_json::Value::Array(
            f.info
                .params
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.name, "description": p.description,
                        "required": p.required, "default": p.default,
                    })
                })
                .collect(),
        ),
        builtin,
    }
}

/// Loads every function installed beside the binary and records it, so
/// templates can name it. Idempotent; a built-in whose version exists with
/// other bytes is reported, not overwritten (versions are immutable).
pub async fn register_builtins(
    store: &Store,
    runtime: &Runtime,
    dirs: &[PathBuf],
) -> anyhow::Result<()> {
    let source = DirSource {
        dirs: dirs.to_vec(),
    };
    let installed = source.installed();
    if installed.is_empty() {
        tracing::warn!(
            "no built-in functions found ({}); run functions/build",
            source.describe()
        );
    }
    for reference in installed {
        let Some((name, version)) = reference.split_once('@') else {
            continue;
        };
        let Some(bytes) = source
            .fetch(name, version)
            .await
            .map_err(anyhow::Error::msg)?
        else {
            continue;
        };
        let f = runtime
            .load(&reference, &bytes)
            .await
            .map_err(|e| anyhow::anyhow!("built-in function {reference}: {e}"))?;
        match store
            .put_function(new_function(name, version, &f, true), &bytes)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { message }) => {
                tracing::warn!("built-in {reference} not registered: {message}")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Stores the built-in templates as a new version when their text changed.
pub async fn register_builtin_templates(store: &Store) -> anyhow::Result<()> {
    for (name, text) in BUILTIN {
        let current = match store.get_template(name, None).await {
            Ok(t) => Some(t.body),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if current.as_deref() != Some(*text) {
            store.put_template(name, "built-in", text).await?;
        }
    }
    Ok(())
}
