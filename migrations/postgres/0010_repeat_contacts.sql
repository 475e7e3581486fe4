-- FCR from the contact records: per contact, the seconds from its close to the opening of the
-- next contact of the same customer in the same category (NULL while there is none). Kept by
-- every contact import for the customers it touches, so reports count repeats in one pass.
ALTER TABLE contacts ADD COLUMN repeat_after BIGINT;

UPDATE contacts SET repeat_after = (
    SELECT MIN(CAST(EXTRACT(EPOCH FROM (COALESCE(n.opened_at, n.closed_at) - contacts.closed_at)) AS BIGINT))
    FROM contacts n
    WHERE n.customer_id = contacts.customer_id AND n.category IS NOT DISTINCT FROM contacts.category
      AND n.id <> contacts.id AND COALESCE(n.opened_at, n.closed_at) >= contacts.closed_at
);
