/*
 * apply_edit.c - a message changed in place (model.h, enum msg_action):
 * an edit replaces the text and keeps the previous one in edit_history,
 * a deletion marks the message deleted; each appends its event
 * (message.edited, message.deleted) carrying the message as a read renders
 * it. No new message row for either (writer thread, inside an ingest op).
 */
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

#define EDIT_HISTORY_MAX 50   /* earlier texts kept per message; older ones drop */

/* Read the target's stored document: 1 with *doc, 0 when absent, -1. */
static int
target_doc(struct store_db *db, int64_t id, json_t **doc, int64_t *conv)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_DOC);
	int r;

	*doc = NULL;
	db_bind_i64(s, 1, id);
	if ((r = db_row(s)) <= 0)
		return r;
	*doc = json_loads(db_text(s, 0) ? db_text(s, 0) : "", 0, NULL);
	*conv = db_i64(s, 1);
	db_finish(s);
	return json_is_object(*doc) ? 1 : -1;
}

static int
edit(json_t *doc, const struct msg_in *m)
{
	json_t *hist = json_object_get(doc, "edit_history");
	json_t *prev = json_object_get(doc, "text");
	json_t *prev_at = json_object_get(doc, "edited_at");

	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(doc, "edit_history", hist);
	}
	json_array_append_new(hist, json_pack("{s:O,s:O}", "text", prev ? prev : json_null(),
	    "at", prev_at ? prev_at : json_object_get(doc, "timestamp") ?
	    json_object_get(doc, "timestamp") : json_null()));
	while (json_array_size(hist) > EDIT_HISTORY_MAX)
		json_array_remove(hist, 0);
	if (sd_set_str(doc, "text", m->text) != 0)
		return -1;
	if (m->text == NULL)
		json_object_set_new(doc, "text", json_null());
	json_object_set_new(doc, "edited_at", sd_jtime(m->timestamp > 0 ? m->timestamp : now_ms() / 1000));
	return 0;
}

int
sd_apply_change(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t now)
{
	int64_t id = 0, conv = 0, seq;
	json_t *doc = NULL, *rendered = NULL, *data = NULL;
	char *doc_s = NULL, *data_s = NULL;
	bool del = m->action == MSG_DELETE;
	int r, rc = -1;

	if (m->target == NULL)
		return sd_op_error(op, "an edit or deletion lacks its target");
	if (sd_find_message(db, m->channel_id, m->target, &id) != 0)
		return sd_op_sql_error(db, op);
	if (id == 0)
		return 1;  /* not ours: the caller decides */
	if ((r = target_doc(db, id, &doc, &conv)) <= 0) {
		json_decref(doc);
		return r < 0 ? sd_op_error(op, "message %lld has no readable document", (long long)id) : 1;
	}
	if (del) {
		if (json_is_true(json_object_get(doc, "deleted"))) {
			m->id = id;
			m->conversation_id = conv;
			m->duplicate = true;
			rc = 0;
			goto out;
		}
		json_object_set_new(doc, "deleted", json_true());
		json_object_set_new(doc, "deleted_at", sd_jtime(m->timestamp > 0 ? m->timestamp : now / 1000));
	} else if (edit(doc, m) != 0) {
		sd_op_error(op, "the edited text is not valid UTF-8");
		goto out;
	}
	if ((doc_s = sd_dump(doc)) == NULL) {
		sd_op_error(op, "cannot serialize message");
		goto out;
	}
	struct db_stmt *s = db_stmt(db->w, W_MSG_SET_DOC);
	db_bind_i64(s, 1, id);
	db_bind_text(s, 2, doc_s);
	if (db_defer(s) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	if ((rendered = sd_writer_message(db, id)) == NULL) {
		sd_op_error(op, "cannot render the message");
		goto out;
	}
	data = json_pack("{s:I,s:s?,s:O}", "id", (json_int_t)id, "provider_message_id", m->target,
	    "message", rendered);
	if (data == NULL || (data_s = sd_dump(data)) == NULL) {
		sd_op_error(op, "cannot serialize the event");
		goto out;
	}
	if (sd_append_event(db, 0, del ? "message.deleted" : "message.edited", now, m->channel_id,
	    conv, id, data_s, &seq) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	m->id = id;
	m->conversation_id = conv;
	m->seq = seq;
	m->duplicate = false;
	op->last_seq = seq;
	rc = 0;
out:
	free(doc_s);
	free(data_s);
	json_decref(doc);
	json_decref(rendered);
	json_decref(data);
	return rc;
}
