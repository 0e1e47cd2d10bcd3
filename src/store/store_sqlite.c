/*
 * store_sqlite.c - the SQLite backend: <data_dir>/msgd.db in WAL mode.
 *
 * Two connections: the writer, used only by store.c's writer thread, and
 * the reader, used only by the event loop for reads. WAL lets the reader
 * see the last commit while the writer works. synchronous=FULL: a commit
 * returns only once it is on disk, because a webhook is acknowledged then.
 *
 * Every SQL statement is prepared once at open (on the connection that uses
 * it) and reset after each use; a statement left un-reset would pin the
 * reader to an old snapshot.
 *
 * Messages are stored with `doc`, the message's API JSON minus the fields
 * that change (status, status_history, error, and provider_message_id,
 * which an outbound message gets when the provider accepts it); a read
 * parses doc and adds those from the messages and statuses rows. Ids are
 * known before the insert (max(id)+1: there is one writer), so doc can hold
 * its own id.
 *
 * Sending. An outbound message (an ingested msg_in with DIR_OUT) gets an
 * outbox row next to it, deleted once the message is accepted, failed or
 * cancelled; the sender claims rows (state 1, in flight) before it sends
 * and records each outcome. Every status change msgd makes itself is also
 * a statuses row with no provider id, so status_history tells the whole
 * life of a message and the provider's reports are never merged with it.
 * Reports that arrive before the send's answer (no message has their
 * provider id yet) are attached when the answer is recorded.
 *
 * Migrations (src/store/migrations/NNNN_name.sql, embedded into
 * build/gen/migrations.c) are applied at open, each in its own transaction, and recorded in
 * schema_migrations.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../log/log.h"
#include "../util/util.h"
#include "migrations.h"
#include "store_backend.h"

#define BUSY_TIMEOUT_MS 5000
#define MAX_PAGE 200
#define MAX_EVENTS_PAGE 1000
#define STORED_JSON_DEPTH 128 /* documents msgd wrote itself */
#define MAX_OUTBOX_PAGE 1000

/* Columns render_message() reads, from a messages table aliased m. */
#define MSG_COLS \
	"m.id, m.doc, m.status, m.error_code, m.error_title, m.error_detail, m.provider_message_id," \
	" m.attempts, m.next_attempt_ms, m.last_error_code, m.last_error_title, m.last_error_detail"
#define CONV_SELECT                                                              \
	"SELECT c.id, ch.name, ct.address, ct.name, c.unread_count, c.last_activity_ms, " \
	MSG_COLS " FROM conversations c"                                         \
	" JOIN contacts ct ON ct.id = c.contact_id"                              \
	" JOIN channels ch ON ch.id = c.channel_id"                              \
	" LEFT JOIN messages m ON m.id = c.last_message_id"
#define CONV_MSG_COL 6
#define STATUS_HISTORY_SQL                                                       \
	"SELECT status, timestamp, created_ms, error_code, error_title, error_detail" \
	" FROM statuses WHERE message_id = ?1 ORDER BY id"
#define TEMPLATE_COLS "name, language, body, created_at"
#define OUTBOX_MSG_COL 8

enum sql {
	/* Writer connection. */
	W_BEGIN,
	W_PROBE,
	W_OUTBOX_CHANNEL_GONE,
	W_COMMIT,
	W_ROLLBACK,
	W_SAVEPOINT,
	W_RELEASE,
	W_ROLLBACK_TO,
	W_CHANNEL_NAME,
	W_CHANNEL_INSERT,
	W_CHANNEL_UPDATE,
	W_CHANNEL_DELETE,
	W_API_KEY_INSERT,
	W_CONTACT_FIND,
	W_CONTACT_INSERT,
	W_CONTACT_RENAME,
	W_CONV_FIND,
	W_CONV_INSERT,
	W_CONV_TOUCH,
	W_MSG_FIND,
	W_MSG_NEXT_ID,
	W_MSG_INSERT,
	W_MSG_SET_STATUS,
	W_MSG_FIND_CLIENT,
	W_MSG_GET,
	W_MSG_OUTBOX,
	W_MSG_SET_PROVIDER_ID,
	W_MSG_CLAIMED,
	W_MSG_ATTEMPT,
	W_STATUS_INSERT,
	W_STATUS_HISTORY,
	W_STATUS_UNMATCHED,
	W_STATUS_ATTACH,
	W_EVENT_INSERT,
	W_OUTBOX_INSERT,
	W_OUTBOX_CLAIM,
	W_OUTBOX_CHANNEL_PENDING,
	W_OUTBOX_RESCHEDULE,
	W_OUTBOX_DELETE,
	W_OUTBOX_RECOVER,
	W_OUTBOX_SHIFT,
	W_MSG_SHIFT,
	W_CONV_CHANNEL,
	W_CONV_MARK_READ,
	W_CONV_LAST_INBOUND_ID,
	W_TEMPLATE_INSERT,
	W_TEMPLATE_DELETE,
	W_USER_INSERT,
	W_SESSION_INSERT,
	W_SESSION_PURGE,
	W_SESSION_DELETE,
	W_USER_DELETE,
	W_USER_PASSWORD,
	W_USER_EXISTS,
	W_SESSIONS_OF_USER,
	W_SUB_INSERT,
	W_SUB_DELETE,
	W_SUB_ADVANCE,
	W_SUB_RETRY,
	W_END,
	/* Reader connection. */
	R_VERSION = W_END,
	R_PING,
	R_CHANNELS,
	R_CHANNELS_EVER,
	R_API_KEYS,
	R_CONV_LIST,
	R_CONV_GET,
	R_CONV_EXISTS,
	R_MSG_LIST,
	R_MSG_GET,
	R_MSG_BY_CLIENT_ID,
	R_MSG_BY_PROVIDER,
	R_MSG_RETRYING,
	R_STATUS_HISTORY,
	R_EVENTS,
	R_OUTBOX_DUE,
	R_OUTBOX_DUE_ALL,
	R_EVENTS_HEAD,
	R_OUTBOX_NEXT_DUE,
	R_OUTBOX_NEXT_DUE_CHANNEL,
	R_OUTBOX_DEPTH,
	R_LAST_INBOUND,
	R_MSG_PROVIDER_ID,
	R_TEMPLATES,
	R_TEMPLATE_GET,
	R_USER_GET,
	R_SESSIONS,
	R_USERS,
	R_SUBSCRIPTIONS,
	SQL_COUNT,
};

static const char *const sql_text[SQL_COUNT] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	/* The newest migration's row, rewritten as it is: a write to sync. */
	[W_PROBE] = "UPDATE schema_migrations SET applied_at = applied_at"
	    " WHERE version = (SELECT max(version) FROM schema_migrations)",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SAVEPOINT] = "SAVEPOINT op",
	[W_RELEASE] = "RELEASE op",
	[W_ROLLBACK_TO] = "ROLLBACK TO op",
	[W_CHANNEL_NAME] = "SELECT name FROM channels WHERE id = ?1",
	[W_CHANNEL_INSERT] = "INSERT INTO channels (name, type, config, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)",
	[W_CHANNEL_UPDATE] = "UPDATE channels SET config = ?2, updated_at = ?3"
	    " WHERE id = ?1 AND deleted_at IS NULL",
	[W_CHANNEL_DELETE] = "UPDATE channels SET deleted_at = ?2"
	    " WHERE id = ?1 AND deleted_at IS NULL",
	[W_API_KEY_INSERT] = "INSERT OR IGNORE INTO api_keys (name, hash, created_at) VALUES (?1, ?2, ?3)",
	[W_CONTACT_FIND] = "SELECT id, name FROM contacts WHERE channel_id = ?1 AND address = ?2",
	[W_CONTACT_INSERT] = "INSERT INTO contacts (channel_id, address, name, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)",
	[W_CONTACT_RENAME] = "UPDATE contacts SET name = ?2, updated_at = ?3 WHERE id = ?1",
	[W_CONV_FIND] = "SELECT id FROM conversations WHERE contact_id = ?1",
	[W_CONV_INSERT] = "INSERT INTO conversations (channel_id, contact_id, last_activity_ms, created_at)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[W_CONV_TOUCH] = "UPDATE conversations SET last_message_id = ?2, last_activity_ms = ?3,"
	    " unread_count = unread_count + ?4,"
	    " last_inbound_ms = max(coalesce(?5, 0), coalesce(last_inbound_ms, 0))"
	    " WHERE id = ?1",
	[W_MSG_FIND] = "SELECT id, conversation_id, status FROM messages"
	    " WHERE provider_message_id = ?2 AND channel_id = ?1",
	[W_MSG_NEXT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM messages",
	[W_MSG_INSERT] = "INSERT INTO messages (id, channel_id, conversation_id, direction,"
	    " provider_message_id, type, status, timestamp, created_ms, doc, raw, client_id)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[W_MSG_SET_STATUS] = "UPDATE messages SET status = ?2, error_code = ?3, error_title = ?4,"
	    " error_detail = ?5 WHERE id = ?1",
	[W_MSG_FIND_CLIENT] = "SELECT id, conversation_id FROM messages WHERE client_id = ?1",
	[W_MSG_GET] = "SELECT " MSG_COLS " FROM messages m WHERE m.id = ?1",
	/* o.state NULL: no outbox entry (sent, failed, cancelled). */
	[W_MSG_OUTBOX] = "SELECT m.channel_id, m.conversation_id, m.status, m.provider_message_id,"
	    " o.state FROM messages m LEFT JOIN outbox o ON o.message_id = m.id WHERE m.id = ?1",
	/* OR IGNORE: a provider id another message holds is not stored twice. */
	[W_MSG_SET_PROVIDER_ID] = "UPDATE OR IGNORE messages SET provider_message_id = ?2 WHERE id = ?1",
	/* The message's copy of its send state (0006): what the API shows. */
	[W_MSG_CLAIMED] = "UPDATE messages SET attempts = attempts + 1, next_attempt_ms = NULL WHERE id = ?1",
	/* ?6 = 1 replaces the last error; the next attempt is shown only once
	 * there is an error to retry from. Attempts follow the outbox entry's
	 * (a requeue takes the claim's back). */
	[W_MSG_ATTEMPT] = "UPDATE messages SET"
	    " attempts = coalesce((SELECT attempts FROM outbox WHERE message_id = ?1), attempts),"
	    " next_attempt_ms = CASE WHEN ?6 OR last_error_title IS NOT NULL THEN ?2 END,"
	    " last_error_code = CASE WHEN ?6 THEN ?3 ELSE last_error_code END,"
	    " last_error_title = CASE WHEN ?6 THEN ?4 ELSE last_error_title END,"
	    " last_error_detail = CASE WHEN ?6 THEN ?5 ELSE last_error_detail END"
	    " WHERE id = ?1",
	[W_STATUS_INSERT] = "INSERT OR IGNORE INTO statuses (message_id, channel_id, provider_message_id, status,"
	    " provider_status, timestamp, error_code, error_title, error_detail, raw, created_ms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[W_STATUS_HISTORY] = STATUS_HISTORY_SQL,
	/* Reports that came before the message had its provider id. */
	[W_STATUS_UNMATCHED] = "SELECT status, error_code, error_title, error_detail FROM statuses"
	    " WHERE channel_id = ?1 AND provider_message_id = ?2 AND message_id IS NULL ORDER BY id",
	[W_STATUS_ATTACH] = "UPDATE statuses SET message_id = ?3"
	    " WHERE channel_id = ?1 AND provider_message_id = ?2 AND message_id IS NULL",
	[W_EVENT_INSERT] = "INSERT INTO events (type, at_ms, channel_id, conversation_id, message_id, data)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[W_OUTBOX_INSERT] = "INSERT INTO outbox (message_id, channel_id, recipient, priority, due_ms,"
	    " created_ms, calendar) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* uncertain is cleared: the dispatcher read it (and warned) before claiming. */
	[W_OUTBOX_CLAIM] = "UPDATE outbox SET state = 1, attempts = attempts + 1, uncertain = 0,"
	    " first_attempt_ms = coalesce(first_attempt_ms, ?2) WHERE message_id = ?1 AND state = 0",
	[W_OUTBOX_CHANNEL_PENDING] = "SELECT message_id FROM outbox WHERE channel_id = ?1 AND state = 0",
	[W_OUTBOX_CHANNEL_GONE] = "SELECT 1 FROM outbox o JOIN channels c ON c.id = o.channel_id"
	    " WHERE o.message_id = ?1 AND c.deleted_at IS NOT NULL",
	/* ?6 = 1 (requeue) undoes the claim's attempt, if the entry was claimed
	 * (a pending one may be put off too), and its first_attempt_ms when it
	 * was the only one; ?7 = 1 replaces the last error. The right-hand
	 * sides all see the row as it was. */
	[W_OUTBOX_RESCHEDULE] = "UPDATE outbox SET state = 0, due_ms = ?2, calendar = 0,"
	    " last_error_code = CASE WHEN ?7 THEN ?3 ELSE last_error_code END,"
	    " last_error_title = CASE WHEN ?7 THEN ?4 ELSE last_error_title END,"
	    " last_error_detail = CASE WHEN ?7 THEN ?5 ELSE last_error_detail END,"
	    " attempts = max(attempts - (?6 AND state = 1), 0),"
	    " first_attempt_ms = CASE WHEN attempts - (?6 AND state = 1) <= 0 THEN NULL"
	    " ELSE first_attempt_ms END"
	    " WHERE message_id = ?1",
	[W_OUTBOX_DELETE] = "DELETE FROM outbox WHERE message_id = ?1",
	[W_OUTBOX_RECOVER] = "UPDATE outbox SET state = 0, uncertain = 1 WHERE state = 1",
	/* A wall-clock jump (0007): delays move with it, calendar times stay;
	 * ?1 = 0 only pulls in what lies beyond the cap ?2. */
	[W_OUTBOX_SHIFT] = "UPDATE outbox SET due_ms = CASE WHEN due_ms + ?1 > ?2 THEN ?2"
	    " ELSE due_ms + ?1 END WHERE calendar = 0 AND (?1 <> 0 OR due_ms > ?2)",
	[W_MSG_SHIFT] = "UPDATE messages SET next_attempt_ms = CASE WHEN next_attempt_ms + ?1 > ?2"
	    " THEN ?2 ELSE next_attempt_ms + ?1 END WHERE next_attempt_ms IS NOT NULL"
	    " AND (?1 <> 0 OR next_attempt_ms > ?2)"
	    " AND id IN (SELECT message_id FROM outbox WHERE calendar = 0)",
	[W_CONV_CHANNEL] = "SELECT channel_id FROM conversations WHERE id = ?1",
	[W_CONV_MARK_READ] = "UPDATE conversations SET unread_count = 0 WHERE id = ?1",
	[W_CONV_LAST_INBOUND_ID] = "SELECT provider_message_id FROM messages"
	    " WHERE conversation_id = ?1 AND direction = 'in' ORDER BY id DESC LIMIT 1",
	[W_TEMPLATE_INSERT] = "INSERT INTO templates (" TEMPLATE_COLS ") VALUES (?1, ?2, ?3, ?4)",
	[W_TEMPLATE_DELETE] = "DELETE FROM templates WHERE name = ?1",
	[W_USER_INSERT] = "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
	[W_SESSION_INSERT] = "INSERT INTO sessions (token_hash, csrf, user_name, created_at, expires_at,"
	    " credential) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[W_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",
	[W_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
	[W_USER_DELETE] = "DELETE FROM users WHERE name = ?1",
	[W_USER_PASSWORD] = "UPDATE users SET password_hash = ?2 WHERE name = ?1",
	[W_USER_EXISTS] = "SELECT 1 FROM users WHERE name = ?1",
	[W_SESSIONS_OF_USER] = "DELETE FROM sessions WHERE user_name = ?1",
	[W_SUB_INSERT] = "INSERT INTO subscriptions (url, events, secret, created_at, delivered_seq)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[W_SUB_DELETE] = "DELETE FROM subscriptions WHERE id = ?1",
	/* max(): a late or repeated advance never moves the cursor back. */
	[W_SUB_ADVANCE] = "UPDATE subscriptions SET delivered_seq = max(delivered_seq, ?2),"
	    " attempts = 0, first_attempt_ms = NULL, next_attempt_ms = 0, last_error = NULL"
	    " WHERE id = ?1",
	[W_SUB_RETRY] = "UPDATE subscriptions SET attempts = ?2, first_attempt_ms = ?3,"
	    " next_attempt_ms = ?4, last_error = ?5 WHERE id = ?1",

	[R_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
	[R_PING] = "SELECT 1",
	[R_CHANNELS] = "SELECT id, name, type, config, created_at, updated_at FROM channels"
	    " WHERE deleted_at IS NULL ORDER BY id",
	[R_CHANNELS_EVER] = "SELECT EXISTS (SELECT 1 FROM channels)",
	[R_API_KEYS] = "SELECT hash FROM api_keys ORDER BY id",
	[R_CONV_LIST] = CONV_SELECT
	    " WHERE (?1 = 0 OR c.channel_id = ?1)"
	    " AND (?2 IS NULL OR ct.name LIKE ?2 ESCAPE '\\' OR ct.address LIKE ?2 ESCAPE '\\')"
	    " AND (c.last_activity_ms, c.id) < (?3, ?4)"
	    " ORDER BY c.last_activity_ms DESC, c.id DESC LIMIT ?5",
	[R_CONV_GET] = CONV_SELECT " WHERE c.id = ?1",
	[R_CONV_EXISTS] = "SELECT 1 FROM conversations WHERE id = ?1",
	[R_MSG_LIST] = "SELECT " MSG_COLS " FROM messages m"
	    " WHERE m.conversation_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3",
	[R_MSG_GET] = "SELECT " MSG_COLS " FROM messages m WHERE m.id = ?1",
	[R_MSG_BY_CLIENT_ID] = "SELECT " MSG_COLS " FROM messages m WHERE m.client_id = ?1",
	[R_MSG_BY_PROVIDER] = "SELECT " MSG_COLS " FROM messages m"
	    " WHERE m.provider_message_id = ?1 ORDER BY m.id",
	/* Waiting messages whose last attempt failed, newest first (the outbox
	 * holds only unfinished entries: no index needed). */
	[R_MSG_RETRYING] = "SELECT " MSG_COLS " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE m.last_error_title IS NOT NULL ORDER BY m.id DESC LIMIT ?1",
	[R_STATUS_HISTORY] = STATUS_HISTORY_SQL,
	[R_EVENTS] = "SELECT e.seq, e.type, e.at_ms, ch.name, e.conversation_id, e.message_id, e.data"
	    " FROM events e LEFT JOIN channels ch ON ch.id = e.channel_id"
	    " WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",
	[R_OUTBOX_DUE] = "SELECT o.message_id, o.channel_id, o.recipient, o.priority, o.attempts,"
	    " o.created_ms, o.first_attempt_ms, o.uncertain, " MSG_COLS
	    " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE o.state = 0 AND o.channel_id = ?3 AND o.due_ms <= ?1"
	    " ORDER BY o.priority, o.due_ms, o.message_id LIMIT ?2",
	[R_OUTBOX_DUE_ALL] = "SELECT o.message_id, o.channel_id, o.recipient, o.priority, o.attempts,"
	    " o.created_ms, o.first_attempt_ms, o.uncertain, " MSG_COLS
	    " FROM outbox o JOIN messages m ON m.id = o.message_id"
	    " WHERE o.state = 0 AND o.due_ms <= ?1"
	    " ORDER BY o.priority, o.due_ms, o.message_id LIMIT ?2",
	/* min(due_ms) per pending priority, each one index seek, instead of a
	 * scan of every pending entry: priorities are few, entries many. */
	[R_EVENTS_HEAD] = "SELECT coalesce(max(seq), 0) FROM events",
	[R_OUTBOX_NEXT_DUE] = "SELECT coalesce(min(due_ms), 0) FROM outbox WHERE state = 0",
	/* One index seek per priority (0 replies, 1 bulk), not a scan of the backlog. */
	[R_OUTBOX_NEXT_DUE_CHANNEL] = "SELECT coalesce(min(d), 0) FROM ("
	    "SELECT min(due_ms) AS d FROM outbox WHERE state = 0 AND channel_id = ?1 AND priority = 0"
	    " UNION ALL SELECT min(due_ms) FROM outbox WHERE state = 0 AND channel_id = ?1 AND priority = 1)",
	/* No index on channel_id: the outbox holds only unfinished entries. */
	[R_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE channel_id = ?1",
	[R_LAST_INBOUND] = "SELECT coalesce(c.last_inbound_ms, 0) FROM contacts ct"
	    " JOIN conversations c ON c.contact_id = ct.id"
	    " WHERE ct.channel_id = ?1 AND ct.address = ?2",
	[R_MSG_PROVIDER_ID] = "SELECT channel_id, provider_message_id FROM messages WHERE id = ?1",
	[R_TEMPLATES] = "SELECT " TEMPLATE_COLS " FROM templates ORDER BY name, language",
	[R_TEMPLATE_GET] = "SELECT " TEMPLATE_COLS " FROM templates"
	    " WHERE name = ?1 AND (?2 IS NULL OR language = ?2) ORDER BY language LIMIT 1",
	[R_USER_GET] = "SELECT name, password_hash, created_at FROM users WHERE name = ?1",
	[R_SESSIONS] = "SELECT token_hash, csrf, user_name, created_at, expires_at, credential"
	    " FROM sessions WHERE expires_at > ?1 ORDER BY id",
	[R_USERS] = "SELECT name, created_at FROM users ORDER BY name",
	[R_SUBSCRIPTIONS] = "SELECT id, url, events, secret, created_at, delivered_seq, attempts,"
	    " coalesce(first_attempt_ms, 0), next_attempt_ms, last_error, paused"
	    " FROM subscriptions ORDER BY id",
};

struct conn {
	sqlite3 *h;
	const char *role;               /* "writer" or "reader", for logs */
	int last_rc;                    /* extended code of the last failure since the
	                                   writer's last begin/savepoint (fault()) */
	char last_err[160];
	sqlite3_stmt *stmt[SQL_COUNT];  /* only this connection's are prepared */
};

struct name_cache {
	int64_t id;
	char *name;
};

struct sqlite_db {
	struct conn w, r;
	/* Writer: channel id -> name for message docs. Emptied on rollback,
	 * since a rolled-back channel's id may be handed out again. */
	struct name_cache *names;
	size_t nnames, capnames;
};

/* --- statement helpers --- */

static int
sql_fail(struct conn *c, const char *what)
{
	c->last_rc = sqlite3_extended_errcode(c->h);
	snprintf(c->last_err, sizeof(c->last_err), "%s", sqlite3_errmsg(c->h));
	log_error("store: sqlite failed", "conn", c->role, "sql", what, "error", c->last_err);
	return -1;
}

static sqlite3_stmt *
stmt(struct conn *c, enum sql i)
{
	return c->stmt[i];
}

/* Reset after use: frees the snapshot and forgets the bound buffers. */
static void
finish(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);  /* NULL binds NULL */
}

static void
bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(s, i, v);
}

/* 0 stands for "none" in the model's ids and codes. */
static void
bind_id(sqlite3_stmt *s, int i, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* Step a statement that returns no row, then reset it. */
static int
run(struct conn *c, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sql_fail(c, sqlite3_sql(s));
		finish(s);
		return -1;
	}
	finish(s);
	return 0;
}

/* Step once: 1 with a row (caller reads it, then finish()es), 0 with none
 * (already reset), -1 on error (logged, reset). */
static int
row(struct conn *c, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		sql_fail(c, sqlite3_sql(s));
	finish(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- JSON helpers --- */

/* A string, or null for NULL (and for bytes jansson refuses). */
static json_t *
jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

/* Set a string member; -1 when v is not valid UTF-8. */
static int
set_str(json_t *o, const char *key, const char *v)
{
	json_t *j = v ? json_string(v) : json_null();

	if (j == NULL)
		return -1;
	json_object_set_new(o, key, j);
	return 0;
}

static json_t *
jtime(int64_t unix_s)
{
	char t[21];

	fmt_rfc3339(unix_s, t);
	return json_string(t);
}

/* {"code","title","detail"}, or null when there is no error and !always. */
static json_t *
error_json(int64_t code, const char *title, const char *detail, bool always)
{
	if (!always && code == 0 && title == NULL && detail == NULL)
		return json_null();
	return json_pack("{s:o, s:o, s:o}", "code", code ? json_integer(code) : json_null(),
	    "title", jstr(title), "detail", jstr(detail));
}

static char *
dump(const json_t *j)
{
	return json_encode(j, NULL);
}

/* --- rendering (either connection: reads, and the writer for results) --- */

/* Every status of a message, oldest first, read on connection c. */
static json_t *
status_history(struct sqlite_db *db, struct conn *c, int64_t message_id)
{
	sqlite3_stmt *s = stmt(c, c == &db->w ? W_STATUS_HISTORY : R_STATUS_HISTORY);
	json_t *list = json_array();
	int n;

	bind_i64(s, 1, message_id);
	while ((n = row(c, s)) == 1) {
		int64_t ts = sqlite3_column_int64(s, 1);

		if (ts == 0)
			ts = sqlite3_column_int64(s, 2) / 1000;  /* no provider time: ours */
		json_array_append_new(list, json_pack("{s:o, s:o, s:o}",
		    "status", jstr(col_text(s, 0)),
		    "at", jtime(ts),
		    "error", error_json(sqlite3_column_int64(s, 3), col_text(s, 4), col_text(s, 5),
		    false)));
	}
	if (n < 0) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* A message from the MSG_COLS columns of s (a statement of connection
 * conn) starting at column c. */
static json_t *render_message_ex(struct sqlite_db *db, struct conn *conn, sqlite3_stmt *s, int c,
    bool history);

static json_t *
render_message(struct sqlite_db *db, struct conn *conn, sqlite3_stmt *s, int c)
{
	return render_message_ex(db, conn, s, c, true);
}

/* history = false: without "status_history" (one query less), for the
 * dispatcher, which only builds the provider request from the message. */
static json_t *
render_message_ex(struct sqlite_db *db, struct conn *conn, sqlite3_stmt *s, int c, bool history)
{
	int64_t id = sqlite3_column_int64(s, c);
	const char *status = col_text(s, c + 2);
	char jerr[160] = "";
	json_t *m = NULL, *hist;

	json_parse_capped((const char *)sqlite3_column_text(s, c + 1), (size_t)sqlite3_column_bytes(s, c + 1),
	    STORED_JSON_DEPTH, &m, jerr, sizeof(jerr));
	if (m == NULL || !json_is_object(m)) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, id);
		log_error("store: stored message is not a JSON object", "id", v, "error", jerr);
		json_decref(m);
		return NULL;
	}
	if (history && (hist = status_history(db, conn, id)) == NULL) {
		json_decref(m);
		return NULL;
	}
	/* An outbound message gets its provider id after doc was written. */
	json_object_set_new(m, "provider_message_id", jstr(col_text(s, c + 6)));
	json_object_set_new(m, "status", jstr(status));
	if (history)
		json_object_set_new(m, "status_history", hist);
	if (status && strcmp(status, "failed") == 0)
		json_object_set_new(m, "error", error_json(sqlite3_column_int64(s, c + 3),
		    col_text(s, c + 4), col_text(s, c + 5), true));
	store_render_send_state(m, sqlite3_column_int64(s, c + 7),
	    sqlite3_column_type(s, c + 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, c + 8),
	    col_text(s, c + 9), col_text(s, c + 10), col_text(s, c + 11));
	return m;
}

/* --- open, migrate, close --- */

static void
conn_close(struct conn *c)
{
	for (size_t i = 0; i < SQL_COUNT; i++) {
		sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
	}
	if (c->h && sqlite3_close(c->h) != SQLITE_OK)
		log_error("store: sqlite close failed", "conn", c->role, "error", sqlite3_errmsg(c->h));
	c->h = NULL;
}

static int
exec(struct conn *c, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(c->h, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: sqlite failed", "conn", c->role, "sql", sql, "error", err);
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* One integer from a one-off query (open and migrations only). */
static int
query_i64(struct conn *c, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->h, sql, -1, &s, NULL) != SQLITE_OK)
		return sql_fail(c, sql);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sql_fail(c, sql);
		sqlite3_finalize(s);
		return -1;
	}
	*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return 0;
}

static int
conn_open(struct conn *c, const char *path, const char *role)
{
	c->role = role;
	/* NOMUTEX: each connection is only ever used by one thread at a time. */
	if (sqlite3_open_v2(path, &c->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("store: cannot open the database", "path", path, "conn", role,
		    "error", c->h ? sqlite3_errmsg(c->h) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(c->h, 1);
	if (sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return sql_fail(c, "busy_timeout");
	return exec(c, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL");
}

static int
conn_prepare(struct conn *c, enum sql from, enum sql to)
{
	for (int i = from; i < (int)to; i++) {
		if (sqlite3_prepare_v3(c->h, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &c->stmt[i], NULL) != SQLITE_OK)
			return sql_fail(c, sql_text[i]);
	}
	return 0;
}

/* WAL is a property of the file; insist on it. */
static int
set_wal(struct conn *c)
{
	sqlite3_stmt *s = NULL;
	bool ok;

	if (sqlite3_prepare_v2(c->h, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		return sql_fail(c, "PRAGMA journal_mode = WAL");
	ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_stricmp(col_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!ok) {
		log_error("store: cannot switch the database to WAL mode", "conn", c->role);
		return -1;
	}
	return 0;
}

static int
migrate_one(struct conn *c, const struct migration *m)
{
	char *ins = sqlite3_mprintf("INSERT INTO schema_migrations (version, name, applied_at)"
	    " VALUES (%d, %Q, %lld)", m->version, m->name, (long long)(now_ms() / 1000));
	int rc = -1;

	if (ins == NULL)
		return -1;
	if (exec(c, "BEGIN IMMEDIATE") != 0)
		goto out;
	if (exec(c, m->sql) != 0 || exec(c, ins) != 0) {
		exec(c, "ROLLBACK");
		goto out;
	}
	if (exec(c, "COMMIT") != 0) {
		if (!sqlite3_get_autocommit(c->h))
			exec(c, "ROLLBACK");
		goto out;
	}
	log_info("store: migration applied", "name", m->name);
	rc = 0;
out:
	sqlite3_free(ins);
	return rc;
}

/* Apply every embedded migration newer than the database. */
static int
migrate(struct conn *c)
{
	int64_t cur = 0;

	if (exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL, applied_at INTEGER NOT NULL)") != 0)
		return -1;
	if (query_i64(c, sql_text[R_VERSION], &cur) != 0)
		return -1;
	for (int i = 0; i < migrations_count; i++) {
		if (i > 0 && migrations[i].version <= migrations[i - 1].version) {
			log_error("store: migrations out of order", "name", migrations[i].name);
			return -1;
		}
	}
	if (migrations_count > 0 && cur > migrations[migrations_count - 1].version) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, cur);
		log_error("store: the database schema is newer than this msgd", "version", v);
		return -1;
	}
	for (int i = 0; i < migrations_count; i++)
		if (migrations[i].version > cur && migrate_one(c, &migrations[i]) != 0)
			return -1;
	return 0;
}

static void
name_cache_clear(struct sqlite_db *db)
{
	for (size_t i = 0; i < db->nnames; i++)
		free(db->names[i].name);
	db->nnames = 0;
}

static void
sqlite_close(void *p)
{
	struct sqlite_db *db = p;

	if (db == NULL)
		return;
	/* Reader first: the last connection to close checkpoints the WAL. */
	conn_close(&db->r);
	conn_close(&db->w);
	name_cache_clear(db);
	free(db->names);
	free(db);
}

static int
sqlite_open(void **out, const struct store_config *cfg)
{
	struct sqlite_db *db = xcalloc(1, sizeof(*db));
	char *path = NULL;
	int fd;

	*out = NULL;
	if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
		log_error("store: no data directory");
		goto fail;
	}
	if (mkdir_p(cfg->data_dir, 0700) != 0) {
		log_error("store: cannot create the data directory", "path", cfg->data_dir,
		    "error", strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/msgd.db", cfg->data_dir);
	/* Create the file ourselves so it is never readable by others; SQLite
	 * gives the -wal and -shm files the same mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("store: cannot create the database", "path", path, "error", strerror(errno));
		goto fail;
	}
	close(fd);

	if (conn_open(&db->w, path, "writer") != 0 || set_wal(&db->w) != 0 || migrate(&db->w) != 0)
		goto fail;
	if (conn_open(&db->r, path, "reader") != 0 || exec(&db->r, "PRAGMA query_only = ON") != 0)
		goto fail;
	if (conn_prepare(&db->w, 0, W_END) != 0 || conn_prepare(&db->r, W_END, SQL_COUNT) != 0)
		goto fail;
	free(path);
	*out = db;
	return 0;
fail:
	free(path);
	sqlite_close(db);
	return -1;
}

/* --- transactions (writer thread) --- */

static int
sqlite_begin(void *p)
{
	struct sqlite_db *db = p;

	db->w.last_rc = SQLITE_OK;
	return run(&db->w, stmt(&db->w, W_BEGIN));
}

/* What the writer's last failure says about the storage itself. */
static enum store_fault
sqlite_fault(void *p, char *why, size_t cap)
{
	struct sqlite_db *db = p;
	enum store_fault f;

	switch (db->w.last_rc & 0xff) {
	case SQLITE_FULL:
		f = STORE_FAULT_FULL;
		break;
	case SQLITE_IOERR:
		f = STORE_FAULT_IO;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		f = STORE_FAULT_OTHER;
		break;
	default:
		return STORE_FAULT_NONE;
	}
	snprintf(why, cap, "%s", db->w.last_err);
	return f;
}

static int
sqlite_commit(void *p)
{
	struct sqlite_db *db = p;

	return run(&db->w, stmt(&db->w, W_COMMIT));
}

static void
sqlite_rollback(void *p)
{
	struct sqlite_db *db = p;

	name_cache_clear(db);
	/* SQLite may already have rolled back on its own (I/O error, full disk). */
	if (!sqlite3_get_autocommit(db->w.h))
		run(&db->w, stmt(&db->w, W_ROLLBACK));
}

static int
sqlite_savepoint(void *p)
{
	struct sqlite_db *db = p;

	db->w.last_rc = SQLITE_OK;
	return run(&db->w, stmt(&db->w, W_SAVEPOINT));
}

static int
sqlite_release(void *p)
{
	struct sqlite_db *db = p;

	return run(&db->w, stmt(&db->w, W_RELEASE));
}

static int
sqlite_rollback_to(void *p)
{
	struct sqlite_db *db = p;

	name_cache_clear(db);
	if (sqlite3_get_autocommit(db->w.h))
		return -1;  /* the transaction is gone */
	return run(&db->w, stmt(&db->w, W_ROLLBACK_TO));
}

/* --- apply (writer thread) --- */

static int __attribute__((format(printf, 2, 3)))
op_error(struct store_op *op, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op->errmsg, sizeof(op->errmsg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The last failure on the writer, for op->errmsg. */
static int
op_sql_error(struct sqlite_db *db, struct store_op *op)
{
	return op_error(op, "storage: %s", sqlite3_errmsg(db->w.h));
}

/* Channel name by id (deleted channels too); NULL when unknown or on error. */
static const char *
channel_name(struct sqlite_db *db, int64_t id)
{
	sqlite3_stmt *s = stmt(&db->w, W_CHANNEL_NAME);
	char *name;

	for (size_t i = 0; i < db->nnames; i++)
		if (db->names[i].id == id)
			return db->names[i].name;
	bind_i64(s, 1, id);
	if (row(&db->w, s) != 1)
		return NULL;
	name = xstrdup(col_text(s, 0));
	finish(s);
	if (db->nnames == db->capnames) {
		db->capnames = db->capnames ? db->capnames * 2 : 8;
		db->names = xrealloc(db->names, db->capnames * sizeof(*db->names));
	}
	db->names[db->nnames++] = (struct name_cache){ .id = id, .name = name };
	return name;
}

/* Look a message up by (channel, provider id): *id = 0 when absent. */
static int
find_message(struct sqlite_db *db, int64_t channel_id, const char *provider_id,
    int64_t *id, int64_t *conversation_id, enum msg_status *status)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_FIND);
	int r;

	*id = 0;
	if (provider_id == NULL)
		return 0;
	bind_i64(s, 1, channel_id);
	bind_text(s, 2, provider_id);
	r = row(&db->w, s);
	if (r <= 0)
		return r;
	*id = sqlite3_column_int64(s, 0);
	if (conversation_id)
		*conversation_id = sqlite3_column_int64(s, 1);
	if (status)
		*status = status_parse(col_text(s, 2));
	finish(s);
	return 0;
}

/* The contact's id, created or renamed as the message says. */
static int
upsert_contact(struct sqlite_db *db, const struct msg_in *m, int64_t now_s, int64_t *id)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s = stmt(w, W_CONTACT_FIND);
	bool rename;
	int r;

	bind_i64(s, 1, m->channel_id);
	bind_text(s, 2, m->contact_address);
	r = row(w, s);
	if (r < 0)
		return -1;
	if (r == 0) {
		s = stmt(w, W_CONTACT_INSERT);
		bind_i64(s, 1, m->channel_id);
		bind_text(s, 2, m->contact_address);
		bind_text(s, 3, m->contact_name);
		bind_i64(s, 4, now_s);
		if (run(w, s) != 0)
			return -1;
		*id = sqlite3_last_insert_rowid(w->h);
		return 0;
	}
	*id = sqlite3_column_int64(s, 0);
	rename = m->contact_name && (col_text(s, 1) == NULL || strcmp(col_text(s, 1), m->contact_name) != 0);
	finish(s);
	if (!rename)
		return 0;
	s = stmt(w, W_CONTACT_RENAME);
	bind_i64(s, 1, *id);
	bind_text(s, 2, m->contact_name);
	bind_i64(s, 3, now_s);
	return run(w, s);
}

static int
get_conversation(struct sqlite_db *db, int64_t channel_id, int64_t contact_id, int64_t now,
    int64_t *id)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s = stmt(w, W_CONV_FIND);
	int r;

	bind_i64(s, 1, contact_id);
	r = row(w, s);
	if (r < 0)
		return -1;
	if (r == 1) {
		*id = sqlite3_column_int64(s, 0);
		finish(s);
		return 0;
	}
	s = stmt(w, W_CONV_INSERT);
	bind_i64(s, 1, channel_id);
	bind_i64(s, 2, contact_id);
	bind_i64(s, 3, now);
	bind_i64(s, 4, now / 1000);
	if (run(w, s) != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(w->h);
	return 0;
}

static int
append_event(struct sqlite_db *db, const char *type, int64_t now, int64_t channel_id,
    int64_t conversation_id, int64_t message_id, const char *data, int64_t *seq)
{
	sqlite3_stmt *s = stmt(&db->w, W_EVENT_INSERT);

	bind_text(s, 1, type);
	bind_i64(s, 2, now);
	bind_id(s, 3, channel_id);
	bind_id(s, 4, conversation_id);
	bind_id(s, 5, message_id);
	bind_text(s, 6, data);
	if (run(&db->w, s) != 0)
		return -1;
	*seq = sqlite3_last_insert_rowid(db->w.h);
	return 0;
}

/* The message's API JSON without the fields that change later. */
static json_t *
message_doc(const struct msg_in *m, int64_t id, const char *channel, int64_t conversation_id,
    int64_t reply_id)
{
	json_t *doc = json_object();
	int bad = 0;

	json_object_set_new(doc, "id", json_integer(id));
	bad |= set_str(doc, "channel", channel);
	json_object_set_new(doc, "conversation_id", json_integer(conversation_id));
	json_object_set_new(doc, "direction", json_string(m->direction == DIR_IN ? "in" : "out"));
	bad |= set_str(doc, "provider_message_id", m->provider_message_id);
	bad |= set_str(doc, "from", m->from);
	bad |= set_str(doc, "to", m->to);
	bad |= set_str(doc, "type", m->type);
	bad |= set_str(doc, "text", m->text);
	json_object_set_new(doc, "timestamp", jtime(m->timestamp));
	if (m->reply_to) {
		json_t *r = json_object();

		bad |= set_str(r, "provider_message_id", m->reply_to);
		json_object_set_new(r, "message_id", reply_id ? json_integer(reply_id) : json_null());
		json_object_set_new(doc, "reply_to", r);
	} else {
		json_object_set_new(doc, "reply_to", json_null());
	}
	if (m->direction == DIR_OUT && m->client_id)
		bad |= set_str(doc, "client_id", m->client_id);
	/* The adapter's parts never override the fields above. */
	if (m->parts && json_object_update_missing(doc, m->parts) != 0)
		bad = -1;
	if (bad) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* A reaction names its target by provider id; add msgd's id of it as
 * "message_id" (null when no message of the channel has that id), unless
 * the send API already named it by msgd id. */
static int
resolve_reaction(struct sqlite_db *db, struct msg_in *m)
{
	json_t *r = json_object_get(m->parts, "reaction");
	const char *pid = json_string_value(json_object_get(r, "provider_message_id"));
	int64_t id = 0;

	if (!json_is_object(r) || json_is_integer(json_object_get(r, "message_id")))
		return 0;
	if (find_message(db, m->channel_id, pid, &id, NULL, NULL) != 0)
		return -1;
	json_object_set_new(r, "message_id", id ? json_integer(id) : json_null());
	return 0;
}

/* Look an outbound message up by idempotency key: *id = 0 when absent. */
static int
find_client_id(struct sqlite_db *db, const char *client_id, int64_t *id, int64_t *conversation_id)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_FIND_CLIENT);
	int r;

	*id = 0;
	if (client_id == NULL)
		return 0;
	bind_text(s, 1, client_id);
	r = row(&db->w, s);
	if (r <= 0)
		return r;
	*id = sqlite3_column_int64(s, 0);
	*conversation_id = sqlite3_column_int64(s, 1);
	finish(s);
	return 0;
}

/* A message as a read renders it, from the writer's view (uncommitted
 * changes of this transaction included); NULL when absent or on error. */
static json_t *
writer_message(struct sqlite_db *db, int64_t id)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_GET);
	json_t *m;

	bind_i64(s, 1, id);
	if (row(&db->w, s) != 1)
		return NULL;
	m = render_message(db, &db->w, s, 0);
	finish(s);
	return m;
}

/* Set a message's status; the error columns only for failed (else cleared). */
static int
set_status(struct sqlite_db *db, int64_t id, enum msg_status st, int64_t code,
    const char *title, const char *detail)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_SET_STATUS);

	bind_i64(s, 1, id);
	bind_text(s, 2, status_name(st));
	if (st == ST_FAILED) {
		bind_id(s, 3, code);
		bind_text(s, 4, title);
		bind_text(s, 5, detail);
	}
	return run(&db->w, s);
}

/* A statuses row for a change msgd made itself (queued, accepted, failed,
 * cancelled): no provider id, so the reports index never merges it with a
 * provider's report, and status_history shows the message's whole life. */
static int
record_own_status(struct sqlite_db *db, int64_t message_id, int64_t channel_id,
    enum msg_status st, int64_t code, const char *title, const char *detail, int64_t now)
{
	sqlite3_stmt *s = stmt(&db->w, W_STATUS_INSERT);

	bind_i64(s, 1, message_id);
	bind_i64(s, 2, channel_id);
	bind_text(s, 3, NULL);
	bind_text(s, 4, status_name(st));
	bind_text(s, 5, status_name(st));
	bind_i64(s, 6, 0);  /* no provider time: status_history shows created_ms */
	bind_id(s, 7, code);
	bind_text(s, 8, title);
	bind_text(s, 9, detail);
	bind_text(s, 10, "{}");
	bind_i64(s, 11, now);
	return run(&db->w, s);
}

/* Append a message.status event {"id","provider_message_id","status",
 * "error"} (plus "message" when given: borrowed). mid 0: unknown message. */
static int
announce_status(struct sqlite_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status st, int64_t code, const char *title,
    const char *detail, json_t *message, int64_t now, int64_t *seq_out)
{
	json_t *data = json_object();
	char *data_s;
	int64_t seq;
	int rc;

	json_object_set_new(data, "id", mid ? json_integer(mid) : json_null());
	json_object_set_new(data, "provider_message_id", jstr(pmid));
	json_object_set_new(data, "status", json_string(status_name(st)));
	json_object_set_new(data, "error", error_json(code, title, detail, st == ST_FAILED));
	if (message)
		json_object_set(data, "message", message);
	data_s = dump(data);
	json_decref(data);
	if (data_s == NULL)
		return op_error(op, "cannot serialize status");
	rc = append_event(db, "message.status", now, channel_id, mid ? conv : 0, mid, data_s, &seq);
	free(data_s);
	if (rc != 0)
		return op_sql_error(db, op);
	op->last_seq = seq;
	if (seq_out)
		*seq_out = seq;
	return 0;
}

/* A status change msgd makes to its own message: the message row, a
 * statuses row and the event. */
static int
change_status(struct sqlite_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status st, int64_t code, const char *title,
    const char *detail, int64_t now)
{
	if (set_status(db, mid, st, code, title, detail) != 0 ||
	    record_own_status(db, mid, channel_id, st, code, title, detail, now) != 0)
		return op_sql_error(db, op);
	return announce_status(db, op, mid, channel_id, conv, pmid, st, code, title, detail, NULL,
	    now, NULL);
}

static int
ingest_msg(struct sqlite_db *db, struct store_op *op, struct msg_in *m, int64_t now)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;
	const char *channel;
	bool out = m->direction == DIR_OUT;
	enum msg_status status = ST_RECEIVED;
	int64_t id = 0, conv = 0, contact, reply_id = 0, seq;
	json_t *doc = NULL, *rendered = NULL;
	char *doc_s = NULL, *data_s = NULL;
	int rc = -1;

	if (m->contact_address == NULL || m->type == NULL || m->raw == NULL)
		return op_error(op, "message lacks contact_address, type or raw");
	if (out) {
		status = m->status == ST_NONE ? ST_QUEUED : m->status;
		if (status != ST_QUEUED && status != ST_SCHEDULED)
			return op_error(op, "an outbound message starts queued or scheduled, not %s",
			    status_name(status));
		if (find_client_id(db, m->client_id, &id, &conv) != 0)
			return op_sql_error(db, op);
	}
	if (id == 0 && find_message(db, m->channel_id, m->provider_message_id, &id, &conv, NULL) != 0)
		return op_sql_error(db, op);
	if (id != 0) {
		/* Stored already: report it, change nothing. */
		m->id = id;
		m->conversation_id = conv;
		m->seq = 0;
		m->duplicate = true;
		return 0;
	}
	m->duplicate = false;
	if ((channel = channel_name(db, m->channel_id)) == NULL)
		return op_error(op, "unknown channel %" PRId64, m->channel_id);
	if (upsert_contact(db, m, now / 1000, &contact) != 0 ||
	    get_conversation(db, m->channel_id, contact, now, &conv) != 0 ||
	    find_message(db, m->channel_id, m->reply_to, &reply_id, NULL, NULL) != 0 ||
	    resolve_reaction(db, m) != 0)
		return op_sql_error(db, op);

	s = stmt(w, W_MSG_NEXT_ID);
	if (row(w, s) != 1)
		return op_sql_error(db, op);
	id = sqlite3_column_int64(s, 0);
	finish(s);

	doc = message_doc(m, id, channel, conv, reply_id);
	if (doc == NULL)
		return op_error(op, "message has a field that is not valid UTF-8");
	if ((doc_s = dump(doc)) == NULL) {
		op_error(op, "cannot serialize message");
		goto out;
	}

	s = stmt(w, W_MSG_INSERT);
	bind_i64(s, 1, id);
	bind_i64(s, 2, m->channel_id);
	bind_i64(s, 3, conv);
	bind_text(s, 4, out ? "out" : "in");
	bind_text(s, 5, m->provider_message_id);
	bind_text(s, 6, m->type);
	bind_text(s, 7, status_name(status));
	bind_i64(s, 8, m->timestamp);
	bind_i64(s, 9, now);
	bind_text(s, 10, doc_s);
	bind_text(s, 11, m->raw);
	bind_text(s, 12, out ? m->client_id : NULL);
	if (run(w, s) != 0)
		goto sqlfail;

	/* Outbound: the last message, but neither unread nor the contact writing. */
	s = stmt(w, W_CONV_TOUCH);
	bind_i64(s, 1, conv);
	bind_i64(s, 2, id);
	bind_i64(s, 3, now);
	bind_i64(s, 4, out ? 0 : 1);
	/* The service window counts from when the contact wrote (the provider's
	 * time), never later than when we received it. */
	int64_t wrote = m->timestamp > 0 && m->timestamp * 1000 < now ? m->timestamp * 1000 : now;
	bind_id(s, 5, out ? 0 : wrote);
	if (run(w, s) != 0)
		goto sqlfail;

	if (out) {
		s = stmt(w, W_OUTBOX_INSERT);
		bind_i64(s, 1, id);
		bind_i64(s, 2, m->channel_id);
		bind_text(s, 3, m->to ? m->to : m->contact_address);
		bind_i64(s, 4, m->priority);
		bind_i64(s, 5, m->due_ms > 0 ? m->due_ms : now);
		bind_i64(s, 6, now);
		bind_i64(s, 7, status == ST_SCHEDULED);
		if (run(w, s) != 0 || record_own_status(db, id, m->channel_id, status, 0, NULL, NULL, now) != 0)
			goto sqlfail;
		/* The event carries the message as a read renders it right now. */
		if ((rendered = writer_message(db, id)) == NULL) {
			op_error(op, "cannot render the message");
			goto out;
		}
		if (announce_status(db, op, id, m->channel_id, conv, m->provider_message_id, status, 0,
		    NULL, NULL, rendered, now, &seq) != 0)
			goto out;
	} else {
		/* The event carries the message as a read renders it right now: the
		 * stored document plus its status, spliced onto the text already
		 * serialized (doc is an object with fields, so it ends in '}'). */
		size_t n = strlen(doc_s);
		if (json_object_get(doc, "status") == NULL && json_object_get(doc, "status_history") == NULL &&
		    n > 2 && doc_s[n - 1] == '}') {
			data_s = xasprintf("%.*s,\"status\":\"%s\",\"status_history\":[],"
			    "\"attempts\":0,\"next_attempt_at\":null,\"last_error\":null}", (int)(n - 1), doc_s,
			    status_name(status));
		} else {
			json_object_set_new(doc, "status", json_string(status_name(status)));
			json_object_set_new(doc, "status_history", json_array());
			store_render_send_state(doc, 0, 0, NULL, NULL, NULL);
			if ((data_s = dump(doc)) == NULL) {
				op_error(op, "cannot serialize message");
				goto out;
			}
		}
		if (append_event(db, "message.received", now, m->channel_id, conv, id, data_s, &seq) != 0)
			goto sqlfail;
	}

	m->id = id;
	m->conversation_id = conv;
	m->seq = seq;
	op->last_seq = seq;
	rc = 0;
	goto out;
sqlfail:
	op_sql_error(db, op);
out:
	free(data_s);
	free(doc_s);
	json_decref(doc);
	json_decref(rendered);
	return rc;
}

static int
ingest_status(struct sqlite_db *db, struct store_op *op, struct status_in *st, int64_t now)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;
	enum msg_status cur = ST_NONE;
	int64_t mid, conv = 0;

	if (st->raw == NULL)
		return op_error(op, "status lacks raw");
	if (find_message(db, st->channel_id, st->provider_message_id, &mid, &conv, &cur) != 0)
		return op_sql_error(db, op);

	/* Every report is kept, matched or not; a redelivered one changes nothing. */
	s = stmt(w, W_STATUS_INSERT);
	bind_id(s, 1, mid);
	bind_i64(s, 2, st->channel_id);
	bind_text(s, 3, st->provider_message_id);
	bind_text(s, 4, status_name(st->status));
	bind_text(s, 5, st->provider_status ? st->provider_status : status_name(st->status));
	bind_i64(s, 6, st->timestamp);
	bind_id(s, 7, st->error_code);
	bind_text(s, 8, st->error_title);
	bind_text(s, 9, st->error_detail);
	bind_text(s, 10, st->raw);
	bind_i64(s, 11, now);
	if (run(w, s) != 0)
		return op_sql_error(db, op);
	st->message_id = mid;
	if (sqlite3_changes(w->h) == 0)
		return 0;  /* the same report again */
	st->applied = mid != 0 && status_may_replace(cur, st->status);
	if (st->applied) {
		if (set_status(db, mid, st->status, st->error_code, st->error_title,
		    st->error_detail) != 0)
			return op_sql_error(db, op);
	} else if (mid != 0) {
		return 0;  /* backwards or repeated: recorded, nothing to announce */
	}
	/* Unmatched reports are announced (id null) and attached when the
	 * message gets its provider id (see attach_early_statuses()). */
	return announce_status(db, op, mid, st->channel_id, conv, st->provider_message_id,
	    st->status, st->error_code, st->error_title, st->error_detail, NULL, now, NULL);
}

static int
ingest_event(struct sqlite_db *db, struct store_op *op, struct event_in *e, int64_t now)
{
	char *data_s;
	int rc;

	if (e->type == NULL)
		return op_error(op, "event lacks a type");
	data_s = dump(e->data ? e->data : json_null());
	if (data_s == NULL)
		return op_error(op, "cannot serialize event %s", e->type);
	rc = append_event(db, e->type, now, e->channel_id, 0, 0, data_s, &e->seq);
	free(data_s);
	if (rc != 0)
		return op_sql_error(db, op);
	op->last_seq = e->seq;
	return 0;
}

static int
apply_ingest(struct sqlite_db *db, struct store_op *op)
{
	struct ingest_batch *b = op->u.ingest;
	int64_t now = now_ms();

	for (size_t i = 0; i < b->nmsgs; i++)
		if (ingest_msg(db, op, &b->msgs[i], now) != 0)
			return -1;
	for (size_t i = 0; i < b->nstatuses; i++)
		if (ingest_status(db, op, &b->statuses[i], now) != 0)
			return -1;
	for (size_t i = 0; i < b->nevents; i++)
		if (ingest_event(db, op, &b->events[i], now) != 0)
			return -1;
	return 0;
}

/* Step an INSERT; a UNIQUE violation is the op's conflict (errmsg why). */
static int
insert_unique(struct sqlite_db *db, struct store_op *op, sqlite3_stmt *s, const char *why)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		finish(s);
		op->conflict = true;
		return op_error(op, "%s", why);
	}
	if (rc != SQLITE_DONE) {
		sql_fail(&db->w, sqlite3_sql(s));
		op_sql_error(db, op);
		finish(s);
		return -1;
	}
	finish(s);
	return 0;
}

static int outbox_result_one(struct sqlite_db *db, struct store_op *op,
    const struct outbox_item *it, int64_t now);

/* A deleted channel sends nothing more: its pending messages fail now
 * (those in flight fail when their attempt ends). */
static int
fail_channel_outbox(struct sqlite_db *db, struct store_op *op)
{
	sqlite3_stmt *s = stmt(&db->w, W_OUTBOX_CHANNEL_PENDING);
	int64_t *ids = NULL, now = now_ms();
	size_t n = 0, cap = 0;
	int r, rc = 0;

	bind_i64(s, 1, op->u.channel.id);
	while ((r = row(&db->w, s)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (r < 0)
		rc = op_sql_error(db, op);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct outbox_item it = { .message_id = ids[i], .result = OUTBOX_FAILED };
		snprintf(it.error_title, sizeof(it.error_title), "channel deleted");
		rc = outbox_result_one(db, op, &it, now);
	}
	free(ids);
	return rc;
}

static int
apply_channel(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;
	int64_t now_s = now_ms() / 1000;

	switch (op->kind) {
	case STORE_OP_CHANNEL_CREATE:
		s = stmt(w, W_CHANNEL_INSERT);
		bind_text(s, 1, op->u.channel.name);
		bind_text(s, 2, op->u.channel.type);
		bind_text(s, 3, op->u.channel.config_json ? op->u.channel.config_json : "{}");
		bind_i64(s, 4, now_s);
		if (insert_unique(db, op, s, "name taken") != 0)
			return -1;
		op->u.channel.id = sqlite3_last_insert_rowid(w->h);
		return 0;
	case STORE_OP_CHANNEL_UPDATE:
		s = stmt(w, W_CHANNEL_UPDATE);
		bind_i64(s, 1, op->u.channel.id);
		bind_text(s, 2, op->u.channel.config_json ? op->u.channel.config_json : "{}");
		bind_i64(s, 3, now_s);
		break;
	case STORE_OP_CHANNEL_DELETE:
		s = stmt(w, W_CHANNEL_DELETE);
		bind_i64(s, 1, op->u.channel.id);
		bind_i64(s, 2, now_s);
		break;
	default:
		return op_error(op, "not a channel op");
	}
	if (run(w, s) != 0)
		return op_sql_error(db, op);
	if (sqlite3_changes(w->h) == 0)
		return op_error(op, "no such channel");
	if (op->kind == STORE_OP_CHANNEL_DELETE)
		return fail_channel_outbox(db, op);
	return 0;
}

static int
apply_api_key(struct sqlite_db *db, struct store_op *op)
{
	sqlite3_stmt *s = stmt(&db->w, W_API_KEY_INSERT);
	char hex[65];

	hex_encode(op->u.api_key.hash, sizeof(op->u.api_key.hash), hex);
	bind_text(s, 1, op->u.api_key.name);
	bind_text(s, 2, hex);
	bind_i64(s, 3, now_ms() / 1000);
	if (run(&db->w, s) != 0)
		return op_sql_error(db, op);
	return 0;
}

/* --- outbox, cancel, read receipts, templates (writer thread) --- */

/* An item's error text: "" means none. */
static const char *
nonempty(const char *s)
{
	return s && s[0] ? s : NULL;
}

/* A message and its outbox entry, as W_MSG_OUTBOX finds them. */
struct msg_state {
	bool found;
	int64_t channel_id;
	int64_t conversation_id;
	enum msg_status status;
	char *provider_message_id;  /* owned, or NULL */
	bool queued;                /* has an outbox entry */
	int state;                  /* the entry's: 0 pending, 1 in flight */
};

static int
msg_state_get(struct sqlite_db *db, int64_t id, struct msg_state *ms)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_OUTBOX);
	int r;

	*ms = (struct msg_state){ 0 };
	bind_i64(s, 1, id);
	if ((r = row(&db->w, s)) <= 0)
		return r;
	ms->found = true;
	ms->channel_id = sqlite3_column_int64(s, 0);
	ms->conversation_id = sqlite3_column_int64(s, 1);
	ms->status = status_parse(col_text(s, 2));
	ms->provider_message_id = xstrdup_or_null(col_text(s, 3));
	ms->queued = sqlite3_column_type(s, 4) != SQLITE_NULL;
	ms->state = sqlite3_column_int(s, 4);
	finish(s);
	return 0;
}

static int
outbox_delete(struct sqlite_db *db, int64_t message_id)
{
	sqlite3_stmt *s = stmt(&db->w, W_OUTBOX_DELETE);

	bind_i64(s, 1, message_id);
	return run(&db->w, s);
}

static int
apply_outbox_claim(struct sqlite_db *db, struct store_op *op)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < op->u.outbox.n; i++) {
		struct outbox_item *it = &op->u.outbox.items[i];
		sqlite3_stmt *s = stmt(&db->w, W_OUTBOX_CLAIM);

		bind_i64(s, 1, it->message_id);
		bind_i64(s, 2, now);
		if (run(&db->w, s) != 0)
			return op_sql_error(db, op);
		it->claimed = sqlite3_changes(db->w.h) == 1;
		if (it->claimed) {
			s = stmt(&db->w, W_MSG_CLAIMED);
			bind_i64(s, 1, it->message_id);
			if (run(&db->w, s) != 0)
				return op_sql_error(db, op);
		}
	}
	return 0;
}

/* The message's copy of its send state after a result: next_ms 0 = none
 * scheduled; with_error replaces the last error by the item's. */
static int
msg_attempt(struct sqlite_db *db, const struct outbox_item *it, int64_t next_ms, bool with_error)
{
	sqlite3_stmt *s = stmt(&db->w, W_MSG_ATTEMPT);
	const char *title = nonempty(it->error_title), *detail = nonempty(it->error_detail);
	char code[24];

	if (it->error_code_text[0])
		snprintf(code, sizeof(code), "%s", it->error_code_text);
	else if (it->error_code != 0)
		snprintf(code, sizeof(code), "%" PRId64, it->error_code);
	else
		code[0] = '\0';
	bind_i64(s, 1, it->message_id);
	bind_id(s, 2, next_ms);
	bind_text(s, 3, with_error ? nonempty(code) : NULL);
	/* A code without words still says something failed. */
	bind_text(s, 4, with_error && code[0] && title == NULL ? "error" : title);
	bind_text(s, 5, detail);
	bind_i64(s, 6, with_error ? 1 : 0);
	return run(&db->w, s);
}

/* Status reports the provider sent for provider id pmid before the send's
 * answer gave the message that id: attach them to the message and apply the
 * most advanced one (cur is the message's status now). */
static int
attach_early_statuses(struct sqlite_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status cur, int64_t now)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s = stmt(w, W_STATUS_UNMATCHED);
	enum msg_status best = ST_NONE;
	int64_t code = 0;
	char *title = NULL, *detail = NULL;
	int n, rc = -1;

	bind_i64(s, 1, channel_id);
	bind_text(s, 2, pmid);
	while ((n = row(w, s)) == 1) {
		enum msg_status st = status_parse(col_text(s, 0));

		if (!status_may_replace(cur, st))
			continue;
		cur = best = st;
		code = sqlite3_column_int64(s, 1);
		free(title);
		free(detail);
		title = xstrdup_or_null(col_text(s, 2));
		detail = xstrdup_or_null(col_text(s, 3));
	}
	if (n < 0) {
		op_sql_error(db, op);
		goto out;
	}
	s = stmt(w, W_STATUS_ATTACH);
	bind_i64(s, 1, channel_id);
	bind_text(s, 2, pmid);
	bind_i64(s, 3, mid);
	if (run(w, s) != 0 ||
	    (best != ST_NONE && set_status(db, mid, best, code, title, detail) != 0)) {
		op_sql_error(db, op);
		goto out;
	}
	if (best != ST_NONE && announce_status(db, op, mid, channel_id, conv, pmid, best, code, title,
	    detail, NULL, now, NULL) != 0)
		goto out;
	rc = 0;
out:
	free(title);
	free(detail);
	return rc;
}

static int
outbox_accepted(struct sqlite_db *db, struct store_op *op, const struct outbox_item *it,
    const struct msg_state *ms, int64_t now)
{
	const char *pmid = it->provider_message_id;
	enum msg_status cur = ms->status;

	if (outbox_delete(db, it->message_id) != 0)
		return op_sql_error(db, op);
	if (pmid) {
		sqlite3_stmt *s = stmt(&db->w, W_MSG_SET_PROVIDER_ID);

		bind_i64(s, 1, it->message_id);
		bind_text(s, 2, pmid);
		if (run(&db->w, s) != 0)
			return op_sql_error(db, op);
		if (sqlite3_changes(db->w.h) == 0) {
			char v[24];

			/* Another message of the channel has it: keep the send, not the id. */
			snprintf(v, sizeof(v), "%" PRId64, it->message_id);
			log_warn("store: provider id already belongs to another message", "id", v,
			    "provider_message_id", pmid);
			pmid = NULL;
		}
	}
	if (status_may_replace(cur, ST_ACCEPTED)) {
		if (change_status(db, op, it->message_id, ms->channel_id, ms->conversation_id, pmid,
		    ST_ACCEPTED, 0, NULL, NULL, now) != 0)
			return -1;
		cur = ST_ACCEPTED;
	}
	if (pmid == NULL)
		return 0;
	return attach_early_statuses(db, op, it->message_id, ms->channel_id, ms->conversation_id,
	    pmid, cur, now);
}

static int
outbox_result_one(struct sqlite_db *db, struct store_op *op, const struct outbox_item *it,
    int64_t now)
{
	const char *title = nonempty(it->error_title), *detail = nonempty(it->error_detail);
	struct msg_state ms;
	sqlite3_stmt *s;
	int rc = -1;

	if (msg_state_get(db, it->message_id, &ms) != 0)
		return op_sql_error(db, op);
	if (!ms.queued) {
		free(ms.provider_message_id);
		return 0;  /* done meanwhile (cancelled), or no such message */
	}
	switch (it->result) {
	case OUTBOX_RETRY:
	case OUTBOX_REQUEUE:
		/* Its channel was deleted while this attempt was in flight (the
		 * delete failed only the entries waiting then): it can never be
		 * sent, so it fails now instead of waiting forever. */
		s = stmt(&db->w, W_OUTBOX_CHANNEL_GONE);
		bind_i64(s, 1, it->message_id);
		int gone = row(&db->w, s);
		if (gone < 0) {
			free(ms.provider_message_id);
			return op_sql_error(db, op);
		}
		if (gone == 1) {
			finish(s);
			free(ms.provider_message_id);
			struct outbox_item failed = { .message_id = it->message_id, .result = OUTBOX_FAILED };
			snprintf(failed.error_title, sizeof(failed.error_title), "channel deleted");
			return outbox_result_one(db, op, &failed, now);
		}
		s = stmt(&db->w, W_OUTBOX_RESCHEDULE);
		bind_i64(s, 1, it->message_id);
		bind_i64(s, 2, it->due_ms);
		bind_id(s, 3, it->error_code);
		bind_text(s, 4, title);
		bind_text(s, 5, detail);
		bind_i64(s, 6, it->result == OUTBOX_REQUEUE ? 1 : 0);
		bind_i64(s, 7, it->error_code != 0 || title || detail ? 1 : 0);
		rc = run(&db->w, s) == 0 &&
		    msg_attempt(db, it, it->due_ms, it->error_code != 0 || title || detail) == 0 ?
		    0 : op_sql_error(db, op);
		break;
	case OUTBOX_ACCEPTED:
		if (msg_attempt(db, it, 0, true) != 0) {
			rc = op_sql_error(db, op);
			break;
		}
		rc = outbox_accepted(db, op, it, &ms, now);
		break;
	case OUTBOX_FAILED:
		if (msg_attempt(db, it, 0, true) != 0 || outbox_delete(db, it->message_id) != 0) {
			rc = op_sql_error(db, op);
			break;
		}
		rc = 0;
		if (status_may_replace(ms.status, ST_FAILED))
			rc = change_status(db, op, it->message_id, ms.channel_id, ms.conversation_id,
			    ms.provider_message_id, ST_FAILED, it->error_code, title, detail, now);
		break;
	default:
		rc = op_error(op, "unknown outbox result %d", (int)it->result);
		break;
	}
	free(ms.provider_message_id);
	return rc;
}

static int
apply_outbox_result(struct sqlite_db *db, struct store_op *op)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < op->u.outbox.n; i++)
		if (outbox_result_one(db, op, &op->u.outbox.items[i], now) != 0)
			return -1;
	return 0;
}

static int
apply_outbox_recover(struct sqlite_db *db, struct store_op *op)
{
	int n;

	if (run(&db->w, stmt(&db->w, W_OUTBOX_RECOVER)) != 0)
		return op_sql_error(db, op);
	if ((n = sqlite3_changes(db->w.h)) > 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", n);
		log_info("store: outbox entries were in flight when msgd stopped; marked uncertain",
		    "count", v);
	}
	return 0;
}

static int
apply_outbox_shift(struct sqlite_db *db, struct store_op *op)
{
	for (int k = W_OUTBOX_SHIFT; k <= W_MSG_SHIFT; k++) {
		sqlite3_stmt *s = stmt(&db->w, k);
		bind_i64(s, 1, op->u.shift.delta_ms);
		bind_i64(s, 2, op->u.shift.cap_ms);
		if (run(&db->w, s) != 0)
			return op_sql_error(db, op);
		if (k == W_OUTBOX_SHIFT)
			op->u.shift.count = sqlite3_changes(db->w.h);
	}
	return 0;
}

static int
apply_cancel(struct sqlite_db *db, struct store_op *op)
{
	int64_t id = op->u.cancel.message_id;
	struct msg_state ms;
	int rc = -1;

	op->u.cancel.message = NULL;
	if (msg_state_get(db, id, &ms) != 0)
		return op_sql_error(db, op);
	if (!ms.found)
		return op_error(op, "not found");
	if (!ms.queued || ms.state != 0 || !status_may_replace(ms.status, ST_CANCELLED)) {
		op->conflict = true;
		op_error(op, "message is %s, no longer cancellable",
		    ms.queued ? "being sent" : status_name(ms.status));
		goto out;
	}
	struct outbox_item none = { .message_id = id };
	if (msg_attempt(db, &none, 0, false) != 0 || outbox_delete(db, id) != 0) {
		op_sql_error(db, op);
		goto out;
	}
	if (change_status(db, op, id, ms.channel_id, ms.conversation_id, ms.provider_message_id,
	    ST_CANCELLED, 0, NULL, NULL, now_ms()) != 0)
		goto out;
	if ((op->u.cancel.message = writer_message(db, id)) == NULL) {
		op_error(op, "cannot render the message");
		goto out;
	}
	rc = 0;
out:
	free(ms.provider_message_id);
	return rc;
}

static int
apply_conv_read(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	int64_t conv = op->u.conv_read.conversation_id, seq;
	sqlite3_stmt *s = stmt(w, W_CONV_CHANNEL);
	char *data_s;
	int r;

	op->u.conv_read.channel_id = 0;
	op->u.conv_read.last_inbound_provider_id[0] = '\0';
	bind_i64(s, 1, conv);
	if ((r = row(w, s)) < 0)
		return op_sql_error(db, op);
	if (r == 0)
		return op_error(op, "not found");
	op->u.conv_read.channel_id = sqlite3_column_int64(s, 0);
	finish(s);

	s = stmt(w, W_CONV_MARK_READ);
	bind_i64(s, 1, conv);
	if (run(w, s) != 0)
		return op_sql_error(db, op);

	s = stmt(w, W_CONV_LAST_INBOUND_ID);
	bind_i64(s, 1, conv);
	if ((r = row(w, s)) < 0)
		return op_sql_error(db, op);
	if (r == 1) {
		const char *pmid = col_text(s, 0);

		snprintf(op->u.conv_read.last_inbound_provider_id,
		    sizeof(op->u.conv_read.last_inbound_provider_id), "%s", pmid ? pmid : "");
		finish(s);
	}

	data_s = xasprintf("{\"conversation_id\":%" PRId64 "}", conv);
	r = append_event(db, "conversation.read", now_ms(), op->u.conv_read.channel_id, conv, 0,
	    data_s, &seq);
	free(data_s);
	if (r != 0)
		return op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}

static int
apply_template(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;

	if (op->u.template.name == NULL)
		return op_error(op, "template lacks a name");
	if (op->kind == STORE_OP_TEMPLATE_DELETE) {
		s = stmt(w, W_TEMPLATE_DELETE);
		bind_text(s, 1, op->u.template.name);
		if (run(w, s) != 0)
			return op_sql_error(db, op);
		if (sqlite3_changes(w->h) == 0)
			return op_error(op, "not found");
		return 0;
	}
	if (op->u.template.language == NULL || op->u.template.body == NULL)
		return op_error(op, "template lacks a language or body");
	s = stmt(w, W_TEMPLATE_INSERT);
	bind_text(s, 1, op->u.template.name);
	bind_text(s, 2, op->u.template.language);
	bind_text(s, 3, op->u.template.body);
	bind_i64(s, 4, now_ms() / 1000);
	if (insert_unique(db, op, s, "template exists") != 0)
		return -1;
	return 0;
}

/* --- users and sessions (writer thread) --- */

static int
apply_user(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s = stmt(w, W_USER_INSERT);

	if (op->u.user.name == NULL || op->u.user.password_hash == NULL)
		return op_error(op, "user lacks a name or password hash");
	bind_text(s, 1, op->u.user.name);
	bind_text(s, 2, op->u.user.password_hash);
	bind_i64(s, 3, now_ms() / 1000);
	if (insert_unique(db, op, s, "user exists") != 0)
		return -1;
	return 0;
}

/* Delete, re-password or log out a user; every one ends the user's sessions. */
static int
apply_user_change(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	const char *name = op->u.user.name;
	sqlite3_stmt *s;

	if (name == NULL || (op->kind == STORE_OP_USER_PASSWORD && op->u.user.password_hash == NULL))
		return op_error(op, "user change lacks a name or password hash");
	s = stmt(w, W_USER_EXISTS);
	bind_text(s, 1, name);
	int r = row(w, s);
	if (r < 0)
		return op_sql_error(db, op);
	finish(s);
	op->u.user.found = r == 1;
	if (op->kind == STORE_OP_USER_DELETE || op->kind == STORE_OP_USER_PASSWORD) {
		if (!op->u.user.found)
			return 0;
		s = stmt(w, op->kind == STORE_OP_USER_DELETE ? W_USER_DELETE : W_USER_PASSWORD);
		bind_text(s, 1, name);
		if (op->kind == STORE_OP_USER_PASSWORD)
			bind_text(s, 2, op->u.user.password_hash);
		if (run(w, s) != 0)
			return op_sql_error(db, op);
	}
	s = stmt(w, W_SESSIONS_OF_USER);
	bind_text(s, 1, name);
	if (run(w, s) != 0)
		return op_sql_error(db, op);
	op->u.user.count = sqlite3_changes(w->h);
	return 0;
}

static int
apply_session(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;
	char hex[65];

	hex_encode(op->u.session.token_hash, sizeof(op->u.session.token_hash), hex);
	if (op->kind == STORE_OP_SESSION_DELETE) {
		s = stmt(w, W_SESSION_DELETE);
		bind_text(s, 1, hex);
		return run(w, s) == 0 ? 0 : op_sql_error(db, op);
	}
	if (op->u.session.csrf == NULL || op->u.session.user_name == NULL)
		return op_error(op, "session lacks a csrf token or user");
	/* Rows past their absolute end go with each login. created_at is the
	 * caller's clock (tests move it), so "now" is the same on both sides. */
	s = stmt(w, W_SESSION_PURGE);
	bind_i64(s, 1, op->u.session.created_at);
	if (run(w, s) != 0)
		return op_sql_error(db, op);
	s = stmt(w, W_SESSION_INSERT);
	bind_text(s, 1, hex);
	bind_text(s, 2, op->u.session.csrf);
	bind_text(s, 3, op->u.session.user_name);
	bind_i64(s, 4, op->u.session.created_at);
	bind_i64(s, 5, op->u.session.expires_at);
	bind_text(s, 6, op->u.session.credential ? op->u.session.credential : "");
	return run(w, s) == 0 ? 0 : op_sql_error(db, op);
}

/* --- event webhook subscriptions (writer thread) --- */

static int
apply_subscription(struct sqlite_db *db, struct store_op *op)
{
	struct conn *w = &db->w;
	sqlite3_stmt *s;
	int64_t id = op->u.subscription.id;

	switch (op->kind) {
	case STORE_OP_SUBSCRIPTION_PUT:
		if (op->u.subscription.url == NULL || op->u.subscription.events_json == NULL ||
		    op->u.subscription.secret == NULL)
			return op_error(op, "subscription lacks a url, events or secret");
		s = stmt(w, W_SUB_INSERT);
		bind_text(s, 1, op->u.subscription.url);
		bind_text(s, 2, op->u.subscription.events_json);
		bind_text(s, 3, op->u.subscription.secret);
		bind_i64(s, 4, op->u.subscription.created_at);
		bind_i64(s, 5, op->u.subscription.delivered_seq);
		if (run(w, s) != 0)
			return op_sql_error(db, op);
		op->u.subscription.id = sqlite3_last_insert_rowid(w->h);
		return 0;
	case STORE_OP_SUBSCRIPTION_DELETE:
		s = stmt(w, W_SUB_DELETE);
		bind_i64(s, 1, id);
		return run(w, s) == 0 ? 0 : op_sql_error(db, op);
	case STORE_OP_SUBSCRIPTION_ADVANCE: {
		int64_t seq = op->u.subscription.delivered_seq;
		s = stmt(w, W_SUB_ADVANCE);
		bind_i64(s, 1, id);
		bind_i64(s, 2, seq);
		if (run(w, s) != 0)
			return op_sql_error(db, op);
		if (op->u.subscription.last_error == NULL)
			return 0;
		/* Given up: say so in the log, in the same transaction. */
		json_t *data = json_pack("{s:I, s:I, s:i, s:o}", "subscription_id", (json_int_t)id,
		    "seq", (json_int_t)seq, "attempts", op->u.subscription.attempts,
		    "error", jstr(op->u.subscription.last_error));
		char *data_s = dump(data);
		int64_t ev = 0;
		int rc = data_s ? append_event(db, "webhook.failed", now_ms(), 0, 0, 0, data_s, &ev) : -1;
		free(data_s);
		json_decref(data);
		if (rc != 0)
			return op_sql_error(db, op);
		op->last_seq = ev;
		return 0;
	}
	case STORE_OP_SUBSCRIPTION_RETRY:
		s = stmt(w, W_SUB_RETRY);
		bind_i64(s, 1, id);
		bind_i64(s, 2, op->u.subscription.attempts);
		bind_id(s, 3, op->u.subscription.first_attempt_ms);
		bind_i64(s, 4, op->u.subscription.next_attempt_ms);
		bind_text(s, 5, op->u.subscription.last_error);
		return run(w, s) == 0 ? 0 : op_sql_error(db, op);
	default:
		return op_error(op, "not a subscription op");
	}
}

static int
sqlite_apply(void *p, struct store_op *op)
{
	struct sqlite_db *db = p;

	switch (op->kind) {
	case STORE_OP_INGEST:
		return apply_ingest(db, op);
	case STORE_OP_CHANNEL_CREATE:
	case STORE_OP_CHANNEL_UPDATE:
	case STORE_OP_CHANNEL_DELETE:
		return apply_channel(db, op);
	case STORE_OP_API_KEY_PUT:
		return apply_api_key(db, op);
	case STORE_OP_OUTBOX_CLAIM:
		return apply_outbox_claim(db, op);
	case STORE_OP_OUTBOX_RESULT:
		return apply_outbox_result(db, op);
	case STORE_OP_OUTBOX_RECOVER:
		return apply_outbox_recover(db, op);
	case STORE_OP_OUTBOX_SHIFT:
		return apply_outbox_shift(db, op);
	case STORE_OP_PROBE:
		return run(&db->w, stmt(&db->w, W_PROBE));
	case STORE_OP_CANCEL:
		return apply_cancel(db, op);
	case STORE_OP_CONV_READ:
		return apply_conv_read(db, op);
	case STORE_OP_TEMPLATE_PUT:
	case STORE_OP_TEMPLATE_DELETE:
		return apply_template(db, op);
	case STORE_OP_USER_PUT:
		return apply_user(db, op);
	case STORE_OP_USER_DELETE:
	case STORE_OP_USER_PASSWORD:
	case STORE_OP_USER_LOGOUT:
		return apply_user_change(db, op);
	case STORE_OP_SESSION_PUT:
	case STORE_OP_SESSION_DELETE:
		return apply_session(db, op);
	case STORE_OP_SUBSCRIPTION_PUT:
	case STORE_OP_SUBSCRIPTION_DELETE:
	case STORE_OP_SUBSCRIPTION_ADVANCE:
	case STORE_OP_SUBSCRIPTION_RETRY:
		return apply_subscription(db, op);
	}
	return op_error(op, "unknown op kind %d", (int)op->kind);
}

/* --- reads (reader connection, loop thread) --- */

static int
sqlite_schema_version(void *p)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_VERSION);
	int v;

	if (row(&db->r, s) != 1)
		return -1;
	v = sqlite3_column_int(s, 0);
	finish(s);
	return v;
}

static int
sqlite_ping(void *p)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_PING);

	if (row(&db->r, s) != 1)
		return -1;
	finish(s);
	return 0;
}

static int
sqlite_channels_load(void *p, json_t **out)
{
	struct sqlite_db *db = p;
	struct conn *r = &db->r;
	sqlite3_stmt *s = stmt(r, R_CHANNELS);
	json_t *list = json_array();
	json_error_t jerr;
	int n;

	*out = NULL;
	while ((n = row(r, s)) == 1) {
		json_t *config = json_loads(col_text(s, 3), 0, &jerr);

		if (config == NULL) {
			log_error("store: stored channel config is not JSON", "channel", col_text(s, 1),
			    "error", jerr.text);
			finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:o, s:I, s:I}",
		    "id", (json_int_t)sqlite3_column_int64(s, 0),
		    "name", jstr(col_text(s, 1)),
		    "type", jstr(col_text(s, 2)),
		    "config", config,
		    "created_at", (json_int_t)sqlite3_column_int64(s, 4),
		    "updated_at", (json_int_t)sqlite3_column_int64(s, 5)));
	}
	if (n < 0)
		goto fail;
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

static int
sqlite_channels_ever(void *p, bool *out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_CHANNELS_EVER);

	if (row(&db->r, s) != 1)
		return -1;
	*out = sqlite3_column_int(s, 0) != 0;
	finish(s);
	return 0;
}

static int
sqlite_api_keys_load(void *p, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_API_KEYS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = row(&db->r, s)) == 1)
		json_array_append_new(list, jstr(col_text(s, 0)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

/* A conversation from a CONV_SELECT row. */
static json_t *
render_conversation(struct sqlite_db *db, sqlite3_stmt *s)
{
	json_t *last = json_null();

	if (sqlite3_column_type(s, CONV_MSG_COL) != SQLITE_NULL &&
	    (last = render_message(db, &db->r, s, CONV_MSG_COL)) == NULL)
		return NULL;
	return json_pack("{s:I, s:o, s:{s:o, s:o}, s:o, s:I, s:o}",
	    "id", (json_int_t)sqlite3_column_int64(s, 0),
	    "channel", jstr(col_text(s, 1)),
	    "contact", "address", jstr(col_text(s, 2)), "name", jstr(col_text(s, 3)),
	    "last_message", last,
	    "unread_count", (json_int_t)sqlite3_column_int64(s, 4),
	    "updated_at", jtime(sqlite3_column_int64(s, 5) / 1000));
}

static int
clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* "<last_activity_ms>_<id>", as sqlite_conversations_list() makes them. */
int
store_parse_conv_cursor(const char *cursor, int64_t *ms, int64_t *id)
{
	const char *us = strchr(cursor, '_');
	char *first;
	int rc;

	if (us == NULL)
		return -1;
	first = xstrndup(cursor, (size_t)(us - cursor));
	rc = parse_i64(first, ms) == 0 && parse_i64(us + 1, id) == 0 ? 0 : -1;
	free(first);
	return rc;
}

/* "%q%" with LIKE's wildcards in q escaped by '\'. */
static char *
like_pattern(const char *q)
{
	size_t n = strlen(q);
	char *p = xmalloc(2 * n + 3), *o = p;

	*o++ = '%';
	for (const char *c = q; *c; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			*o++ = '\\';
		*o++ = *c;
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

static int
sqlite_conversations_list(void *p, const struct conv_query *q, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_CONV_LIST);
	int limit = clamp(q->limit, 1, MAX_PAGE), n, count = 0;
	int64_t cur_ms = INT64_MAX, cur_id = INT64_MAX, last_ms = 0, last_id = 0;
	char *like = NULL;
	json_t *list = json_array(), *next = json_null();

	*out = NULL;
	if (q->cursor && store_parse_conv_cursor(q->cursor, &cur_ms, &cur_id) != 0) {
		json_decref(list);
		return 0;  /* no list ever gave that cursor: nothing is there */
	}
	if (q->q)
		like = like_pattern(q->q);
	bind_i64(s, 1, q->channel_id);
	bind_text(s, 2, like);
	bind_i64(s, 3, cur_ms);
	bind_i64(s, 4, cur_id);
	bind_i64(s, 5, limit + 1);  /* one more tells whether a next page exists */
	while ((n = row(&db->r, s)) == 1) {
		json_t *c;

		if (count == limit) {
			char buf[48];

			snprintf(buf, sizeof(buf), "%" PRId64 "_%" PRId64, last_ms, last_id);
			next = json_string(buf);
			finish(s);
			break;
		}
		if ((c = render_conversation(db, s)) == NULL) {
			finish(s);
			goto fail;
		}
		json_array_append_new(list, c);
		last_id = sqlite3_column_int64(s, 0);
		last_ms = sqlite3_column_int64(s, 5);
		count++;
	}
	if (n < 0)
		goto fail;
	free(like);
	*out = json_pack("{s:o, s:o}", "conversations", list, "next", next);
	return 0;
fail:
	free(like);
	json_decref(list);
	json_decref(next);
	return -1;
}

/* The one row of a bound read statement, rendered: 0 with *out NULL when
 * there is no row, -1 when reading or rendering fails. */
static int
read_one(struct sqlite_db *db, sqlite3_stmt *s, json_t *(*render)(struct sqlite_db *, sqlite3_stmt *),
    json_t **out)
{
	int n;

	*out = NULL;
	if ((n = row(&db->r, s)) <= 0)
		return n;
	*out = render(db, s);
	finish(s);
	return *out ? 0 : -1;
}

static json_t *
render_read_message(struct sqlite_db *db, sqlite3_stmt *s)
{
	return render_message(db, &db->r, s, 0);
}

static int
sqlite_conversation_get(void *p, int64_t id, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_CONV_GET);

	bind_i64(s, 1, id);
	return read_one(db, s, render_conversation, out);
}

static int
sqlite_messages_list(void *p, const struct msg_query *q, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_CONV_EXISTS);
	int limit = clamp(q->limit, 1, MAX_PAGE), n, count = 0;
	int64_t before = INT64_MAX, oldest = 0;
	json_t *list = NULL, *next = json_null();

	*out = NULL;
	if (q->cursor && (parse_i64(q->cursor, &before) != 0 || before <= 0))
		return 0;  /* not a cursor any list gave */
	bind_i64(s, 1, q->conversation_id);
	if ((n = row(&db->r, s)) <= 0)
		return n;  /* no such conversation */
	finish(s);

	/* Newest first from the index, inserted at the front: oldest first. */
	list = json_array();
	s = stmt(&db->r, R_MSG_LIST);
	bind_i64(s, 1, q->conversation_id);
	bind_i64(s, 2, before);
	bind_i64(s, 3, limit + 1);
	while ((n = row(&db->r, s)) == 1) {
		json_t *m;

		if (count == limit) {
			char buf[24];

			snprintf(buf, sizeof(buf), "%" PRId64, oldest);
			next = json_string(buf);
			finish(s);
			break;
		}
		if ((m = render_message(db, &db->r, s, 0)) == NULL) {
			finish(s);
			goto fail;
		}
		json_array_insert_new(list, 0, m);
		oldest = sqlite3_column_int64(s, 0);
		count++;
	}
	if (n < 0)
		goto fail;
	*out = json_pack("{s:o, s:o}", "messages", list, "next", next);
	return 0;
fail:
	json_decref(list);
	json_decref(next);
	return -1;
}

static int
sqlite_message_get(void *p, int64_t id, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_MSG_GET);

	bind_i64(s, 1, id);
	return read_one(db, s, render_read_message, out);
}

static int
sqlite_message_by_client_id(void *p, const char *client_id, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_MSG_BY_CLIENT_ID);

	bind_text(s, 1, client_id);
	return read_one(db, s, render_read_message, out);
}

/* {"messages":[...]} from every row of the bound statement s. */
static int
messages_rows(struct sqlite_db *db, sqlite3_stmt *s, json_t **out)
{
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = row(&db->r, s)) == 1) {
		json_t *m = render_message(db, &db->r, s, 0);

		if (m == NULL) {
			finish(s);
			goto fail;
		}
		json_array_append_new(list, m);
	}
	if (n < 0)
		goto fail;
	*out = json_pack("{s:o}", "messages", list);
	return 0;
fail:
	json_decref(list);
	return -1;
}

static int
sqlite_messages_by_provider_id(void *p, const char *provider_id, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_MSG_BY_PROVIDER);

	bind_text(s, 1, provider_id);
	return messages_rows(db, s, out);
}

static int
sqlite_messages_retrying(void *p, int limit, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_MSG_RETRYING);

	bind_i64(s, 1, clamp(limit, 1, MAX_PAGE));
	return messages_rows(db, s, out);
}

/* Append s as a JSON string (escaped by jansson), or null. */
static void
buf_json_string(struct buf *b, const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	char *t = j ? json_encode(j, NULL) : NULL;

	if (t != NULL)
		buf_append(b, t, strlen(t));
	else
		buf_append(b, "null", 4);
	free(t);
	json_decref(j);
}

static void
buf_json_id(struct buf *b, int64_t id)
{
	char v[24];
	int n = id ? snprintf(v, sizeof(v), "%" PRId64, id) : snprintf(v, sizeof(v), "null");

	buf_append(b, v, (size_t)n);
}

/* Events are rendered as text straight from their rows: the stored data is
 * already compact JSON (written by dump()), so nothing is parsed and
 * serialized again on the way to a client. */
static int
sqlite_events_read(void *p, int64_t since, int limit, struct store_event **out, size_t *nout)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_EVENTS);
	struct store_event *ev = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	bind_i64(s, 1, since);
	bind_i64(s, 2, clamp(limit, 1, MAX_EVENTS_PAGE));
	while ((rc = row(&db->r, s)) == 1) {
		struct buf b;
		char at[21], head[64];
		const char *data = col_text(s, 6);
		int64_t seq = sqlite3_column_int64(s, 0);

		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ev = xrealloc(ev, cap * sizeof(*ev));
		}
		buf_init(&b, 0);
		buf_append(&b, head, (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRId64 ",\"type\":", seq));
		buf_json_string(&b, col_text(s, 1));
		fmt_rfc3339(sqlite3_column_int64(s, 2) / 1000, at);
		buf_append(&b, head, (size_t)snprintf(head, sizeof(head), ",\"at\":\"%s\",\"channel\":", at));
		buf_json_string(&b, col_text(s, 3));
		buf_append(&b, ",\"conversation_id\":", 19);
		buf_json_id(&b, sqlite3_column_int64(s, 4));
		buf_append(&b, ",\"message_id\":", 14);
		buf_json_id(&b, sqlite3_column_int64(s, 5));
		buf_append(&b, ",\"data\":", 8);
		if (data != NULL && data[0] != '\0')
			buf_append(&b, data, strlen(data));
		else
			buf_append(&b, "null", 4);
		buf_append(&b, "}", 1);
		ev[n++] = (struct store_event){
			.seq = seq,
			.json = b.data,
			.len = b.len,
			.channel = xstrdup_or_null(col_text(s, 3)),
			.conversation_id = sqlite3_column_int64(s, 4),
		};
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(ev[i].json);
			free(ev[i].channel);
		}
		free(ev);
		return -1;
	}
	*out = ev;
	*nout = n;
	return 0;
}

static int
sqlite_outbox_due(void *p, int64_t channel_id, int64_t now, int limit, json_t **out)
{
	struct sqlite_db *db = p;
	/* 0 = every channel (tests, tools); the dispatcher asks per channel. */
	sqlite3_stmt *s = stmt(&db->r, channel_id ? R_OUTBOX_DUE : R_OUTBOX_DUE_ALL);
	json_t *list = json_array();
	int n;

	*out = NULL;
	bind_i64(s, 1, now);
	bind_i64(s, 2, clamp(limit, 1, MAX_OUTBOX_PAGE));
	if (channel_id)
		bind_i64(s, 3, channel_id);
	while ((n = row(&db->r, s)) == 1) {
		json_t *m = render_message_ex(db, &db->r, s, OUTBOX_MSG_COL, false);

		if (m == NULL) {
			finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:b, s:o}",
		    "message_id", (json_int_t)sqlite3_column_int64(s, 0),
		    "channel_id", (json_int_t)sqlite3_column_int64(s, 1),
		    "recipient", jstr(col_text(s, 2)),
		    "priority", (json_int_t)sqlite3_column_int64(s, 3),
		    "attempts", (json_int_t)sqlite3_column_int64(s, 4),
		    "created_ms", (json_int_t)sqlite3_column_int64(s, 5),
		    "first_attempt_ms", sqlite3_column_type(s, 6) == SQLITE_NULL ? json_null() :
		    json_integer(sqlite3_column_int64(s, 6)),
		    "uncertain", sqlite3_column_int(s, 7) != 0,
		    "message", m));
	}
	if (n < 0)
		goto fail;
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

/* One integer from a one-row read statement already bound; 0 when no row. */
static int
read_i64(struct sqlite_db *db, sqlite3_stmt *s, int64_t *out)
{
	int n;

	*out = 0;
	if ((n = row(&db->r, s)) <= 0)
		return n;
	*out = sqlite3_column_int64(s, 0);
	finish(s);
	return 0;
}

static int
sqlite_events_head(void *p, int64_t *out)
{
	struct sqlite_db *db = p;

	return read_i64(db, stmt(&db->r, R_EVENTS_HEAD), out);
}

static int
sqlite_outbox_next_due(void *p, int64_t channel_id, int64_t *out_ms)
{
	struct sqlite_db *db = p;

	if (channel_id) {
		sqlite3_stmt *s = stmt(&db->r, R_OUTBOX_NEXT_DUE_CHANNEL);
		bind_i64(s, 1, channel_id);
		return read_i64(db, s, out_ms);
	}
	return read_i64(db, stmt(&db->r, R_OUTBOX_NEXT_DUE), out_ms);
}

static int
sqlite_outbox_depth(void *p, int64_t channel_id, int64_t *out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_OUTBOX_DEPTH);

	bind_i64(s, 1, channel_id);
	return read_i64(db, s, out);
}

static int
sqlite_last_inbound(void *p, int64_t channel_id, const char *address, int64_t *out_ms)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_LAST_INBOUND);

	bind_i64(s, 1, channel_id);
	bind_text(s, 2, address);
	return read_i64(db, s, out_ms);
}

static int
sqlite_message_provider_id(void *p, int64_t id, int64_t *channel_id, char *out, size_t outlen)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_MSG_PROVIDER_ID);
	const char *pmid;
	int n, len;

	if (channel_id)
		*channel_id = 0;
	if (outlen > 0)
		out[0] = '\0';
	bind_i64(s, 1, id);
	if ((n = row(&db->r, s)) <= 0)
		return n;
	if (channel_id)
		*channel_id = sqlite3_column_int64(s, 0);
	pmid = col_text(s, 1);
	len = snprintf(out, outlen, "%s", pmid ? pmid : "");
	finish(s);
	if (len < 0 || (size_t)len >= outlen) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, id);
		log_error("store: provider message id longer than the caller's buffer", "id", v);
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* {"name","language","body","created_at"} from TEMPLATE_COLS. */
static json_t *
render_template(sqlite3_stmt *s)
{
	return json_pack("{s:o, s:o, s:o, s:o}",
	    "name", jstr(col_text(s, 0)),
	    "language", jstr(col_text(s, 1)),
	    "body", jstr(col_text(s, 2)),
	    "created_at", jtime(sqlite3_column_int64(s, 3)));
}

static int
sqlite_templates_list(void *p, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_TEMPLATES);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = row(&db->r, s)) == 1)
		json_array_append_new(list, render_template(s));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o}", "templates", list);
	return 0;
}

static json_t *
render_read_template(struct sqlite_db *db, sqlite3_stmt *s)
{
	return render_template(s);
}

static json_t *
render_user(struct sqlite_db *db, sqlite3_stmt *s)
{
	return json_pack("{s:o, s:o, s:I}",
	    "name", jstr(col_text(s, 0)),
	    "password_hash", jstr(col_text(s, 1)),
	    "created_at", (json_int_t)sqlite3_column_int64(s, 2));
}

static int
sqlite_template_get(void *p, const char *name, const char *language, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_TEMPLATE_GET);

	bind_text(s, 1, name);
	bind_text(s, 2, language);
	return read_one(db, s, render_read_template, out);
}

static int
sqlite_user_get(void *p, const char *name, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_USER_GET);

	bind_text(s, 1, name);
	return read_one(db, s, render_user, out);
}

static int
sqlite_sessions_load(void *p, int64_t now_s, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_SESSIONS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	bind_i64(s, 1, now_s);
	while ((n = row(&db->r, s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o, s:I, s:I}",
		    "token_hash", jstr(col_text(s, 0)),
		    "csrf", jstr(col_text(s, 1)),
		    "user", jstr(col_text(s, 2)),
		    "credential", jstr(col_text(s, 5)),
		    "created_at", (json_int_t)sqlite3_column_int64(s, 3),
		    "expires_at", (json_int_t)sqlite3_column_int64(s, 4)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

static int
sqlite_users_list(void *p, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_USERS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = row(&db->r, s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:I}", "name", jstr(col_text(s, 0)),
		    "created_at", (json_int_t)sqlite3_column_int64(s, 1)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

static int
sqlite_subscriptions_load(void *p, json_t **out)
{
	struct sqlite_db *db = p;
	sqlite3_stmt *s = stmt(&db->r, R_SUBSCRIPTIONS);
	json_t *list = json_array();
	json_error_t jerr;
	int n;

	*out = NULL;
	while ((n = row(&db->r, s)) == 1) {
		json_t *events = json_loads(col_text(s, 2), 0, &jerr);
		if (!json_is_array(events)) {
			log_error("store: stored subscription events are not a JSON array", "error", jerr.text);
			json_decref(events);
			finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:b}",
		    "id", (json_int_t)sqlite3_column_int64(s, 0),
		    "url", jstr(col_text(s, 1)),
		    "events", events,
		    "secret", jstr(col_text(s, 3)),
		    "created_at", (json_int_t)sqlite3_column_int64(s, 4),
		    "delivered_seq", (json_int_t)sqlite3_column_int64(s, 5),
		    "attempts", (json_int_t)sqlite3_column_int64(s, 6),
		    "first_attempt_ms", (json_int_t)sqlite3_column_int64(s, 7),
		    "next_attempt_ms", (json_int_t)sqlite3_column_int64(s, 8),
		    "last_error", jstr(col_text(s, 9)),
		    "paused", sqlite3_column_int(s, 10) != 0));
	}
	if (n < 0)
		goto fail;
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.fault = sqlite_fault,
	.rollback = sqlite_rollback,
	.savepoint = sqlite_savepoint,
	.release = sqlite_release,
	.rollback_to = sqlite_rollback_to,
	.apply = sqlite_apply,
	.schema_version = sqlite_schema_version,
	.ping = sqlite_ping,
	.channels_load = sqlite_channels_load,
	.channels_ever = sqlite_channels_ever,
	.api_keys_load = sqlite_api_keys_load,
	.conversations_list = sqlite_conversations_list,
	.conversation_get = sqlite_conversation_get,
	.messages_list = sqlite_messages_list,
	.message_get = sqlite_message_get,
	.messages_by_provider_id = sqlite_messages_by_provider_id,
	.messages_retrying = sqlite_messages_retrying,
	.events_read = sqlite_events_read,
	.outbox_due = sqlite_outbox_due,
	.outbox_next_due = sqlite_outbox_next_due,
	.events_head = sqlite_events_head,
	.message_by_client_id = sqlite_message_by_client_id,
	.outbox_depth = sqlite_outbox_depth,
	.last_inbound = sqlite_last_inbound,
	.message_provider_id = sqlite_message_provider_id,
	.templates_list = sqlite_templates_list,
	.template_get = sqlite_template_get,
	.user_get = sqlite_user_get,
	.sessions_load = sqlite_sessions_load,
	.users_list = sqlite_users_list,
	.subscriptions_load = sqlite_subscriptions_load,
};
