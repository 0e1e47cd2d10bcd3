/*
 * campaign_bulk_sql.h - a campaign chunk's messages made set-based (issue
 * 14): every statement takes the chunk's rows as one JSON array (parameter
 * 2) that the database unpacks (json_each on SQLite, json_to_recordset on
 * PostgreSQL), parameter 1 the channel, 3 the time (ms). Spliced into
 * sqlite_sql.c (CAMPAIGN_BULK_SQLITE) and pg_sql.c (CAMPAIGN_BULK_PG).
 *
 * The rows (campaign_msgs.c):
 *  W_CBULK_MSGS   [{"i":id,"c":conversation,"t":type,"s":status,"ts":timestamp,
 *                   "d":doc,"r":raw,"th":throttled_until|null}], 4 the campaign
 *  W_CBULK_SENDS  [{"i":id,"c":conversation,"s":status,"o":recipient,"p":priority,
 *                   "u":due_ms,"k":calendar,"b":contact|null}]: the statuses
 *                 rows, the conversations' touch, the outbox rows, and the
 *                 contacts' last bulk time (b set: a cooldown applies)
 *  W_CBULK_LAST   [contact ids]: each one's last bulk send (ms)
 *  W_CBULK_CONVS  [{"c":contact,"m":message}]: new contacts' conversations, made
 *                 touched by their message (W_CBULK_TOUCH then changes nothing
 *                 in them), RETURNING id, contact_id; 3 the time (ms), 4 (s)
 *  W_CBULK_RCPTS  [{"i":idx,"a":address,"v":variables,"m":message,"s":status,"r":why}],
 *                 1 the campaign here
 */
#ifndef MSGD_CAMPAIGN_BULK_SQL_H
#define MSGD_CAMPAIGN_BULK_SQL_H

#define CBULK_V(k) "value ->> '" k "'"
#define CBULK_I(k) "CAST(value ->> '" k "' AS INTEGER)"

#define CAMPAIGN_BULK_SQLITE \
	[W_CBULK_MSGS] = "INSERT INTO messages (id, channel_id, conversation_id, direction,"          \
	    " provider_message_id, type, status, timestamp, created_ms, doc, raw, client_id, org_id,"  \
	    " campaign_id, throttled_until) SELECT " CBULK_I("i") ", ?1, " CBULK_I("c") ", 'out', NULL," \
	    " " CBULK_V("t") ", " CBULK_V("s") ", " CBULK_I("ts") ", ?3, " CBULK_V("d") ", " CBULK_V("r") "," \
	    " NULL, (SELECT org_id FROM channels WHERE id = ?1), ?4, " CBULK_I("th") " FROM json_each(?2)", \
	[W_CBULK_STATUSES] = "INSERT INTO statuses (message_id, channel_id, provider_message_id," \
	    " status, provider_status, timestamp, error_code, error_title, error_detail, raw, created_ms)" \
	    " SELECT " CBULK_I("i") ", ?1, NULL, " CBULK_V("s") ", " CBULK_V("s") ", 0, NULL, NULL, NULL," \
	    " '{}', ?3 FROM json_each(?2)",                                                           \
	[W_CBULK_TOUCH] = "UPDATE conversations SET last_message_id = j.m, last_activity_ms = ?3,"    \
	    " last_inbound_ms = max(0, coalesce(last_inbound_ms, 0)) FROM (SELECT " CBULK_I("c") " AS c," \
	    " max(" CBULK_I("i") ") AS m FROM json_each(?2) GROUP BY 1) AS j"                        \
	    " WHERE conversations.id = j.c AND conversations.channel_id = ?1"                        \
	    " AND conversations.last_message_id IS NOT j.m",                                         \
	[W_CBULK_CONVS] = "INSERT INTO conversations (channel_id, contact_id, last_message_id,"       \
	    " last_activity_ms, last_inbound_ms, created_at, org_id) SELECT ?1, " CBULK_I("c") ","     \
	    " " CBULK_I("m") ", ?3, CASE WHEN value ->> 'm' IS NULL THEN NULL ELSE 0 END, ?4,"        \
	    " (SELECT org_id FROM channels WHERE id = ?1) FROM json_each(?2) RETURNING id, contact_id", \
	[W_CBULK_OUTBOX] = "INSERT INTO outbox (message_id, channel_id, recipient, priority, due_ms,"  \
	    " created_ms, calendar) SELECT " CBULK_I("i") ", ?1, " CBULK_V("o") ", " CBULK_I("p") ","  \
	    " " CBULK_I("u") ", ?3, " CBULK_I("k") " FROM json_each(?2)",                            \
	[W_CBULK_COOLED] = "UPDATE contacts SET last_bulk_ms = j.u FROM (SELECT " CBULK_I("b") " AS b," \
	    " " CBULK_I("u") " AS u FROM json_each(?2) WHERE " CBULK_V("b") " IS NOT NULL) AS j"      \
	    " WHERE contacts.id = j.b AND contacts.channel_id = ?1",              \
	[W_CBULK_LAST] = "SELECT id, coalesce(last_bulk_ms, 0) FROM contacts WHERE channel_id = ?1"   \
	    " AND id IN (SELECT value FROM json_each(?2))",                                          \
	[W_CBULK_RCPTS] = "INSERT INTO campaign_recipients (campaign_id, idx, address, variables,"    \
	    " message_id, status, skip_reason) SELECT ?1, " CBULK_I("i") ", " CBULK_V("a") ","        \
	    " " CBULK_V("v") ", " CBULK_I("m") ", " CBULK_V("s") ", " CBULK_V("r") " FROM json_each(?2)"

#define CAMPAIGN_BULK_PG \
	[W_CBULK_MSGS] = "INSERT INTO messages (id, channel_id, conversation_id, direction,"          \
	    " provider_message_id, type, status, timestamp, created_ms, doc, raw, client_id, org_id,"  \
	    " campaign_id, throttled_until) SELECT j.i, $1::bigint, j.c, 'out', NULL, j.t, j.s, j.ts," \
	    " $3::bigint, j.d, j.r, NULL, (SELECT org_id FROM channels WHERE id = $1::bigint), $4::bigint," \
	    " j.th FROM json_to_recordset($2::json) AS j(i bigint, c bigint, t text, s text, ts bigint," \
	    " d text, r text, th bigint)",                                                           \
	[W_CBULK_STATUSES] = "INSERT INTO statuses (message_id, channel_id, provider_message_id,"     \
	    " status, provider_status, timestamp, error_code, error_title, error_detail, raw, created_ms)" \
	    " SELECT j.i, $1::bigint, NULL, j.s, j.s, 0, NULL, NULL, NULL, '{}', $3::bigint"          \
	    " FROM json_to_recordset($2::json) AS j(i bigint, s text)",                               \
	[W_CBULK_TOUCH] = "UPDATE conversations SET last_message_id = j.m, last_activity_ms = $3::bigint," \
	    " last_inbound_ms = GREATEST(0, coalesce(last_inbound_ms, 0)) FROM (SELECT x.c, max(x.i) AS m" \
	    " FROM json_to_recordset($2::json) AS x(c bigint, i bigint) GROUP BY x.c) AS j"          \
	    " WHERE conversations.id = j.c AND conversations.channel_id = $1::bigint"                \
	    " AND conversations.last_message_id IS DISTINCT FROM j.m",                               \
	[W_CBULK_CONVS] = "INSERT INTO conversations (channel_id, contact_id, last_message_id,"       \
	    " last_activity_ms, last_inbound_ms, created_at, org_id) SELECT $1::bigint, j.c, j.m,"    \
	    " $3::bigint, CASE WHEN j.m IS NULL THEN NULL ELSE 0 END, $4::bigint,"                    \
	    " (SELECT org_id FROM channels WHERE id = $1::bigint) FROM json_to_recordset($2::json)"  \
	    " AS j(c bigint, m bigint) RETURNING id, contact_id",                                     \
	[W_CBULK_OUTBOX] = "INSERT INTO outbox (message_id, channel_id, recipient, priority, due_ms,"  \
	    " created_ms, calendar) SELECT j.i, $1::bigint, j.o, j.p, j.u, $3::bigint, j.k"          \
	    " FROM json_to_recordset($2::json) AS j(i bigint, o text, p bigint, u bigint, k bigint)", \
	[W_CBULK_COOLED] = "UPDATE contacts SET last_bulk_ms = j.u FROM json_to_recordset($2::json)"  \
	    " AS j(b bigint, u bigint) WHERE j.b IS NOT NULL AND contacts.id = j.b"                   \
	    " AND contacts.channel_id = $1::bigint",                      \
	[W_CBULK_LAST] = "SELECT id, coalesce(last_bulk_ms, 0) FROM contacts WHERE channel_id = $1::bigint" \
	    " AND id IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text($2::json) AS value)", \
	[W_CBULK_RCPTS] = "INSERT INTO campaign_recipients (campaign_id, idx, address, variables,"    \
	    " message_id, status, skip_reason) SELECT $1::bigint, j.i, j.a, j.v, j.m, j.s, j.r"       \
	    " FROM json_to_recordset($2::json) AS j(i bigint, a text, v text, m bigint, s text, r text)"

#endif
