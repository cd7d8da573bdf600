//! The coordinators' shared claims on blob copies, kept in the store (see
//! `transfer::moves`).

use std::time::Duration;

use futures::future::BoxFuture;

use crate::store::Store;
use crate::transfer::moves::SharedMoves;

pub struct StoreMoves {
    store: Store,
    /// This coordinator's id, before each holder's.
    me: String,
}

impl StoreMoves {
    pub fn new(store: Store, coordinator: &str) -> Self {
        Self {
            store,
            me: coordinator.to_string(),
        }
    }
}

impl SharedMoves for StoreMoves {
    fn claim<'a>(&'a self, key: &'a str, holder: &'a str, ttl: Duration) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let holder = format!("{}/{holder}", self.me);
            self.store
                .claim_move(key, &holder, ttl)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!("claiming the copy of {key}: {e}; copying unshared");
                    true
                })
        })
    }

    fn release<'a>(&'a self, key: &'a str, holder: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let holder = format!("{}/{holder}", self.me);
            if let Err(e) = self.store.release_move(key, &holder).await {
                tracing::warn!("releasing the copy of {key}: {e}; it lapses by itself");
            }
        })
    }
}
