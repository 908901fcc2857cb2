-- How often the outstanding setup code was texted to the user's phone: an
-- admin may text one code a few times only (a fresh code starts at 0).
ALTER TABLE users ADD COLUMN setup_code_texts BIGINT NOT NULL DEFAULT 0;
