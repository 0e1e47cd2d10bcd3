-- 0006_send_attempts.sql - why an outbound message is still waiting.
--
-- The outbox row holds the dispatcher's state and is deleted once the
-- message is accepted, failed or cancelled; these columns keep, on the
-- message itself, what the API shows: how many attempts were made, when
-- the next one is due (NULL: none scheduled) and the last attempt's error.
-- last_error_code is the code as the API shows it: the provider's number
-- ("131000") or a word for failures without one ("network", "http_503").

ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_ms INTEGER;
ALTER TABLE messages ADD COLUMN last_error_code TEXT;
ALTER TABLE messages ADD COLUMN last_error_title TEXT;
ALTER TABLE messages ADD COLUMN last_error_detail TEXT;

-- Entries waiting now carry their state over.
UPDATE messages SET
	attempts = (SELECT o.attempts FROM outbox o WHERE o.message_id = messages.id),
	next_attempt_ms = (SELECT CASE WHEN o.last_error_title IS NOT NULL THEN o.due_ms END
	    FROM outbox o WHERE o.message_id = messages.id),
	last_error_code = (SELECT CAST(o.last_error_code AS TEXT) FROM outbox o
	    WHERE o.message_id = messages.id),
	last_error_title = (SELECT o.last_error_title FROM outbox o WHERE o.message_id = messages.id),
	last_error_detail = (SELECT o.last_error_detail FROM outbox o WHERE o.message_id = messages.id)
WHERE id IN (SELECT message_id FROM outbox);
