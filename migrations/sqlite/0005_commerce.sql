-- Commerce: the built-in implementation of the Commerce port (products, stock per location,
-- web-only promotions, customer records, order lines, store hours), the integrations that send
-- signed events and every event they sent (claimed by id, so a retry does nothing twice), and
-- flow outcomes with their CRM tags, counted for reports.

alter table location add column open_hour bigint not null default 9;
alter table location add column close_hour bigint not null default 21;

create table product (
    product_id text primary key,
    sku text not null unique,
    name text not null,
    -- flower, pre_roll, concentrate, vape_cartridge, edible, tincture, topical
    category text not null,
    -- Per unit: net weight and THC, in milligrams (null when unknown).
    net_weight_mg bigint,
    thc_mg bigint,
    price_cents bigint not null,
    created_at_ms bigint not null
);

create table inventory (
    location_id text not null references location (location_id),
    product_id text not null references product (product_id),
    -- What the website shows and what the store's point of sale counts; they should agree.
    online_quantity bigint not null,
    store_quantity bigint not null,
    updated_at_ms bigint not null,
    primary key (location_id, product_id)
);

create table promotion (
    promotion_id text primary key,
    product_id text not null references product (product_id),
    location_id text not null references location (location_id),
    price_cents bigint not null,
    -- 1: the price is offered online only (the store's shelf price differs by design).
    web_only bigint not null,
    description text not null,
    starts_at_ms bigint not null,
    ends_at_ms bigint not null
);
create index promotion_product on promotion (product_id, location_id, ends_at_ms);

create table customer (
    -- The e-commerce platform's id for the customer.
    customer_id text primary key,
    contact_id text not null unique references contact (contact_id),
    location_id text not null references location (location_id),
    customer_type text not null,
    date_of_birth text,
    -- The medical recommendation's number, sealed like uploads (AES-256-GCM, key outside the
    -- database), and its last day (YYYY-MM-DD, location time).
    recommendation_number_sealed blob,
    recommendation_expires_on text,
    -- verified, expired, pending_review, rejected
    verification_status text not null,
    preferred_channel text not null,
    non_resident bigint not null default 0,
    -- Why checkout is locked (recommendation_expired, id_verification_failed), if it is.
    locked_reason text,
    created_at_ms bigint not null,
    updated_at_ms bigint not null
);

alter table customer_order add column fulfillment text not null default 'pickup';

create table order_line (
    order_id text not null references customer_order (order_id),
    line_no bigint not null,
    product_id text not null references product (product_id),
    quantity bigint not null,
    unit_price_cents bigint not null,
    primary key (order_id, line_no)
);

create table integration (
    integration_id text primary key,
    name text not null unique,
    -- The HMAC key; shown once when created. Kept as is: verifying an HMAC needs the key.
    secret text not null,
    created_at_ms bigint not null,
    revoked_at_ms bigint
);

create table event_received (
    integration_id text not null references integration (integration_id),
    -- The platform's id; inserting it is how an event is claimed.
    event_id text not null,
    event_type text not null,
    customer_id text not null,
    body text not null,
    -- What leafdesk did: the JSON answered to the platform, also for its retries.
    result text not null,
    received_at_ms bigint not null,
    primary key (integration_id, event_id)
);

-- Counted per committed batch of turns: one row per flow and outcome, not per run, so that
-- recording them costs the message path almost nothing.
create table flow_outcome (
    outcome_id text primary key,
    flow_id text not null,
    outcome text not null,
    -- CRM categories (JSON array), from the flow's tags.
    tags text not null,
    runs bigint not null,
    ended_at_ms bigint not null
);
create index flow_outcome_ended on flow_outcome (ended_at_ms);
