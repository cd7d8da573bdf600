//! Connections opened ahead to a far registry. Over a long round trip, a
//! new connection costs a round trip (its handshake) before its first
//! request, and each of the blob copies a copy starts at once opens one.
//! When the listing found work and the registry is far, the client opens
//! the connections its blob copies will use, each with a `HEAD` of the
//! registry's URL, whose connection then waits in the blob bodies' pool
//! while the upload sessions are opened. A run with nothing to copy opens
//! none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use url::Url;

use super::distance::Rule;
use super::limits::DEFAULT_BLOBS;

/// Nearer than this, a handshake costs too little to open connections ahead.
const FAR: Duration = Duration::from_millis(10);
/// The longest a connection opened ahead may take.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Warm {
    done: AtomicBool,
}

impl Warm {
    /// For the registry at `base`, `round_trip` away: when that is far, and
    /// the first time, opens connections in the background (as many as
    /// blob copies widen to). Answers how many.
    pub fn open(&self, http: &reqwest::Client, base: &Url, round_trip: Duration) -> usize {
        if round_trip < FAR || self.done.swap(true, Ordering::Relaxed) {
            return 0;
        }
        let n = Rule::BLOBS.widened(DEFAULT_BLOBS, round_trip);
        for _ in 0..n {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                // Read to the end, so the connection goes back to the pool.
                let open = async { http.head(base).send().await?.bytes().await };
                let _ = tokio::time::timeout(TIMEOUT, open).await;
            });
        }
        n
    }
}
