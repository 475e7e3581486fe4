//! The estimates behind every score: a share with its Wilson interval, the Net Promoter Score
//! with its adjusted-Wald interval, a mean with its adjusted t interval, the median time to
//! answer from its bands, and the test of whether a change between two periods is larger than
//! the noise.

pub use crate::domain::AnswerTime;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A share with its 95% interval and the number of answers behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub n: u64,
    /// How many of the `n` counted (the top box, the "yes").
    pub count: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    /// `count` of `n` with its Wilson score interval (which stays inside 0–1 and is honest
    /// for small n), or `None` when there is nothing to score.
    pub fn wilson(count: u64, n: u64) -> Option<Proportion> {
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let p = count as f64 / nf;
        let z2 = Z95 * Z95;
        let denominator = 1.0 + z2 / nf;
        let centre = (p + z2 / (2.0 * nf)) / denominator;
        let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denominator;
        // At 0 or n the interval ends exactly at 0 or 1 (rounding would miss it slightly).
        Some(Proportion {
            n,
            count,
            value: p,
            low: if count == 0 {
                0.0
            } else {
                (centre - half).max(0.0)
            },
            high: if count == n {
                1.0
            } else {
                (centre + half).min(1.0)
            },
        })
    }

    /// This share against an earlier one: the two-proportion z test with the pooled share.
    pub fn change_from(&self, previous: &Proportion) -> Change {
        let pooled = (self.count + previous.count) as f64 / (self.n + previous.n) as f64;
        let se = (pooled * (1.0 - pooled) * (1.0 / self.n as f64 + 1.0 / previous.n as f64)).sqrt();
        Change::new(previous.value, self.value, se)
    }
}

/// Net Promoter Score: the share of promoters (9–10) minus the share of detractors (0–6), in
/// points from −100 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Nps {
    pub n: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Pseudo-answers the adjusted-Wald NPS interval adds: ¾ promoter, ¾ detractor and 1½
/// passive, so the interval of a handful of answers does not collapse to a point.
const NPS_ADDED_EACH: f64 = 0.75;
const NPS_ADDED: f64 = 3.0;

impl Nps {
    pub fn estimate(promoters: u64, detractors: u64, n: u64) -> Option<Nps> {
        if n == 0 {
            return None;
        }
        let value = (promoters as f64 - detractors as f64) / n as f64;
        let se = Self::adjusted_se(promoters, detractors, n);
        let adjusted = Self::adjusted_difference(promoters, detractors, n);
        Some(Nps {
            n,
            promoters,
            passives: n - promoters - detractors,
            detractors,
            value: value * 100.0,
            // Centred on the adjusted difference, the interval can pass the observed score at
            // the ends of the scale (one promoter: +100); it is widened to take it in.
            low: (adjusted - Z95 * se).max(-1.0).min(value) * 100.0,
            high: (adjusted + Z95 * se).min(1.0).max(value) * 100.0,
        })
    }

    fn adjusted_shares(promoters: u64, detractors: u64, n: u64) -> (f64, f64) {
        let n = n as f64 + NPS_ADDED;
        (
            (promoters as f64 + NPS_ADDED_EACH) / n,
            (detractors as f64 + NPS_ADDED_EACH) / n,
        )
    }

    fn adjusted_difference(promoters: u64, detractors: u64, n: u64) -> f64 {
        let (p, d) = Self::adjusted_shares(promoters, detractors, n);
        p - d
    }

    /// The standard error of the promoter share minus the detractor share: the variance of
    /// a difference of two shares of one multinomial sample, `(p + d − (p − d)²) / n`.
    fn adjusted_se(promoters: u64, detractors: u64, n: u64) -> f64 {
        let (p, d) = Self::adjusted_shares(promoters, detractors, n);
        ((p + d - (p - d).powi(2)) / (n as f64 + NPS_ADDED)).sqrt()
    }

    /// This score against an earlier one (points; z from the two standard errors).
    pub fn change_from(&self, previous: &Nps) -> Change {
        let se = |s: &Nps| Self::adjusted_se(s.promoters, s.detractors, s.n) * 100.0;
        Change::new(
            previous.value,
            self.value,
            (se(self).powi(2) + se(previous).powi(2)).sqrt(),
        )
    }
}

/// A mean on a bounded scale (CES: 1–7) with its 95% adjusted t interval, kept inside the
/// scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mean {
    pub n: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// The weight of the pseudo-answer the adjusted t interval adds at each end of the scale.
const MEAN_ADDED_EACH: f64 = 0.5;

impl Mean {
    /// From the count, sum and sum of squares of answers on `min..=max`. The interval is the t
    /// interval of the answers with half an answer added at each end of the scale
    /// (`n' = n + 1` answers), so equal answers do not give a zero-width interval: centred
    /// on `m' = (Σx + ½(min + max)) / n'`, with `s'² = (Σx² + ½(min² + max²) − n'm'²) / (n' − 1)`
    /// and `m' ± t(0.975, n' − 1) · s' / √n'`, kept inside the scale and widened to take in
    /// the observed mean.
    pub fn estimate(n: u64, sum: f64, sum_of_squares: f64, (min, max): (f64, f64)) -> Option<Mean> {
        if n == 0 {
            return None;
        }
        let value = sum / n as f64;
        let size = n as f64 + 2.0 * MEAN_ADDED_EACH;
        let centre = (sum + MEAN_ADDED_EACH * (min + max)) / size;
        let squares = sum_of_squares + MEAN_ADDED_EACH * (min * min + max * max);
        let variance = ((squares - size * centre * centre) / (size - 1.0)).max(0.0);
        let t = StudentsT::new(0.0, 1.0, size - 1.0)
            .map(|t| t.inverse_cdf(0.975))
            .unwrap_or(Z95);
        let half = t * (variance / size).sqrt();
        Some(Mean {
            n,
            value,
            low: (centre - half).max(min).min(value),
            high: (centre + half).min(max).max(value),
        })
    }
}

/// A score this period against the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    pub previous: f64,
    /// This period's value minus the previous one's.
    pub change: f64,
    /// The change in standard errors.
    pub z: f64,
    /// Whether the change is larger than the noise: |z| above 1.96 (5% two-sided).
    pub significant: bool,
}

impl Change {
    fn new(previous: f64, current: f64, se: f64) -> Change {
        let change = current - previous;
        let z = if se > 0.0 {
            change / se
        } else if change == 0.0 {
            0.0
        } else {
            change.signum() * f64::INFINITY
        };
        Change {
            previous,
            change,
            z,
            significant: z.abs() > Z95,
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
            assert_eq!(p.count, x);
            assert!(close(p.low, low) && close(p.high, high), "{x}/{n}: {p:?}");
            assert!(close(p.value, x as f64 / n as f64));
        }
        assert_eq!(Proportion::wilson(0, 0), None);
    }

    #[test]
    fn nothing_to_score_is_none_and_one_answer_is_not_a_point() {
        assert_eq!(Nps::estimate(0, 0, 0), None);
        assert_eq!(Mean::estimate(0, 0.0, 0.0, (1.0, 7.0)), None);
        assert_eq!(AnswerTime::median(&[]), None);
        let one = Nps::estimate(1, 0, 1).unwrap();
        assert_eq!(one.value, 100.0);
        assert!(one.low < 0.0 && one.high == 100.0, "{one:?}");
        let none = Nps::estimate(0, 3, 3).unwrap();
        assert_eq!((none.value, none.low), (-100.0, -100.0), "{none:?}");
        let mean = Mean::estimate(1, 3.0, 9.0, (1.0, 7.0)).unwrap();
        assert_eq!((mean.value, mean.low, mean.high), (3.0, 1.0, 7.0));
    }

    /// Equal answers still leave room for doubt: two 2s, or a hundred 1s, are not a point.
    #[test]
    fn equal_answers_do_not_give_a_point_interval() {
        for (n, answer) in [(2, 2.0), (5, 7.0), (100, 1.0), (10_000, 4.0)] {
            let nf = n as f64;
            let mean = Mean::estimate(n, nf * answer, nf * answer * answer, (1.0, 7.0)).unwrap();
            assert_eq!(mean.value, answer);
            assert!(
                mean.low <= answer && answer <= mean.high && mean.high - mean.low > 1e-3,
                "{n} answers of {answer}: {mean:?}"
            );
        }
        // Reference: scipy's t interval of [1]×100 + [1, 7] with weights ½ (upper end 1.11325).
        let ones = Mean::estimate(100, 100.0, 100.0, (1.0, 7.0)).unwrap();
        assert_eq!(ones.low, 1.0);
        assert!((ones.high - 1.11325).abs() < 1e-5, "{ones:?}");
    }

    #[test]
    fn no_change_without_spread_is_no_signal() {
        let all = Proportion::wilson(10, 10).unwrap();
        let change = all.change_from(&all);
        assert_eq!(
            (change.change, change.z, change.significant),
            (0.0, 0.0, false)
        );
        let before = Proportion::wilson(20, 100).unwrap();
        let after = Proportion::wilson(60, 100).unwrap();
        assert!(after.change_from(&before).significant);
    }
}
