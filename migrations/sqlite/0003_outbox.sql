-- Durable outbound delivery: every message not given inline as TwiML (CSR replies, proactive
-- messages, campaigns) is a row written in the same transaction as its cause, then delivered
-- by a worker through the provider's REST API, gated at send time by consent and quiet hours.
create table outbox (
    outbox_id text primary key,
    conversation_id text references conversation (conversation_id),
    location_id text not null references location (location_id),
    to_phone text not null,
    -- transactional | marketing
    purpose text not null,
    body text not null,
    -- pending | held | sending | sent | blocked | failed
    status text not null,
    attempts bigint not null default 0,
    next_attempt_at_ms bigint not null,
    -- While sending: when the claim lapses (a worker that died mid-send gives the row back).
    locked_until_ms bigint,
    provider_id text,
    -- Why a row is held, blocked or failed, or the last temporary error.
    reason text,
    created_at_ms bigint not null,
    sent_at_ms bigint
);
create index outbox_due on outbox (status, next_attempt_at_ms);
