-- Trusted computers: after a second factor, a person may skip the code on that
-- computer for the company's number of days (0, the default, turns it off).
ALTER TABLE companies ADD COLUMN trusted_computer_days INTEGER NOT NULL DEFAULT 0;

-- One row per remembered computer. Only a hash of its token is stored; the
-- token lives in that computer's OS keychain. It counts while unexpired,
-- unrevoked and issued under the user's current security stamp, so any
-- security change (password, phone, factors, disable, reset) ends it.
CREATE TABLE trusted_computers (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL UNIQUE,
    label          TEXT NOT NULL,
    security_stamp INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX trusted_computers_user_idx ON trusted_computers (user_id);
