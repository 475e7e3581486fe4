-- Survey invitations and their outgoing messages (the outbox), and per-channel opt-outs.
-- Same tables and names as migrations/sqlite; PostgreSQL types.

CREATE TABLE opt_outs (
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    channel     TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

-- One per (campaign, contact), ever: the unique constraint is what keeps two planners from
-- inviting a contact twice.
CREATE TABLE invitations (
    id            BIGSERIAL PRIMARY KEY,
    campaign      TEXT NOT NULL,
    contact_id    BIGINT NOT NULL REFERENCES contacts (id),
    customer_id   BIGINT NOT NULL REFERENCES customers (id),
    questionnaire TEXT NOT NULL,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL,
    token_sha256  TEXT UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    sent_at       TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ,
    answered_at   TIMESTAMPTZ,
    UNIQUE (campaign, contact_id)
);

CREATE INDEX invitations_by_customer ON invitations (customer_id, created_at);

CREATE TABLE deliveries (
    id                  BIGSERIAL PRIMARY KEY,
    invitation_id       BIGINT NOT NULL REFERENCES invitations (id),
    channel             TEXT NOT NULL,
    kind                TEXT NOT NULL,
    status              TEXT NOT NULL,
    due_at              TIMESTAMPTZ NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    lease_until         TIMESTAMPTZ,
    lease_owner         TEXT,
    provider_message_id TEXT,
    last_error          TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    sent_at             TIMESTAMPTZ
);

CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_by_invitation ON deliveries (invitation_id);
