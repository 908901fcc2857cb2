-- Offline-first sync (issue 4).

-- New companies may sign in offline for 72 h by default; existing rows keep
-- what they had. SQLite has no ALTER COLUMN ... SET DEFAULT, and sqlx runs
-- this in a transaction where foreign keys cannot be turned off for a table
-- rebuild (DROP TABLE companies would cascade into users), so the default is
-- edited in the stored CREATE TABLE text: SQLite documents changing a default
-- this way as safe. The ADD COLUMNs that follow bump the schema version, so
-- every connection reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(replace(sql,
    'offline_allowed         INTEGER NOT NULL DEFAULT 0',
    'offline_allowed         INTEGER NOT NULL DEFAULT 1'),
    'offline_max_hours       INTEGER NOT NULL DEFAULT 0',
    'offline_max_hours       INTEGER NOT NULL DEFAULT 72')
WHERE type = 'table' AND name = 'companies';
PRAGMA writable_schema = OFF;

-- `last_change_seq` is the company's change sequence (taken with
-- `UPDATE ... RETURNING` so the row lock orders writers), `change_seq` the
-- sequence number of the company row's own last change.
ALTER TABLE companies ADD COLUMN last_change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE companies ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE users ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
-- Soft delete: a deleted user is a tombstone for clients, never shown or signed in.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_company_change_idx ON users (company_id, change_seq);

-- Existing rows get sequence numbers so a first pull (since 0) returns them:
-- users 1..n in id order, then the company row n+1.
UPDATE users SET change_seq = (
    SELECT COUNT(*) FROM users u2 WHERE u2.company_id = users.company_id AND u2.id <= users.id
);
UPDATE companies SET change_seq = 1 + (
    SELECT COUNT(*) FROM users u WHERE u.company_id = companies.id
);
UPDATE companies SET last_change_seq = change_seq;

-- Push idempotency: the first result of a key, replayed for any later copy.
CREATE TABLE applied_mutations (
    company_id      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    result_json     TEXT NOT NULL,
    at              INTEGER NOT NULL,
    PRIMARY KEY (company_id, idempotency_key)
);

-- Trusted devices for /login/resume. Only the SHA-256 of the token is stored.
CREATE TABLE device_grants (
    token_hash       TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    second_factor_at INTEGER,
    expires_at       INTEGER NOT NULL,
    revoked_at       INTEGER
);
CREATE INDEX device_grants_user_idx ON device_grants (user_id);
