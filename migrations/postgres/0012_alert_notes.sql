-- Each step of an alert keeps its own note: `note` stays the acknowledgement's, and resolving
-- writes `resolved_note` (it used to replace `note`). Added, not renamed, so a daemon of the
-- previous version keeps working during an upgrade. An earlier note of an alert resolved
-- without being acknowledged was written on resolving: it moves.
ALTER TABLE alerts ADD COLUMN resolved_note TEXT;
UPDATE alerts SET resolved_note = note, note = NULL
WHERE acknowledged_at IS NULL AND note IS NOT NULL;
