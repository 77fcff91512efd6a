-- TCPA consent: an append-only ledger of every opt-in and opt-out with its evidence, and the
-- current consent per number and purpose derived from it (kept in the same transaction).
create table consent_event (
    consent_event_id text primary key,
    phone text not null,
    -- transactional | marketing
    purpose text not null,
    -- opt_in | opt_out
    action text not null,
    -- sms_keyword | twilio_opt_out | carrier_21610 | web_form | web_chat | voice | staff | import
    source text not null,
    -- JSON: message id and raw text, IP and user agent, disclosure and version, staff member
    evidence text not null,
    created_at_ms bigint not null
);
create index consent_event_phone on consent_event (phone, created_at_ms);

-- Rows are never updated or deleted: the ledger is the proof.
create function consent_event_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the consent ledger is append-only';
end
$$;
create trigger consent_event_no_update_or_delete before update or delete on consent_event
    for each row execute function consent_event_append_only();

create table consent_current (
    phone text not null,
    purpose text not null,
    -- opted_in | opted_out
    status text not null,
    consent_event_id text not null references consent_event (consent_event_id),
    updated_at_ms bigint not null,
    -- When the one opt-out confirmation text was last sent (at most one per 5 minutes).
    confirmation_sent_at_ms bigint,
    primary key (phone, purpose)
);
