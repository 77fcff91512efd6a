-- Who wrote an outbound message: a staff member's name for a person's reply, null for the
-- bot. The outbox row carries it (and its ticket) until it is sent and filed as a message, so
-- transcripts in the console and the CLI say who spoke and never count a reply as the
-- customer's.
alter table outbox add column ticket_id text;
alter table outbox add column author text;
alter table message add column author text;
