-- Re-authentication: when the session's holder last proved themselves again
-- (password and a second factor) before a security change; see
-- service::reauth. NULL: never.
ALTER TABLE sessions ADD COLUMN reauth_at BIGINT;

-- Sign-in attempts get a third purpose, 'reauth' (an attempt that proves a
-- factor for a signed-in session and never signs in).
ALTER TABLE login_challenges DROP CONSTRAINT login_challenges_purpose_check;
ALTER TABLE login_challenges ADD CONSTRAINT login_challenges_purpose_check
    CHECK (purpose IN ('second_factor', 'enrollment', 'reauth'));
