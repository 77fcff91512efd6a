-- The SMS spine: where messages arrive (location), who sends them (contact), the dialog
-- state (conversation), every message in and out, the hand-off queue (ticket), and the
-- webhooks we acknowledged without running a flow (webhook_receipt).
-- Times are UTC milliseconds since the Unix epoch; JSON is stored as text.

create table location (
    location_id text primary key,
    name text not null,
    state text not null,
    timezone text not null,
    phone_number text unique,
    messaging_service_sid text unique,
    created_at_ms bigint not null
);

create table contact (
    contact_id text primary key,
    phone text not null unique,
    locale text not null default 'en',
    customer_type text not null default 'adult_use',
    first_name text,
    carrier_opt_out_at_ms bigint,
    created_at_ms bigint not null
);

create table conversation (
    conversation_id text primary key,
    contact_id text not null references contact (contact_id),
    location_id text not null references location (location_id),
    channel text not null,
    ownership text not null default 'bot',
    flow_id text,
    step_id text,
    slots text not null default '{}',
    engine text not null default '{}',
    -- The open hand-off ticket while a human owns the conversation.
    open_ticket_id text,
    -- Optimistic concurrency: every save checks and bumps it.
    version bigint not null default 0,
    last_activity_at_ms bigint not null,
    created_at_ms bigint not null,
    closed_at_ms bigint
);
-- At most one open conversation per contact, location and channel.
create unique index conversation_open on conversation (contact_id, location_id, channel)
    where closed_at_ms is null;

create table ticket (
    ticket_id text primary key,
    conversation_id text not null references conversation (conversation_id),
    queue text not null,
    priority bigint not null,
    tags text not null default '[]',
    reason text not null,
    summary text not null,
    status text not null default 'open',
    created_at_ms bigint not null,
    resolved_at_ms bigint
);
create index ticket_open on ticket (status, priority, created_at_ms);

create table message (
    message_id text primary key,
    conversation_id text not null references conversation (conversation_id),
    direction text not null,
    channel text not null,
    -- Provider id (Twilio MessageSid). Unique: inserting it is how a webhook is claimed.
    provider_id text unique,
    -- For a reply: the inbound message it answers, so a retried webhook gets the same reply.
    reply_to text,
    ticket_id text,
    body text not null,
    media text not null default '[]',
    status text not null,
    error_code text,
    created_at_ms bigint not null,
    updated_at_ms bigint not null
);
create index message_conversation on message (conversation_id, created_at_ms);
create index message_reply_to on message (reply_to);

create table conversation_event (
    event_id text primary key,
    conversation_id text not null references conversation (conversation_id),
    kind text not null,
    detail text not null default '{}',
    created_at_ms bigint not null
);
create index conversation_event_conversation on conversation_event (conversation_id, created_at_ms);

-- Webhooks acknowledged without a flow turn: status callbacks (key MessageSid + status) and
-- messages to numbers we do not serve. The key makes a retried webhook a no-op.
create table webhook_receipt (
    receipt_key text primary key,
    kind text not null,
    detail text not null default '{}',
    received_at_ms bigint not null
);

create table customer_order (
    order_id text primary key,
    contact_id text not null references contact (contact_id),
    location_id text not null references location (location_id),
    order_number text not null unique,
    status text not null,
    total_cents bigint not null,
    payment_method text not null,
    pickup_at_ms bigint,
    created_at_ms bigint not null
);
create index customer_order_contact on customer_order (contact_id, created_at_ms);
