//! How long a customer took to answer, in bands a report can count.

/// How long a customer took to answer: whole seconds from the send, and their band (band k
/// holds 1.1^k up to 1.1^(k+1) seconds; band 0 everything under 1.1 s). Reports count answers
/// per band, so a median over millions needs no sort, and is exact to within 10%.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerTime {
    pub seconds: i64,
    pub band: i16,
}

const BAND_RATIO: f64 = 1.1;

impl AnswerTime {
    pub fn between(
        sent_at: chrono::DateTime<chrono::Utc>,
        answered_at: chrono::DateTime<chrono::Utc>,
    ) -> AnswerTime {
        let seconds = (answered_at - sent_at).num_seconds().max(0);
        let band = if seconds < 2 {
            0
        } else {
            ((seconds as f64).ln() / BAND_RATIO.ln()).floor() as i16
        };
        AnswerTime { seconds, band }
    }

    /// The median of answers counted per band (`(band, count)` in any order): the middle
    /// answer (the mean of the middle two), each placed inside its band by its rank there;
    /// `None` without answers.
    pub fn median(bands: &[(i16, u64)]) -> Option<f64> {
        let mut bands = bands.to_vec();
        bands.sort_unstable();
        let total: u64 = bands.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        // The answer of 1-based rank `rank`, spread evenly (on a log scale) over its band.
        let at = |rank: u64| {
            let mut below = 0;
            for &(band, count) in &bands {
                if rank <= below + count {
                    let within = ((rank - below) as f64 - 0.5) / count as f64;
                    let high = BAND_RATIO.powi(i32::from(band) + 1);
                    return if band == 0 {
                        high * within
                    } else {
                        let low = BAND_RATIO.powi(i32::from(band));
                        low * (high / low).powf(within)
                    };
                }
                below += count;
            }
            unreachable!("rank {rank} is within the {total} answers")
        };
        Some(if total % 2 == 1 {
            at(total.div_ceil(2))
        } else {
            (at(total / 2) + at(total / 2 + 1)) / 2.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_hold_their_seconds_and_the_median_stays_inside() {
        let at = |s: i64| {
            let t = chrono::DateTime::UNIX_EPOCH;
            AnswerTime::between(t, t + chrono::Duration::seconds(s))
        };
        assert_eq!(at(0).band, 0);
        assert_eq!(
            at(-5).seconds,
            0,
            "an answer before the send counts as at once"
        );
        for s in [2, 59, 3600, 86_400, 604_800] {
            let band = at(s).band;
            let low = BAND_RATIO.powi(i32::from(band));
            assert!(
                low <= s as f64 && (s as f64) < low * BAND_RATIO,
                "{s} in band {band}"
            );
            let median = AnswerTime::median(&[(band, 3)]).unwrap();
            assert!((median / s as f64 - 1.0).abs() < 0.1, "{s}: {median}");
        }
    }
}
