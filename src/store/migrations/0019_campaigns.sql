-- 0019_campaigns.sql - bulk campaigns (issue 14, src/campaign/): a campaign
-- row with its content, pacing and counters, one row per recipient, and the
-- campaign a message belongs to, so every status change of a campaign
-- message moves its campaign's counters in the same transaction.
CREATE TABLE campaigns (
	id INTEGER PRIMARY KEY,
	org_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	channel_id INTEGER NOT NULL,
	source TEXT NOT NULL,              -- {"recipients":[...]} or {"import_id":N}
	content TEXT NOT NULL,             -- {"text"} or {"template":{...},"variables":{...}}
	status TEXT NOT NULL,              -- creating|scheduled|running|paused|completed|cancelled
	scheduled_at INTEGER,              -- ms
	rate INTEGER,                      -- messages per minute, or NULL
	quiet_hours TEXT,                  -- {"start","end","tz"} or NULL
	created INTEGER NOT NULL DEFAULT 0, -- recipients made so far (the next idx)
	source_cursor INTEGER NOT NULL DEFAULT 0, -- an import's last row made
	c_total INTEGER NOT NULL DEFAULT 0,
	c_queued INTEGER NOT NULL DEFAULT 0,
	c_sent INTEGER NOT NULL DEFAULT 0,
	c_delivered INTEGER NOT NULL DEFAULT 0,
	c_read INTEGER NOT NULL DEFAULT 0,
	c_failed INTEGER NOT NULL DEFAULT 0,
	c_cancelled INTEGER NOT NULL DEFAULT 0,
	c_replied INTEGER NOT NULL DEFAULT 0,
	c_skipped INTEGER NOT NULL DEFAULT 0,
	skipped_reasons TEXT NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL,       -- ms
	started_at INTEGER,                -- ms
	finished_at INTEGER,               -- ms
	paused_at INTEGER,                 -- ms: when held (resume moves due times by the pause)
	updated_ms INTEGER NOT NULL,       -- counters last changed
	progress_ms INTEGER NOT NULL DEFAULT 0, -- campaign.progress last appended
	progress TEXT                      -- the counters it carried
);
CREATE INDEX campaigns_org ON campaigns (org_id, id);
CREATE TABLE campaign_recipients (
	campaign_id INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	address TEXT NOT NULL,
	variables TEXT,
	message_id INTEGER,                -- NULL when skipped
	status TEXT NOT NULL,              -- the message's status, or skipped
	skip_reason TEXT,
	replied INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (campaign_id, idx)
);
CREATE INDEX campaign_recipients_status ON campaign_recipients (campaign_id, status, idx);
CREATE INDEX campaign_recipients_message ON campaign_recipients (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX campaign_recipients_address ON campaign_recipients (address);
-- outbox.state 2: held by a paused campaign (never claimed; resume sets 0 again).
ALTER TABLE messages ADD COLUMN campaign_id INTEGER;
CREATE INDEX messages_campaign ON messages (campaign_id) WHERE campaign_id IS NOT NULL;
