//! How far a registry is, and what that asks of the copies in flight.
//!
//! A blob copy spends about one round trip on requests that move no blob
//! bytes (the PUT's head going out, its answer coming back), and an
//! artifact several more (its manifests, its verification), so over a long
//! round trip a fixed number of copies leaves the link idle between them.
//! The bandwidth is not known before the copy, but the round trip is after
//! a few small requests: copies in flight grow with it, so that the bytes
//! in flight cover the bandwidth-delay product of any link up to a few
//! hundred Mbit/s for blobs of a few hundred kB and more. On a LAN, where
//! the round trip is a millisecond, nothing changes. A [`Rule`] widens the
//! blob bounds (here, in the transfer layer) and another the artifact-scoped
//! stages' bounds (in the engine): blobs alone would starve for artifacts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

/// How copies in flight grow with the round trip: one more per `per`, up
/// to `most`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    per: Duration,
    most: usize,
}

impl Rule {
    /// Blob copies: one more per 4 ms, up to 24. A link shares its rate
    /// between the copies in flight, so the more there are, the later the
    /// largest blob ends, and the largest are mostly base layers that many
    /// artifacts wait for. With 58 at 200 ms, the four base layers of the
    /// WAN benchmark ended last, with every artifact's mount and manifests
    /// after them; with 24, they end seconds before the rest, and 24
    /// copies still keep its 100 Mbit/s link full. Registries also answer
    /// many uploads at once with 429s, and a registry's `max_concurrency`
    /// bounds them anyway.
    pub const BLOBS: Rule = Rule {
        per: Duration::from_millis(4),
        most: 24,
    };
    /// Document requests (listings, manifests, HEADs) in flight to a
    /// registry, and a stage's sent at once (`send-all`): each holds its
    /// permit a round trip. One more per 4 ms, up to 128: every artifact in
    /// flight asks some.
    pub const REQUESTS: Rule = Rule {
        per: Duration::from_millis(4),
        most: 128,
    };
    /// Artifacts: each spends several round trips on requests that move no
    /// blob bytes (its tag, upload sessions, manifests, verification) where
    /// a blob spends about one, so they widen twice as fast, up to 128. An
    /// artifact waiting for its turn to start those round trips is what
    /// leaves a far link idle at the end; the bytes stay bounded by
    /// [`Rule::BLOBS`].
    pub const ARTIFACTS: Rule = Rule {
        per: Duration::from_millis(2),
        most: 128,
    };

    /// Copies in flight for a round trip, from `base` (the LAN figure).
    pub fn widened(self, base: usize, round_trip: Duration) -> usize {
        let more =
            usize::try_from(round_trip.as_micros() / self.per.as_micros()).unwrap_or(self.most);
        base.saturating_add(more).min(self.most(base))
    }

    /// The most copies `base` widens to.
    pub fn most(self, base: usize) -> usize {
        self.most.max(base)
    }
}

/// The shortest round trip seen to a registry: a small request's time to
/// its answer's head. The shortest, because the others also count the
/// registry's own work, a new connection, or a token fetch.
#[derive(Debug, Default)]
pub struct RoundTrip {
    micros: AtomicU64,
}

impl RoundTrip {
    pub fn saw(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                (now == 0 || micros < now).then_some(micros)
            });
    }

    /// `None` before any small request was answered.
    pub fn shortest(&self) -> Option<Duration> {
        match self.micros.load(Ordering::Relaxed) {
            0 => None,
            m => Some(Duration::from_micros(m)),
        }
    }
}

/// A semaphore that only grows: to what its rule asks for the farthest
/// round trip its holders saw.
#[derive(Debug)]
pub struct Widening {
    semaphore: Arc<Semaphore>,
    base: usize,
    size: AtomicUsize,
    /// `None`, set by the user: never widened.
    rule: Option<Rule>,
}

impl Widening {
    pub fn new(base: usize, rule: Rule) -> Self {
        let base = base.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(base)),
            base,
            size: AtomicUsize::new(base),
            rule: Some(rule),
        }
    }

    /// `size` permits, however far.
    pub fn fixed(size: usize) -> Self {
        Self {
            rule: None,
            ..Self::new(size, Rule::BLOBS)
        }
    }

    /// Grows to what `round_trip` asks for, if that is more.
    pub fn widen(&self, round_trip: Duration) {
        let Some(rule) = self.rule else {
            return;
        };
        let want = rule.widened(self.base, round_trip);
        let was = self.size.fetch_max(want, Ordering::Relaxed);
        if want > was {
            self.semaphore.add_permits(want - was);
        }
    }

    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_round_trip_is_kept() {
        let rt = RoundTrip::default();
        assert_eq!(rt.shortest(), None);
        rt.saw(Duration::from_millis(210));
        rt.saw(Duration::from_millis(400));
        rt.saw(Duration::from_millis(201));
        assert_eq!(rt.shortest(), Some(Duration::from_millis(201)));
    }

    #[test]
    fn copies_grow_with_the_round_trip_up_to_a_bound() {
        let blobs = |base, us| Rule::BLOBS.widened(base, Duration::from_micros(us));
        assert_eq!(blobs(8, 300), 8);
        assert_eq!(blobs(8, 50_000), 20);
        assert_eq!(blobs(8, 20_000), 13);
        assert_eq!(blobs(8, 200_000), 24);
        // A base set above the bound stays.
        assert_eq!(blobs(100, 200_000), 100);
        // Artifacts widen twice as fast, twice as far.
        let artifacts = |base, us| Rule::ARTIFACTS.widened(base, Duration::from_micros(us));
        assert_eq!(artifacts(8, 300), 8);
        assert_eq!(artifacts(8, 50_000), 33);
        assert_eq!(artifacts(8, 200_000), 108);
        assert_eq!(artifacts(8, 2_000_000), 128);
        assert_eq!(Rule::ARTIFACTS.most(200), 200);
    }

    #[tokio::test]
    async fn widening_adds_permits_once() {
        let w = Widening::new(2, Rule::BLOBS);
        w.widen(Duration::from_millis(1));
        assert_eq!(w.semaphore().available_permits(), 2);
        w.widen(Duration::from_millis(20));
        assert_eq!((w.size(), w.semaphore().available_permits()), (7, 7));
        let _held = w.semaphore().clone().acquire_many_owned(7).await.unwrap();
        // A shorter round trip later does not shrink it, nor add twice.
        w.widen(Duration::from_millis(8));
        w.widen(Duration::from_millis(20));
        assert_eq!((w.size(), w.semaphore().available_permits()), (7, 0));
        let fixed = Widening::fixed(2);
        fixed.widen(Duration::from_millis(200));
        assert_eq!(
            (fixed.size(), fixed.semaphore().available_permits()),
            (2, 2)
        );
    }
}
