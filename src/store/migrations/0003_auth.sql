-- 0003_auth.sql - browser login: users with a password, and sessions.
--
-- Only hashes of secrets are stored: password_hash is libsodium's argon2id
-- string (salt and parameters included), token_hash the lower-case hex
-- SHA-256 of the session cookie's 32 random bytes. csrf is not a secret on
-- its own (it is useless without the cookie) and is handed back to the
-- browser that holds the session.

CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
	id INTEGER PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE,
	csrf TEXT NOT NULL,
	user_name TEXT NOT NULL,          -- a user's name, or "token" (API/admin token login)
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL       -- absolute end; the idle timeout lives in memory
);
-- Purging expired sessions at each login, and loading live ones at start.
CREATE INDEX sessions_expires ON sessions(expires_at);
