-- Notices belong to the person whose edit was refused (issue 10, finding 9):
-- only they see and dismiss them. Notices written before this column have
-- no known owner and are shown to nobody.
ALTER TABLE sync_notices ADD COLUMN owner_user_id TEXT;
CREATE INDEX sync_notices_owner ON sync_notices (owner_user_id, id);
