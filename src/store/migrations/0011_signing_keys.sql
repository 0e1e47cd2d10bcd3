-- 0011_signing_keys.sql - the keys that sign access tokens (JWT, HS256,
-- src/token/): a key id and 32 random bytes (hex). The newest signs; older
-- ones verify the tokens they signed until those expire, then go. They are
-- shared by every instance on the database, like everything else here:
-- whoever can read this table can make tokens, as whoever can read the
-- database can read every message.
CREATE TABLE signing_keys (
	kid TEXT PRIMARY KEY,
	secret TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
