-- 0008_leases.sql - several msgd instances on one database.
--
-- An outbox claim is a lease: the instance that marked a row in flight
-- (owner, its instance_id) and until when (lease_until, wall-clock ms). It
-- renews the lease while the send lasts; a row whose lease ran out is
-- taken back by any instance and sent again, marked uncertain. Rows in
-- flight from before this migration have no owner: their lease counts as
-- run out.
ALTER TABLE outbox ADD COLUMN owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;

-- Named leases held by one instance at a time: "channel:<id>" (who
-- dispatches a channel: pacing, breaker and quotas hold for the channel as
-- a whole) and "hook:<id>" (who delivers an event webhook subscription).
-- Taken or renewed with an upsert that succeeds only for the owner or once
-- until_ms (wall-clock ms) has passed; deleted at a clean shutdown.
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	until_ms INTEGER NOT NULL
);
