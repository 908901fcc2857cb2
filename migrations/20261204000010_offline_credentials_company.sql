-- An email is unique per company on the cloud, not across companies, so one
-- address may have accounts at several companies: the offline verifier is
-- keyed by (email, company), not by the email alone. The table is rebuilt
-- (SQLite cannot drop a column's UNIQUE); existing rows keep working, with
-- the company of their cached user ('' when that user is not cached, which
-- never signs in offline anyway: the cached user and company decide).
CREATE TABLE offline_credentials_by_company (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    company_id TEXT NOT NULL DEFAULT '',
    verifier TEXT NOT NULL,
    last_online_login_at INTEGER NOT NULL,
    last_second_factor_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    UNIQUE (email, company_id)
);
INSERT INTO offline_credentials_by_company (user_id, email, company_id, verifier,
    last_online_login_at, last_second_factor_at, failures, last_failure_at)
SELECT oc.user_id, oc.email,
       coalesce((SELECT u.company_id FROM users u WHERE u.id = oc.user_id), ''),
       oc.verifier, oc.last_online_login_at, oc.last_second_factor_at, oc.failures,
       oc.last_failure_at
FROM offline_credentials oc;
DROP TABLE offline_credentials;
ALTER TABLE offline_credentials_by_company RENAME TO offline_credentials;
