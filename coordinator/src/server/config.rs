//! `ferry serve` settings: flags, then `FERRY_…` environment variables,
//! then an optional YAML file, then defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::transfer::Network;
use crate::transfer::limits::{DEFAULT_BLOBS, DEFAULT_BLOBS_PER_REGISTRY};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7117].
    #[arg(long, env = "FERRY_LISTEN")]
    pub listen: Option<String>,
    /// Where the SQLite database, the secret key and the admin token live
    /// [default: $XDG_DATA_HOME/ferry or ~/.local/share/ferry].
    #[arg(long, env = "FERRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` [default: SQLite in the data directory].
    #[arg(long, env = "FERRY_DATABASE")]
    pub database: Option<String>,
    /// A YAML file with any of: listen, data_dir, database, coordinator_id,
    /// max_upload_bytes, max_executions, redis, cache_ttl, blob_concurrency,
    /// registry_concurrency, request_attempts, idle_timeout.
    #[arg(long, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// This coordinator's name in leases [default: host-pid].
    #[arg(long, env = "FERRY_COORDINATOR_ID")]
    pub coordinator_id: Option<String>,
    /// Redis (`redis://127.0.0.1:6379`) for the existence cache, shared by
    /// coordinators [default: kept in process].
    #[arg(long, env = "FERRY_REDIS")]
    pub redis: Option<String>,
    /// How long what a target holds is trusted without asking it again
    /// (`0s` turns the existence cache off) [default: 1h].
    #[arg(long, env = "FERRY_CACHE_TTL", value_parser = humantime::parse_duration)]
    pub cache_ttl: Option<Duration>,
    /// Blob copies in flight, across executions [default: 8].
    #[arg(long, env = "FERRY_BLOB_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub blob_concurrency: Option<u16>,
    /// Blob copies in flight per registry, across executions [default: 8].
    #[arg(long, env = "FERRY_REGISTRY_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub registry_concurrency: Option<u16>,
    /// Tries per request, and per blob upload [default: 5].
    #[arg(long, env = "FERRY_REQUEST_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub request_attempts: Option<u32>,
    /// A request that sends or receives nothing for this long fails, and
    /// is retried or resumed [default: 60s].
    #[arg(long, env = "FERRY_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    coordinator_id: Option<String>,
    max_upload_bytes: Option<usize>,
    max_executions: Option<usize>,
    redis: Option<String>,
    #[serde(default, with = "humantime_serde_opt")]
    cache_ttl: Option<Duration>,
    blob_concurrency: Option<u16>,
    registry_concurrency: Option<u16>,
    request_attempts: Option<u32>,
    #[serde(default, with = "humantime_serde_opt")]
    idle_timeout: Option<Duration>,
}

/// `cache_ttl: 30m` in the YAML file, as humantime reads it.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database: String,
    pub coordinator_id: String,
    /// Largest function component accepted (64 MiB).
    pub max_upload_bytes: usize,
    /// Executions this coordinator runs at once (4; 0 runs none).
    pub max_executions: usize,
    pub admin_token: Option<String>,
    pub function_dirs: Vec<PathBuf>,
    /// Execution lease (30 s; `FERRY_LEASE_SECS`): how soon the executions of
    /// a coordinator that died are taken over.
    pub lease: std::time::Duration,
    /// Redis for the existence cache (else in process).
    pub redis: Option<String>,
    /// Existence cache TTL (zero: off).
    pub cache_ttl: Duration,
    pub blob_concurrency: usize,
    pub registry_concurrency: usize,
    /// Either was set: the blob bounds stay as set, however far a registry
    /// is (by default they widen over a long round trip).
    pub blob_bounds_set: bool,
    /// Request retries and the idle timeout.
    pub network: Network,
}

pub fn default_data_dir() -> PathBuf {
    crate::paths::data_dir(&|k| std::env::var(k).ok())
        .unwrap_or_else(|| PathBuf::from("ferry-data"))
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file: FileConfig = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
                serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let database = args
            .database
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ferry.db").display()));
        let coordinator_id = args
            .coordinator_id
            .or(file.coordinator_id)
            .unwrap_or_else(|| {
                let host =
                    std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "ferry".into());
                format!("{}-{}", host.trim(), std::process::id())
            });
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:7117".into()),
            data_dir,
            database,
            coordinator_id,
            max_upload_bytes: file.max_upload_bytes.unwrap_or(64 << 20),
            // 0: this coordinator serves the API and takes events, and
            // leaves running executions to others on the database.
            max_executions: file.max_executions.unwrap_or(4),
            admin_token: std::env::var("FERRY_ADMIN_TOKEN").ok(),
            function_dirs: crate::runtime::Catalog::default_dirs(),
            lease: std::time::Duration::from_secs(
                std::env::var("FERRY_LEASE_SECS")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(30u64)
                    .max(1),
            ),
            redis: args.redis.or(file.redis).filter(|u| !u.is_empty()),
            cache_ttl: args
                .cache_ttl
                .or(file.cache_ttl)
                .unwrap_or(crate::transfer::known::DEFAULT_TTL),
            blob_bounds_set: args
                .blob_concurrency
                .or(file.blob_concurrency)
                .or(args.registry_concurrency)
                .or(file.registry_concurrency)
                .is_some(),
            blob_concurrency: args
                .blob_concurrency
                .or(file.blob_concurrency)
                .map_or(DEFAULT_BLOBS, usize::from),
            registry_concurrency: args
                .registry_concurrency
                .or(file.registry_concurrency)
                .map_or(DEFAULT_BLOBS_PER_REGISTRY, usize::from),
            network: Network {
                attempts: args
                    .request_attempts
                    .or(file.request_attempts)
                    .unwrap_or(crate::transfer::network::DEFAULT_ATTEMPTS)
                    .max(1),
                idle_timeout: args
                    .idle_timeout
                    .or(file.idle_timeout)
                    .unwrap_or(crate::transfer::network::DEFAULT_IDLE_TIMEOUT),
                ..Network::default()
            },
        })
    }
}
