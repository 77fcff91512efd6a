-- Marketing campaigns: written by marketing, approved by a lead or an admin (never the author),
-- sent through the outbox and its send gate to a segment intersected with marketing consent.
create table campaign (
    campaign_id text primary key,
    name text not null,
    location_id text not null references location (location_id),
    -- JSON: customer_type, source (a consent source group), opted_in_since_ms; all optional.
    segment text not null,
    -- JSON: the message per locale, {"en": "...", "es": "..."}; merge fields {{first_name}}, {{store}}.
    bodies text not null,
    -- draft | approved (waiting for its time) | sending | paused | cancelled | finished
    status text not null,
    created_by text not null,
    created_at_ms bigint not null,
    approved_by text,
    approved_at_ms bigint,
    -- When to start (null: as soon as it is approved).
    send_at_ms bigint,
    started_at_ms bigint,
    finished_at_ms bigint,
    -- Recipients planned when it started.
    planned bigint not null default 0
);
create index campaign_status on campaign (status, send_at_ms);

-- Each number a campaign texts, once: the primary key is the guarantee, across restarts and
-- replicas. planned -> queued (its outbox row written in the same transaction), or blocked
-- (with its reason) or cancelled.
create table campaign_recipient (
    campaign_id text not null references campaign (campaign_id),
    phone text not null,
    state text not null,
    reason text,
    outbox_id text,
    primary key (campaign_id, phone)
);
-- (No index on the state: recipients are walked along the primary key. On PostgreSQL one made
-- every batch of a 100,000-number campaign slower: the queued rows' old entries stay in it until
-- vacuum.)

-- The campaign an outbox row belongs to: a paused or cancelled campaign's rows wait or stop.
alter table outbox add column campaign_id text;
create index outbox_campaign on outbox (campaign_id, status);

-- Reports: flow outcomes per store, and customer messages by time.
alter table flow_outcome add column location_id text;
create index flow_outcome_location on flow_outcome (location_id, ended_at_ms);
create index message_direction_created on message (direction, created_at_ms);
create index consent_event_purpose_created on consent_event (purpose, created_at_ms);
create index ticket_created on ticket (created_at_ms);
create index conversation_created on conversation (created_at_ms);

-- The carrier's last word on an outbox row's text (delivered, undelivered…) and its rank, from
-- status callbacks: campaign texts belong to no conversation, so no message row carries it.
alter table outbox add column delivery text;
alter table outbox add column delivery_rank bigint;
create index outbox_provider on outbox (provider_id);
