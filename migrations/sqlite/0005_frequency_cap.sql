-- When each customer was last invited by any campaign: the contact-frequency cap admits a
-- new invitation only when this is older than the cap, and moves it forward in the same
-- statement, so two planners at once cannot both invite the customer.
ALTER TABLE customers ADD COLUMN last_invited_at TEXT;

UPDATE customers SET last_invited_at =
    (SELECT MAX(i.created_at) FROM invitations i WHERE i.customer_id = customers.id);
