-- Security review (issue 10). A user's security stamp goes up whenever their
-- phone, 2FA state, status, password or lock changes. Sessions, sign-in attempts
-- and device grants record the stamp they were issued under and work only while
-- it is still the user's: one bump ends them all, including any issued by a
-- sign-in that was in flight during the change, and re-enabling a user never
-- revives them.
ALTER TABLE users ADD COLUMN security_stamp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN security_stamp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_challenges ADD COLUMN security_stamp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device_grants ADD COLUMN security_stamp INTEGER NOT NULL DEFAULT 0;
