/*
 * campaign_msgs.c - a campaign chunk's messages made set-based (writer
 * thread; issue 14). Each message is made as sd_ingest_msg() makes an
 * outbound one (its contact and conversation, its id counted in memory,
 * the same document), but its rows wait: the flush writes the chunk's
 * messages, their statuses rows, their conversations' touch, their outbox
 * rows and their contacts' bulk times in one statement per table (a JSON
 * array the database unpacks: campaign_bulk_sql.h), each deferred, so on
 * PostgreSQL a chunk costs a few statements, not five per recipient. Only
 * where a statement costs a round trip (prefetch on): on SQLite a prepared
 * statement per row is quicker than unpacking JSON (campaign_100k: 5.3-6.1 s
 * against 6.6-7.0 s), so there every message goes through sd_ingest_msg()
 * as before, as does one this path does not cover (sd_cbulk_plain()).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../util/util.h"
#include "store_int.h"

struct cbulk_row {
	struct msg_in *m;
	int64_t contact;
	bool touched;       /* its conversation was made touched by it */
	char *doc;          /* the document's text (owned) */
};

struct cbulk {
	struct cbulk_row *rows;
	size_t n, cap;
};

struct cbulk *
sd_cbulk_new(void)
{
	return xcalloc(1, sizeof(struct cbulk));
}

void
sd_cbulk_free(struct cbulk *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->rows[i].doc);
	free(b->rows);
	free(b);
}

/* A new outbound message with nothing sd_ingest_msg() would look up or
 * write besides its rows here (a campaign's always is). */
bool
sd_cbulk_plain(const struct msg_in *m)
{
	return m->direction == DIR_OUT && !m->echo && m->action == MSG_NEW && m->dedup_key == NULL &&
	    m->client_id == NULL && m->provider_message_id == NULL && m->reply_to == NULL &&
	    m->file_ref == NULL && m->fingerprint == NULL && m->media_source == NULL && m->optout == 0 &&
	    m->contact_address != NULL && m->type != NULL && m->raw != NULL &&
	    (m->status == ST_QUEUED || m->status == ST_SCHEDULED) &&
	    json_object_get(m->parts, "reaction") == NULL;
}

int
sd_cbulk_add(struct store_db *db, struct store_op *op, struct cbulk *b, struct msg_in *m, int64_t id,
    bool touched, int64_t now)
{
	const char *channel;
	int64_t conv = 0, contact = 0;
	json_t *doc;
	char *text;

	if (id <= 0 || !db->prefetch || !sd_cbulk_plain(m))
		return sd_ingest_msg(db, op, m, now);
	if ((channel = sd_channel_name(db, m->channel_id)) == NULL)
		return sd_op_error(op, "unknown channel %" PRId64, m->channel_id);
	if (sd_contact_conv(db, m, now, &contact, &conv) != 0)
		return sd_op_sql_error(db, op);
	if ((doc = sd_message_doc(m, id, channel, conv, 0)) == NULL)
		return sd_op_error(op, "message has a field that is not valid UTF-8");
	text = sd_dump(doc);
	json_decref(doc);
	if (text == NULL)
		return sd_op_error(op, "cannot serialize message");
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->rows = xrealloc(b->rows, b->cap * sizeof(*b->rows));
	}
	b->rows[b->n++] = (struct cbulk_row){ .m = m, .contact = contact, .touched = touched, .doc = text };
	m->id = id;
	m->conversation_id = conv;
	m->seq = 0;
	m->duplicate = false;
	return 0;
}

static bool
cooled(const struct msg_in *m)
{
	return m->priority == 1 && m->cooldown_ms > 0;
}

/* The last bulk send of each contact a cooldown applies to, into *out
 * ({"<contact id>": ms}), in one query. */
static int
last_bulk(struct store_db *db, const struct cbulk *b, int64_t channel_id, json_t **out)
{
	json_t *ids = json_array();
	struct db_stmt *s;
	char *text;
	int r = 0;

	*out = json_object();
	for (size_t i = 0; i < b->n; i++)
		if (cooled(b->rows[i].m))
			json_array_append_new(ids, json_integer(b->rows[i].contact));
	text = json_array_size(ids) ? sd_dump(ids) : NULL;
	json_decref(ids);
	if (text == NULL)
		return 0;
	s = db_stmt(db->w, W_CBULK_LAST);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, text);
	while ((r = db_row(s)) == 1) {
		char key[24];
		snprintf(key, sizeof(key), "%" PRId64, db_i64(s, 0));
		json_object_set_new(*out, key, json_integer(db_i64(s, 1)));
	}
	free(text);
	return r < 0 ? -1 : 0;
}

/* One statement of the flush: rows as parameter 2 (deferred). */
static int
run_rows(struct store_db *db, enum sql q, int64_t channel_id, const char *rows, int64_t now,
    int64_t campaign_id)
{
	struct db_stmt *s = db_stmt(db->w, q);

	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, rows);
	if (q != W_CBULK_COOLED)
		db_bind_i64(s, 3, now);
	if (q == W_CBULK_MSGS)
		db_bind_i64(s, 4, campaign_id);
	return db_defer(s);
}

int
sd_cbulk_flush(struct store_db *db, struct store_op *op, struct cbulk *b, int64_t channel_id,
    int64_t campaign_id, int64_t now)
{
	json_t *last = NULL, *msgs = NULL, *sends = NULL, *touch = NULL;
	char *msgs_s = NULL, *sends_s = NULL, *touch_s = NULL;
	bool any_cooled = false;
	int rc = -1;

	if (b->n == 0)
		return 0;
	if (last_bulk(db, b, channel_id, &last) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	msgs = json_array();
	sends = json_array();
	touch = json_array();
	for (size_t i = 0; i < b->n; i++) {
		const struct cbulk_row *r = &b->rows[i];
		const struct msg_in *m = r->m;
		const char *status = status_name(m->status);
		int64_t due = m->due_ms > 0 ? m->due_ms : now, throttled = 0;
		if (m->channel_id != channel_id) {
			sd_op_error(op, "a chunk's message of another channel");
			goto out;
		}
		if (cooled(m)) {
			/* As bulk_cooldown(): at least cooldown_ms after the contact's last. */
			char key[24];
			snprintf(key, sizeof(key), "%" PRId64, r->contact);
			int64_t prev = json_integer_value(json_object_get(last, key));
			if (prev > 0 && prev + m->cooldown_ms > due)
				due = throttled = prev + m->cooldown_ms;
			any_cooled = true;
		}
		json_t *row = json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:s}", "i", (json_int_t)m->id,
		    "c", (json_int_t)m->conversation_id, "t", m->type, "s", status,
		    "ts", (json_int_t)m->timestamp, "d", r->doc, "r", m->raw);
		json_t *send = json_pack("{s:I,s:I,s:s,s:s,s:i,s:I,s:i}", "i", (json_int_t)m->id,
		    "c", (json_int_t)m->conversation_id, "s", status, "o", m->to ? m->to : m->contact_address,
		    "p", m->priority, "u", (json_int_t)due, "k", m->status == ST_SCHEDULED);
		if (row == NULL || send == NULL) {
			json_decref(row);
			json_decref(send);
			sd_op_error(op, "message %" PRId64 ": a field that is not UTF-8", m->id);
			goto out;
		}
		json_object_set_new(row, "th", throttled ? json_integer(throttled) : json_null());
		json_object_set_new(send, "b", cooled(m) ? json_integer(r->contact) : json_null());
		json_array_append_new(msgs, row);
		if (!r->touched)
			json_array_append(touch, send);
		json_array_append_new(sends, send);
	}
	msgs_s = sd_dump(msgs);
	json_decref(msgs);
	msgs = NULL;
	sends_s = sd_dump(sends);
	touch_s = json_array_size(touch) ? sd_dump(touch) : NULL;
	if (msgs_s == NULL || sends_s == NULL || (json_array_size(touch) && touch_s == NULL)) {
		sd_op_error(op, "cannot serialize the chunk's messages");
		goto out;
	}
	/* The messages first: every other row names one. */
	if (run_rows(db, W_CBULK_MSGS, channel_id, msgs_s, now, campaign_id) != 0 ||
	    run_rows(db, W_CBULK_STATUSES, channel_id, sends_s, now, 0) != 0 ||
	    (touch_s && run_rows(db, W_CBULK_TOUCH, channel_id, touch_s, now, 0) != 0) ||
	    (any_cooled && run_rows(db, W_CBULK_COOLED, channel_id, sends_s, now, 0) != 0) ||
	    run_rows(db, W_CBULK_OUTBOX, channel_id, sends_s, now, 0) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	rc = 0;
out:
	free(msgs_s);
	free(sends_s);
	free(touch_s);
	json_decref(touch);
	json_decref(msgs);
	json_decref(sends);
	json_decref(last);
	return rc;
}
