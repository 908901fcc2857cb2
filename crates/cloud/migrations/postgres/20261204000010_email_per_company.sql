-- Emails are unique per company, not across companies: answering an admin's
-- edit with "taken" for an address used at another dealership told that
-- admin who is a customer elsewhere. Still case-insensitive: "Dana@X" and
-- "dana@x" are one login within a company. Sign-in with an address several
-- companies share asks which company (only once the password matched).
DROP INDEX users_email_lower_key;
CREATE UNIQUE INDEX users_company_email_lower_key ON users (company_id, lower(email));
-- Sign-in looks an address up across every company.
CREATE INDEX users_email_lower_idx ON users (lower(email));
