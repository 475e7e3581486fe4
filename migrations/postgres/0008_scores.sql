-- NPS and CES answers beside CSAT and FCR on the invitation (reports count in one pass), the
-- time the customer took to answer, and the index the repeat-contact FCR reads contacts by.
ALTER TABLE invitations ADD COLUMN nps SMALLINT;
ALTER TABLE invitations ADD COLUMN ces SMALLINT;
-- Seconds from the send to the answer, and their band for medians: band k holds times from
-- 1.1^k up to 1.1^(k+1) seconds (band 0 everything under 1.1 s).
ALTER TABLE invitations ADD COLUMN answer_seconds BIGINT;
ALTER TABLE invitations ADD COLUMN answer_band SMALLINT;

UPDATE invitations SET
    nps = (SELECT number FROM responses r WHERE r.invitation_id = invitations.id AND r.metric = 'nps'),
    ces = (SELECT number FROM responses r WHERE r.invitation_id = invitations.id AND r.metric = 'ces'),
    answer_seconds = GREATEST(0, round(EXTRACT(EPOCH FROM answered_at - sent_at)))
WHERE answered_at IS NOT NULL AND sent_at IS NOT NULL;

UPDATE invitations SET answer_band = CASE WHEN answer_seconds >= 1.1
    THEN floor(ln(answer_seconds) / ln(1.1)) ELSE 0 END
WHERE answer_seconds IS NOT NULL;

CREATE INDEX contacts_by_customer_category ON contacts (customer_id, category, closed_at, id);
