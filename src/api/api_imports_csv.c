/*
 * api_imports_csv.c - GET /v1/imports/{id}/errors as a CSV download
 * (?format=csv, or Accept: text/csv): row,column,value,code,message, one
 * line per error, text fields quoted by libcsv's csv_write() (always, with
 * quotes doubled; the row number bare). A field starting with = + - @, a tab
 * or a CR gets a leading ' so that spreadsheet apps show it as text instead
 * of running it as a formula (CSV injection: the values are the file's). The list may be
 * long (a million rows' errors), so it is never built whole: the reply
 * streams, and each page of errors is read and formatted on the reader
 * pool while the connection waits parked (http_reply_stream()).
 */
#include "api.h"
#include "api_imports.h"

#include <csv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

#define CSV_PAGE_ROWS 2000                 /* errors read at once */
#define CSV_PAGE_MAX ((size_t)16 << 20)    /* bytes of one formatted page */
#define CSV_FIELD_MAX (64 * 1024)          /* bytes of one field once quoted */

struct csv_dl {
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	int64_t org, id, after;
	bool started;              /* the reply (stream) was made */
	bool fetching, eof, closed, failed, found;
	struct buf cur;            /* what read() hands out (the loop's) */
	size_t off;
	struct buf next;           /* filled on the pool */
};

static void
dl_free(struct csv_dl *d)
{
	buf_free(&d->cur);
	buf_free(&d->next);
	free(d);
}

/* Would a spreadsheet app read s as a formula? */
static bool
formula_like(const char *s)
{
	return s != NULL && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

static void
field(struct buf *b, const char *s, bool last)
{
	char quoted[CSV_FIELD_MAX];
	size_t n = s ? strlen(s) : 0, w;
	/* csv_write() doubles quotes and adds two: the stored values are capped
	 * (IMPORT_VALUE_MAX, IMPORT_NAME_MAX, messages), far below the field cap. */
	if (formula_like(s)) {
		char *t = xasprintf("'%s", s);
		w = csv_write(quoted, sizeof(quoted), t, n + 1);
		free(t);
	} else {
		w = csv_write(quoted, sizeof(quoted), s ? s : "", n);
	}

	buf_append(b, quoted, w < sizeof(quoted) ? w : sizeof(quoted));
	buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static void
run_page(struct store *st, void *arg)
{
	struct csv_dl *d = arg;
	json_t *page = NULL, *e;
	size_t i;

	d->next.len = 0;
	if (store_import_errors(st, d->org, d->id, d->after, CSV_PAGE_ROWS, &page) != 0) {
		d->failed = true;
		return;
	}
	if (page == NULL)
		return;  /* no such import */
	d->found = true;
	if (d->after == 0)
		buf_append(&d->next, "row,column,value,code,message\r\n", 31);
	json_t *data = json_object_get(page, "data");
	json_array_foreach(data, i, e) {
		char row[24];
		int n = snprintf(row, sizeof(row), "%" JSON_INTEGER_FORMAT ",",
		    json_integer_value(json_object_get(e, "row")));
		buf_append(&d->next, row, (size_t)n);   /* a number: never quoted */
		field(&d->next, json_string_value(json_object_get(e, "column")), false);
		field(&d->next, json_string_value(json_object_get(e, "value")), false);
		field(&d->next, json_string_value(json_object_get(e, "code")), false);
		field(&d->next, json_string_value(json_object_get(e, "message")), true);
	}
	json_t *next = json_object_get(page, "next");
	if (json_is_integer(next))
		d->after = json_integer_value(next);
	else
		d->eof = true;
	json_decref(page);
}

static long stream_read(void *arg, char *buf, size_t max);
static void stream_close(void *arg);

static void
swap_page(struct csv_dl *d)
{
	struct buf t = d->cur;

	d->cur = d->next;
	d->next = t;
	d->off = 0;
}

static void
page_done(void *arg)
{
	struct csv_dl *d = arg;

	d->fetching = false;
	if (d->closed) {
		dl_free(d);
		return;
	}
	if (!d->started) {
		if (d->failed) {
			api_store_error(d->req);
			dl_free(d);
			return;
		}
		if (!d->found) {
			http_reply_error(d->req, 404, "not_found", NULL, "no such import");
			dl_free(d);
			return;
		}
		char disp[96];
		snprintf(disp, sizeof(disp), "attachment; filename=\"import-%" PRId64 "-errors.csv\"", d->id);
		d->started = true;
		swap_page(d);
		http_reply_stream(d->req, 200, "text/csv; charset=utf-8", stream_read, stream_close, d);
		http_reply_header(d->req, "Content-Disposition", disp);
		return;
	}
	if (d->failed)
		d->eof = true;   /* the download ends short: the client sees no final line */
	swap_page(d);
	http_stream_wake(d->req);
}

static void
fetch(struct csv_dl *d)
{
	d->fetching = true;
	d->rd = (struct store_read){ .run = run_page, .done = page_done, .arg = d };
	store_read_submit(d->app->store, &d->rd);
}

static long
stream_read(void *arg, char *buf, size_t max)
{
	struct csv_dl *d = arg;

	if (d->off < d->cur.len) {
		size_t n = d->cur.len - d->off < max ? d->cur.len - d->off : max;
		memcpy(buf, d->cur.data + d->off, n);
		d->off += n;
		return (long)n;
	}
	if (d->eof || d->failed)
		return -1;
	if (!d->fetching)
		fetch(d);
	return 0;
}

static void
stream_close(void *arg)
{
	struct csv_dl *d = arg;

	d->closed = true;
	if (!d->fetching)
		dl_free(d);
}

void
api_import_errors_csv(struct app *app, struct http_request *req, int64_t org, int64_t id)
{
	struct csv_dl *d = xcalloc(1, sizeof(*d));

	d->app = app;
	d->req = req;
	d->org = org;
	d->id = id;
	buf_init(&d->cur, CSV_PAGE_MAX);
	buf_init(&d->next, CSV_PAGE_MAX);
	http_defer(req);
	fetch(d);
}
