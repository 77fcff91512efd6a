-- Integration secrets are kept sealed (AES-256-GCM under the data key, bound to the
-- integration's id), no longer as plain text: a copy of the database alone cannot forge events
-- or chat links. The server seals secrets stored before this migration at start and empties
-- `secret` (SQL cannot encrypt).
alter table integration add column secret_sealed text;

-- The send gate and the pipeline read consent from the ledger itself (the newest event per
-- number and purpose); consent_current is derived from it and checked by `consent verify`.
create index consent_event_latest on consent_event (phone, purpose, created_at_ms);

-- A double opt-in is confirmed only after its confirmation text was sent: the outbox row that
-- carries it.
alter table consent_request add column confirmation_outbox_id text;

-- When a send's outcome became unknown (no answer, or the worker died mid-send): before the
-- row is sent again the provider is asked whether it has the message already.
alter table outbox add column unsure_since_ms bigint;
