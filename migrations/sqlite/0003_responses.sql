-- Answers from the survey page (and later from replies), one row per (invitation, question).
-- Answering again replaces the earlier answers. `metric` is the score a question feeds
-- (csat, fcr, nps, ces), copied from the questionnaire so reports need no template files.

CREATE TABLE responses (
    invitation_id INTEGER NOT NULL REFERENCES invitations (id),
    question      TEXT NOT NULL,
    metric        TEXT,
    number        INTEGER,
    text          TEXT,
    channel       TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    PRIMARY KEY (invitation_id, question)
);

-- The scores of an answered invitation, kept beside it so reports count in one pass over
-- invitations: the CSAT rating (1–5) and the resolution answer (1 yes, 0 no).
ALTER TABLE invitations ADD COLUMN csat INTEGER;
ALTER TABLE invitations ADD COLUMN fcr INTEGER;

CREATE INDEX invitations_by_sent_at ON invitations (sent_at);

-- The outbox's hot index holds only what is waiting: a delivery leaves it when claimed, so
-- claims, sends and retries do not grow it; lapsed claims are found by their lease.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_queued ON deliveries (due_at) WHERE status = 'queued';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
