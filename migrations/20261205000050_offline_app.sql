-- Offline sign-in with an authenticator app: its secret sealed under a key
-- derived from the person's password (session::offline_app), and the last
-- time step accepted, here or by the cloud (each step counts once).
ALTER TABLE offline_credentials ADD COLUMN app_sealed TEXT;
ALTER TABLE offline_credentials ADD COLUMN app_last_step INTEGER;
