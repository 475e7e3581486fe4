-- Rules for planning: the contact-frequency cap and the planning runs (scheduled and by hand).

-- When each customer was last invited by any campaign: the contact-frequency cap admits a
-- new invitation only when this is older than the cap, and moves it forward in the same
-- statement, so two planners at once cannot both invite the customer.
ALTER TABLE customers ADD COLUMN last_invited_at TEXT;

UPDATE customers SET last_invited_at =
    (SELECT MAX(i.created_at) FROM invitations i WHERE i.customer_id = customers.id);

-- Planning runs: scheduled (`trigger` = 'schedule', one row per tick, so across daemons a
-- tick is planned once; the daemon holding `lease_until` plans it, another takes an
-- unfinished one over when the lease runs out), and by hand ('cli', 'api').
CREATE TABLE campaign_runs (
    id            INTEGER PRIMARY KEY,
    campaign      TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    owner         TEXT NOT NULL,
    lease_until   TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    eligible      BIGINT,
    invited       BIGINT,
    skipped       TEXT,
    error         TEXT
);

CREATE UNIQUE INDEX campaign_runs_ticks ON campaign_runs (campaign, scheduled_for)
    WHERE trigger = 'schedule';
CREATE INDEX campaign_runs_by_campaign ON campaign_runs (campaign, started_at);

-- Messages sent per channel since a moment: the daily caps.
CREATE INDEX deliveries_sent ON deliveries (channel, sent_at) WHERE sent_at IS NOT NULL;
