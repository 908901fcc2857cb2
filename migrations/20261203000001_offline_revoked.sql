-- Accounts the cloud disabled, deleted, or whose password it no longer
-- accepts (issue 10, finding 4): their offline verifier is gone and this row
-- refuses an offline sign-in with a clear message until an online sign-in of
-- the same account succeeds again.
CREATE TABLE offline_revoked (
    email TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
    user_id TEXT,
    reason TEXT NOT NULL CHECK (reason IN ('disabled', 'deleted', 'credentials')),
    revoked_at INTEGER NOT NULL
);
