-- Survey token hashes as their 32 bytes rather than 64 hex digits: the unique index that every
-- planned invitation joins is half the size, so it stays in memory at millions of rows.
ALTER TABLE invitations ALTER COLUMN token_sha256 TYPE BYTEA USING decode(token_sha256, 'hex');
