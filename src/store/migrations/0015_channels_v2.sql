-- 0015_channels_v2.sql - channels, second generation (channel.h, contract v2):
-- a contact's reachability as the provider reported it (blocked the bot, not
-- on the network), the provider delivery ids already seen per channel (a
-- Telegram update_id, distinct from the message id), and each channel's
-- shared connection state, QR code and polling cursor.
ALTER TABLE contacts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE contacts ADD COLUMN status_reason TEXT;
ALTER TABLE contacts ADD COLUMN status_at INTEGER;        -- ms
CREATE TABLE inbound_keys (
	channel_id INTEGER NOT NULL,
	key TEXT NOT NULL,
	seen_at INTEGER NOT NULL,          -- ms
	PRIMARY KEY (channel_id, key)
);
CREATE INDEX inbound_keys_seen ON inbound_keys (seen_at);
CREATE TABLE channel_states (
	channel_id INTEGER NOT NULL PRIMARY KEY,
	state TEXT NOT NULL,               -- enum channel_conn's words
	reason TEXT,
	qr TEXT,                           -- the pairing QR code's text (never in events)
	pairing_code TEXT,
	qr_at INTEGER,                     -- ms: when the QR code last changed
	cursor TEXT,                       -- the polling position (Telegram getUpdates offset)
	updated_at INTEGER NOT NULL        -- ms
);
