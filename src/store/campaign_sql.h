/*
 * campaign_sql.h - the campaigns' statements (issue 14) in both dialects,
 * spliced into sqlite_sql.c and pg_sql.c's tables (CAMPAIGN_SQL(P, ...) with P
 * the parameter marker: "?" or "$"). The texts are the same in both but
 * where PostgreSQL needs a cast: CAST_I64 after a parameter whose type
 * nothing around it fixes, RET after an insert that makes an id, and EACH2
 * the JSON array parameter 2 as a table of one column, `value` (text).
 */
#ifndef MSGD_CAMPAIGN_SQL_H
#define MSGD_CAMPAIGN_SQL_H

/* Columns read_campaign.c renders a campaign from (c: campaigns, ch: channels). */
#define CAMPAIGN_COLS \
	"c.id, c.name, ch.name, c.status, c.scheduled_at, c.rate, c.quiet_hours, c.content," \
	" c.created, c.c_total, c.c_queued, c.c_sent, c.c_delivered, c.c_read, c.c_failed," \
	" c.c_cancelled, c.c_replied, c.c_skipped, c.skipped_reasons, c.created_at, c.started_at," \
	" c.finished_at"
#define CAMPAIGN_PENDING_OF(P) \
	"SELECT o.message_id FROM outbox o JOIN messages m ON m.id = o.message_id" \
	" WHERE m.campaign_id = " P "1 AND o.state IN (0, 2)"
#define RCPT_COLS \
	"SELECT r.idx, r.address, r.variables, r.message_id, r.status, r.skip_reason, m.error_code," \
	" m.error_title, m.error_detail FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id"
#define SENT_STATES "('accepted', 'sent', 'delivered', 'read')"
/* How many of conversation P1's messages of campaign C wait with no outbox row (erased). */
#define UNSENT_OF(P, C) \
	"SELECT count(*) FROM messages m WHERE m.campaign_id = " C " AND m.conversation_id = " P "1" \
	" AND m.status IN ('queued', 'scheduled') AND m.id NOT IN (SELECT message_id FROM outbox)"

#define CAMPAIGN_SQL(P, CAST_I64, RET, EACH2)                                                          \
	[W_CAMPAIGN_INSERT] = "INSERT INTO campaigns (org_id, name, channel_id, source, content, status," \
	    " scheduled_at, rate, quiet_hours, c_total, created_at, updated_ms) VALUES (" P "1, " P "2," \
	    " " P "3, " P "4, " P "5, 'creating', " P "6, " P "7, " P "8, " P "9, " P "10, " P "10)" RET, \
	[W_CAMPAIGN_GET] = "SELECT id, org_id, channel_id, status, created, c_total, skipped_reasons," \
	    " coalesce(scheduled_at, 0), coalesce(paused_at, 0), name FROM campaigns WHERE id = " P "1" \
	    " AND (" P "2" CAST_I64 " = 0 OR org_id = " P "2" CAST_I64 ")",                    \
	[W_CAMPAIGN_CHUNK_DONE] = "UPDATE campaigns SET created = " P "2, c_queued = c_queued + " P "3," \
	    " c_skipped = c_skipped + " P "4, skipped_reasons = " P "5, status = " P "6,"       \
	    " started_at = coalesce(started_at, " P "7" CAST_I64 "), updated_ms = " P "8,"       \
	    " source_cursor = " P "9 WHERE id = " P "1",                                        \
	[W_RCPT_INSERT] = "INSERT INTO campaign_recipients (campaign_id, idx, address, variables," \
	    " message_id, status, skip_reason) VALUES (" P "1, " P "2, " P "3, " P "4, " P "5, " P "6, " P "7)", \
	[W_CONTACTS_SKIP] = "SELECT address, status, opted_out_at FROM contacts WHERE channel_id = " P "1" \
	    " AND address IN (SELECT value FROM " EACH2 ") AND (status <> 'active' OR opted_out_at IS NOT NULL)", \
	/* A chunk's new contacts, as the prefetch found them absent (W_CBULK_CONVS: theirs). */ \
	[W_CAMPAIGN_NEW_CONTACTS] = "INSERT INTO contacts (channel_id, address, created_at, updated_at)" \
	    " SELECT " P "1" CAST_I64 ", value, " P "3" CAST_I64 ", " P "3" CAST_I64 " FROM " EACH2  \
	    " RETURNING id, address",                                                           \
	[W_CAMPAIGN_COUNT] = "UPDATE campaigns SET c_queued = c_queued + " P "2, c_sent = c_sent + " P "3," \
	    " c_delivered = c_delivered + " P "4, c_read = c_read + " P "5, c_failed = c_failed + " P "6," \
	    " c_cancelled = c_cancelled + " P "7, updated_ms = " P "8"                          \
	    " WHERE id = (SELECT campaign_id FROM messages WHERE id = " P "1)",                 \
	[W_RCPT_SET_STATUS] = "UPDATE campaign_recipients SET status = " P "2 WHERE message_id = " P "1", \
	[W_CAMPAIGN_ON_CHANNEL] = "SELECT 1 FROM campaigns WHERE channel_id = " P "1 LIMIT 1",          \
	[W_CAMPAIGN_REPLIED] = "UPDATE campaigns SET c_replied = c_replied + 1, updated_ms = " P "3" \
	    " WHERE channel_id = " P "1 AND id IN (SELECT campaign_id FROM campaign_recipients" \
	    " WHERE address = " P "2 AND replied = 0 AND status IN " SENT_STATES ")",          \
	[W_RCPT_REPLIED] = "UPDATE campaign_recipients SET replied = 1 WHERE address = " P "2"   \
	    " AND replied = 0 AND status IN " SENT_STATES                                       \
	    " AND campaign_id IN (SELECT id FROM campaigns WHERE channel_id = " P "1)",         \
	[W_CAMPAIGN_SET_STATUS] = "UPDATE campaigns SET status = " P "2, paused_at = " P "3,"     \
	    " started_at = coalesce(started_at, " P "4" CAST_I64 "), finished_at = " P "5,"     \
	    " updated_ms = " P "6 WHERE id = " P "1",                                          \
	[W_CAMPAIGN_HOLD] = "UPDATE outbox SET state = 2 WHERE state = 0"                        \
	    " AND message_id IN (SELECT id FROM messages WHERE campaign_id = " P "1)",          \
	[W_CAMPAIGN_RELEASE] = "UPDATE outbox SET state = 0, due_ms = due_ms + " P "2 WHERE state = 2" \
	    " AND message_id IN (SELECT id FROM messages WHERE campaign_id = " P "1)",          \
	[W_CAMPAIGN_PENDING] = "SELECT count(*) FROM (" CAMPAIGN_PENDING_OF(P) ") p",           \
	[W_CAMPAIGN_CANCEL_STATUSES] = "INSERT INTO statuses (message_id, channel_id, status,"   \
	    " provider_status, timestamp, raw, created_ms) SELECT o.message_id, o.channel_id,"  \
	    " 'cancelled', 'cancelled', 0, '{}', " P "2" CAST_I64 " FROM outbox o"               \
	    " JOIN messages m ON m.id = o.message_id WHERE m.campaign_id = " P "1 AND o.state IN (0, 2)", \
	[W_CAMPAIGN_CANCEL_MSGS] = "UPDATE messages SET status = 'cancelled', next_attempt_ms = NULL" \
	    " WHERE id IN (" CAMPAIGN_PENDING_OF(P) ")",                                        \
	[W_CAMPAIGN_CANCEL_RCPTS] = "UPDATE campaign_recipients SET status = 'cancelled'"        \
	    " WHERE campaign_id = " P "1 AND message_id IN (" CAMPAIGN_PENDING_OF(P) ")",        \
	[W_CAMPAIGN_CANCEL_OUTBOX] = "DELETE FROM outbox WHERE state IN (0, 2)"                  \
	    " AND message_id IN (SELECT id FROM messages WHERE campaign_id = " P "1)",          \
	[W_CAMPAIGN_CANCELLED] = "UPDATE campaigns SET status = 'cancelled', c_queued = c_queued - " P "2," \
	    " c_cancelled = c_cancelled + " P "2 + " P "3, finished_at = " P "4, updated_ms = " P "4," \
	    " paused_at = NULL WHERE id = " P "1",                                             \
	[W_CAMPAIGN_ACTIVE] = "SELECT id, org_id, name, status, created, c_total, c_queued, c_sent," \
	    " c_delivered, c_read, c_failed, c_cancelled, c_replied, c_skipped, skipped_reasons," \
	    " coalesce(scheduled_at, 0), progress, channel_id, progress_ms, updated_ms FROM campaigns" \
	    " WHERE status IN ('creating', 'scheduled', 'running', 'paused')"                   \
	    " OR updated_ms > progress_ms OR finished_at > " P "1 ORDER BY id",                   \
	/* Erasure: the conversation's campaign sends it dropped fail (before W_MSG_FAIL_UNSENT). */ \
	[W_CAMPAIGN_ERASED] = "UPDATE campaigns SET c_queued = c_queued - (" UNSENT_OF(P, "campaigns.id") ")," \
	    " c_failed = c_failed + (" UNSENT_OF(P, "campaigns.id") "), updated_ms = " P "2"     \
	    " WHERE id IN (SELECT campaign_id FROM messages WHERE conversation_id = " P "1"      \
	    " AND campaign_id IS NOT NULL)",                                                     \
	[W_RCPT_ERASED] = "UPDATE campaign_recipients SET status = 'failed' WHERE message_id IN" \
	    " (SELECT id FROM messages WHERE conversation_id = " P "1 AND status IN ('queued', 'scheduled')" \
	    " AND id NOT IN (SELECT message_id FROM outbox))",                                   \
	[W_CAMPAIGN_PROGRESSED] = "UPDATE campaigns SET progress = " P "2, progress_ms = " P "3"  \
	    " WHERE id = " P "1",                                                               \
	[R_CAMPAIGN_GET] = "SELECT " CAMPAIGN_COLS " FROM campaigns c JOIN channels ch ON ch.id = c.channel_id" \
	    " WHERE c.id = " P "1 AND c.org_id = " P "2",                                       \
	[R_CAMPAIGNS_LIST] = "SELECT " CAMPAIGN_COLS " FROM campaigns c JOIN channels ch ON ch.id = c.channel_id" \
	    " WHERE c.org_id = " P "1 AND c.id < " P "2 ORDER BY c.id DESC LIMIT " P "3",        \
	[R_CAMPAIGN_RCPTS] = RCPT_COLS " WHERE r.campaign_id = " P "1 AND r.idx > " P "2"         \
	    " ORDER BY r.idx LIMIT " P "3",                                                     \
	[R_CAMPAIGN_RCPTS_STATUS] = RCPT_COLS " WHERE r.campaign_id = " P "1 AND r.idx > " P "2"  \
	    " AND r.status = " P "4 ORDER BY r.idx LIMIT " P "3",                               \
	[R_CAMPAIGNS_UNFINISHED] = "SELECT id, org_id, channel_id, source, content, created, status," \
	    " coalesce(scheduled_at, 0), coalesce(rate, 0), quiet_hours, created_at, source_cursor, c_total," \
	    " updated_ms"                                                                       \
	    " FROM campaigns"                                                                   \
	    " WHERE created < c_total AND status <> 'cancelled' AND updated_ms <= " P "1 ORDER BY id"

#endif
