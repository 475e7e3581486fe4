//! Empirical-Bayes shrinkage of agents' CSAT toward their team (beta-binomial): an agent with
//! few answers is judged mostly by the team's mean, one with many mostly by their own.
//!
//! The prior Beta(α, β) of a team is fitted to its agents by the method of moments: its mean
//! is the team's pooled share μ (with half an answer added each way), and its spread the variance between agents τ² that is left
//! after taking out what sampling alone explains,
//! `τ² = (Σ nᵢ(pᵢ − μ)² − μ(1 − μ)(k − 1)) / (N − Σ nᵢ² / N)` over k agents with N answers;
//! then `α + β = μ(1 − μ) / τ² − 1`, at most N: the prior knows no more than the answers it
//! was fitted to (when the agents differ no more than chance explains, τ² ≤ 0, it weighs N,
//! and every agent sits near the team's mean with the team's uncertainty). An agent with x of n is shrunk to the posterior mean
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
        // Half an answer each way keeps the mean off 0% and 100%, where the prior would be
        // certain (every agent 0 of a few would be shrunk to exactly 0%).
        let mean = (agents.iter().map(|(x, _)| x).sum::<f64>() + 0.5) / (total + 1.0);
        let spread: f64 = agents.iter().map(|(x, n)| n * (x / n - mean).powi(2)).sum();
        let squares: f64 = agents.iter().map(|(_, n)| n * n).sum();
        let between = (spread - mean * (1.0 - mean) * (k - 1.0)) / (total - squares / total);
        let weight = if between > 0.0 {
            (mean * (1.0 - mean) / between - 1.0).clamp(MIN_WEIGHT, total.max(MIN_WEIGHT))
        } else {
            total
        };
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
