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
    /// How a group is found: the column grouped on (`gid`), and how the outer query turns
    /// `g.gid` into the group's key and name (joining the names after the counting, so the
    /// big scan groups on small integers).
    fn sql(by: Option<GroupBy>) -> GroupSql {
        let (gid, join, key, name) = match by {
            None => ("0", "", "'all'", "NULL"),
            Some(GroupBy::Agent) => (
                "c.agent_id",
                "LEFT JOIN agents a ON a.id = g.gid",
                "COALESCE(a.external_id, '')",
                "a.name",
            ),
            Some(GroupBy::Team) => (
                "c.team_id",
                "LEFT JOIN teams t ON t.id = g.gid",
                "COALESCE(t.external_id, '')",
                "t.name",
            ),
            Some(GroupBy::Campaign) => ("i.campaign", "", "g.gid", "NULL"),
            Some(GroupBy::Channel) => ("i.channel", "", "g.gid", "NULL"),
        };
        GroupSql {
            gid,
            join,
            key,
            name,
        }
    }
}

struct GroupSql {
    gid: &'static str,
    join: &'static str,
    key: &'static str,
    name: &'static str,
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
        let GroupSql {
            gid,
            join,
            key,
            name,
        } = GroupBy::sql(by);
        // The scores of an answered invitation sit on the invitation itself (`csat`, `fcr`),
        // so the counting is one pass over invitations and contacts.
        let sql = format!(
            "SELECT {key} AS key, CAST({name} AS TEXT) AS name, g.sent, g.responses, g.csat_n, \
             g.csat_top, g.fcr_n, g.fcr_yes FROM (\
               SELECT {gid} AS gid, COUNT(*) AS sent, COUNT(i.answered_at) AS responses, \
               COUNT(i.csat) AS csat_n, COALESCE(SUM(CASE WHEN i.csat >= 4 THEN 1 ELSE 0 END), 0) AS csat_top, \
               COUNT(i.fcr) AS fcr_n, COALESCE(SUM(CASE WHEN i.fcr = 1 THEN 1 ELSE 0 END), 0) AS fcr_yes \
               FROM invitations i JOIN contacts c ON c.id = i.contact_id \
               WHERE i.sent_at IS NOT NULL AND ($1 IS NULL OR i.sent_at >= $1) AND ($2 IS NULL OR i.sent_at < $2) \
               GROUP BY 1) g {join} \
             WHERE g.sent > 0 ORDER BY 1"
        );
        Ok(with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(since).bind(until).fetch_all(pool).await?
        }))
    }
}
