//! One customer as an operator looks them up: their details, their contacts, the invitations
//! they were sent and their opt-outs (`surveyd customers show`).

use super::{Store, StoreError, with_pool};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A customer's details, as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Customer {
    /// The helpdesk's id.
    pub customer_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub whatsapp: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub segment: Option<String>,
    /// When their first contact was stored.
    pub created_at: DateTime<Utc>,
    /// When retention erased their name and addresses.
    pub erased_at: Option<DateTime<Utc>>,
}

/// One of the customer's contacts.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CustomerContact {
    pub contact_id: String,
    pub closed_at: DateTime<Utc>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub contact_channel: Option<String>,
    pub resolution: Option<String>,
}

/// One invitation the customer was sent (or is to be sent).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CustomerInvitation {
    pub invitation_id: i64,
    pub campaign: String,
    pub contact_id: String,
    pub channel: String,
    /// `planned`, `sent`, `answered`, `failed`, `expired`, `cancelled`.
    pub state: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// A channel the customer asked not to be surveyed on.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OptOut {
    pub channel: String,
    /// Where it came from: a reply, the survey page, an import.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// Everything stored about one customer; contacts and invitations newest first.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerRecord {
    pub customer: Customer,
    pub contacts: Vec<CustomerContact>,
    pub invitations: Vec<CustomerInvitation>,
    pub opt_outs: Vec<OptOut>,
}

impl Store {
    /// The customer with helpdesk id `customer_id`, with their contacts, invitations and
    /// opt-outs; `None` when no customer has that id (a forgotten one has none any more).
    pub async fn customer(&self, customer_id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        with_pool!(self, pool => {
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM customers WHERE external_id = $1")
                    .bind(customer_id)
                    .fetch_optional(pool)
                    .await?;
            let Some((id,)) = found else { return Ok(None) };
            let customer: Customer = sqlx::query_as(
                "SELECT external_id AS customer_id, name, email, phone, whatsapp, locale, \
                 time_zone, segment, created_at, erased_at FROM customers WHERE id = $1",
            )
            .bind(id)
            .fetch_one(pool)
            .await?;
            let contacts: Vec<CustomerContact> = sqlx::query_as(
                "SELECT c.external_id AS contact_id, c.closed_at, a.external_id AS agent_id, \
                 a.name AS agent_name, t.external_id AS team, c.category, c.contact_channel, \
                 c.resolution FROM contacts c LEFT JOIN agents a ON a.id = c.agent_id \
                 LEFT JOIN teams t ON t.id = c.team_id \
                 WHERE c.customer_id = $1 ORDER BY c.closed_at DESC, c.id DESC",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let invitations: Vec<CustomerInvitation> = sqlx::query_as(
                "SELECT i.id AS invitation_id, i.campaign, c.external_id AS contact_id, i.channel, \
                 i.state, i.sent_at, i.answered_at FROM invitations i \
                 JOIN contacts c ON c.id = i.contact_id \
                 WHERE i.customer_id = $1 ORDER BY i.id DESC",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let opt_outs: Vec<OptOut> = sqlx::query_as(
                "SELECT channel, source, created_at FROM opt_outs WHERE customer_id = $1 \
                 ORDER BY created_at, channel",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            Ok(Some(CustomerRecord {
                customer,
                contacts,
                invitations,
                opt_outs,
            }))
        })
    }
}
