-- Staff who sign in to the console, their sessions, failed sign-ins (for lockout by account and
-- by network), the audit log, and what the console adds to tickets: who claimed one and when,
-- snoozes, notes and wrap-up.

create table staff_user (
    user_id text primary key,
    -- Lower-cased; one account per address.
    email text not null unique,
    -- argon2id, PHC string form.
    password_hash text not null,
    -- JSON array of role codes (csr, lead, verification, inventory, it, marketing, admin).
    roles text not null,
    display_name text not null,
    disabled_at_ms bigint,
    -- Failed sign-ins in a row, and until when the account refuses sign-in (backoff).
    failed_logins bigint not null default 0,
    locked_until_ms bigint,
    created_at_ms bigint not null,
    password_changed_at_ms bigint not null
);

create table staff_session (
    -- SHA-256 of the cookie's random token: a database read does not yield a usable cookie.
    token_hash text primary key,
    user_id text not null references staff_user (user_id),
    -- Sent as a hidden input in every form and checked on every state-changing request.
    csrf_token text not null,
    created_at_ms bigint not null,
    last_seen_at_ms bigint not null,
    -- Absolute expiry; idle expiry is counted from last_seen_at_ms.
    expires_at_ms bigint not null,
    revoked_at_ms bigint
);
create index staff_session_user on staff_session (user_id);

-- A failed sign-in from a network (for the per-IP backoff); old rows are pruned on write.
create table login_failure (
    ip text not null,
    at_ms bigint not null
);
create index login_failure_ip on login_failure (ip, at_ms);

-- Append-only: who did what to what, when (sign-ins and failures, role changes, PII reveals,
-- document views, consent changes made by staff, ticket transitions that matter).
create table audit_event (
    audit_id text primary key,
    at_ms bigint not null,
    -- The staff member's email, or `cli` / `system`.
    actor text not null,
    action text not null,
    target text not null default '',
    detail text not null default '{}',
    ip text not null default ''
);
create index audit_event_at on audit_event (at_ms);
create index audit_event_action on audit_event (action, at_ms);

alter table ticket add column assignee_id text references staff_user (user_id);
alter table ticket add column claimed_at_ms bigint;
alter table ticket add column snoozed_until_ms bigint;
alter table ticket add column first_reply_at_ms bigint;
alter table ticket add column resolved_by text;
-- Why it ended: resolved (back to the bot) or closed.
alter table ticket add column disposition text;
-- What the bot knew when it filed the ticket (its slots, as JSON): the product, both stock
-- counts, the platform's error codes and session, the order…, for the person who works it.
alter table ticket add column details text not null default '{}';
create index ticket_assignee on ticket (assignee_id, status);

-- Internal notes on a ticket: never sent to the customer.
create table ticket_note (
    note_id text primary key,
    ticket_id text not null references ticket (ticket_id),
    author_id text references staff_user (user_id),
    -- note, transfer, snooze, release: what the note came with.
    kind text not null,
    body text not null,
    created_at_ms bigint not null
);
create index ticket_note_ticket on ticket_note (ticket_id, created_at_ms);

create function audit_event_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only';
end
$$;
create trigger audit_event_no_update_or_delete before update or delete on audit_event
    for each row execute function audit_event_append_only();
create trigger audit_event_no_truncate before truncate on audit_event
    for each statement execute function audit_event_append_only();
