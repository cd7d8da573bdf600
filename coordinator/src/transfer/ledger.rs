//! What one execution knows about blobs at the target: which repository
//! already holds each digest, and which copy is in flight. A blob that several
//! artifacts need is transferred once; the others wait for it, then mount.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

#[derive(Default)]
pub struct Ledger {
    /// digest -> the first target repository known to hold it.
    holders: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
}

impl Ledger {
    /// The cell for a digest: initialized by whoever makes it present first.
    pub fn cell(&self, digest: &str) -> Arc<OnceCell<String>> {
        let mut map = self.holders.lock().expect("ledger lock poisoned");
        map.entry(digest.to_string()).or_default().clone()
    }

    /// Whether this execution already made the digest present in `repository`.
    pub fn holds(&self, digest: &str, repository: &str) -> bool {
        let map = self.holders.lock().expect("ledger lock poisoned");
        map.get(digest)
            .and_then(|c| c.get())
            .is_some_and(|r| r == repository)
    }

    /// Notes that a target repository holds a digest (first one wins).
    pub fn note(&self, digest: &str, repository: &str) {
        let _ = self.cell(digest).set(repository.to_string());
    }
}
