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
    repeat_window_seconds INTEGER NOT NULL,
    csat_top_box          INTEGER NOT NULL
);

CREATE TABLE report_days (
    day       TEXT NOT NULL,
    dimension TEXT NOT NULL,
    -- Per value of the breakdown (agents and teams by row id): the invitations' tallies, the
    -- contacts and repeats, answers per time-to-answer band; encoded with postcard.
    tallies   BLOB NOT NULL,
    PRIMARY KEY (dimension, day)
);

-- Days to count again; `version` rises with each new change, so counting that read an older
-- version leaves the day dirty.
CREATE TABLE report_dirty_days (
    day     TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

-- One row per change to what reports count: the time it touches (an invitation's send, a
-- contact's close) and, for a contact, its place among the customer's contacts of its
-- category (the contact before it there may have become, or stopped being, a repeat).
CREATE TABLE report_changes (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    contact_id  INTEGER,
    customer_id INTEGER,
    category    TEXT
);

CREATE INDEX invitations_by_contact ON invitations (contact_id);

CREATE TRIGGER report_invitation_added AFTER INSERT ON invitations
WHEN NEW.sent_at IS NOT NULL
BEGIN
    INSERT INTO report_changes (at) VALUES (NEW.sent_at);
END;

CREATE TRIGGER report_invitation_changed AFTER UPDATE ON invitations
WHEN OLD.sent_at IS NOT NEW.sent_at OR OLD.answered_at IS NOT NEW.answered_at
  OR OLD.csat IS NOT NEW.csat OR OLD.fcr IS NOT NEW.fcr OR OLD.nps IS NOT NEW.nps
  OR OLD.ces IS NOT NEW.ces OR OLD.answer_band IS NOT NEW.answer_band
  OR OLD.campaign IS NOT NEW.campaign OR OLD.channel IS NOT NEW.channel
  OR OLD.contact_id IS NOT NEW.contact_id
BEGIN
    INSERT INTO report_changes (at) SELECT OLD.sent_at WHERE OLD.sent_at IS NOT NULL;
    INSERT INTO report_changes (at)
        SELECT NEW.sent_at WHERE NEW.sent_at IS NOT NULL AND NEW.sent_at IS NOT OLD.sent_at;
END;

CREATE TRIGGER report_invitation_removed AFTER DELETE ON invitations
WHEN OLD.sent_at IS NOT NULL
BEGIN
    INSERT INTO report_changes (at) VALUES (OLD.sent_at);
END;

CREATE TRIGGER report_contact_added AFTER INSERT ON contacts
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
        VALUES (NEW.closed_at, NEW.id, NEW.customer_id, NEW.category);
END;

CREATE TRIGGER report_contact_changed AFTER UPDATE ON contacts
WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.agent_id IS NOT NEW.agent_id
  OR OLD.team_id IS NOT NEW.team_id OR OLD.category IS NOT NEW.category
  OR OLD.contact_channel IS NOT NEW.contact_channel OR OLD.opened_at IS NOT NEW.opened_at
  OR OLD.closed_at IS NOT NEW.closed_at
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
        VALUES (OLD.closed_at, OLD.id, OLD.customer_id, OLD.category),
               (NEW.closed_at, NEW.id, NEW.customer_id, NEW.category);
END;

CREATE TRIGGER report_contact_removed AFTER DELETE ON contacts
BEGIN
    INSERT INTO report_changes (at, contact_id, customer_id, category)
        VALUES (OLD.closed_at, OLD.id, OLD.customer_id, OLD.category);
END;
