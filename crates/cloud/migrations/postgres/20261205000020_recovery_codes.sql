-- Recovery codes: ten single-use codes per user, issued at the first
-- enrolment of a factor and replaced as a set. Only a keyed hash is stored
-- (HMAC-SHA256 under a key from the cloud's configuration, with the user id):
-- this table alone does not let anyone test guesses offline.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    -- When it signed someone in; a used code stays so the count is "n of 10".
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
