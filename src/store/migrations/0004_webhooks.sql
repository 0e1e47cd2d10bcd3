-- 0004_webhooks.sql - outbound event webhooks: subscriptions and their
-- delivery cursors.
--
-- The event log is the queue: a subscription only keeps its cursor
-- (delivered_seq: the last seq delivered, skipped by its filter, or given
-- up on) and the retry state of the event after it, so a restart resumes
-- where it was. secret signs the bodies (HMAC-SHA256); like a channel's
-- app secret it must be stored as is, and it is never shown by the API.

CREATE TABLE subscriptions (
	id INTEGER PRIMARY KEY,
	url TEXT NOT NULL,
	events TEXT NOT NULL,              -- JSON array of event types, or ["*"]
	secret TEXT NOT NULL,
	created_at INTEGER NOT NULL,       -- Unix seconds
	delivered_seq INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,       -- failed attempts at the next event
	first_attempt_ms INTEGER,                  -- when its first attempt failed
	next_attempt_ms INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	paused INTEGER NOT NULL DEFAULT 0
);
