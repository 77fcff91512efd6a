-- Medical re-verification: single-use, expiring upload links, and the documents customers send
-- through them or by MMS, sealed with AES-256-GCM (the key lives outside the database).
-- An order held while checkout is locked keeps the status it had, to resume it on approval.

create table upload_token (
    token_id text primary key,
    customer_id text not null references customer (customer_id),
    conversation_id text references conversation (conversation_id),
    expires_at_ms bigint not null,
    used_at_ms bigint,
    created_at_ms bigint not null
);
create index upload_token_customer on upload_token (customer_id, created_at_ms);

create table upload (
    upload_id text primary key,
    customer_id text not null references customer (customer_id),
    -- link (with its token) or mms
    source text not null,
    token_id text references upload_token (token_id),
    content_type text not null,
    size_bytes bigint not null,
    -- 12-byte nonce, then the AES-256-GCM ciphertext and tag.
    sealed bytea not null,
    ticket_id text references ticket (ticket_id),
    -- pending, approved, rejected
    review_status text not null,
    review_note text,
    created_at_ms bigint not null,
    reviewed_at_ms bigint
);
create index upload_customer on upload (customer_id, created_at_ms);

alter table customer_order add column held_status text;
