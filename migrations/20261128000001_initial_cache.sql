-- The desktop's local cache (SQLCipher-encrypted). It mirrors what the cloud
-- sent for the signed-in company so the portal works offline. The cloud is
-- the authority: every login replaces these rows.

CREATE TABLE company (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    two_factor_required INTEGER NOT NULL,
    dms_kind TEXT NOT NULL,
    dms_supports_two_factor INTEGER NOT NULL,
    offline_allowed INTEGER NOT NULL,
    offline_max_hours INTEGER NOT NULL,
    version INTEGER NOT NULL
);

-- NOCASE on the searched columns lets the prefix search below use the indexes
-- (range scans compare with the column's collation).
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    company_id TEXT NOT NULL REFERENCES company (id) ON DELETE CASCADE,
    email TEXT NOT NULL COLLATE NOCASE,
    display_name TEXT NOT NULL COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    mobile_phone TEXT,
    phone_verified_at INTEGER,
    two_factor_enabled INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- (display_name, id) also serves the table's default ORDER BY without a sort.
CREATE INDEX users_display_name ON users (display_name, id);
CREATE INDEX users_email ON users (email);
CREATE INDEX users_company ON users (company_id);

-- Who is signed in on this device. The session TOKEN is not here: it lives
-- in the OS keychain. At most one row.
CREATE TABLE session (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id TEXT NOT NULL REFERENCES company (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    signed_in_at INTEGER NOT NULL
);

-- Small key/value facts about the cache, e.g. last_synced_at (epoch ms).
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
