/*
 * read_campaign.c - campaigns as the API shows them (issue 14): one, a
 * page of an organization's, a page of a campaign's recipients (keyset
 * paging by idx, optionally of one status), and the campaigns whose
 * recipients are not all made yet (resumed at start). On a reader
 * connection (the loop's at start, a pool thread's for requests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

static json_t *
jtime_ms(struct db_stmt *s, int col)
{
	if (db_null(s, col) || db_i64(s, col) <= 0)
		return json_null();
	return sd_jtime(db_i64(s, col) / 1000);
}

/* A stored JSON text as a tree (null when absent or unreadable). */
static json_t *
jtext(struct db_stmt *s, int col)
{
	const char *t = db_text(s, col);
	json_t *v = t ? json_loads(t, 0, NULL) : NULL;

	return v ? v : json_null();
}

/* A row of CAMPAIGN_COLS (campaign_sql.h). */
static json_t *
render_campaign(struct db_stmt *s)
{
	static const char *const names[] = { "total", "queued", "sent", "delivered", "read", "failed",
		"cancelled", "replied", "skipped" };
	json_t *counters = json_object(), *c;

	for (int i = 0; i < 9; i++)
		json_object_set_new(counters, names[i], json_integer(db_i64(s, 9 + i)));
	json_object_set_new(counters, "skipped_reasons", jtext(s, 18));
	c = json_object();
	json_object_set_new(c, "id", json_integer(db_i64(s, 0)));
	json_object_set_new(c, "name", sd_jstr(db_text(s, 1)));
	json_object_set_new(c, "channel", sd_jstr(db_text(s, 2)));
	json_object_set_new(c, "status", sd_jstr(db_text(s, 3)));
	json_object_set_new(c, "scheduled_at", jtime_ms(s, 4));
	json_object_set_new(c, "rate", db_null(s, 5) ? json_null() : json_integer(db_i64(s, 5)));
	json_object_set_new(c, "quiet_hours", jtext(s, 6));
	json_object_set_new(c, "content", jtext(s, 7));
	json_object_set_new(c, "created", json_integer(db_i64(s, 8)));
	json_object_set_new(c, "counters", counters);
	json_object_set_new(c, "created_at", jtime_ms(s, 19));
	json_object_set_new(c, "started_at", jtime_ms(s, 20));
	json_object_set_new(c, "finished_at", jtime_ms(s, 21));
	return c;
}

int
read_campaign_get(struct store_db *db, int64_t org, int64_t id, json_t **out)
{
	struct db_stmt *s = db_stmt(db->r, R_CAMPAIGN_GET);
	int r;

	*out = NULL;
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org_of(org));
	if ((r = db_row(s)) <= 0)
		return r;
	*out = render_campaign(s);
	db_finish(s);
	return 0;
}

int
store_campaign_get(struct store *st, int64_t org, int64_t id, json_t **out)
{
	return read_campaign_get(store_reader_db(st), org, id, out);
}

int
store_campaigns_list(struct store *st, int64_t org, int64_t before, int limit, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CAMPAIGNS_LIST);
	json_t *list = json_array();
	int64_t last = 0;
	int r, n = 0;

	*out = NULL;
	db_bind_i64(s, 1, org_of(org));
	db_bind_i64(s, 2, before > 0 ? before : INT64_MAX);
	db_bind_i64(s, 3, limit);
	while ((r = db_row(s)) == 1) {
		last = db_i64(s, 0);
		n++;
		json_array_append_new(list, render_campaign(s));
	}
	if (r < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o,s:o}", "campaigns", list, "next",
	    n == limit ? json_integer(last) : json_null());
	return 0;
}

static json_t *
render_recipient(struct db_stmt *s)
{
	json_t *r = json_object(), *err = json_null();

	json_object_set_new(r, "idx", json_integer(db_i64(s, 0)));
	json_object_set_new(r, "to", sd_jstr(db_text(s, 1)));
	json_object_set_new(r, "variables", jtext(s, 2));
	json_object_set_new(r, "message_id", db_null(s, 3) ? json_null() : json_integer(db_i64(s, 3)));
	json_object_set_new(r, "status", sd_jstr(db_text(s, 4)));
	json_object_set_new(r, "skip_reason", sd_jstr(db_text(s, 5)));
	if (!db_null(s, 7) || !db_null(s, 6))
		err = sd_error_json(db_i64(s, 6), db_text(s, 7), db_text(s, 8), false);
	json_object_set_new(r, "error", err ? err : json_null());
	return r;
}

int
store_campaign_recipients(struct store *st, int64_t org, int64_t id, const char *status,
    int64_t after, int limit, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	json_t *camp = NULL, *list;
	struct db_stmt *s;
	int64_t last = 0;
	int r, n = 0;

	*out = NULL;
	if (read_campaign_get(db, org, id, &camp) != 0)
		return -1;
	if (camp == NULL)
		return 0;
	json_decref(camp);
	s = db_stmt(db->r, status ? R_CAMPAIGN_RCPTS_STATUS : R_CAMPAIGN_RCPTS);
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, after);
	db_bind_i64(s, 3, limit);
	if (status)
		db_bind_text(s, 4, status);
	list = json_array();
	while ((r = db_row(s)) == 1) {
		last = db_i64(s, 0);
		n++;
		json_array_append_new(list, render_recipient(s));
	}
	if (r < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o,s:o}", "recipients", list, "next",
	    n == limit ? json_integer(last) : json_null());
	return 0;
}

int
store_campaigns_unfinished(struct store *st, int64_t idle_before, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CAMPAIGNS_UNFINISHED);
	json_t *list = json_array();
	int r;

	*out = NULL;
	db_bind_i64(s, 1, idle_before);
	while ((r = db_row(s)) == 1) {
		json_t *c = json_object();
		json_object_set_new(c, "id", json_integer(db_i64(s, 0)));
		json_object_set_new(c, "org_id", json_integer(db_i64(s, 1)));
		json_object_set_new(c, "channel_id", json_integer(db_i64(s, 2)));
		json_object_set_new(c, "source", jtext(s, 3));
		json_object_set_new(c, "content", jtext(s, 4));
		json_object_set_new(c, "created", json_integer(db_i64(s, 5)));
		json_object_set_new(c, "status", sd_jstr(db_text(s, 6)));
		json_object_set_new(c, "scheduled_at", json_integer(db_i64(s, 7)));
		json_object_set_new(c, "rate", json_integer(db_i64(s, 8)));
		json_object_set_new(c, "quiet_hours", jtext(s, 9));
		json_object_set_new(c, "created_at", json_integer(db_i64(s, 10)));
		json_object_set_new(c, "cursor", json_integer(db_i64(s, 11)));
		json_object_set_new(c, "total", json_integer(db_i64(s, 12)));
		json_object_set_new(c, "updated_ms", json_integer(db_i64(s, 13)));
		json_array_append_new(list, c);
	}
	if (r < 0) {
		json_decref(list);
		return -1;
	}
	*out = list;
	return 0;
}
