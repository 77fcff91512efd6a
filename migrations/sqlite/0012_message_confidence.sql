-- How sure speech recognition was of a spoken message (0 to 1): a call's gathered speech and
-- the segments of call transcripts. Null for typed messages.
alter table message add column confidence real;

-- People's chat replies no chat window has shown yet: the chat-by-text sweep reads only these.
create index message_chat_unseen on message (created_at_ms) where status = 'sent' and channel = 'web';

-- When a staff member's open console last said it is there (its live stream, every few
-- minutes): who can take a call now, without keeping an unattended session from idling out.
alter table staff_session add column present_at_ms bigint;
