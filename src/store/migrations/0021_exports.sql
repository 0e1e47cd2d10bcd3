-- 0021_exports.sql - exports (issue 15): an event webhook and an export to
-- a broker (NATS, RabbitMQ) are one kind of subscription to the event log,
-- delivered by one mechanism (src/hooks/) through a sink per kind. kind
-- names the sink; config is its settings as JSON (secrets included, like a
-- webhook's signing secret: never shown); channels, a JSON array of
-- channel names or NULL, keeps only the events of those channels. A
-- webhook keeps its url and secret in their columns (config NULL); an
-- export stores '' in them.
ALTER TABLE subscriptions ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE subscriptions ADD COLUMN config TEXT;
ALTER TABLE subscriptions ADD COLUMN channels TEXT;
