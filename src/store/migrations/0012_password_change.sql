-- 0012_password_change.sql - a user who must choose a new password before
-- doing anything else: set when an admin invites them with a one-time
-- password (POST /v1/users {"invite":true}) or resets theirs asking for it,
-- cleared when they set their own (PUT /v1/auth/password).
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
