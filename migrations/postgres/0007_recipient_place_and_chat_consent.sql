-- Where a contact lives, when the e-commerce platform knows it: the USPS state code and the
-- IANA timezone. The send gate prefers these to the area code's place (compliance::gate).
alter table contact add column state text;
alter table contact add column timezone text;

-- Where a double opt-in request was made: the public web form, or the web chat widget.
alter table consent_request add column source text not null default 'web_form';
