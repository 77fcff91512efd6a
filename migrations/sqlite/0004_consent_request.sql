-- Double opt-in: a web form request (step 1, with the disclosure shown, IP and user agent) that
-- becomes a marketing opt-in in the consent ledger when the number replies YES (step 2).
create table consent_request (
    request_id text primary key,
    phone text not null,
    purpose text not null,
    location_id text not null references location (location_id),
    disclosure_version text not null,
    disclosure_text text not null,
    ip text not null,
    user_agent text not null,
    created_at_ms bigint not null,
    confirmed_at_ms bigint
);
create index consent_request_phone on consent_request (phone, created_at_ms);
