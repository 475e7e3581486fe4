-- A random key per delivery, set when it is first claimed and kept for its retries: the
-- email's Message-ID is made of it, so two databases (a restore, a re-created file, a staging
-- copy) never give different messages the same Message-ID, while a retry of one delivery
-- keeps its own.
ALTER TABLE deliveries ADD COLUMN message_key TEXT;
