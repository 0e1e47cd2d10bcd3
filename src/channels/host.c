/*
 * host.c - what msgd does for channel adapters (channel.h, "What an adapter
 * may ask of msgd"): HTTP through a libcurl multi of its own on the loop,
 * commits through the store, timers, the persisted polling cursor.
 *
 * A pending call names its channel by id and serial (channel.h: a serial
 * is unique per open in this process): when the answer lands and the
 * registry no longer holds that channel open, the callback is dropped.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../httpc/httpc.h"
#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../store/store.h"
#include "../util/util.h"

#define HOST_HTTP_CONNECTIONS 8     /* per provider host */

struct channel_host {
	struct event_base *base;
	struct store *st;
	struct channel_registry *reg;
	struct httpc *hc;
	void (*committed)(void *arg, struct channel *ch, const struct ingest_batch *b);
	void *committed_arg;
	void (*submitting)(void *arg, struct ingest_batch *b);
	void *submitting_arg;
	struct channel_timer *timers;   /* every live timer, to free with its channel */
};

struct channel_timer {
	struct channel_host *host;
	struct channel *ch;
	struct event *ev;
	void (*fire)(struct channel *ch, void *arg);
	void *arg;
	struct channel_timer *prev, *next;
};

static uint64_t serial_next = 1;

uint64_t
channel_host_serial(void)
{
	return serial_next++;
}

struct channel_host *
channel_host_new(struct event_base *base, struct store *st, struct channel_registry *reg)
{
	struct channel_host *h = xcalloc(1, sizeof(*h));

	h->base = base;
	h->st = st;
	h->reg = reg;
	if (httpc_new(&h->hc, base, HOST_HTTP_CONNECTIONS) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

void
channel_host_on_commit(struct channel_host *h,
    void (*fn)(void *arg, struct channel *ch, const struct ingest_batch *b), void *arg)
{
	h->committed = fn;
	h->committed_arg = arg;
}

void
channel_host_on_submit(struct channel_host *h, void (*fn)(void *arg, struct ingest_batch *b),
    void *arg)
{
	h->submitting = fn;
	h->submitting_arg = arg;
}

void
channel_host_stop(struct channel_host *h)
{
	struct httpc *hc;

	if (h == NULL)
		return;
	hc = h->hc;
	h->hc = NULL;       /* channel_http() refuses from now on */
	h->st = NULL;       /* and so does channel_submit() */
	httpc_free(hc);     /* in-flight callbacks run now, with a network error */
}

void
channel_host_free(struct channel_host *h)
{
	if (h == NULL)
		return;
	channel_host_stop(h);
	while (h->timers)
		channel_timer_free(h->timers);
	free(h);
}

void
channel_host_forget(struct channel_host *h, struct channel *ch)
{
	struct channel_timer *t, *next;

	if (h == NULL)
		return;
	for (t = h->timers; t; t = next) {
		next = t->next;
		if (t->ch == ch)
			channel_timer_free(t);
	}
}

/* The channel still open with that serial, or NULL. */
static struct channel *
alive(struct channel_host *h, int64_t id, uint64_t serial)
{
	struct channel *ch = registry_find_id(h->reg, id);
	return ch && ch->serial == serial ? ch : NULL;
}

/* --- HTTP --- */

struct http_call {
	struct channel_host *host;
	int64_t channel_id;
	uint64_t serial;
	channel_http_done done;
	void *arg;
};

static void
http_done(void *arg, const struct send_response *resp)
{
	struct http_call *c = arg;
	struct channel *ch = alive(c->host, c->channel_id, c->serial);

	if (ch)
		c->done(ch, resp, c->arg);
	free(c);
}

int
channel_http(struct channel *ch, struct send_request *req, int64_t timeout_ms,
    channel_http_done done, void *arg)
{
	struct channel_host *h = ch->host;
	struct http_call *c;
	int rc = -1;

	if (h == NULL || h->hc == NULL) {
		send_request_free(req);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	*c = (struct http_call){ .host = h, .channel_id = ch->id, .serial = ch->serial,
	    .done = done, .arg = arg };
	if (httpc_start(h->hc, req, (long)timeout_ms, http_done, c) == 0)
		rc = 0;
	else
		free(c);
	send_request_free(req);
	return rc;
}

/* --- commits --- */

/* A commit an adapter asked for: an ingest batch, or a template sync's outcome. */
struct submit {
	struct store_op op;
	struct ingest_batch batch;     /* STORE_OP_INGEST */
	json_t *templates;             /* STORE_OP_CHANNEL_TEMPLATES */
	char *error;
	struct channel_host *host;
	int64_t channel_id;
	uint64_t serial;
	channel_submit_done done;
	void *arg;
};

static void
submit_done(struct store_op *op, void *arg)
{
	struct submit *s = arg;
	struct channel *ch = alive(s->host, s->channel_id, s->serial);
	bool ingest = op->kind == STORE_OP_INGEST;

	if (op->result != 0)
		log_error(ingest ? "channel: cannot store what the provider reported" :
		    "channel: cannot store the synced templates", "channel", ch ? ch->name : "(closed)",
		    "error", op->errmsg);
	if (op->result == 0 && ingest)
		metrics_batch_received(&s->batch);  /* polled updates, the sandbox's replies */
	if (ch && op->result == 0 && ingest) {
		if (s->host->committed)
			s->host->committed(s->host->committed_arg, ch, &s->batch);
		if (ch->ops->after_commit)
			ch->ops->after_commit(ch, &s->batch);
	}
	if (ch && s->done)
		s->done(ch, op->result == 0 ? 0 : -1, s->arg);
	ingest_batch_free(&s->batch);
	json_decref(s->templates);
	free(s->error);
	free(s);
}

/* A submit of ch's, its op to be filled by the caller; NULL without a store. */
static struct submit *
submit_new(struct channel *ch, channel_submit_done done, void *arg)
{
	struct channel_host *h = ch->host;

	if (h == NULL || h->st == NULL)
		return NULL;
	struct submit *s = xcalloc(1, sizeof(*s));
	*s = (struct submit){ .host = h, .channel_id = ch->id, .serial = ch->serial, .done = done, .arg = arg };
	return s;
}

int
channel_submit(struct channel *ch, struct ingest_batch *b, channel_submit_done done, void *arg)
{
	struct submit *s = submit_new(ch, done, arg);

	if (s == NULL) {
		ingest_batch_free(b);
		return -1;
	}
	s->batch = *b;
	*b = (struct ingest_batch){ 0 };
	if (s->host->submitting)
		s->host->submitting(s->host->submitting_arg, &s->batch);
	s->op = (struct store_op){ .kind = STORE_OP_INGEST, .u.ingest = &s->batch,
	    .done = submit_done, .arg = s };
	store_submit(s->host->st, &s->op);
	return 0;
}

int
channel_templates_submit(struct channel *ch, json_t *templates, const char *error,
    channel_submit_done done, void *arg)
{
	struct submit *s = submit_new(ch, done, arg);

	if (s == NULL)
		return -1;
	s->templates = templates ? json_incref(templates) : NULL;
	s->error = xstrdup_or_null(error);
	s->op = (struct store_op){ .kind = STORE_OP_CHANNEL_TEMPLATES, .org_id = ch->org_id,
	    .u.chtpl = { .channel_id = ch->id, .templates = s->templates, .error = s->error,
	    .at = now_ms() }, .done = submit_done, .arg = s };
	store_submit(s->host->st, &s->op);
	return 0;
}

void
channel_report_state(struct channel *ch, enum channel_conn st, const char *reason)
{
	struct ingest_batch b = { 0 };
	struct state_in *s;

	if (ch->conn == st && ((reason == NULL && ch->conn_reason == NULL) ||
	    (reason && ch->conn_reason && strcmp(reason, ch->conn_reason) == 0)))
		return;  /* nothing new */
	s = ingest_batch_add_state(&b);
	s->channel_id = ch->id;
	s->state = st;
	s->reason = reason ? xstrdup(reason) : NULL;
	channel_submit(ch, &b, NULL, NULL);
}

/* --- timers --- */

static void
timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct channel_timer *t = arg;

	(void)fd;
	(void)what;
	t->fire(t->ch, t->arg);
}

struct channel_timer *
channel_timer_new(struct channel *ch, void (*fire)(struct channel *ch, void *arg), void *arg)
{
	struct channel_host *h = ch->host;
	struct channel_timer *t;

	if (h == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	*t = (struct channel_timer){ .host = h, .ch = ch, .fire = fire, .arg = arg };
	t->ev = evtimer_new(h->base, timer_fire, t);
	if (t->ev == NULL)
		abort();
	t->next = h->timers;
	if (h->timers)
		h->timers->prev = t;
	h->timers = t;
	return t;
}

void
channel_timer_start(struct channel_timer *t, int64_t delay_ms)
{
	struct timeval tv;

	if (t == NULL)
		return;
	if (delay_ms < 0)
		delay_ms = 0;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(t->ev, &tv);
}

void
channel_timer_stop(struct channel_timer *t)
{
	if (t)
		evtimer_del(t->ev);
}

void
channel_timer_free(struct channel_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	if (t->prev)
		t->prev->next = t->next;
	else
		t->host->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

/* --- the polling cursor --- */

struct cursor_read {
	struct store_read rd;
	struct channel_host *host;
	int64_t channel_id;
	uint64_t serial;
	void (*done)(struct channel *ch, const char *cursor, void *arg);
	void *arg;
	char *cursor;
	int rc;
};

static void
cursor_run(struct store *st, void *arg)
{
	struct cursor_read *c = arg;
	c->rc = store_channel_cursor(st, c->channel_id, &c->cursor);
}

static void
cursor_done(void *arg)
{
	struct cursor_read *c = arg;
	struct channel *ch = alive(c->host, c->channel_id, c->serial);

	if (c->rc != 0)
		log_error("channel: cannot read the polling cursor; starting without it", "channel",
		    ch ? ch->name : "(closed)");
	if (ch)
		c->done(ch, c->rc == 0 ? c->cursor : NULL, c->arg);
	free(c->cursor);
	free(c);
}

int
channel_load_cursor(struct channel *ch, void (*done)(struct channel *ch, const char *cursor,
    void *arg), void *arg)
{
	struct channel_host *h = ch->host;
	struct cursor_read *c;

	if (h == NULL || h->st == NULL)
		return -1;
	c = xcalloc(1, sizeof(*c));
	*c = (struct cursor_read){ .host = h, .channel_id = ch->id, .serial = ch->serial,
	    .done = done, .arg = arg };
	c->rd = (struct store_read){ .run = cursor_run, .done = cursor_done, .arg = c };
	store_read_submit(h->st, &c->rd);
	return 0;
}

void
channel_webhook_path(const struct channel *ch, char *out, size_t outlen)
{
	snprintf(out, outlen, "/webhooks/%s/%lld", ch->ops->type, (long long)ch->id);
}
