//! The WebAssembly host: one engine, components compiled once (and cached
//! on disk with what each one is), an `InstancePre` per component digest,
//! linked on first use, and per invocation a fresh store with a deadline
//! and a memory cap.

mod bindings;
mod capabilities;
mod catalog;
mod engine;
mod host;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Store, Trap, UpdateDeadline};

pub use bindings::{
    Artifact, Decoration, Descriptor, ErrorKind, Filter, FilterKind, FunctionInfo, ManifestRef,
    Operation, ParamSpec, PlanAction, PlanEntry, Report, StageInput, StageOutput, Status,
    WitEndpoint, WitError, WitPolicy,
};
pub use capabilities::{Capabilities, Events, Level, TracingEvents};
pub use catalog::{Catalog, CatalogError, DirSource, FunctionSource};
use engine::Ticker;
use state::StageState;

/// Tuning of the runtime. Defaults suit a small machine.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Linear memory one invocation may use. Guests read manifests and
    /// listings, never blobs: 256 MiB is generous.
    pub memory_cap: usize,
    /// Invocations alive at once (pool slots).
    pub max_instances: u32,
    /// Where compiled code is cached; `None` compiles every start.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            memory_cap: 256 << 20,
            max_instances: 64,
            cache_dir: engine::default_cache_dir(),
        }
    }
}

/// Why a stage function could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("not a ferry:replication/stage component: {0}")]
    WrongWorld(String),
    #[error("describe() failed: {0}")]
    Describe(String),
}

/// Why an invocation produced no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("trapped: {0}")]
    Trap(String),
    #[error("deadline of {0:?} exceeded")]
    Timeout(Duration),
    #[error("memory cap of {} MiB exceeded", .0 >> 20)]
    MemoryCap(usize),
    #[error("loading its code: {0}")]
    Load(String),
}

/// A loaded stage function, ready to instantiate.
pub struct Function {
    pub reference: String,
    pub digest: String,
    pub size: usize,
    pub info: FunctionInfo,
    /// Interface names the component imports and exports.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Linked code, made on first use when the function was known from the
    /// cache (a start then pays only for the stages it runs).
    pre: tokio::sync::OnceCell<bindings::StagePre<StageState>>,
    /// The component until its code is linked.
    bytes: Mutex<Option<Arc<[u8]>>>,
}

impl Function {
    /// A function without code, for tests of what composes stages (the
    /// engine's runner) and for fuzzing template validation: the runtime
    /// cannot run it.
    pub(crate) fn stub(reference: &str) -> Self {
        Self {
            reference: reference.to_string(),
            digest: String::new(),
            size: 0,
            info: FunctionInfo {
                description: String::new(),
                params: Vec::new(),
            },
            imports: Vec::new(),
            exports: Vec::new(),
            pre: tokio::sync::OnceCell::new(),
            bytes: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Function({} {})", self.reference, self.digest)
    }
}

pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<StageState>,
    config: RuntimeConfig,
    pooling: bool,
    slots: Semaphore,
    pres: Mutex<HashMap<String, bindings::StagePre<StageState>>>,
    _ticker: Ticker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let (engine, pooling) = engine::build(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Stage::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        let ticker = Ticker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            slots: Semaphore::new(config.max_instances as usize),
            config,
            pooling,
            pres: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// Whether the pooling allocator is in use (else on-demand).
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Makes a function of a component. The first time this engine sees a
    /// digest, compiles (or loads cached code), links it and asks it what it
    /// is, and caches that answer; later starts read the answer and link the
    /// code when the function first runs.
    pub async fn load(&self, reference: &str, bytes: &[u8]) -> Result<Function, LoadError> {
        let shared: Arc<[u8]> = bytes.into();
        // Hashed on the blocking pool: functions loaded together (a
        // template's) hash in parallel, and the async threads stay free.
        let digest = {
            let bytes = shared.clone();
            tokio::task::spawn_blocking(move || crate::transfer::sha256_digest(&bytes))
                .await
                .map_err(|e| LoadError::NotAComponent(e.to_string()))?
        };
        let dir = self.config.cache_dir.as_deref();
        let known = dir.and_then(|d| engine::read_meta(&self.engine, d, &digest));
        let (info, imports, exports, pre) = match known {
            Some(meta) => {
                let (info, imports, exports) = meta.into_parts();
                (info, imports, exports, None)
            }
            None => {
                let pre = self.link(&digest, bytes).await?;
                let info = self
                    .describe(&pre)
                    .await
                    .map_err(|e| LoadError::Describe(e.to_string()))?;
                let ty = pre.instance_pre().component().component_type();
                let imports: Vec<String> = ty
                    .imports(&self.engine)
                    .map(|(n, _)| n.to_string())
                    .collect();
                let exports: Vec<String> = ty
                    .exports(&self.engine)
                    .map(|(n, _)| n.to_string())
                    .collect();
                if let Some(dir) = dir {
                    let meta = engine::Meta::new(&info, &imports, &exports);
                    engine::write_meta(&self.engine, dir, &digest, &meta);
                }
                (info, imports, exports, Some(pre))
            }
        };
        Ok(Function {
            reference: reference.to_string(),
            digest,
            size: bytes.len(),
            info,
            imports,
            exports,
            bytes: Mutex::new(pre.is_none().then_some(shared)),
            pre: tokio::sync::OnceCell::new_with(pre),
        })
    }

    /// Compiled and linked code of a digest, made once per runtime.
    async fn link(
        &self,
        digest: &str,
        bytes: &[u8],
    ) -> Result<bindings::StagePre<StageState>, LoadError> {
        let cached = self
            .pres
            .lock()
            .expect("pre cache poisoned")
            .get(digest)
            .cloned();
        if let Some(pre) = cached {
            return Ok(pre);
        }
        let component = self.compile(digest, bytes).await?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let pre =
            bindings::StagePre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        self.pres
            .lock()
            .expect("pre cache poisoned")
            .insert(digest.to_string(), pre.clone());
        Ok(pre)
    }

    /// A function's linked code, linking it on first use.
    async fn code<'f>(
        &self,
        function: &'f Function,
    ) -> Result<&'f bindings::StagePre<StageState>, InvokeError> {
        function
            .pre
            .get_or_try_init(|| async {
                let bytes = function
                    .bytes
                    .lock()
                    .expect("function bytes lock")
                    .clone()
                    .ok_or_else(|| InvokeError::Load("component bytes already released".into()))?;
                let pre = self
                    .link(&function.digest, &bytes)
                    .await
                    .map_err(|e| InvokeError::Load(e.to_string()))?;
                *function.bytes.lock().expect("function bytes lock") = None;
                Ok(pre)
            })
            .await
    }

    async fn compile(&self, digest: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        if !wasmparser_is_component(bytes) {
            return Err(LoadError::NotAComponent(
                "expected the component-model binary format (a core module or another file was given)".into(),
            ));
        }
        let engine = self.engine.clone();
        let dir = self.config.cache_dir.clone();
        let digest = digest.to_string();
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || {
            engine::compile_cached(&engine, dir.as_deref(), &digest, &bytes)
        })
        .await
        .map_err(|e| LoadError::NotAComponent(e.to_string()))?
        .map_err(|e| LoadError::NotAComponent(format!("{e:#}")))
    }

    async fn describe(
        &self,
        pre: &bindings::StagePre<StageState>,
    ) -> Result<FunctionInfo, InvokeError> {
        let caps = Arc::new(Capabilities::none());
        self.with_instance(pre, caps, Duration::from_secs(5), |stage, store| {
            Box::pin(async move { stage.call_describe(store).await })
        })
        .await
    }

    /// Runs a stage: fresh store, deadline, memory cap.
    pub async fn run(
        &self,
        function: &Function,
        caps: Arc<Capabilities>,
        input: StageInput,
        timeout: Duration,
    ) -> Result<Result<StageOutput, WitError>, InvokeError> {
        let pre = self.code(function).await?;
        self.with_instance(pre, caps, timeout, move |stage, store| {
            Box::pin(async move { stage.call_run(store, &input).await })
        })
        .await
    }

    async fn with_instance<R, F>(
        &self,
        pre: &bindings::StagePre<StageState>,
        caps: Arc<Capabilities>,
        timeout: Duration,
        call: F,
    ) -> Result<R, InvokeError>
    where
        R: Send,
        F: for<'a> FnOnce(
                &'a bindings::Stage,
                &'a mut Store<StageState>,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>,
            > + Send,
    {
        let _slot = self.slots.acquire().await.expect("runtime slots closed");
        let mut store = Store::new(&self.engine, StageState::new(caps, self.config.memory_cap));
        store.limiter(|s| &mut s.limiter);
        // Guest code checks the deadline at every epoch tick and yields to
        // the executor in between, so a spinning guest never starves others.
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let outcome = tokio::time::timeout(timeout, async {
            let stage = pre.instantiate_async(&mut store).await?;
            call(&stage, &mut store).await
        })
        .await;
        match outcome {
            Err(_) => Err(InvokeError::Timeout(timeout)),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                let state = store.data();
                if state.limiter.hit {
                    return Err(InvokeError::MemoryCap(state.limiter.cap));
                }
                if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    return Err(InvokeError::Timeout(timeout));
                }
                let mut msg = e
                    .downcast_ref::<Trap>()
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| format!("{e}"));
                if let Some(tail) = state.stderr_tail() {
                    msg = format!("{tail} ({msg})");
                }
                Err(InvokeError::Trap(msg))
            }
        }
    }
}

/// The component binary format has layer 1 in its preamble (a core module
/// has layer 0).
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0x01, 0x00]
}
