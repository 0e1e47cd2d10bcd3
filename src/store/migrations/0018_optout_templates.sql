-- 0018_optout_templates.sql - opt-outs and approved templates (issue 14).
--
-- A contact that wrote one of its organization's opt-out keywords is
-- opted out of bulk sends (opted_out_at, ms; NULL: not opted out) until it
-- writes an opt-in keyword. Separate from contacts.status (blocked,
-- invalid): an opted-out contact still gets replies in an open
-- conversation. Campaigns skip contacts with opted_out_at set.
ALTER TABLE contacts ADD COLUMN opted_out_at INTEGER;
ALTER TABLE contacts ADD COLUMN opted_out_keyword TEXT;

-- A WhatsApp Cloud channel's message templates as the Graph API listed
-- them (GET /{waba-id}/message_templates), replaced whole per channel by
-- each sync. params: how many {{n}} / {{name}} placeholders the header,
-- body and buttons have together. components: the Graph's JSON.
CREATE TABLE channel_templates (
	channel_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	language TEXT NOT NULL,
	category TEXT,
	status TEXT NOT NULL,              -- APPROVED, PENDING, REJECTED, PAUSED, ...
	params INTEGER NOT NULL DEFAULT 0,
	components TEXT NOT NULL DEFAULT '[]',
	synced_at INTEGER NOT NULL,        -- ms
	PRIMARY KEY (channel_id, name, language)
);
-- Each channel's last sync: when it last succeeded, when it was last
-- tried and what went wrong then (NULL: nothing).
CREATE TABLE channel_template_syncs (
	channel_id INTEGER NOT NULL PRIMARY KEY,
	synced_at INTEGER,                 -- ms: the last successful sync
	attempted_at INTEGER NOT NULL,     -- ms
	last_error TEXT
);
