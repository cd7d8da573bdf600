//! What one execution knows about blobs at the target: which repository
//! first held each digest, and which repositories hold it now. A blob that
//! several artifacts need is transferred once; the others wait for it, then
//! mount it. Within one target repository, one artifact places a blob and
//! the others wait for that: registries rewrite a repository's blob link on
//! every mount, and a manifest PUT that reads the link mid-rewrite fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Set once a (digest, repository) pair is in place.
type Placed = HashMap<(String, String), Arc<OnceCell<()>>>;

#[derive(Default)]
pub struct Ledger {
    /// digest -> the first target repository known to hold it.
    holders: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    /// (digest, repository) -> set once the repository holds the digest.
    placed: Mutex<Placed>,
}

impl Ledger {
    /// The cell for a digest: initialized by whoever makes it present first.
    pub fn cell(&self, digest: &str) -> Arc<OnceCell<String>> {
        let mut map = self.holders.lock().expect("ledger lock poisoned");
        map.entry(digest.to_string()).or_default().clone()
    }

    /// The cell for a digest in one repository: initialized once it is there.
    pub fn placed(&self, digest: &str, repository: &str) -> Arc<OnceCell<()>> {
        let mut map = self.placed.lock().expect("ledger lock poisoned");
        map.entry((digest.to_string(), repository.to_string()))
            .or_default()
            .clone()
    }

    /// Notes that a target repository holds a digest.
    pub fn note(&self, digest: &str, repository: &str) {
        let _ = self.cell(digest).set(repository.to_string());
        let _ = self.placed(digest, repository).set(());
    }
}
