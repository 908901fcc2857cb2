-- The company's session policy (idle lock, absolute session limit), cached
-- with the rest of the profile so the desktop applies it offline too.
ALTER TABLE company ADD COLUMN idle_lock_minutes INTEGER NOT NULL DEFAULT 30;
ALTER TABLE company ADD COLUMN max_session_hours INTEGER NOT NULL DEFAULT 12;
