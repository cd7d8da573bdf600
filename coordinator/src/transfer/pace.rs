//! A policy's speed limit: one pace for all of an execution's blob bytes,
//! however many blobs are in flight (Harbor's limit is per worker, so it
//! multiplies with them).
//!
//! Each batch of bytes is given its theoretical arrival time at the rate
//! (GCRA); a reader waits until that time, less a small tolerance. Over any
//! window of `w` seconds at most `rate × (w + TOLERANCE)` bytes pass, and a
//! copy that could go faster goes at the rate.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The burst allowed ahead of the rate: small against the 10 s a user
/// would measure over (2.5 % of it).
const TOLERANCE: Duration = Duration::from_millis(250);

pub struct Pace {
    /// Bytes per second.
    rate: f64,
    /// When the bytes admitted so far would have passed at the rate.
    due: Mutex<Option<Instant>>,
}

impl Pace {
    /// `rate`: bytes per second (at least 1).
    pub fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1) as f64,
            due: Mutex::new(None),
        }
    }

    /// Waits until `n` more bytes may pass.
    pub async fn take(&self, n: usize) {
        let release = {
            let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = due.map_or(now, |d| d.max(now));
            let next = start + Duration::from_secs_f64(n as f64 / self.rate);
            *due = Some(next);
            next.checked_sub(TOLERANCE).unwrap_or(now)
        };
        tokio::time::sleep_until(release).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn many_readers_share_one_rate() {
        let pace = Arc::new(Pace::new(1_000_000));
        let start = Instant::now();
        // Four readers, 5 MB in 50 kB pieces: 5 s at 1 MB/s, together.
        let readers = (0..4).map(|_| {
            let pace = pace.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    pace.take(50_000).await;
                }
            })
        });
        for r in readers {
            r.await.unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((4.7..=5.0).contains(&took), "{took}");
    }
}
