//! The coordinator's persistent state: an embedded SQLite file by default,
//! or a PostgreSQL database shared by several coordinators.
//!
//! One implementation serves both through `sqlx::AnyPool`. Queries use `$N`
//! placeholders (both drivers accept them) and only the types the Any
//! driver carries: booleans are BIGINT 0/1, times BIGINT epoch
//! milliseconds, JSON is TEXT. The schema lives in `migrations/sqlite` and
//! `migrations/postgres` (the DDL differs) and is applied by `Store::open`.

mod events;
mod executions;
mod functions;
pub mod model;
mod moves;
mod policies;
mod registries;
mod sessions;
mod tasks;
mod templates;

pub use executions::{MAX_RESUMES, Recovered};
pub use model::*;
pub use sessions::Session;

use std::borrow::Cow;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, Row};

/// Which database a `Store` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    Invalid { message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
        }
    }
}

/// The schema, embedded: `(version, description, sql)` like sqlx-cli's
/// `<VERSION>_<DESCRIPTION>.sql` files, so the two stay interchangeable.
type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Embedded = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "schedules",
        include_str!("../../../migrations/sqlite/0002_schedules.sql"),
    ),
    (
        3,
        "plans_and_reasons",
        include_str!("../../../migrations/sqlite/0003_plans_and_reasons.sql"),
    ),
    (
        4,
        "events",
        include_str!("../../../migrations/sqlite/0004_events.sql"),
    ),
    (
        5,
        "blob_moves",
        include_str!("../../../migrations/sqlite/0005_blob_moves.sql"),
    ),
    (
        6,
        "sessions",
        include_str!("../../../migrations/sqlite/0006_sessions.sql"),
    ),
    (
        7,
        "resume",
        include_str!("../../../migrations/sqlite/0007_resume.sql"),
    ),
    (
        8,
        "registry_bounds",
        include_str!("../../../migrations/sqlite/0008_registry_bounds.sql"),
    ),
];
const POSTGRES_MIGRATIONS: Embedded = &[
    (
        1,
        "init",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "schedules",
        include_str!("../../../migrations/postgres/0002_schedules.sql"),
    ),
    (
        3,
        "plans_and_reasons",
        include_str!("../../../migrations/postgres/0003_plans_and_reasons.sql"),
    ),
    (
        4,
        "events",
        include_str!("../../../migrations/postgres/0004_events.sql"),
    ),
    (
        5,
        "blob_moves",
        include_str!("../../../migrations/postgres/0005_blob_moves.sql"),
    ),
    (
        6,
        "sessions",
        include_str!("../../../migrations/postgres/0006_sessions.sql"),
    ),
    (
        7,
        "resume",
        include_str!("../../../migrations/postgres/0007_resume.sql"),
    ),
    (
        8,
        "registry_bounds",
        include_str!("../../../migrations/postgres/0008_registry_bounds.sql"),
    ),
];

#[derive(Debug)]
struct EmbeddedMigrations(Embedded);

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// SQLite waits this long for another connection's write lock.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// The coordinator's store; cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite:///abs/path.db`, `sqlite://relative.db`,
    /// `postgres://user@host/db`) and brings the schema up to date. A
    /// SQLite file is created when missing.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::invalid(format!(
                "unsupported database URL {url:?}: use sqlite:///path/ferry.db, \
                 sqlite://relative.db or postgres://user@host:5432/database"
            )));
        };
        match backend {
            Backend::Sqlite => Self::open_sqlite(url).await,
            Backend::Postgres => Self::open_postgres(url).await,
        }
    }

    async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let url = if memory || url.contains("mode=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        let options: AnyConnectOptions = url.parse()?;
        let init =
            format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;");
        let pool_options = AnyPoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                let init = init.clone();
                Box::pin(async move {
                    conn.execute(init.as_str()).await?;
                    Ok(())
                })
            });
        if memory {
            // Each connection would be a different in-memory database:
            // keep the single one alive and migrate through it.
            let pool = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            Self::migrator(SQLITE_MIGRATIONS).await?.run(&pool).await?;
            return Ok(Store {
                pool,
                backend: Backend::Sqlite,
            });
        }
        // Switch to WAL (persistent in the file) and migrate on one
        // connection before the pool opens more.
        let mut conn = options.connect().await?;
        conn.execute(
            format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                 PRAGMA foreign_keys = ON;"
            )
            .as_str(),
        )
        .await?;
        Self::migrator(SQLITE_MIGRATIONS)
            .await?
            .run_direct(&mut conn)
            .await?;
        conn.close().await?;
        let pool = pool_options.connect_with(options).await?;
        Ok(Store {
            pool,
            backend: Backend::Sqlite,
        })
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        // The migrator takes an advisory lock: coordinators starting side
        // by side migrate one after the other.
        Self::migrator(POSTGRES_MIGRATIONS)
            .await?
            .run(&pool)
            .await?;
        Ok(Store {
            pool,
            backend: Backend::Postgres,
        })
    }

    async fn migrator(migrations: Embedded) -> Result<Migrator, StoreError> {
        Ok(Migrator::new(EmbeddedMigrations(migrations)).await?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool (for health checks and tests).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A unique-constraint violation (another row holds the name or slot).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

pub(crate) fn b2i(b: bool) -> i64 {
    i64::from(b)
}

pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Parses a TEXT column holding JSON.
pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
) -> Result<T, sqlx::Error> {
    let text: Option<String> = row.try_get(col)?;
    let text = text.as_deref().unwrap_or("null");
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: Box::new(e),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::invalid(format!("cannot encode value as JSON: {e}")))
}
