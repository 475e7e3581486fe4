//! Answered invitations, one at a time with their answers, read in pages by id: what
//! `surveyd export responses` writes. Only ids, never names or addresses, leave this way.

use super::{Store, StoreError, with_pool};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;
use std::collections::BTreeMap;

/// An answered invitation, with its contact's ids and its answers by question.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AnsweredInvitation {
    pub invitation_id: i64,
    pub campaign: String,
    pub channel: String,
    pub contact_id: String,
    pub customer_id: String,
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub contact_channel: Option<String>,
    pub closed_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub answered_at: DateTime<Utc>,
    /// Question id → the number answered, or the text.
    #[sqlx(skip)]
    pub answers: BTreeMap<String, serde_json::Value>,
}

impl Store {
    /// Up to `limit` answered invitations with an id above `after`, in id order.
    pub async fn answered_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AnsweredInvitation>, StoreError> {
        let mut page: Vec<AnsweredInvitation> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT i.id AS invitation_id, i.campaign, i.channel, c.external_id AS contact_id, \
                 cu.external_id AS customer_id, a.external_id AS agent_id, t.external_id AS team, \
                 c.category, c.contact_channel, c.closed_at, i.sent_at, i.answered_at \
                 FROM invitations i JOIN contacts c ON c.id = i.contact_id \
                 JOIN customers cu ON cu.id = i.customer_id \
                 LEFT JOIN agents a ON a.id = c.agent_id LEFT JOIN teams t ON t.id = c.team_id \
                 WHERE i.id > $1 AND i.answered_at IS NOT NULL ORDER BY i.id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        if page.is_empty() {
            return Ok(page);
        }
        let answers: Vec<(i64, String, Option<i16>, Option<String>)> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "SELECT invitation_id, question, number, text FROM responses WHERE invitation_id IN (",
            );
            let mut ids = q.separated(", ");
            for row in &page {
                ids.push_bind(row.invitation_id);
            }
            q.push(")");
            q.build_query_as().persistent(false).fetch_all(pool).await?
        });
        let at: std::collections::HashMap<i64, usize> = page
            .iter()
            .enumerate()
            .map(|(i, row)| (row.invitation_id, i))
            .collect();
        for (invitation, question, number, text) in answers {
            let value = match (number, text) {
                (Some(n), _) => n.into(),
                (None, Some(text)) => text.into(),
                (None, None) => serde_json::Value::Null,
            };
            page[at[&invitation]].answers.insert(question, value);
        }
        Ok(page)
    }

    /// Every question answered in any invitation, in order: the export's answer columns.
    pub async fn answered_questions(&self) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT DISTINCT question FROM responses ORDER BY question")
                .fetch_all(pool)
                .await?
        }))
    }
}
