-- Per-day report summaries: what reports read instead of every invitation and contact.
--
-- `report_days` holds, per local day (in the summary's time zone) and per breakdown, for each
-- of its values the invitations sent that day with their answers' tallies, a histogram of
-- times to answer, and the contacts closed that day with those followed by a repeat contact.
-- Triggers note every change to the rows reports count in `report_changes`; the summary's
-- upkeep turns those into dirty days and counts them again. Reports read dirty days (and
-- the partial days at a range's ends) from the rows themselves, so they are always exact.
CREATE TABLE report_summary (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    time_zone             TEXT NOT NULL,
    repeat_window_seconds BIGINT NOT NULL,
    csat_top_box          SMALLINT NOT NULL
);

CREATE TABLE report_days (
    day       DATE NOT NULL,
    dimension TEXT NOT NULL,
    -- Per value of the breakdown (agents and teams by row id): the invitations' tallies, the
    -- contacts and repeats, answers per time-to-answer band; encoded with postcard.
    tallies   BYTEA NOT NULL,
    PRIMARY KEY (dimension, day)
);

-- Days to count again; `version` rises with each new change, so counting that read an older
-- version leaves the day dirty.
CREATE TABLE report_dirty_days (
    day     DATE PRIMARY KEY,
    version BIGINT NOT NULL
);

-- One row per change to what reports count: the time it touches (an invitation's send, a
-- contact's close) and, for a contact, its place among the customer's contacts of its
-- category (the contact before it there may have become, or stopped being, a repeat).
CREATE TABLE report_changes (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    contact_id  BIGINT,
    customer_id BIGINT,
    category    TEXT
);

CREATE INDEX invitations_by_contact ON invitations (contact_id);

CREATE FUNCTION report_invitation_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sent_at IS NOT DISTINCT FROM NEW.sent_at
        AND OLD.answered_at IS NOT DISTINCT FROM NEW.answered_at
        AND OLD.csat IS NOT DISTINCT FROM NEW.csat AND OLD.fcr IS NOT DISTINCT FROM NEW.fcr
        AND OLD.nps IS NOT DISTINCT FROM NEW.nps AND OLD.ces IS NOT DISTINCT FROM NEW.ces
        AND OLD.answer_band IS NOT DISTINCT FROM NEW.answer_band
        AND OLD.campaign = NEW.campaign AND OLD.channel = NEW.channel
        AND OLD.contact_id = NEW.contact_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.sent_at IS NOT NULL THEN
        INSERT INTO report_changes (at) VALUES (OLD.sent_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.sent_at IS NOT NULL
        AND (TG_OP = 'INSERT' OR NEW.sent_at IS DISTINCT FROM OLD.sent_at) THEN
        INSERT INTO report_changes (at) VALUES (NEW.sent_at);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER report_invitation_change AFTER INSERT OR UPDATE OR DELETE ON invitations
FOR EACH ROW EXECUTE FUNCTION report_invitation_change();

CREATE FUNCTION report_contact_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.customer_id = NEW.customer_id
        AND OLD.agent_id IS NOT DISTINCT FROM NEW.agent_id
        AND OLD.team_id IS NOT DISTINCT FROM NEW.team_id
        AND OLD.category IS NOT DISTINCT FROM NEW.category
        AND OLD.contact_channel IS NOT DISTINCT FROM NEW.contact_channel
        AND OLD.opened_at IS NOT DISTINCT FROM NEW.opened_at
        AND OLD.closed_at = NEW.closed_at THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO report_changes (at, contact_id, customer_id, category)
            VALUES (OLD.closed_at, OLD.id, OLD.customer_id, OLD.category);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO report_changes (at, contact_id, customer_id, category)
            VALUES (NEW.closed_at, NEW.id, NEW.customer_id, NEW.category);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER report_contact_change AFTER INSERT OR UPDATE OR DELETE ON contacts
FOR EACH ROW EXECUTE FUNCTION report_contact_change();
