/*
 * due.c - the cycle's due reads on the store's reader pool, so the
 * dispatcher never waits for the database on the event loop.
 *
 * A cycle (outbox.c, on_cycle) decides on the loop which channels may send
 * now and how many entries each may take, and asks for all of them in one
 * pool job: per channel, its due entries (at most the channel's room) and,
 * when none are due, the next due time. The cycle stays busy (cycle_busy)
 * until the job is back, so at most one due read is in flight, and then
 * outbox_due_apply() carries the cycle on with what was read: the channels
 * deleted, or whose lease was lost, or a drain begun meanwhile claim
 * nothing. outbox_stop() abandons a job in flight (its done() only frees).
 */
#include <stdlib.h>

#include "../store/store.h"
#include "../util/util.h"
#include "outbox_int.h"

static void
due_run(struct store *st, void *arg)
{
	struct due_read *d = arg;

	/* On a pool thread: the store and d's asks only. */
	for (size_t i = 0; i < d->n; i++) {
		struct due_ask *q = &d->asks[i];
		q->rc = store_outbox_due(st, q->channel_id, d->now, q->limit, &q->due);
		if (q->rc == 0 && json_array_size(q->due) == 0 &&
		    store_outbox_next_due(st, q->channel_id, &q->next_ms) != 0)
			q->next_ms = 0;
	}
}

static void
due_free(struct due_read *d)
{
	for (size_t i = 0; i < d->n; i++)
		json_decref(d->asks[i].due);
	free(d->asks);
	free(d);
}

static void
due_done(void *arg)
{
	struct due_read *d = arg;
	struct outbox *ob = d->ob;

	if (ob) {
		ob->due_job = NULL;
		outbox_due_apply(ob, d);
	}
	due_free(d);
}

struct due_read *
due_read_new(struct outbox *ob, int64_t now, int64_t mono)
{
	struct due_read *d = xcalloc(1, sizeof(*d));

	d->ob = ob;
	d->now = now;
	d->mono = mono;
	return d;
}

struct due_ask *
due_read_ask(struct due_read *d, int64_t channel_id, int limit, bool probe)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->asks = xrealloc(d->asks, d->cap * sizeof(*d->asks));
	}
	struct due_ask *q = &d->asks[d->n++];
	*q = (struct due_ask){ .channel_id = channel_id, .limit = limit, .probe = probe };
	return q;
}

void
due_read_submit(struct outbox *ob, struct due_read *d)
{
	ob->cycle_busy = true;
	ob->due_job = d;
	d->rd = (struct store_read){ .run = due_run, .done = due_done, .arg = d };
	/* Without a pool (the store closing) it runs and is applied before
	 * this returns: d is not touched after. */
	store_read_submit(ob->st, &d->rd);
}

void
due_read_abandon(struct outbox *ob)
{
	if (ob->due_job) {
		ob->due_job->ob = NULL;
		ob->due_job = NULL;
		ob->cycle_busy = false;
	}
}
