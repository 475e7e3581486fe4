-- Data protection: personal data erased after the retention period or on a customer's
-- request, while the anonymous scores stay; each erasure recorded as an audit event.
-- Times are UTC RFC 3339 text, as in 0001.

-- When the customer's name and addresses were erased (by retention or on request).
ALTER TABLE customers ADD COLUMN erased_at TEXT;

-- What was done to personal data, by whom (`cli`, `daemon`), and what it touched (counts as
-- JSON; never the data itself).
CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    detail  TEXT NOT NULL
);

-- How far retention has gone through rows that, once past it, stay past it (by id).
CREATE TABLE retention_marks (
    name    TEXT PRIMARY KEY,
    done_id BIGINT NOT NULL
);
