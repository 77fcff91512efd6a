-- Who wrote an outbound message: a staff member's name for a person's reply, null for the
-- bot. The outbox row carries it (and its ticket) until it is sent and filed as a message, so
-- transcripts in the console and the CLI say who spoke and never count a reply as the
-- customer's.
alter table outbox add column ticket_id text;
alter table outbox add column author text;
alter table message add column author text;

-- The console's queue: open tickets in their order (priority, then age), read a page at a time.
create index ticket_queue_order on ticket (priority, created_at_ms, ticket_id) where status = 'open';
-- How many are open per queue, counted from the index alone.
create index ticket_open_queue on ticket (queue, snoozed_until_ms) where status = 'open';
