/*
 * quota_gate.c - sending quotas at the claim (writer thread).
 *
 * Before a claim marks entries in flight, each entry with quotas must fit
 * its organization's and its channel's limits per minute, hour and day
 * (fixed UTC windows, src/quota/quota.h). The counts live in quota_usage,
 * one row per (scope, window kind, window start), read and incremented in
 * the claim's own transaction: writers are serialized (one SQLite writer;
 * PostgreSQL's writer lock across instances), so two instances claiming
 * for one organization at once can never both take its last message.
 *
 * Replies go first: every reply of the op is weighed before any bulk
 * message, whatever their order. An entry that does not fit is held: its
 * outbox row stays pending with due_ms at the end of the full window (the
 * latest end when several are full), the message shows throttled_until,
 * and no attempt is counted. Claimed entries are counted once the claim
 * says which were (a cancelled one is not).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quota/quota.h"
#include "../util/util.h"
#include "store_int.h"

#define SCOPE_MAX 32

struct scope {
	char name[SCOPE_MAX];
	struct quota_limits lim;
	struct quota_counts used;
	int64_t claimed;             /* entries of this op counted against it */
};

struct quota_gate {
	struct scope *v;
	size_t n, cap;
};

static int
scope_load(struct store_db *db, struct scope *sc, int64_t now)
{
	struct db_stmt *s = db_stmt(db->w, W_QUOTA_PURGE);
	int64_t day = quota_window_start(QUOTA_DAY, now);
	int r;

	/* Windows before yesterday's are of no use any more. */
	db_bind_text(s, 1, sc->name);
	db_bind_i64(s, 2, day - quota_window_ms(QUOTA_DAY));
	if (db_run(s) != 0)
		return -1;
	quota_counts_init(&sc->used, now);
	s = db_stmt(db->w, W_QUOTA_READ);
	db_bind_text(s, 1, sc->name);
	db_bind_i64(s, 2, day);
	while ((r = db_row(s)) == 1) {
		int kind = (int)db_i64(s, 0);
		if (kind >= 0 && kind < QUOTA_KINDS && db_i64(s, 1) == sc->used.w[kind].start_ms)
			sc->used.w[kind].n = db_i64(s, 2);
	}
	return r < 0 ? -1 : 0;
}

/* The scope named name with limits max[] (NULL when it has none). */
static struct scope *
scope_get(struct store_db *db, struct quota_gate *g, const char *prefix, int64_t id,
    const int64_t max[QUOTA_KINDS], int64_t now, int *err)
{
	char name[SCOPE_MAX];
	bool any = false;

	for (int k = 0; k < QUOTA_KINDS; k++)
		any |= max[k] > 0;
	if (!any)
		return NULL;
	snprintf(name, sizeof(name), "%s:%" PRId64, prefix, id);
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].name, name) == 0)
			return &g->v[i];
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->v = xrealloc(g->v, g->cap * sizeof(*g->v));
	}
	struct scope *sc = &g->v[g->n++];
	*sc = (struct scope){ 0 };
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	for (int k = 0; k < QUOTA_KINDS; k++)
		sc->lim.max[k] = max[k];
	if (scope_load(db, sc, now) != 0)
		*err = 1;
	return sc;
}

/* The later of two "may go at" times. */
static int64_t
later(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int
hold(struct store_db *db, struct outbox_item *it, int64_t until)
{
	struct db_stmt *s = db_stmt(db->w, W_OUTBOX_HOLD);

	it->held = true;
	it->throttled_until = until;
	db_bind_i64(s, 1, it->message_id);
	db_bind_i64(s, 2, until);
	if (db_defer(s) != 0)
		return -1;
	s = db_stmt(db->w, W_MSG_THROTTLED);
	db_bind_i64(s, 1, it->message_id);
	db_bind_i64(s, 2, until);
	return db_defer(s);
}

/* Weigh one entry against its scopes: held, or counted as going. */
static int
weigh(struct store_db *db, struct quota_gate *g, struct outbox_item *it, int64_t now)
{
	const struct item_quota *q = it->quota;
	int err = 0;
	struct scope *sc[2] = {
		scope_get(db, g, "org", q->org_id, q->org_max, now, &err),
		scope_get(db, g, "channel", q->channel_id, q->channel_max, now, &err),
	};
	int64_t until = 0;

	if (err)
		return -1;
	for (int i = 0; i < 2; i++) {
		int64_t t = 0;
		enum quota_kind which;
		if (sc[i] && !quota_check(&sc[i]->lim, &sc[i]->used, now, &t, &which))
			until = later(until, t);
	}
	if (until > 0)
		return hold(db, it, until);
	for (int i = 0; i < 2; i++)
		if (sc[i])
			quota_counts_add(&sc[i]->used, now, 1);
	return 0;
}

int
quota_gate(struct store_db *db, struct store_op *op, int64_t now, struct quota_gate **out)
{
	struct quota_gate *g = xcalloc(1, sizeof(*g));

	*out = g;
	for (size_t i = 0; i < op->u.outbox.n; i++) {
		op->u.outbox.items[i].held = false;
		op->u.outbox.items[i].throttled_until = 0;
	}
	/* Replies first, then bulk. */
	for (int prio = 0; prio <= 1; prio++) {
		for (size_t i = 0; i < op->u.outbox.n; i++) {
			struct outbox_item *it = &op->u.outbox.items[i];
			if (it->quota == NULL || (it->quota->priority == 0) != (prio == 0))
				continue;
			if (weigh(db, g, it, now) != 0)
				return -1;
		}
	}
	return 0;
}

/* Count what the claim took: one increment per scope and window. */
int
quota_gate_commit(struct store_db *db, struct store_op *op, struct quota_gate *g, int64_t now)
{
	int err = 0;

	for (size_t i = 0; i < op->u.outbox.n; i++) {
		struct outbox_item *it = &op->u.outbox.items[i];
		const struct item_quota *q = it->quota;
		if (q == NULL || !it->claimed)
			continue;
		struct scope *sc[2] = {
			scope_get(db, g, "org", q->org_id, q->org_max, now, &err),
			scope_get(db, g, "channel", q->channel_id, q->channel_max, now, &err),
		};
		for (int k = 0; k < 2; k++)
			if (sc[k])
				sc[k]->claimed++;
	}
	for (size_t i = 0; !err && i < g->n; i++) {
		for (int k = 0; k < QUOTA_KINDS && g->v[i].claimed > 0; k++) {
			struct db_stmt *s = db_stmt(db->w, W_QUOTA_ADD);
			db_bind_text(s, 1, g->v[i].name);
			db_bind_i64(s, 2, k);
			db_bind_i64(s, 3, quota_window_start((enum quota_kind)k, now));
			db_bind_i64(s, 4, g->v[i].claimed);
			if (db_defer(s) != 0)
				err = 1;
		}
	}
	return err ? -1 : 0;
}

void
quota_gate_free(struct quota_gate *g)
{
	if (g == NULL)
		return;
	free(g->v);
	free(g);
}
