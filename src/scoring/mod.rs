//! Scores from tallies: response rate, CSAT (share of 4 and 5 among 1–5 ratings) and FCR
//! (share of "yes" to the resolution question), each proportion with its 95% Wilson score
//! interval, which stays inside 0–1 and honest for small n.

use crate::store::GroupCounts;
use serde::Serialize;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A share with its 95% interval and the number of answers behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub n: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    /// `successes` of `n`, or `None` when there is nothing to score.
    pub fn wilson(successes: u64, n: u64) -> Option<Proportion> {
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let p = successes as f64 / nf;
        let z2 = Z95 * Z95;
        let denominator = 1.0 + z2 / nf;
        let centre = (p + z2 / (2.0 * nf)) / denominator;
        let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denominator;
        Some(Proportion {
            n,
            value: p,
            low: (centre - half).max(0.0),
            high: (centre + half).min(1.0),
        })
    }
}

/// One row of `surveyd report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The group's key: an agent's or team's id, a campaign, a channel, or `all`.
    pub group: String,
    /// The agent's or team's name, when known.
    pub name: Option<String>,
    /// Invitations sent in the period.
    pub sent: u64,
    /// Of those, the answered ones.
    pub responses: u64,
    /// `responses / sent`, with its interval.
    pub response_rate: Option<Proportion>,
    /// Share of 4–5 among the CSAT answers.
    pub csat: Option<Proportion>,
    /// Share of "yes" among the answers to the resolution question.
    pub fcr: Option<Proportion>,
}

impl From<GroupCounts> for ReportRow {
    fn from(c: GroupCounts) -> Self {
        let count = |n: i64| n.max(0) as u64;
        ReportRow {
            response_rate: Proportion::wilson(count(c.responses), count(c.sent)),
            csat: Proportion::wilson(count(c.csat_top), count(c.csat_n)),
            fcr: Proportion::wilson(count(c.fcr_yes), count(c.fcr_n)),
            group: c.key,
            name: c.name.filter(|n| !n.is_empty()),
            sent: count(c.sent),
            responses: count(c.responses),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Reference values from statsmodels 0.15: `proportion_confint(x, n, method="wilson")`,
    /// rounded to 5 places.
    #[test]
    fn wilson_matches_the_reference_values() {
        for (x, n, low, high) in [
            (8, 10, 0.49016, 0.94332),
            (0, 10, 0.0, 0.27753),
            (10, 10, 0.72247, 1.0),
            (1, 1, 0.20655, 1.0),
            (84, 120, 0.61285, 0.77474),
        ] {
            let p = Proportion::wilson(x, n).unwrap();
            assert!(close(p.low, low) && close(p.high, high), "{x}/{n}: {p:?}");
            assert!(close(p.value, x as f64 / n as f64));
        }
        assert_eq!(Proportion::wilson(0, 0), None);
    }
}
