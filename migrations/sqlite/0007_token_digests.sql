-- Survey token hashes as their 32 bytes rather than 64 hex digits: the unique index that every
-- planned invitation joins is half the size, so it stays in memory at millions of rows.
-- (The column keeps its TEXT declaration; SQLite stores the BLOBs as they are.)
UPDATE invitations SET token_sha256 = unhex(token_sha256) WHERE typeof(token_sha256) = 'text';
