-- Where a contact lives, when the e-commerce platform knows it: the USPS state code and the
-- IANA timezone. The send gate prefers these to the area code's place (compliance::gate).
alter table contact add column state text;
alter table contact add column timezone text;
