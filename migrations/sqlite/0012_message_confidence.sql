-- How sure speech recognition was of a spoken message (0 to 1): a call's gathered speech and
-- the segments of call transcripts. Null for typed messages.
alter table message add column confidence real;

-- People's chat replies no chat window has shown yet: the chat-by-text sweep reads only these.
create index message_chat_unseen on message (created_at_ms) where status = 'sent' and channel = 'web';

-- When a staff member's open console last said it is there (its live stream, every few
-- minutes): who can take a call now, without keeping an unattended session from idling out.
alter table staff_session add column present_at_ms bigint;

-- A web visitor who gave a phone number in the chat, until they type the code texted to it:
-- the disclosure they saw and where they were, kept as the consent's evidence.
create table widget_phone_link (
    visitor text primary key,
    location_id text not null,
    phone text not null,
    code_hash text not null,
    attempts bigint not null default 0,
    disclosure_version text not null,
    disclosure_text text not null,
    ip text not null,
    user_agent text not null,
    created_at_ms bigint not null,
    expires_at_ms bigint not null
);
