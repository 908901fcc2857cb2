-- PostgreSQL dialect. Booleans are BIGINT 0/1 and timestamps BIGINT epoch
-- milliseconds so the same runtime queries (sqlx Any driver) serve both dialects.
CREATE TABLE companies (
    id                      TEXT PRIMARY KEY NOT NULL,
    name                    TEXT NOT NULL,
    two_factor_required     BIGINT NOT NULL DEFAULT 0 CHECK (two_factor_required IN (0, 1)),
    dms_kind                TEXT NOT NULL,
    dms_supports_two_factor BIGINT NOT NULL DEFAULT 0 CHECK (dms_supports_two_factor IN (0, 1)),
    offline_allowed         BIGINT NOT NULL DEFAULT 0 CHECK (offline_allowed IN (0, 1)),
    offline_max_hours       BIGINT NOT NULL DEFAULT 0 CHECK (offline_max_hours >= 0),
    version                 BIGINT NOT NULL DEFAULT 1,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY NOT NULL,
    company_id         TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    email              TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    status             TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    mobile_phone       TEXT,
    phone_verified_at  BIGINT,
    two_factor_enabled BIGINT NOT NULL DEFAULT 0 CHECK (two_factor_enabled IN (0, 1)),
    password_hash      TEXT NOT NULL,
    version            BIGINT NOT NULL DEFAULT 1,
    updated_at         BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);

-- Emails are unique regardless of case: "Dana@X" and "dana@x" are one login.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_company_idx ON users (company_id);

-- Only the SHA-256 of a session token is stored: a leaked table grants no access.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
