-- The review inbox of the intent classifier: every message the bot was unsure about (it asked
-- which intent was meant) or did not understand, masked (digits of phone-length runs and email
-- addresses replaced), with the model's guesses, so flow authors can list them by frequency and
-- add one as an example (`leafdesk intents review`). `normalized` groups the same words.
create table misread (
    misread_id text primary key,
    conversation_id text not null,
    body text not null,
    normalized text not null,
    locale text not null,
    decision text not null,
    guesses text not null,
    created_at_ms bigint not null,
    reviewed_at_ms bigint,
    added_to text
);
create index misread_open on misread (normalized) where reviewed_at_ms is null;

-- What customers ask a store besides their order: address, directions, parking, payment
-- methods, what ID to bring, where it delivers, as JSON set by `leafdesk location update`.
alter table location add column details text not null default '{}';
