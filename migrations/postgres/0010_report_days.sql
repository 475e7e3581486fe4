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

-- Statement-level triggers with transition tables: one insert per statement, however many
-- rows it writes (PostgreSQL allows one event per trigger with transition tables).
CREATE FUNCTION report_invitations_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at) SELECT sent_at FROM new_rows WHERE sent_at IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION report_invitations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at)
    SELECT t.at FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.sent_at), (n.sent_at)) AS t (at)
    WHERE t.at IS NOT NULL AND (
        o.sent_at IS DISTINCT FROM n.sent_at OR o.answered_at IS DISTINCT FROM n.answered_at
        OR o.csat IS DISTINCT FROM n.csat OR o.fcr IS DISTINCT FROM n.fcr
        OR o.nps IS DISTINCT FROM n.nps OR o.ces IS DISTINCT FROM n.ces
        OR o.answer_band IS DISTINCT FROM n.answer_band OR o.campaign <> n.campaign
        OR o.channel <> n.channel OR o.contact_id <> n.contact_id);
    RETURN NULL;
END $$;

CREATE FUNCTION report_invitations_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at) SELECT sent_at FROM old_rows WHERE sent_at IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER report_invitations_added AFTER INSERT ON invitations
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_invitations_added();
CREATE TRIGGER report_invitations_changed AFTER UPDATE ON invitations
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_invitations_changed();
CREATE TRIGGER report_invitations_removed AFTER DELETE ON invitations
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION report_invitations_removed();

CREATE FUNCTION report_contacts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
    SELECT closed_at, id, customer_id, category FROM new_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION report_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
    SELECT t.at, o.id, t.customer_id, t.category FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.closed_at, o.customer_id, o.category),
                                   (n.closed_at, n.customer_id, n.category))
            AS t (at, customer_id, category)
    WHERE o.customer_id <> n.customer_id OR o.agent_id IS DISTINCT FROM n.agent_id
        OR o.team_id IS DISTINCT FROM n.team_id OR o.category IS DISTINCT FROM n.category
        OR o.contact_channel IS DISTINCT FROM n.contact_channel
        OR o.opened_at IS DISTINCT FROM n.opened_at OR o.closed_at <> n.closed_at;
    RETURN NULL;
END $$;

CREATE FUNCTION report_contacts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
    SELECT closed_at, id, customer_id, category FROM old_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER report_contacts_added AFTER INSERT ON contacts
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_contacts_added();
CREATE TRIGGER report_contacts_changed AFTER UPDATE ON contacts
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_contacts_changed();
CREATE TRIGGER report_contacts_removed AFTER DELETE ON contacts
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION report_contacts_removed();
