/*
 * render.c - stored rows into the API's JSON, on either connection (reads,
 * and the writer for the messages and events its ops return).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

/* "131000" -> 131000; anything else stays a word. */
static json_t *
code_json(const char *code)
{
	int64_t v;

	if (code == NULL || *code == '\0')
		return json_null();
	if (parse_i64(code, &v) == 0)
		return json_integer(v);
	return json_string(code);
}

static json_t *
text_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

void
store_render_send_state(json_t *m, int64_t attempts, int64_t next_ms, const char *code_text,
    const char *title, const char *detail)
{
	json_object_set_new(m, "attempts", json_integer(attempts));
	json_object_set_new(m, "throttled_until", json_null());  /* render: a quota's hold */
	if (next_ms > 0) {
		char t[21];

		/* Whole seconds, rounded up: never earlier than the attempt. */
		fmt_rfc3339((next_ms + 999) / 1000, t);
		json_object_set_new(m, "next_attempt_at", json_string(t));
	} else {
		json_object_set_new(m, "next_attempt_at", json_null());
	}
	if (title == NULL && (code_text == NULL || *code_text == '\0')) {
		json_object_set_new(m, "last_error", json_null());
		return;
	}
	json_object_set_new(m, "last_error", json_pack("{s:o,s:o,s:o}", "code", code_json(code_text),
	    "title", text_or_null(title), "detail", text_or_null(detail)));
}

/* --- JSON helpers --- */

/* A string, or null for NULL (and for bytes jansson refuses). */
json_t *
sd_jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

/* Set a string member; -1 when v is not valid UTF-8. */
int
sd_set_str(json_t *o, const char *key, const char *v)
{
	json_t *j = v ? json_string(v) : json_null();

	if (j == NULL)
		return -1;
	json_object_set_new(o, key, j);
	return 0;
}

json_t *
sd_jtime(int64_t unix_s)
{
	char t[21];

	fmt_rfc3339(unix_s, t);
	return json_string(t);
}

/* {"code","title","detail"}, or null when there is no error and !always. */
json_t *
sd_error_json(int64_t code, const char *title, const char *detail, bool always)
{
	if (!always && code == 0 && title == NULL && detail == NULL)
		return json_null();
	return json_pack("{s:o, s:o, s:o}", "code", code ? json_integer(code) : json_null(),
	    "title", sd_jstr(title), "detail", sd_jstr(detail));
}

char *
sd_dump(const json_t *j)
{
	return json_encode(j, NULL);
}

/* --- rendering (either connection: reads, and the writer for results) --- */

json_t *
sd_status_history(struct store_db *db, struct db *c, int64_t message_id)
{
	struct db_stmt *s = db_stmt(c, c == db->w ? W_STATUS_HISTORY : R_STATUS_HISTORY);
	json_t *list = json_array();
	int n;

	db_bind_i64(s, 1, message_id);
	while ((n = db_row(s)) == 1) {
		int64_t ts = db_i64(s, 1);

		if (ts == 0)
			ts = db_i64(s, 2) / 1000;  /* no provider time: ours */
		json_array_append_new(list, json_pack("{s:o, s:o, s:o}",
		    "status", sd_jstr(db_text(s, 0)),
		    "at", sd_jtime(ts),
		    "error", sd_error_json(db_i64(s, 3), db_text(s, 4), db_text(s, 5),
		    false)));
	}
	if (n < 0) {
		json_decref(list);
		return NULL;
	}
	return list;
}

json_t *
sd_render_message(struct store_db *db, struct db *conn, struct db_stmt *s, int c)
{
	return sd_render_message_ex(db, conn, s, c, true);
}

json_t *
sd_render_message_ex(struct store_db *db, struct db *conn, struct db_stmt *s, int c, bool history)
{
	int64_t id = db_i64(s, c);
	const char *status = db_text(s, c + 2);
	char jerr[160] = "";
	json_t *m = NULL, *hist;

	json_parse_capped(db_text(s, c + 1), db_bytes(s, c + 1),
	    STORED_JSON_DEPTH, &m, jerr, sizeof(jerr));
	if (m == NULL || !json_is_object(m)) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, id);
		log_error("store: stored message is not a JSON object", "id", v, "error", jerr);
		json_decref(m);
		return NULL;
	}
	if (history && (hist = sd_status_history(db, conn, id)) == NULL) {
		json_decref(m);
		return NULL;
	}
	/* An outbound message gets its provider id after doc was written. */
	json_object_set_new(m, "provider_message_id", sd_jstr(db_text(s, c + 6)));
	json_object_set_new(m, "status", sd_jstr(status));
	if (history)
		json_object_set_new(m, "status_history", hist);
	if (status && strcmp(status, "failed") == 0)
		json_object_set_new(m, "error", sd_error_json(db_i64(s, c + 3),
		    db_text(s, c + 4), db_text(s, c + 5), true));
	store_render_send_state(m, db_i64(s, c + 7),
	    db_null(s, c + 8) ? 0 : db_i64(s, c + 8),
	    db_text(s, c + 9), db_text(s, c + 10), db_text(s, c + 11));
	/* Held back by a sending quota: when it may go. */
	if (!db_null(s, c + 12) && db_i64(s, c + 12) > 0)
		json_object_set_new(m, "throttled_until", sd_jtime((db_i64(s, c + 12) + 999) / 1000));
	else
		json_object_set_new(m, "throttled_until", json_null());
	return m;
}

