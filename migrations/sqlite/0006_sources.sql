-- SQL sources: where each poll of a helpdesk's database stands. `cursor` is the last row read
-- (its closed_at and contact_id, as JSON with the source's own types), so each contact is read
-- once; the daemon holding `lease_until` polls, another takes over when the lease runs out.
-- Times are UTC RFC 3339 text, as in 0001.
CREATE TABLE source_cursors (
    source      TEXT PRIMARY KEY,
    cursor      TEXT,
    owner       TEXT,
    lease_until TEXT,
    polled_at   TEXT,
    read        BIGINT NOT NULL DEFAULT 0,
    imported    BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT
);
