//! Knowledge in Redis, shared by every coordinator: one hash per target
//! repository (`ferry:known:<target>/<repository>`), so that dropping a
//! repository is one `DEL`. Each field holds `<expires-ms> <value>` (Redis
//! 7.0 has no per-field TTL); the hash itself expires a TTL after its last
//! write. Every call is bounded in time, and any error is a miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::redact::redact;

/// Longest a cache call may take before the registry is asked instead.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

pub struct Redis {
    conn: ConnectionManager,
    url: String,
    /// When the last error was logged (epoch ms), to log an outage once a minute.
    last_warned: AtomicU64,
}

impl Redis {
    /// Connects (once; the manager reconnects by itself afterwards).
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("Redis URL {}: {e}", redact(url)))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| format!("Redis {}: no answer in 5 s", redact(url)))?
        .map_err(|e| format!("Redis {}: {e}", redact(url)))?;
        Ok(Self {
            conn,
            url: redact(url),
            last_warned: AtomicU64::new(0),
        })
    }

    pub fn describe(&self) -> String {
        format!("Redis {}", self.url)
    }

    fn key(group: &str) -> String {
        format!("ferry:known:{group}")
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(CALL_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
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
        match tokio::time::timeout(CALL_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.warn(&e.to_string()),
            Err(_) => self.warn("timed out"),
        }
    }

    pub(super) async fn forget(&self, group: &str, field: Option<&str>) {
        let key = Self::key(group);
        let _: Option<i64> = match field {
            Some(f) => self.run(redis::cmd("HDEL").arg(key).arg(f)).await,
            None => self.run(redis::cmd("DEL").arg(key)).await,
        };
    }
}
