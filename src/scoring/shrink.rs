//! Empirical-Bayes shrinkage of agents' CSAT toward their team (beta-binomial): an agent with
//! few answers is judged mostly by the team's mean, one with many mostly by their own.
//!
//! The prior Beta(α, β) of a team is fitted to its k agents (xᵢ of nᵢ, N answers in all) by
//! the method of moments. With p̂ = Σxᵢ / N the pooled share, the spread
//! `S = Σ nᵢ(xᵢ/nᵢ − p̂)²` has the expectation `p(1 − p)(k − 1) + τ²(N − Σnᵢ²/N − (k − 1))`,
//! τ² being the variance of the agents' true shares; solved with p̂ for p,
//! `τ² = (S − p̂(1 − p̂)(k − 1)) / (N − Σnᵢ²/N − (k − 1))`, and then
//! `α + β = p̂(1 − p̂) / τ² − 1`, kept between 1 and N: the prior knows no more than the
//! answers it was fitted to. When the agents differ no more than chance explains (τ² ≤ 0), or
//! the spread cannot be told from chance (every agent has one answer: the denominator is 0),
//! it weighs N, and every agent sits near the team's mean with the team's uncertainty. The
//! prior's mean is the pooled share with half an answer added each way, `(Σxᵢ + ½) / (N + 1)`,
//! so it is never exactly 0% or 100%. An agent with x of n is shrunk to the posterior mean
//! `(x + α) / (n + α + β)`, with the posterior's 2.5% and 97.5% quantiles as its interval.

use serde::Serialize;
use statrs::distribution::{Beta, ContinuousCDF};

/// The least weight a prior gets, in answers, when the agents differ widely.
const MIN_WEIGHT: f64 = 1.0;

/// A team's prior for its agents' shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub alpha: f64,
    pub beta: f64,
}

/// A shrunk share with its 95% posterior interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shrunk {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Prior {
    /// Fits the prior to `(count, n)` per agent; `None` with fewer than two agents with
    /// answers (no spread to measure).
    pub fn fit(agents: &[(u64, u64)]) -> Option<Prior> {
        let agents: Vec<(f64, f64)> = agents
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|&(x, n)| (x as f64, n as f64))
            .collect();
        let k = agents.len() as f64;
        if k < 2.0 {
            return None;
        }
        let total: f64 = agents.iter().map(|(_, n)| n).sum();
        let successes: f64 = agents.iter().map(|(x, _)| x).sum();
        let pooled = successes / total;
        let spread: f64 = agents
            .iter()
            .map(|(x, n)| n * (x / n - pooled).powi(2))
            .sum();
        let squares: f64 = agents.iter().map(|(_, n)| n * n).sum();
        let room = total - squares / total - (k - 1.0);
        let between = if room > 0.0 {
            (spread - pooled * (1.0 - pooled) * (k - 1.0)) / room
        } else {
            0.0
        };
        let weight = if between > 0.0 {
            (pooled * (1.0 - pooled) / between - 1.0).clamp(MIN_WEIGHT, total.max(MIN_WEIGHT))
        } else {
            total
        };
        // Half an answer each way keeps the prior's mean off 0% and 100%, where it would be
        // certain (every agent 0 of a few would be shrunk to exactly 0%).
        let mean = (successes + 0.5) / (total + 1.0);
        Some(Prior {
            alpha: mean * weight,
            beta: (1.0 - mean) * weight,
        })
    }

    /// `count` of `n` shrunk toward the prior.
    pub fn shrink(&self, count: u64, n: u64) -> Shrunk {
        // A prior at 0% or 100% leaves one side empty; a sliver keeps the posterior proper.
        let a = (count as f64 + self.alpha).max(1e-9);
        let b = ((n - count) as f64 + self.beta).max(1e-9);
        let value = a / (a + b);
        match Beta::new(a, b) {
            Ok(posterior) => Shrunk {
                value,
                low: posterior.inverse_cdf(0.025),
                high: posterior.inverse_cdf(0.975),
            },
            Err(_) => Shrunk {
                value,
                low: value,
                high: value,
            },
        }
    }
}
