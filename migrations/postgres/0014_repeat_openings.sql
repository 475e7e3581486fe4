-- FCR from the contacts: a contact is a repeat when another contact of the customer in its
-- category was opened within the repeat window after it closed (it used to look only at the
-- next contact by close, whenever that one was opened). A change to a contact now touches
-- the contacts closed in the window before it opened, so the changes note its opening (its
-- close, when the opening is not known). The summary's days were counted by the old
-- definition: all of them are counted again.
ALTER TABLE report_changes ADD COLUMN opened_at TIMESTAMPTZ;

CREATE OR REPLACE FUNCTION report_contacts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
    SELECT closed_at, COALESCE(opened_at, closed_at), id, customer_id, category FROM new_rows;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
    SELECT t.at, t.opened_at, o.id, t.customer_id, t.category
    FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (
            VALUES (o.closed_at, COALESCE(o.opened_at, o.closed_at), o.customer_id, o.category),
                   (n.closed_at, COALESCE(n.opened_at, n.closed_at), n.customer_id, n.category))
            AS t (at, opened_at, customer_id, category)
    WHERE o.customer_id <> n.customer_id OR o.agent_id IS DISTINCT FROM n.agent_id
        OR o.team_id IS DISTINCT FROM n.team_id OR o.category IS DISTINCT FROM n.category
        OR o.contact_channel IS DISTINCT FROM n.contact_channel
        OR o.opened_at IS DISTINCT FROM n.opened_at OR o.closed_at <> n.closed_at;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_contacts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (at, opened_at, contact_id, customer_id, category)
    SELECT closed_at, COALESCE(opened_at, closed_at), id, customer_id, category FROM old_rows;
    RETURN NULL;
END $$;

INSERT INTO report_dirty_days (day, version) SELECT DISTINCT day, 1 FROM report_days
ON CONFLICT (day) DO UPDATE SET version = report_dirty_days.version + 1;
