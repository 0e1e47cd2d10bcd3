/*
 * apply_erase.c - a right-to-erasure request (writer thread): everything a
 * contact said or was sent goes, everywhere it is stored, in one
 * transaction:
 *  - each message of the contact's conversation keeps only a skeleton
 *    (id, channel, conversation, direction, type, timestamp, status) and
 *    "erased": true; its raw payload and error texts are emptied, and so
 *    are its status reports' payloads and its content fingerprint;
 *  - the events of the conversation keep their seq and type, their data
 *    becomes {"erased":true} (readers by cursor, streams and event
 *    webhooks read the log from here: the bus drops its copies, api side);
 *  - waiting sends to the contact are dropped (their messages fail);
 *  - the contact's name goes and its address becomes "erased:<id>";
 *  - a contact.erased event says so, with ids and counts, no content.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

#define ERASE_PAGE 500

/* The skeleton of a stored message document. */
static char *
skeleton(const char *doc)
{
	static const char *const keep[] = { "id", "channel", "conversation_id", "direction", "type",
		"timestamp", NULL };
	json_t *in = NULL, *out = json_object();
	char err[80];

	if (doc && json_parse_capped(doc, strlen(doc), STORED_JSON_DEPTH, &in, err, sizeof(err)) == 0 &&
	    json_is_object(in))
		for (const char *const *k = keep; *k; k++)
			if (json_object_get(in, *k))
				json_object_set(out, *k, json_object_get(in, *k));
	json_object_set_new(out, "erased", json_true());
	json_decref(in);
	char *s = sd_dump(out);
	json_decref(out);
	return s;
}

/* Empty message id's content (and its statuses' and fingerprint's). */
int
sd_scrub_message(struct store_db *db, int64_t id, const char *doc)
{
	char *sk = skeleton(doc);
	struct db_stmt *s;
	int rc;

	if (sd_media_scrub(db, id, doc) != 0) {  /* its file released, its fetch dropped */
		free(sk);
		return -1;
	}
	s = db_stmt(db->w, W_MSG_SCRUB);
	db_bind_text(s, 1, sk);
	db_bind_i64(s, 2, id);
	rc = db_run(s);
	free(sk);
	if (rc != 0)
		return -1;
	s = db_stmt(db->w, W_STATUS_SCRUB);
	db_bind_i64(s, 1, id);
	if (db_defer(s) != 0)
		return -1;
	s = db_stmt(db->w, W_FINGERPRINTS_DROP);
	db_bind_i64(s, 1, id);
	return db_defer(s);
}

#define RETENTION_MSG_PAGE 200
#define RETENTION_EVENT_PAGE 1000

/*
 * Retention, one step: the next messages of the organization by id, up to
 * the first made after before_ms, lose their content (skipping those that
 * already did); then the same for events by seq (their data; audit events
 * and erasure notices stay); fingerprints older than before_ms go. Bounded
 * work per op; the caller runs steps until done.
 */
int
apply_retention(struct store_db *db, struct store_op *op)
{
	int64_t org = org_of(op->org_id), before = op->u.retention.before_ms;
	struct db_stmt *s = db_stmt(db->w, W_ORG_MESSAGES_PAGE);
	int64_t ids[RETENTION_MSG_PAGE];
	char *docs[RETENTION_MSG_PAGE];
	int n = 0, r = 0;
	bool reached = false;

	op->u.retention.messages = op->u.retention.events = 0;
	db_bind_i64(s, 1, org);
	db_bind_i64(s, 2, op->u.retention.msg_after);
	db_bind_i64(s, 3, RETENTION_MSG_PAGE);
	while (n < RETENTION_MSG_PAGE && (r = db_row(s)) == 1) {
		if (db_i64(s, 1) >= before) {
			reached = true;
			db_finish(s);
			break;
		}
		ids[n] = db_i64(s, 0);
		docs[n++] = xstrdup_or_null(db_text(s, 2));
	}
	int fail = r < 0;
	if (n == RETENTION_MSG_PAGE && r == 1)
		db_finish(s);
	else if (r == 0)
		reached = true;  /* the end of the table */
	for (int i = 0; i < n; i++) {
		if (!fail && docs[i] && strstr(docs[i], "\"erased\":true") == NULL) {
			if (sd_scrub_message(db, ids[i], docs[i]) != 0)
				fail = 1;
			else
				op->u.retention.messages++;
		}
		free(docs[i]);
	}
	if (fail)
		return sd_op_sql_error(db, op);
	if (n > 0)
		op->u.retention.msg_after = ids[n - 1];

	/* Events: the page's last one made before the cutoff. */
	s = db_stmt(db->w, W_ORG_EVENTS_PAGE);
	db_bind_i64(s, 1, org);
	db_bind_i64(s, 2, op->u.retention.seq_after);
	db_bind_i64(s, 3, RETENTION_EVENT_PAGE);
	int64_t upto = op->u.retention.seq_after, rows = 0;
	bool ev_reached = false;
	while ((r = db_row(s)) == 1) {
		rows++;
		if (db_i64(s, 1) >= before) {
			ev_reached = true;
			db_finish(s);
			break;
		}
		upto = db_i64(s, 0);
	}
	if (r < 0)
		return sd_op_sql_error(db, op);
	if (rows < RETENTION_EVENT_PAGE)
		ev_reached = true;
	if (upto > op->u.retention.seq_after) {
		s = db_stmt(db->w, W_EVENTS_SCRUB_RANGE);
		db_bind_i64(s, 1, org);
		db_bind_i64(s, 2, op->u.retention.seq_after);
		db_bind_i64(s, 3, upto);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		op->u.retention.events = db_changes(db->w);
		op->u.retention.seq_after = upto;
	}
	s = db_stmt(db->w, W_FINGERPRINTS_EXPIRE);
	db_bind_i64(s, 1, org);
	db_bind_i64(s, 2, before);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	op->u.retention.done = reached && ev_reached;
	return 0;
}

int
apply_contact_erase(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_CONTACT_OF_ORG);
	int64_t contact = op->u.erase.contact_id, conv = 0, channel = 0, last = 0, seq;
	int r;

	op->u.erase.messages = 0;
	db_bind_i64(s, 1, contact);
	db_bind_i64(s, 2, org_of(op->org_id));
	if ((r = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (r == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "no such contact");
	conv = db_i64(s, 1);
	channel = db_i64(s, 2);
	db_finish(s);
	op->u.erase.conversation_id = conv;

	/* Waiting sends first: none of them goes out now. */
	s = db_stmt(db->w, W_OUTBOX_DROP_CONV);
	db_bind_i64(s, 1, conv);
	if (conv && db_run(s) != 0)
		return sd_op_sql_error(db, op);
	for (;;) {
		int64_t ids[ERASE_PAGE];
		char *docs[ERASE_PAGE];
		int n = 0;
		s = db_stmt(db->w, W_CONV_MESSAGES);
		db_bind_i64(s, 1, conv);
		db_bind_i64(s, 2, last);
		db_bind_i64(s, 3, ERASE_PAGE);
		while (n < ERASE_PAGE && (r = db_row(s)) == 1) {
			ids[n] = db_i64(s, 0);
			docs[n++] = xstrdup_or_null(db_text(s, 1));
		}
		if (n == ERASE_PAGE)
			db_finish(s);
		int fail = r < 0;
		for (int i = 0; i < n; i++) {
			if (!fail && sd_scrub_message(db, ids[i], docs[i]) != 0)
				fail = 1;
			free(docs[i]);
		}
		if (fail)
			return sd_op_sql_error(db, op);
		op->u.erase.messages += n;
		if (n < ERASE_PAGE)
			break;
		last = ids[n - 1];
	}
	/* Campaign sends among them: their campaigns count them failed (issue 14). */
	s = db_stmt(db->w, W_CAMPAIGN_ERASED);
	db_bind_i64(s, 1, conv);
	db_bind_i64(s, 2, now_ms());
	if (conv && db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_RCPT_ERASED);
	db_bind_i64(s, 1, conv);
	if (conv && db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_MSG_FAIL_UNSENT);
	db_bind_i64(s, 1, conv);
	if (conv && db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_EVENTS_SCRUB_CONV);
	db_bind_i64(s, 1, conv);
	if (conv && db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	char addr[40];
	snprintf(addr, sizeof(addr), "erased:%" PRId64, contact);
	s = db_stmt(db->w, W_CONTACT_SCRUB);
	db_bind_text(s, 1, addr);
	db_bind_i64(s, 2, contact);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	char *data = xasprintf("{\"contact_id\":%" PRId64 ",\"conversation_id\":%" PRId64
	    ",\"messages_erased\":%" PRId64 "}", contact, conv, op->u.erase.messages);
	r = sd_append_event(db, op->org_id, "contact.erased", now_ms(), channel, 0, 0, data, &seq);
	free(data);
	if (r != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}
