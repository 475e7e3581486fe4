-- NPS and CES answers beside CSAT and FCR on the invitation (reports count in one pass), the
-- time the customer took to answer, and the index the repeat-contact FCR reads contacts by.
ALTER TABLE invitations ADD COLUMN nps INTEGER;
ALTER TABLE invitations ADD COLUMN ces INTEGER;
-- Seconds from the send to the answer, and their band for medians: band k holds times from
-- 1.1^k up to 1.1^(k+1) seconds (band 0 everything under 1.1 s).
ALTER TABLE invitations ADD COLUMN answer_seconds INTEGER;
ALTER TABLE invitations ADD COLUMN answer_band INTEGER;

UPDATE invitations SET
    nps = (SELECT number FROM responses r WHERE r.invitation_id = invitations.id AND r.metric = 'nps'),
    ces = (SELECT number FROM responses r WHERE r.invitation_id = invitations.id AND r.metric = 'ces'),
    answer_seconds = MAX(0, CAST(round((julianday(answered_at) - julianday(sent_at)) * 86400) AS INTEGER))
WHERE answered_at IS NOT NULL AND sent_at IS NOT NULL;

WITH RECURSIVE bands (k, low) AS (
    SELECT 1, 1.1 UNION ALL SELECT k + 1, low * 1.1 FROM bands WHERE k < 300
)
UPDATE invitations SET answer_band = COALESCE((SELECT MAX(k) FROM bands WHERE low <= answer_seconds), 0)
WHERE answer_seconds IS NOT NULL;

CREATE INDEX contacts_by_customer_category ON contacts (customer_id, category, closed_at, id);
