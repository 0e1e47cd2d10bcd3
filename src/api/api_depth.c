/*
 * api_depth.c - the channels' queue depths, read on the store's reader
 * pool for the replies that show a channel's state (the outbox reads
 * nothing on the loop for them).
 *
 * The reply is built on the loop with queue_depth 0 in each state; the
 * depths are read on a pool thread (which touches only the ids and the
 * numbers), then, on the loop, written into the states and the reply sent.
 * A read that fails leaves 0, as the synchronous read did.
 */
#include "api.h"

#include <stdlib.h>

#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

struct depth_reply {
	struct store_read rd;
	struct http_request *req;
	int status;
	json_t *body;               /* the loop's only */
	json_t **states;            /* borrowed from body */
	int64_t *ids;
	int64_t *depths;            /* the pool thread's */
	size_t n, cap;
};

static void
note(struct depth_reply *d, json_t *chan)
{
	json_t *state = json_object_get(chan, "state");
	json_t *id = json_object_get(chan, "id");

	if (!json_is_object(state) || !json_is_integer(id))
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->states = xrealloc(d->states, d->cap * sizeof(*d->states));
		d->ids = xrealloc(d->ids, d->cap * sizeof(*d->ids));
	}
	d->states[d->n] = state;
	d->ids[d->n++] = json_integer_value(id);
}

static void
depth_run(struct store *st, void *arg)
{
	struct depth_reply *d = arg;

	for (size_t i = 0; i < d->n; i++)
		if (store_outbox_depth(st, d->ids[i], &d->depths[i]) != 0)
			d->depths[i] = 0;
}

static void
depth_done(void *arg)
{
	struct depth_reply *d = arg;

	for (size_t i = 0; i < d->n; i++)
		json_object_set_new(d->states[i], "queue_depth", json_integer(d->depths[i]));
	http_reply_json(d->req, d->status, d->body);
	free(d->states);
	free(d->ids);
	free(d->depths);
	free(d);
}

void
api_reply_channels(struct app *app, struct http_request *req, int status, json_t *body)
{
	struct depth_reply *d = xcalloc(1, sizeof(*d));
	json_t *list = json_object_get(body, "channels"), *chan;
	size_t i;

	d->req = req;
	d->status = status;
	d->body = body;
	if (json_is_array(list))
		json_array_foreach(list, i, chan)
			note(d, chan);
	else
		note(d, body);
	if (d->n == 0 || app->store == NULL) {
		depth_done(d);
		return;
	}
	d->depths = xcalloc(d->n, sizeof(*d->depths));
	d->rd = (struct store_read){ .run = depth_run, .done = depth_done, .arg = d };
	/* Inline when the store is closing: then the reply is an immediate one. */
	http_defer(req);
	store_read_submit(app->store, &d->rd);
}
