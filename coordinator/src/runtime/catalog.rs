//! Finds stage functions by `name@version`: components installed as
//! `<dir>/<name>@<version>.wasm`, loaded once and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Function, LoadError, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{reference}: not `name@version`")]
    BadReference { reference: String },
    #[error(
        "unknown function {reference} (looked in: {searched}); build the functions with functions/build"
    )]
    Unknown { reference: String, searched: String },
    #[error("function {reference} ({path}): {source}")]
    Load {
        reference: String,
        path: String,
        source: LoadError,
    },
    #[error("function {reference}: reading {path}: {source}")]
    Read {
        reference: String,
        path: String,
        source: std::io::Error,
    },
}

pub struct Catalog {
    runtime: Arc<Runtime>,
    dirs: Vec<PathBuf>,
    loaded: Mutex<HashMap<String, Arc<Function>>>,
}

impl Catalog {
    pub fn new(runtime: Arc<Runtime>, dirs: Vec<PathBuf>) -> Self {
        Self {
            runtime,
            dirs,
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

    /// The function for `name@version`, loading it on first use.
    pub async fn get(&self, reference: &str) -> Result<Arc<Function>, CatalogError> {
        let (name, version) = split_reference(reference)?;
        let mut loaded = self.loaded.lock().await;
        if let Some(f) = loaded.get(reference) {
            return Ok(f.clone());
        }
        let path = self
            .find(name, version)
            .ok_or_else(|| CatalogError::Unknown {
                reference: reference.to_string(),
                searched: self.searched(),
            })?;
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| CatalogError::Read {
            reference: reference.to_string(),
            path: shown.clone(),
            source,
        })?;
        let f = Arc::new(
            self.runtime
                .load(reference, &bytes)
                .await
                .map_err(|source| CatalogError::Load {
                    reference: reference.to_string(),
                    path: shown,
                    source,
                })?,
        );
        loaded.insert(reference.to_string(), f.clone());
        Ok(f)
    }

    fn find(&self, name: &str, version: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.join(format!("{name}@{version}.wasm")))
            .find(|p| p.is_file())
    }

    fn searched(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every `name@version` installed in the search directories.
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
