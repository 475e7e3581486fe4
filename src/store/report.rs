//! Counts behind the reports: per group, invitations sent in a period, how many were
//! answered, and the CSAT and FCR tallies of their answers.

use super::{Store, StoreError, with_pool};
use chrono::{DateTime, Utc};

/// How report rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Agent,
    Team,
    Campaign,
    Channel,
}

impl GroupBy {
    /// The SQL for the group's key and its display name.
    fn columns(by: Option<GroupBy>) -> (&'static str, &'static str) {
        match by {
            None => ("'all'", "'all'"),
            Some(GroupBy::Agent) => ("COALESCE(a.external_id, '')", "MAX(a.name)"),
            Some(GroupBy::Team) => ("COALESCE(t.external_id, '')", "MAX(t.name)"),
            Some(GroupBy::Campaign) => ("i.campaign", "i.campaign"),
            Some(GroupBy::Channel) => ("i.channel", "i.channel"),
        }
    }
}

/// The tallies of one group.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupCounts {
    /// The group's key (an agent's or team's external id, a campaign, a channel); empty for
    /// contacts without an agent or team.
    pub key: String,
    pub name: Option<String>,
    pub sent: i64,
    pub responses: i64,
    /// CSAT answers, and those that were 4 or 5.
    pub csat_n: i64,
    pub csat_top: i64,
    /// Answers to the resolution question, and the "yes" ones.
    pub fcr_n: i64,
    pub fcr_yes: i64,
}

impl Store {
    /// Tallies per group of the invitations sent in `[since, until)`.
    pub async fn report_counts(
        &self,
        by: Option<GroupBy>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<GroupCounts>, StoreError> {
        let (key, name) = GroupBy::columns(by);
        let sql = format!(
            "SELECT {key} AS key, {name} AS name, COUNT(*) AS sent, COUNT(i.answered_at) AS responses, \
             COUNT(rc.number) AS csat_n, COALESCE(SUM(CASE WHEN rc.number >= 4 THEN 1 ELSE 0 END), 0) AS csat_top, \
             COUNT(rf.number) AS fcr_n, COALESCE(SUM(CASE WHEN rf.number = 1 THEN 1 ELSE 0 END), 0) AS fcr_yes \
             FROM invitations i JOIN contacts c ON c.id = i.contact_id \
             LEFT JOIN agents a ON a.id = c.agent_id LEFT JOIN teams t ON t.id = c.team_id \
             LEFT JOIN responses rc ON rc.invitation_id = i.id AND rc.metric = 'csat' \
             LEFT JOIN responses rf ON rf.invitation_id = i.id AND rf.metric = 'fcr' \
             WHERE i.sent_at IS NOT NULL AND ($1 IS NULL OR i.sent_at >= $1) AND ($2 IS NULL OR i.sent_at < $2) \
             GROUP BY 1 ORDER BY 1"
        );
        Ok(with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(since).bind(until).fetch_all(pool).await?
        }))
    }
}
