//! What a report asks the store for (its breakdowns, period and range) and the tallies it
//! gets back, group by group.

use crate::domain::TimeZone;
use chrono::{DateTime, Utc};

/// One way of grouping report rows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, strum::EnumString, strum::AsRefStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Breakdown {
    /// The contact's agent.
    Agent,
    /// The contact's team.
    Team,
    /// The invitation's campaign.
    Campaign,
    /// The channel the invitation went on (email, sms, whatsapp).
    Channel,
    /// The contact's category.
    Category,
    /// The channel the customer contacted the service on.
    ContactChannel,
    /// The day, week or month the invitation was sent (the contact closed, for FCR from the
    /// data), in the report's time zone.
    Period,
}

impl Breakdown {
    /// One or two breakdowns written with a comma: `agent`, `team,period`.
    pub fn parse_list(text: &str) -> Result<Vec<Breakdown>, String> {
        let mut by = Vec::new();
        for word in text.split(',').map(str::trim) {
            let breakdown: Breakdown = word.parse().map_err(|_| {
                format!(
                    "`{word}` is not a breakdown; use agent, team, campaign, channel, category, \
                     contact_channel or period"
                )
            })?;
            if by.contains(&breakdown) {
                return Err(format!("`{word}` is named twice"));
            }
            by.push(breakdown);
        }
        if by.len() > 2 {
            return Err(format!("`{text}`: at most two breakdowns at once"));
        }
        Ok(by)
    }

    /// Refuses a period length given without a `period` breakdown (it would change nothing).
    pub fn check_period(by: &[Breakdown], period: Option<Period>) -> Result<(), String> {
        match period {
            Some(p) if !by.contains(&Breakdown::Period) => Err(format!(
                "a period of a {} needs a `period` breakdown, e.g. `team,period`",
                p.as_ref()
            )),
            _ => Ok(()),
        }
    }

    /// Whether contacts alone (without invitations) have this key.
    pub(in crate::store) fn of_contacts(self) -> bool {
        !matches!(self, Breakdown::Campaign | Breakdown::Channel)
    }
}

/// The length of a reporting period.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::AsRefStr,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Period {
    /// `2026-11-23`
    Day,
    /// Named by its Monday: `2026-11-23`.
    Week,
    /// `2026-11`
    Month,
}

/// What to count.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// At most two breakdowns; none counts everything in one group.
    pub by: Vec<Breakdown>,
    pub period: Period,
    pub time_zone: TimeZone,
    /// Invitations sent (contacts closed) in `[since, until)`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// The lowest CSAT rating that counts as satisfied.
    pub csat_top_box: i16,
    /// A contact after whose close the customer opened another of the same category within
    /// this time is not resolved at first contact; contacts closed less than this before `now`
    /// are not counted yet. `None`: FCR from the contacts is not counted (a pass saved).
    pub repeat_window: Option<chrono::Duration>,
    pub now: DateTime<Utc>,
}

/// A group's keys: its breakdowns' values (an agent's or team's external id, a campaign, a
/// period's label…), empty for contacts without an agent, team or category.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupKeys {
    pub key1: String,
    pub name1: Option<String>,
    pub key2: String,
    pub name2: Option<String>,
    /// With an agent breakdown: the agent's team, which their score is shrunk toward.
    pub team: Option<String>,
}

/// The survey tallies of one group.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupCounts {
    #[sqlx(flatten)]
    pub keys: GroupKeys,
    #[sqlx(flatten)]
    pub counts: SurveyCounts,
}

/// Invitations sent and their answers' tallies.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize,
)]
pub struct SurveyCounts {
    pub sent: i64,
    pub responses: i64,
    /// CSAT answers, and those in the top box.
    pub csat_n: i64,
    pub csat_top: i64,
    /// Answers to the resolution question, and the "yes" ones.
    pub fcr_n: i64,
    pub fcr_yes: i64,
    /// NPS answers, the 9–10s and the 0–6s.
    pub nps_n: i64,
    pub nps_promoters: i64,
    pub nps_detractors: i64,
    /// CES answers, their sum and their sum of squares.
    pub ces_n: i64,
    pub ces_sum: i64,
    pub ces_sum_sq: i64,
}

impl SurveyCounts {
    /// Adds `other`'s tallies to these.
    pub fn add(&mut self, other: &SurveyCounts) {
        self.sent += other.sent;
        self.responses += other.responses;
        self.csat_n += other.csat_n;
        self.csat_top += other.csat_top;
        self.fcr_n += other.fcr_n;
        self.fcr_yes += other.fcr_yes;
        self.nps_n += other.nps_n;
        self.nps_promoters += other.nps_promoters;
        self.nps_detractors += other.nps_detractors;
        self.ces_n += other.ces_n;
        self.ces_sum += other.ces_sum;
        self.ces_sum_sq += other.ces_sum_sq;
    }
}

/// Answers of one group in one time-to-answer band.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BandCounts {
    #[sqlx(flatten)]
    pub keys: GroupKeys,
    pub band: i16,
    pub answers: i64,
}

/// Contacts of one group, and those followed by a repeat contact.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RepeatCounts {
    #[sqlx(flatten)]
    pub keys: GroupKeys,
    pub contacts: i64,
    pub repeated: i64,
}

/// Everything a report is computed from.
#[derive(Debug, Clone, Default)]
pub struct Tallies {
    pub groups: Vec<GroupCounts>,
    pub bands: Vec<BandCounts>,
    /// `None` when not counted, or a breakdown is not one of contacts (campaign, channel).
    pub repeats: Option<Vec<RepeatCounts>>,
}
