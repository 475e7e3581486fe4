//! Planning: a campaign's eligible contacts become invitations, each with its first delivery
//! queued for `closed_at + delay`. The unique (campaign, contact) constraint, not a check in
//! code, keeps a contact from being invited twice, even by two planners at once.

use super::{ROWS_PER_STATEMENT, Store, StoreError, StoreTx, cacheable, with_pool};
use crate::auth::{SurveyKey, survey_token_digest};
use crate::campaign::Campaign;
use crate::campaign::sample::Candidate as SampleCandidate;
use crate::domain::{InvitationState, MessageKind, SurveyChannel};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

/// What a planning run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Contacts in the campaign's audience.
    pub eligible: u64,
    /// Invitations created (on a dry run: that would be created).
    pub invited: u64,
    pub skipped: SkipCounts,
}

/// Eligible contacts not invited, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SkipCounts {
    pub already_invited: u64,
    pub no_address: u64,
    pub opted_out: u64,
    /// The customer was invited (by any campaign) within the frequency cap, or has another
    /// contact invited in this run.
    pub frequency_cap: u64,
    /// Left out of the campaign's sample.
    pub not_sampled: u64,
    /// Closed so long ago that the invitation would expire (`closed_at + delay + expiry`)
    /// before it could be sent.
    pub too_late: u64,
}

/// A contact of the audience, with what decides whether and where it is invited: per
/// channel of the campaign, whether the customer has an address on it and has opted out of
/// it (channels the campaign does not use read false).
#[derive(sqlx::FromRow)]
struct Candidate {
    id: i64,
    /// The contact's own id, which sampling goes by.
    external_id: String,
    agent_id: Option<i64>,
    customer_id: i64,
    closed_at: DateTime<Utc>,
    #[sqlx(flatten)]
    reach: Reach,
    invited: bool,
    /// When any campaign last invited the customer.
    last_invited_at: Option<DateTime<Utc>>,
}

/// Per channel, whether a customer has an address on it and has opted out of it.
#[derive(sqlx::FromRow)]
pub(super) struct Reach {
    has_email: bool,
    has_sms: bool,
    has_whatsapp: bool,
    out_email: bool,
    out_sms: bool,
    out_whatsapp: bool,
}

impl Reach {
    pub(super) fn reachable(&self, channel: SurveyChannel) -> (bool, bool) {
        match channel {
            SurveyChannel::Email => (self.has_email, self.out_email),
            SurveyChannel::Sms => (self.has_sms, self.out_sms),
            SurveyChannel::Whatsapp => (self.has_whatsapp, self.out_whatsapp),
        }
    }
}

/// The [`Reach`] columns for `channels` (the others read false), over `customers cu` and a
/// table `c` with the `customer_id`.
fn reach_columns(channels: &[SurveyChannel]) -> String {
    [
        SurveyChannel::Email,
        SurveyChannel::Sms,
        SurveyChannel::Whatsapp,
    ]
    .into_iter()
    .map(|channel| {
        let name = channel.as_str();
        if channels.contains(&channel) {
            format!(
                "({} IS NOT NULL) AS has_{name}, EXISTS (SELECT 1 FROM opt_outs o \
                     WHERE o.customer_id = c.customer_id AND o.channel = '{name}') AS out_{name}",
                address_sql(channel)
            )
        } else {
            format!("FALSE AS has_{name}, FALSE AS out_{name}")
        }
    })
    .collect::<Vec<_>>()
    .join(", ")
}

impl Store {
    /// Plans `campaign` at `now`: invites every contact of its audience that has no invitation
    /// of this campaign yet, on the first of the campaign's channels the customer has an
    /// address for and has not opted out of — under the campaign's frequency cap, one contact
    /// per customer and none whose customer any campaign invited within the cap; with a
    /// sample, only the contacts in it (its per-agent minimum counting the contacts of the
    /// audience the campaign invited already).
    /// Each invitation gets its survey token's hash (made with `key`) and its expiry
    /// (`closed_at + delay + expiry`; sending it moves that to `expiry` after the send). With
    /// `dry_run`, counts and writes nothing.
    pub async fn plan_invitations(
        &self,
        campaign: &Campaign,
        now: DateTime<Utc>,
        dry_run: bool,
        key: &SurveyKey,
    ) -> Result<PlanCounts, StoreError> {
        let since = now - campaign.audience.lookback;
        let candidates: Vec<Candidate> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!(
                "SELECT c.id, c.external_id, c.agent_id, c.customer_id, c.closed_at, cu.last_invited_at, {}, ",
                reach_columns(&campaign.channels)
            ));
            q.push("EXISTS (SELECT 1 FROM invitations i WHERE i.contact_id = c.id AND i.campaign = ");
            q.push_bind(campaign.name.as_str());
            q.push(
                ") AS invited FROM contacts c JOIN customers cu ON cu.id = c.customer_id \
                 LEFT JOIN teams t ON t.id = c.team_id WHERE c.closed_at >= ",
            );
            q.push_bind(since).push(" AND c.closed_at <= ").push_bind(now);
            let a = &campaign.audience;
            let filters: [(&str, Vec<&str>); 4] = [
                ("t.external_id", a.teams.iter().map(String::as_str).collect()),
                ("c.category", a.categories.iter().map(String::as_str).collect()),
                ("c.contact_channel", a.contact_channels.iter().map(|v| v.as_str()).collect()),
                ("c.resolution", a.resolutions.iter().map(|v| v.as_str()).collect()),
            ];
            for (column, values) in filters.iter().filter(|(_, v)| !v.is_empty()) {
                q.push(format!(" AND {column} IN ("));
                let mut list = q.separated(", ");
                for value in values {
                    list.push_bind(*value);
                }
                q.push(")");
            }
            q.push(" ORDER BY c.closed_at, c.id");
            q.build_query_as().fetch_all(pool).await?
        });

        let mut counts = PlanCounts {
            eligible: candidates.len() as u64,
            ..PlanCounts::default()
        };
        let mut to_invite = Vec::new();
        // The campaign's invited contacts of the audience: a sample's minimum counts them.
        let mut invited = Vec::new();
        for c in candidates {
            let chosen = campaign
                .channels
                .iter()
                .copied()
                .find(|ch| c.reach.reachable(*ch) == (true, false));
            if c.invited {
                counts.skipped.already_invited += 1;
                invited.push(c);
            } else if c.closed_at + campaign.delay + campaign.expiry <= now {
                counts.skipped.too_late += 1;
            } else if let Some(channel) = chosen {
                to_invite.push((c, channel));
            } else if campaign.channels.iter().any(|ch| c.reach.reachable(*ch).0) {
                counts.skipped.opted_out += 1;
            } else {
                counts.skipped.no_address += 1;
            }
        }
        if let Some(sample) = &campaign.sample {
            let sampled: Vec<SampleCandidate> = invited
                .iter()
                .map(|c| (c, true))
                .chain(to_invite.iter().map(|(c, _)| (c, false)))
                .map(|(c, invited)| SampleCandidate {
                    id: &c.external_id,
                    agent: c.agent_id,
                    invited,
                })
                .collect();
            let chosen = sample.choose(&campaign.name, &sampled);
            let before = to_invite.len();
            let mut chosen = chosen.into_iter().skip(invited.len());
            to_invite.retain(|_| chosen.next().unwrap_or(false));
            counts.skipped.not_sampled = (before - to_invite.len()) as u64;
        }
        // The contact-frequency cap: customers invited since `capped_since` wait, and a
        // customer gets one invitation per run (for the earliest contact).
        let capped_since = campaign
            .frequency_cap
            .filter(|cap| !cap.is_zero())
            .map(|cap| now - cap);
        if let Some(since) = capped_since {
            let before = to_invite.len();
            let mut customers = std::collections::HashSet::new();
            to_invite.retain(|(c, _)| {
                c.last_invited_at.is_none_or(|at| at <= since) && customers.insert(c.customer_id)
            });
            counts.skipped.frequency_cap = (before - to_invite.len()) as u64;
        }
        if dry_run {
            counts.invited = to_invite.len() as u64;
            return Ok(counts);
        }

        for chunk in to_invite.chunks(ROWS_PER_STATEMENT) {
            let mut tx = self.begin().await?;
            let admitted = tx.admit(chunk, capped_since, now).await?;
            counts.skipped.frequency_cap += (chunk.len() - admitted.len()) as u64;
            let chunk = admitted;
            if chunk.is_empty() {
                continue;
            }
            let chunk = chunk.as_slice();
            let created: Vec<(i64, i64)> = super::with_tx!(&mut tx, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO invitations (campaign, contact_id, customer_id, questionnaire, channel, state, \
                     token_sha256, expires_at, created_at) ",
                );
                q.push_values(chunk, |mut row, (c, channel)| {
                    let token = survey_token_digest(&key.token(&campaign.name, c.id));
                    row.push_bind(campaign.name.as_str())
                        .push_bind(c.id)
                        .push_bind(c.customer_id)
                        .push_bind(campaign.questionnaire.as_str())
                        .push_bind(channel.as_str())
                        .push_bind(InvitationState::Planned.as_str())
                        .push_bind(token.to_vec())
                        .push_bind(c.closed_at + campaign.delay + campaign.expiry)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (campaign, contact_id) DO NOTHING RETURNING id, contact_id");
                let created: Vec<(i64, i64)> =
                    q.build_query_as().persistent(cacheable(chunk)).fetch_all(&mut *conn).await?;
                if !created.is_empty() {
                    let planned: std::collections::HashMap<i64, (DateTime<Utc>, SurveyChannel)> = chunk
                        .iter()
                        .map(|(c, channel)| (c.id, (c.closed_at + campaign.delay, *channel)))
                        .collect();
                    let mut q = QueryBuilder::new(
                        "INSERT INTO deliveries (invitation_id, channel, kind, status, due_at, created_at, updated_at) ",
                    );
                    q.push_values(&created, |mut row, (invitation, contact)| {
                        let (due, channel) = planned[contact];
                        row.push_bind(*invitation)
                            .push_bind(channel.as_str())
                            .push_bind(MessageKind::Invite.as_str())
                            .push_bind("queued")
                            .push_bind(due)
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.build().persistent(cacheable(&created)).execute(&mut *conn).await?;
                }
                created
            });
            tx.commit().await?;
            counts.invited += created.len() as u64;
            // Another planner invited these between our read and our insert.
            counts.skipped.already_invited += (chunk.len() - created.len()) as u64;
        }
        // A large run changes the outbox's shape at once; without fresh statistics PostgreSQL
        // plans each claim as a scan and sort of every queued delivery until autovacuum runs.
        self.refresh_statistics(counts.invited, "deliveries, invitations")
            .await?;
        Ok(counts)
    }
}

impl StoreTx {
    /// Of `chunk` (one contact per customer), those whose customer no campaign invited after
    /// `capped_since` (all, without a cap), marking each admitted customer invited `now` in
    /// the same statement: a planner running at the same moment waits for this transaction
    /// on PostgreSQL (on SQLite for the file) and then finds the customer taken.
    async fn admit<'a>(
        &mut self,
        chunk: &'a [(Candidate, SurveyChannel)],
        capped_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<&'a (Candidate, SurveyChannel)>, StoreError> {
        let admitted: Vec<i64> = super::with_tx!(self, conn => {
            let mut q = QueryBuilder::new("UPDATE customers SET last_invited_at = ");
            q.push_bind(now);
            if let Some(since) = capped_since {
                q.push(" WHERE (last_invited_at IS NULL OR last_invited_at <= ")
                    .push_bind(since)
                    .push(") AND id IN (");
            } else {
                q.push(" WHERE id IN (");
            }
            let mut ids = q.separated(", ");
            for (c, _) in chunk {
                ids.push_bind(c.customer_id);
            }
            q.push(") RETURNING id");
            q.build_query_scalar()
                .persistent(cacheable(chunk))
                .fetch_all(&mut *conn)
                .await?
        });
        let admitted: std::collections::HashSet<i64> = admitted.into_iter().collect();
        Ok(chunk
            .iter()
            .filter(|(c, _)| admitted.contains(&c.customer_id))
            .collect())
    }

    /// Per invitation of `invitations`, whether its customer can be reached on `channels`.
    pub(super) async fn reach_of(
        &mut self,
        invitations: &[i64],
        channels: &[SurveyChannel],
    ) -> Result<std::collections::HashMap<i64, Reach>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            #[sqlx(flatten)]
            reach: Reach,
        }
        let mut reach = std::collections::HashMap::with_capacity(invitations.len());
        for chunk in invitations.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<Row> = super::with_tx!(self, conn => {
                let mut q = QueryBuilder::new(format!(
                    "SELECT c.id, {} FROM invitations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id IN (",
                    reach_columns(channels)
                ));
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build_query_as().persistent(cacheable(chunk)).fetch_all(&mut *conn).await?
            });
            reach.extend(rows.into_iter().map(|r| (r.id, r.reach)));
        }
        Ok(reach)
    }

    /// Moves an invitation whose message failed for good to the first of `remaining` (the
    /// campaign's channels after the failed one) that the customer has an address for and
    /// has not opted out of, queueing its invitation there due `now`. Returns that channel,
    /// or `None` when none is left (the caller then marks the invitation failed).
    pub(crate) async fn fall_back(
        &mut self,
        invitation_id: i64,
        remaining: &[SurveyChannel],
        now: DateTime<Utc>,
    ) -> Result<Option<SurveyChannel>, StoreError> {
        if remaining.is_empty() {
            return Ok(None);
        }
        let reach = self.reach_of(&[invitation_id], remaining).await?;
        let Some(next) = reach.get(&invitation_id).and_then(|r| {
            remaining
                .iter()
                .copied()
                .find(|ch| r.reachable(*ch) == (true, false))
        }) else {
            return Ok(None);
        };
        self.plan_again(
            invitation_id,
            Some(next),
            &format!("the invitation moved to {}", next.as_str()),
            now,
        )
        .await?;
        super::with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO deliveries (invitation_id, channel, kind, status, due_at, created_at, updated_at) \
                 VALUES ($1, $2, 'invite', 'queued', $3, $3, $3)",
            )
            .bind(invitation_id)
            .bind(next.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        });
        Ok(Some(next))
    }

    /// Plans invitation `invitation_id` again, on `channel` if given (its conversation starts
    /// over): its queued reminders give way, with `reason`, to those of its next send.
    pub(crate) async fn plan_again(
        &mut self,
        invitation_id: i64,
        channel: Option<SurveyChannel>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        super::with_tx!(self, conn => {
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', last_error = $1, updated_at = $2 \
                 WHERE invitation_id = $3 AND kind = 'reminder' AND status = 'queued'",
            )
            .bind(reason)
            .bind(now)
            .bind(invitation_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE invitations SET channel = COALESCE($1, channel), state = 'planned', \
                 question = NULL WHERE id = $2",
            )
            .bind(channel.map(SurveyChannel::as_str))
            .bind(invitation_id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }
}

/// Rows written by one run (an import, a planning run) above which PostgreSQL's statistics
/// of the tables it wrote are refreshed.
const ANALYZE_AFTER: u64 = 10_000;

impl Store {
    /// On PostgreSQL, after `rows` were written to `tables` (a list in SQL) at once, refreshes
    /// their statistics when that is many rows: until autovacuum catches up the planner would
    /// otherwise plan for the tables as they were (a reply's lookup by number walked every
    /// sent invitation: 36 ms instead of 0.2).
    pub async fn refresh_statistics(&self, rows: u64, tables: &str) -> Result<(), StoreError> {
        if let (super::Pool::Postgres(pool), true) = (&self.pool, rows >= ANALYZE_AFTER) {
            sqlx::query(&format!("ANALYZE {tables}"))
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Records that the customer with external id `customer` wants no more surveys over
    /// `channel`. Idempotent: true when this call recorded it, false when it already was.
    pub async fn opt_out(
        &self,
        customer: &str,
        channel: SurveyChannel,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let known: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM customers WHERE external_id = $1")
                .bind(customer)
                .fetch_optional(pool)
                .await?
        });
        let id = known.ok_or_else(|| StoreError::NotFound(format!("no customer `{customer}`")))?;
        self.opt_out_customer(id, channel, source, now).await
    }
}

/// A contact invited by a campaign: what its survey link is made from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invited {
    /// The stored contact's id (with the campaign, its survey token's input).
    pub contact_id: i64,
    /// The helpdesk's id of the contact.
    pub external_id: String,
    pub customer_name: Option<String>,
    pub channel: String,
}

impl Store {
    /// Those of the contacts `external_ids` that `campaign` has invited, in the order given.
    pub async fn invited(
        &self,
        campaign: &str,
        external_ids: &[String],
    ) -> Result<Vec<Invited>, StoreError> {
        let mut found: Vec<Invited> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "SELECT c.id AS contact_id, c.external_id, cu.name AS customer_name, i.channel \
                 FROM invitations i JOIN contacts c ON c.id = i.contact_id \
                 JOIN customers cu ON cu.id = c.customer_id WHERE i.campaign = ",
            );
            q.push_bind(campaign).push(" AND c.external_id IN (");
            let mut list = q.separated(", ");
            for id in external_ids {
                list.push_bind(id.as_str());
            }
            q.push(")");
            q.build_query_as().fetch_all(pool).await?
        });
        found.sort_by_key(|i| external_ids.iter().position(|e| *e == i.external_id));
        Ok(found)
    }
}

/// The customer's address for `channel`, as an SQL expression over `customers` aliased `cu`:
/// the email address, the phone number, or the WhatsApp number (else the phone).
fn address_sql(channel: SurveyChannel) -> &'static str {
    match channel {
        SurveyChannel::Email => "cu.email",
        SurveyChannel::Sms => "cu.phone",
        SurveyChannel::Whatsapp => "COALESCE(cu.whatsapp, cu.phone)",
    }
}
