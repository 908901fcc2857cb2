-- Second factor (issue 3). Every counter, limit and challenge lives here, not in
-- process memory, so several instances on one database enforce the rules together.

-- Failure counters per account: password and code failures apart, plus the run of
-- consecutive failures of either kind that drives the growing delay and the lock.
ALTER TABLE users ADD COLUMN password_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN code_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failure_at INTEGER;

-- One login attempt waiting for its second factor. Only hashes of the attempt id
-- and of the code are stored; the code hash is bound to the attempt id.
CREATE TABLE login_challenges (
    id_hash         TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('second_factor', 'enrollment')),
    -- The verified phone (second_factor) or the number being enrolled.
    phone           TEXT,
    code_hash       TEXT,
    code_expires_at INTEGER,
    attempts_left   INTEGER NOT NULL CHECK (attempts_left >= 0),
    sends           INTEGER NOT NULL DEFAULT 0,
    last_sent_at    INTEGER,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    closed_reason   TEXT
);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);

-- Every code sent, for the per-user and per-number send limits (SMS pumping).
CREATE TABLE sms_sends (
    id      TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone   TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX sms_sends_user_idx ON sms_sends (user_id, sent_at);
CREATE INDEX sms_sends_phone_idx ON sms_sends (phone, sent_at);

-- Development outbox (dev mode's SMS gateway). Empty in production.
CREATE TABLE sms_outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    to_phone TEXT NOT NULL,
    body     TEXT NOT NULL,
    sent_at  INTEGER NOT NULL
);
CREATE INDEX sms_outbox_to_idx ON sms_outbox (to_phone);

-- Security audit trail. No foreign keys: events outlive what they mention.
-- `detail` never holds a secret (code, password, token, attempt id).
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    actor_user_id   TEXT,
    subject_user_id TEXT,
    company_id      TEXT,
    detail          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_user_id, at);
CREATE INDEX audit_events_company_idx ON audit_events (company_id, at);
