//! Concurrency bounds shared by every execution of a process: blob copies in
//! flight overall, and requests in flight per registry, so that several
//! executions against one registry do not add up to a storm it answers
//! with 429s. Blob copies in flight grow with the registries' round trip
//! (see [`distance`](super::distance)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit};

use super::distance::{RoundTrip, Rule, Widening};
use super::gate::{Bounds, Gate};
use super::moves::{self, Claim, SharedMoves};
use super::network::Network;

/// Blob copies in flight across the process, by default: enough to keep a
/// registry's ingest busy on a small machine without thrashing it. More
/// over a long round trip.
pub const DEFAULT_BLOBS: usize = 8;
/// Blob copies in flight per registry, by default.
pub const DEFAULT_BLOBS_PER_REGISTRY: usize = 8;
/// Document requests (manifests, listings, HEADs) in flight per registry.
pub const DEFAULT_REQUESTS_PER_REGISTRY: usize = 32;

pub struct Limits {
    blobs: Widening,
    blobs_per_registry: usize,
    /// The blob bounds were set by the user: they do not widen.
    fixed_blobs: bool,
    requests_per_registry: usize,
    registries: Mutex<HashMap<String, Arc<RegistryLimits>>>,
    /// Blob copies in flight, by target, repository and digest: one copy of
    /// a blob into a repository at a time, whoever asks (an execution, or a
    /// copy started by a registry event).
    moving: Mutex<HashMap<BlobAt, Weak<tokio::sync::Mutex<()>>>>,
    /// The same, across the processes sharing `shared` (coordinators on one
    /// database).
    shared: Option<Arc<dyn SharedMoves>>,
    /// Retries and timeouts of every request.
    network: Network,
}

/// A blob in a repository of a registry: (registry URL, repository, digest).
type BlobAt = (String, String, String);

/// The bounds of one registry (by base URL).
pub struct RegistryLimits {
    pub blobs: Arc<Widening>,
    /// The shortest round trip seen to the registry.
    pub round_trip: Arc<RoundTrip>,
    /// Document requests in flight.
    pub requests: Arc<Widening>,
    /// The registry resource's own bounds, on every request.
    pub gate: Arc<Gate>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(
            DEFAULT_BLOBS,
            DEFAULT_BLOBS_PER_REGISTRY,
            DEFAULT_REQUESTS_PER_REGISTRY,
        )
    }
}

impl Limits {
    pub fn new(blobs: usize, blobs_per_registry: usize, requests_per_registry: usize) -> Self {
        Self {
            blobs: Widening::new(blobs, Rule::BLOBS),
            blobs_per_registry: blobs_per_registry.max(1),
            fixed_blobs: false,
            requests_per_registry: requests_per_registry.max(1),
            registries: Mutex::new(HashMap::new()),
            moving: Mutex::new(HashMap::new()),
            shared: None,
            network: Network::default(),
        }
    }

    /// Keeps the blob bounds as given, however far the registries are: a
    /// user who sets them means them.
    pub fn with_fixed_blobs(mut self) -> Self {
        self.blobs = Widening::fixed(self.blobs.size());
        self.fixed_blobs = true;
        self
    }

    /// Requests retry and time out as `network` says.
    pub fn with_network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// Also holds each blob copy against the other processes of `shared`.
    pub fn with_shared_moves(mut self, shared: Arc<dyn SharedMoves>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Holds the right to move blob `digest` into `repository` of the
    /// registry at `target`; answers with whether another copy of it was
    /// under way (it was waited for: the blob is likely there now).
    pub async fn moving(&self, target: &str, repository: &str, digest: &str) -> (Moving, bool) {
        let key = (
            target.trim_end_matches('/').to_string(),
            repository.to_string(),
            digest.to_string(),
        );
        let lock = {
            let mut map = self.moving.lock().expect("limits lock");
            map.retain(|_, w| w.strong_count() > 0);
            match map.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        let (guard, waited_here) = match lock.clone().try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (lock.lock_owned().await, true),
        };
        // Then against the other processes, holding this process's lock so
        // that only one of its copies asks.
        let (claim, waited_elsewhere) = match &self.shared {
            Some(shared) => {
                let key = format!("{} {repository} {digest}", target.trim_end_matches('/'));
                let (claim, waited) = moves::claim(shared, key).await;
                (Some(claim), waited)
            }
            None => (None, false),
        };
        let moving = Moving {
            _claim: claim,
            _guard: guard,
        };
        (moving, waited_here || waited_elsewhere)
    }

    /// Whether bounds grow with the round trip (the user set none).
    pub fn widens(&self) -> bool {
        !self.fixed_blobs
    }

    /// How many blob copies may run at once overall, now.
    pub fn blob_parallelism(&self) -> usize {
        self.blobs.size()
    }

    pub fn registry(&self, url: &str) -> Arc<RegistryLimits> {
        let key = url.trim_end_matches('/').to_string();
        let mut map = self.registries.lock().expect("limits lock");
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(RegistryLimits {
                    blobs: Arc::new(match self.fixed_blobs {
                        true => Widening::fixed(self.blobs_per_registry),
                        false => Widening::new(self.blobs_per_registry, Rule::BLOBS),
                    }),
                    round_trip: Arc::default(),
                    requests: Arc::new(match self.fixed_blobs {
                        true => Widening::fixed(self.requests_per_registry),
                        false => Widening::new(self.requests_per_registry, Rule::REQUESTS),
                    }),
                    gate: Arc::new(Gate::new(Bounds::default())),
                })
            })
            .clone()
    }

    /// The registry's limits with its resource's `bounds`. Bounds that
    /// changed apply to the executions that start after the change.
    pub fn registry_bounded(&self, url: &str, bounds: Bounds) -> Arc<RegistryLimits> {
        let current = self.registry(url);
        if current.gate.bounds() == bounds {
            return current;
        }
        let changed = Arc::new(RegistryLimits {
            blobs: current.blobs.clone(),
            round_trip: current.round_trip.clone(),
            requests: current.requests.clone(),
            gate: Arc::new(Gate::new(bounds)),
        });
        let key = url.trim_end_matches('/').to_string();
        self.registries
            .lock()
            .expect("limits lock")
            .insert(key, changed.clone());
        changed
    }

    /// Permits for one blob copy between two registries: the global one,
    /// then the registries' in URL order (one order for every caller, so two
    /// executions copying A->B and B->A cannot deadlock). The farther of
    /// the two registries widens all three first.
    pub async fn blob(&self, a: &RegistryLimits, b: &RegistryLimits) -> Option<BlobPermit> {
        if let Some(far) = a.round_trip.shortest().max(b.round_trip.shortest()) {
            self.blobs.widen(far);
            a.blobs.widen(far);
            b.blobs.widen(far);
        }
        let global = self.blobs.semaphore().clone().acquire_owned().await.ok()?;
        let (a_blobs, b_blobs) = (a.blobs.semaphore(), b.blobs.semaphore());
        let (first, second) = if Arc::ptr_eq(a_blobs, b_blobs) {
            (a_blobs.clone(), None)
        } else if Arc::as_ptr(a_blobs) < Arc::as_ptr(b_blobs) {
            (a_blobs.clone(), Some(b_blobs.clone()))
        } else {
            (b_blobs.clone(), Some(a_blobs.clone()))
        };
        let first = first.acquire_owned().await.ok()?;
        let second = match second {
            Some(s) => Some(s.acquire_owned().await.ok()?),
            None => None,
        };
        Some(BlobPermit {
            _held: (global, first, second),
        })
    }
}

/// Held while one copy of a blob into a repository runs.
pub struct Moving {
    // Dropped first: the claim is released before the next waiter here asks.
    _claim: Option<Claim>,
    _guard: OwnedMutexGuard<()>,
}

/// Held while one blob copy runs.
pub struct BlobPermit {
    _held: (
        OwnedSemaphorePermit,
        OwnedSemaphorePermit,
        Option<OwnedSemaphorePermit>,
    ),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_registry_bounds_every_execution_that_uses_it() {
        let limits = Limits::new(10, 2, 4);
        let a = limits.registry("http://127.0.0.1:1/");
        let b = limits.registry("http://127.0.0.1:2");
        assert!(Arc::ptr_eq(&a, &limits.registry("http://127.0.0.1:1")));
        let p1 = limits.blob(&a, &b).await.unwrap();
        let _p2 = limits.blob(&b, &a).await.unwrap();
        // Both registries are at their bound of 2: a third copy waits.
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), limits.blob(&a, &b));
        assert!(third.await.is_err());
        drop(p1);
        assert!(limits.blob(&a, &b).await.is_some());
    }

    #[tokio::test]
    async fn one_copy_of_a_blob_into_a_repository_at_a_time() {
        let limits = Arc::new(Limits::default());
        let (first, waited) = limits.moving("http://t/", "r", "sha256:a").await;
        assert!(!waited);
        // Another repository, another digest: not held up.
        assert!(!limits.moving("http://t", "other", "sha256:a").await.1);
        assert!(!limits.moving("http://t", "r", "sha256:b").await.1);
        let l = limits.clone();
        let second = tokio::spawn(async move { l.moving("http://t", "r", "sha256:a").await.1 });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        drop(first);
        assert!(
            second.await.unwrap(),
            "the second copy waited for the first"
        );
        assert!(!limits.moving("http://t", "r", "sha256:a").await.1);
    }

    /// Claims kept in a map shared by two "processes".
    #[derive(Default)]
    struct Shared(Mutex<HashMap<String, String>>);

    struct Process(Arc<Shared>, &'static str);

    impl SharedMoves for Process {
        fn claim<'a>(
            &'a self,
            key: &'a str,
            holder: &'a str,
            _ttl: std::time::Duration,
        ) -> futures::future::BoxFuture<'a, bool> {
            let me = format!("{}/{holder}", self.1);
            let mut map = self.0.0.lock().unwrap();
            let held = map.entry(key.to_string()).or_insert_with(|| me.clone());
            let mine = *held == me;
            Box::pin(async move { mine })
        }

        fn release<'a>(
            &'a self,
            key: &'a str,
            holder: &'a str,
        ) -> futures::future::BoxFuture<'a, ()> {
            let me = format!("{}/{holder}", self.1);
            let mut map = self.0.0.lock().unwrap();
            if map.get(key) == Some(&me) {
                map.remove(key);
            }
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn one_copy_of_a_blob_into_a_repository_across_processes() {
        let shared = Arc::new(Shared::default());
        let a = Limits::default().with_shared_moves(Arc::new(Process(shared.clone(), "a")));
        let b =
            Arc::new(Limits::default().with_shared_moves(Arc::new(Process(shared.clone(), "b"))));
        let (first, waited) = a.moving("http://t", "r", "sha256:a").await;
        assert!(!waited);
        assert_eq!(shared.0.lock().unwrap().len(), 1);
        let other = b.clone();
        let second = tokio::spawn(async move { other.moving("http://t", "r", "sha256:a").await.1 });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "b waits for a's copy");
        drop(first);
        assert!(second.await.unwrap(), "b waited, and now holds it");
        // Released by b's drop in turn (asynchronously).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(shared.0.lock().unwrap().is_empty());
    }
}
