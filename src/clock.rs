//! The time source. Everything that reads the time takes a [`Clock`], so tests can move it.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current instant, shared across tasks.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that stands still at `start` until moved with [`ManualClock::advance`].
    pub fn manual(start: DateTime<Utc>) -> (Self, ManualClock) {
        let now = Arc::new(Mutex::new(start));
        let read = Arc::clone(&now);
        (
            Clock(Arc::new(move || *read.lock().expect("clock lock"))),
            ManualClock(now),
        )
    }

    /// The current instant, to the microsecond (the precision both databases keep).
    pub fn now(&self) -> DateTime<Utc> {
        let t = (self.0)();
        chrono::DurationRound::duration_trunc(t, chrono::Duration::microseconds(1)).unwrap_or(t)
    }
}

/// The handle that moves a manual clock.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let (clock, hand) = Clock::manual(start);
        assert_eq!(clock.now().to_rfc3339(), "2026-01-01T00:00:00.123456+00:00");
        hand.advance(chrono::Duration::hours(2));
        assert_eq!(clock.now().to_rfc3339(), "2026-01-01T02:00:00.123456+00:00");
    }
}
