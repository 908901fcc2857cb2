-- The company's trusted-computer days (0 = off), cached like its other
-- session policies so the Company Profile shows and keeps them.
ALTER TABLE company ADD COLUMN trusted_computer_days INTEGER NOT NULL DEFAULT 0;
