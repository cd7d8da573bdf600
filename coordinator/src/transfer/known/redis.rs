//! Knowledge in Redis, shared by every coordinator: one hash per target
//! repository (`ferry:known:<target>/<repository>`), so that dropping a
//! repository is one `DEL`. Each field holds `<expires-ms> <value>` (Redis
//! 7.0 has no per-field TTL); the hash itself expires a TTL after its last
//! write. Every call is bounded in time, and any error is a miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::redact::redact;
use crate::transfer::{Kind, TransferError};

/// Longest a cache call may take before the registry is asked instead.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed call, Redis is not asked for this long: during an outage
/// lookups miss at once instead of each waiting out the timeout.
const BACK_OFF_MS: u64 = 5_000;

pub struct Redis {
    conn: ConnectionManager,
    url: String,
    /// When the last error was logged (epoch ms), to log an outage once a minute.
    last_warned: AtomicU64,
    /// Until when (epoch ms) Redis is skipped after a failure.
    skip_until: AtomicU64,
}

impl Redis {
    /// Connects (once; the manager reconnects by itself afterwards).
    pub async fn connect(url: &str) -> Result<Self, TransferError> {
        let client = redis::Client::open(url).map_err(|e| {
            TransferError::new(Kind::Invalid, format!("Redis URL {}: {e}", redact(url)))
        })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| {
            TransferError::new(
                Kind::Unavailable,
                format!("Redis {}: no answer in 5 s", redact(url)),
            )
        })?
        .map_err(|e| {
            TransferError::new(Kind::Unavailable, format!("Redis {}: {e}", redact(url)))
        })?;
        Ok(Self {
            conn,
            url: redact(url),
            last_warned: AtomicU64::new(0),
            skip_until: AtomicU64::new(0),
        })
    }

    pub fn describe(&self) -> String {
        format!("Redis {}", self.url)
    }

    fn key(group: &str) -> String {
        format!("ferry:known:{group}")
    }

    fn skipping(&self) -> bool {
        super::now_ms() < self.skip_until.load(Ordering::Relaxed)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        if self.skipping() {
            return None;
        }
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// A call, bounded in time; an error or a timeout is a miss (logged).
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.warn(&e.to_string());
                None
            }
            Err(_) => {
                self.warn("timed out");
                None
            }
        }
    }

    fn warn(&self, why: &str) {
        let now = super::now_ms();
        self.skip_until.store(now + BACK_OFF_MS, Ordering::Relaxed);
        let last = self.last_warned.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "existence cache in Redis {}: {why}; asking the registries instead",
                self.url
            );
        }
    }

    pub(super) async fn get(&self, group: &str, field: &str, now: u64) -> Option<String> {
        let raw: Option<String> = self
            .run(redis::cmd("HGET").arg(Self::key(group)).arg(field))
            .await?;
        let raw = raw?;
        let (expires, value) = raw.split_once(' ').unwrap_or((raw.as_str(), ""));
        (expires.parse::<u64>().ok()? > now).then(|| value.to_string())
    }

    pub(super) async fn put(
        &self,
        group: &str,
        field: &str,
        value: String,
        expires: u64,
        ttl: Duration,
    ) {
        if self.skipping() {
            return;
        }
        let key = Self::key(group);
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&key)
            .arg(field)
            .arg(format!("{expires} {value}"))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl.as_millis().max(1) as u64)
            .ignore();
        let mut conn = self.conn.clone();
        let _: Option<()> = self.bounded(pipe.query_async(&mut conn)).await;
    }

    pub(super) async fn forget(&self, group: &str, field: Option<&str>) {
        let key = Self::key(group);
        let _: Option<i64> = match field {
            Some(f) => self.run(redis::cmd("HDEL").arg(key).arg(f)).await,
            None => self.run(redis::cmd("DEL").arg(key)).await,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;

    use ferry_harness::RedisServer;

    use super::super::{Known, KnownManifest, KnownTarget};
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    /// Every call must come back well before this, even in an outage.
    const BOUND: Duration = Duration::from_secs(3);

    async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> T {
        tokio::time::timeout(BOUND, call)
            .await
            .unwrap_or_else(|_| panic!("{what} took more than {BOUND:?}"))
    }

    async fn cache(server: &RedisServer, ttl: Duration) -> Arc<Known> {
        let redis = bounded("connect", Redis::connect(&server.url()))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail(20)));
        Known::redis(redis, ttl)
    }

    fn manifest() -> KnownManifest {
        KnownManifest {
            digest: "sha256:aa".into(),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            size: 42,
        }
    }

    async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
        redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn remembers_and_forgets_per_repository_and_target() {
        let server = RedisServer::start();
        let known = cache(&server, TTL).await;
        let t = known.target("http://127.0.0.1:1/");
        let m = manifest();
        assert_eq!(t.manifest("r", "v1").await, None);
        assert!(!t.blob("r", "sha256:bb").await);

        t.remember_manifest("r", "v1", &m).await;
        t.remember_blob("r", "sha256:bb").await;
        t.remember_blob("other", "sha256:bb").await;
        t.remember_manifest("other", "v1", &m).await;
        assert_eq!(t.manifest("r", "v1").await, Some(m.clone()));
        assert_eq!(t.manifest("r", "sha256:aa").await, Some(m.clone()));
        assert_eq!(t.manifest("r", "v2").await, None);
        assert!(t.blob("r", "sha256:bb").await);
        assert!(!t.blob("r", "sha256:cc").await);

        // One hash per target repository, expiring a TTL after its last write.
        let mut conn = raw(&server).await;
        let key = "ferry:known:http://127.0.0.1:1/r";
        let mut fields: Vec<String> = redis::cmd("HKEYS")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        fields.sort();
        assert_eq!(fields, ["b:sha256:bb", "m:sha256:aa", "m:v1"]);
        let pttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= TTL.as_millis() as i64, "PTTL {pttl}");

        // Another coordinator on the same Redis knows the same.
        let shared = cache(&server, TTL).await;
        let t2 = shared.target("http://127.0.0.1:1");
        assert_eq!(t2.manifest("r", "v1").await, Some(m.clone()));
        assert!(t2.blob("other", "sha256:bb").await);

        // Another target shares nothing.
        let elsewhere = known.target("http://127.0.0.1:2");
        assert_eq!(elsewhere.manifest("r", "v1").await, None);
        assert!(!elsewhere.blob("r", "sha256:bb").await);
        elsewhere.remember_blob("r", "sha256:dd").await;
        assert!(!t.blob("r", "sha256:dd").await);

        // Forgetting a repository drops all of it, and only it.
        t.forget_repository("r").await;
        assert_eq!(t.manifest("r", "v1").await, None);
        assert_eq!(t.manifest("r", "sha256:aa").await, None);
        assert!(!t.blob("r", "sha256:bb").await);
        assert!(
            t.blob("other", "sha256:bb").await,
            "other repositories stay"
        );
        assert_eq!(t.manifest("other", "v1").await, Some(m));
        assert!(
            elsewhere.blob("r", "sha256:dd").await,
            "the same repository of another target stays"
        );
        let exists: i64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(exists, 0);
    }

    #[tokio::test]
    async fn an_entry_with_a_zero_ttl_is_a_miss() {
        let server = RedisServer::start();
        let known = cache(&server, Duration::ZERO).await;
        let t = known.target("http://127.0.0.1:1");
        t.remember_blob("r", "sha256:bb").await;
        t.remember_manifest("r", "v1", &manifest()).await;
        assert!(!t.blob("r", "sha256:bb").await);
        assert_eq!(t.manifest("r", "v1").await, None);

        // An entry whose own expiry has passed is a miss even while the
        // hash is still there (written with a longer TTL).
        let long = cache(&server, TTL).await;
        let t = long.target("http://127.0.0.1:1");
        t.remember_blob("r", "sha256:cc").await;
        let mut conn = raw(&server).await;
        let _: () = redis::cmd("HSET")
            .arg("ferry:known:http://127.0.0.1:1/r")
            .arg("b:sha256:cc")
            .arg(format!("{} ", super::super::now_ms() - 1))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!t.blob("r", "sha256:cc").await);
        // Garbage in a field is a miss too, not an error.
        let _: () = redis::cmd("HSET")
            .arg("ferry:known:http://127.0.0.1:1/r")
            .arg("m:v2")
            .arg("not-a-time sha256:aa 1 x")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(t.manifest("r", "v2").await, None);
    }

    /// Every call of a cache whose Redis is gone, each bounded in time.
    async fn all_calls_miss(t: &KnownTarget) {
        assert_eq!(bounded("manifest", t.manifest("r", "v1")).await, None);
        assert_eq!(
            bounded("manifest", t.manifest("r", "sha256:aa")).await,
            None
        );
        assert!(!bounded("blob", t.blob("r", "sha256:bb")).await);
        bounded(
            "remember_manifest",
            t.remember_manifest("r", "v2", &manifest()),
        )
        .await;
        bounded("remember_blob", t.remember_blob("r", "sha256:cc")).await;
        bounded("forget_repository", t.forget_repository("r")).await;
        assert!(!bounded("blob", t.blob("r", "sha256:cc")).await);
    }

    #[tokio::test]
    async fn an_outage_makes_every_call_a_quick_miss_and_never_an_error() {
        let mut server = RedisServer::start();
        let known = cache(&server, TTL).await;
        let t = known.target("http://127.0.0.1:1");
        t.remember_manifest("r", "v1", &manifest()).await;
        t.remember_blob("r", "sha256:bb").await;
        assert!(t.blob("r", "sha256:bb").await);

        server.stop();
        // The first failure makes Redis skipped for a while: the eight calls
        // of a round then miss at once, not after 0.5 s each.
        all_calls_miss(&t).await;
        let started = std::time::Instant::now();
        all_calls_miss(&t).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "calls during an outage waited {:?}",
            started.elapsed()
        );
        assert!(known.describe().contains("127.0.0.1"));
    }

    #[tokio::test]
    async fn connecting_to_nothing_fails_quickly() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("redis://127.0.0.1:{port}");
        let err = match bounded("connect", Redis::connect(&url)).await {
            Ok(_) => panic!("connected to {url}, where nothing listens"),
            Err(e) => e,
        };
        assert_eq!(err.kind, Kind::Unavailable, "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(Redis::connect("not a url").await.is_err());
    }
}
