-- 0002_outbox.sql - sending: idempotency keys, the 24-hour window, the
-- outbox and local templates.
--
-- As in 0001, only the indexes a read or a uniqueness rule needs.

-- Idempotency is global: one client_id names one message, whatever the channel.
ALTER TABLE messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX messages_client_id ON messages(client_id) WHERE client_id IS NOT NULL;

-- When the contact last wrote to us (our clock, ms): the 24-hour window.
ALTER TABLE conversations ADD COLUMN last_inbound_ms INTEGER;
UPDATE conversations SET last_inbound_ms = (
	SELECT max(m.created_ms) FROM messages m
	WHERE m.conversation_id = conversations.id AND m.direction = 'in');

-- Outbound messages not yet handed to the provider (or given up on). A row
-- is deleted once its message is accepted, failed or cancelled.
CREATE TABLE outbox (
	message_id INTEGER PRIMARY KEY REFERENCES messages(id),
	channel_id INTEGER NOT NULL REFERENCES channels(id),
	recipient TEXT NOT NULL,
	priority INTEGER NOT NULL,        -- 0 conversational reply (first), 1 bulk
	due_ms INTEGER NOT NULL,          -- not before
	attempts INTEGER NOT NULL DEFAULT 0,
	state INTEGER NOT NULL DEFAULT 0, -- 0 pending, 1 in flight
	uncertain INTEGER NOT NULL DEFAULT 0, -- was in flight when msgd stopped
	created_ms INTEGER NOT NULL,
	first_attempt_ms INTEGER,
	last_error_code INTEGER,
	last_error_title TEXT,
	last_error_detail TEXT
);
-- The sender's scan: pending, replies first, oldest due first.
-- The dispatcher reads a channel's due entries, replies first; and the
-- earliest due time of all to know when to wake up.
CREATE INDEX outbox_due ON outbox(state, channel_id, priority, due_ms);
CREATE INDEX outbox_next ON outbox(state, due_ms);

CREATE TABLE templates (
	name TEXT NOT NULL,
	language TEXT NOT NULL,
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (name, language)
);
