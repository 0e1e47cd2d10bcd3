-- 0020_media.sql - media both ways (issue 14). An inbound message with media
-- gets a job in its own transaction; the fetcher (src/media/) takes due jobs
-- under a lease (owner, lease_until: one instance fetches each), streams the
-- content into the files store and links it from the message. source is
-- what the channel adapter needs to fetch it (a media id, a file_id, an
-- inline base64), never shown. Outbound: the provider's media id of an
-- uploaded file, per channel and content, so one upload serves many sends.
CREATE TABLE media_jobs (
	message_id INTEGER NOT NULL PRIMARY KEY,
	channel_id INTEGER NOT NULL,
	org_id INTEGER NOT NULL,
	source TEXT NOT NULL,
	status TEXT NOT NULL,              -- pending | stored | failed
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at INTEGER NOT NULL,          -- ms: due
	last_error TEXT,
	file_id TEXT,
	owner TEXT,                        -- instance id holding the lease
	lease_until INTEGER,               -- ms
	created_at INTEGER NOT NULL        -- ms
);
CREATE INDEX media_jobs_due ON media_jobs (status, next_at);
CREATE TABLE media_uploads (
	channel_id INTEGER NOT NULL,
	sha256 TEXT NOT NULL,
	media_id TEXT NOT NULL,
	uploaded_at INTEGER NOT NULL,      -- ms: WhatsApp media ids last 30 days
	PRIMARY KEY (channel_id, sha256)
);
