/*
 * hooks.c - the delivery mechanism: a cursor per subscription, in order, at
 * least once, retries with backoff, leases between instances (strategies in
 * hooks.h). Where the events go is the subscription's sink (sink.h): a
 * webhook (sink_webhook.c), NATS (sink_nats.c), RabbitMQ (sink_amqp.c).
 *
 * A cycle looks at every subscription that is idle (no batch in a sink, no
 * store op in flight), behind the head of the log and due: it takes the
 * events after its cursor from the page it read last, or reads the next
 * page, and either hands the sink a batch of the wanted ones (at most the
 * sink's batch_max) or, when the page holds none, skips the page with one
 * ADVANCE op. Each batch's outcome becomes one ADVANCE or RETRY op; the
 * in-memory state follows only once that op is committed, so the API shows
 * what a restart would resume from. Commits of new events, committed state
 * changes and retry timers kick the next cycle.
 *
 * Reads run on the store's reader pool, never on the loop: a
 * subscription's page of events (struct hread, at most one per
 * subscription), and the subscriptions read again (struct hload: for those
 * whose lease was just taken, and hooks_reload() when another instance
 * changed them; at most one of each kind in flight). A read points back at
 * its owner, who clears the pointer when freed; a result is dropped when it
 * lands stale: the subscription deleted, its lease lost or taken anew, its
 * cursor moved, or (a reload) subscriptions added or removed here meanwhile
 * (then it reads again).
 */
#include "hooks.h"
#include "hooks_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../lease/lease.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"

#define SCAN_PAGE 1000              /* events read per subscription per step */
#define STORE_RETRY_MS 1000         /* after a failed read or state commit */
#define SINK_WAIT_MS 1000           /* a sink not connected: look again so soon */
#define SINK_UNKNOWN_WAIT_MS 60000  /* a kind this build has no sink for */
#define RETRY_AFTER_MAX_MS (3600 * 1000LL)
#define DELIVERY_ID_MAX 48          /* "<id>-<seq>" */

/* A subscription's page of events, read off the loop. */
struct hread {
	struct store_read rd;
	struct hsub *s;                 /* NULL once the subscription is freed */
	int64_t org;
	int64_t since;
	int64_t head;                   /* hk->head at submit: the page reaches it, if short */
	struct store_event *ev;
	size_t n;
	int rc;
};

/* The subscriptions read again, off the loop. */
struct hload {
	struct store_read rd;
	struct hooks *hk;               /* NULL once the dispatcher stopped */
	bool reload;                    /* hooks_reload(); else the stale ones' refresh */
	uint64_t gen;                   /* hk->gen (reload) or hk->lease_gen (refresh) at submit */
	json_t *rows;
	int64_t head;
	int rc;
};

/* --- pure parts --- */

bool
hooks_event_name_valid(const char *name)
{
	size_t len, segs = 0;
	const char *p = name;

	if (name == NULL)
		return false;
	if (strcmp(name, "*") == 0)
		return true;
	len = strlen(name);
	if (len == 0 || len > HOOKS_EVENT_NAME_MAX)
		return false;
	for (;;) {
		if (!(*p >= 'a' && *p <= 'z'))
			return false;
		for (p++; (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'; p++)
			;
		segs++;
		if (*p == '\0')
			break;
		if (*p++ != '.')
			return false;
	}
	return segs >= 2;
}

bool
hooks_filter_matches(const json_t *events, const char *type)
{
	size_t i;
	json_t *e;

	if (type == NULL)
		return false;
	json_array_foreach(events, i, e) {
		const char *s = json_string_value(e);
		if (s && (strcmp(s, "*") == 0 || strcmp(s, type) == 0))
			return true;
	}
	return false;
}

bool
hooks_channels_match(const json_t *channels, const char *channel)
{
	size_t i;
	json_t *c;

	if (channels == NULL || json_is_null(channels))
		return true;
	if (channel == NULL)
		return false;
	json_array_foreach(channels, i, c)
		if (json_string_value(c) && strcmp(json_string_value(c), channel) == 0)
			return true;
	return false;
}

int64_t
hooks_batch_cursor(const int64_t *seqs, size_t n, size_t acked, int64_t batch_end)
{
	if (n == 0 || acked >= n)
		return batch_end;
	if (acked == 0)
		return -1;
	return seqs[acked] - 1;
}

void
hooks_sign(const char *secret, const void *body, size_t len, char out[HOOKS_SIG_LEN])
{
	unsigned char mac[32];

	hmac_sha256(secret, strlen(secret), body, len, mac);
	memcpy(out, "sha256=", 7);
	hex_encode(mac, sizeof(mac), out + 7);
}

bool
hooks_give_up(int attempts, int64_t first_ms, int64_t now)
{
	return attempts >= HOOKS_MAX_ATTEMPTS || (first_ms > 0 && now - first_ms >= HOOKS_MAX_AGE_MS);
}

int64_t
hooks_retry_after_ms(const char *v)
{
	int64_t secs = 0;

	if (v == NULL)
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!(*v >= '0' && *v <= '9'))
		return 0;  /* an HTTP-date: the backoff decides */
	for (; *v >= '0' && *v <= '9'; v++)
		if (secs <= RETRY_AFTER_MAX_MS / 1000)
			secs = secs * 10 + (*v - '0');
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v != '\0')
		return 0;
	return secs * 1000 < RETRY_AFTER_MAX_MS ? secs * 1000 : RETRY_AFTER_MAX_MS;
}

/* --- subscriptions in memory --- */

static uint32_t
rnd(struct hooks *hk)
{
	/* xorshift32: jitter only, no security role. */
	uint32_t x = hk->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return hk->rng = x ? x : 0x9e3779b9u;
}

static void
page_drop(struct hsub *s)
{
	store_events_free(s->pg, s->npg);
	s->pg = NULL;
	s->npg = s->ipg = 0;
}

static void
sub_free(struct hsub *s)
{
	if (s->reading)
		s->reading->s = NULL;  /* its page is dropped when it lands */
	if (s->sink)
		s->ops->close(s->sink);
	page_drop(s);
	free(s->bseq);
	free(s->org);
	free(s->kind);
	json_decref(s->config);
	json_decref(s->events);
	json_decref(s->channels);
	free(s);
}

static void
sub_unlink(struct hooks *hk, struct hsub *s)
{
	for (struct hsub **pp = &hk->subs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			return;
		}
	}
}

struct hsub *
hooks_sub_find(struct hooks *hk, int64_t id)
{
	for (struct hsub *s = hk->subs; s; s = s->next)
		if (s->id == id && !s->deleted)
			return s;
	return NULL;
}

#define sub_find hooks_sub_find

static void
kick_at(struct hooks *hk, int64_t when_ms)
{
	int64_t now = mono_ms(), d = when_ms - now;

	if (hk->draining || hk->stopping)
		return;
	if (d < 0)
		d = 0;
	if (event_pending(hk->ev_cycle, EV_TIMEOUT, NULL) && hk->wake_ms <= now + d)
		return;
	hk->wake_ms = now + d;
	struct timeval tv = { .tv_sec = d / 1000, .tv_usec = (d % 1000) * 1000 };
	event_add(hk->ev_cycle, &tv);
}

static void
kick(struct hooks *hk)
{
	kick_at(hk, 0);
}

/* --- outcomes --- */

static void
op_done(struct store_op *op, void *arg)
{
	struct hsub *s = arg;
	struct hooks *hk = s->hk;
	char id[24];

	hk->ops_outstanding--;
	s->busy = false;
	if (s->deleted) {
		sub_unlink(hk, s);
		sub_free(s);
		return;
	}
	snprintf(id, sizeof(id), "%" PRId64, s->id);
	if (op->result != 0) {
		/* Nothing changed on disk: the event is tried again (at least once). */
		log_error("webhooks: cannot record a delivery outcome; retrying", "subscription", id,
		    "error", op->errmsg);
		s->next_mono = mono_ms() + STORE_RETRY_MS;
		kick_at(hk, s->next_mono);
		return;
	}
	if (op->kind == STORE_OP_SUBSCRIPTION_ADVANCE) {
		if (op->u.subscription.delivered_seq > s->delivered_seq)
			s->delivered_seq = op->u.subscription.delivered_seq;
		s->attempts = 0;
		s->first_attempt_ms = 0;
		s->next_mono = 0;
		s->has_error = false;
		s->last_error[0] = '\0';
	} else {
		s->attempts = op->u.subscription.attempts;
		s->first_attempt_ms = op->u.subscription.first_attempt_ms;
		s->next_mono = s->retry_mono;
		snprintf(s->last_error, sizeof(s->last_error), "%s", s->err);
		s->has_error = true;
	}
	kick_at(hk, s->next_mono);
}

static void
submit(struct hsub *s, enum store_op_kind kind)
{
	struct hooks *hk = s->hk;

	s->busy = true;
	s->op.kind = kind;
	s->op.org_id = s->org_id;   /* webhook.failed is the subscription's organization's */
	s->op.u.subscription.id = s->id;
	s->op.done = op_done;
	s->op.arg = s;
	hk->ops_outstanding++;
	store_submit(hk->st, &s->op);
}

/* Move the cursor to seq (delivered, or skipped: error NULL). */
static void
advance(struct hsub *s, int64_t seq)
{
	s->op = (struct store_op){ .u.subscription = { .delivered_seq = seq } };
	submit(s, STORE_OP_SUBSCRIPTION_ADVANCE);
}

static bool
webhook(const struct hsub *s)
{
	return strcmp(s->kind, "webhook") == 0;
}

/* A failed attempt at cur_seq: retry later, or give up on the event. */
static void
failed(struct hsub *s, int64_t retry_after_ms)
{
	struct hooks *hk = s->hk;
	int64_t now = now_ms();
	int attempts = s->attempts + 1;
	int64_t first = s->first_attempt_ms ? s->first_attempt_ms : now;
	char id[24], seq[24], n[12];

	snprintf(id, sizeof(id), "%" PRId64, s->id);
	snprintf(seq, sizeof(seq), "%" PRId64, s->cur_seq);
	snprintf(n, sizeof(n), "%d", attempts);
	utf8_sanitize(s->err);
	if (hooks_give_up(attempts, first, now)) {
		log_warn(webhook(s) ? "webhook delivery given up" : "export delivery given up",
		    "subscription", id, "seq", seq, "attempts", n, "error", s->err);
		s->op = (struct store_op){
			.u.subscription = { .delivered_seq = s->cur_seq, .attempts = attempts,
			    .last_error = s->err },
		};
		submit(s, STORE_OP_SUBSCRIPTION_ADVANCE);
		return;
	}
	int64_t d = backoff_ms(attempts, rnd(hk));
	if (retry_after_ms > d)
		d = retry_after_ms;
	log_info(webhook(s) ? "webhook delivery failed; will retry" : "export delivery failed; will retry",
	    "subscription", id, "seq", seq, "attempts", n, "error", s->err);
	s->retry_mono = mono_ms() + d;
	s->op = (struct store_op){
		.u.subscription = { .attempts = attempts, .first_attempt_ms = first,
		    .next_attempt_ms = now + d, .last_error = s->err },
	};
	submit(s, STORE_OP_SUBSCRIPTION_RETRY);
}

/* Does s want this event? Not the news of its own failures; only its
 * channels' events when it names channels. */
static bool
wants(const struct hsub *s, const struct store_event *ev)
{
	if (!hooks_filter_matches(s->events, ev->type))
		return false;
	if (!hooks_channels_match(s->channels, ev->channel))
		return false;
	if (strcmp(ev->type, "webhook.failed") == 0) {
		json_t *e = json_loadb(ev->json, ev->len, 0, NULL);
		bool own = json_integer_value(json_object_get(json_object_get(e, "data"),
		    "subscription_id")) == s->id;
		json_decref(e);
		if (own)
			return false;
	}
	return true;
}

/* No attempt counted: s->err says why; look again in ms. */
static void
wait_sink(struct hsub *s, int64_t ms)
{
	s->busy = false;
	utf8_sanitize(s->err);
	snprintf(s->last_error, sizeof(s->last_error), "%s", s->err);
	s->has_error = true;
	s->next_mono = mono_ms() + ms;
	kick_at(s->hk, s->next_mono);
}

/* The sink told how the batch went (on the loop). */
static void
sink_done(void *arg, const struct sink_result *res)
{
	struct hsub *s = arg;
	struct hooks *hk = s->hk;
	int64_t to = hooks_batch_cursor(s->bseq, s->bn, res->acked, s->batch_end);
	char why[8];

	hk->inflight--;
	s->delivering = false;
	if (to >= 0) {
		/* All accepted, or some: then the rest goes again at once, and
		 * counts an attempt if it fails. */
		advance(s, to);
		return;
	}
	snprintf(s->err, sizeof(s->err), "%s", res->error[0] ? res->error : "not accepted");
	if (!s->ops->healthy(s->sink, why, sizeof(why))) {
		/* Not connected (a broker down or restarting): nothing was refused,
		 * so nothing counts; wait for the sink's own reconnection. */
		wait_sink(s, SINK_WAIT_MS);
		return;
	}
	failed(s, res->retry_after_ms);
}

/* Hand the sink the next batch from s's page, or skip the page: false when
 * the page holds nothing after the cursor (it is dropped then). */
static bool
take(struct hsub *s)
{
	struct hooks *hk = s->hk;
	size_t max = s->ops ? s->ops->batch_max : 1, n = 0, i;
	struct sink_event *bev;
	char (*ids)[DELIVERY_ID_MAX];

	while (s->ipg < s->npg && s->pg[s->ipg].seq <= s->delivered_seq)
		s->ipg++;
	if (s->ipg == s->npg) {
		page_drop(s);
		return false;
	}
	if (max < 1)
		max = 1;
	if (max > SINK_BATCH_MAX)
		max = SINK_BATCH_MAX;
	if (s->bseq == NULL)
		s->bseq = xcalloc(max, sizeof(*s->bseq));
	s->bn = 0;
	s->batch_end = s->pg_next;
	for (i = s->ipg; i < s->npg && s->bn < max; i++) {
		if (wants(s, &s->pg[i])) {
			s->bseq[s->bn++] = s->pg[i].seq;
			if (s->bn == max)
				s->batch_end = s->pg[i].seq;
		}
	}
	s->busy = true;
	if (s->bn == 0) {
		advance(s, s->pg_next);  /* nothing wanted: skipped with one op */
		return true;
	}
	s->cur_seq = s->bseq[0];
	if (s->ops == NULL) {
		/* Made by a build that knows the kind: kept, never given up on. */
		snprintf(s->err, sizeof(s->err), "no sink for kind '%.32s' in this build", s->kind);
		wait_sink(s, SINK_UNKNOWN_WAIT_MS);
		return true;
	}
	if (s->sink == NULL && s->ops->open(&s->sink, hk->base, s->config, s->id) != 0) {
		s->sink = NULL;
		snprintf(s->err, sizeof(s->err), "the %.32s sink cannot be opened", s->kind);
		failed(s, 0);
		return true;
	}
	bev = xcalloc(s->bn, sizeof(*bev));
	ids = xcalloc(s->bn, sizeof(*ids));
	for (i = s->ipg; i < s->npg && n < s->bn; i++) {
		const struct store_event *e = &s->pg[i];
		if (e->seq != s->bseq[n])
			continue;
		snprintf(ids[n], DELIVERY_ID_MAX, "%" PRId64 "-%" PRId64, s->id, e->seq);
		bev[n] = (struct sink_event){ .seq = e->seq, .type = e->type, .org = s->org,
		    .channel = e->channel, .body = e->json, .len = e->len, .delivery_id = ids[n] };
		n++;
	}
	s->delivering = true;
	hk->inflight++;
	s->ops->deliver(s->sink, bev, n, sink_done, s);  /* copies what it needs */
	free(bev);
	free(ids);
	return true;
}

static bool sub_held(struct hooks *hk, const struct hsub *s);

static void
page_run(struct store *st, void *arg)
{
	struct hread *r = arg;

	r->rc = store_events_read(st, r->org, r->since, SCAN_PAGE, &r->ev, &r->n);
}

/* s's page landed: start its next piece of work, a batch or skipping the
 * page, unless the page is stale. */
static void
page_done(void *arg)
{
	struct hread *r = arg;
	struct hsub *s = r->s;
	int64_t since = r->since;

	if (s == NULL) {
		store_events_free(r->ev, r->n);
		free(r);
		return;
	}
	struct hooks *hk = s->hk;
	s->reading = NULL;
	if (hk->draining || s->deleted || s->busy || s->stale || s->paused || !sub_held(hk, s) ||
	    s->delivered_seq != since) {
		store_events_free(r->ev, r->n);
		free(r);
		kick(hk);
		return;
	}
	if (r->rc != 0) {
		log_error("hooks: cannot read the event log; retrying");
		store_events_free(r->ev, r->n);
		free(r);
		s->next_mono = mono_ms() + STORE_RETRY_MS;
		kick_at(hk, s->next_mono);
		return;
	}
	page_drop(s);
	s->pg = r->ev;
	s->npg = r->n;
	s->pg_next = r->n ? r->ev[r->n - 1].seq : since;
	s->seen_upto = r->n < SCAN_PAGE ? r->head : 0;
	free(r);
	take(s);
}

/* Go on from s's page, or read its next page off the loop (page_done()
 * goes on). */
static void
step(struct hsub *s)
{
	if (take(s))
		return;
	struct hread *r = xcalloc(1, sizeof(*r));

	r->s = s;
	r->org = s->org_id;
	r->since = s->delivered_seq;
	r->head = s->hk->head;
	r->rd = (struct store_read){ .run = page_run, .done = page_done, .arg = r };
	s->reading = r;
	/* Without a loop, done() runs before this returns: r is gone then. */
	store_read_submit(s->hk->st, &r->rd);
}

static void
sub_state(struct hsub *s, const json_t *row)
{
	const char *err = json_string_value(json_object_get(row, "last_error"));

	s->delivered_seq = json_integer_value(json_object_get(row, "delivered_seq"));
	s->attempts = (int)json_integer_value(json_object_get(row, "attempts"));
	s->first_attempt_ms = json_integer_value(json_object_get(row, "first_attempt_ms"));
	/* A wall-clock jump while msgd was stopped cannot be told apart: no
	 * retry waits longer than the longest delay ever set. */
	int64_t next = json_integer_value(json_object_get(row, "next_attempt_ms"));
	s->next_mono = 0;
	if (next > 0) {
		int64_t wait = next - now_ms();
		s->next_mono = mono_ms() + (wait < 0 ? 0 : wait > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : wait);
	}
	s->paused = json_is_true(json_object_get(row, "paused"));
	s->has_error = err != NULL;
	snprintf(s->last_error, sizeof(s->last_error), "%s", err ? err : "");
}

static void reload_apply(struct hooks *hk, json_t *rows);

static void
load_run(struct store *st, void *arg)
{
	struct hload *l = arg;

	l->rc = store_subscriptions_load(st, &l->rows);
	if (l->rc == 0 && !l->reload)
		l->rc = store_events_head(st, &l->head);
}

/* Subscriptions whose lease we just took: another instance may have
 * delivered meanwhile, so their state is read again (one read for all).
 * Those idle and gone stale before the read began take what it found. */
static void
refresh_apply(struct hooks *hk, const struct hload *l)
{
	json_t *row;
	size_t i;

	if (l->head > hk->head)
		hk->head = l->head;
	for (struct hsub *s = hk->subs; s; s = s->next) {
		if (!s->stale || s->busy || s->reading || s->stale_gen > l->gen)
			continue;
		s->stale = false;
		json_array_foreach(l->rows, i, row)
			if (json_integer_value(json_object_get(row, "id")) == s->id)
				sub_state(s, row);
	}
}

static void
load_done(void *arg)
{
	struct hload *l = arg;
	struct hooks *hk = l->hk;

	if (hk == NULL)
		goto out;
	if (l->reload) {
		hk->reloading = NULL;
		if (l->rc != 0)
			log_error("webhooks: cannot read the subscriptions to follow another instance");
		else if (l->gen != hk->gen)
			hk->reload_again = true;  /* added or removed here meanwhile: read again */
		else
			reload_apply(hk, l->rows);
		if (hk->reload_again) {
			hk->reload_again = false;
			hooks_reload(hk);
		}
	} else {
		hk->refreshing = NULL;
		if (l->rc != 0) {
			log_error("webhooks: cannot read the subscriptions; retrying");
			kick_at(hk, mono_ms() + STORE_RETRY_MS);
		} else {
			refresh_apply(hk, l);
			kick(hk);
		}
	}
out:
	json_decref(l->rows);
	free(l);
}

static void
load_start(struct hooks *hk, bool reload)
{
	struct hload *l = xcalloc(1, sizeof(*l));

	l->hk = hk;
	l->reload = reload;
	l->gen = reload ? hk->gen : hk->lease_gen;
	l->rd = (struct store_read){ .run = load_run, .done = load_done, .arg = l };
	if (reload)
		hk->reloading = l;
	else
		hk->refreshing = l;
	/* Without a loop, done() runs before this returns: l is gone then. */
	store_read_submit(hk->st, &l->rd);
}

static void
refresh_stale(struct hooks *hk)
{
	bool any = false;

	if (hk->refreshing)
		return;
	for (struct hsub *s = hk->subs; s; s = s->next)
		any |= s->stale && !s->busy && !s->reading;
	if (any)
		load_start(hk, false);
}

static void
lease_name(char out[LEASE_NAME_MAX], int64_t id)
{
	snprintf(out, LEASE_NAME_MAX, "hook:%" PRId64, id);
}

/* May this instance deliver s now (it holds s's lease; wanted from now on)? */
static bool
sub_held(struct hooks *hk, const struct hsub *s)
{
	char name[LEASE_NAME_MAX];

	if (hk->leases == NULL)
		return true;
	lease_name(name, s->id);
	leases_want(hk->leases, name);
	return leases_held(hk->leases, name);
}

static void
on_cycle(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *hk = arg;
	int64_t now = mono_ms(), wake = 0;

	if (hk->draining || hk->stopping)
		return;
	refresh_stale(hk);
	for (struct hsub *s = hk->subs; s; s = s->next) {
		/* Another instance delivers it: taking its lease kicks. */
		if (s->busy || s->reading || s->deleted || !sub_held(hk, s) || s->stale || s->paused ||
		    s->delivered_seq >= hk->head)
			continue;
		if (s->next_mono > now) {
			if (wake == 0 || s->next_mono < wake)
				wake = s->next_mono;
			continue;
		}
		step(s);
	}
	if (wake)
		kick_at(hk, wake);
}

void
hooks_add(struct hooks *hk, const json_t *row)
{
	/* Taken from the store already (hooks_reload() ran after its commit). */
	if (sub_find(hk, json_integer_value(json_object_get(row, "id"))))
		return;
	struct hsub *s = xcalloc(1, sizeof(*s));

	s->hk = hk;
	s->id = json_integer_value(json_object_get(row, "id"));
	s->org_id = json_integer_value(json_object_get(row, "org_id"));
	if (s->org_id <= 0)
		s->org_id = STORE_ORG_DEFAULT;
	const char *kind = json_string_value(json_object_get(row, "kind"));
	const char *org = json_string_value(json_object_get(row, "org"));
	json_t *channels = json_object_get(row, "channels");
	s->kind = xstrdup(kind ? kind : "webhook");
	s->org = xstrdup(org && *org ? org : "default");
	s->ops = sink_ops_find(s->kind);
	if (s->ops == NULL) {
		char id[24];
		snprintf(id, sizeof(id), "%" PRId64, s->id);
		log_error("hooks: no sink for this kind in this build", "subscription", id, "kind", s->kind);
	}
	if (strcmp(s->kind, "webhook") == 0)
		/* A webhook keeps its url and secret in their own columns. */
		s->config = json_pack("{s:s, s:s}",
		    "url", json_string_value(json_object_get(row, "url")) ?: "",
		    "secret", json_string_value(json_object_get(row, "secret")) ?: "");
	else
		s->config = json_incref(json_object_get(row, "config"));
	s->channels = json_is_array(channels) ? json_incref(channels) : NULL;
	s->events = json_incref(json_object_get(row, "events"));
	if (s->ops && s->ops->open(&s->sink, hk->base, s->config, s->id) != 0)
		s->sink = NULL;  /* tried again at its first batch */
	s->created_at = json_integer_value(json_object_get(row, "created_at"));
	sub_state(s, row);
	/* Kept in id order: the list answers in it. */
	struct hsub **pp = &hk->subs;
	while (*pp && (*pp)->id < s->id)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
	hk->gen++;
	kick(hk);
}

void
hooks_remove(struct hooks *hk, int64_t id)
{
	struct hsub *s = sub_find(hk, id);
	char name[LEASE_NAME_MAX];

	if (s == NULL)
		return;
	lease_name(name, id);
	leases_unwant(hk->leases, name);
	hk->gen++;
	if (s->sink) {
		/* Its batch in flight is abandoned: done() is not called any more. */
		s->ops->close(s->sink);
		s->sink = NULL;
	}
	if (s->delivering) {
		s->delivering = false;
		s->busy = false;
		hk->inflight--;
	}
	if (s->busy) {
		s->deleted = true;  /* its op ends first */
		return;
	}
	sub_unlink(hk, s);
	sub_free(s);
}

void
hooks_pause(struct hooks *hk, int64_t id, bool paused)
{
	struct hsub *s = sub_find(hk, id);

	if (s == NULL)
		return;
	s->paused = paused;
	hk->gen++;  /* a reload read before this commit would undo it: read again */
	kick(hk);
}

void
hooks_reload(struct hooks *hk)
{
	if (hk == NULL)
		return;
	if (hk->reloading) {
		hk->reload_again = true;  /* once it lands */
		return;
	}
	load_start(hk, true);
}

/* Follow what another instance did: the subscriptions as read. */
static void
reload_apply(struct hooks *hk, json_t *rows)
{
	json_t *row;
	size_t i;

	/* Deleted elsewhere: stop. */
	for (struct hsub *s = hk->subs, *next; s; s = next) {
		bool found = false;
		next = s->next;
		json_array_foreach(rows, i, row)
			found |= json_integer_value(json_object_get(row, "id")) == s->id;
		if (!found && !s->deleted)
			hooks_remove(hk, s->id);
	}
	json_array_foreach(rows, i, row) {
		struct hsub *s = sub_find(hk, json_integer_value(json_object_get(row, "id")));
		if (s == NULL) {
			hooks_add(hk, row);  /* made elsewhere: start */
			continue;
		}
		/* A cursor another instance moved on is taken, never one behind;
		 * with it the retry state of its next event. */
		int64_t seq = json_integer_value(json_object_get(row, "delivered_seq"));
		if (seq <= s->delivered_seq || s->busy)
			continue;
		const char *err = json_string_value(json_object_get(row, "last_error"));
		int64_t next = json_integer_value(json_object_get(row, "next_attempt_ms"));
		s->delivered_seq = seq;
		s->attempts = (int)json_integer_value(json_object_get(row, "attempts"));
		s->first_attempt_ms = json_integer_value(json_object_get(row, "first_attempt_ms"));
		s->next_mono = next > 0 ? mono_ms() + (next > now_ms() ? next - now_ms() : 0) : 0;
		snprintf(s->last_error, sizeof(s->last_error), "%s", err ? err : "");
		s->has_error = err != NULL;
		kick(hk);
	}
	/* Paused or resumed there. */
	json_array_foreach(rows, i, row) {
		struct hsub *s = sub_find(hk, json_integer_value(json_object_get(row, "id")));
		bool paused = json_is_true(json_object_get(row, "paused"));
		if (s && s->paused != paused) {
			s->paused = paused;
			kick(hk);
		}
	}
}

/* --- lifecycle --- */

void
hooks_committed(struct hooks *hk, int64_t last_seq)
{
	if (hk == NULL)
		return;
	if (last_seq > hk->head)
		hk->head = last_seq;
	kick(hk);
}

int
hooks_start(struct hooks **out, struct event_base *base, struct store *st)
{
	struct hooks *hk = xcalloc(1, sizeof(*hk));
	json_t *rows = NULL, *row;
	size_t i;

	hk->base = base;
	hk->st = st;
	random_bytes(&hk->rng, sizeof(hk->rng));
	if (store_events_head(st, &hk->head) != 0 || store_subscriptions_load(st, &rows) != 0) {
		json_decref(rows);
		free(hk);
		return -1;
	}
	hk->ev_cycle = evtimer_new(base, on_cycle, hk);
	json_array_foreach(rows, i, row)
		hooks_add(hk, row);
	json_decref(rows);
	*out = hk;
	kick(hk);
	return 0;
}

/* A subscription's lease was taken or lost. */
static void
on_lease(void *arg, const char *name, bool held)
{
	struct hooks *hk = arg;
	int64_t id;

	if (!held || strncmp(name, "hook:", 5) != 0 || parse_i64(name + 5, &id) != 0)
		return;
	struct hsub *s = sub_find(hk, id);
	if (s) {
		s->stale = true;
		s->stale_gen = ++hk->lease_gen;
		kick(hk);
	}
}

void
hooks_set_leases(struct hooks *hk, struct leases *ls)
{
	hk->leases = ls;
	leases_listen(ls, on_lease, hk);
	kick(hk);
}

void
hooks_drain(struct hooks *hk)
{
	if (hk == NULL)
		return;
	hk->draining = true;
	event_del(hk->ev_cycle);
}

size_t
hooks_busy(struct hooks *hk)
{
	return hk ? hk->inflight + hk->ops_outstanding : 0;
}

void
hooks_stop(struct hooks *hk)
{
	if (hk == NULL)
		return;
	hk->stopping = true;
	event_free(hk->ev_cycle);
	if (hk->reloading)
		hk->reloading->hk = NULL;
	if (hk->refreshing)
		hk->refreshing->hk = NULL;
	while (hk->subs) {
		struct hsub *s = hk->subs;
		hk->subs = s->next;
		sub_free(s);
	}
	free(hk);
}
