-- Customers, agents, teams, closed contacts and API tokens. Times are UTC, stored as RFC 3339
-- text (sqlx's encoding of DateTime<Utc>), which sorts in time order.

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE agents (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    team_id     INTEGER REFERENCES teams (id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    email       TEXT,
    phone       TEXT,
    whatsapp    TEXT,
    locale      TEXT,
    time_zone   TEXT,
    segment     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    agent_id        INTEGER REFERENCES agents (id),
    team_id         INTEGER REFERENCES teams (id),
    contact_channel TEXT,
    category        TEXT,
    opened_at       TEXT,
    closed_at       TEXT NOT NULL,
    resolution      TEXT,
    attributes      TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE INDEX contacts_by_closed_at ON contacts (closed_at, id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
