/*
 * read.c - every read (reader connection, event loop thread).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "../quota/quota.h"
#include "store_int.h"

#define MAX_PAGE 200
#define MAX_EVENTS_PAGE 1000
#define MAX_OUTBOX_PAGE 1000

/* --- reads (reader connection, loop thread) --- */

int
read_schema_version(struct store_db *db)
{
	struct db_stmt *s = db_stmt(db->r, R_VERSION);
	int v;

	if (db_row(s) != 1)
		return -1;
	v = (int)db_i64(s, 0);
	db_finish(s);
	return v;
}

int
read_ping(struct store_db *db)
{
	struct db_stmt *s = db_stmt(db->r, R_PING);

	if (db_row(s) != 1)
		return -1;
	db_finish(s);
	return 0;
}

int
read_channels_load(struct store_db *db, json_t **out)
{
	struct db *r = db->r;
	struct db_stmt *s = db_stmt(r, R_CHANNELS);
	json_t *list = json_array();
	json_error_t jerr;
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1) {
		json_t *config = json_loads(db_text(s, 3), 0, &jerr);

		if (config == NULL) {
			log_error("store: stored channel config is not JSON", "channel", db_text(s, 1),
			    "error", jerr.text);
			db_finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:I}",
		    "id", (json_int_t)db_i64(s, 0),
		    "name", sd_jstr(db_text(s, 1)),
		    "type", sd_jstr(db_text(s, 2)),
		    "config", config,
		    "created_at", (json_int_t)db_i64(s, 4),
		    "updated_at", (json_int_t)db_i64(s, 5),
		    "org_id", (json_int_t)db_i64(s, 6)));
	}
	if (n < 0)
		goto fail;
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

int
read_channels_ever(struct store_db *db, bool *out)
{
	struct db_stmt *s = db_stmt(db->r, R_CHANNELS_EVER);

	if (db_row(s) != 1)
		return -1;
	*out = (int)db_i64(s, 0) != 0;
	db_finish(s);
	return 0;
}

int
read_api_keys_load(struct store_db *db, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_API_KEYS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1) {
		json_t *scopes = json_loads(db_text(s, 4) ? db_text(s, 4) : "", 0, NULL);
		if (!json_is_array(scopes)) {
			json_decref(scopes);
			scopes = json_array();  /* no scope: it can do nothing */
			log_error("store: stored API key scopes are not a JSON array", "key",
			    db_text(s, 5));
		}
		json_array_append_new(list, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I}",
		    "id", (json_int_t)db_i64(s, 0),
		    "org_id", (json_int_t)db_i64(s, 1),
		    "name", sd_jstr(db_text(s, 2)),
		    "hash", sd_jstr(db_text(s, 3)),
		    "scopes", scopes,
		    "prefix", sd_jstr(db_text(s, 5)),
		    "created_at", (json_int_t)db_i64(s, 6),
		    "expires_at", (json_int_t)db_i64(s, 7),
		    "last_used_at", (json_int_t)db_i64(s, 8)));
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

static int read_i64(struct store_db *db, struct db_stmt *s, int64_t *out);

int
read_quota_usage(struct store_db *db, const char *scope, int64_t now_ms, int64_t n[3])
{
	struct db_stmt *s = db_stmt(db->r, R_QUOTA_USAGE);
	int64_t start[QUOTA_KINDS];
	int r;

	for (int k = 0; k < QUOTA_KINDS; k++) {
		n[k] = 0;
		start[k] = quota_window_start((enum quota_kind)k, now_ms);
	}
	db_bind_text(s, 1, scope);
	db_bind_i64(s, 2, start[QUOTA_DAY]);
	while ((r = db_row(s)) == 1) {
		int k = (int)db_i64(s, 0);
		if (k >= 0 && k < QUOTA_KINDS && db_i64(s, 1) == start[k])
			n[k] = db_i64(s, 2);
	}
	return r < 0 ? -1 : 0;
}

int
read_fingerprint_at(struct store_db *db, int64_t org, const char *fp, int64_t *at_ms)
{
	struct db_stmt *s = db_stmt(db->r, R_FINGERPRINT);

	db_bind_i64(s, 1, org_of(org));
	db_bind_text(s, 2, fp);
	return read_i64(db, s, at_ms);
}

int
read_live_instances(struct store_db *db, int64_t now_ms, int64_t *out)
{
	struct db_stmt *s = db_stmt(db->r, R_LIVE_INSTANCES);

	db_bind_i64(s, 1, now_ms);
	return read_i64(db, s, out);
}

int
read_signing_keys_load(struct store_db *db, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_SIGNING_KEYS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:o, s:I}", "kid", sd_jstr(db_text(s, 0)),
		    "secret", sd_jstr(db_text(s, 1)), "created_at", (json_int_t)db_i64(s, 2)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

int
read_orgs_load(struct store_db *db, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_ORGS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1) {
		json_t *settings = json_loads(db_text(s, 2) ? db_text(s, 2) : "", 0, NULL);
		if (!json_is_object(settings)) {
			json_decref(settings);
			settings = json_object();
			log_error("store: stored organization settings are not a JSON object", "org",
			    db_text(s, 1));
		}
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:I}",
		    "id", (json_int_t)db_i64(s, 0),
		    "name", sd_jstr(db_text(s, 1)),
		    "settings", settings,
		    "created_at", (json_int_t)db_i64(s, 3)));
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

/* A conversation from a CONV_SELECT row. */
static json_t *
render_conversation(struct store_db *db, struct db_stmt *s)
{
	json_t *last = json_null();

	if (!db_null(s, CONV_MSG_COL) &&
	    (last = sd_render_message(db, db->r, s, CONV_MSG_COL)) == NULL)
		return NULL;
	bool opted_out = !db_null(s, CONV_OPTOUT_COL);
	return json_pack("{s:I, s:o, s:{s:I, s:o, s:o, s:b, s:o, s:o}, s:o, s:I, s:o}",
	    "id", (json_int_t)db_i64(s, 0),
	    "channel", sd_jstr(db_text(s, 1)),
	    "contact", "id", (json_int_t)db_i64(s, 6), "address", sd_jstr(db_text(s, 2)),
	    "name", sd_jstr(db_text(s, 3)),
	    "opted_out", opted_out,
	    "opted_out_at", opted_out ? sd_jtime(db_i64(s, CONV_OPTOUT_COL) / 1000) : json_null(),
	    "opted_out_keyword", opted_out ? sd_jstr(db_text(s, CONV_OPTOUT_COL + 1)) : json_null(),
	    "last_message", last,
	    "unread_count", (json_int_t)db_i64(s, 4),
	    "updated_at", sd_jtime(db_i64(s, 5) / 1000));
}

static int
clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* "<last_activity_ms>_<id>", as read_conversations_list() makes them. */
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

int
read_conversations_list(struct store_db *db, const struct conv_query *q, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_CONV_LIST);
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
	db_bind_i64(s, 1, q->channel_id);
	db_bind_text(s, 2, like);
	db_bind_i64(s, 3, cur_ms);
	db_bind_i64(s, 4, cur_id);
	db_bind_i64(s, 5, limit + 1);  /* one more tells whether a next page exists */
	db_bind_i64(s, 6, org_of(q->org_id));
	while ((n = db_row(s)) == 1) {
		json_t *c;

		if (count == limit) {
			char buf[48];

			snprintf(buf, sizeof(buf), "%" PRId64 "_%" PRId64, last_ms, last_id);
			next = json_string(buf);
			db_finish(s);
			break;
		}
		if ((c = render_conversation(db, s)) == NULL) {
			db_finish(s);
			goto fail;
		}
		json_array_append_new(list, c);
		last_id = db_i64(s, 0);
		last_ms = db_i64(s, 5);
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
read_one(struct store_db *db, struct db_stmt *s, json_t *(*render)(struct store_db *, struct db_stmt *),
    json_t **out)
{
	int n;

	*out = NULL;
	if ((n = db_row(s)) <= 0)
		return n;
	*out = render(db, s);
	db_finish(s);
	return *out ? 0 : -1;
}

static json_t *
render_read_message(struct store_db *db, struct db_stmt *s)
{
	return sd_render_message(db, db->r, s, 0);
}

int
read_conversation_get(struct store_db *db, int64_t org, int64_t id, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_CONV_GET);

	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	return read_one(db, s, render_conversation, out);
}

int
read_messages_list(struct store_db *db, const struct msg_query *q, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_CONV_EXISTS);
	int limit = clamp(q->limit, 1, MAX_PAGE), n, count = 0;
	int64_t before = INT64_MAX, oldest = 0;
	json_t *list = NULL, *next = json_null();

	*out = NULL;
	if (q->cursor && (parse_i64(q->cursor, &before) != 0 || before <= 0))
		return 0;  /* not a cursor any list gave */
	db_bind_i64(s, 1, q->conversation_id);
	db_bind_i64(s, 2, org_of(q->org_id));
	if ((n = db_row(s)) <= 0)
		return n;  /* no such conversation */
	db_finish(s);

	/* Newest first from the index, inserted at the front: oldest first. */
	list = json_array();
	s = db_stmt(db->r, R_MSG_LIST);
	db_bind_i64(s, 1, q->conversation_id);
	db_bind_i64(s, 2, before);
	db_bind_i64(s, 3, limit + 1);
	while ((n = db_row(s)) == 1) {
		json_t *m;

		if (count == limit) {
			char buf[24];

			snprintf(buf, sizeof(buf), "%" PRId64, oldest);
			next = json_string(buf);
			db_finish(s);
			break;
		}
		if ((m = sd_render_message(db, db->r, s, 0)) == NULL) {
			db_finish(s);
			goto fail;
		}
		json_array_insert_new(list, 0, m);
		oldest = db_i64(s, 0);
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

int
read_message_get(struct store_db *db, int64_t org, int64_t id, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_MSG_GET);

	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	return read_one(db, s, render_read_message, out);
}

int
read_message_by_client_id(struct store_db *db, int64_t org, const char *client_id, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_MSG_BY_CLIENT_ID);

	db_bind_text(s, 1, client_id);
	db_bind_i64(s, 2, org_of(org));
	return read_one(db, s, render_read_message, out);
}

/* {"messages":[...]} from every row of the bound statement s. */
static int
messages_rows(struct store_db *db, struct db_stmt *s, json_t **out)
{
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1) {
		json_t *m = sd_render_message(db, db->r, s, 0);

		if (m == NULL) {
			db_finish(s);
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

int
read_messages_by_provider_id(struct store_db *db, int64_t org, const char *provider_id, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_MSG_BY_PROVIDER);

	db_bind_text(s, 1, provider_id);
	db_bind_i64(s, 2, org_of(org));
	return messages_rows(db, s, out);
}

int
read_messages_retrying(struct store_db *db, int64_t org, int limit, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_MSG_RETRYING);

	db_bind_i64(s, 1, clamp(limit, 1, MAX_PAGE));
	db_bind_i64(s, 2, org_of(org));
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
 * already compact JSON (written by sd_dump()), so nothing is parsed and
 * serialized again on the way to a client. */
static int read_events_of(struct store_db *db, enum sql which, int64_t org, int64_t since,
    int limit, struct store_event **out, size_t *nout);

int
read_events(struct store_db *db, int64_t org, int64_t since, int limit, struct store_event **out, size_t *nout)
{
	return read_events_of(db, org ? R_EVENTS_ORG : R_EVENTS, org, since, limit, out, nout);
}

int
read_audit(struct store_db *db, int64_t org, int64_t since, int limit, struct store_event **out,
    size_t *nout)
{
	return read_events_of(db, R_AUDIT, org_of(org), since, limit, out, nout);
}

static int
read_events_of(struct store_db *db, enum sql which, int64_t org, int64_t since, int limit,
    struct store_event **out, size_t *nout)
{
	struct db_stmt *s = db_stmt(db->r, which);
	struct store_event *ev = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	db_bind_i64(s, 1, since);
	db_bind_i64(s, 2, clamp(limit, 1, MAX_EVENTS_PAGE));
	if (org)
		db_bind_i64(s, 3, org);
	while ((rc = db_row(s)) == 1) {
		struct buf b;
		char at[21], head[64];
		const char *data = db_text(s, 6);
		int64_t seq = db_i64(s, 0);

		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ev = xrealloc(ev, cap * sizeof(*ev));
		}
		buf_init(&b, 0);
		buf_append(&b, head, (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRId64 ",\"type\":", seq));
		buf_json_string(&b, db_text(s, 1));
		fmt_rfc3339(db_i64(s, 2) / 1000, at);
		buf_append(&b, head, (size_t)snprintf(head, sizeof(head), ",\"at\":\"%s\",\"channel\":", at));
		buf_json_string(&b, db_text(s, 3));
		buf_append(&b, ",\"conversation_id\":", 19);
		buf_json_id(&b, db_i64(s, 4));
		buf_append(&b, ",\"message_id\":", 14);
		buf_json_id(&b, db_i64(s, 5));
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
			.channel = xstrdup_or_null(db_text(s, 3)),
			.conversation_id = db_i64(s, 4),
			.org_id = db_i64(s, 7),
			.audit = strncmp(db_text(s, 1) ? db_text(s, 1) : "", "audit.", 6) == 0,
			.type = xstrdup(db_text(s, 1) ? db_text(s, 1) : ""),
		};
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(ev[i].json);
			free(ev[i].channel);
			free(ev[i].type);
		}
		free(ev);
		return -1;
	}
	*out = ev;
	*nout = n;
	return 0;
}

int
read_outbox_due(struct store_db *db, int64_t channel_id, int64_t now, int limit, json_t **out)
{
	/* 0 = every channel (tests, tools); the dispatcher asks per channel. */
	struct db_stmt *s = db_stmt(db->r, channel_id ? R_OUTBOX_DUE : R_OUTBOX_DUE_ALL);
	json_t *list = json_array();
	int n;

	*out = NULL;
	db_bind_i64(s, 1, now);
	db_bind_i64(s, 2, clamp(limit, 1, MAX_OUTBOX_PAGE));
	if (channel_id)
		db_bind_i64(s, 3, channel_id);
	while ((n = db_row(s)) == 1) {
		json_t *m = sd_render_message_ex(db, db->r, s, OUTBOX_MSG_COL, false);

		if (m == NULL) {
			db_finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:b, s:o}",
		    "message_id", (json_int_t)db_i64(s, 0),
		    "channel_id", (json_int_t)db_i64(s, 1),
		    "recipient", sd_jstr(db_text(s, 2)),
		    "priority", (json_int_t)db_i64(s, 3),
		    "attempts", (json_int_t)db_i64(s, 4),
		    "created_ms", (json_int_t)db_i64(s, 5),
		    "first_attempt_ms", db_null(s, 6) ? json_null() :
		    json_integer(db_i64(s, 6)),
		    "uncertain", (int)db_i64(s, 7) != 0,
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
read_i64(struct store_db *db, struct db_stmt *s, int64_t *out)
{
	int n;

	*out = 0;
	if ((n = db_row(s)) <= 0)
		return n;
	*out = db_i64(s, 0);
	db_finish(s);
	return 0;
}

int
read_events_head(struct store_db *db, int64_t *out)
{

	return read_i64(db, db_stmt(db->r, R_EVENTS_HEAD), out);
}

int
read_outbox_next_due(struct store_db *db, int64_t channel_id, int64_t *out_ms)
{

	if (channel_id) {
		struct db_stmt *s = db_stmt(db->r, R_OUTBOX_NEXT_DUE_CHANNEL);
		db_bind_i64(s, 1, channel_id);
		return read_i64(db, s, out_ms);
	}
	return read_i64(db, db_stmt(db->r, R_OUTBOX_NEXT_DUE), out_ms);
}

int
read_outbox_depth(struct store_db *db, int64_t channel_id, int64_t *out)
{
	struct db_stmt *s = db_stmt(db->r, R_OUTBOX_DEPTH);

	db_bind_i64(s, 1, channel_id);
	return read_i64(db, s, out);
}

int
read_last_inbound(struct store_db *db, int64_t channel_id, const char *address, int64_t *out_ms,
    enum contact_status *status, int64_t *opted_out_at)
{
	struct db_stmt *s = db_stmt(db->r, R_LAST_INBOUND);
	int r;

	*out_ms = 0;
	if (status)
		*status = CONTACT_ACTIVE;
	if (opted_out_at)
		*opted_out_at = 0;
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, address);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		*out_ms = db_i64(s, 0);
		if (status)
			*status = contact_status_parse(db_text(s, 1));
		if (opted_out_at)
			*opted_out_at = db_i64(s, 2);
		db_finish(s);
	}
	return 0;
}

int
read_message_provider_id(struct store_db *db, int64_t org, int64_t id, int64_t *channel_id, char *out, size_t outlen)
{
	struct db_stmt *s = db_stmt(db->r, R_MSG_PROVIDER_ID);
	const char *pmid;
	int n, len;

	if (channel_id)
		*channel_id = 0;
	if (outlen > 0)
		out[0] = '\0';
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	if ((n = db_row(s)) <= 0)
		return n;
	if (channel_id)
		*channel_id = db_i64(s, 0);
	pmid = db_text(s, 1);
	len = snprintf(out, outlen, "%s", pmid ? pmid : "");
	db_finish(s);
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
render_template(struct db_stmt *s)
{
	return json_pack("{s:o, s:o, s:o, s:o}",
	    "name", sd_jstr(db_text(s, 0)),
	    "language", sd_jstr(db_text(s, 1)),
	    "body", sd_jstr(db_text(s, 2)),
	    "created_at", sd_jtime(db_i64(s, 3)));
}

int
read_templates_list(struct store_db *db, int64_t org, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_TEMPLATES);

	db_bind_i64(s, 1, org_of(org));
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, render_template(s));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o}", "templates", list);
	return 0;
}

static json_t *
render_read_template(struct store_db *db, struct db_stmt *s)
{
	return render_template(s);
}

static json_t *
render_user(struct store_db *db, struct db_stmt *s)
{
	return json_pack("{s:o, s:o, s:I}",
	    "name", sd_jstr(db_text(s, 0)),
	    "password_hash", sd_jstr(db_text(s, 1)),
	    "created_at", (json_int_t)db_i64(s, 2));
}

int
read_template_get(struct store_db *db, int64_t org, const char *name, const char *language, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_TEMPLATE_GET);

	db_bind_text(s, 1, name);
	db_bind_text(s, 2, language);
	db_bind_i64(s, 3, org_of(org));
	return read_one(db, s, render_read_template, out);
}

int
read_user_get(struct store_db *db, const char *name, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_USER_GET);

	db_bind_text(s, 1, name);
	return read_one(db, s, render_user, out);
}

int
read_sessions_load(struct store_db *db, int64_t now_s, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_SESSIONS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	db_bind_i64(s, 1, now_s);
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o, s:I, s:I}",
		    "token_hash", sd_jstr(db_text(s, 0)),
		    "csrf", sd_jstr(db_text(s, 1)),
		    "user", sd_jstr(db_text(s, 2)),
		    "credential", sd_jstr(db_text(s, 5)),
		    "created_at", (json_int_t)db_i64(s, 3),
		    "expires_at", (json_int_t)db_i64(s, 4)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

int
read_users_list(struct store_db *db, int64_t org, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_USERS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	db_bind_i64(s, 1, org_of(org));
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:I, s:o, s:b}", "name",
		    sd_jstr(db_text(s, 0)), "created_at", (json_int_t)db_i64(s, 1), "role",
		    sd_jstr(db_text(s, 2)), "must_change_password", db_i64(s, 3) != 0));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

int
read_members_load(struct store_db *db, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_MEMBERS);
	json_t *list = json_array();
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, json_pack("{s:o, s:I, s:o, s:b, s:b}", "user",
		    sd_jstr(db_text(s, 0)), "org_id", (json_int_t)db_i64(s, 1), "role",
		    sd_jstr(db_text(s, 2)), "platform_admin", db_i64(s, 3) != 0,
		    "must_change_password", db_i64(s, 4) != 0));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

/* A stored JSON column (issue 15: an export's config, channels), or null. */
static json_t *
json_or_null(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;

	return j ? j : json_null();
}

int
read_subscriptions_load(struct store_db *db, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_SUBSCRIPTIONS);
	json_t *list = json_array();
	json_error_t jerr;
	int n;

	*out = NULL;
	while ((n = db_row(s)) == 1) {
		json_t *events = json_loads(db_text(s, 2), 0, &jerr);
		if (!json_is_array(events)) {
			log_error("store: stored subscription events are not a JSON array", "error", jerr.text);
			json_decref(events);
			db_finish(s);
			goto fail;
		}
		json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:I, s:s, s:o, s:o, s:s}",
		    "id", (json_int_t)db_i64(s, 0),
		    "url", sd_jstr(db_text(s, 1)),
		    "events", events,
		    "secret", sd_jstr(db_text(s, 3)),
		    "created_at", (json_int_t)db_i64(s, 4),
		    "delivered_seq", (json_int_t)db_i64(s, 5),
		    "attempts", (json_int_t)db_i64(s, 6),
		    "first_attempt_ms", (json_int_t)db_i64(s, 7),
		    "next_attempt_ms", (json_int_t)db_i64(s, 8),
		    "last_error", sd_jstr(db_text(s, 9)),
		    "paused", (int)db_i64(s, 10) != 0,
		    "org_id", (json_int_t)db_i64(s, 11),
		    "kind", db_text(s, 12) ? db_text(s, 12) : "webhook",
		    "config", json_or_null(db_text(s, 13)),
		    "channels", json_or_null(db_text(s, 14)),
		    "org", db_text(s, 15) ? db_text(s, 15) : ""));
	}
	if (n < 0)
		goto fail;
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

