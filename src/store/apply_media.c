/*
 * apply_media.c - media both ways in the store (issue 14, migration 0020).
 *
 * Inbound: an ingested message with a media_source gets a media job in its
 * own transaction (sd_media_ingest(), from apply_msg.c) and its document
 * says media.status "pending". The fetcher (src/media/) claims due jobs
 * under a lease (CLAIM) and records each outcome (RESULT): stored (the
 * file linked from the message, its refs + 1, message.media appended),
 * retry (attempt counted, due later) or failed (the message's media says
 * why, message.media appended). A job no longer pending is left alone, so
 * a late result of an instance whose lease ran out changes nothing twice.
 *
 * Outbound: a message sending a stored file references it (refs + 1) in
 * the send's transaction; the upload cache keeps a provider's media id per
 * (channel, content).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

#define MEDIA_SOURCE_MAX (64 * 1024 * 1024)  /* an inline base64 kept in a job */

int
sd_media_ingest(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t id, int64_t now)
{
	struct db_stmt *s;
	char *src;
	int rc;

	if (m->direction == DIR_OUT) {
		if (m->file_ref == NULL || m->echo)
			return 0;
		s = db_stmt(db->w, W_FILE_REF);
		db_bind_text(s, 1, m->file_ref);
		db_bind_i64(s, 2, org_of(op->org_id));
		db_bind_i64(s, 3, 1);
		db_bind_i64(s, 4, now);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		/* Swept since the send was checked: never commit a dangling file. */
		if (db_changes(db->w) != 1)
			return sd_op_fail(op, STORE_NOTFOUND, "no file '%.40s' in this organization", m->file_ref);
		return 0;
	}
	if (m->media_source == NULL)
		return 0;
	if ((src = sd_dump(m->media_source)) == NULL || strlen(src) > MEDIA_SOURCE_MAX) {
		free(src);
		return sd_op_error(op, "the media source of message %" PRId64 " is unusable", id);
	}
	s = db_stmt(db->w, W_MEDIA_JOB_INSERT);
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, m->channel_id);
	db_bind_text(s, 3, src);
	db_bind_i64(s, 4, now);
	rc = db_defer(s);
	free(src);
	return rc == 0 ? 0 : sd_op_sql_error(db, op);
}

void
sd_media_mark_pending(struct msg_in *m)
{
	json_t *media;

	if (m->direction != DIR_IN || m->media_source == NULL)
		return;
	media = json_object_get(m->parts, "media");
	if (!json_is_object(media)) {
		media = json_object();
		json_object_set_new(m->parts, "media", media);
	}
	json_object_set_new(media, "status", json_string("pending"));
}

int
sd_media_scrub(struct store_db *db, int64_t id, const char *doc)
{
	struct db_stmt *s = db_stmt(db->w, W_MEDIA_JOB_DROP);
	json_t *d, *fid;
	int rc = 0;

	db_bind_i64(s, 1, id);
	if (db_defer(s) != 0)
		return -1;
	if (doc == NULL || strstr(doc, "\"file_id\"") == NULL)
		return 0;
	d = json_loads(doc, 0, NULL);
	fid = json_object_get(json_object_get(d, "media"), "file_id");
	if (json_is_string(fid)) {
		s = db_stmt(db->w, W_MEDIA_UNREF);
		db_bind_text(s, 1, json_string_value(fid));
		db_bind_i64(s, 2, id);
		db_bind_i64(s, 3, now_ms());
		rc = db_defer(s);
	}
	json_decref(d);
	return rc;
}

static int
claim(struct store_db *db, struct store_op *op)
{
	for (size_t i = 0; i < op->u.media.n; i++) {
		struct media_item *it = &op->u.media.items[i];
		struct db_stmt *s = db_stmt(db->w, W_MEDIA_CLAIM);
		db_bind_i64(s, 1, it->message_id);
		db_bind_text(s, 2, op->u.media.owner);
		db_bind_i64(s, 3, op->u.media.lease_until);
		db_bind_i64(s, 4, op->u.media.now_ms);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		it->claimed = db_changes(db->w) > 0;
	}
	return 0;
}

/* The message's document with its media part changed by the outcome. */
static int
relink(struct store_db *db, struct store_op *op, const struct media_item *it, int64_t conv,
    int64_t org, int64_t channel_id, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_DOC);
	json_t *doc = NULL, *media, *rendered = NULL, *data = NULL;
	char *doc_s = NULL, *data_s = NULL, url[64];
	int64_t seq;
	int r, rc = -1;

	db_bind_i64(s, 1, it->message_id);
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 1) {
		doc = json_loads(db_text(s, 0) ? db_text(s, 0) : "", 0, NULL);
		db_finish(s);
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		return sd_op_error(op, "message %" PRId64 " has no readable document", it->message_id);
	}
	media = json_object_get(doc, "media");
	if (!json_is_object(media)) {
		media = json_object();
		json_object_set_new(doc, "media", media);
	}
	if (it->result == MEDIA_STORED) {
		snprintf(url, sizeof(url), "/v1/files/%s", it->file_id);
		json_object_set_new(media, "status", json_string("stored"));
		json_object_set_new(media, "file_id", json_string(it->file_id));
		json_object_set_new(media, "url", json_string(url));
		json_object_set_new(media, "mime_type", json_string(it->mime_type));
		json_object_set_new(media, "size", json_integer(it->size));
		json_object_set_new(media, "sha256", json_string(it->sha256));
		json_object_del(media, "error");
	} else {
		json_object_set_new(media, "status", json_string("failed"));
		json_object_set_new(media, "error", sd_jstr(it->error));
	}
	if ((doc_s = sd_dump(doc)) == NULL) {
		sd_op_error(op, "cannot serialize message");
		goto out;
	}
	s = db_stmt(db->w, W_MSG_SET_DOC);
	db_bind_i64(s, 1, it->message_id);
	db_bind_text(s, 2, doc_s);
	if (db_defer(s) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	if ((rendered = sd_writer_message(db, it->message_id)) == NULL) {
		sd_op_error(op, "cannot render the message");
		goto out;
	}
	data = json_pack("{s:I,s:O}", "id", (json_int_t)it->message_id, "message", rendered);
	if (data == NULL || (data_s = sd_dump(data)) == NULL) {
		sd_op_error(op, "cannot serialize the event");
		goto out;
	}
	if (sd_append_event(db, org, "message.media", now, channel_id, conv, it->message_id, data_s,
	    &seq) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
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

static int
result(struct store_db *db, struct store_op *op, const struct media_item *it, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_MEDIA_JOB_GET);
	int64_t org, channel_id, conv;
	bool pending;
	int r;

	db_bind_i64(s, 1, it->message_id);
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "no media job for message %" PRId64, it->message_id);
	org = db_i64(s, 1);
	channel_id = db_i64(s, 2);
	conv = db_i64(s, 3);
	pending = db_text(s, 4) && strcmp(db_text(s, 4), "pending") == 0;
	db_finish(s);
	if (!pending)
		return 0;  /* decided already (another instance's late answer) */
	switch (it->result) {
	case MEDIA_STORED:
		s = db_stmt(db->w, W_MEDIA_STORED);
		db_bind_i64(s, 1, it->message_id);
		db_bind_text(s, 2, it->file_id);
		if (db_defer(s) != 0)
			return sd_op_sql_error(db, op);
		s = db_stmt(db->w, W_FILE_REF);
		db_bind_text(s, 1, it->file_id);
		db_bind_i64(s, 2, org);
		db_bind_i64(s, 3, 1);
		db_bind_i64(s, 4, now);
		if (db_defer(s) != 0)
			return sd_op_sql_error(db, op);
		return relink(db, op, it, conv, org, channel_id, now);
	case MEDIA_RETRY:
		s = db_stmt(db->w, W_MEDIA_RETRY);
		db_bind_i64(s, 1, it->message_id);
		db_bind_i64(s, 2, it->next_at);
		db_bind_text(s, 3, it->error);
		return db_defer(s) == 0 ? 0 : sd_op_sql_error(db, op);
	case MEDIA_FAILED:
		s = db_stmt(db->w, W_MEDIA_FAILED);
		db_bind_i64(s, 1, it->message_id);
		db_bind_text(s, 2, it->error);
		if (db_defer(s) != 0)
			return sd_op_sql_error(db, op);
		return relink(db, op, it, conv, org, channel_id, now);
	}
	return sd_op_error(op, "unknown media result %d", (int)it->result);
}

int
apply_media(struct store_db *db, struct store_op *op)
{
	int64_t now = now_ms();
	struct db_stmt *s;

	switch (op->kind) {
	case STORE_OP_MEDIA_CLAIM:
		return claim(db, op);
	case STORE_OP_MEDIA_RESULT:
		for (size_t i = 0; i < op->u.media.n; i++)
			if (result(db, op, &op->u.media.items[i], now) != 0)
				return -1;
		return 0;
	case STORE_OP_MEDIA_UPLOADED:
		if (op->u.media_upload.sha256 == NULL || op->u.media_upload.media_id == NULL)
			return sd_op_error(op, "an upload needs its content and media id");
		s = db_stmt(db->w, W_MEDIA_UPLOAD_PUT);
		db_bind_i64(s, 1, op->u.media_upload.channel_id);
		db_bind_text(s, 2, op->u.media_upload.sha256);
		db_bind_text(s, 3, op->u.media_upload.media_id);
		db_bind_i64(s, 4, op->u.media_upload.at_ms);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	default:
		return sd_op_error(op, "not a media op");
	}
}

/* --- reads --- */

int
store_media_due(struct store *st, int64_t now, int limit, const char *mine, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_MEDIA_DUE);
	json_t *list = json_array();
	int r;

	db_bind_i64(s, 1, now);
	db_bind_i64(s, 2, limit);
	db_bind_text(s, 3, mine ? mine : "");
	while ((r = db_row(s)) == 1) {
		json_t *src = json_loads(db_text(s, 3) ? db_text(s, 3) : "", 0, NULL);
		json_array_append_new(list, json_pack("{s:I,s:I,s:I,s:o,s:I,s:s}",
		    "message_id", (json_int_t)db_i64(s, 0), "channel_id", (json_int_t)db_i64(s, 1),
		    "org_id", (json_int_t)db_i64(s, 2), "source", src ? src : json_object(),
		    "attempts", (json_int_t)db_i64(s, 4), "type", db_text(s, 5) ? db_text(s, 5) : ""));
	}
	if (r < 0) {
		json_decref(list);
		*out = NULL;
		return -1;
	}
	*out = list;
	return 0;
}

int
store_media_next_due(struct store *st, int64_t *out_ms)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_MEDIA_NEXT_DUE);
	int r;

	*out_ms = 0;
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		*out_ms = db_i64(s, 0);
		db_finish(s);
	}
	return 0;
}

int
store_media_upload_get(struct store *st, int64_t channel_id, const char *sha256, char *id,
    size_t cap, int64_t *at_ms)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_MEDIA_UPLOAD_GET);
	int r;

	id[0] = '\0';
	*at_ms = 0;
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, sha256);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		snprintf(id, cap, "%s", db_text(s, 0) ? db_text(s, 0) : "");
		*at_ms = db_i64(s, 1);
		db_finish(s);
	}
	return 0;
}
