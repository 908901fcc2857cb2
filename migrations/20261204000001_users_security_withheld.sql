-- Rows a non-admin's sync brought carry no phone or 2FA state: the flag says
-- their security fields are unknown, so offline sign-in assumes 2FA and an
-- admin's next sync pulls the company again.
ALTER TABLE users ADD COLUMN security_withheld INTEGER NOT NULL DEFAULT 0;
