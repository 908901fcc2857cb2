-- Onboarding and passwords. A company's session policy: the desktop locks
-- after idle_lock_minutes without input, and the cloud refuses a session
-- max_session_hours after its sign-in (NIST SP 800-63B AAL2 limits).
ALTER TABLE companies ADD COLUMN idle_lock_minutes INTEGER NOT NULL DEFAULT 30;
ALTER TABLE companies ADD COLUMN max_session_hours INTEGER NOT NULL DEFAULT 12;
-- A one-time setup code an admin (or the operator) hands a user to choose a
-- password: only its SHA-256 is kept, and it works once, until it expires.
ALTER TABLE users ADD COLUMN setup_code_hash TEXT;
ALTER TABLE users ADD COLUMN setup_code_expires_at INTEGER;
