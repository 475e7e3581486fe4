//! Closed contacts with their customers, agents and teams: batched upserts keyed by the
//! helpdesk's ids, and listing.

use super::{ROWS_PER_STATEMENT, Store, StoreError, StoreTx, cacheable, with_pool, with_tx};
use crate::domain::{
    ContactChannel, ContactRecord, Email, ExternalId, Locale, ParseError, Phone, Resolution,
    TimeZone,
};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
// foldhash: these maps hash every row's ids; SipHash showed up in import profiles.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// What an upsert did to the contacts it was given.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Row counts of the intake tables.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    pub customers: i64,
    pub agents: i64,
    pub teams: i64,
    pub contacts: i64,
    pub invitations: i64,
    pub deliveries: i64,
}

/// Customer columns an import may set; a missing value keeps what is stored.
const CUSTOMER_COLUMNS: [&str; 7] = [
    "name",
    "email",
    "phone",
    "whatsapp",
    "locale",
    "time_zone",
    "segment",
];

/// Contact columns an import sets; the record is the helpdesk's truth, so all are replaced.
const CONTACT_COLUMNS: [&str; 9] = [
    "customer_id",
    "agent_id",
    "team_id",
    "contact_channel",
    "category",
    "opened_at",
    "closed_at",
    "resolution",
    "attributes",
];

#[derive(Default)]
struct CustomerFields<'a> {
    values: [Option<&'a str>; 7],
}

#[derive(Default)]
struct AgentFields<'a> {
    name: Option<&'a str>,
    team: Option<&'a str>,
}

/// One batch with duplicates folded: the last contact with an id wins; a customer's or an
/// agent's fields are merged, later non-empty values over earlier ones.
struct Batch<'a> {
    teams: Vec<&'a str>,
    customers: Vec<(&'a str, CustomerFields<'a>)>,
    agents: Vec<(&'a str, AgentFields<'a>)>,
    contacts: Vec<&'a ContactRecord>,
}

impl<'a> Batch<'a> {
    fn new(records: &'a [ContactRecord]) -> Self {
        let mut teams: Vec<&str> = Vec::new();
        let mut seen_teams = HashSet::new();
        let mut customers: Vec<(&str, CustomerFields)> = Vec::new();
        let mut customer_at: HashMap<&str, usize> = HashMap::new();
        let mut agents: Vec<(&str, AgentFields)> = Vec::new();
        let mut agent_at: HashMap<&str, usize> = HashMap::new();
        let mut contact_at: HashMap<&str, usize> = HashMap::new();
        let mut contacts: Vec<&ContactRecord> = Vec::new();

        for r in records {
            if let Some(team) = &r.team
                && seen_teams.insert(team.as_str())
            {
                teams.push(team.as_str());
            }

            let i = *customer_at
                .entry(r.customer_id.as_str())
                .or_insert_with(|| {
                    customers.push((r.customer_id.as_str(), CustomerFields::default()));
                    customers.len() - 1
                });
            let incoming = [
                r.customer_name.as_deref(),
                r.email.as_ref().map(Email::as_str),
                r.phone.as_ref().map(Phone::as_str),
                r.whatsapp.as_ref().map(Phone::as_str),
                r.locale.as_ref().map(Locale::as_str),
                r.time_zone.as_ref().map(TimeZone::as_str),
                r.segment.as_deref(),
            ];
            for (slot, value) in customers[i].1.values.iter_mut().zip(incoming) {
                if value.is_some() {
                    *slot = value;
                }
            }

            if let Some(agent) = &r.agent_id {
                let i = *agent_at.entry(agent.as_str()).or_insert_with(|| {
                    agents.push((agent.as_str(), AgentFields::default()));
                    agents.len() - 1
                });
                let fields = &mut agents[i].1;
                if let Some(name) = &r.agent_name {
                    fields.name = Some(name);
                }
                if let Some(team) = &r.team {
                    fields.team = Some(team.as_str());
                }
            }

            match contact_at.get(r.contact_id.as_str()) {
                Some(&i) => contacts[i] = r,
                None => {
                    contact_at.insert(r.contact_id.as_str(), contacts.len());
                    contacts.push(r);
                }
            }
        }
        // One lock order for every writer, so concurrent batches cannot deadlock on PostgreSQL.
        teams.sort_unstable();
        customers.sort_unstable_by_key(|(id, _)| *id);
        agents.sort_unstable_by_key(|(id, _)| *id);
        contacts.sort_unstable_by_key(|c| c.contact_id.as_str());
        Batch {
            teams,
            customers,
            agents,
            contacts,
        }
    }
}

/// `SET a = COALESCE(excluded.a, t.a), … WHERE excluded.a IS NOT NULL AND … IS DISTINCT FROM …`,
/// with `also` (`col = value, `) set too when a row changes.
fn merge_clause(table: &str, columns: &[&str], also: &str) -> String {
    let set: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = COALESCE(excluded.{c}, {table}.{c})"))
        .collect();
    let changed: Vec<String> = columns
        .iter()
        .map(|c| {
            format!("(excluded.{c} IS NOT NULL AND excluded.{c} IS DISTINCT FROM {table}.{c})")
        })
        .collect();
    format!(
        " ON CONFLICT (external_id) DO UPDATE SET {}, {also}updated_at = excluded.updated_at WHERE {}",
        set.join(", "),
        changed.join(" OR ")
    )
}

/// `SET a = excluded.a, … WHERE a IS DISTINCT FROM …` for columns replaced whole.
fn replace_clause(table: &str, columns: &[&str]) -> String {
    let set: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let changed: Vec<String> = columns
        .iter()
        .map(|c| format!("excluded.{c} IS DISTINCT FROM {table}.{c}"))
        .collect();
    format!(
        " ON CONFLICT (external_id) DO UPDATE SET {}, updated_at = excluded.updated_at WHERE {}",
        set.join(", "),
        changed.join(" OR ")
    )
}

const CONTACT_SELECT: &str = "SELECT c.external_id AS contact_id, c.closed_at, c.opened_at, \
     cu.external_id AS customer_id, cu.name AS customer_name, cu.email, cu.phone, cu.whatsapp, \
     cu.locale, cu.time_zone, cu.segment, a.external_id AS agent_id, a.name AS agent_name, \
     t.external_id AS team, c.contact_channel, c.category, c.resolution, c.attributes \
     FROM contacts c JOIN customers cu ON cu.id = c.customer_id \
     LEFT JOIN agents a ON a.id = c.agent_id LEFT JOIN teams t ON t.id = c.team_id";

#[derive(sqlx::FromRow)]
struct ContactRow {
    contact_id: String,
    closed_at: DateTime<Utc>,
    opened_at: Option<DateTime<Utc>>,
    customer_id: String,
    customer_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    whatsapp: Option<String>,
    locale: Option<String>,
    time_zone: Option<String>,
    segment: Option<String>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    team: Option<String>,
    contact_channel: Option<String>,
    category: Option<String>,
    resolution: Option<String>,
    attributes: Json<serde_json::Map<String, serde_json::Value>>,
}

impl ContactRow {
    fn into_record(self) -> Result<ContactRecord, StoreError> {
        fn opt<T>(
            value: Option<String>,
            parse: impl Fn(&str) -> Result<T, ParseError>,
        ) -> Result<Option<T>, StoreError> {
            value
                .map(|v| parse(&v))
                .transpose()
                .map_err(|e| StoreError::Corrupt {
                    what: "contact",
                    reason: e.0,
                })
        }
        let id = |v: String| {
            ExternalId::parse(&v).map_err(|e| StoreError::Corrupt {
                what: "id",
                reason: e.0,
            })
        };
        Ok(ContactRecord {
            contact_id: id(self.contact_id)?,
            closed_at: self.closed_at,
            opened_at: self.opened_at,
            customer_id: id(self.customer_id)?,
            customer_name: self.customer_name,
            email: opt(self.email, Email::parse_stored)?,
            phone: opt(self.phone, Phone::parse)?,
            whatsapp: opt(self.whatsapp, Phone::parse)?,
            locale: opt(self.locale, Locale::parse)?,
            time_zone: opt(self.time_zone, TimeZone::parse)?,
            segment: self.segment,
            agent_id: opt(self.agent_id, ExternalId::parse)?,
            agent_name: self.agent_name,
            team: opt(self.team, ExternalId::parse)?,
            contact_channel: opt(self.contact_channel, ContactChannel::parse)?,
            category: self.category,
            resolution: opt(self.resolution, Resolution::parse)?,
            attributes: self.attributes.0,
        })
    }
}

impl Store {
    /// Inserts or updates `records` (customers, agents and teams with them) in one
    /// transaction. Re-sending the same records changes nothing and counts them unchanged.
    pub async fn upsert_contacts(
        &self,
        records: &[ContactRecord],
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        let mut tx = self.begin().await?;
        let counts = tx.upsert_contacts(records, now).await?;
        tx.commit().await?;
        Ok(counts)
    }
}

impl StoreTx {
    /// Inserts or updates `records` within this transaction (see [`Store::upsert_contacts`]).
    pub async fn upsert_contacts(
        &mut self,
        records: &[ContactRecord],
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        if records.is_empty() {
            return Ok(UpsertCounts::default());
        }
        let batch = Batch::new(records);
        // A customer whose data was erased and who is imported again is kept again.
        let customer_merge = merge_clause("customers", &CUSTOMER_COLUMNS, "erased_at = NULL, ");
        let agent_merge = merge_clause("agents", &["name", "team_id"], "");
        let contact_replace = replace_clause("contacts", &CONTACT_COLUMNS);

        let (existing, changed): (HashSet<String>, HashSet<String>) = with_tx!(self, tx => {

            for teams in batch.teams.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new("INSERT INTO teams (external_id, name, created_at, updated_at) ");
                q.push_values(teams, |mut row, team| {
                    row.push_bind(*team).push_bind(*team).push_bind(now).push_bind(now);
                });
                q.push(" ON CONFLICT (external_id) DO NOTHING");
                q.build().persistent(cacheable(teams)).execute(&mut *tx).await?;
            }

            for customers in batch.customers.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(format!(
                    "INSERT INTO customers (external_id, {}, created_at, updated_at) ",
                    CUSTOMER_COLUMNS.join(", ")
                ));
                q.push_values(customers, |mut row, (id, fields)| {
                    row.push_bind(*id);
                    for value in fields.values {
                        row.push_bind(value);
                    }
                    row.push_bind(now).push_bind(now);
                });
                q.push(&customer_merge);
                q.build().persistent(cacheable(customers)).execute(&mut *tx).await?;
            }

            for agents in batch.agents.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO agents (external_id, name, team_id, created_at, updated_at) \
                     SELECT v.column1, v.column2, \
                     (SELECT id FROM teams WHERE external_id = v.column3), v.column4, v.column5 \
                     FROM (",
                );
                q.push_values(agents, |mut row, (id, fields)| {
                    row.push_bind(*id)
                        .push_bind(fields.name)
                        .push_bind(fields.team)
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(") AS v WHERE true");
                q.push(&agent_merge);
                q.build().persistent(cacheable(agents)).execute(&mut *tx).await?;
            }

            let mut existing = Vec::with_capacity(batch.contacts.len());
            let mut changed = Vec::with_capacity(batch.contacts.len());
            for contacts in batch.contacts.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new("SELECT external_id FROM contacts WHERE external_id IN (");
                let mut ids = q.separated(", ");
                for c in contacts {
                    ids.push_bind(c.contact_id.as_str());
                }
                q.push(")");
                existing.extend(q.build_query_scalar::<String>().persistent(cacheable(contacts)).fetch_all(&mut *tx).await?);

                // The rows are a VALUES list and the ids are looked up by one correlated
                // sub-select per column: each is an index lookup on both backends. (A join lets
                // PostgreSQL pick a scan of all customers; a sub-select written out per row
                // makes SQLite open a cursor for each.)
                let mut q = QueryBuilder::new(format!(
                    "INSERT INTO contacts (external_id, {}, created_at, updated_at) \
                     SELECT v.column1, \
                     (SELECT id FROM customers WHERE external_id = v.column2), \
                     (SELECT id FROM agents WHERE external_id = v.column3), \
                     (SELECT id FROM teams WHERE external_id = v.column4), \
                     v.column5, v.column6, v.column7, v.column8, v.column9, v.column10, \
                     v.column11, v.column12 FROM (",
                    CONTACT_COLUMNS.join(", ")
                ));
                q.push_values(contacts, |mut row, c| {
                    row.push_bind(c.contact_id.as_str())
                        .push_bind(c.customer_id.as_str())
                        .push_bind(c.agent_id.as_ref().map(ExternalId::as_str))
                        .push_bind(c.team.as_ref().map(ExternalId::as_str))
                        .push_bind(c.contact_channel.map(|v| v.as_str()))
                        .push_bind(c.category.as_deref())
                        .push_bind(c.opened_at)
                        .push_bind(c.closed_at)
                        .push_bind(c.resolution.map(|v| v.as_str()))
                        .push_bind(Json(&c.attributes))
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(") AS v WHERE true");
                q.push(&contact_replace);
                q.push(" RETURNING external_id");
                changed.extend(q.build_query_scalar::<String>().persistent(cacheable(contacts)).fetch_all(&mut *tx).await?);
            }

            (existing.into_iter().collect(), changed.into_iter().collect())
        });

        let mut counts = UpsertCounts::default();
        for c in &batch.contacts {
            let id = c.contact_id.as_str();
            match (changed.contains(id), existing.contains(id)) {
                (true, false) => counts.inserted += 1,
                (true, true) => counts.updated += 1,
                (false, _) => counts.unchanged += 1,
            }
        }
        Ok(counts)
    }
}

impl Store {
    /// The most recently closed contacts first, at most `limit`.
    pub async fn list_contacts(&self, limit: u32) -> Result<Vec<ContactRecord>, StoreError> {
        let rows: Vec<ContactRow> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(CONTACT_SELECT);
            q.push(" ORDER BY c.closed_at DESC, c.id DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter().map(ContactRow::into_record).collect()
    }

    /// One contact by the helpdesk's id.
    pub async fn find_contact(
        &self,
        contact_id: &str,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let row: Option<ContactRow> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(CONTACT_SELECT);
            q.push(" WHERE c.external_id = ").push_bind(contact_id);
            q.build_query_as().fetch_optional(pool).await?
        });
        row.map(ContactRow::into_record).transpose()
    }

    /// How many customers, agents, teams and contacts are stored.
    pub async fn table_counts(&self) -> Result<TableCounts, StoreError> {
        let (customers, agents, teams, contacts, invitations, deliveries) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM agents), \
                 (SELECT COUNT(*) FROM teams), (SELECT COUNT(*) FROM contacts), \
                 (SELECT COUNT(*) FROM invitations), (SELECT COUNT(*) FROM deliveries)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(TableCounts {
            customers,
            agents,
            teams,
            contacts,
            invitations,
            deliveries,
        })
    }
}
