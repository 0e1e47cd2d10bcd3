-- 0014_audit.sql - audit events (audit.*: who changed channels, templates,
-- users, keys, webhooks and settings) live in the event log like the rest,
-- but are read apart, by owners and admins (GET /v1/audit): an index of
-- their own, so that reading them never scans the organization's messages'
-- events.
CREATE INDEX events_audit ON events(org_id, seq) WHERE type LIKE 'audit.%';
