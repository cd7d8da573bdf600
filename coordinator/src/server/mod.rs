//! `ferry serve`: the coordinator service. State lives in SQL (embedded
//! SQLite by default, or a shared PostgreSQL); the API is JSON over HTTP;
//! executions run in-process through the same engine as `ferry copy`.

pub mod api;
mod cache;
mod config;
mod console;
mod eager;
mod executor;
mod files;
mod functions;
pub(crate) mod inbox;
mod kinds;
mod moves;
pub(crate) mod notifications;
mod resolve;
mod scheduler;
mod secrets;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::ServeArgs;
pub use executor::Executor;
pub use inbox::Inbox;
pub use scheduler::Scheduler;
pub use secrets::Sealer;

use crate::engine::Runner;
use crate::runtime::{Catalog, Runtime, RuntimeConfig};
use crate::store::Store;
use crate::transfer::Limits;
use crate::transfer::limits::DEFAULT_REQUESTS_PER_REGISTRY;

/// Everything a request handler or the executor needs.
pub struct App {
    pub store: Store,
    pub sealer: Sealer,
    pub runtime: Arc<Runtime>,
    /// Functions by `name@version`: uploaded ones from the store.
    pub catalog: Arc<Catalog>,
    pub executor: Arc<Executor>,
    /// Fires scheduled policies.
    pub scheduler: Arc<Scheduler>,
    /// Acts on stored registry events.
    pub inbox: Arc<Inbox>,
    /// The engine: executions, and blobs copied ahead of their manifest.
    pub runner: Arc<Runner>,
    /// Largest function upload accepted.
    pub max_upload_bytes: usize,
}

/// Builds the app from resolved settings: opens (and migrates) the store,
/// registers the built-in functions and templates, starts the executor.
pub async fn build(settings: &config::Settings) -> anyhow::Result<Arc<App>> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "creating data directory {}: {e}",
            settings.data_dir.display()
        )
    })?;
    let store = Store::open(&settings.database).await.map_err(|e| {
        anyhow::anyhow!(
            "opening the database {}: {e}",
            crate::redact::redact(&settings.database)
        )
    })?;
    let sealer = Sealer::load(&settings.data_dir)?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default())?);
    let source = Arc::new(functions::StoreFunctions::new(store.clone()));
    let catalog = Arc::new(Catalog::with_source(runtime.clone(), source));
    functions::register_builtins(&store, &runtime, &settings.function_dirs).await?;
    functions::register_builtin_templates(&store).await?;
    let known = cache::known(settings).await;
    tracing::info!("existence cache: {}", known.describe());
    let mut limits = Limits::new(
        settings.blob_concurrency,
        settings.registry_concurrency,
        DEFAULT_REQUESTS_PER_REGISTRY,
    )
    .with_network(settings.network)
    .with_shared_moves(Arc::new(moves::StoreMoves::new(
        store.clone(),
        &settings.coordinator_id,
    )));
    if settings.blob_bounds_set {
        limits = limits.with_fixed_blobs();
    }
    let limits = Arc::new(limits);
    let runner = Arc::new(Runner::new(runtime.clone(), limits, known));
    let executor = Arc::new(Executor::new(
        settings.coordinator_id.clone(),
        settings.max_executions,
        settings.lease,
        runner.clone(),
    ));
    let app = Arc::new(App {
        store,
        sealer,
        runtime,
        catalog,
        executor,
        scheduler: Arc::new(Scheduler::default()),
        inbox: Arc::new(Inbox::default()),
        runner,
        max_upload_bytes: settings.max_upload_bytes,
    });
    Ok(app)
}

/// Serves the API on `listener` and runs executions until `shutdown`.
pub async fn serve(
    app: Arc<App>,
    token: String,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let exec = app.executor.clone().start(app.clone());
    let schedules = app.scheduler.clone().start(app.clone());
    let events = app.inbox.clone().start(app.clone());
    let router = api::router(app.clone(), token);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    exec.abort();
    schedules.abort();
    events.abort();
    Ok(())
}

/// The `ferry serve` command.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = config::Settings::resolve(args)?;
    let token = api::auth::load_or_create(&settings.data_dir, settings.admin_token.clone())?;
    let app = build(&settings).await?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {}: {e}", settings.listen))?;
    eprintln!(
        "ferry: serving on http://{} (database {}, data in {})",
        listener.local_addr()?,
        crate::redact::redact(&settings.database),
        settings.data_dir.display()
    );
    serve(app, token, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
