//! Finds stage functions by `name@version`: components installed as
//! `<dir>/<name>@<version>.wasm`, loaded once and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::OnceCell;

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
    /// One cell per reference asked for, so that concurrent asks (a
    /// template's stages, executions starting together) load it once.
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<Function>>>>>,
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

    /// A catalog of these functions only, already loaded, that reads no
    /// file: what fuzzing validates templates against.
    pub(crate) fn preloaded(runtime: Arc<Runtime>, functions: Vec<Function>) -> Self {
        let loaded = functions
            .into_iter()
            .map(|f| {
                let cell = OnceCell::new_with(Some(Arc::new(f)));
                (cell.get().expect("set").reference.clone(), Arc::new(cell))
            })
            .collect();
        Self {
            runtime,
            source: Arc::new(DirSource { dirs: Vec::new() }),
            loaded: Mutex::new(loaded),
        }
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
    /// are immutable, so a loaded function is kept; a failure is not, and
    /// the next ask tries again.
    pub async fn get(&self, reference: &str) -> Result<Arc<Function>, CatalogError> {
        let (name, version) = split_reference(reference)?;
        let cell = self
            .loaded
            .lock()
            .expect("catalog lock")
            .entry(reference.to_string())
            .or_default()
            .clone();
        let loaded = cell
            .get_or_try_init(|| self.load(reference, name, version))
            .await
            .cloned();
        if loaded.is_err() {
            // Unknown references must not pile up as empty cells.
            let mut cells = self.loaded.lock().expect("catalog lock");
            if cells.get(reference).is_some_and(|c| !c.initialized()) {
                cells.remove(reference);
            }
        }
        loaded
    }

    async fn load(
        &self,
        reference: &str,
        name: &str,
        version: &str,
    ) -> Result<Arc<Function>, CatalogError> {
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
        let function = self
            .runtime
            .load(reference, &bytes)
            .await
            .map_err(|source| CatalogError::Load {
                reference: reference.to_string(),
                source,
            })?;
        Ok(Arc::new(function))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::runtime::RuntimeConfig;

    /// The components `functions/build` installs, counting the fetches.
    struct Counting {
        dir: DirSource,
        fetches: AtomicUsize,
    }

    impl FunctionSource for Counting {
        fn fetch<'a>(
            &'a self,
            name: &'a str,
            version: &'a str,
        ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.dir.fetch(name, version)
        }

        fn describe(&self) -> String {
            self.dir.describe()
        }
    }

    #[tokio::test]
    async fn concurrent_asks_load_a_function_once_and_failures_are_not_kept() {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/functions"));
        let reference = "oci-push-prepare@0.4.0";
        assert!(
            dir.join(format!("{reference}.wasm")).is_file(),
            "{} has no {reference}: run functions/build",
            dir.display()
        );
        let source = Arc::new(Counting {
            dir: DirSource { dirs: vec![dir] },
            fetches: AtomicUsize::new(0),
        });
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let catalog = Catalog::with_source(Arc::new(runtime), source.clone());

        let (a, b, c) = tokio::join!(
            catalog.get(reference),
            catalog.get(reference),
            catalog.get(reference)
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);

        for _ in 0..2 {
            let e = catalog.get("no-such@1.0.0").await.unwrap_err();
            assert!(matches!(e, CatalogError::Unknown { .. }), "{e}");
        }
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            3,
            "a failure was kept"
        );
        assert_eq!(catalog.loaded.lock().unwrap().len(), 1);
    }
}
