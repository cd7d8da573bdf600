//! A registry's own bounds, set on its resource, over every request Ferry
//! sends it from every execution of the process: at most `max_concurrency`
//! in flight and `requests_per_second` started. A 429 halves the rate for
//! a while (the rate the registry was seeing, when none is set), which then
//! doubles back every [`RECOVERY`] until it is whole again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How often a rate lowered by a 429 doubles back.
pub const RECOVERY: Duration = Duration::from_secs(10);
/// The lowest rate a 429 brings a registry to, in requests per second.
const MIN_RATE: f64 = 0.5;
/// Doublings after which an unset rate is unbounded again.
const DOUBLINGS: f64 = 4.0;

/// What a registry's resource sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub requests_per_second: Option<u32>,
    pub max_concurrency: Option<u32>,
}

pub struct Gate {
    bounds: Bounds,
    slots: Option<Arc<Semaphore>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the next request may start at the rate.
    due: Option<Instant>,
    /// Request starts in the last second: the rate seen, when none is set.
    started: VecDeque<Instant>,
    /// The rate after a 429, and when it was set.
    slowed: Option<(f64, Instant)>,
}

/// Held while a request is in flight.
pub struct Admission {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// For a registry without bounds.
    pub fn none() -> Self {
        Self { _slot: None }
    }
}

impl Gate {
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            slots: bounds
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1) as usize))),
            state: Mutex::default(),
        }
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Waits for a slot (if `slot`) and the request's turn at the rate.
    pub async fn admit(&self, slot: bool) -> Admission {
        let slot = match (&self.slots, slot) {
            (Some(s), true) => s.clone().acquire_owned().await.ok(),
            _ => None,
        };
        let start = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = match self.rate(&mut st, now) {
                Some(rate) => {
                    let start = st.due.map_or(now, |d| d.max(now));
                    st.due = Some(start + Duration::from_secs_f64(1.0 / rate));
                    start
                }
                None => now,
            };
            while st
                .started
                .front()
                .is_some_and(|t| *t + Duration::from_secs(1) <= start)
            {
                st.started.pop_front();
            }
            st.started.push_back(start);
            start
        };
        tokio::time::sleep_until(start).await;
        Admission { _slot: slot }
    }

    /// The registry answered 429: half the rate for a while. The 429s
    /// that answer requests sent before the rate was lowered (within a
    /// second of it) lower it no further.
    pub fn too_many(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if st
            .slowed
            .is_some_and(|(_, since)| now < since + Duration::from_secs(1))
        {
            return;
        }
        let seen = st
            .started
            .iter()
            .filter(|t| **t + Duration::from_secs(1) > now)
            .count() as f64;
        let rate = self.rate(&mut st, now).unwrap_or(seen.max(1.0));
        let lowered = (rate / 2.0).max(MIN_RATE);
        tracing::warn!("429: requests to this registry slowed to {lowered:.1}/s for a while");
        st.slowed = Some((lowered, now));
    }

    /// Requests per second now: the set rate, or the lowered one on its way
    /// back; `None` for no bound.
    fn rate(&self, st: &mut State, now: Instant) -> Option<f64> {
        let set = self.bounds.requests_per_second.map(f64::from);
        let Some((lowered, since)) = st.slowed else {
            return set;
        };
        let doublings = (now - since).as_secs_f64() / RECOVERY.as_secs_f64();
        let rate = lowered * doublings.floor().exp2();
        match set {
            Some(set) if rate >= set => {
                st.slowed = None;
                Some(set)
            }
            None if doublings >= DOUBLINGS => {
                st.slowed = None;
                None
            }
            _ => Some(rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests admitted in `window` by `readers` tasks asking in a loop.
    async fn admitted(gate: &Arc<Gate>, readers: usize, window: Duration) -> usize {
        let end = Instant::now() + window;
        let tasks: Vec<_> = (0..readers)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    loop {
                        let _a = gate.admit(true).await;
                        if Instant::now() >= end {
                            return n;
                        }
                        n += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_holds_over_many_tasks() {
        let gate = Arc::new(Gate::new(Bounds {
            requests_per_second: Some(20),
            max_concurrency: None,
        }));
        let n = admitted(&gate, 8, Duration::from_secs(5)).await;
        assert!((99..=101).contains(&n), "{n}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_concurrency_in_flight() {
        let gate = Arc::new(Gate::new(Bounds {
            requests_per_second: None,
            max_concurrency: Some(2),
        }));
        let a = gate.admit(true).await;
        let _b = gate.admit(true).await;
        let third = tokio::time::timeout(Duration::from_millis(100), gate.admit(true));
        assert!(third.await.is_err(), "a third was let in");
        drop(a);
        tokio::time::timeout(Duration::from_millis(100), gate.admit(true))
            .await
            .expect("a slot came free");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_rate_which_then_comes_back() {
        let gate = Arc::new(Gate::new(Bounds {
            requests_per_second: Some(40),
            max_concurrency: None,
        }));
        assert!((39..=41).contains(&admitted(&gate, 4, Duration::from_secs(1)).await));
        // A burst of 429s, answering requests sent at the old rate: once.
        for _ in 0..8 {
            gate.too_many();
        }
        let slowed = admitted(&gate, 4, Duration::from_secs(5)).await;
        assert!((99..=101).contains(&slowed), "{slowed}");
        // Back to whole after one recovery period.
        tokio::time::sleep(RECOVERY).await;
        let back = admitted(&gate, 4, Duration::from_secs(1)).await;
        assert!((39..=41).contains(&back), "{back}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_set_rate_a_429_halves_the_rate_seen() {
        let gate = Arc::new(Gate::new(Bounds::default()));
        // 4 tasks, 10 ms apart: about 400 requests a second.
        let seen = admitted(&gate, 4, Duration::from_secs(1)).await;
        gate.too_many();
        let slowed = admitted(&gate, 4, Duration::from_secs(1)).await;
        assert!(
            slowed * 2 <= seen + 4 && slowed * 2 + 4 >= seen,
            "{seen} then {slowed}"
        );
        // Unbounded again after its doublings.
        tokio::time::sleep(RECOVERY * 4).await;
        let back = admitted(&gate, 4, Duration::from_secs(1)).await;
        assert!(back + 4 >= seen, "{seen} then {back}");
    }
}
