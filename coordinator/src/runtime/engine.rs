//! Engine set-up after wasmtime's fast-instantiation recipe: pooling
//! allocator when the address space allows it, epoch interruption with a
//! ticker, and compiled code cached on disk by component digest and engine,
//! with what each component is (its description, imports and exports).

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeConfig;
use super::bindings::{FunctionInfo, ParamSpec};

/// Epoch tick: the granularity of deadlines and of a guest's yields.
pub const TICK: Duration = Duration::from_millis(10);

pub fn build(config: &RuntimeConfig) -> anyhow::Result<(Engine, bool)> {
    let mut base = Config::new();
    base.wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true);

    let mut pool = PoolingAllocationConfig::new();
    let n = config.max_instances;
    // A Rust wasip2 component holds a few core instances (its module, the
    // WASI adapter, shims) and two memories; leave headroom.
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 4)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_memory_size(config.memory_cap);
    let mut pooled = base.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok((engine, true)),
        Err(e) => {
            // Typically a small virtual address space (ulimit -v): fall back.
            tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
            // The same shortage would refuse the default 4 GiB reservation of
            // each linear memory: reserve only what the cap allows, and let
            // compiled code bounds-check explicitly.
            base.memory_reservation(config.memory_cap as u64)
                .memory_guard_size(64 << 10)
                .memory_reservation_for_growth(0);
            Ok((Engine::new(&base)?, false))
        }
    }
}

/// See [`crate::paths::cache_dir`].
pub fn default_cache_dir() -> Option<PathBuf> {
    crate::paths::cache_dir(&|k| std::env::var(k).ok())
}

/// Where this engine's files for a component digest live in the cache:
/// `<dir>/components/<hex>-<engine hash>` plus an extension.
pub fn cache_stem(engine: &Engine, dir: &Path, digest: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let hex = digest.trim_start_matches("sha256:");
    dir.join("components")
        .join(format!("{hex}-{:016x}", h.finish()))
}

/// Loads precompiled code for this digest and engine, or compiles and
/// stores it. A corrupt or stale cache entry is recompiled, never fatal.
pub fn compile_cached(
    engine: &Engine,
    dir: Option<&Path>,
    digest: &str,
    bytes: &[u8],
) -> anyhow::Result<Component> {
    let Some(dir) = dir else {
        return Ok(Component::new(engine, bytes)?);
    };
    let path = cache_stem(engine, dir, digest).with_extension("cwasm");
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash, into Ferry's own cache directory.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!("recompiling {digest}: cached code unusable: {e:#}"),
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&path, &component.serialize()?) {
        tracing::warn!("cannot cache compiled {digest} in {}: {e}", path.display());
    }
    Ok(component)
}

/// What loading a component found out about it, kept beside its compiled
/// code so that a later start knows it without linking or instantiating.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub description: String,
    /// (name, description, required, default)
    pub params: Vec<(String, String, bool, Option<String>)>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Meta {
    pub fn new(info: &FunctionInfo, imports: &[String], exports: &[String]) -> Self {
        Self {
            description: info.description.clone(),
            params: info
                .params
                .iter()
                .map(|p| {
                    let p = p.clone();
                    (p.name, p.description, p.required, p.default)
                })
                .collect(),
            imports: imports.to_vec(),
            exports: exports.to_vec(),
        }
    }

    /// The function's description, imports and exports.
    pub fn into_parts(self) -> (FunctionInfo, Vec<String>, Vec<String>) {
        let params = self
            .params
            .into_iter()
            .map(|(name, description, required, default)| ParamSpec {
                name,
                description,
                required,
                default,
            })
            .collect();
        let info = FunctionInfo {
            description: self.description,
            params,
        };
        (info, self.imports, self.exports)
    }
}

/// The world the host links against: a component that linked against
/// another version of it must be linked again before it counts as loadable.
const WORLD: &str = include_str!("../../../wit/replication.wit");

fn meta_path(engine: &Engine, dir: &Path, digest: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    WORLD.hash(&mut h);
    let mut path = cache_stem(engine, dir, digest).into_os_string();
    path.push(format!("-{:016x}.json", h.finish()));
    path.into()
}

/// The cached [`Meta`] of a digest, if a load with this engine and this
/// world stored one.
pub fn read_meta(engine: &Engine, dir: &Path, digest: &str) -> Option<Meta> {
    let text = std::fs::read(meta_path(engine, dir, digest)).ok()?;
    serde_json::from_slice(&text).ok()
}

pub fn write_meta(engine: &Engine, dir: &Path, digest: &str, meta: &Meta) {
    let path = meta_path(engine, dir, digest);
    let body = serde_json::to_vec(meta).expect("meta serializes");
    if let Err(e) = store(&path, &body) {
        tracing::warn!("cannot cache what {digest} is in {}: {e}", path.display());
    }
}

fn store(path: &Path, code: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().expect("cache path has a parent");
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile_in(parent)?;
    std::fs::write(&tmp, code)?;
    std::fs::rename(&tmp, path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(dir.join(format!(".tmp-{}-{nonce}", std::process::id())))
}

/// Advances the engine's epoch every tick until dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("ferry-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch ticker");
        Self { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
