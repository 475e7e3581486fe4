//! Data protection: personal data erased after the retention period (`[retention]`) or when a
//! customer asks to be forgotten, while the anonymous scores stay; every erasure is recorded
//! as an audit event (what and how much, never the data itself).
//!
//! Personal data here is the customer's name, addresses and helpdesk id, the contacts' extra
//! attributes, free-text answers, alert notes, delivery errors (a provider's refusal can quote
//! an address) and the raw webhook payloads (numbers, profile names, message text). Scores,
//! times, agents, teams and categories stay, so reports are unchanged.

use super::{Store, StoreError, with_tx};
use crate::domain::Phone;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Rows changed per transaction by retention (each a short write; sends and webhooks go on).
const BATCH: i64 = 5_000;

/// An invitation past which nothing changes any more: not waiting to be sent, and not open
/// for answers at `now` (a placeholder such as `$1`).
fn closed_invitation(now: &str) -> String {
    format!(
        "(state NOT IN ('planned', 'sent') OR (state = 'sent' AND COALESCE(expires_at <= {now}, FALSE)))"
    )
}

/// The tables retention walks by id, from a mark: a row past retention stays past it.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// Invitations made before the cutoff and closed: their comments, notes, errors.
    Invitations,
    /// Webhook events received before the cutoff and interpreted (or failed): payloads.
    Inbox,
}

impl Walk {
    fn table(self) -> &'static str {
        match self {
            Walk::Invitations => "invitations",
            Walk::Inbox => "inbox",
        }
    }

    /// The condition of a row past retention: `$3` the cutoff, `$4` now.
    fn past(self) -> String {
        match self {
            Walk::Invitations => format!("created_at < $3 AND {}", closed_invitation("$4")),
            Walk::Inbox => {
                "received_at < $3 AND (processed_at IS NOT NULL OR error IS NOT NULL)".into()
            }
        }
    }
}

/// What an erasure touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erased {
    /// Customers whose name and addresses were erased.
    pub customers: u64,
    /// Contacts whose extra attributes were erased.
    pub contacts: u64,
    /// Free-text answers (comments) erased; the scores stay.
    pub comments: u64,
    /// Notes on detractor alerts erased.
    pub alert_notes: u64,
    /// Delivery error messages erased.
    pub delivery_errors: u64,
    /// Webhook events whose payload was erased.
    pub inbox_events: u64,
    /// Messages still queued for the customer, cancelled (on request only).
    pub cancelled: u64,
    /// Emails removed from the file outbox (`email.transport = "file"`); none with SMTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_files: Option<u64>,
}

impl Erased {
    fn add(&mut self, other: &Erased) {
        self.customers += other.customers;
        self.contacts += other.contacts;
        self.comments += other.comments;
        self.alert_notes += other.alert_notes;
        self.delivery_errors += other.delivery_errors;
        self.inbox_events += other.inbox_events;
        self.cancelled += other.cancelled;
        self.outbox_files = match (self.outbox_files, other.outbox_files) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }

    /// Whether it touched nothing (no files removed counts as nothing).
    fn is_empty(&self) -> bool {
        Erased {
            outbox_files: self.outbox_files.filter(|n| *n > 0),
            ..self.clone()
        } == Erased::default()
    }
}

/// The counts that are not 0, as people read them: `customers 1, comments 2, outbox files 1`
/// (`nothing` when all are).
impl std::fmt::Display for Erased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts = [
            ("customers", self.customers),
            ("contacts", self.contacts),
            ("comments", self.comments),
            ("alert notes", self.alert_notes),
            ("delivery errors", self.delivery_errors),
            ("webhook payloads", self.inbox_events),
            ("cancelled", self.cancelled),
            ("outbox files", self.outbox_files.unwrap_or(0)),
        ];
        let shown: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if shown.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&shown.join(", "))
        }
    }
}

/// A forgotten customer: what was erased.
#[derive(Debug, Clone, Serialize)]
pub struct Forgotten {
    /// The customer's row, as the audit event names it (the helpdesk id is erased).
    pub subject: String,
    pub erased: Erased,
}

/// The alert columns that hold people's notes: the acknowledgement's, the resolution's.
const ALERT_NOTES: [&str; 2] = ["note", "resolved_note"];

/// An entry of the audit log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who did it: `cli`, `daemon`.
    pub actor: String,
    /// `customer.forget`, `retention.apply`.
    pub action: String,
    pub subject: Option<String>,
    /// What it touched, as JSON counts.
    pub detail: String,
}

impl Store {
    /// The email deliveries of the customer with helpdesk id `external_id` (whose files the
    /// file outbox may hold), oldest first; `None` when no customer has that id.
    pub async fn customer_email_deliveries(
        &self,
        external_id: &str,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        super::with_pool!(self, pool => {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE external_id = $1")
                .bind(external_id)
                .fetch_optional(pool)
                .await?;
            let Some(id) = id else { return Ok(None) };
            let deliveries: Vec<i64> = sqlx::query_scalar(
                "SELECT d.id FROM deliveries d JOIN invitations i ON i.id = d.invitation_id \
                 WHERE i.customer_id = $1 AND d.channel = 'email' ORDER BY d.id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            Ok(Some(deliveries))
        })
    }

    /// Erases everything personal of the customer with helpdesk id `external_id` — name,
    /// addresses, the helpdesk id itself, contact attributes, comments, alert notes, delivery
    /// errors, the webhook payloads that carry the customer's numbers — and cancels what is
    /// still queued for them, in one transaction, recorded as an audit event by `actor` with
    /// the `outbox_files` the caller removed before (their emails in the file outbox, see
    /// [`Store::customer_email_deliveries`]). `None` when no customer has that id.
    pub async fn forget_customer(
        &self,
        external_id: &str,
        actor: &str,
        now: DateTime<Utc>,
        outbox_files: Option<u64>,
    ) -> Result<Option<Forgotten>, StoreError> {
        let mut tx = self.begin_write().await?;
        let forgotten = with_tx!(tx, conn => {
            let found: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT id, phone, whatsapp FROM customers WHERE external_id = $1",
            )
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((id, phone, whatsapp)) = found else {
                return Ok(None);
            };
            let of_customer = "invitation_id IN (SELECT id FROM invitations WHERE customer_id = $1)";
            let delivery_errors = sqlx::query(&format!(
                "UPDATE deliveries SET last_error = NULL WHERE last_error IS NOT NULL AND {of_customer}"
            ))
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let cancelled = sqlx::query(&format!(
                "UPDATE deliveries SET status = 'cancelled', updated_at = $2, lease_until = NULL \
                 WHERE status = 'queued' AND {of_customer}"
            ))
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::query("UPDATE invitations SET state = 'cancelled' WHERE customer_id = $1 AND state = 'planned'")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let comments = sqlx::query(&format!(
                "UPDATE responses SET text = NULL WHERE text IS NOT NULL AND {of_customer}"
            ))
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let mut alert_notes = 0;
            for note in ALERT_NOTES {
                alert_notes += sqlx::query(&format!(
                    "UPDATE alerts SET {note} = NULL WHERE {note} IS NOT NULL AND {of_customer}"
                ))
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            }
            let contacts = sqlx::query(
                "UPDATE contacts SET attributes = '{}' WHERE customer_id = $1 AND attributes <> '{}'",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            // Payloads that carry one of the customer's numbers, however the provider wrote it.
            let numbers: Vec<String> = [phone, whatsapp]
                .into_iter()
                .flatten()
                .filter_map(|n| Phone::parse_in(&n, phonenumber::country::Id::ID).ok())
                .filter_map(|p| p.national_digits())
                .filter(|digits| digits.len() >= 6)
                .collect();
            let mut inbox_events = 0;
            for digits in numbers {
                inbox_events += sqlx::query(
                    "UPDATE inbox SET payload = '' WHERE payload <> '' AND payload LIKE $1",
                )
                .bind(format!("%{digits}%"))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            }
            let customers = sqlx::query(
                "UPDATE customers SET name = NULL, email = NULL, phone = NULL, whatsapp = NULL, \
                 external_id = 'forgotten:' || CAST(id AS TEXT), erased_at = $2, updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Forgotten {
                subject: format!("customer:{id}"),
                erased: Erased {
                    customers,
                    contacts,
                    comments,
                    alert_notes,
                    delivery_errors,
                    inbox_events,
                    cancelled,
                    outbox_files,
                },
            }
        });
        tx.audit(
            now,
            actor,
            "customer.forget",
            Some(&forgotten.subject),
            &forgotten.erased,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            actor,
            subject = %forgotten.subject,
            erased = %forgotten.erased,
            "audit: customer forgotten"
        );
        Ok(Some(forgotten))
    }

    /// Erases the personal data that has been kept longer than retention allows (`cutoff`:
    /// now less the retention period): comments, alert notes and delivery errors of closed
    /// invitations made before it, webhook payloads received before it, and the name,
    /// addresses and contact attributes of customers with no contact since it and nothing
    /// open. Works in short transactions; recorded as an audit event by `actor` when it
    /// erased anything, with the `outbox_files` the caller removed before (the file outbox's
    /// emails written before the cutoff).
    pub async fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
        outbox_files: Option<u64>,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased {
            outbox_files,
            ..Erased::default()
        };
        for walk in [Walk::Invitations, Walk::Inbox] {
            erased.add(&self.erase_walk(walk, cutoff, now).await?);
        }
        erased.add(&self.erase_idle_customers(cutoff, now).await?);
        if !erased.is_empty() {
            let mut tx = self.begin_write().await?;
            let subject = format!("before {}", cutoff.to_rfc3339());
            tx.audit(now, actor, "retention.apply", Some(&subject), &erased)
                .await?;
            tx.commit().await?;
            tracing::info!(actor, %subject, %erased, "audit: retention applied");
        }
        Ok(erased)
    }

    /// Walks a table by id from its retention mark, erasing each batch of rows that are all
    /// past retention and moving the mark; stops at the first row not past it.
    async fn erase_walk(
        &self,
        walk: Walk,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        let table = walk.table();
        let max_id: Option<i64> = super::with_pool!(self, pool => {
            sqlx::query_scalar(&format!("SELECT MAX(id) FROM {table}"))
                .fetch_one(pool)
                .await?
        });
        let Some(max_id) = max_id else {
            return Ok(erased);
        };
        let first_not_past = format!(
            "SELECT MIN(id) FROM {table} WHERE id > $1 AND id <= $2 AND NOT ({})",
            walk.past()
        );
        loop {
            let mut tx = self.begin_write().await?;
            let mark = tx.retention_mark(table).await?;
            if mark >= max_id {
                break;
            }
            let end = (mark + BATCH).min(max_id);
            let blocker: Option<i64> = with_tx!(tx, conn => {
                let query = sqlx::query_scalar(&first_not_past).bind(mark).bind(end).bind(cutoff);
                match walk {
                    Walk::Invitations => query.bind(now),
                    Walk::Inbox => query,
                }
                .fetch_one(&mut *conn)
                .await?
            });
            let upto = blocker.map_or(end, |b| b - 1);
            if upto > mark {
                erased.add(&match walk {
                    Walk::Invitations => tx.erase_invitations(mark, upto).await?,
                    Walk::Inbox => tx.erase_inbox(mark, upto).await?,
                });
                tx.set_retention_mark(table, upto).await?;
            }
            tx.commit().await?;
            if blocker.is_some() {
                break;
            }
        }
        Ok(erased)
    }

    /// Erases the name and addresses of customers with no contact closed since `cutoff` and
    /// no invitation still open, and their contacts' attributes; every customer is looked at
    /// (one may fall idle at any time), a batch per transaction.
    async fn erase_idle_customers(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        let max_id: Option<i64> = super::with_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM customers").fetch_one(pool).await?
        });
        let mut from = 0;
        while from < max_id.unwrap_or(0) {
            let to = from + BATCH;
            let mut tx = self.begin_write().await?;
            with_tx!(tx, conn => {
                erased.customers += sqlx::query(&format!(
                    "UPDATE customers SET name = NULL, email = NULL, phone = NULL, whatsapp = NULL, \
                     erased_at = $1, updated_at = $1 \
                     WHERE id > $3 AND id <= $4 AND erased_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM contacts c \
                                     WHERE c.customer_id = customers.id AND c.closed_at >= $2) \
                     AND NOT EXISTS (SELECT 1 FROM invitations i \
                                     WHERE i.customer_id = customers.id AND NOT {})",
                    closed_invitation("$1")
                ))
                .bind(now)
                .bind(cutoff)
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                erased.contacts += sqlx::query(
                    "UPDATE contacts SET attributes = '{}' WHERE attributes <> '{}' \
                     AND customer_id > $1 AND customer_id <= $2 AND customer_id IN \
                     (SELECT id FROM customers WHERE id > $1 AND id <= $2 AND erased_at IS NOT NULL)",
                )
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            });
            tx.commit().await?;
            from = to;
        }
        Ok(erased)
    }

    /// The audit log, newest first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(super::with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at, actor, action, subject, detail FROM audit_events \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}

impl super::StoreTx {
    /// Records an audit event: `actor` did `action` to `subject`, touching `erased`.
    async fn audit(
        &mut self,
        now: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        erased: &Erased,
    ) -> Result<(), StoreError> {
        let detail = serde_json::to_string(erased).expect("counts serialise");
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(now)
            .bind(actor)
            .bind(action)
            .bind(subject)
            .bind(&detail)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    async fn retention_mark(&mut self, name: &str) -> Result<i64, StoreError> {
        let mark: Option<i64> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT done_id FROM retention_marks WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?
        });
        Ok(mark.unwrap_or(0))
    }

    async fn set_retention_mark(&mut self, name: &str, done_id: i64) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO retention_marks (name, done_id) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET done_id = excluded.done_id \
                 WHERE retention_marks.done_id < excluded.done_id",
            )
            .bind(name)
            .bind(done_id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Comments, alert notes and delivery errors of invitations `from` < id ≤ `to`.
    async fn erase_invitations(&mut self, from: i64, to: i64) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        with_tx!(self, conn => {
            // Comments, the two alert notes, delivery errors.
            let texts = [
                ("responses", "text"),
                ("alerts", ALERT_NOTES[0]),
                ("alerts", ALERT_NOTES[1]),
                ("deliveries", "last_error"),
            ];
            let mut counts = [0; 4];
            for (count, (table, column)) in counts.iter_mut().zip(texts) {
                *count = sqlx::query(&format!(
                    "UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL \
                     AND invitation_id > $1 AND invitation_id <= $2"
                ))
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            }
            erased.comments = counts[0];
            erased.alert_notes = counts[1] + counts[2];
            erased.delivery_errors = counts[3];
        });
        Ok(erased)
    }

    /// The payloads of webhook events `from` < id ≤ `to`.
    async fn erase_inbox(&mut self, from: i64, to: i64) -> Result<Erased, StoreError> {
        let inbox_events = with_tx!(self, conn => {
            sqlx::query("UPDATE inbox SET payload = '' WHERE payload <> '' AND id > $1 AND id <= $2")
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        Ok(Erased {
            inbox_events,
            ..Erased::default()
        })
    }
}
