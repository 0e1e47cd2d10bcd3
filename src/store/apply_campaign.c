/*
 * apply_campaign.c - campaigns in the store (issue 14; writer thread): the
 * campaign row, its recipients and their messages made a chunk at a time,
 * pause/resume/cancel of its waiting sends, the counters every status
 * change of its messages moves (in the transaction of the change), and the
 * tick that appends campaign.progress and finishes campaigns.
 *
 * Counters. A recipient counts once per state it reaches, forward only
 * (status_may_replace() already refuses every step back): sent when the
 * provider accepted it (a later "sent" report adds nothing), delivered and
 * read when reported (a read without a delivery counts both), failed,
 * cancelled; queued is the number still waiting or in flight. skipped and
 * replied are counted where they happen (a chunk, an inbound message).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

#define CAMPAIGN_STATUS_MAX 16
#define CAMPAIGN_PROGRESS_MS 1000   /* campaign.progress at most this often per campaign */
#define CAMPAIGN_WATCH_MS (24LL * 3600 * 1000)  /* finished campaigns ticked so long */

static bool
waiting(enum msg_status s)
{
	return s == ST_QUEUED || s == ST_SCHEDULED;
}

static bool
reached_sent(enum msg_status s)
{
	return s == ST_ACCEPTED || s == ST_SENT || s == ST_DELIVERED || s == ST_READ;
}

static bool
reached_delivered(enum msg_status s)
{
	return s == ST_DELIVERED || s == ST_READ;
}

int
sd_campaign_status(struct store_db *db, int64_t message_id, enum msg_status from,
    enum msg_status to)
{
	struct db_stmt *s;

	if (from == to)
		return 0;
	s = db_stmt(db->w, W_CAMPAIGN_COUNT);
	db_bind_i64(s, 1, message_id);
	db_bind_i64(s, 2, waiting(from) && !waiting(to) ? -1 : 0);
	db_bind_i64(s, 3, !reached_sent(from) && reached_sent(to));
	db_bind_i64(s, 4, !reached_delivered(from) && reached_delivered(to));
	db_bind_i64(s, 5, from != ST_READ && to == ST_READ);
	db_bind_i64(s, 6, from != ST_FAILED && to == ST_FAILED);
	db_bind_i64(s, 7, from != ST_CANCELLED && to == ST_CANCELLED);
	db_bind_i64(s, 8, now_ms());
	if (db_defer(s) != 0)
		return -1;
	s = db_stmt(db->w, W_RCPT_SET_STATUS);
	db_bind_i64(s, 1, message_id);
	db_bind_text(s, 2, status_name(to));
	return db_defer(s);
}

/* The writer's memory of whether channel_id has had a campaign: "yes" is
 * kept (a deleted campaign only costs the two updates below), "no" is asked
 * again after CAMP_SEEN_RECHECK_MS, since another instance may create one
 * (a reply needs a message sent first, which takes longer than that). */
#define CAMP_SEEN_RECHECK_MS 1000
static struct camp_seen *
camp_seen_of(struct store_db *db, int64_t channel_id)
{
	return &db->camp_seen[(uint64_t)channel_id % STORE_CAMP_SEEN];
}

static int
channel_had_campaign(struct store_db *db, int64_t channel_id, int64_t now, bool *has)
{
	struct camp_seen *e = camp_seen_of(db, channel_id);

	if (e->channel_id == channel_id && (e->has || now - e->checked_ms < CAMP_SEEN_RECHECK_MS)) {
		*has = e->has;
		return 0;
	}
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_ON_CHANNEL);
	db_bind_i64(s, 1, channel_id);
	int r = db_row(s);
	if (r < 0)
		return -1;
	if (r == 1)
		db_finish(s);   /* the one row read: stop there */
	*e = (struct camp_seen){ .channel_id = channel_id, .checked_ms = now, .has = r == 1 };
	*has = e->has;
	return 0;
}

int
sd_campaign_replied(struct store_db *db, int64_t channel_id, const char *address, int64_t now)
{
	bool has;

	if (channel_had_campaign(db, channel_id, now, &has) != 0)
		return -1;
	if (!has)
		return 0;   /* no campaign to count a reply for */
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_REPLIED);

	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, address);
	db_bind_i64(s, 3, now);
	if (db_defer(s) != 0)
		return -1;
	s = db_stmt(db->w, W_RCPT_REPLIED);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, address);
	return db_defer(s);
}

/* A campaign as the writer sees it (W_CAMPAIGN_GET). */
struct camp {
	int64_t id, org_id, channel_id, created, total, scheduled_at, paused_at;
	char status[CAMPAIGN_STATUS_MAX];
	char *reasons;   /* skipped_reasons (owned) */
	char *name;      /* owned */
};

static void
camp_free(struct camp *c)
{
	free(c->reasons);
	free(c->name);
}

/* 0 with *c (found or not: c->id 0), or -1. */
static int
camp_get(struct store_db *db, int64_t org, int64_t id, struct camp *c)
{
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_GET);
	int r;

	*c = (struct camp){ 0 };
	db_bind_i64(s, 1, id);
	db_bind_i64(s, 2, org);
	if ((r = db_row(s)) <= 0)
		return r;
	c->id = db_i64(s, 0);
	c->org_id = db_i64(s, 1);
	c->channel_id = db_i64(s, 2);
	snprintf(c->status, sizeof(c->status), "%s", db_text(s, 3) ? db_text(s, 3) : "");
	c->created = db_i64(s, 4);
	c->total = db_i64(s, 5);
	c->reasons = xstrdup(db_text(s, 6) ? db_text(s, 6) : "{}");
	c->scheduled_at = db_i64(s, 7);
	c->paused_at = db_i64(s, 8);
	c->name = xstrdup(db_text(s, 9) ? db_text(s, 9) : "");
	db_finish(s);
	return 0;
}

/* campaign.<what> {"id","name","status"} in the campaign's organization. */
static int
camp_event(struct store_db *db, struct store_op *op, const struct camp *c, const char *type,
    const char *status, int64_t now)
{
	json_t *d = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)c->id, "name", c->name, "status", status);
	char *text = d ? sd_dump(d) : NULL;
	int64_t seq;
	int rc;

	json_decref(d);
	if (text == NULL)
		return sd_op_error(op, "cannot serialize a campaign event");
	rc = sd_append_event(db, c->org_id, type, now, c->channel_id, 0, 0, text, &seq);
	free(text);
	if (rc != 0)
		return sd_op_sql_error(db, op);
	op->last_seq = seq;
	return 0;
}

static int
apply_create(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_INSERT);
	int64_t now = now_ms();

	if (op->u.campaign.name == NULL || op->u.campaign.source_json == NULL ||
	    op->u.campaign.content_json == NULL)
		return sd_op_error(op, "a campaign needs a name, a source and a content");
	db_bind_i64(s, 1, org_of(op->org_id));
	db_bind_text(s, 2, op->u.campaign.name);
	db_bind_i64(s, 3, op->u.campaign.channel_id);
	db_bind_text(s, 4, op->u.campaign.source_json);
	db_bind_text(s, 5, op->u.campaign.content_json);
	db_bind_id(s, 6, op->u.campaign.scheduled_at);
	db_bind_id(s, 7, op->u.campaign.rate);
	db_bind_text(s, 8, op->u.campaign.quiet_json);
	db_bind_i64(s, 9, op->u.campaign.total);
	db_bind_i64(s, 10, now);
	if (db_insert_id(s, &op->u.campaign.id) != 0)
		return sd_op_sql_error(db, op);
	op->u.campaign.created_at = now;
	*camp_seen_of(db, op->u.campaign.channel_id) = (struct camp_seen){
	    .channel_id = op->u.campaign.channel_id, .checked_ms = now, .has = true };
	return 0;
}

/*
 * The chunk's contacts that get nothing, in one query: blocked or not on
 * the network (contacts.status), or opted out of bulk sends
 * (contacts.opted_out_at): *out maps their address to the reason.
 */
static int
contacts_skip(struct store_db *db, int64_t channel_id, const struct store_op *op, json_t **out)
{
	json_t *addrs = json_array();
	struct db_stmt *s;
	char *text;
	int r;

	*out = json_object();
	for (size_t i = 0; i < op->u.chunk.n; i++)
		if (op->u.chunk.rcpts[i].skip_reason == NULL)
			json_array_append_new(addrs, json_string(op->u.chunk.rcpts[i].address));
	text = json_array_size(addrs) ? json_dumps(addrs, JSON_COMPACT) : NULL;
	json_decref(addrs);
	if (text == NULL)
		return 0;
	s = db_stmt(db->w, W_CONTACTS_SKIP);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, text);
	while ((r = db_row(s)) == 1) {
		enum contact_status cs = contact_status_parse(db_text(s, 1));
		const char *why = cs == CONTACT_BLOCKED ? "blocked" : cs == CONTACT_INVALID ? "unreachable" :
		    "opted_out";
		if (db_text(s, 0))
			json_object_set_new(*out, db_text(s, 0), json_string(why));
	}
	free(text);
	return r < 0 ? -1 : 0;
}

/*
 * Where a query costs a round trip (prefetch on): the chunk's contacts that
 * do not exist yet, and their conversations, made in two statements, and
 * told to the prefetch, so making each message waits for nothing. Each new
 * conversation is made already touched by its message (mids: the ids
 * reserved for the recipients' messages), so the chunk's touch leaves it be.
 */
static int
new_contacts(struct store_db *db, int64_t channel_id, const struct store_op *op, const int64_t *mids,
    bool *touched, int64_t now)
{
	json_t *addrs = json_array(), *convs = json_array(), *idx_of = json_object(), *by_id = json_object();
	struct db_stmt *s;
	char *text = NULL;
	int r = 0;

	for (size_t i = 0; i < op->u.chunk.n; i++) {
		const struct campaign_rcpt *c = &op->u.chunk.rcpts[i];
		int64_t id = 0, conv = 0;
		const char *name;
		bool unreachable;
		if (c->skip_reason == NULL && prefetch_contact(db, channel_id, c->address, &id, &name, &conv,
		    &unreachable) == 0 && id == 0) {
			json_array_append_new(addrs, json_string(c->address));
			json_object_set_new(idx_of, c->address, json_integer((json_int_t)i));
		}
	}
	if (json_array_size(addrs) == 0)
		goto out;
	text = json_dumps(addrs, JSON_COMPACT);
	s = db_stmt(db->w, W_CAMPAIGN_NEW_CONTACTS);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, text);
	db_bind_i64(s, 3, now / 1000);
	while ((r = db_row(s)) == 1) {
		char key[24];
		const char *addr = db_text(s, 1);
		if (addr == NULL)
			continue;
		prefetch_contact_stored(db, channel_id, addr, db_i64(s, 0), NULL, 0);
		json_t *k = json_object_get(idx_of, addr);
		int64_t mid = k ? mids[json_integer_value(k)] : 0;
		json_array_append_new(convs, json_pack("{s:I,s:o}", "c", (json_int_t)db_i64(s, 0),
		    "m", mid > 0 ? json_integer(mid) : json_null()));
		snprintf(key, sizeof(key), "%lld", (long long)db_i64(s, 0));
		json_object_set_new(by_id, key, json_string(addr));
	}
	free(text);
	text = NULL;
	if (r < 0 || json_array_size(convs) == 0)
		goto out;
	text = json_dumps(convs, JSON_COMPACT);
	s = db_stmt(db->w, W_CBULK_CONVS);
	db_bind_i64(s, 1, channel_id);
	db_bind_text(s, 2, text);
	db_bind_i64(s, 3, now);
	db_bind_i64(s, 4, now / 1000);
	while ((r = db_row(s)) == 1) {
		char key[24];
		snprintf(key, sizeof(key), "%lld", (long long)db_i64(s, 1));
		const char *addr = json_string_value(json_object_get(by_id, key));
		if (addr == NULL)
			continue;
		prefetch_contact_conv(db, channel_id, addr, db_i64(s, 0));
		json_t *k = json_object_get(idx_of, addr);
		if (k && mids[json_integer_value(k)] > 0)
			touched[json_integer_value(k)] = true;  /* by its message already */
	}
out:
	free(text);
	json_decref(addrs);
	json_decref(convs);
	json_decref(idx_of);
	json_decref(by_id);
	return r < 0 ? -1 : 0;
}

static void
count_reason(json_t *reasons, const char *why)
{
	json_t *v = json_object_get(reasons, why);

	json_object_set_new(reasons, why, json_integer((v ? json_integer_value(v) : 0) + 1));
}

/*
 * The chunk's recipient rows in one statement (a JSON array the database
 * unpacks) where a statement costs a round trip (prefetch on); a row whose
 * address is not UTF-8 (an invalid one cut short) is inserted alone, and
 * every row on SQLite (quicker there than unpacking JSON).
 */
static int
rcpt_rows(struct store_db *db, struct store_op *op, int64_t campaign_id, const int64_t *mids,
    const char *const *whys)
{
	json_t *rows = json_array();
	struct db_stmt *s;
	char *text = NULL;
	int rc = -1;

	for (size_t i = 0; i < op->u.chunk.n; i++) {
		const struct campaign_rcpt *r = &op->u.chunk.rcpts[i];
		const char *status = mids[i] ? status_name(op->u.chunk.batch->msgs[r->msg].status ==
		    ST_SCHEDULED ? ST_SCHEDULED : ST_QUEUED) : "skipped";
		/* Where a statement costs no round trip, one per row is quicker. */
		json_t *row = !db->prefetch ? NULL : json_pack("{s:I,s:s,s:s}", "i", (json_int_t)r->idx,
		    "a", r->address ? r->address : "", "s", status);
		json_t *vars = !db->prefetch ? NULL : r->variables ? json_string(r->variables) : json_null();
		if (row == NULL || vars == NULL) {
			json_decref(row);
			json_decref(vars);
			s = db_stmt(db->w, W_RCPT_INSERT);
			db_bind_i64(s, 1, campaign_id);
			db_bind_i64(s, 2, r->idx);
			db_bind_text(s, 3, r->address);
			db_bind_text(s, 4, r->variables);
			db_bind_id(s, 5, mids[i]);
			db_bind_text(s, 6, status);
			db_bind_text(s, 7, whys[i]);
			if (db_defer(s) != 0)
				goto out;
			continue;
		}
		json_object_set_new(row, "v", vars);
		json_object_set_new(row, "m", mids[i] ? json_integer(mids[i]) : json_null());
		json_object_set_new(row, "r", whys[i] ? json_string(whys[i]) : json_null());
		json_array_append_new(rows, row);
	}
	if (json_array_size(rows) > 0) {
		if ((text = sd_dump(rows)) == NULL)
			goto out;
		s = db_stmt(db->w, W_CBULK_RCPTS);
		db_bind_i64(s, 1, campaign_id);
		db_bind_text(s, 2, text);
		if (db_defer(s) != 0)
			goto out;
	}
	rc = 0;
out:
	free(text);
	json_decref(rows);
	return rc;
}

static int
apply_chunk(struct store_db *db, struct store_op *op)
{
	struct ingest_batch *b = op->u.chunk.batch;
	int64_t now = now_ms(), queued = 0, skipped = 0;
	json_t *reasons = NULL, *unreachable = NULL;
	char *reasons_s = NULL;
	struct cbulk *bulk = NULL;
	int64_t *mids = NULL;
	const char **whys = NULL;
	bool *touched = NULL;
	struct camp c;
	struct db_stmt *s;
	int rc = -1;

	if (camp_get(db, 0, op->u.chunk.id, &c) != 0)
		return sd_op_sql_error(db, op);
	if (c.id == 0) {
		camp_free(&c);
		return sd_op_fail(op, STORE_NOTFOUND, "no such campaign");
	}
	if (strcmp(c.status, "cancelled") == 0 || c.created != op->u.chunk.start) {
		sd_op_fail(op, STORE_CONFLICT, "campaign %" PRId64 " is %s with %" PRId64 " recipients made",
		    c.id, c.status, c.created);
		goto out;
	}
	if (contacts_skip(db, c.channel_id, op, &unreachable) != 0)
		goto sqlfail;
	/* Who gets a message, and its id (counted in memory) reserved now. */
	mids = xcalloc(op->u.chunk.n ? op->u.chunk.n : 1, sizeof(*mids));
	whys = xcalloc(op->u.chunk.n ? op->u.chunk.n : 1, sizeof(*whys));
	touched = xcalloc(op->u.chunk.n ? op->u.chunk.n : 1, sizeof(*touched));
	for (size_t i = 0; i < op->u.chunk.n; i++) {
		struct campaign_rcpt *r = &op->u.chunk.rcpts[i];
		const char *why = r->skip_reason;

		if (why == NULL && (r->msg < 0 || b == NULL || (size_t)r->msg >= b->nmsgs)) {
			sd_op_error(op, "recipient %" PRId64 " has no message", r->idx);
			goto out;
		}
		if (why == NULL)
			why = json_string_value(json_object_get(unreachable, r->address));
		whys[i] = why;
		if (why == NULL && db->prefetch && sd_cbulk_plain(&b->msgs[r->msg]) &&
		    sd_next_msg_id(db, &mids[i]) != 0)
			goto sqlfail;
	}
	if (db->prefetch && b && b->nmsgs > 0) {
		/* One lookup of the chunk's contacts (a query costs a round trip). */
		struct store_op look = { .kind = STORE_OP_INGEST, .u.ingest = b };
		struct store_op *ops[1] = { &look };
		prefetch_group(db, ops, 1);
		if (db->pf && new_contacts(db, c.channel_id, op, mids, touched, now) != 0)
			goto sqlfail;
	}
	reasons = json_loads(c.reasons, 0, NULL);
	if (!json_is_object(reasons)) {
		json_decref(reasons);
		reasons = json_object();
	}
	bulk = sd_cbulk_new();
	for (size_t i = 0; i < op->u.chunk.n; i++) {
		struct campaign_rcpt *r = &op->u.chunk.rcpts[i];
		const char *why = whys[i];

		if (why == NULL) {
			struct msg_in *m = &b->msgs[r->msg];
			m->campaign_id = c.id;
			if (sd_cbulk_add(db, op, bulk, m, mids[i], touched[i], now) != 0)
				goto out;
			mids[i] = m->id;
			queued++;
		} else {
			count_reason(reasons, why);
			skipped++;
		}
	}
	/* The messages' rows, then the recipients' (they name them). */
	if (sd_cbulk_flush(db, op, bulk, c.channel_id, c.id, now) != 0)
		goto out;
	if (rcpt_rows(db, op, c.id, mids, whys) != 0)
		goto sqlfail;
	prefetch_clear(db);
	bool paused = strcmp(c.status, "paused") == 0;
	if (paused && queued > 0) {
		s = db_stmt(db->w, W_CAMPAIGN_HOLD);
		db_bind_i64(s, 1, c.id);
		if (db_defer(s) != 0)
			goto sqlfail;
	}
	int64_t created = op->u.chunk.start + (int64_t)op->u.chunk.n, started = 0;
	const char *status = c.status;
	if (created >= c.total && strcmp(c.status, "creating") == 0) {
		status = c.scheduled_at > now ? "scheduled" : "running";
		if (strcmp(status, "running") == 0)
			started = now;
	}
	if ((reasons_s = sd_dump(reasons)) == NULL) {
		sd_op_error(op, "cannot serialize skip reasons");
		goto out;
	}
	s = db_stmt(db->w, W_CAMPAIGN_CHUNK_DONE);
	db_bind_i64(s, 1, c.id);
	db_bind_i64(s, 2, created);
	db_bind_i64(s, 3, queued);
	db_bind_i64(s, 4, skipped);
	db_bind_text(s, 5, reasons_s);
	db_bind_text(s, 6, status);
	db_bind_id(s, 7, started);
	db_bind_i64(s, 8, now);
	db_bind_i64(s, 9, op->u.chunk.cursor);
	if (db_defer(s) != 0)
		goto sqlfail;
	if (started && camp_event(db, op, &c, "campaign.started", status, now) != 0)
		goto out;
	op->u.chunk.queued = queued;
	op->u.chunk.skipped = skipped;
	snprintf(op->u.chunk.status, sizeof(op->u.chunk.status), "%s", status);
	rc = 0;
	goto out;
sqlfail:
	sd_op_sql_error(db, op);
out:
	prefetch_clear(db);
	sd_cbulk_free(bulk);
	free(mids);
	free(whys);
	free(touched);
	free(reasons_s);
	json_decref(reasons);
	json_decref(unreachable);
	camp_free(&c);
	return rc;
}

static bool
finished(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "cancelled") == 0;
}

static int
set_status(struct store_db *db, const struct camp *c, const char *status, int64_t paused_at,
    int64_t started, int64_t finished_at, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_SET_STATUS);

	db_bind_i64(s, 1, c->id);
	db_bind_text(s, 2, status);
	db_bind_id(s, 3, paused_at);
	db_bind_id(s, 4, started);
	db_bind_id(s, 5, finished_at);
	db_bind_i64(s, 6, now);
	return db_defer(s);
}

static int
cancel(struct store_db *db, struct store_op *op, const struct camp *c, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_PENDING);
	int64_t pending;

	db_bind_i64(s, 1, c->id);
	if (db_row(s) != 1)
		return sd_op_sql_error(db, op);
	pending = db_i64(s, 0);
	db_finish(s);
	if (pending > 0) {
		/* Their statuses' history first, while the outbox still names them. */
		for (int k = W_CAMPAIGN_CANCEL_STATUSES; k <= W_CAMPAIGN_CANCEL_OUTBOX; k++) {
			s = db_stmt(db->w, k);
			db_bind_i64(s, 1, c->id);
			if (k == W_CAMPAIGN_CANCEL_STATUSES)
				db_bind_i64(s, 2, now);
			if (db_run(s) != 0)
				return sd_op_sql_error(db, op);
		}
	}
	s = db_stmt(db->w, W_CAMPAIGN_CANCELLED);
	db_bind_i64(s, 1, c->id);
	db_bind_i64(s, 2, pending);
	db_bind_i64(s, 3, c->total > c->created ? c->total - c->created : 0);
	db_bind_i64(s, 4, now);
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	return camp_event(db, op, c, "campaign.cancelled", "cancelled", now);
}

static int
apply_control(struct store_db *db, struct store_op *op)
{
	int64_t now = now_ms();
	struct camp c;
	struct db_stmt *s;
	const char *to = NULL, *event = NULL;
	int rc = -1;

	if (camp_get(db, org_of(op->org_id), op->u.control.id, &c) != 0)
		return sd_op_sql_error(db, op);
	if (c.id == 0) {
		camp_free(&c);
		return sd_op_fail(op, STORE_NOTFOUND, "no such campaign");
	}
	op->u.control.changed = false;
	snprintf(op->u.control.status, sizeof(op->u.control.status), "%s", c.status);
	bool paused = strcmp(c.status, "paused") == 0;
	switch (op->u.control.action) {
	case CAMPAIGN_PAUSE:
		if (paused)
			break;
		if (finished(c.status)) {
			sd_op_fail(op, STORE_CONFLICT, "campaign is %s: it cannot be paused", c.status);
			goto out;
		}
		s = db_stmt(db->w, W_CAMPAIGN_HOLD);
		db_bind_i64(s, 1, c.id);
		if (db_run(s) != 0 || set_status(db, &c, "paused", now, 0, 0, now) != 0)
			goto sqlfail;
		to = "paused";
		event = "campaign.paused";
		break;
	case CAMPAIGN_RESUME:
		if (!paused) {
			if (finished(c.status)) {
				sd_op_fail(op, STORE_CONFLICT, "campaign is %s: it cannot be resumed", c.status);
				goto out;
			}
			break;
		}
		/* Waiting sends keep their spacing: moved on by the pause's length. */
		s = db_stmt(db->w, W_CAMPAIGN_RELEASE);
		db_bind_i64(s, 1, c.id);
		db_bind_i64(s, 2, c.paused_at > 0 && now > c.paused_at ? now - c.paused_at : 0);
		if (db_run(s) != 0)
			goto sqlfail;
		to = c.created < c.total ? "creating" : c.scheduled_at > now ? "scheduled" : "running";
		if (set_status(db, &c, to, 0, strcmp(to, "running") == 0 ? now : 0, 0, now) != 0)
			goto sqlfail;
		event = "campaign.resumed";
		break;
	case CAMPAIGN_CANCEL:
		if (strcmp(c.status, "cancelled") == 0)
			break;
		if (strcmp(c.status, "completed") == 0) {
			sd_op_fail(op, STORE_CONFLICT, "campaign is completed: it cannot be cancelled");
			goto out;
		}
		if (cancel(db, op, &c, now) != 0)
			goto out;
		snprintf(op->u.control.status, sizeof(op->u.control.status), "cancelled");
		op->u.control.changed = true;
		rc = 0;
		goto out;
	default:
		sd_op_error(op, "unknown campaign action");
		goto out;
	}
	if (to) {
		if (camp_event(db, op, &c, event, to, now) != 0)
			goto out;
		snprintf(op->u.control.status, sizeof(op->u.control.status), "%s", to);
		op->u.control.changed = true;
	}
	rc = 0;
	goto out;
sqlfail:
	sd_op_sql_error(db, op);
out:
	camp_free(&c);
	return rc;
}

/* One campaign of the tick, as W_CAMPAIGN_ACTIVE reads it. */
struct tick_row {
	struct camp c;
	int64_t n[9];          /* total, queued, sent, delivered, read, failed, cancelled, replied, skipped */
	char *reasons;
	char *progress;        /* the counters last announced, or NULL */
	int64_t progress_ms;   /* when */
	int64_t updated_ms;    /* the counters last changed */
};

static const char *const counter_names[9] = { "total", "queued", "sent", "delivered", "read",
	"failed", "cancelled", "replied", "skipped" };

static int
tick_one(struct store_db *db, struct store_op *op, struct tick_row *t, int64_t now)
{
	struct camp *c = &t->c;
	const char *status = c->status;
	struct db_stmt *s;

	if (strcmp(status, "scheduled") == 0 && c->scheduled_at <= now) {
		status = "running";
		if (set_status(db, c, status, 0, now, 0, now) != 0)
			return sd_op_sql_error(db, op);
		if (camp_event(db, op, c, "campaign.started", status, now) != 0)
			return -1;
		op->u.tick.events++;
	} else if (strcmp(status, "running") == 0 && c->created >= c->total && t->n[1] <= 0) {
		/* Nothing waits or is in flight: every recipient reached a final
		 * state (delivered and read still count on afterwards). */
		status = "completed";
		if (set_status(db, c, status, 0, 0, now, now) != 0)
			return sd_op_sql_error(db, op);
		if (camp_event(db, op, c, "campaign.completed", status, now) != 0)
			return -1;
		op->u.tick.events++;
	}
	if (!finished(status))
		op->u.tick.active++;
	if (strcmp(status, "running") == 0 || strcmp(status, "creating") == 0)
		op->u.tick.running++;

	json_t *counters = json_object();
	for (int i = 0; i < 9; i++)
		json_object_set_new(counters, counter_names[i], json_integer(t->n[i]));
	json_t *reasons = json_loads(t->reasons ? t->reasons : "{}", 0, NULL);
	json_object_set_new(counters, "skipped_reasons", reasons ? reasons : json_object());
	char *text = sd_dump(counters);
	if (text == NULL) {
		json_decref(counters);
		return sd_op_error(op, "cannot serialize campaign counters");
	}
	bool changed = t->progress == NULL || strcmp(t->progress, text) != 0;
	int rc = 0;
	bool moved = strcmp(status, c->status) != 0;   /* started or completed just now */
	if (!changed && t->updated_ms <= t->progress_ms && !moved) {
		free(text);
		json_decref(counters);
		return 0;  /* nothing new: no write */
	}
	if (changed && now - t->progress_ms < CAMPAIGN_PROGRESS_MS) {
		/* At most one a second (several instances tick): the next tick tells. */
		free(text);
		json_decref(counters);
		return 0;
	}
	if (changed) {
		json_t *d = json_pack("{s:I,s:s,s:s,s:O}", "id", (json_int_t)c->id, "name", c->name,
		    "status", status, "counters", counters);
		char *data = d ? sd_dump(d) : NULL;
		int64_t seq;
		json_decref(d);
		if (data == NULL)
			rc = sd_op_error(op, "cannot serialize campaign.progress");
		else if (sd_append_event(db, c->org_id, "campaign.progress", now, c->channel_id, 0, 0,
		    data, &seq) != 0)
			rc = sd_op_sql_error(db, op);
		else {
			op->last_seq = seq;
			op->u.tick.events++;
		}
		free(data);
	}
	if (rc == 0) {
		s = db_stmt(db->w, W_CAMPAIGN_PROGRESSED);
		db_bind_i64(s, 1, c->id);
		db_bind_text(s, 2, text);
		db_bind_i64(s, 3, now);
		if (db_defer(s) != 0)
			rc = sd_op_sql_error(db, op);
	}
	free(text);
	json_decref(counters);
	return rc;
}

static int
apply_tick(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s = db_stmt(db->w, W_CAMPAIGN_ACTIVE);
	struct tick_row *rows = NULL;
	size_t n = 0, cap = 0;
	int64_t now = now_ms();
	int r, rc = 0;

	op->u.tick.active = op->u.tick.running = op->u.tick.events = 0;
	/* Finished within the watch: delivered, read and replies still come. */
	db_bind_i64(s, 1, now - CAMPAIGN_WATCH_MS);
	while ((r = db_row(s)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		struct tick_row *t = &rows[n++];
		*t = (struct tick_row){ 0 };
		t->c.id = db_i64(s, 0);
		t->c.org_id = db_i64(s, 1);
		t->c.name = xstrdup(db_text(s, 2) ? db_text(s, 2) : "");
		snprintf(t->c.status, sizeof(t->c.status), "%s", db_text(s, 3) ? db_text(s, 3) : "");
		t->c.created = db_i64(s, 4);
		t->c.total = db_i64(s, 5);
		for (int i = 0; i < 9; i++)
			t->n[i] = db_i64(s, 5 + i);
		t->reasons = xstrdup_or_null(db_text(s, 14));
		t->c.scheduled_at = db_i64(s, 15);
		t->progress = xstrdup_or_null(db_text(s, 16));
		t->c.channel_id = db_i64(s, 17);
		t->progress_ms = db_i64(s, 18);
		t->updated_ms = db_i64(s, 19);
	}
	if (r < 0)
		rc = sd_op_sql_error(db, op);
	op->u.tick.watched = (int64_t)n;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tick_one(db, op, &rows[i], now);
	for (size_t i = 0; i < n; i++) {
		camp_free(&rows[i].c);
		free(rows[i].reasons);
		free(rows[i].progress);
	}
	free(rows);
	return rc;
}

int
apply_campaign(struct store_db *db, struct store_op *op)
{
	switch (op->kind) {
	case STORE_OP_CAMPAIGN_CREATE:
		return apply_create(db, op);
	case STORE_OP_CAMPAIGN_CHUNK:
		return apply_chunk(db, op);
	case STORE_OP_CAMPAIGN_CONTROL:
		return apply_control(db, op);
	case STORE_OP_CAMPAIGN_TICK:
		return apply_tick(db, op);
	default:
		return sd_op_error(op, "not a campaign op");
	}
}
