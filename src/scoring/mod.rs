//! Scores from the database's tallies, each with its uncertainty: response rate, CSAT, FCR
//! (from the survey and from contact records) and their 95% Wilson intervals, NPS with its
//! interval, CES with its adjusted t interval, the median time to answer, agents' CSAT shrunk
//! toward their team, and changes between periods tested against the noise.

mod report;
mod settings;
mod shrink;
mod stats;

pub use report::{GroupKey, Report, ReportRow, Trend};
pub use settings::ReportSettings;
pub use shrink::{Prior, Shrunk};
pub use stats::{AnswerTime, Change, Mean, Nps, Proportion, Z95};
