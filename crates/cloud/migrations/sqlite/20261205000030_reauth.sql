-- Re-authentication: when the session's holder last proved themselves again
-- (password and a second factor) before a security change; see
-- service::reauth. NULL: never.
ALTER TABLE sessions ADD COLUMN reauth_at INTEGER;

-- Sign-in attempts get a third purpose, 'reauth' (an attempt that proves a
-- factor for a signed-in session and never signs in). SQLite cannot alter a
-- CHECK constraint: the table is rebuilt with its rows (attempts are short
-- lived, but an open one keeps working across the upgrade).
CREATE TABLE login_challenges_new (
    id_hash         TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('second_factor', 'enrollment', 'reauth')),
    phone           TEXT,
    code_hash       TEXT,
    code_expires_at INTEGER,
    attempts_left   INTEGER NOT NULL CHECK (attempts_left >= 0),
    sends           INTEGER NOT NULL DEFAULT 0,
    last_sent_at    INTEGER,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    closed_reason   TEXT,
    security_stamp  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO login_challenges_new (id_hash, user_id, purpose, phone, code_hash,
    code_expires_at, attempts_left, sends, last_sent_at, created_at, expires_at, closed_at,
    closed_reason, security_stamp)
SELECT id_hash, user_id, purpose, phone, code_hash, code_expires_at, attempts_left, sends,
    last_sent_at, created_at, expires_at, closed_at, closed_reason, security_stamp
FROM login_challenges;
DROP TABLE login_challenges;
ALTER TABLE login_challenges_new RENAME TO login_challenges;
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);
