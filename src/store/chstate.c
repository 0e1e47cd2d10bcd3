/*
 * chstate.c - channels v2 in the store (migration 0015): contacts'
 * reachability, delivery ids already seen, each channel's connection state
 * and QR code, and its polling cursor. Applied inside an ingest op (writer
 * thread); read on a reader connection.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store.h"
#include "store_int.h"

#define INBOUND_KEY_KEEP_MS (7LL * 86400 * 1000)  /* a week: well past any redelivery */
#define INBOUND_KEY_PURGE_EVERY 1000             /* new delivery ids between purges */

/* --- apply (writer thread) --- */

int
sd_inbound_key_seen(struct store_db *db, int64_t channel_id, const char *key, int64_t now,
    bool *seen)
{
	struct db_stmt *s;

	*seen = false;
	if (key == NULL)
		return 0;
	s = db_stmt(db->w, W_INBOUND_KEY);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, key);
	db_bind_i64(s, 3, now);
	if (db_run(s) != 0)
		return -1;
	*seen = db_changes(db->w) == 0;
	/* Providers redeliver for a day at most (Telegram, Meta): ids older
	 * than INBOUND_KEY_KEEP_MS go, a thousand inserts at a time. */
	if (!*seen && ++db->keys_since_purge >= INBOUND_KEY_PURGE_EVERY) {
		db->keys_since_purge = 0;
		s = db_stmt(db->w, W_INBOUND_KEY_PURGE);
		db_bind_i64(s, 1, now - INBOUND_KEY_KEEP_MS);
		return db_defer(s);
	}
	return 0;
}

/* Append a channel event whose data is d (taken; NULL when json_pack
 * refused a string that is not UTF-8): 0, or -1 with op's error. */
static int
channel_event(struct store_db *db, struct store_op *op, const char *type, int64_t channel_id,
    json_t *d, int64_t now)
{
	char *ds = d ? sd_dump(d) : NULL;
	int64_t seq;
	int r;

	json_decref(d);
	if (ds == NULL)
		return sd_op_error(op, "%s: a string in it is not UTF-8", type);
	r = sd_append_event(db, 0, type, now, channel_id, 0, 0, ds, &seq);
	free(ds);
	if (r != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}

int
sd_contact_status(struct store_db *db, struct store_op *op, int64_t channel_id,
    const char *address, enum contact_status st, const char *reason, int64_t now, bool *applied)
{
	struct db_stmt *s = db_stmt(db->w, W_CONTACT_STATUS);

	*applied = false;
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, address);
	db_bind_i64(s, 3, now / 1000);  /* created_at, updated_at: seconds, as contacts' are */
	db_bind_text(s, 4, contact_status_name(st));
	db_bind_text(s, 5, reason);
	db_bind_i64(s, 6, now);         /* status_at: ms */
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if (db_changes(db->w) == 0)
		return 0;
	*applied = true;
	prefetch_contact_reach(db, channel_id, address, st != CONTACT_ACTIVE);
	return channel_event(db, op, "contact.status", channel_id, json_pack("{s:s,s:s,s:s?}",
	    "address", address, "status", contact_status_name(st), "reason", reason), now);
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int
sd_channel_state(struct store_db *db, struct store_op *op, struct state_in *in, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_STATE_GET);
	char *state = NULL, *reason = NULL, *qr = NULL, *code = NULL;
	int64_t qr_at = 0;
	bool changed, qr_changed;
	int r, rc = -1;

	in->applied = false;
	db_bind_i64(s, 1, in->channel_id);
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 1) {
		state = db_null(s, 0) ? NULL : xstrdup(db_text(s, 0));
		reason = db_null(s, 1) ? NULL : xstrdup(db_text(s, 1));
		qr = db_null(s, 2) ? NULL : xstrdup(db_text(s, 2));
		code = db_null(s, 3) ? NULL : xstrdup(db_text(s, 3));
		db_finish(s);
	}
	/* A QR code belongs to pairing: any other state clears it. */
	const char *new_qr = in->state == CONN_PAIRING ? (in->qr ? in->qr : qr) : NULL;
	const char *new_code = in->state == CONN_PAIRING ? (in->qr ? in->pairing_code : code) : NULL;
	qr_changed = !same(new_qr, qr);
	changed = qr_changed || !same(channel_conn_name(in->state), state) || !same(in->reason, reason);
	if (!changed) {
		rc = 0;
		goto out;
	}
	qr_at = new_qr ? now : 0;
	s = db_stmt(db->w, W_STATE_PUT);
	db_bind_i64(s, 1, in->channel_id);
	db_bind_text(s, 2, channel_conn_name(in->state));
	db_bind_text(s, 3, in->reason);
	db_bind_text(s, 4, new_qr);
	db_bind_text(s, 5, new_code);
	db_bind_id(s, 6, qr_at);
	db_bind_i64(s, 7, now);
	if (db_defer(s) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	/* The event never carries the QR code itself: GET .../qr serves it. */
	if (channel_event(db, op, "channel.state", in->channel_id, json_pack("{s:s,s:s?,s:b}",
	    "state", channel_conn_name(in->state), "reason", in->reason,
	    "qr_updated", qr_changed && new_qr != NULL), now) != 0)
		goto out;
	in->applied = true;
	rc = 0;
out:
	free(state);
	free(reason);
	free(qr);
	free(code);
	return rc;
}

int
sd_channel_cursor(struct store_db *db, struct store_op *op, int64_t channel_id, const char *cursor,
    int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_CURSOR_PUT);

	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, cursor);
	db_bind_i64(s, 3, now);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	return 0;
}

/* --- reads --- */

int
store_channel_cursor(struct store *st, int64_t channel_id, char **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CHANNEL_CURSOR);
	int r;

	*out = NULL;
	db_bind_i64(s, 1, channel_id);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 1) {
		if (!db_null(s, 0))
			*out = xstrdup(db_text(s, 0));
		db_finish(s);
	}
	return 0;
}

int
store_channel_states(struct store *st, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CHANNEL_STATES);
	json_t *list = json_array();
	int r;

	while ((r = db_row(s)) == 1) {
		json_t *o = json_pack("{s:I,s:s,s:s?,s:I}", "channel_id", (json_int_t)db_i64(s, 0),
		    "state", db_text(s, 1), "reason", db_null(s, 2) ? NULL : db_text(s, 2),
		    "at", (json_int_t)db_i64(s, 3));
		if (o)
			json_array_append_new(list, o);
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
store_channel_qr(struct store *st, int64_t org, int64_t channel_id, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_CHANNEL_QR);
	int r;

	*out = NULL;
	db_bind_i64(s, 1, channel_id);
	db_bind_i64(s, 2, org);
	if ((r = db_row(s)) < 0)
		return -1;
	if (r == 0)
		return 0;
	*out = json_pack("{s:s,s:s?,s:s?,s:o}", "state", db_text(s, 0),
	    "qr", db_null(s, 1) ? NULL : db_text(s, 1),
	    "pairing_code", db_null(s, 2) ? NULL : db_text(s, 2),
	    "qr_updated_at", db_null(s, 3) ? json_null() : json_integer(db_i64(s, 3)));
	db_finish(s);
	return 0;
}
