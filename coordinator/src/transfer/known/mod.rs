//! The existence cache: what a target registry is known to hold (manifests
//! by reference, blobs by digest), remembered across runs so that repeated
//! runs skip the HEAD storm. Knowledge expires after a TTL and a repository's
//! knowledge is dropped on any failure or 404 there: a wrong "present" then
//! costs one failed attempt, never a silently missing artifact.
//!
//! Kept in process (and in a file for `ferry copy`, see [`Memory::load`]) or
//! in Redis, shared by several coordinators. A Redis outage degrades to
//! "unknown": the registry is asked, and nothing fails.

mod memory;
mod redis;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::Memory;
pub use redis::Redis;

/// Default time knowledge stays trusted.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// A manifest the target holds under some reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownManifest {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

impl KnownManifest {
    fn encode(&self) -> String {
        format!("{} {} {}", self.digest, self.size, self.media_type)
    }

    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, ' ');
        Some(Self {
            digest: parts.next()?.to_string(),
            size: parts.next()?.parse().ok()?,
            media_type: parts.next().unwrap_or_default().to_string(),
        })
    }
}

enum Backend {
    Off,
    Memory(Memory),
    Redis(Redis),
}

/// The process's existence cache, for every target it replicates to.
pub struct Known {
    backend: Backend,
    ttl: Duration,
}

impl Known {
    /// Knows nothing and remembers nothing: every question goes to the registry.
    pub fn off() -> Arc<Self> {
        Arc::new(Self {
            backend: Backend::Off,
            ttl: Duration::ZERO,
        })
    }

    pub fn memory(memory: Memory, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            backend: Backend::Memory(memory),
            ttl,
        })
    }

    pub fn redis(redis: Redis, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            backend: Backend::Redis(redis),
            ttl,
        })
    }

    /// Where the knowledge lives, for logs.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Off => "off".into(),
            Backend::Memory(m) => m.describe(),
            Backend::Redis(r) => r.describe(),
        }
    }

    /// The in-process backend, to save it at the end of a `ferry copy`.
    pub fn as_memory(&self) -> Option<&Memory> {
        match &self.backend {
            Backend::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The view of one target registry, by its base URL.
    pub fn target(self: &Arc<Self>, url: &str) -> KnownTarget {
        KnownTarget {
            known: self.clone(),
            target: url.trim_end_matches('/').to_string(),
        }
    }

    async fn get(&self, group: &str, field: &str) -> Option<String> {
        match &self.backend {
            Backend::Off => None,
            Backend::Memory(m) => m.get(group, field, now_ms()),
            Backend::Redis(r) => r.get(group, field, now_ms()).await,
        }
    }

    async fn put(&self, group: &str, field: &str, value: String) {
        let now = now_ms();
        let expires = now + self.ttl.as_millis() as u64;
        match &self.backend {
            Backend::Off => {}
            Backend::Memory(m) => m.put(group, field, value, expires, now),
            Backend::Redis(r) => r.put(group, field, value, expires, self.ttl).await,
        }
    }

    async fn forget(&self, group: &str, field: Option<&str>) {
        match &self.backend {
            Backend::Off => {}
            Backend::Memory(m) => m.forget(group, field),
            Backend::Redis(r) => r.forget(group, field).await,
        }
    }
}

/// What one target registry is known to hold.
#[derive(Clone)]
pub struct KnownTarget {
    known: Arc<Known>,
    target: String,
}

impl KnownTarget {
    /// Knowledge is grouped by repository: the unit that is dropped at once.
    fn group(&self, repository: &str) -> String {
        format!("{}/{repository}", self.target)
    }

    pub async fn manifest(&self, repository: &str, reference: &str) -> Option<KnownManifest> {
        let value = self
            .known
            .get(&self.group(repository), &format!("m:{reference}"))
            .await?;
        KnownManifest::decode(&value)
    }

    pub async fn remember_manifest(&self, repository: &str, reference: &str, m: &KnownManifest) {
        let group = self.group(repository);
        self.known
            .put(&group, &format!("m:{reference}"), m.encode())
            .await;
        if reference != m.digest {
            self.known
                .put(&group, &format!("m:{}", m.digest), m.encode())
                .await;
        }
    }

    pub async fn blob(&self, repository: &str, digest: &str) -> bool {
        self.known
            .get(&self.group(repository), &format!("b:{digest}"))
            .await
            .is_some()
    }

    pub async fn remember_blob(&self, repository: &str, digest: &str) {
        self.known
            .put(
                &self.group(repository),
                &format!("b:{digest}"),
                String::new(),
            )
            .await;
    }

    /// Drops everything known about a repository of the target.
    pub async fn forget_repository(&self, repository: &str) {
        self.known.forget(&self.group(repository), None).await;
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A registry API path's repository and, for `/v2/<name>/manifests/<ref>`,
/// the manifest reference.
pub fn parse_path(path: &str) -> Option<(&str, Option<&str>)> {
    let path = path.split('?').next()?;
    let rest = path.strip_prefix("/v2/")?;
    for kind in ["/manifests/", "/blobs/", "/tags/", "/referrers/"] {
        if let Some(i) = rest.rfind(kind) {
            let (name, tail) = (&rest[..i], &rest[i + kind.len()..]);
            if name.is_empty() {
                return None;
            }
            let reference =
                (kind == "/manifests/" && !tail.is_empty() && !tail.contains('/')).then_some(tail);
            return Some((name, reference));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_repository_and_reference() {
        assert_eq!(
            parse_path("/v2/a/b/manifests/1.0"),
            Some(("a/b", Some("1.0")))
        );
        assert_eq!(
            parse_path("/v2/a/manifests/sha256:ab"),
            Some(("a", Some("sha256:ab")))
        );
        assert_eq!(parse_path("/v2/a/blobs/uploads/x"), Some(("a", None)));
        assert_eq!(parse_path("/v2/a/tags/list?n=5"), Some(("a", None)));
        assert_eq!(parse_path("/v2/_catalog"), None);
        assert_eq!(parse_path("/v2/"), None);
    }

    #[test]
    fn manifests_round_trip_through_their_encoding() {
        let m = KnownManifest {
            digest: "sha256:aa".into(),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            size: 42,
        };
        assert_eq!(KnownManifest::decode(&m.encode()), Some(m));
        assert_eq!(KnownManifest::decode("garbage"), None);
    }

    #[tokio::test]
    async fn knowledge_expires_and_is_dropped_per_repository() {
        let known = Known::memory(Memory::default(), Duration::from_secs(60));
        let t = known.target("http://127.0.0.1:1/");
        let m = KnownManifest {
            digest: "sha256:aa".into(),
            media_type: "x".into(),
            size: 1,
        };
        t.remember_manifest("r", "v1", &m).await;
        t.remember_blob("r", "sha256:bb").await;
        t.remember_blob("other", "sha256:bb").await;
        assert_eq!(t.manifest("r", "v1").await, Some(m.clone()));
        assert_eq!(t.manifest("r", "sha256:aa").await, Some(m));
        assert!(t.blob("r", "sha256:bb").await);
        t.forget_repository("r").await;
        assert_eq!(t.manifest("r", "v1").await, None);
        assert!(!t.blob("r", "sha256:bb").await);
        assert!(
            t.blob("other", "sha256:bb").await,
            "other repositories stay"
        );
        // Another target shares nothing.
        assert!(
            !known
                .target("http://127.0.0.1:2")
                .blob("other", "sha256:bb")
                .await
        );

        let expired = Known::memory(Memory::default(), Duration::ZERO);
        let t = expired.target("http://127.0.0.1:1");
        t.remember_blob("r", "sha256:bb").await;
        assert!(!t.blob("r", "sha256:bb").await);
    }
}
