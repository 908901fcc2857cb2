-- SMS pumping guardrails, set by the operator per company: the countries its
-- texts may go to (ISO 3166 alpha-2, comma separated) and how many texts it
-- may send per UTC day.
ALTER TABLE companies ADD COLUMN sms_countries TEXT NOT NULL DEFAULT 'US,CA';
ALTER TABLE companies ADD COLUMN sms_daily_cap BIGINT NOT NULL DEFAULT 200 CHECK (sms_daily_cap > 0);
-- Texts each company sent per UTC day (day = ms since the epoch / 86400000).
-- One row per company and day, counted up by one conditional upsert, so every
-- instance on the database shares the count.
CREATE TABLE company_sms_days (
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    texts      BIGINT NOT NULL CHECK (texts >= 0),
    PRIMARY KEY (company_id, day)
);
