/*
 * read_import.c - imports (issue 14) as the API shows them, and the valid
 * rows campaigns read (store.h), on the calling thread's reader
 * connection (a pool thread's inside a store_read).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

#define IMPORT_PREVIEW_ERRORS_MAX 200   /* errors shown with the preview rows */

/* A stored JSON column (NULL, or not JSON: null). */
static json_t *
json_col(struct db_stmt *s, int i)
{
	const char *t = db_text(s, i);
	json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;

	return v ? v : json_null();
}

/* An import from IMPORT_COLS (sqlite_sql.c). */
static json_t *
render_import(struct db_stmt *s)
{
	json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)db_i64(s, 0),
	    "status", sd_jstr(db_text(s, 5)),
	    "file_id", sd_jstr(db_text(s, 1)),
	    "channel", sd_jstr(db_text(s, 2)),
	    "format", sd_jstr(db_text(s, 3)));
	json_t *req = json_col(s, 4);
	const char *k;
	json_t *v;

	json_object_foreach(req, k, v) {
		if (strcmp(k, "needed") != 0)
			json_object_set(o, k, v);
	}
	json_decref(req);
	json_object_set_new(o, "counts", json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "rows", (json_int_t)db_i64(s, 11), "valid", (json_int_t)db_i64(s, 12),
	    "invalid", (json_int_t)db_i64(s, 13), "duplicates", (json_int_t)db_i64(s, 14),
	    "errors", (json_int_t)db_i64(s, 15)));
	json_object_set_new(o, "columns", json_col(s, 9));
	if (db_null(s, 6)) {
		json_object_set_new(o, "error", json_null());
	} else {
		json_t *e = json_pack("{s:o, s:o}", "code", sd_jstr(db_text(s, 6)),
		    "message", sd_jstr(db_text(s, 7)));
		json_object_set_new(e, "row", db_null(s, 8) ? json_null() : json_integer(db_i64(s, 8)));
		json_object_set_new(o, "error", e);
	}
	json_object_set_new(o, "created_at", sd_jtime(db_i64(s, 16) / 1000));
	json_object_set_new(o, "finished_at", db_null(s, 17) ? json_null() : sd_jtime(db_i64(s, 17) / 1000));
	return o;
}

static json_t *
render_error(struct db_stmt *s)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o}",
	    "row", (json_int_t)db_i64(s, 1),
	    "column", sd_jstr(db_text(s, 2)),
	    "value", sd_jstr(db_text(s, 3)),
	    "code", sd_jstr(db_text(s, 4)),
	    "message", sd_jstr(db_text(s, 5)));
}

/* Each preview row's status and errors, from the staged rows. */
static int
preview_states(struct store_db *db, int64_t id, json_t *preview)
{
	size_t n = json_array_size(preview);
	int64_t last = n ? json_integer_value(json_object_get(json_array_get(preview, n - 1), "row")) : 0;
	struct db_stmt *s;
	int r;
	size_t i;
	json_t *p;

	if (n == 0)
		return 0;
	json_array_foreach(preview, i, p) {
		json_object_set_new(p, "status", json_null());
		json_object_set_new(p, "errors", json_array());
	}
	s = db_stmt(db->r, R_IMPORT_PREVIEW_ROWS);
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, last);
	db_bind_i64(s, 3, (int64_t)n);
	i = 0;
	while ((r = db_row(s)) == 1) {
		int64_t row = db_i64(s, 0);
		for (; i < n; i++) {
			p = json_array_get(preview, i);
			if (json_integer_value(json_object_get(p, "row")) >= row)
				break;
		}
		if (i < n && json_integer_value(json_object_get(p, "row")) == row)
			json_object_set_new(p, "status", sd_jstr(db_text(s, 1)));
	}
	if (r < 0)
		return -1;
	/* Errors are numbered in row order: read them until past the last. */
	s = db_stmt(db->r, R_IMPORT_ERRORS);
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, 0);
	db_bind_i64(s, 3, IMPORT_PREVIEW_ERRORS_MAX);
	i = 0;
	while ((r = db_row(s)) == 1) {
		int64_t row = db_i64(s, 1);
		if (row > last) {
			db_finish(s);
			break;
		}
		for (; i < n; i++) {
			p = json_array_get(preview, i);
			if (json_integer_value(json_object_get(p, "row")) >= row)
				break;
		}
		if (i < n && json_integer_value(json_object_get(p, "row")) == row) {
			json_t *e = render_error(s);
			json_object_del(e, "row");
			json_array_append_new(json_object_get(p, "errors"), e);
		}
	}
	return r < 0 ? -1 : 0;
}

int
store_import_get(struct store *st, int64_t org, int64_t id, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_IMPORT_GET);
	json_t *o = NULL, *preview = NULL;
	int n;

	*out = NULL;
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	if ((n = db_row(s)) == 1) {
		o = render_import(s);
		preview = json_col(s, 10);
		db_finish(s);
	}
	if (n < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (!json_is_array(preview)) {
		json_decref(preview);
		preview = json_array();
	}
	if (preview_states(db, id, preview) != 0) {
		json_decref(preview);
		json_decref(o);
		return -1;
	}
	json_object_set_new(o, "preview", preview);
	*out = o;
	return 0;
}

int
store_imports_list(struct store *st, int64_t org, int64_t before, int limit, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_IMPORTS_LIST);
	json_t *list = json_array();
	int64_t last = 0;
	int n;

	*out = NULL;
	db_bind_i64(s, 1, org_of(org));
	db_bind_i64(s, 2, before > 0 ? before : INT64_MAX);
	db_bind_i64(s, 3, limit);
	while ((n = db_row(s)) == 1) {
		last = db_i64(s, 0);
		json_array_append_new(list, render_import(s));
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o, s:o}", "data", list,
	    "next", (int)json_array_size(list) == limit ? json_integer(last) : json_null());
	return 0;
}

/* Does org have import id? */
static int
import_exists(struct store_db *db, int64_t org, int64_t id, bool *found, char status[16])
{
	struct db_stmt *s = db_stmt(db->r, R_IMPORT_GET);
	int n;

	*found = false;
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	if ((n = db_row(s)) == 1) {
		*found = true;
		snprintf(status, 16, "%s", db_text(s, 5) ? db_text(s, 5) : "");
		db_finish(s);
	}
	return n < 0 ? -1 : 0;
}

int
store_import_errors(struct store *st, int64_t org, int64_t id, int64_t after, int limit,
    json_t **out)
{
	struct store_db *db = store_reader_db(st);
	char status[16];
	bool found;
	int64_t last = 0;
	int n;

	*out = NULL;
	if (import_exists(db, org, id, &found, status) != 0)
		return -1;
	if (!found)
		return 0;
	struct db_stmt *s = db_stmt(db->r, R_IMPORT_ERRORS);
	json_t *list = json_array();
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, after);
	db_bind_i64(s, 3, limit);
	while ((n = db_row(s)) == 1) {
		last = db_i64(s, 0);
		json_array_append_new(list, render_error(s));
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o, s:o}", "data", list,
	    "next", (int)json_array_size(list) == limit ? json_integer(last) : json_null());
	return 0;
}

int
store_import_rows_page(struct store *st, int64_t org, int64_t id, int64_t after_row, int limit,
    json_t **out)
{
	struct store_db *db = store_reader_db(st);
	char status[16];
	bool found;
	int n;

	*out = NULL;
	if (import_exists(db, org, id, &found, status) != 0)
		return -1;
	if (!found || strcmp(status, "validated") != 0)
		return 0;
	struct db_stmt *s = db_stmt(db->r, R_IMPORT_ROWS_PAGE);
	json_t *list = json_array();
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, after_row);
	db_bind_i64(s, 3, limit);
	while ((n = db_row(s)) == 1) {
		json_t *data = json_col(s, 2);
		json_array_append_new(list, json_pack("{s:I, s:o, s:o}", "row", (json_int_t)db_i64(s, 0),
		    "phone", sd_jstr(db_text(s, 1)), "data", json_is_object(data) ? data : json_object()));
		if (!json_is_object(data))
			json_decref(data);
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}

int
store_imports_parsing(struct store *st, const char *owner, bool all, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_IMPORTS_PARSING);
	json_t *list = json_array();
	int n;

	*out = NULL;
	db_bind_i64(s, 1, all ? 1 : 0);
	db_bind_text(s, 2, owner ? owner : "");
	while ((n = db_row(s)) == 1)
		json_array_append_new(list, json_pack("{s:I, s:I, s:o, s:I, s:o, s:o}",
		    "id", (json_int_t)db_i64(s, 0), "org_id", (json_int_t)db_i64(s, 1),
		    "file_id", sd_jstr(db_text(s, 2)), "channel_id", (json_int_t)db_i64(s, 3),
		    "format", sd_jstr(db_text(s, 4)), "request", json_col(s, 5)));
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}
