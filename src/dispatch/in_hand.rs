//! What this process has in hand: the deliveries it claimed whose outcome is not recorded
//! yet. A claim of this process's whose lease ran out is taken back for the queue only when
//! it is no longer in hand (its job was lost without an outcome), so a message waiting for
//! a sender or on its way is never handed to another send as well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The set of deliveries in hand, shared by the claimers, the senders and the recorder.
#[derive(Debug, Clone, Default)]
pub struct InHand(Arc<Mutex<HashMap<i64, usize>>>);

impl InHand {
    /// Marks `delivery_id` in hand until the returned guard is dropped (after its outcome is
    /// recorded, or with the job when it is lost). A delivery claimed again just after its
    /// outcome was written can be held twice for a moment: it stays in hand until both go.
    pub fn hold(&self, delivery_id: i64) -> Held {
        *self.lock().entry(delivery_id).or_insert(0) += 1;
        Held {
            delivery_id,
            set: self.clone(),
        }
    }

    /// Whether `delivery_id` is in hand.
    pub fn holds(&self, delivery_id: i64) -> bool {
        self.lock().contains_key(&delivery_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One delivery held in hand; dropping it lets go.
#[derive(Debug)]
pub struct Held {
    delivery_id: i64,
    set: InHand,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.set.lock();
        if let Some(count) = held.get_mut(&self.delivery_id) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.delivery_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_in_hand_while_any_guard_of_it_lives() {
        let in_hand = InHand::default();
        let first = in_hand.hold(1);
        let other = in_hand.hold(2);
        assert!(in_hand.holds(1) && in_hand.holds(2) && !in_hand.holds(3));
        // Claimed again before the first claim's guard went.
        let again = in_hand.hold(1);
        drop(first);
        assert!(in_hand.holds(1), "the second claim still holds it");
        drop(again);
        assert!(!in_hand.holds(1));
        assert!(in_hand.holds(2));
        drop(other);
        assert!(!in_hand.holds(2));
    }

    #[test]
    fn a_guard_lost_in_a_panic_lets_go() {
        let in_hand = InHand::default();
        let held = in_hand.hold(9);
        let result = std::panic::catch_unwind(move || {
            let _job = held;
            panic!("the worker died with the job");
        });
        assert!(result.is_err());
        assert!(!in_hand.holds(9));
    }
}
