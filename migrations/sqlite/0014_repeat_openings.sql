-- FCR from the contacts: a contact is a repeat when another contact of the customer in its
-- category was opened within the repeat window after it closed (it used to look only at the
-- next contact by close, whenever that one was opened). A change to a contact now touches
-- the contacts closed in the window before it opened, so the changes note its opening (its
-- close, when the opening is not known). The summary's days were counted by the old
-- definition: all of them are counted again.
ALTER TABLE report_changes ADD COLUMN opened_at TEXT;

DROP TRIGGER report_contact_added;
DROP TRIGGER report_contact_changed;
DROP TRIGGER report_contact_removed;

CREATE TRIGGER report_contact_added AFTER INSERT ON contacts
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
        VALUES (NEW.closed_at, COALESCE(NEW.opened_at, NEW.closed_at), NEW.id, NEW.customer_id,
                NEW.category);
END;

CREATE TRIGGER report_contact_changed AFTER UPDATE ON contacts
WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.agent_id IS NOT NEW.agent_id
  OR OLD.team_id IS NOT NEW.team_id OR OLD.category IS NOT NEW.category
  OR OLD.contact_channel IS NOT NEW.contact_channel OR OLD.opened_at IS NOT NEW.opened_at
  OR OLD.closed_at IS NOT NEW.closed_at
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
        VALUES (OLD.closed_at, COALESCE(OLD.opened_at, OLD.closed_at), OLD.id, OLD.customer_id,
                OLD.category),
               (NEW.closed_at, COALESCE(NEW.opened_at, NEW.closed_at), NEW.id, NEW.customer_id,
                NEW.category);
END;

CREATE TRIGGER report_contact_removed AFTER DELETE ON contacts
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
        VALUES (OLD.closed_at, COALESCE(OLD.opened_at, OLD.closed_at), OLD.id, OLD.customer_id,
                OLD.category);
END;

INSERT INTO report_dirty_days (day, version) SELECT DISTINCT day, 1 FROM report_days WHERE TRUE
ON CONFLICT (day) DO UPDATE SET version = report_dirty_days.version + 1;
