//! Inactivity timeouts: a request fails when nothing moved for a while, not
//! when it runs long. (reqwest's `read_timeout` also counts the time spent
//! sending a body, so it would kill a big upload on a slow link.)

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;

/// When a request last moved: a byte sent or received.
#[derive(Clone)]
pub struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: Arc<AtomicU64>,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            last: Arc::default(),
        }
    }

    pub fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `fut` until it ends, or until `activity` has been quiet for
/// `limit` (then `None`).
pub async fn watch<F: Future>(fut: F, activity: &Activity, limit: Duration) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        let left = limit.saturating_sub(activity.quiet_for());
        if left.is_zero() {
            return None;
        }
        tokio::select! {
            out = &mut fut => return Some(out),
            _ = tokio::time::sleep(left) => {}
        }
    }
}

/// A body for a request that touches `activity` as the connection takes
/// it, in pieces small enough to show progress on a slow link. The caller
/// sets `Content-Length`.
pub fn tracked_body(bytes: Bytes, activity: &Activity) -> reqwest::Body {
    const PIECE: usize = 64 << 10;
    let activity = activity.clone();
    let mut rest = bytes;
    let pieces = futures::stream::iter(std::iter::from_fn(move || {
        (!rest.is_empty()).then(|| {
            let piece = rest.split_to(PIECE.min(rest.len()));
            Ok::<_, std::convert::Infallible>(piece)
        })
    }));
    reqwest::Body::wrap_stream(Touching {
        inner: pieces,
        activity,
    })
}

/// Passes a stream through, touching `activity` at every item (the
/// connection pulled it: the previous one went out).
pub struct Touching<S> {
    pub inner: S,
    pub activity: Activity,
}

impl<S: Stream + Unpin> Stream for Touching<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if item.is_ready() {
            self.activity.touch();
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_request_lives_past_the_limit_and_a_quiet_one_does_not() {
        let limit = Duration::from_millis(100);
        let activity = Activity::new();
        let ticking = activity.clone();
        let busy = async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                ticking.touch();
            }
            "done"
        };
        assert_eq!(watch(busy, &activity, limit).await, Some("done"));
        let quiet = Activity::new();
        let stalled = tokio::time::sleep(Duration::from_secs(5));
        assert_eq!(watch(stalled, &quiet, limit).await, None);
    }
}
