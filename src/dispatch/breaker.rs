//! A circuit breaker per channel's provider: after a run of transient failures (timeouts,
//! 5xx, throttling) the provider is left alone for a cool-down — the deliveries due meanwhile
//! wait for its end, their attempts untouched — then one message probes it: success closes
//! the breaker, another failure opens it again.

use chrono::{DateTime, Utc};
use std::sync::Mutex;

#[derive(Debug)]
pub struct Breaker {
    /// Transient failures in a row that open it; 0: never.
    threshold: u32,
    cool_down: chrono::Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: DateTime<Utc>,
    },
    /// The cool-down is over and one message went as the probe at `since`.
    Probing {
        since: DateTime<Utc>,
    },
}

/// Whether a message may go to the provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Send,
    /// Not before this (the cool-down's end, or a moment after the probe's).
    Wait(DateTime<Utc>),
}

impl Breaker {
    pub fn new(threshold: u32, cool_down: std::time::Duration) -> Self {
        Breaker {
            threshold,
            cool_down: chrono::Duration::from_std(cool_down).unwrap_or(chrono::Duration::MAX),
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    pub fn permit(&self, now: DateTime<Utc>) -> Permit {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let probe_from = match *state {
            State::Closed { .. } => return Permit::Send,
            State::Open { until } => until,
            // Others wait for the probe; one that never reports (its sender stopped) is
            // replaced after a cool-down.
            State::Probing { since } => since + self.cool_down,
        };
        if now < probe_from {
            return Permit::Wait(probe_from);
        }
        tracing::info!("provider cool-down over: probing with one message");
        *state = State::Probing { since: now };
        Permit::Send
    }

    /// What became of a message sent: `transient` when the provider failed it for now.
    pub fn record(&self, transient: bool, now: DateTime<Utc>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = match (*state, transient) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true)
                if failures + 1 < self.threshold || self.threshold == 0 =>
            {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (State::Open { until }, true) => State::Open { until },
            (_, true) => {
                let until = now + self.cool_down;
                tracing::warn!(%until, "provider failing: paused until the cool-down ends");
                State::Open { until }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn opens_after_the_threshold_probes_after_the_cool_down() {
        let breaker = Breaker::new(3, std::time::Duration::from_secs(60));
        let t0 = at("2026-11-20T03:00:00Z");
        for _ in 0..2 {
            assert_eq!(breaker.permit(t0), Permit::Send);
            breaker.record(true, t0);
        }
        // A success in between starts the count again.
        breaker.record(false, t0);
        for _ in 0..3 {
            assert_eq!(breaker.permit(t0), Permit::Send);
            breaker.record(true, t0);
        }
        let until = at("2026-11-20T03:01:00Z");
        assert_eq!(breaker.permit(t0), Permit::Wait(until));
        // Half open: one probe, the others wait for it.
        assert_eq!(breaker.permit(until), Permit::Send);
        assert!(matches!(breaker.permit(until), Permit::Wait(_)));
        // The probe fails: open again for a cool-down.
        breaker.record(true, until);
        assert_eq!(
            breaker.permit(until),
            Permit::Wait(at("2026-11-20T03:02:00Z"))
        );
        // The next probe succeeds: closed.
        let later = at("2026-11-20T03:02:00Z");
        assert_eq!(breaker.permit(later), Permit::Send);
        breaker.record(false, later);
        assert_eq!(breaker.permit(later), Permit::Send);
        assert_eq!(breaker.permit(later), Permit::Send);
    }

    #[test]
    fn a_threshold_of_zero_never_opens() {
        let breaker = Breaker::new(0, std::time::Duration::from_secs(60));
        let t0 = at("2026-11-20T03:00:00Z");
        for _ in 0..100 {
            breaker.record(true, t0);
        }
        assert_eq!(breaker.permit(t0), Permit::Send);
    }
}
