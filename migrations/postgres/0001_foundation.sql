-- Customers, agents, teams, closed contacts and API tokens. Same tables and names as
-- migrations/sqlite; PostgreSQL types.

CREATE TABLE teams (
    id          BIGSERIAL PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE agents (
    id          BIGSERIAL PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    team_id     BIGINT REFERENCES teams (id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE customers (
    id          BIGSERIAL PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT,
    email       TEXT,
    phone       TEXT,
    whatsapp    TEXT,
    locale      TEXT,
    time_zone   TEXT,
    segment     TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE contacts (
    id              BIGSERIAL PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    agent_id        BIGINT REFERENCES agents (id),
    team_id         BIGINT REFERENCES teams (id),
    contact_channel TEXT,
    category        TEXT,
    opened_at       TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ NOT NULL,
    resolution      TEXT,
    attributes      JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX contacts_by_closed_at ON contacts (closed_at, id);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
