/*
 * apply_msg.c - ingest: messages, statuses and events, with their contacts,
 * conversations, message documents and status announcements (writer thread).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

/* --- apply (writer thread) --- */

int
sd_op_error(struct store_op *op, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op->errmsg, sizeof(op->errmsg), fmt, ap);
	va_end(ap);
	return -1;
}

int
sd_op_fail(struct store_op *op, enum store_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op->errmsg, sizeof(op->errmsg), fmt, ap);
	va_end(ap);
	op->err = err;
	return -1;
}

/* The last failure on the writer, for op->errmsg. */
int
sd_op_sql_error(struct store_db *db, struct store_op *op)
{
	return sd_op_error(op, "storage: %s", db_errmsg(db->w));
}

void
store_db_begin(struct store_db *db)
{
	db->next_msg_id = db->next_seq = 0;
}

void
store_db_forget(struct store_db *db)
{
	for (size_t i = 0; i < db->nnames; i++)
		free(db->names[i].name);
	db->nnames = 0;
	store_db_begin(db);
	prefetch_clear(db);
}

/* The next id of a kind (W_MSG_NEXT_ID or W_EVENT_NEXT_SEQ), counted in
 * memory after the first of the transaction: 0 with *out, or -1. */
static int
next_id(struct store_db *db, enum sql q, int64_t *next, int64_t *out)
{
	if (*next == 0) {
		struct db_stmt *s = db_stmt(db->w, q);
		if (db_row(s) != 1)
			return -1;
		*next = db_i64(s, 0);
		db_finish(s);
	}
	*out = (*next)++;
	return 0;
}

void
store_db_free(struct store_db *db)
{
	store_db_forget(db);
	free(db->names);
	db->names = NULL;
	db->capnames = 0;
}

/* The next message id of the transaction (counted in memory). */
int
sd_next_msg_id(struct store_db *db, int64_t *id)
{
	return next_id(db, W_MSG_NEXT_ID, &db->next_msg_id, id);
}

/* Channel name by id (deleted channels too); NULL when unknown or on error. */
const char *
sd_channel_name(struct store_db *db, int64_t id)
{
	struct db_stmt *s = db_stmt(db->w, W_CHANNEL_NAME);
	char *name;

	for (size_t i = 0; i < db->nnames; i++)
		if (db->names[i].id == id)
			return db->names[i].name;
	db_bind_i64(s, 1, id);
	if (db_row(s) != 1)
		return NULL;
	name = xstrdup(db_text(s, 0));
	db_finish(s);
	if (db->nnames == db->capnames) {
		db->capnames = db->capnames ? db->capnames * 2 : 8;
		db->names = xrealloc(db->names, db->capnames * sizeof(*db->names));
	}
	db->names[db->nnames++] = (struct name_cache){ .id = id, .name = name };
	return name;
}

/* Look a message up by (channel, provider id): *id = 0 when absent. */
static int
find_message(struct store_db *db, int64_t channel_id, const char *provider_id,
    int64_t *id, int64_t *conversation_id, enum msg_status *status)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_FIND);
	int r;

	*id = 0;
	if (provider_id == NULL)
		return 0;
	if (prefetch_msg(db, channel_id, provider_id, id, conversation_id, status) == 0)
		return 0;
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, provider_id);
	r = db_row(s);
	if (r <= 0)
		return r;
	*id = db_i64(s, 0);
	if (conversation_id)
		*conversation_id = db_i64(s, 1);
	if (status)
		*status = status_parse(db_text(s, 2));
	db_finish(s);
	return 0;
}

int
sd_find_message(struct store_db *db, int64_t channel_id, const char *provider_id, int64_t *id)
{
	return find_message(db, channel_id, provider_id, id, NULL, NULL);
}

/* The contact's id, created or renamed as the message says, and its
 * conversation's (one query for both; *conv 0 when it has none yet). */
static int
upsert_contact(struct store_db *db, const struct msg_in *m, int64_t now_s, int64_t *id,
    int64_t *conv, bool *unreachable)
{
	struct db *w = db->w;
	struct db_stmt *s = NULL;
	const char *name;
	bool rename;
	int r;

	*conv = 0;
	*unreachable = false;
	if (prefetch_contact(db, m->channel_id, m->contact_address, id, &name, conv,
	    unreachable) == 0) {
		r = *id != 0;
	} else {
		s = db_stmt(w, W_CONTACT_FIND);
		db_bind_i64(s, 1, m->channel_id);
		db_bind_text(s, 2, m->contact_address);
		if ((r = db_row(s)) < 0)
			return -1;
		if (r == 1) {
			*id = db_i64(s, 0);
			name = db_text(s, 1);
			*conv = db_i64(s, 2);
			*unreachable = db_i64(s, 3) != 0;
		}
	}
	if (r == 0) {
		if (s)
			db_finish(s);
		s = db_stmt(w, W_CONTACT_INSERT);
		db_bind_i64(s, 1, m->channel_id);
		db_bind_text(s, 2, m->contact_address);
		db_bind_text(s, 3, m->contact_name);
		db_bind_i64(s, 4, now_s);
		if (db_insert_id(s, id) != 0)
			return -1;
		prefetch_contact_stored(db, m->channel_id, m->contact_address, *id, m->contact_name, 0);
		return 0;
	}
	rename = m->contact_name && (name == NULL || strcmp(name, m->contact_name) != 0);
	if (s)
		db_finish(s);  /* name is not used after this */
	if (!rename)
		return 0;
	prefetch_contact_stored(db, m->channel_id, m->contact_address, *id, m->contact_name, *conv);
	s = db_stmt(w, W_CONTACT_RENAME);
	db_bind_i64(s, 1, *id);
	db_bind_text(s, 2, m->contact_name);
	db_bind_i64(s, 3, now_s);
	return db_defer(s);
}

/* The contact's conversation: *id as upsert_contact() found it, or a new one. */
static int
get_conversation(struct store_db *db, const struct msg_in *m, int64_t contact_id, int64_t now,
    int64_t *id)
{
	struct db_stmt *s;

	if (*id != 0)
		return 0;
	s = db_stmt(db->w, W_CONV_INSERT);
	db_bind_i64(s, 1, m->channel_id);
	db_bind_i64(s, 2, contact_id);
	db_bind_i64(s, 3, now);
	db_bind_i64(s, 4, now / 1000);
	if (db_insert_id(s, id) != 0)
		return -1;
	prefetch_contact_conv(db, m->channel_id, m->contact_address, *id);
	return 0;
}

int
sd_contact_conv(struct store_db *db, const struct msg_in *m, int64_t now, int64_t *contact,
    int64_t *conv)
{
	bool unreachable;

	if (upsert_contact(db, m, now / 1000, contact, conv, &unreachable) != 0)
		return -1;
	return get_conversation(db, m, *contact, now, conv);
}

int
sd_append_event(struct store_db *db, int64_t org, const char *type, int64_t now, int64_t channel_id,
    int64_t conversation_id, int64_t message_id, const char *data, int64_t *seq)
{
	struct db_stmt *s;

	if (next_id(db, W_EVENT_NEXT_SEQ, &db->next_seq, seq) != 0)
		return -1;
	s = db_stmt(db->w, W_EVENT_INSERT);
	db_bind_i64(s, 1, *seq);
	db_bind_text(s, 2, type);
	db_bind_i64(s, 3, now);
	db_bind_id(s, 4, channel_id);
	db_bind_id(s, 5, conversation_id);
	db_bind_id(s, 6, message_id);
	db_bind_text(s, 7, data);
	db_bind_id(s, 8, org);  /* NULL: the channel's */
	return db_defer(s);
}

/* The message's API JSON without the fields that change later. */
json_t *
sd_message_doc(const struct msg_in *m, int64_t id, const char *channel, int64_t conversation_id,
    int64_t reply_id)
{
	json_t *doc = json_object();
	int bad = 0;

	json_object_set_new(doc, "id", json_integer(id));
	bad |= sd_set_str(doc, "channel", channel);
	json_object_set_new(doc, "conversation_id", json_integer(conversation_id));
	json_object_set_new(doc, "direction", json_string(m->direction == DIR_IN ? "in" : "out"));
	bad |= sd_set_str(doc, "provider_message_id", m->provider_message_id);
	bad |= sd_set_str(doc, "from", m->from);
	bad |= sd_set_str(doc, "to", m->to);
	bad |= sd_set_str(doc, "type", m->type);
	bad |= sd_set_str(doc, "text", m->text);
	json_object_set_new(doc, "timestamp", sd_jtime(m->timestamp));
	if (m->reply_to) {
		json_t *r = json_object();

		bad |= sd_set_str(r, "provider_message_id", m->reply_to);
		json_object_set_new(r, "message_id", reply_id ? json_integer(reply_id) : json_null());
		json_object_set_new(doc, "reply_to", r);
	} else {
		json_object_set_new(doc, "reply_to", json_null());
	}
	if (m->direction == DIR_OUT && m->client_id)
		bad |= sd_set_str(doc, "client_id", m->client_id);
	if (m->echo)  /* sent by the business from elsewhere, never by msgd */
		json_object_set_new(doc, "echo", json_true());
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
resolve_reaction(struct store_db *db, struct msg_in *m)
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
find_client_id(struct store_db *db, int64_t channel_id, const char *client_id, int64_t *id,
    int64_t *conversation_id)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_FIND_CLIENT);
	int r;

	*id = 0;
	if (client_id == NULL)
		return 0;
	db_bind_text(s, 1, client_id);
	db_bind_i64(s, 2, channel_id);  /* its organization's */
	r = db_row(s);
	if (r <= 0)
		return r;
	*id = db_i64(s, 0);
	*conversation_id = db_i64(s, 1);
	db_finish(s);
	return 0;
}

/* A message as a read renders it, from the writer's view (uncommitted
 * changes of this transaction included); NULL when absent or on error. */
json_t *
sd_writer_message(struct store_db *db, int64_t id)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_GET);
	json_t *m;

	db_bind_i64(s, 1, id);
	if (db_row(s) != 1)
		return NULL;
	m = sd_render_message(db, db->w, s, 0);
	db_finish(s);
	return m;
}

/* Set a message's status (from what it was); the error columns only for
 * failed (else cleared); its campaign's counters follow. */
int
sd_set_status(struct store_db *db, int64_t id, enum msg_status from, enum msg_status st,
    int64_t code, const char *title, const char *detail)
{
	struct db_stmt *s;

	if (sd_campaign_status(db, id, from, st) != 0)
		return -1;
	s = db_stmt(db->w, W_MSG_SET_STATUS);

	prefetch_msg_status(db, id, st);
	db_bind_i64(s, 1, id);
	db_bind_text(s, 2, status_name(st));
	if (st == ST_FAILED) {
		db_bind_id(s, 3, code);
		db_bind_text(s, 4, title);
		db_bind_text(s, 5, detail);
	}
	return db_defer(s);
}

/* A statuses row for a change msgd made itself (queued, accepted, failed,
 * cancelled): no provider id, so the reports index never merges it with a
 * provider's report, and status_history shows the message's whole life. */
int
sd_record_own_status(struct store_db *db, int64_t message_id, int64_t channel_id,
    enum msg_status st, int64_t code, const char *title, const char *detail, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_STATUS_INSERT);

	db_bind_i64(s, 1, message_id);
	db_bind_i64(s, 2, channel_id);
	db_bind_text(s, 3, NULL);
	db_bind_text(s, 4, status_name(st));
	db_bind_text(s, 5, status_name(st));
	db_bind_i64(s, 6, 0);  /* no provider time: status_history shows created_ms */
	db_bind_id(s, 7, code);
	db_bind_text(s, 8, title);
	db_bind_text(s, 9, detail);
	db_bind_text(s, 10, "{}");
	db_bind_i64(s, 11, now);
	return db_defer(s);
}

/* Append a message.status event {"id","provider_message_id","status",
 * "error"} (plus "message" when given: borrowed). mid 0: unknown message. */
int
sd_announce_status(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status st, int64_t code, const char *title,
    const char *detail, json_t *message, int64_t now, int64_t *seq_out)
{
	json_t *data = json_object();
	char *data_s;
	int64_t seq;
	int rc;

	json_object_set_new(data, "id", mid ? json_integer(mid) : json_null());
	json_object_set_new(data, "provider_message_id", sd_jstr(pmid));
	json_object_set_new(data, "status", json_string(status_name(st)));
	json_object_set_new(data, "error", sd_error_json(code, title, detail, st == ST_FAILED));
	if (message)
		json_object_set(data, "message", message);
	data_s = sd_dump(data);
	json_decref(data);
	if (data_s == NULL)
		return sd_op_error(op, "cannot serialize status");
	rc = sd_append_event(db, 0, "message.status", now, channel_id, mid ? conv : 0, mid, data_s, &seq);
	free(data_s);
	if (rc != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	if (seq_out)
		*seq_out = seq;
	return 0;
}

/* A status change msgd makes to its own message: the message row, a
 * statuses row and the event. */
int
sd_change_status(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status from, enum msg_status st, int64_t code,
    const char *title, const char *detail, int64_t now)
{
	if (sd_set_status(db, mid, from, st, code, title, detail) != 0 ||
	    sd_record_own_status(db, mid, channel_id, st, code, title, detail, now) != 0)
		return sd_op_sql_error(db, op);
	return sd_announce_status(db, op, mid, channel_id, conv, pmid, st, code, title, detail, NULL,
	    now, NULL);
}

/*
 * A bulk message goes at least m->cooldown_ms after the contact's last
 * bulk message (weighed here, by the one writer, so two sends at once
 * cannot both skip it): *due moves later, and the message shows why
 * (throttled_until). The contact remembers this one's time.
 */
static int
bulk_cooldown(struct store_db *db, const struct msg_in *m, int64_t contact, int64_t id, int64_t *due)
{
	struct db_stmt *s;
	int64_t last = 0;
	int r;

	if (m->priority != 1 || m->cooldown_ms <= 0)
		return 0;
	s = db_stmt(db->w, W_CONTACT_BULK_GET);
	db_bind_i64(s, 1, contact);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		last = db_i64(s, 0);
		db_finish(s);
	}
	if (last > 0 && last + m->cooldown_ms > *due) {
		*due = last + m->cooldown_ms;
		s = db_stmt(db->w, W_MSG_THROTTLED);
		db_bind_i64(s, 1, id);
		db_bind_i64(s, 2, *due);
		if (db_defer(s) != 0)
			return -1;
	}
	s = db_stmt(db->w, W_CONTACT_BULK_SET);
	db_bind_i64(s, 1, contact);
	db_bind_i64(s, 2, *due);
	return db_defer(s);
}

static int
record_fingerprint(struct store_db *db, const struct msg_in *m, int64_t id, int64_t now)
{
	struct db_stmt *s;

	if (m->fingerprint == NULL)
		return 0;
	s = db_stmt(db->w, W_FINGERPRINT_PUT);
	db_bind_i64(s, 1, m->channel_id);
	db_bind_text(s, 2, m->fingerprint);
	db_bind_i64(s, 3, now);
	db_bind_i64(s, 4, id);
	return db_defer(s);
}

int
sd_ingest_msg(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t now)
{
	struct db *w = db->w;
	struct db_stmt *s;
	const char *channel;
	bool out = m->direction == DIR_OUT;
	enum msg_status status = ST_RECEIVED;
	int64_t id = 0, conv = 0, contact, reply_id = 0, seq;
	json_t *doc = NULL, *rendered = NULL;
	char *doc_s = NULL, *data_s = NULL;
	int rc = -1;

	bool echo = out && m->echo, seen;
	if (m->contact_address == NULL || m->type == NULL || m->raw == NULL)
		return sd_op_error(op, "message lacks contact_address, type or raw");
	/* A delivery the channel had already (Telegram's update_id; an edit or
	 * a deletion, which makes no row of its own, by its own provider id). */
	char key[STORE_KEY_MAX];
	const char *dk = m->dedup_key;
	if (dk == NULL && m->action != MSG_NEW && m->provider_message_id) {
		snprintf(key, sizeof(key), "m:%s", m->provider_message_id);
		dk = key;
	}
	if (sd_inbound_key_seen(db, m->channel_id, dk, now, &seen) != 0)
		return sd_op_sql_error(db, op);
	if (seen) {
		m->id = m->conversation_id = m->seq = 0;
		m->duplicate = true;
		return 0;
	}
	if (m->action != MSG_NEW) {
		int r = sd_apply_change(db, op, m, now);
		if (r <= 0 || m->action == MSG_DELETE) {
			if (r > 0) {  /* deleting a message msgd never had: nothing to do */
				m->id = m->conversation_id = m->seq = 0;
				m->duplicate = true;
			}
			return r < 0 ? -1 : 0;
		}
		/* An edit of a message msgd never had: stored as the message it is now. */
	}
	if (echo) {
		status = ST_SENT;  /* sent from elsewhere: nothing for the outbox */
	} else if (out) {
		status = m->status == ST_NONE ? ST_QUEUED : m->status;
		if (status != ST_QUEUED && status != ST_SCHEDULED)
			return sd_op_error(op, "an outbound message starts queued or scheduled, not %s",
			    status_name(status));
		if (find_client_id(db, m->channel_id, m->client_id, &id, &conv) != 0)
			return sd_op_sql_error(db, op);
	}
	if (id == 0 && find_message(db, m->channel_id, m->provider_message_id, &id, &conv, NULL) != 0)
		return sd_op_sql_error(db, op);
	if (id != 0) {
		/* Stored already: report it, change nothing. */
		m->id = id;
		m->conversation_id = conv;
		m->seq = 0;
		m->duplicate = true;
		return 0;
	}
	m->duplicate = false;
	if ((channel = sd_channel_name(db, m->channel_id)) == NULL)
		return sd_op_error(op, "unknown channel %" PRId64, m->channel_id);
	bool unreachable;
	if (upsert_contact(db, m, now / 1000, &contact, &conv, &unreachable) != 0 ||
	    get_conversation(db, m, contact, now, &conv) != 0 ||
	    find_message(db, m->channel_id, m->reply_to, &reply_id, NULL, NULL) != 0 ||
	    resolve_reaction(db, m) != 0)
		return sd_op_sql_error(db, op);

	if (next_id(db, W_MSG_NEXT_ID, &db->next_msg_id, &id) != 0)
		return sd_op_sql_error(db, op);

	sd_media_mark_pending(m);
	doc = sd_message_doc(m, id, channel, conv, reply_id);
	if (doc == NULL)
		return sd_op_error(op, "message has a field that is not valid UTF-8");
	if ((doc_s = sd_dump(doc)) == NULL) {
		sd_op_error(op, "cannot serialize message");
		goto out;
	}

	s = db_stmt(w, W_MSG_INSERT);
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, m->channel_id);
	db_bind_i64(s, 3, conv);
	db_bind_text(s, 4, out ? "out" : "in");
	db_bind_text(s, 5, m->provider_message_id);
	db_bind_text(s, 6, m->type);
	db_bind_text(s, 7, status_name(status));
	db_bind_i64(s, 8, m->timestamp);
	db_bind_i64(s, 9, now);
	db_bind_text(s, 10, doc_s);
	db_bind_text(s, 11, m->raw);
	db_bind_text(s, 12, out ? m->client_id : NULL);
	db_bind_id(s, 13, out ? m->campaign_id : 0);
	if (db_defer(s) != 0)
		goto sqlfail;
	prefetch_msg_stored(db, m->channel_id, m->provider_message_id, id, conv, status);
	if (sd_media_ingest(db, op, m, id, now) != 0)
		goto out;

	/* Outbound: the last message, but neither unread nor the contact writing. */
	s = db_stmt(w, W_CONV_TOUCH);
	db_bind_i64(s, 1, conv);
	db_bind_i64(s, 2, id);
	db_bind_i64(s, 3, now);
	db_bind_i64(s, 4, out ? 0 : 1);
	/* The service window counts from when the contact wrote (the provider's
	 * time), never later than when we received it. */
	int64_t wrote = m->timestamp > 0 && m->timestamp * 1000 < now ? m->timestamp * 1000 : now;
	db_bind_id(s, 5, out ? 0 : wrote);
	if (db_defer(s) != 0)
		goto sqlfail;

	if (out) {
		int64_t due = m->due_ms > 0 ? m->due_ms : now;
		if (!echo) {
			if (bulk_cooldown(db, m, contact, id, &due) != 0 ||
			    record_fingerprint(db, m, id, now) != 0)
				goto sqlfail;
			s = db_stmt(w, W_OUTBOX_INSERT);
			db_bind_i64(s, 1, id);
			db_bind_i64(s, 2, m->channel_id);
			db_bind_text(s, 3, m->to ? m->to : m->contact_address);
			db_bind_i64(s, 4, m->priority);
			db_bind_i64(s, 5, due);
			db_bind_i64(s, 6, now);
			db_bind_i64(s, 7, status == ST_SCHEDULED);
			if (db_defer(s) != 0)
				goto sqlfail;
		}
		if (sd_record_own_status(db, id, m->channel_id, status, 0, NULL, NULL, now) != 0)
			goto sqlfail;
		/* A campaign's messages are announced by campaign.progress, not one by one. */
		if (m->campaign_id != 0) {
			m->id = id;
			m->conversation_id = conv;
			m->seq = 0;
			rc = 0;
			goto out;
		}
		/* The event carries the message as a read renders it right now. */
		if ((rendered = sd_writer_message(db, id)) == NULL) {
			sd_op_error(op, "cannot render the message");
			goto out;
		}
		if (sd_announce_status(db, op, id, m->channel_id, conv, m->provider_message_id, status, 0,
		    NULL, NULL, rendered, now, &seq) != 0)
			goto out;
	} else {
		/* The contact wrote: reachable again (a block is lifted). */
		bool lifted;
		if (unreachable && sd_contact_status(db, op, m->channel_id, m->contact_address,
		    CONTACT_ACTIVE, "wrote again", now, &lifted) != 0)
			goto out;
		if (sd_campaign_replied(db, m->channel_id, m->contact_address, now) != 0)
			goto sqlfail;
		/* The event carries the message as a read renders it right now: the
		 * stored document plus its status, spliced onto the text already
		 * serialized (doc is an object with fields, so it ends in '}'). */
		size_t n = strlen(doc_s);
		if (json_object_get(doc, "status") == NULL && json_object_get(doc, "status_history") == NULL &&
		    n > 2 && doc_s[n - 1] == '}') {
			data_s = xasprintf("%.*s,\"status\":\"%s\",\"status_history\":[],"
			    "\"attempts\":0,\"next_attempt_at\":null,\"last_error\":null,\"throttled_until\":null}",
			    (int)(n - 1), doc_s,
			    status_name(status));
		} else {
			json_object_set_new(doc, "status", json_string(status_name(status)));
			json_object_set_new(doc, "status_history", json_array());
			store_render_send_state(doc, 0, 0, NULL, NULL, NULL);
			if ((data_s = sd_dump(doc)) == NULL) {
				sd_op_error(op, "cannot serialize message");
				goto out;
			}
		}
		if (sd_append_event(db, 0, "message.received", now, m->channel_id, conv, id, data_s, &seq) != 0)
			goto sqlfail;
	}

	m->id = id;
	m->conversation_id = conv;
	m->seq = seq;
	op->last_seq = seq;
	if (!out && m->optout != 0 && sd_contact_optout(db, op, m, contact, now) != 0)
		goto out;  /* an opt-out keyword (store/optout.c) */
	rc = 0;
	goto out;
sqlfail:
	sd_op_sql_error(db, op);
out:
	free(data_s);
	free(doc_s);
	json_decref(doc);
	json_decref(rendered);
	return rc;
}

static int
ingest_status(struct store_db *db, struct store_op *op, struct status_in *st, int64_t now)
{
	struct db *w = db->w;
	struct db_stmt *s;
	enum msg_status cur = ST_NONE;
	int64_t mid, conv = 0;

	if (st->raw == NULL)
		return sd_op_error(op, "status lacks raw");
	if (find_message(db, st->channel_id, st->provider_message_id, &mid, &conv, &cur) != 0)
		return sd_op_sql_error(db, op);

	/* Every report is kept, matched or not; a redelivered one changes nothing. */
	s = db_stmt(w, W_STATUS_INSERT);
	db_bind_id(s, 1, mid);
	db_bind_i64(s, 2, st->channel_id);
	db_bind_text(s, 3, st->provider_message_id);
	db_bind_text(s, 4, status_name(st->status));
	db_bind_text(s, 5, st->provider_status ? st->provider_status : status_name(st->status));
	db_bind_i64(s, 6, st->timestamp);
	db_bind_id(s, 7, st->error_code);
	db_bind_text(s, 8, st->error_title);
	db_bind_text(s, 9, st->error_detail);
	db_bind_text(s, 10, st->raw);
	db_bind_i64(s, 11, now);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	st->message_id = mid;
	if (db_changes(db->w) == 0)
		return 0;  /* the same report again */
	st->applied = mid != 0 && status_may_replace(cur, st->status);
	if (st->applied) {
		if (sd_set_status(db, mid, cur, st->status, st->error_code, st->error_title,
		    st->error_detail) != 0)
			return sd_op_sql_error(db, op);
	} else if (mid != 0) {
		return 0;  /* backwards or repeated: recorded, nothing to announce */
	}
	/* Unmatched reports are announced (id null) and attached when the
	 * message gets its provider id (see attach_early_statuses()). */
	return sd_announce_status(db, op, mid, st->channel_id, conv, st->provider_message_id,
	    st->status, st->error_code, st->error_title, st->error_detail, NULL, now, NULL);
}

static int
ingest_event(struct store_db *db, struct store_op *op, struct event_in *e, int64_t now)
{
	char *data_s;
	int rc;

	if (e->type == NULL)
		return sd_op_error(op, "event lacks a type");
	data_s = sd_dump(e->data ? e->data : json_null());
	if (data_s == NULL)
		return sd_op_error(op, "cannot serialize event %s", e->type);
	rc = sd_append_event(db, 0, e->type, now, e->channel_id, 0, 0, data_s, &e->seq);
	free(data_s);
	if (rc != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = e->seq;
	return 0;
}

int
apply_ingest(struct store_db *db, struct store_op *op)
{
	struct ingest_batch *b = op->u.ingest;
	int64_t now = now_ms();

	for (size_t i = 0; i < b->nmsgs; i++) {
		struct msg_in *m = &b->msgs[i];
		if (m->optout_reply && (m->optout_reply > i || !b->msgs[m->optout_reply - 1].optout_applied)) {
			m->id = m->conversation_id = m->seq = 0;  /* no change, no confirmation */
			m->duplicate = true;
			continue;
		}
		if (sd_ingest_msg(db, op, m, now) != 0)
			return -1;
	}
	for (size_t i = 0; i < b->nstatuses; i++)
		if (ingest_status(db, op, &b->statuses[i], now) != 0)
			return -1;
	for (size_t i = 0; i < b->nevents; i++)
		if (ingest_event(db, op, &b->events[i], now) != 0)
			return -1;
	for (size_t i = 0; i < b->ncontacts; i++) {
		struct contact_in *c = &b->contacts[i];
		bool seen;
		if (c->address == NULL)
			return sd_op_error(op, "contact lacks an address");
		if (sd_inbound_key_seen(db, c->channel_id, c->dedup_key, now, &seen) != 0)
			return sd_op_sql_error(db, op);
		if (!seen && sd_contact_status(db, op, c->channel_id, c->address, c->status, c->reason,
		    now, &c->applied) != 0)
			return -1;
	}
	for (size_t i = 0; i < b->nstates; i++)
		if (sd_channel_state(db, op, &b->states[i], now) != 0)
			return -1;
	if (b->cursor_channel_id != 0 &&
	    sd_channel_cursor(db, op, b->cursor_channel_id, b->cursor, now) != 0)
		return -1;
	return 0;
}

