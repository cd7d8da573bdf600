//! Finds stage functions by `name@version`: components installed as
//! `<dir>/<name>@<version>.wasm`, loaded once and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Mutex;

use super::{Function, LoadError, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{reference}: not `name@version`")]
    BadReference { reference: String },
    #[error("unknown function {reference} ({searched})")]
    Unknown { reference: String, searched: String },
    #[error("function {reference}: {source}")]
    Load {
        reference: String,
        source: LoadError,
    },
    #[error("function {reference}: {message}")]
    Read { reference: String, message: String },
}

/// Where component bytes come from: a directory of `name@version.wasm`
/// files (`ferry copy`) or the service's store (uploaded functions).
pub trait FunctionSource: Send + Sync {
    /// The bytes of `name@version`, `None` if this source has no such function.
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>>;
    /// Where it looks, for "unknown function" messages.
    fn describe(&self) -> String;
}

/// Functions installed as files in directories, searched in order.
pub struct DirSource {
    pub dirs: Vec<PathBuf>,
}

impl DirSource {
    /// The path of `name@version` in the first directory that has it.
    pub fn find(&self, name: &str, version: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.join(format!("{name}@{version}.wasm")))
            .find(|p| p.is_file())
    }

    /// Every `name@version` installed.
    pub fn installed(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "wasm").then(|| stem(&p))?
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl FunctionSource for DirSource {
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            match self.find(name, version) {
                Some(p) => std::fs::read(&p)
                    .map(Some)
                    .map_err(|e| format!("reading {}: {e}", p.display())),
                None => Ok(None),
            }
        })
    }

    fn describe(&self) -> String {
        format!(
            "looked in: {}; build the functions with functions/build",
            self.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

pub struct Catalog {
    runtime: Arc<Runtime>,
    source: Arc<dyn FunctionSource>,
    loaded: Mutex<HashMap<String, Arc<Function>>>,
}

impl Catalog {
    /// Functions from directories of component files.
    pub fn new(runtime: Arc<Runtime>, dirs: Vec<PathBuf>) -> Self {
        Self::with_source(runtime, Arc::new(DirSource { dirs }))
    }

    pub fn with_source(runtime: Arc<Runtime>, source: Arc<dyn FunctionSource>) -> Self {
        Self {
            runtime,
            source,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Where built-in functions are looked for: `$FERRY_FUNCTIONS_DIR`, then
    /// `functions/` beside the binary's directory (`target/functions` for
    /// `target/debug/ferry`), then `./target/functions`.
    pub fn default_dirs() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("FERRY_FUNCTIONS_DIR") {
            dirs.extend(std::env::split_paths(&d));
        }
        if let Ok(exe) = std::env::current_exe()
            && let Some(bin_dir) = exe.parent()
        {
            dirs.push(bin_dir.join("functions"));
            if let Some(up) = bin_dir.parent() {
                dirs.push(up.join("functions"));
            }
        }
        dirs.push(PathBuf::from("target/functions"));
        dirs
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Loads several functions at once, so that a template's validation
    /// waits for the slowest of them rather than for their sum. Failures are
    /// left for [`Self::get`] to report, in the caller's order.
    pub async fn preload<'r>(&self, references: impl IntoIterator<Item = &'r str>) {
        futures::future::join_all(references.into_iter().map(|r| self.get(r))).await;
    }

    /// The function for `name@version`, loading it on first use. Versions
    /// are immutable, so a loaded function is kept.
    pub async fn get(&self, reference: &str) -> Result<Arc<Function>, CatalogError> {
        let (name, version) = split_reference(reference)?;
        if let Some(f) = self.loaded.lock().await.get(reference) {
            return Ok(f.clone());
        }
        let bytes = self
            .source
            .fetch(name, version)
            .await
            .map_err(|message| CatalogError::Read {
                reference: reference.to_string(),
                message,
            })?
            .ok_or_else(|| CatalogError::Unknown {
                reference: reference.to_string(),
                searched: self.source.describe(),
            })?;
        let f = Arc::new(
            self.runtime
                .load(reference, &bytes)
                .await
                .map_err(|source| CatalogError::Load {
                    reference: reference.to_string(),
                    source,
                })?,
        );
        self.loaded
            .lock()
            .await
            .insert(reference.to_string(), f.clone());
        Ok(f)
    }
}

fn stem(p: &Path) -> Option<String> {
    p.file_stem()?.to_str().map(String::from)
}

pub fn split_reference(reference: &str) -> Result<(&str, &str), CatalogError> {
    match reference.split_once('@') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n, v)),
        _ => Err(CatalogError::BadReference {
            reference: reference.to_string(),
        }),
    }
}
