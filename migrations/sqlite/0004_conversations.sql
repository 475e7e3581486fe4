-- Surveys as conversations over SMS and WhatsApp, and the inbox of provider callbacks.
-- Times are UTC RFC 3339 text, as in 0001.

-- What providers call back with (replies, delivery statuses), stored as received before it is
-- interpreted. A provider's retry of an event (same provider and event id) adds nothing.
-- `outcome` says what interpreting it did; `error` why it could not be interpreted (replayable).
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT,
    outcome      TEXT,
    error        TEXT,
    UNIQUE (provider, event_id)
);

CREATE INDEX inbox_failed ON inbox (id) WHERE error IS NOT NULL;

-- Where a survey over chat stands: the question asked last (NULL once thanked), whether it
-- was asked again after a reply that was no answer, and when the customer last wrote
-- (WhatsApp's 24-hour window).
ALTER TABLE invitations ADD COLUMN question TEXT;
ALTER TABLE invitations ADD COLUMN reasked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invitations ADD COLUMN last_inbound_at TEXT;

-- The question a chat message asks, and what the provider last reported of the message
-- (sent, delivered, read; failed or undelivered moves the invitation to its next channel).
ALTER TABLE deliveries ADD COLUMN question TEXT;
ALTER TABLE deliveries ADD COLUMN provider_status TEXT;

CREATE INDEX deliveries_by_provider_message ON deliveries (provider_message_id);

-- Each channel's workers claim its own deliveries, in due order.
DROP INDEX deliveries_queued;
CREATE INDEX deliveries_queued ON deliveries (channel, due_at) WHERE status = 'queued';
CREATE INDEX customers_by_phone ON customers (phone);
CREATE INDEX customers_by_whatsapp ON customers (whatsapp);
