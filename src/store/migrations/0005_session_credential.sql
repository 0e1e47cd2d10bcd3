-- 0005_session_credential.sql - which credential made each session.
--
-- credential: a fingerprint (hex, 32 chars) of the admin token or API key a
-- token login used, or of the user's password hash. A session whose
-- credential no longer exists (the admin token changed, the password
-- changed) is dropped when msgd loads sessions. Rows from before this
-- migration have '' and are dropped at the next start.
ALTER TABLE sessions ADD COLUMN credential TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_user ON sessions(user_name);
