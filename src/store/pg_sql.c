/*
 * pg_sql.c - the text of every statement of sql.h in PostgreSQL's dialect
 * (the same parameters, in the same order, and the same columns as
 * sqlite_sql.c). Parameters travel as text: where the context does not
 * fix a parameter's type, it is cast. W_BEGIN .. W_ROLLBACK_TO are run
 * with PQexec (transaction control cannot be prepared).
 */
#include <stddef.h>

#include "sql.h"
#include "campaign_sql.h"  /* campaigns (issue 14, h14camp) */
#include "campaign_bulk_sql.h"

/* Columns render_message() reads, from a messages table aliased m. */
#define MSG_COLS \
	"m.id, m.doc, m.status, m.error_code, m.error_title, m.error_detail, m.provider_message_id," \
	" m.attempts, m.next_attempt_ms, m.last_error_code, m.last_error_title, m.last_error_detail," \
	" m.throttled_until"
#define CONV_SELECT                                                              \
	"SELECT c.id, ch.name, ct.address, ct.name, c.unread_count, c.last_activity_ms, ct.id, " \
	MSG_COLS ", ct.opted_out_at, ct.opted_out_keyword FROM conversations c"                                         \
	" JOIN contacts ct ON ct.id = c.contact_id"                              \
	" JOIN channels ch ON ch.id = c.channel_id"                              \
	" LEFT JOIN messages m ON m.id = c.last_message_id"
#define STATUS_HISTORY_SQL                                                       \
	"SELECT status, timestamp, created_ms, error_code, error_title, error_detail" \
	" FROM statuses WHERE message_id = $1 ORDER BY id"
#define TEMPLATE_COLS "name, language, body, created_at"
/* An import (read.c's import_row() reads them by position). */
#define IMPORT_COLS \
	"i.id, i.file_id, ch.name, i.format, i.request, i.status, i.error_code, i.error_message, i.error_row, i.columns, i.preview, i.n_rows, i.n_valid, i.n_invalid, i.n_duplicates, i.n_errors, i.created_at, i.finished_at"

const char *const pg_sql[SQL_COUNT] = {
	[W_BEGIN] = "BEGIN",
	/* The newest migration's row, rewritten as it is: a write to sync. */
	[W_PROBE] = "UPDATE schema_migrations SET applied_at = applied_at"
	    " WHERE version = (SELECT max(version) FROM schema_migrations)",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SAVEPOINT] = "SAVEPOINT op",
	[W_RELEASE] = "RELEASE op",
	[W_ROLLBACK_TO] = "ROLLBACK TO op",
	[W_CHANNEL_NAME] = "SELECT name FROM channels WHERE id = $1",
	[W_CHANNEL_INSERT] = "INSERT INTO channels (name, type, config, created_at, updated_at, org_id, route_key)"
	    " VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id",
	[W_CHANNEL_UPDATE] = "UPDATE channels SET config = $2, updated_at = $3, route_key = $4"
	    " WHERE id = $1 AND deleted_at IS NULL",
	[W_CHANNEL_DELETE] = "UPDATE channels SET deleted_at = $2"
	    " WHERE id = $1 AND deleted_at IS NULL",
	[W_API_KEY_INSERT] = "INSERT INTO api_keys (name, hash, created_at, org_id, scopes, prefix, expires_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
	[W_API_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = $3"
	    " WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL",
	[W_API_KEY_USED] = "UPDATE api_keys SET last_used_at = GREATEST(coalesce(last_used_at, 0), $2::bigint)"
	    " WHERE id = $1",
	[W_CONTACT_FIND] = "SELECT c.id, c.name, v.id, CASE WHEN c.status = 'active' THEN 0 ELSE 1 END FROM contacts c"
	    " LEFT JOIN conversations v ON v.contact_id = c.id WHERE c.channel_id = $1 AND c.address = $2",
	/* prefetch.c: many keys at once, as JSON [{"c":channel,"a":address}, ...]
	 * and [{"c":channel,"p":provider id}, ...]; the key comes back last. */
	/* (LATERAL ... LIMIT 1: one index lookup per key, never a scan of the table.) */
	[W_CONTACT_PREFETCH] = "SELECT c.id, c.name, v.id, k.c, k.a, CASE WHEN c.status = 'active' THEN 0 ELSE 1 END"
	    " FROM json_to_recordset($1::json) AS k(c bigint, a text)"
	    " CROSS JOIN LATERAL (SELECT id, name, status FROM contacts WHERE channel_id = k.c AND address = k.a LIMIT 1) c"
	    " LEFT JOIN conversations v ON v.contact_id = c.id",
	[W_MSG_PREFETCH] = "SELECT m.id, m.conversation_id, m.status, k.c, k.p"
	    " FROM json_to_recordset($1::json) AS k(c bigint, p text) CROSS JOIN LATERAL (SELECT id,"
	    " conversation_id, status FROM messages WHERE channel_id = k.c AND provider_message_id = k.p LIMIT 1) m",
	[W_CONTACT_INSERT] = "INSERT INTO contacts (channel_id, address, name, created_at, updated_at)"
	    " VALUES ($1, $2, $3, $4, $4) RETURNING id",
	[W_CONTACT_RENAME] = "UPDATE contacts SET name = $2, updated_at = $3 WHERE id = $1",
	/* Channels v2 (0015): reachability, delivery ids, connection states. */
	[W_CONTACT_STATUS] = "INSERT INTO contacts (channel_id, address, created_at, updated_at, status,"
	    " status_reason, status_at) VALUES ($1, $2, $3, $3, $4, $5, $6)"
	    " ON CONFLICT (channel_id, address) DO UPDATE SET status = excluded.status,"
	    " status_reason = excluded.status_reason, status_at = excluded.status_at"
	    " WHERE contacts.status <> excluded.status",
	[W_INBOUND_KEY] = "INSERT INTO inbound_keys (channel_id, key, seen_at) VALUES ($1, $2, $3)"
	    " ON CONFLICT DO NOTHING",
	[W_INBOUND_KEY_PURGE] = "DELETE FROM inbound_keys WHERE seen_at < $1",
	[W_STATE_GET] = "SELECT state, reason, qr, pairing_code FROM channel_states WHERE channel_id = $1",
	[W_STATE_PUT] = "INSERT INTO channel_states (channel_id, state, reason, qr, pairing_code, qr_at, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id) DO UPDATE SET"
	    " state = excluded.state, reason = excluded.reason, qr = excluded.qr,"
	    " pairing_code = excluded.pairing_code, qr_at = excluded.qr_at, updated_at = excluded.updated_at",
	[W_CURSOR_PUT] = "INSERT INTO channel_states (channel_id, state, cursor, updated_at)"
	    " VALUES ($1, 'unknown', $2, $3) ON CONFLICT (channel_id) DO UPDATE SET cursor = excluded.cursor",
	[W_MSG_DOC] = "SELECT doc, conversation_id FROM messages WHERE id = $1",
	[W_MSG_SET_DOC] = "UPDATE messages SET doc = $2 WHERE id = $1",
	/* An echo merged into the message msgd sent (apply_outbox.c). */
	[W_MSG_DELETE] = "DELETE FROM messages WHERE id = $1",
	[W_STATUS_DROP_OWN] = "DELETE FROM statuses WHERE message_id = $1 AND provider_message_id IS NULL",
	[W_STATUS_DETACH] = "UPDATE statuses SET message_id = NULL WHERE message_id = $1",
	[W_CONV_REPOINT] = "UPDATE conversations SET last_message_id = $2 WHERE id = $3 AND last_message_id = $1",
	[W_CONV_INSERT] = "INSERT INTO conversations (channel_id, contact_id, last_activity_ms, created_at, org_id)"
	    " VALUES ($1, $2, $3, $4, (SELECT org_id FROM channels WHERE id = $1)) RETURNING id",
	[W_CONV_TOUCH] = "UPDATE conversations SET last_message_id = $2, last_activity_ms = $3,"
	    " unread_count = unread_count + $4,"
	    " last_inbound_ms = GREATEST(coalesce($5::bigint, 0), coalesce(last_inbound_ms, 0))"
	    " WHERE id = $1",
	[W_MSG_FIND] = "SELECT id, conversation_id, status FROM messages"
	    " WHERE provider_message_id = $2 AND channel_id = $1",
	/* Writers are one at a time (pg.c's writer lock): max + 1 is safe, and
	 * like SQLite's, a rolled-back id is handed out again (no gaps). */
	[W_MSG_NEXT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM messages",
	[W_MSG_INSERT] = "INSERT INTO messages (id, channel_id, conversation_id, direction,"
	    " provider_message_id, type, status, timestamp, created_ms, doc, raw, client_id, org_id,"
	    " campaign_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
	    " (SELECT org_id FROM channels WHERE id = $2), $13)",
	[W_MSG_SET_STATUS] = "UPDATE messages SET status = $2, error_code = $3, error_title = $4,"
	    " error_detail = $5 WHERE id = $1",
	/* client_ids are unique per organization: the one of channel $2. */
	[W_MSG_FIND_CLIENT] = "SELECT id, conversation_id FROM messages WHERE client_id = $1"
	    " AND org_id = (SELECT org_id FROM channels WHERE id = $2)",
	[W_MSG_GET] = "SELECT " MSG_COLS " FROM messages m WHERE m.id = $1",
	/* o.state NULL: no outbox entry (sent, failed, cancelled). */
	[W_MSG_OUTBOX] = "SELECT m.channel_id, m.conversation_id, m.status, m.provider_message_id,"
	    " o.state, o.owner FROM messages m LEFT JOIN outbox o ON o.message_id = m.id"
	    /* $2: the organization (0: any; the outbox). */
	    " WHERE m.id = $1 AND ($2::bigint = 0 OR m.org_id = $2::bigint)",
	/* A provider id another message of the channel holds is not stored twice. */
	[W_MSG_SET_PROVIDER_ID] = "UPDATE messages SET provider_message_id = $2 WHERE id = $1"
	    " AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.provider_message_id = $2"
	    " AND o.channel_id = messages.channel_id)",
	/* The message's copy of its send state (0006): what the API shows. */
	[W_MSG_CLAIMED] = "UPDATE messages SET attempts = attempts + 1, next_attempt_ms = NULL,"
	    " throttled_until = NULL WHERE id = $1",
	/* $6 = 1 replaces the last error; the next attempt is shown only once
	 * there is an error to retry from. Attempts follow the outbox entry's
	 * (a requeue takes the claim's back). */
	[W_MSG_ATTEMPT] = "UPDATE messages SET"
	    " attempts = coalesce((SELECT attempts FROM outbox WHERE message_id = $1), attempts),"
	    " next_attempt_ms = CASE WHEN $6::int = 1 OR last_error_title IS NOT NULL THEN $2::bigint END,"
	    " last_error_code = CASE WHEN $6::int = 1 THEN $3::text ELSE last_error_code END,"
	    " last_error_title = CASE WHEN $6::int = 1 THEN $4::text ELSE last_error_title END,"
	    " last_error_detail = CASE WHEN $6::int = 1 THEN $5::text ELSE last_error_detail END"
	    " WHERE id = $1",
	[W_STATUS_INSERT] = "INSERT INTO statuses (message_id, channel_id, provider_message_id, status,"
	    " provider_status, timestamp, error_code, error_title, error_detail, raw, created_ms)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
	[W_STATUS_HISTORY] = STATUS_HISTORY_SQL,
	/* Reports that came before the message had its provider id. */
	[W_STATUS_UNMATCHED] = "SELECT status, error_code, error_title, error_detail FROM statuses"
	    " WHERE channel_id = $1 AND provider_message_id = $2 AND message_id IS NULL ORDER BY id",
	[W_STATUS_ATTACH] = "UPDATE statuses SET message_id = $3"
	    " WHERE channel_id = $1 AND provider_message_id = $2 AND message_id IS NULL",
	/* Seqs without gaps: the next after the highest, under the writer
	 * lock; a rolled-back one is handed out again. */
	[W_EVENT_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM events",
	/* The organization: $8, or the channel's. */
	[W_EVENT_INSERT] = "INSERT INTO events (seq, type, at_ms, channel_id, conversation_id, message_id, data,"
	    " org_id) VALUES ($1, $2, $3, $4, $5, $6, $7,"
	    " coalesce($8::bigint, (SELECT org_id FROM channels WHERE id = $4::bigint), 1))",
	[W_OUTBOX_INSERT] = "INSERT INTO outbox (message_id, channel_id, recipient, priority, due_ms,"
	    " created_ms, calendar) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	/* uncertain is cleared: the dispatcher read it (and warned) before claiming. */
	/* A lease (0008): $3 owns it until $4. A row another transaction has
	 * locked is skipped, not waited for (not claimed: another instance has it). */
	[W_OUTBOX_CLAIM] = "UPDATE outbox SET state = 1, attempts = attempts + 1, uncertain = 0,"
	    " first_attempt_ms = coalesce(first_attempt_ms, $2::bigint), owner = $3::text,"
	    " lease_until = $4::bigint WHERE message_id = (SELECT message_id FROM outbox"
	    " WHERE message_id = $1 AND state = 0 FOR UPDATE SKIP LOCKED)",
	/* apply_outbox.c claim_many(): $1 a JSON array of ids; the claimed come back. */
	[W_OUTBOX_CLAIM_MANY] = "UPDATE outbox SET state = 1, attempts = attempts + 1, uncertain = 0,"
	    " first_attempt_ms = coalesce(first_attempt_ms, $2::bigint), owner = $3::text,"
	    " lease_until = $4::bigint WHERE message_id IN (SELECT o.message_id FROM outbox o"
	    " WHERE o.message_id IN (SELECT value::bigint FROM json_array_elements_text($1::json))"
	    " AND o.state = 0 FOR UPDATE SKIP LOCKED) RETURNING message_id",
	[W_OUTBOX_CHANNEL_PENDING] = "SELECT message_id FROM outbox WHERE channel_id = $1 AND state IN (0, 2)",
	[W_OUTBOX_CHANNEL_GONE] = "SELECT 1 FROM outbox o JOIN channels c ON c.id = o.channel_id"
	    " WHERE o.message_id = $1 AND c.deleted_at IS NOT NULL",
	/* $6 = 1 (requeue) undoes the claim's attempt, if the entry was claimed
	 * (a pending one may be put off too), and its first_attempt_ms when it
	 * was the only one; $7 = 1 replaces the last error. The right-hand
	 * sides all see the row as it was. */
	[W_OUTBOX_RESCHEDULE] = "UPDATE outbox SET state = 0, due_ms = $2, calendar = 0,"
	    " last_error_code = CASE WHEN $7::int = 1 THEN $3::bigint ELSE last_error_code END,"
	    " last_error_title = CASE WHEN $7::int = 1 THEN $4::text ELSE last_error_title END,"
	    " last_error_detail = CASE WHEN $7::int = 1 THEN $5::text ELSE last_error_detail END,"
	    " attempts = GREATEST(attempts - CASE WHEN $6::int = 1 AND state = 1 THEN 1 ELSE 0 END, 0),"
	    " first_attempt_ms = CASE WHEN attempts - CASE WHEN $6::int = 1 AND state = 1 THEN 1 ELSE 0 END"
	    " <= 0 THEN NULL"
	    " ELSE first_attempt_ms END"
	    " WHERE message_id = $1",
	[W_OUTBOX_DELETE] = "DELETE FROM outbox WHERE message_id = $1",
	/* At start: $1 = 1 every row in flight (the database is this process's
	 * alone); else the rows of owner $2 and those whose lease ran out by $3. */
	[W_OUTBOX_RECOVER] = "UPDATE outbox SET state = 0, uncertain = 1, owner = NULL, lease_until = NULL"
	    " WHERE state = 1 AND ($1::int = 1 OR owner = $2::text OR owner IS NULL"
	    " OR lease_until IS NULL OR lease_until < $3::bigint)",
	[W_OUTBOX_RENEW] = "UPDATE outbox SET lease_until = $2::bigint WHERE owner = $1::text AND state = 1",
	/* Leases of other instances that ran out by $2: due now, uncertain. */
	[W_OUTBOX_SWEEP] = "UPDATE outbox SET state = 0, uncertain = 1, owner = NULL, lease_until = NULL,"
	    " due_ms = $2::bigint, calendar = 0 WHERE state = 1 AND (owner IS NULL OR owner <> $1::text)"
	    " AND (lease_until IS NULL OR lease_until < $2::bigint)",
	/* Take or renew a named lease: only its owner, or anyone once it ran
	 * out by $4; a row changed means held. */
	[W_LEASE_TAKE] = "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3)"
	    " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms"
	    " WHERE leases.owner = excluded.owner OR leases.until_ms < $4::bigint",
	[W_LEASE_RELEASE] = "DELETE FROM leases WHERE owner = $1",
	[W_LEASE_CLEAR] = "DELETE FROM leases",
	/* A wall-clock jump (0007): delays move with it, calendar times stay;
	 * $1 = 0 only pulls in what lies beyond the cap $2. */
	[W_OUTBOX_SHIFT] = "UPDATE outbox SET due_ms = LEAST(due_ms + $1::bigint, $2::bigint)"
	    " WHERE calendar = 0 AND ($1::bigint <> 0 OR due_ms > $2::bigint)",
	[W_MSG_SHIFT] = "UPDATE messages SET next_attempt_ms = LEAST(next_attempt_ms + $1::bigint, $2::bigint)"
	    " WHERE next_attempt_ms IS NOT NULL AND ($1::bigint <> 0 OR next_attempt_ms > $2::bigint)"
	    " AND id IN (SELECT message_id FROM outbox WHERE calendar = 0)",
	[W_CONV_CHANNEL] = "SELECT channel_id FROM conversations WHERE id = $1 AND org_id = $2",
	[W_CONV_MARK_READ] = "UPDATE conversations SET unread_count = 0 WHERE id = $1",
	[W_CONV_LAST_INBOUND_ID] = "SELECT provider_message_id FROM messages"
	    " WHERE conversation_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1",
	[W_TEMPLATE_INSERT] = "INSERT INTO templates (" TEMPLATE_COLS ", org_id) VALUES ($1, $2, $3, $4, $5)",
	[W_TEMPLATE_DELETE] = "DELETE FROM templates WHERE name = $1 AND org_id = $2",
	[W_USER_INSERT] = "INSERT INTO users (name, password_hash, created_at, must_change_password)"
	    " VALUES ($1, $2, $3, $4)",
	[W_SESSION_INSERT] = "INSERT INTO sessions (token_hash, csrf, user_name, created_at, expires_at,"
	    " credential) VALUES ($1, $2, $3, $4, $5, $6)",
	[W_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= $1",
	[W_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = $1",
	[W_USER_DELETE] = "DELETE FROM users WHERE name = $1",
	[W_USER_PASSWORD] = "UPDATE users SET password_hash = $2, must_change_password = $3"
	    " WHERE name = $1",
	[W_USER_EXISTS] = "SELECT 1 FROM users WHERE name = $1",
	[W_SESSIONS_OF_USER] = "DELETE FROM sessions WHERE user_name = $1",
	/* A role in an organization: made, or changed. */
	[W_SIGNING_KEY_INSERT] = "INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)",
	[W_SIGNING_KEY_PURGE] = "DELETE FROM signing_keys WHERE created_at < $1",
	/* Sending quotas (0013): a scope's counts in the windows from ?2 on. */
	[W_QUOTA_READ] = "SELECT kind, window_start, count FROM quota_usage WHERE scope = $1 AND window_start >= $2",
	[W_QUOTA_ADD] = "INSERT INTO quota_usage (scope, kind, window_start, count) VALUES ($1, $2, $3, $4)"
	    " ON CONFLICT (scope, kind, window_start) DO UPDATE SET count = quota_usage.count + excluded.count",
	[W_QUOTA_PURGE] = "DELETE FROM quota_usage WHERE scope = $1 AND window_start < $2",
	/* Held back by a quota: pending until the window opens (no attempt counted). */
	[W_OUTBOX_HOLD] = "UPDATE outbox SET due_ms = $2 WHERE message_id = $1 AND state = 0",
	[W_MSG_THROTTLED] = "UPDATE messages SET throttled_until = $2 WHERE id = $1",
	/* Bulk cooldown per contact (0013). */
	[W_CONTACT_BULK_GET] = "SELECT coalesce(last_bulk_ms, 0) FROM contacts WHERE id = $1",
	[W_CONTACT_BULK_SET] = "UPDATE contacts SET last_bulk_ms = $2 WHERE id = $1",
	/* Duplicate detection: the fingerprint's latest message, in the channel's organization. */
	[W_FINGERPRINT_PUT] = "INSERT INTO content_fingerprints (org_id, fingerprint, at_ms, message_id)"
	    " VALUES ((SELECT org_id FROM channels WHERE id = $1), $2, $3, $4)"
	    " ON CONFLICT (org_id, fingerprint) DO UPDATE SET at_ms = excluded.at_ms,"
	    " message_id = excluded.message_id",
	/* Erasure (contact.erased): the contact, if it is organization ?2's. */
	[W_CONTACT_OF_ORG] = "SELECT ct.id, v.id, ct.channel_id FROM contacts ct"
	    " JOIN channels ch ON ch.id = ct.channel_id LEFT JOIN conversations v ON v.contact_id = ct.id"
	    " WHERE ct.id = $1 AND ch.org_id = $2",
	[W_CONV_MESSAGES] = "SELECT m.id, m.doc FROM messages m WHERE m.conversation_id = $1 AND m.id > $2"
	    " ORDER BY m.id LIMIT $3",
	[W_MSG_SCRUB] = "UPDATE messages SET doc = $1, raw = '{}', error_title = NULL, error_detail = NULL,"
	    " last_error_title = NULL, last_error_detail = NULL WHERE id = $2",
	[W_STATUS_SCRUB] = "UPDATE statuses SET raw = '{}', error_detail = NULL WHERE message_id = $1",
	[W_EVENTS_SCRUB_CONV] = "UPDATE events SET data = '{\"erased\":true}' WHERE conversation_id = $1",
	[W_CONTACT_SCRUB] = "UPDATE contacts SET name = NULL, address = $1 WHERE id = $2",
	[W_OUTBOX_DROP_CONV] = "DELETE FROM outbox WHERE state IN (0, 2) AND message_id IN"
	    " (SELECT id FROM messages WHERE conversation_id = $1)",
	[W_FINGERPRINTS_DROP] = "DELETE FROM content_fingerprints WHERE message_id = $1",
	/* Sends an erasure dropped: failed, for good. */
	[W_MSG_FAIL_UNSENT] = "UPDATE messages SET status = 'failed', error_title = 'the contact was erased'"
	    " WHERE conversation_id = $1 AND status IN ('queued', 'scheduled')"
	    " AND id NOT IN (SELECT message_id FROM outbox)",
	/* Retention (apply_erase.c): an organization's next messages and events by id. */
	[W_ORG_MESSAGES_PAGE] = "SELECT id, created_ms, doc FROM messages WHERE org_id = $1 AND id > $2"
	    " ORDER BY id LIMIT $3",
	[W_ORG_EVENTS_PAGE] = "SELECT seq, at_ms FROM events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
	[W_EVENTS_SCRUB_RANGE] = "UPDATE events SET data = '{\"erased\":true}' WHERE org_id = $1 AND seq > $2"
	    " AND seq <= $3 AND type <> 'contact.erased' AND type NOT LIKE 'audit.%'",
	[W_FINGERPRINTS_EXPIRE] = "DELETE FROM content_fingerprints WHERE org_id = $1 AND at_ms < $2",
	[W_USER_PLATFORM] = "UPDATE users SET platform_admin = $2 WHERE name = $1",
	[W_MEMBER_PUT] = "INSERT INTO memberships (user_name, org_id, role, created_at)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (user_name, org_id) DO UPDATE SET role = excluded.role",
	[W_MEMBER_DELETE] = "DELETE FROM memberships WHERE user_name = $1 AND org_id = $2",
	[W_MEMBERS_OF_USER] = "DELETE FROM memberships WHERE user_name = $1",
	[W_SUB_INSERT] = "INSERT INTO subscriptions (url, events, secret, created_at, delivered_seq, org_id,"
	    " kind, config, channels) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
	[W_ORG_SETTINGS] = "UPDATE orgs SET settings = $2 WHERE id = $1",
	[W_ORG_INSERT] = "INSERT INTO orgs (name, created_at) VALUES ($1, $2) RETURNING id",
	[W_SUB_DELETE] = "DELETE FROM subscriptions WHERE id = $1",
	/* GREATEST: a late or repeated advance never moves the cursor back. */
	[W_SUB_ADVANCE] = "UPDATE subscriptions SET delivered_seq = GREATEST(delivered_seq, $2::bigint),"
	    " attempts = 0, first_attempt_ms = NULL, next_attempt_ms = 0, last_error = NULL"
	    " WHERE id = $1",
	[W_SUB_RETRY] = "UPDATE subscriptions SET attempts = $2, first_attempt_ms = $3::bigint,"
	    " next_attempt_ms = $4, last_error = $5 WHERE id = $1",

	/* Newest first: the first signs. */
	[R_SIGNING_KEYS] = "SELECT kid, secret, created_at FROM signing_keys ORDER BY created_at DESC, kid",
	/* Instances alive: each holds "instance:<id>" for itself (lease.h). */
	[R_LIVE_INSTANCES] = "SELECT count(*) FROM leases WHERE name LIKE 'instance:%' AND until_ms >= $1",
	[R_QUOTA_USAGE] = "SELECT kind, window_start, count FROM quota_usage WHERE scope = $1"
	    " AND window_start >= $2",
	[R_FINGERPRINT] = "SELECT at_ms FROM content_fingerprints WHERE org_id = $1 AND fingerprint = $2",
	[R_ORGS] = "SELECT id, name, settings, created_at FROM orgs ORDER BY id",
	[R_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
	[R_PING] = "SELECT 1",
	[R_CHANNELS] = "SELECT id, name, type, config, created_at, updated_at, org_id FROM channels"
	    " WHERE deleted_at IS NULL ORDER BY id",
	[R_CHANNELS_EVER] = "SELECT CASE WHEN EXISTS (SELECT 1 FROM channels) THEN 1 ELSE 0 END",
	[R_CHANNEL_CURSOR] = "SELECT cursor FROM channel_states WHERE channel_id = $1",
	[R_CHANNEL_STATES] = "SELECT s.channel_id, s.state, s.reason, s.updated_at FROM channel_states s"
	    " JOIN channels c ON c.id = s.channel_id WHERE c.deleted_at IS NULL",
	[R_CHANNEL_QR] = "SELECT s.state, s.qr, s.pairing_code, s.qr_at FROM channel_states s"
	    " JOIN channels c ON c.id = s.channel_id WHERE s.channel_id = $1 AND c.org_id = $2",
	[R_API_KEYS] = "SELECT id, org_id, name, hash, scopes, prefix, created_at, expires_at,"
	    " last_used_at FROM api_keys WHERE revoked_at IS NULL ORDER BY id",
	[R_CONV_LIST] = CONV_SELECT
	    " WHERE c.org_id = $6 AND ($1::bigint = 0 OR c.channel_id = $1::bigint)"
	    " AND ($2::text IS NULL OR ct.name ILIKE $2::text ESCAPE '\\' OR ct.address ILIKE $2::text ESCAPE '\\')"
	    " AND (c.last_activity_ms, c.id) < ($3, $4)"
	    " ORDER BY c.last_activity_ms DESC, c.id DESC LIMIT $5",
	[R_CONV_GET] = CONV_SELECT " WHERE c.id = $1 AND c.org_id = $2",
	[R_CONV_EXISTS] = "SELECT 1 FROM conversations WHERE id = $1 AND org_id = $2",
	[R_MSG_LIST] = "SELECT " MSG_COLS " FROM messages m"
	    " WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3",
	[R_MSG_GET] = "SELECT " MSG_COLS " FROM messages m WHERE m.id = $1 AND m.org_id = $2",
	[R_MSG_BY_CLIENT_ID] = "SELECT " MSG_COLS " FROM messages m WHERE m.client_id = $1"
	    " AND m.org_id = $2",
	[R_MSG_BY_PROVIDER] = "SELECT " MSG_COLS " FROM messages m"
	    " WHERE m.provider_message_id = $1 AND m.org_id = $2 ORDER BY m.id",
	/* Waiting messages whose last attempt failed, newest first (the outbox
	 * holds only unfinished entries: no index needed). */
	[R_MSG_RETRYING] = "SELECT " MSG_COLS " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE m.last_error_title IS NOT NULL AND m.org_id = $2 ORDER BY m.id DESC LIMIT $1",
	[R_STATUS_HISTORY] = STATUS_HISTORY_SQL,
	[R_EVENTS] = "SELECT e.seq, e.type, e.at_ms, ch.name, e.conversation_id, e.message_id, e.data,"
	    " e.org_id FROM events e LEFT JOIN channels ch ON ch.id = e.channel_id"
	    " WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
	/* One organization's (index events_org). */
	[R_EVENTS_ORG] = "SELECT e.seq, e.type, e.at_ms, ch.name, e.conversation_id, e.message_id, e.data,"
	    " e.org_id FROM events e LEFT JOIN channels ch ON ch.id = e.channel_id"
	    " WHERE e.org_id = $3 AND e.seq > $1 AND e.type NOT LIKE 'audit.%' ORDER BY e.seq LIMIT $2",
	/* Audit events (0014): one organization's, read apart (GET /v1/audit). */
	[R_AUDIT] = "SELECT e.seq, e.type, e.at_ms, ch.name, e.conversation_id, e.message_id, e.data,"
	    " e.org_id FROM events e LEFT JOIN channels ch ON ch.id = e.channel_id"
	    " WHERE e.org_id = $3 AND e.seq > $1 AND e.type LIKE 'audit.%' ORDER BY e.seq LIMIT $2",
	[R_OUTBOX_DUE] = "SELECT o.message_id, o.channel_id, o.recipient, o.priority, o.attempts,"
	    " o.created_ms, o.first_attempt_ms, o.uncertain, " MSG_COLS
	    " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE o.state = 0 AND o.channel_id = $3 AND o.due_ms <= $1"
	    " ORDER BY o.priority, o.due_ms, o.message_id LIMIT $2",
	[R_OUTBOX_DUE_ALL] = "SELECT o.message_id, o.channel_id, o.recipient, o.priority, o.attempts,"
	    " o.created_ms, o.first_attempt_ms, o.uncertain, " MSG_COLS
	    " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE o.state = 0 AND o.due_ms <= $1"
	    " ORDER BY o.priority, o.due_ms, o.message_id LIMIT $2",
	/* min(due_ms) per pending priority, each one index seek, instead of a
	 * scan of every pending entry: priorities are few, entries many. */
	[R_EVENTS_HEAD] = "SELECT coalesce(max(seq), 0) FROM events",
	[R_OUTBOX_NEXT_DUE] = "SELECT coalesce(min(due_ms), 0) FROM outbox WHERE state = 0",
	/* One index seek per priority (0 replies, 1 bulk), not a scan of the backlog. */
	[R_OUTBOX_NEXT_DUE_CHANNEL] = "SELECT coalesce(min(d), 0) FROM ("
	    "SELECT min(due_ms) AS d FROM outbox WHERE state = 0 AND channel_id = $1 AND priority = 0"
	    " UNION ALL SELECT min(due_ms) FROM outbox WHERE state = 0 AND channel_id = $1 AND priority = 1) AS due",
	/* No index on channel_id: the outbox holds only unfinished entries. */
	[R_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE channel_id = $1",
	/* A contact marked blocked may have no conversation (Telegram
	 * my_chat_member of someone who never wrote). */
	[R_LAST_INBOUND] = "SELECT coalesce(c.last_inbound_ms, 0), ct.status,"
	    " coalesce(ct.opted_out_at, 0) FROM contacts ct"
	    " LEFT JOIN conversations c ON c.contact_id = ct.id"
	    " WHERE ct.channel_id = $1 AND ct.address = $2",
	[R_MSG_PROVIDER_ID] = "SELECT channel_id, provider_message_id FROM messages WHERE id = $1"
	    " AND org_id = $2",
	[R_TEMPLATES] = "SELECT " TEMPLATE_COLS " FROM templates WHERE org_id = $1 ORDER BY name, language",
	[R_TEMPLATE_GET] = "SELECT " TEMPLATE_COLS " FROM templates"
	    " WHERE org_id = $3 AND name = $1 AND ($2::text IS NULL OR language = $2::text)"
	    " ORDER BY language LIMIT 1",
	[R_USER_GET] = "SELECT name, password_hash, created_at FROM users WHERE name = $1",
	[R_SESSIONS] = "SELECT token_hash, csrf, user_name, created_at, expires_at, credential"
	    " FROM sessions WHERE expires_at > $1 ORDER BY id",
	/* An organization's members. */
	[R_USERS] = "SELECT u.name, u.created_at, m.role, u.must_change_password FROM memberships m"
	    " JOIN users u ON u.name = m.user_name WHERE m.org_id = $1 ORDER BY u.name",
	/* Every user, with each membership (org_id 0 and role '': none). */
	[R_MEMBERS] = "SELECT u.name, coalesce(m.org_id, 0), coalesce(m.role, ''), u.platform_admin,"
	    " u.must_change_password"
	    " FROM users u LEFT JOIN memberships m ON m.user_name = u.name ORDER BY u.name, m.org_id",
	[R_SUBSCRIPTIONS] = "SELECT s.id, s.url, s.events, s.secret, s.created_at, s.delivered_seq,"
	    " s.attempts, coalesce(s.first_attempt_ms, 0), s.next_attempt_ms, s.last_error, s.paused,"
	    " s.org_id, s.kind, s.config, s.channels, coalesce(o.name, '')"
	    " FROM subscriptions s LEFT JOIN orgs o ON o.id = s.org_id ORDER BY s.id",
	/* Campaigns (issue 14, h14camp). */
	CAMPAIGN_SQL("$", "::bigint", " RETURNING id", "json_array_elements_text($2::json) AS value"),
	CAMPAIGN_BULK_PG,
	/* files (issue 14): FILE_COLS = id, org_id, sha256, size, mime_type, filename, created_at */
	[W_FILE_FIND] = "SELECT id, org_id, sha256, size, mime_type, filename, created_at FROM files WHERE org_id = $1 AND sha256 = $2",
	[W_FILE_TOUCH] = "UPDATE files SET last_used_at = $2 WHERE id = $1",
	[W_FILE_INSERT] = "INSERT INTO files (id, org_id, sha256, size, mime_type, filename, created_at, last_used_at, refs)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 0)",
	[W_FILE_REF] = "UPDATE files SET refs = greatest(refs + $3::bigint, 0), last_used_at = $4"
	    " WHERE id = $1 AND org_id = $2",
	[W_FILE_EXPIRED] = "SELECT id, sha256 FROM files WHERE refs = 0 AND last_used_at < $1"
	    " ORDER BY last_used_at LIMIT $2",
	[W_FILE_DELETE] = "DELETE FROM files WHERE id = $1 AND refs = 0",
	[W_FILE_SHA_USED] = "SELECT 1 FROM files WHERE sha256 = $1 LIMIT 1",
	[R_FILE_GET] = "SELECT id, org_id, sha256, size, mime_type, filename, created_at FROM files WHERE id = $1 AND org_id = $2",
	/* Newest first; the cursor is the last row's (created_at, id). */
	[R_FILES] = "SELECT id, org_id, sha256, size, mime_type, filename, created_at, refs FROM files WHERE org_id = $1"
	    " AND ($2::bigint = 0 OR created_at < $2::bigint OR (created_at = $2::bigint AND id < $3))"
	    " ORDER BY created_at DESC, id DESC LIMIT $4",
	/* imports (issue 14, h14import) */
	[W_IMPORT_INSERT] = "INSERT INTO imports (org_id, file_id, channel_id, format, request, status, owner,"
	    " created_at) VALUES ($1, $2, $3, $4, $5, 'parsing', $6, $7) RETURNING id",
	[W_IMPORT_RESET] = "UPDATE imports SET n_rows = 0, n_valid = 0, n_invalid = 0, n_duplicates = 0,"
	    " n_errors = 0, columns = NULL, preview = NULL, owner = coalesce($2, owner)"
	    " WHERE id = $1 AND status = 'parsing'",
	[W_IMPORT_ROWS_DELETE] = "DELETE FROM import_rows WHERE import_id = $1",
	[W_IMPORT_ERRORS_DELETE] = "DELETE FROM import_errors WHERE import_id = $1",
	/* A chunk of rows as one JSON array: one statement, one round trip. */
	[W_IMPORT_ROWS_PUT] = "INSERT INTO import_rows (import_id, row_no, phone, data, status)"
	    " SELECT $1, r.r, r.p, r.d::text, r.s FROM json_to_recordset($2::json)"
	    " AS r(r bigint, p text, d json, s text)",
	[W_IMPORT_ERRORS_PUT] = "INSERT INTO import_errors (import_id, n, row_no, col, value, code, message)"
	    " SELECT $1, e.n, e.r, e.c, e.v, e.k, e.m FROM json_to_recordset($2::json)"
	    " AS e(n bigint, r bigint, c text, v text, k text, m text)",
	[W_IMPORT_COUNTS] = "UPDATE imports SET n_rows = n_rows + $2, n_valid = n_valid + $3,"
	    " n_invalid = n_invalid + $4, n_duplicates = n_duplicates + $5, n_errors = n_errors + $6,"
	    " columns = coalesce($7, columns), preview = coalesce($8, preview)"
	    " WHERE id = $1 AND status = 'parsing'",
	[W_IMPORT_FINISH] = "UPDATE imports SET status = $2, error_code = $3, error_message = $4,"
	    " error_row = $5, finished_at = $6, columns = coalesce($7, columns),"
	    " preview = coalesce($8, preview) WHERE id = $1 AND status = 'parsing'",
	[W_IMPORT_FILE] = "SELECT file_id FROM imports WHERE id = $1 AND org_id = $2",
	[W_IMPORT_DELETE] = "DELETE FROM imports WHERE id = $1 AND org_id = $2",
	/* An unfinished campaign reading the import (source {"import_id":N}); the
	 * CASE keeps the recipients' lists of other campaigns unparsed. */
	[W_IMPORT_IN_USE] = "SELECT id FROM campaigns WHERE org_id = $2"
	    " AND status NOT IN ('completed', 'cancelled') AND CASE WHEN source LIKE '{\"import_id\":%'"
	    " THEN (source::jsonb ->> 'import_id') END = $1::text LIMIT 1",
	/* imports (issue 14, h14import) */
	[R_IMPORT_GET] = "SELECT " IMPORT_COLS " FROM imports i LEFT JOIN channels ch ON ch.id = i.channel_id"
	    " WHERE i.id = $1 AND i.org_id = $2",
	[R_IMPORTS_LIST] = "SELECT " IMPORT_COLS " FROM imports i LEFT JOIN channels ch ON ch.id = i.channel_id"
	    " WHERE i.org_id = $1 AND i.id < $2 ORDER BY i.id DESC LIMIT $3",
	[R_IMPORT_ERRORS] = "SELECT n, row_no, col, value, code, message FROM import_errors"
	    " WHERE import_id = $1 AND n > $2 ORDER BY n LIMIT $3",
	[R_IMPORT_ROWS_PAGE] = "SELECT row_no, phone, data FROM import_rows"
	    " WHERE import_id = $1 AND row_no > $2 AND status = 'valid' ORDER BY row_no LIMIT $3",
	[R_IMPORT_PREVIEW_ROWS] = "SELECT row_no, status FROM import_rows"
	    " WHERE import_id = $1 AND row_no <= $2 ORDER BY row_no LIMIT $3",
	[R_IMPORTS_PARSING] = "SELECT id, org_id, file_id, channel_id, format, request FROM imports"
	    " WHERE status = 'parsing' AND ($1::bigint = 1 OR owner = $2::text) ORDER BY id",
	/* h14optout: opt-outs and approved templates (issue 14). */
	[W_CONTACT_OPTOUT] = "UPDATE contacts SET opted_out_at = $2, opted_out_keyword = $3"
	    " WHERE id = $1 AND opted_out_at IS NULL",
	[W_CONTACT_OPTIN] = "UPDATE contacts SET opted_out_at = NULL, opted_out_keyword = NULL"
	    " WHERE id = $1 AND opted_out_at IS NOT NULL",
	[W_CHTPL_DELETE] = "DELETE FROM channel_templates WHERE channel_id = $1",
	[W_CHTPL_INSERT] = "INSERT INTO channel_templates (channel_id, name, language, category, status,"
	    " params, components, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	    " ON CONFLICT (channel_id, name, language) DO NOTHING",
	[W_CHTPL_SYNC] = "INSERT INTO channel_template_syncs (channel_id, synced_at, attempted_at, last_error)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id) DO UPDATE SET"
	    " synced_at = coalesce(excluded.synced_at, channel_template_syncs.synced_at),"
	    " attempted_at = excluded.attempted_at, last_error = excluded.last_error",
	[R_CHTPL_LIST] = "SELECT name, language, category, status, params, components, synced_at"
	    " FROM channel_templates WHERE channel_id = $1 ORDER BY name, language",
	[R_CHTPL_GET] = "SELECT name, language, category, status, params, components, synced_at"
	    " FROM channel_templates WHERE channel_id = $1 AND name = $2 AND language = $3",
	[R_CHTPL_SYNC] = "SELECT coalesce(synced_at, 0), attempted_at, last_error"
	    " FROM channel_template_syncs WHERE channel_id = $1",
	/* media both ways (issue 14, 0020_media.sql; src/store/apply_media.c) */
	[W_MEDIA_JOB_INSERT] = "INSERT INTO media_jobs (message_id, channel_id, org_id, source, status,"
	    " attempts, next_at, created_at) SELECT $1, $2, org_id, $3, 'pending', 0, $4, $4"
	    " FROM channels WHERE id = $2",
	[W_MEDIA_CLAIM] = "UPDATE media_jobs SET owner = $2, lease_until = $3 WHERE message_id = $1"
	    " AND status = 'pending' AND (owner IS NULL OR owner = $2 OR lease_until < $4)",
	[W_MEDIA_JOB_GET] = "SELECT j.attempts, j.org_id, j.channel_id, m.conversation_id, j.status"
	    " FROM media_jobs j JOIN messages m ON m.id = j.message_id WHERE j.message_id = $1",
	[W_MEDIA_STORED] = "UPDATE media_jobs SET status = 'stored', file_id = $2, attempts = attempts + 1,"
	    " source = '{}', last_error = NULL, owner = NULL, lease_until = NULL"
	    " WHERE message_id = $1 AND status = 'pending'",
	[W_MEDIA_RETRY] = "UPDATE media_jobs SET attempts = attempts + 1, next_at = $2, last_error = $3,"
	    " owner = NULL, lease_until = NULL WHERE message_id = $1 AND status = 'pending'",
	[W_MEDIA_FAILED] = "UPDATE media_jobs SET status = 'failed', attempts = attempts + 1, last_error = $2,"
	    " source = '{}', owner = NULL, lease_until = NULL WHERE message_id = $1 AND status = 'pending'",
	[W_MEDIA_UPLOAD_PUT] = "INSERT INTO media_uploads (channel_id, sha256, media_id, uploaded_at)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id, sha256) DO UPDATE SET"
	    " media_id = excluded.media_id, uploaded_at = excluded.uploaded_at",
	[R_MEDIA_DUE] = "SELECT j.message_id, j.channel_id, j.org_id, j.source, j.attempts, m.type"
	    " FROM media_jobs j JOIN messages m ON m.id = j.message_id WHERE j.status = 'pending'"
	    " AND j.next_at <= $1 AND (j.owner IS NULL OR j.lease_until < $1 OR j.owner = $3)"
	    " ORDER BY j.next_at LIMIT $2",
	[R_MEDIA_NEXT_DUE] = "SELECT min(next_at) FROM media_jobs WHERE status = 'pending'",
	[R_MEDIA_UPLOAD_GET] = "SELECT media_id, uploaded_at FROM media_uploads"
	    " WHERE channel_id = $1 AND sha256 = $2",
	/* media of a message whose content goes (erasure, retention: apply_media.c) */
	[W_MEDIA_UNREF] = "UPDATE files SET refs = greatest(refs - 1, 0), last_used_at = $3"
	    " WHERE id = $1 AND org_id = (SELECT org_id FROM messages WHERE id = $2)",
	[W_MEDIA_JOB_DROP] = "UPDATE media_jobs SET status = 'failed', last_error = 'erased', source = '{}',"
	    " owner = NULL, lease_until = NULL WHERE message_id = $1 AND status = 'pending'",
	/* exports (issue 15, h15sink, 0021_exports.sql) */
	[W_SUB_PAUSE] = "UPDATE subscriptions SET paused = $2 WHERE id = $1",
};
