-- 0013_quotas.sql - sending quotas (src/quota/quota.h): messages claimed
-- per fixed UTC window (minute, hour, day) of a scope ("org:<id>",
-- "channel:<id>"), counted in the claim's transaction so every instance
-- sees the same counts; a message held back by a quota keeps when it may
-- go (throttled_until, ms); bulk cooldown per contact; recent content
-- fingerprints for duplicate detection.
CREATE TABLE quota_usage (
	scope TEXT NOT NULL,
	kind INTEGER NOT NULL,             -- 0 minute, 1 hour, 2 day
	window_start INTEGER NOT NULL,     -- ms
	count INTEGER NOT NULL,
	PRIMARY KEY (scope, kind, window_start)
);
ALTER TABLE messages ADD COLUMN throttled_until INTEGER;
ALTER TABLE contacts ADD COLUMN last_bulk_ms INTEGER;
CREATE TABLE content_fingerprints (
	org_id INTEGER NOT NULL,
	fingerprint TEXT NOT NULL,         -- quota_fingerprint(): SHA-256 hex of org, recipient, text
	at_ms INTEGER NOT NULL,
	message_id INTEGER NOT NULL,
	PRIMARY KEY (org_id, fingerprint)
);
