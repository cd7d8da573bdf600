//! Claims on blob copies shared with other processes: the coordinators on
//! one database move a blob into a repository one at a time, as the
//! executions of one process do (see [`super::Limits::moving`]), so a blob
//! copied ahead by one coordinator is not sent again by another's execution.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

/// How long a claim lasts unless renewed: a holder that dies blocks the
/// others this long at most.
const TTL: Duration = Duration::from_secs(30);
/// How often a holder renews its claim while it copies.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiter asks again.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for another holder; then the copy goes ahead anyway (a
/// blob sent twice costs bytes, one never sent costs a replica).
const MAX_WAIT: Duration = Duration::from_secs(600);

/// Where the claims live (the coordinators' database).
pub trait SharedMoves: Send + Sync {
    /// Claims or renews `key` for `holder` (unique within this process)
    /// until now + `ttl`; answers whether `holder` holds it now. When the
    /// claims cannot be reached, answers `true`: the copy goes ahead
    /// unshared.
    fn claim<'a>(&'a self, key: &'a str, holder: &'a str, ttl: Duration) -> BoxFuture<'a, bool>;
    /// Gives `holder`'s claim on `key` up.
    fn release<'a>(&'a self, key: &'a str, holder: &'a str) -> BoxFuture<'a, ()>;
}

/// Tells this process's claims apart, so that a release arriving late
/// never drops the claim of the copy that came next.
static NEXT_HOLDER: AtomicU64 = AtomicU64::new(0);

/// A claim held: renewed until dropped, then released.
pub struct Claim {
    renew: tokio::task::JoinHandle<()>,
    release: Option<(Arc<dyn SharedMoves>, String, String)>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.renew.abort();
        if let Some((shared, key, holder)) = self.release.take() {
            tokio::spawn(async move { shared.release(&key, &holder).await });
        }
    }
}

/// Claims `key`, waiting while another process holds it (bounded); answers
/// the claim and whether it waited.
pub async fn claim(shared: &Arc<dyn SharedMoves>, key: String) -> (Claim, bool) {
    let holder = NEXT_HOLDER.fetch_add(1, Ordering::Relaxed).to_string();
    let deadline = Instant::now() + MAX_WAIT;
    let mut waited = false;
    while !shared.claim(&key, &holder, TTL).await {
        waited = true;
        if Instant::now() >= deadline {
            tracing::warn!(
                "{key}: still being copied elsewhere after {MAX_WAIT:?}; copying anyway"
            );
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let renew = {
        let (shared, key, holder) = (shared.clone(), key.clone(), holder.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                shared.claim(&key, &holder, TTL).await;
            }
        })
    };
    let claim = Claim {
        renew,
        release: Some((shared.clone(), key, holder)),
    };
    (claim, waited)
}
