/*
 * apply_outbox.c - the outbox state machine: claims (leases), attempt
 * results, the early provider statuses, recovery after a crash, lease
 * renewal and sweeping, clock shifts and cancel (writer thread); and the
 * named leases of src/lease/.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

static int outbox_result_one(struct store_db *db, struct store_op *op,
    const struct outbox_item *it, int64_t now);

/* A deleted channel sends nothing more: its pending messages fail now
 * (those in flight fail when their attempt ends). */
int
fail_channel_outbox(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_CHANNEL_PENDING);
	int64_t *ids = NULL, now = now_ms();
	size_t n = 0, cap = 0;
	int r, rc = 0;

	db_bind_i64(s, 1, op->u.channel.id);
	while ((r = db_row(s)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = db_i64(s, 0);
	}
	if (r < 0)
		rc = sd_op_sql_error(db, op);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct outbox_item it = { .message_id = ids[i], .result = OUTBOX_FAILED };
		snprintf(it.error_title, sizeof(it.error_title), "channel deleted");
		rc = outbox_result_one(db, op, &it, now);
	}
	free(ids);
	return rc;
}

/* --- outbox, cancel, read receipts, templates (writer thread) --- */

/* An item's error text: "" means none. */
static const char *
nonempty(const char *s)
{
	return s && s[0] ? s : NULL;
}

/* A message and its outbox entry, as W_MSG_OUTBOX finds them. */
struct msg_state {
	bool found;
	int64_t channel_id;
	int64_t conversation_id;
	enum msg_status status;
	char *provider_message_id;  /* owned, or NULL */
	bool queued;                /* has an outbox entry */
	int state;                  /* the entry's: 0 pending, 1 in flight, 2 held (a paused campaign) */
	char *owner;                /* the entry's lease owner (owned), or NULL */
};

static int
msg_state_get(struct store_db *db, int64_t org, int64_t id, struct msg_state *ms)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_OUTBOX);
	int r;

	*ms = (struct msg_state){ 0 };
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org);
	if ((r = db_row(s)) <= 0)
		return r;
	ms->found = true;
	ms->channel_id = db_i64(s, 0);
	ms->conversation_id = db_i64(s, 1);
	ms->status = status_parse(db_text(s, 2));
	ms->provider_message_id = xstrdup_or_null(db_text(s, 3));
	ms->queued = !db_null(s, 4);
	ms->state = (int)db_i64(s, 4);
	ms->owner = xstrdup_or_null(db_text(s, 5));
	db_finish(s);
	return 0;
}

static int
outbox_delete(struct store_db *db, int64_t message_id)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_DELETE);

	db_bind_i64(s, 1, message_id);
	return db_defer(s);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every entry in one statement (where a statement costs a round trip): the
 * ids as a JSON array, the claimed ones back. */
static int
claim_many(struct store_db *db, struct store_op *op, int64_t now)
{
	size_t n = op->u.outbox.n, got = 0;
	json_t *ids = json_array();
	int64_t *claimed = xcalloc(n, sizeof(*claimed));
	int r;

	for (size_t i = 0; i < n; i++)
		if (!op->u.outbox.items[i].held)
			json_array_append_new(ids, json_integer(op->u.outbox.items[i].message_id));
	char *text = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_CLAIM_MANY);
	db_bind_text(s, 1, text);
	db_bind_i64(s, 2, now);
	db_bind_text(s, 3, op->u.outbox.owner);
	db_bind_i64(s, 4, op->u.outbox.lease_until);
	while ((r = db_row(s)) == 1)
		if (got < n)
			claimed[got++] = db_i64(s, 0);
	free(text);
	if (r < 0) {
		free(claimed);
		return sd_op_sql_error(db, op);
	}
	qsort(claimed, got, sizeof(*claimed), cmp_i64);
	for (size_t i = 0; i < n; i++) {
		struct outbox_item *it = &op->u.outbox.items[i];
		it->claimed = !it->held &&
		    bsearch(&it->message_id, claimed, got, sizeof(*claimed), cmp_i64) != NULL;
		if (!it->claimed)
			continue;
		s = db_stmt(db->w, W_MSG_CLAIMED);
		db_bind_i64(s, 1, it->message_id);
		if (db_defer(s) != 0) {
			free(claimed);
			return sd_op_sql_error(db, op);
		}
	}
	free(claimed);
	return 0;
}

static int
claim_each(struct store_db *db, struct store_op *op, int64_t now)
{
	for (size_t i = 0; i < op->u.outbox.n; i++) {
		struct outbox_item *it = &op->u.outbox.items[i];
		struct db_stmt *s = db_stmt(db->w, W_OUTBOX_CLAIM);

		it->claimed = false;
		if (it->held)
			continue;
		db_bind_i64(s, 1, it->message_id);
		db_bind_i64(s, 2, now);
		db_bind_text(s, 3, op->u.outbox.owner);
		db_bind_i64(s, 4, op->u.outbox.lease_until);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		it->claimed = db_changes(db->w) == 1;
		if (it->claimed) {
			s = db_stmt(db->w, W_MSG_CLAIMED);
			db_bind_i64(s, 1, it->message_id);
			if (db_defer(s) != 0)
				return sd_op_sql_error(db, op);
		}
	}
	return 0;
}

/* Sending quotas first (quota_gate.c): entries over one wait, unclaimed. */
int
apply_outbox_claim(struct store_db *db, struct store_op *op)
{
	int64_t now = now_ms();
	struct quota_gate *g = NULL;
	int rc;

	if (quota_gate(db, op, now, &g) != 0) {
		quota_gate_free(g);
		return sd_op_sql_error(db, op);
	}
	rc = db->prefetch && op->u.outbox.n > 1 ? claim_many(db, op, now) : claim_each(db, op, now);
	if (rc == 0 && quota_gate_commit(db, op, g, now) != 0)
		rc = sd_op_sql_error(db, op);
	quota_gate_free(g);
	return rc;
}

/* The message's copy of its send state after a result: next_ms 0 = none
 * scheduled; with_error replaces the last error by the item's. */
static int
msg_attempt(struct store_db *db, const struct outbox_item *it, int64_t next_ms, bool with_error)
{
	struct db_stmt *s = db_stmt(db->w, W_MSG_ATTEMPT);
	const char *title = nonempty(it->error_title), *detail = nonempty(it->error_detail);
	char code[24];

	if (it->error_code_text[0])
		snprintf(code, sizeof(code), "%s", it->error_code_text);
	else if (it->error_code != 0)
		snprintf(code, sizeof(code), "%" PRId64, it->error_code);
	else
		code[0] = '\0';
	db_bind_i64(s, 1, it->message_id);
	db_bind_id(s, 2, next_ms);
	db_bind_text(s, 3, with_error ? nonempty(code) : NULL);
	/* A code without words still says something failed. */
	db_bind_text(s, 4, with_error && code[0] && title == NULL ? "error" : title);
	db_bind_text(s, 5, detail);
	db_bind_i64(s, 6, with_error ? 1 : 0);
	return db_defer(s);
}

/* Status reports the provider sent for provider id pmid before the send's
 * answer gave the message that id: attach them to the message and apply the
 * most advanced one (cur is the message's status now). */
static int
attach_early_statuses(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status cur, int64_t now)
{
	struct db *w = db->w;
	struct db_stmt *s = db_stmt(w, W_STATUS_UNMATCHED);
	enum msg_status best = ST_NONE, was = cur;
	int64_t code = 0;
	char *title = NULL, *detail = NULL;
	int n, rc = -1;

	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, pmid);
	while ((n = db_row(s)) == 1) {
		enum msg_status st = status_parse(db_text(s, 0));

		if (!status_may_replace(cur, st))
			continue;
		cur = best = st;
		code = db_i64(s, 1);
		free(title);
		free(detail);
		title = xstrdup_or_null(db_text(s, 2));
		detail = xstrdup_or_null(db_text(s, 3));
	}
	if (n < 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	s = db_stmt(w, W_STATUS_ATTACH);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, pmid);
	db_bind_i64(s, 3, mid);
	if (db_defer(s) != 0 ||
	    (best != ST_NONE && sd_set_status(db, mid, was, best, code, title, detail) != 0)) {
		sd_op_sql_error(db, op);
		goto out;
	}
	if (best != ST_NONE && sd_announce_status(db, op, mid, channel_id, conv, pmid, best, code, title,
	    detail, NULL, now, NULL) != 0)
		goto out;
	rc = 0;
out:
	free(title);
	free(detail);
	return rc;
}

/*
 * The provider may report what msgd sent as an echo (Evolution's fromMe
 * upsert) before this acceptance commits: the echo was then stored as a
 * message of its own with the provider id. It is the same message: the
 * echo's row goes, its provider statuses wait for this message (attached
 * below, as early statuses are), and message.merged says so. Any other
 * holder of the id is left alone (the caller logs the clash).
 */
static int
merge_echo(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    const char *pmid, int64_t now)
{
	struct db_stmt *s;
	int64_t other = 0, conv = 0, seq;
	json_t *doc = NULL;
	char data[256];
	bool echo;

	if (sd_find_message(db, channel_id, pmid, &other) != 0)
		return sd_op_sql_error(db, op);
	if (other == 0 || other == mid)
		return 0;
	s = db_stmt(db->w, W_MSG_DOC);
	db_bind_i64(s, 1, other);
	if (db_row(s) != 1)
		return sd_op_sql_error(db, op);
	doc = json_loads(db_text(s, 0) ? db_text(s, 0) : "", 0, NULL);
	conv = db_i64(s, 1);
	db_finish(s);
	echo = json_is_true(json_object_get(doc, "echo"));
	json_decref(doc);
	if (!echo)
		return 0;
	s = db_stmt(db->w, W_STATUS_DROP_OWN);
	db_bind_i64(s, 1, other);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_STATUS_DETACH);
	db_bind_i64(s, 1, other);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_CONV_REPOINT);
	db_bind_i64(s, 1, other);
	db_bind_i64(s, 2, mid);
	db_bind_i64(s, 3, conv);
	if (db_defer(s) != 0)
		return sd_op_sql_error(db, op);
	s = db_stmt(db->w, W_MSG_DELETE);
	db_bind_i64(s, 1, other);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	snprintf(data, sizeof(data), "{\"id\":%" PRId64 ",\"into\":%" PRId64 "}", other, mid);
	if (sd_append_event(db, 0, "message.merged", now, channel_id, conv, mid, data, &seq) != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}

static int
outbox_accepted(struct store_db *db, struct store_op *op, const struct outbox_item *it,
    const struct msg_state *ms, int64_t now)
{
	const char *pmid = it->provider_message_id;
	enum msg_status cur = ms->status;

	if (outbox_delete(db, it->message_id) != 0)
		return sd_op_sql_error(db, op);
	if (pmid && merge_echo(db, op, it->message_id, ms->channel_id, pmid, now) != 0)
		return -1;
	if (pmid) {
		struct db_stmt *s = db_stmt(db->w, W_MSG_SET_PROVIDER_ID);

		db_bind_i64(s, 1, it->message_id);
		db_bind_text(s, 2, pmid);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		if (db_changes(db->w) == 0) {
			char v[24];

			/* Another message of the channel has it: keep the send, not the id. */
			snprintf(v, sizeof(v), "%" PRId64, it->message_id);
			log_warn("store: provider id already belongs to another message", "id", v,
			    "provider_message_id", pmid);
			pmid = NULL;
		}
	}
	if (status_may_replace(cur, ST_ACCEPTED)) {
		if (sd_change_status(db, op, it->message_id, ms->channel_id, ms->conversation_id, pmid,
		    cur, ST_ACCEPTED, 0, NULL, NULL, now) != 0)
			return -1;
		cur = ST_ACCEPTED;
	}
	if (pmid == NULL)
		return 0;
	return attach_early_statuses(db, op, it->message_id, ms->channel_id, ms->conversation_id,
	    pmid, cur, now);
}

int
outbox_result_one(struct store_db *db, struct store_op *op, const struct outbox_item *it,
    int64_t now)
{
	const char *title = nonempty(it->error_title), *detail = nonempty(it->error_detail);
	struct msg_state ms;
	struct db_stmt *s;
	int rc = -1;

	if (msg_state_get(db, 0, it->message_id, &ms) != 0)
		return sd_op_sql_error(db, op);
	if (!ms.queued) {
		free(ms.provider_message_id);
		free(ms.owner);
		return 0;  /* done meanwhile (cancelled), or no such message */
	}
	bool others = op->u.outbox.owner && ms.state == 1 &&
	    (ms.owner == NULL || strcmp(ms.owner, op->u.outbox.owner) != 0);
	free(ms.owner);
	switch (it->result) {
	case OUTBOX_RETRY:
	case OUTBOX_REQUEUE:
		/* Our lease ran out and another instance has the entry in flight
		 * now: its attempt decides. (An acceptance or a permanent failure
		 * is still recorded: what the provider said is true either way.) */
		if (others) {
			free(ms.provider_message_id);
			return 0;
		}
		/* Its channel was deleted while this attempt was in flight (the
		 * delete failed only the entries waiting then): it can never be
		 * sent, so it fails now instead of waiting forever. */
		s = db_stmt(db->w, W_OUTBOX_CHANNEL_GONE);
		db_bind_i64(s, 1, it->message_id);
		int gone = db_row(s);
		if (gone < 0) {
			free(ms.provider_message_id);
			return sd_op_sql_error(db, op);
		}
		if (gone == 1) {
			db_finish(s);
			free(ms.provider_message_id);
			struct outbox_item failed = { .message_id = it->message_id, .result = OUTBOX_FAILED };
			snprintf(failed.error_title, sizeof(failed.error_title), "channel deleted");
			return outbox_result_one(db, op, &failed, now);
		}
		s = db_stmt(db->w, W_OUTBOX_RESCHEDULE);
		db_bind_i64(s, 1, it->message_id);
		db_bind_i64(s, 2, it->due_ms);
		db_bind_id(s, 3, it->error_code);
		db_bind_text(s, 4, title);
		db_bind_text(s, 5, detail);
		db_bind_i64(s, 6, it->result == OUTBOX_REQUEUE ? 1 : 0);
		db_bind_i64(s, 7, it->error_code != 0 || title || detail ? 1 : 0);
		rc = db_defer(s) == 0 &&
		    msg_attempt(db, it, it->due_ms, it->error_code != 0 || title || detail) == 0 ?
		    0 : sd_op_sql_error(db, op);
		break;
	case OUTBOX_ACCEPTED:
		if (msg_attempt(db, it, 0, true) != 0) {
			rc = sd_op_sql_error(db, op);
			break;
		}
		rc = outbox_accepted(db, op, it, &ms, now);
		break;
	case OUTBOX_FAILED:
		if (msg_attempt(db, it, 0, true) != 0 || outbox_delete(db, it->message_id) != 0) {
			rc = sd_op_sql_error(db, op);
			break;
		}
		rc = 0;
		bool marked;
		if (it->recipient_status != CONTACT_ACTIVE && it->recipient &&
		    sd_contact_status(db, op, ms.channel_id, it->recipient, it->recipient_status,
		    title, now, &marked) != 0) {
			rc = -1;
			break;
		}
		if (status_may_replace(ms.status, ST_FAILED))
			rc = sd_change_status(db, op, it->message_id, ms.channel_id, ms.conversation_id,
			    ms.provider_message_id, ms.status, ST_FAILED, it->error_code, title, detail, now);
		break;
	default:
		rc = sd_op_error(op, "unknown outbox result %d", (int)it->result);
		break;
	}
	free(ms.provider_message_id);
	return rc;
}

int
apply_outbox_result(struct store_db *db, struct store_op *op)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < op->u.outbox.n; i++)
		if (outbox_result_one(db, op, &op->u.outbox.items[i], now) != 0)
			return -1;
	return 0;
}

int
apply_outbox_recover(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_RECOVER);
	int64_t n;

	db_bind_i64(s, 1, op->u.lease.all || op->u.lease.owner == NULL ? 1 : 0);
	db_bind_text(s, 2, op->u.lease.owner);
	db_bind_i64(s, 3, op->u.lease.now_ms);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if ((n = op->u.lease.count = db_changes(db->w)) > 0) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, n);
		log_info("store: outbox entries were in flight when msgd stopped; marked uncertain",
		    "count", v);
	}
	return 0;
}

int
apply_outbox_renew(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_RENEW);

	db_bind_text(s, 1, op->u.lease.owner);
	db_bind_i64(s, 2, op->u.lease.until_ms);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	op->u.lease.count = db_changes(db->w);
	return 0;
}

int
apply_outbox_sweep(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_SWEEP);
	int64_t n;

	db_bind_text(s, 1, op->u.lease.owner);
	db_bind_i64(s, 2, op->u.lease.now_ms);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if ((n = op->u.lease.count = db_changes(db->w)) > 0) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, n);
		log_warn("store: outbox leases of another instance ran out; its sends are retried,"
		    " marked uncertain", "count", v);
	}
	return 0;
}

/* Named leases (0008): take or renew each, or let them go. */
int
apply_leases(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s;

	if (op->kind == STORE_OP_LEASE_RELEASE) {
		s = db_stmt(db->w, op->u.leases.owner ? W_LEASE_RELEASE : W_LEASE_CLEAR);
		if (op->u.leases.owner)
			db_bind_text(s, 1, op->u.leases.owner);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	}
	for (size_t i = 0; i < op->u.leases.n; i++) {
		s = db_stmt(db->w, W_LEASE_TAKE);
		db_bind_text(s, 1, op->u.leases.names[i]);
		db_bind_text(s, 2, op->u.leases.owner);
		db_bind_i64(s, 3, op->u.leases.until_ms);
		db_bind_i64(s, 4, op->u.leases.now_ms);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		op->u.leases.held[i] = db_changes(db->w) == 1;
	}
	return 0;
}

int
apply_outbox_shift(struct store_db *db, struct store_op *op)
{
	for (int k = W_OUTBOX_SHIFT; k <= W_MSG_SHIFT; k++) {
		struct db_stmt *s = db_stmt(db->w, k);
		db_bind_i64(s, 1, op->u.shift.delta_ms);
		db_bind_i64(s, 2, op->u.shift.cap_ms);
		if (db_run(s) != 0)
			return sd_op_sql_error(db, op);
		if (k == W_OUTBOX_SHIFT)
			op->u.shift.count = db_changes(db->w);
	}
	return 0;
}

int
apply_cancel(struct store_db *db, struct store_op *op)
{
	int64_t id = op->u.cancel.message_id;
	struct msg_state ms;
	int rc = -1;

	op->u.cancel.message = NULL;
	if (msg_state_get(db, org_of(op->org_id), id, &ms) != 0)
		return sd_op_sql_error(db, op);
	free(ms.owner);
	if (!ms.found)
		return sd_op_fail(op, STORE_NOTFOUND, "not found");
	/* Pending, or held by its paused campaign (2): not in flight. */
	if (!ms.queued || ms.state == 1 || !status_may_replace(ms.status, ST_CANCELLED)) {
		sd_op_fail(op, STORE_CONFLICT, "message is %s, no longer cancellable",
		    ms.queued ? "being sent" : status_name(ms.status));
		goto out;
	}
	struct outbox_item none = { .message_id = id };
	if (msg_attempt(db, &none, 0, false) != 0 || outbox_delete(db, id) != 0) {
		sd_op_sql_error(db, op);
		goto out;
	}
	if (sd_change_status(db, op, id, ms.channel_id, ms.conversation_id, ms.provider_message_id,
	    ms.status, ST_CANCELLED, 0, NULL, NULL, now_ms()) != 0)
		goto out;
	if ((op->u.cancel.message = sd_writer_message(db, id)) == NULL) {
		sd_op_error(op, "cannot render the message");
		goto out;
	}
	rc = 0;
out:
	free(ms.provider_message_id);
	return rc;
}

