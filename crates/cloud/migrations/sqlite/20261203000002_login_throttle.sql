-- Sign-in throttling (issue 10, finding 5).

-- Failed sign-ins of emails that match no account, counted exactly like an
-- account's (same delay, same lock), so the answers never tell the two apart.
-- Keyed by the SHA-256 of the normalised email: the table holds no addresses.
CREATE TABLE unknown_login_failures (
    email_hash           TEXT PRIMARY KEY NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at      INTEGER
);

-- Failed sign-ins per source address in a fixed window: slows one machine
-- guessing across many accounts without counting against (or locking) them.
CREATE TABLE login_sources (
    source       TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);
