-- 0007_outbox_calendar.sql - which due times follow the calendar.
--
-- A scheduled message's first due time is a calendar time (the client's
-- scheduled_at): it follows the wall clock wherever the clock moves.
-- Every other due time (send now, a retry's backoff, a requeue) is a delay
-- counted from when it was set: when the wall clock jumps (a manual fix, a
-- VM resumed, NTP stepping), the dispatcher moves those by the jump, so a
-- 30-second backoff stays 30 seconds (STORE_OP_OUTBOX_SHIFT).
ALTER TABLE outbox ADD COLUMN calendar INTEGER NOT NULL DEFAULT 0;
-- Existing entries: those still due at their message's scheduled_at (a
-- scheduled message put back after its time keeps the status 'scheduled'
-- but waits a delay). Only an existing SQLite database has any.
-- sqlite only
UPDATE outbox SET calendar = 1 WHERE attempts = 0 AND due_ms = (
	SELECT CAST(strftime('%s', json_extract(m.doc, '$.scheduled_at')) AS INTEGER) * 1000
	FROM messages m WHERE m.id = outbox.message_id AND m.status = 'scheduled');
-- end sqlite only
