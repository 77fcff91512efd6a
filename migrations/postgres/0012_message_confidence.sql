-- How sure speech recognition was of a spoken message (0 to 1): a call's gathered speech and
-- the segments of call transcripts. Null for typed messages.
alter table message add column confidence double precision;
