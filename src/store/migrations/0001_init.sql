-- 0001_init.sql - msgd's first schema: the event log and its projections.
--
-- Indexes on the write path cost more than the fsync (shared/LIBRARIES.md),
-- so each table has only those a read or a uniqueness rule needs.
-- Times: *_at are Unix seconds, *_ms milliseconds. Statuses are stored by
-- name (status_name()), never by enum value.

CREATE TABLE channels (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	type TEXT NOT NULL,
	config TEXT NOT NULL,             -- JSON, secrets included
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER                -- soft delete: history keeps the name
);
-- A name is taken only by a live channel.
CREATE UNIQUE INDEX channels_live_name ON channels(name) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
	id INTEGER PRIMARY KEY,
	channel_id INTEGER NOT NULL REFERENCES channels(id),
	address TEXT NOT NULL,
	name TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (channel_id, address)
);

-- One conversation per contact.
CREATE TABLE conversations (
	id INTEGER PRIMARY KEY,
	channel_id INTEGER NOT NULL REFERENCES channels(id),
	contact_id INTEGER NOT NULL UNIQUE REFERENCES contacts(id),
	last_message_id INTEGER,
	last_activity_ms INTEGER NOT NULL,
	unread_count INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE INDEX conversations_activity ON conversations(last_activity_ms DESC, id DESC);

CREATE TABLE messages (
	id INTEGER PRIMARY KEY,
	channel_id INTEGER NOT NULL REFERENCES channels(id),
	conversation_id INTEGER NOT NULL REFERENCES conversations(id),
	direction TEXT NOT NULL,          -- 'in' | 'out'
	provider_message_id TEXT,
	type TEXT NOT NULL,
	status TEXT NOT NULL,
	error_code INTEGER,
	error_title TEXT,
	error_detail TEXT,
	timestamp INTEGER NOT NULL,       -- provider time
	created_ms INTEGER NOT NULL,
	doc TEXT NOT NULL,                -- API JSON minus status, status_history, error
	raw TEXT NOT NULL,                -- provider JSON, to re-normalize later
	-- Provider id first: the same index serves lookups across all channels.
	UNIQUE (provider_message_id, channel_id)
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);

-- Every status report, matched or not (message_id NULL when no stored
-- message had that provider id).
CREATE TABLE statuses (
	id INTEGER PRIMARY KEY,
	message_id INTEGER REFERENCES messages(id),
	channel_id INTEGER NOT NULL REFERENCES channels(id),
	provider_message_id TEXT,
	status TEXT NOT NULL,
	provider_status TEXT,
	timestamp INTEGER NOT NULL,
	error_code INTEGER,
	error_title TEXT,
	error_detail TEXT,
	raw TEXT NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE INDEX statuses_message ON statuses(message_id) WHERE message_id IS NOT NULL;
-- Providers redeliver status reports; one row per (message, reported status).
CREATE UNIQUE INDEX statuses_report ON statuses(channel_id, provider_message_id, provider_status);

-- The append-only log. AUTOINCREMENT: a seq is never handed out twice.
CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	type TEXT NOT NULL,
	at_ms INTEGER NOT NULL,
	channel_id INTEGER,
	conversation_id INTEGER,
	message_id INTEGER,
	data TEXT NOT NULL
);

CREATE TABLE api_keys (
	id INTEGER PRIMARY KEY,
	name TEXT,
	hash TEXT NOT NULL UNIQUE,        -- lower-case hex SHA-256 of the key
	created_at INTEGER NOT NULL
);
