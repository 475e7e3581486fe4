-- A delivery status that arrives before the send it reports is recorded (a provider may call
-- back within milliseconds of accepting a message) is parked with the provider's message id
-- it awaits, and applied once a delivery carries that id.
ALTER TABLE inbox ADD COLUMN awaits TEXT;
CREATE INDEX inbox_parked ON inbox (id) WHERE outcome = 'status_parked';
