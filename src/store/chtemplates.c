/*
 * chtemplates.c - a channel's provider templates (issue 14): the outcome
 * of a sync (STORE_OP_CHANNEL_TEMPLATES: the list replaced whole, or the
 * error recorded) and the reads of the list and of one template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

static int
sync_row(struct store_db *db, struct store_op *op, bool ok)
{
	struct db_stmt *s = db_stmt(db->w, W_CHTPL_SYNC);

	db_bind_i64(s, 1, op->u.chtpl.channel_id);
	db_bind_id(s, 2, ok ? op->u.chtpl.at : 0);
	db_bind_i64(s, 3, op->u.chtpl.at);
	db_bind_text(s, 4, ok ? NULL : (op->u.chtpl.error ? op->u.chtpl.error : "sync failed"));
	return db_defer(s) == 0 ? 0 : sd_op_sql_error(db, op);
}

int
apply_channel_templates(struct store_db *db, struct store_op *op)
{
	const json_t *list = op->u.chtpl.templates, *t;
	struct db_stmt *s;
	size_t i;

	if (op->u.chtpl.channel_id <= 0)
		return sd_op_error(op, "a template sync lacks its channel");
	if (list == NULL)
		return sync_row(db, op, false);
	if (!json_is_array(list))
		return sd_op_error(op, "synced templates must be an array");
	s = db_stmt(db->w, W_CHTPL_DELETE);
	db_bind_i64(s, 1, op->u.chtpl.channel_id);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	json_array_foreach(list, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		const char *lang = json_string_value(json_object_get(t, "language"));
		const char *status = json_string_value(json_object_get(t, "status"));
		if (name == NULL || lang == NULL || status == NULL)
			return sd_op_error(op, "a synced template lacks name, language or status");
		char *comps = sd_dump(json_object_get(t, "components") ? json_object_get(t, "components") :
		    json_array());
		if (comps == NULL)
			return sd_op_error(op, "a synced template's components are not JSON");
		s = db_stmt(db->w, W_CHTPL_INSERT);
		db_bind_i64(s, 1, op->u.chtpl.channel_id);
		db_bind_text(s, 2, name);
		db_bind_text(s, 3, lang);
		db_bind_text(s, 4, json_string_value(json_object_get(t, "category")));
		db_bind_text(s, 5, status);
		db_bind_i64(s, 6, json_integer_value(json_object_get(t, "params")));
		db_bind_text(s, 7, comps);
		db_bind_i64(s, 8, op->u.chtpl.at);
		int r = db_defer(s);
		free(comps);
		if (r != 0)
			return sd_op_sql_error(db, op);
	}
	return sync_row(db, op, true);
}

/* --- reads --- */

static json_t *
render(struct db_stmt *s)
{
	json_t *comps = NULL;
	const char *c = db_text(s, 5);

	if (c)
		comps = json_loads(c, 0, NULL);
	return json_pack("{s:s,s:s,s:o,s:s,s:I,s:o,s:o}",
	    "name", db_text(s, 0), "language", db_text(s, 1),
	    "category", sd_jstr(db_null(s, 2) ? NULL : db_text(s, 2)),
	    "status", db_text(s, 3), "params", (json_int_t)db_i64(s, 4),
	    "components", comps ? comps : json_array(),
	    "synced_at", sd_jtime(db_i64(s, 6) / 1000));
}

int
store_channel_templates(struct store *st, int64_t channel_id, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CHTPL_LIST);
	json_t *list = json_array(), *o;
	int r;

	*out = NULL;
	db_bind_i64(s, 1, channel_id);
	while ((r = db_row(s)) == 1)
		if ((o = render(s)) != NULL)
			json_array_append_new(list, o);
	if (r < 0)
		goto fail;
	json_t *sync = json_pack("{s:o,s:o,s:o}", "synced_at", json_null(), "attempted_at", json_null(),
	    "last_error", json_null());
	s = db_stmt(db->r, R_CHTPL_SYNC);
	db_bind_i64(s, 1, channel_id);
	if ((r = db_row(s)) < 0) {
		json_decref(sync);
		goto fail;
	}
	if (r == 1) {
		if (db_i64(s, 0) > 0)
			json_object_set_new(sync, "synced_at", sd_jtime(db_i64(s, 0) / 1000));
		json_object_set_new(sync, "attempted_at", sd_jtime(db_i64(s, 1) / 1000));
		json_object_set_new(sync, "last_error", sd_jstr(db_null(s, 2) ? NULL : db_text(s, 2)));
		db_finish(s);
	}
	*out = json_pack("{s:o,s:o}", "templates", list, "sync", sync);
	return 0;
fail:
	json_decref(list);
	return -1;
}

int
store_channel_template_get(struct store *st, int64_t channel_id, const char *name,
    const char *language, struct channel_template *out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s;
	int r;

	*out = (struct channel_template){ 0 };
	s = db_stmt(db->r, R_CHTPL_SYNC);
	db_bind_i64(s, 1, channel_id);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		out->synced = db_i64(s, 0) > 0;
		db_finish(s);
	}
	if (name == NULL || language == NULL)
		return 0;
	s = db_stmt(db->r, R_CHTPL_GET);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, name);
	db_bind_text(s, 3, language);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		out->found = true;
		snprintf(out->status, sizeof(out->status), "%s", db_text(s, 3));
		snprintf(out->category, sizeof(out->category), "%s", db_null(s, 2) ? "" : db_text(s, 2));
		out->params = db_i64(s, 4);
		out->approved = strcmp(out->status, "APPROVED") == 0;
		db_finish(s);
	}
	return 0;
}
