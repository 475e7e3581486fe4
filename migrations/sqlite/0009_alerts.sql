-- Detractor alerts: one per answered invitation whose answers crossed a threshold, raised in
-- the transaction that records the answer, then acknowledged and resolved by people. Their
-- messages (to the team's lead, to a webhook) are deliveries of kind 'alert' in the outbox.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    invitation_id   INTEGER NOT NULL UNIQUE REFERENCES invitations (id),
    reasons         TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at     TEXT,
    resolved_by     TEXT,
    note            TEXT
);

CREATE INDEX alerts_by_state ON alerts (state, created_at);
