//! Which of an execution's waiting blob copies goes next: the largest.
//!
//! A link shares its rate between the copies in flight, so the larger a
//! blob, the later it ends, and a copy that starts late ends later still.
//! The largest blobs are mostly base layers, which many artifacts wait for
//! (to mount them, then to put their manifests). Started in whatever order
//! their upload sessions were answered, one of them could start with most
//! of the copy done and end after every other byte, holding all its
//! waiters' round trips past the link's last byte. Largest first, with few
//! enough copies in flight that each moves fast enough (see `distance`),
//! they end while smaller blobs still move, and those fill the tail.
//!
//! Turns are per execution: across executions the permits stay first come,
//! first served, so one execution's large blobs never starve another's.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// A blob copy's place: the larger first, then first come.
type Place = (Reverse<u64>, u64);

#[derive(Debug, Default)]
pub struct Turns {
    state: Mutex<State>,
    /// The queue's head changed.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    waiting: BTreeSet<Place>,
    /// The place holding the turn: a larger blob that comes meanwhile
    /// waits for it, like any other.
    holder: Option<Place>,
    arrivals: u64,
}

/// A place in the queue, then (once [`Turns::take`] answers) the turn,
/// held while its copy takes its permit. Dropping it, taken or not, hands
/// the turn on.
pub struct Turn<'a> {
    turns: &'a Turns,
    place: Place,
}

impl Turns {
    /// Waits until a blob of `size` bytes is the largest waiting (the first
    /// to come of equals).
    pub async fn take(&self, size: u64) -> Turn<'_> {
        let place = {
            let mut st = self.state.lock().expect("turns lock");
            st.arrivals += 1;
            let place = (Reverse(size), st.arrivals);
            st.waiting.insert(place);
            place
        };
        let turn = Turn { turns: self, place };
        loop {
            // Registered before the check, so a change between the two
            // is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.try_hold(place) {
                return turn;
            }
            changed.await;
        }
    }

    fn try_hold(&self, place: Place) -> bool {
        let mut st = self.state.lock().expect("turns lock");
        let mine = st.holder.is_none() && st.waiting.first() == Some(&place);
        if mine {
            st.holder = Some(place);
        }
        mine
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut st = self.turns.state.lock().expect("turns lock");
        st.waiting.remove(&self.place);
        if st.holder == Some(self.place) {
            st.holder = None;
        }
        drop(st);
        self.turns.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    /// Copies of these sizes wait for one permit, held meanwhile; each,
    /// once it has its turn and the permit, notes its size and lets go.
    async fn order(sizes: &[u64]) -> Vec<u64> {
        let turns = Arc::new(Turns::default());
        let permits = Arc::new(Semaphore::new(1));
        let held = permits.clone().acquire_owned().await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut copies = tokio::task::JoinSet::new();
        for &size in sizes {
            let (queue, permits, order) = (turns.clone(), permits.clone(), order.clone());
            copies.spawn(async move {
                let turn = queue.take(size).await;
                let _permit = permits.acquire().await.unwrap();
                drop(turn);
                order.lock().unwrap().push(size);
            });
            // Each is queued before the next comes (bounded: 2 s).
            for _ in 0..2000 {
                if turns.state.lock().unwrap().waiting.len() == copies.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(turns.state.lock().unwrap().waiting.len(), copies.len());
        }
        drop(held);
        while copies.join_next().await.is_some() {}
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }

    #[tokio::test]
    async fn the_largest_waiting_copy_goes_next_then_the_first_to_come() {
        // The first takes its turn at once and waits for the permit; the
        // rest queue behind it by size, equals in order of arrival.
        assert_eq!(
            order(&[10, 5, 700, 30, 700, 1]).await,
            vec![10, 700, 700, 30, 5, 1]
        );
    }

    #[tokio::test]
    async fn a_copy_that_stops_waiting_leaves_the_queue() {
        let turns = Turns::default();
        let first = turns.take(1).await;
        {
            let larger = turns.take(100);
            // Not its turn while the head holds it: given up.
            assert!(
                tokio::time::timeout(Duration::from_millis(20), larger)
                    .await
                    .is_err()
            );
        }
        drop(first);
        let next = tokio::time::timeout(Duration::from_millis(200), turns.take(2)).await;
        assert!(next.is_ok(), "a given-up place must not block the queue");
    }
}
