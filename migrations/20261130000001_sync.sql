-- Offline-first sync (issue 4). The cache becomes "cloud state + pending
-- edits replayed on top": every local edit is written to the cached row AND
-- to the outbox in one transaction; the sync pushes the outbox in order and
-- pulls the company's changes since `meta.sync_cursor`.

-- Edits not yet acknowledged by the cloud, in the order they were made.
-- `mutation_json` is a `protocol::sync::Mutation` (idempotency key, base
-- version, changes and the base values of exactly those fields).
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    -- Only this user's session pushes the row (another person signing in on
    -- this computer never sends someone else's edits).
    actor_user_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    entity_kind TEXT NOT NULL CHECK (entity_kind IN ('user', 'company')),
    entity_id TEXT NOT NULL,
    -- A display name for a notice ("Your change to Tom Baker was not saved").
    subject TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    mutation_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_actor ON outbox (actor_user_id, seq);

-- Edits the cloud refused or found in conflict after the person had moved
-- on: shown in the status bar until dismissed.
CREATE TABLE sync_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL,
    dismissed_at INTEGER
);

-- Offline sign-in: an argon2id verifier of the password (PHC string with a
-- salt drawn on this device), never the password. Failures are counted here
-- so the slow-down and lock survive a restart.
CREATE TABLE offline_credentials (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE UNIQUE,
    verifier TEXT NOT NULL,
    last_online_login_at INTEGER NOT NULL,
    last_second_factor_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER
);
