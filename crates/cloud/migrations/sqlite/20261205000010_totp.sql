-- Authenticator apps (TOTP). The secret is sealed with XChaCha20-Poly1305 under
-- a key from the cloud's configuration (never stored here), the user id as
-- associated data: this table alone mints no codes, and a sealed secret
-- copied to another user's row does not open.
-- A row is pending until its first code is confirmed; one active per user.
CREATE TABLE totp_factors (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    -- Until when a pending enrolment can be confirmed.
    expires_at    INTEGER NOT NULL,
    -- Wrong first codes a pending enrolment still accepts.
    attempts_left INTEGER NOT NULL,
    confirmed_at  INTEGER,
    -- The last time step accepted (confirmation or sign-in): a step is
    -- accepted once, also across instances (a conditional update).
    last_step     INTEGER
);
CREATE INDEX totp_factors_user_idx ON totp_factors (user_id);
CREATE UNIQUE INDEX totp_factors_one_active ON totp_factors (user_id) WHERE confirmed_at IS NOT NULL;
