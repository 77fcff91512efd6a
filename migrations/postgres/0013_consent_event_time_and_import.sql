-- A consent event's `created_at_ms` is when consent was given or withdrawn, and the ledger's
-- order (current consent follows the latest event in time). An imported row may date from before
-- its import: `recorded_at_ms` is then when leafdesk recorded it (null: the same moment).
alter table consent_event add column recorded_at_ms bigint;
-- One ledger event per imported CSV row (a hash of the row): importing a file twice adds nothing.
alter table consent_event add column import_key text;
create unique index consent_event_import_key on consent_event (import_key);
-- Lists and filters of the console's consent page: by purpose and status, newest first.
create index consent_current_purpose on consent_current (purpose, status, updated_at_ms);
-- Pending double opt-ins, oldest first.
create index consent_request_pending on consent_request (created_at_ms) where confirmed_at_ms is null;

-- A consent file uploaded in the console waits here between its dry run and the import the
-- person confirms (any replica can finish it); kept afterwards as the record of what was imported.
create table consent_import (
    import_id text primary key,
    file_name text not null,
    body text not null,
    country text not null,
    staged_by text not null,
    staged_at_ms bigint not null,
    imported_at_ms bigint
);
