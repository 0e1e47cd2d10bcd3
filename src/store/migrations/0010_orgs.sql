-- 0010_orgs.sql - organizations: every channel, conversation, message,
-- template, event webhook subscription, API key, membership and event
-- belongs to one. A fresh install (and every row from before) belongs to
-- "default", id 1.
--
-- contacts and statuses reach their organization through their channel;
-- conversations, messages and events carry org_id themselves, because
-- lists and cursors are read per organization (an index each) and because
-- an id from another organization must read as "not found". Names are
-- unique per organization: channel names, template names, client_ids.

CREATE TABLE orgs (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	settings TEXT NOT NULL DEFAULT '{}',  -- JSON: retention, limits (owners change it)
	created_at INTEGER NOT NULL
);
INSERT INTO orgs (name, created_at) VALUES ('default', 0);

ALTER TABLE channels ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;
DROP INDEX channels_live_name;
CREATE UNIQUE INDEX channels_live_name ON channels(org_id, name) WHERE deleted_at IS NULL;
-- The config value that routes a provider's webhooks to the channel
-- (WhatsApp: phone_number_id) is one live channel's, whatever its
-- organization. Rows from before keep NULL until their next change.
ALTER TABLE channels ADD COLUMN route_key TEXT;
CREATE UNIQUE INDEX channels_route ON channels(type, route_key)
	WHERE deleted_at IS NULL AND route_key IS NOT NULL;

ALTER TABLE conversations ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;
DROP INDEX conversations_activity;
CREATE INDEX conversations_activity ON conversations(org_id, last_activity_ms DESC, id DESC);

ALTER TABLE messages ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages(org_id, client_id) WHERE client_id IS NOT NULL;

ALTER TABLE events ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX events_org ON events(org_id, seq);

-- Templates: (name, language) was unique across the install.
CREATE TABLE templates_org (
	org_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	language TEXT NOT NULL,
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (org_id, name, language)
);
INSERT INTO templates_org (org_id, name, language, body, created_at)
	SELECT 1, name, language, body, created_at FROM templates;
DROP TABLE templates;
ALTER TABLE templates_org RENAME TO templates;

ALTER TABLE subscriptions ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;

-- API keys: scopes (a JSON array of scope names), an optional expiry,
-- revocation (the row stays, for the audit trail), and when last used
-- (written in batches, at most every few seconds). Keys from before had
-- no scopes and could do everything.
ALTER TABLE api_keys ADD COLUMN org_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '["admin","messages:send","messages:read","channels:write","templates:write","webhooks:write","events:read","files:write","campaigns:write"]';
ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;

-- Users are people; a membership gives one a role in one organization.
-- Users from before owned everything: they own "default".
ALTER TABLE users ADD COLUMN platform_admin INTEGER NOT NULL DEFAULT 0;
CREATE TABLE memberships (
	user_name TEXT NOT NULL,
	org_id INTEGER NOT NULL,
	role TEXT NOT NULL,                   -- owner | admin | agent | viewer
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_name, org_id)
);
INSERT INTO memberships (user_name, org_id, role, created_at)
	SELECT name, 1, 'owner', created_at FROM users;
