/*
 * run.c - campaigns on the loop: making each campaign's messages a chunk at
 * a time (built on the reader pool, committed by one store op each), and
 * the tick (campaign.h states the strategies).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <uthash.h>

#include "../api/api.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"
#include "campaign_int.h"

#define CAMPAIGN_RETRY_MS 2000   /* a chunk that failed for storage is tried again after */
/* Campaigns nobody makes are looked for every dispatch_lease_ms (as a dead
 * instance's channels are taken over), and orphaned after twice that
 * without a chunk. */
#define CAMPAIGN_ADOPT_MS_MIN 1000
#define CAMPAIGN_GIVEN_UP_MAX 64 /* campaigns this instance stopped making (not adopted again) */

struct seen {
	UT_hash_handle hh;
	char addr[];
};

/* A campaign whose messages are being made. */
struct crun {
	struct campaigns *cs;
	int64_t id, org_id, channel_id;
	json_t *recipients;          /* the source's array (NULL: an import's rows) */
	int64_t import_id, cursor;   /* or the import, and its last row made */
	int build_err;               /* the chunk's build: 0, 1 storage (again later), 2 import gone */
	json_t *content;
	int64_t next, total;         /* the next recipient to make; how many */
	int64_t rate, base_ms, now_ms;
	int64_t cooldown_ms;         /* the organization's bulk cooldown (0: none) */
	struct quiet_hours quiet;
	int64_t due_idx, due_at;     /* pacing cursor: recipient due_idx is due at due_at */
	bool scheduled;              /* due times are calendar times (scheduled_at) */
	struct seen *seen;           /* addresses made so far */
	bool rebuild;                /* seen must be rebuilt from [0, next) first */
	addr_normalize_fn normalize;
	char chname[128];
	/* The chunk in progress. */
	struct store_read rd;
	struct store_op op;
	struct ingest_batch batch;
	struct campaign_rcpt *rcpts;
	size_t n;
	int64_t chunk_cursor;        /* the import's last row in it */
	struct event *retry;
	struct crun *next_run;
};

struct campaigns {
	struct app *app;
	struct crun *runs;
	struct event *tick;
	struct event *adopt;
	struct store_read adopt_rd;
	json_t *adopt_rows;
	bool adopt_busy;
	int64_t given_up[CAMPAIGN_GIVEN_UP_MAX];
	size_t ngiven_up;
	struct store_op tick_op;
	bool tick_busy, draining;
	int64_t running, active, watched;
};

static void crun_next(struct crun *r);
static void adopt_cb(evutil_socket_t fd, short what, void *arg);
static void adopt_arm(struct campaigns *cs);

static void
chunk_clear(struct crun *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->rcpts[i].address);
		free(r->rcpts[i].variables);
	}
	free(r->rcpts);
	r->rcpts = NULL;
	r->n = 0;
	ingest_batch_free(&r->batch);
	memset(&r->batch, 0, sizeof(r->batch));
}

static void
crun_free(struct crun *r)
{
	struct seen *s, *t;

	chunk_clear(r);
	HASH_ITER(hh, r->seen, s, t) {
		HASH_DEL(r->seen, s);
		free(s);
	}
	if (r->retry)
		event_free(r->retry);
	json_decref(r->recipients);
	json_decref(r->content);
	free(r);
}

static void
crun_drop(struct crun *r)
{
	struct crun **p = &r->cs->runs;
	struct campaigns *cs = r->cs;

	if (r->next < r->total && cs->ngiven_up < CAMPAIGN_GIVEN_UP_MAX)
		cs->given_up[cs->ngiven_up++] = r->id;

	while (*p && *p != r)
		p = &(*p)->next_run;
	if (*p)
		*p = r->next_run;
	crun_free(r);
}

/* true: first time seen (added). */
static bool
seen_add(struct crun *r, const char *addr)
{
	struct seen *s;
	size_t n = strlen(addr);

	HASH_FIND(hh, r->seen, addr, n, s);
	if (s)
		return false;
	s = xmalloc(sizeof(*s) + n + 1);
	memcpy(s->addr, addr, n + 1);
	HASH_ADD(hh, r->seen, addr[0], n, s);
	return true;
}

static void
seen_del(struct crun *r, const char *addr)
{
	struct seen *s;

	HASH_FIND(hh, r->seen, addr, strlen(addr), s);
	if (s) {
		HASH_DEL(r->seen, s);
		free(s);
	}
}

/* When recipient idx is due (pacing cursor moved on). */
static int64_t
due_of(struct crun *r, int64_t idx)
{
	int64_t step = r->rate > 0 ? 60000 / r->rate : 0;

	if (r->due_at == 0 || idx < r->due_idx) {
		r->due_at = campaign_advance(r->base_ms, 0, &r->quiet);
		r->due_idx = 0;
	}
	r->due_at = campaign_advance(r->due_at, (idx - r->due_idx) * step, &r->quiet);
	r->due_idx = idx;
	return r->due_at;
}

/*
 * Up to n recipient items {"to","variables"} after the import's row after
 * (pool thread): a new array, *last its last row; NULL with r->build_err
 * set when the import cannot be read (1) or is gone (2).
 */
static json_t *
import_items(struct crun *r, struct store *st, int64_t after, int64_t n, int64_t *last)
{
	json_t *page = NULL, *items, *row;
	size_t i;

	if (store_import_rows_page(st, r->org_id, r->import_id, after, (int)n, &page) != 0) {
		r->build_err = 1;
		return NULL;
	}
	if (page == NULL) {
		r->build_err = 2;
		return NULL;
	}
	items = json_array();
	*last = after;
	json_array_foreach(page, i, row) {
		json_array_append_new(items, json_pack("{s:O,s:O}", "to", json_object_get(row, "phone"),
		    "variables", json_object_get(row, "data")));
		*last = json_integer_value(json_object_get(row, "row"));
	}
	json_decref(page);
	return items;
}

/* The addresses made before a restart, so duplicates stay skipped. */
static int
rebuild_seen(struct crun *r, struct store *st)
{
	char addr[CAMPAIGN_ADDR_MAX + 1];
	size_t i;
	json_t *item;

	if (r->recipients) {
		for (int64_t k = 0; k < r->next; k++)
			if (campaign_address(json_array_get(r->recipients, (size_t)k), r->normalize, addr,
			    sizeof(addr)) == 0)
				seen_add(r, addr);
		return 0;
	}
	for (int64_t after = 0; after < r->cursor;) {
		int64_t last = after;
		json_t *items = import_items(r, st, after, CAMPAIGN_CHUNK, &last);
		if (items == NULL)
			return -1;
		json_array_foreach(items, i, item) {
			if (campaign_address(item, r->normalize, addr, sizeof(addr)) == 0)
				seen_add(r, addr);
		}
		json_decref(items);
		if (last <= after)
			break;
		after = last;
	}
	return 0;
}

/* On a pool thread: the chunk's recipients and messages. */
static void
build_run(struct store *st, void *arg)
{
	struct crun *r = arg;
	char addr[CAMPAIGN_ADDR_MAX + 1];
	int64_t end = r->next + CAMPAIGN_CHUNK < r->total ? r->next + CAMPAIGN_CHUNK : r->total;
	json_t *items;

	r->build_err = 0;
	if (r->rebuild) {
		if (rebuild_seen(r, st) != 0)
			return;
		r->rebuild = false;
	}
	r->chunk_cursor = 0;
	if (r->recipients) {
		items = json_array();
		for (int64_t i = r->next; i < end; i++)
			json_array_append(items, json_array_get(r->recipients, (size_t)i));
	} else if ((items = import_items(r, st, r->cursor, end - r->next, &r->chunk_cursor)) == NULL) {
		return;
	}
	r->n = json_array_size(items);
	r->rcpts = xcalloc(r->n ? r->n : 1, sizeof(*r->rcpts));
	for (size_t k = 0; k < r->n; k++) {
		int64_t idx = r->next + (int64_t)k;
		json_t *item = json_array_get(items, k);
		json_t *vars = json_object_get(item, "variables");
		struct campaign_rcpt *c = &r->rcpts[k];

		c->idx = idx;
		c->msg = -1;
		c->variables = json_is_object(vars) ? json_encode(vars, NULL) : NULL;
		if (campaign_address(item, r->normalize, addr, sizeof(addr)) != 0) {
			const char *to = json_string_value(json_object_get(item, "to"));
			c->address = xstrndup(to ? to : "", to ? strnlen(to, CAMPAIGN_ADDR_MAX) : 0);
			c->skip_reason = "invalid_address";
			continue;
		}
		c->address = xstrdup(addr);
		if (!seen_add(r, addr)) {
			c->skip_reason = "duplicate";
			continue;
		}
		struct msg_in *m = ingest_batch_add_msg(&r->batch);
		char *type, *text;
		if (campaign_fill(r->content, vars, m->parts, &type, &text) != 0) {
			msg_in_clear(m);
			r->batch.nmsgs--;
			c->skip_reason = "missing_variable";
			seen_del(r, addr);
			continue;
		}
		c->msg = (int)(r->batch.nmsgs - 1);
		json_object_set_new(m->parts, "campaign", json_pack("{s:I,s:I}", "id",
		    (json_int_t)r->id, "idx", (json_int_t)idx));
		m->channel_id = r->channel_id;
		m->direction = DIR_OUT;
		m->from = xstrdup(r->chname);
		m->to = xstrdup(addr);
		m->contact_address = xstrdup(addr);
		m->type = type;
		m->text = text;
		m->timestamp = r->now_ms / 1000;
		m->priority = 1;
		m->cooldown_ms = r->cooldown_ms;
		m->due_ms = due_of(r, idx);
		m->status = r->scheduled ? ST_SCHEDULED : ST_QUEUED;
		m->raw = json_encode(item, NULL);
		if (m->raw == NULL)
			m->raw = xstrdup("{}");
	}
	json_decref(items);
}

static void
chunk_failed(struct crun *r)
{
	/* Its addresses were not made: not duplicates of anything. */
	for (size_t k = 0; k < r->n; k++)
		if (r->rcpts[k].msg >= 0)
			seen_del(r, r->rcpts[k].address);
	chunk_clear(r);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	crun_next(arg);
}

static void
chunk_done(struct store_op *op, void *arg)
{
	struct crun *r = arg;
	char id[24];

	snprintf(id, sizeof(id), "%" PRId64, r->id);
	if (op->result == 0) {
		r->next += (int64_t)r->n;
		r->cursor = op->u.chunk.cursor;
		chunk_clear(r);
		if (op->u.chunk.queued > 0 && r->cs->app->outbox)
			outbox_kick(r->cs->app->outbox);
		crun_next(r);
		return;
	}
	chunk_failed(r);
	if (op->err == STORE_CONFLICT || op->err == STORE_NOTFOUND) {
		/* Cancelled, or made by another instance meanwhile. */
		log_info("campaign: stopped making messages", "campaign", id, "why", op->errmsg);
		crun_drop(r);
		return;
	}
	log_warn("campaign: a chunk failed; trying again", "campaign", id, "why", op->errmsg);
	struct timeval tv = { .tv_sec = CAMPAIGN_RETRY_MS / 1000 };
	if (r->retry == NULL)
		r->retry = evtimer_new(r->cs->app->base, retry_cb, r);
	evtimer_add(r->retry, &tv);
}

static void
build_done(void *arg)
{
	struct crun *r = arg;

	if (r->cs->draining) {
		chunk_failed(r);
		return;
	}
	if (r->build_err != 0 || r->n == 0) {
		char id[24];
		snprintf(id, sizeof(id), "%" PRId64, r->id);
		chunk_failed(r);
		if (r->build_err == 1) {
			log_warn("campaign: cannot read its import; trying again", "campaign", id);
			struct timeval tv = { .tv_sec = CAMPAIGN_RETRY_MS / 1000 };
			if (r->retry == NULL)
				r->retry = evtimer_new(r->cs->app->base, retry_cb, r);
			evtimer_add(r->retry, &tv);
			return;
		}
		log_warn("campaign: its import is gone (deleted); no more messages are made", "campaign", id);
		crun_drop(r);
		return;
	}
	r->op = (struct store_op){
		.kind = STORE_OP_CAMPAIGN_CHUNK,
		.org_id = r->org_id,
		.u.chunk = { .id = r->id, .start = r->next, .rcpts = r->rcpts, .n = r->n,
		    .batch = &r->batch, .cursor = r->chunk_cursor },
		.done = chunk_done,
		.arg = r,
	};
	store_submit(r->cs->app->store, &r->op);
}

static void
crun_next(struct crun *r)
{
	struct app *app = r->cs->app;

	if (r->cs->draining)
		return;
	if (r->next >= r->total) {
		campaigns_tick_now(app);
		crun_drop(r);
		return;
	}
	struct channel *ch = registry_find_id(app->reg, r->channel_id);
	if (ch == NULL) {
		char id[24];
		snprintf(id, sizeof(id), "%" PRId64, r->id);
		log_warn("campaign: its channel is gone; no more messages are made", "campaign", id);
		crun_drop(r);
		return;
	}
	snprintf(r->chname, sizeof(r->chname), "%s", ch->name);
	r->normalize = ch->ops->address_normalize;
	r->now_ms = now_ms();
	/* As any bulk send: at least the organization's cooldown after the contact's last. */
	const struct api_org *o = api_org_by_id(app, r->org_id);
	r->cooldown_ms = o ? o->settings.bulk_cooldown_s * 1000 : 0;
	r->rd = (struct store_read){ .run = build_run, .done = build_done, .arg = r };
	store_read_submit(app->store, &r->rd);
}

void
campaigns_created(struct app *app, const json_t *row)
{
	struct campaigns *cs = app->campaigns;
	json_t *src = json_object_get(row, "source");
	json_t *recips = json_object_get(src, "recipients");
	int64_t import_id = json_integer_value(json_object_get(src, "import_id"));
	char err[160];

	if (cs == NULL || (!json_is_array(recips) && import_id <= 0))
		return;
	struct crun *r = xcalloc(1, sizeof(*r));
	r->cs = cs;
	r->id = json_integer_value(json_object_get(row, "id"));
	r->org_id = json_integer_value(json_object_get(row, "org_id"));
	r->channel_id = json_integer_value(json_object_get(row, "channel_id"));
	r->recipients = json_is_array(recips) ? json_incref(recips) : NULL;
	r->import_id = import_id;
	r->cursor = json_integer_value(json_object_get(row, "cursor"));
	r->content = json_incref(json_object_get(row, "content"));
	r->next = json_integer_value(json_object_get(row, "created"));
	r->total = json_integer_value(json_object_get(row, "total"));
	r->rate = json_integer_value(json_object_get(row, "rate"));
	int64_t sched = json_integer_value(json_object_get(row, "scheduled_at"));
	int64_t created = json_integer_value(json_object_get(row, "created_at"));
	r->scheduled = sched > now_ms();
	r->base_ms = sched > created ? sched : created;
	if (campaign_quiet_parse(json_object_get(row, "quiet_hours"), &r->quiet, err, sizeof(err)) != 0)
		r->quiet.set = false;
	r->rebuild = r->next > 0;
	r->next_run = cs->runs;
	cs->runs = r;
	campaigns_tick_now(app);
	crun_next(r);
}

/* --- the tick --- */

static void tick_arm(struct campaigns *cs, int ms);

static void
tick_done(struct store_op *op, void *arg)
{
	struct campaigns *cs = arg;

	cs->tick_busy = false;
	if (op->result == 0) {
		cs->running = op->u.tick.running;
		cs->active = op->u.tick.active;
		cs->watched = op->u.tick.watched;
	}
	if (!cs->draining)
		tick_arm(cs, cs->watched > 0 || cs->runs ? CAMPAIGN_TICK_MS : CAMPAIGN_IDLE_TICK_MS);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct campaigns *cs = arg;

	if (cs->tick_busy || cs->draining || cs->app->store == NULL)
		return;
	cs->tick_busy = true;
	cs->tick_op = (struct store_op){ .kind = STORE_OP_CAMPAIGN_TICK, .done = tick_done, .arg = cs };
	store_submit(cs->app->store, &cs->tick_op);
}

static void
tick_arm(struct campaigns *cs, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(cs->tick, &tv);
}

void
campaigns_tick_now(struct app *app)
{
	struct campaigns *cs = app->campaigns;

	/* Within a second: a tick already armed for longer is brought forward. */
	if (cs && !cs->tick_busy && !cs->draining)
		tick_arm(cs, CAMPAIGN_TICK_MS);
}

int
campaigns_start(struct app *app)
{
	struct campaigns *cs = xcalloc(1, sizeof(*cs));
	json_t *rows = NULL;
	size_t i;
	json_t *row;

	cs->app = app;
	app->campaigns = cs;
	cs->tick = evtimer_new(app->base, tick_cb, cs);
	cs->adopt = evtimer_new(app->base, adopt_cb, cs);
	/* At start (on the loop's reader, as the other start-up loads). */
	if (store_campaigns_unfinished(app->store, INT64_MAX, &rows) != 0) {
		log_error("campaign: cannot read the campaigns being made");
		return -1;
	}
	json_array_foreach(rows, i, row) {
		char id[24];
		snprintf(id, sizeof(id), "%" PRId64, (int64_t)json_integer_value(json_object_get(row, "id")));
		log_info("campaign: making its messages again from where it stopped", "campaign", id);
		campaigns_created(app, row);
	}
	json_decref(rows);
	tick_arm(cs, CAMPAIGN_TICK_MS);
	adopt_arm(cs);
	return 0;
}

/*
 * Several instances: a campaign is made by the instance that took its POST
 * (or that restarted). One that died leaves it half made until it comes
 * back; meanwhile another takes it over once it saw no chunk for
 * CAMPAIGN_STALE_MS. Two instances making one campaign is harmless: a
 * chunk commits only where the campaign's `created` still is.
 */
static int64_t
adopt_ms(const struct campaigns *cs)
{
	int64_t ms = cs->app->cfg ? cs->app->cfg->dispatch_lease_ms : 0;

	return ms > CAMPAIGN_ADOPT_MS_MIN ? ms : CAMPAIGN_ADOPT_MS_MIN;
}

static bool
known(const struct campaigns *cs, int64_t id)
{
	for (const struct crun *r = cs->runs; r; r = r->next_run)
		if (r->id == id)
			return true;
	for (size_t i = 0; i < cs->ngiven_up; i++)
		if (cs->given_up[i] == id)
			return true;
	return false;
}

static void
adopt_run(struct store *st, void *arg)
{
	struct campaigns *cs = arg;

	/* Only campaigns nobody made for a while: one being made is not read
	 * (its source, the recipients, is the largest thing msgd reads). */
	if (store_campaigns_unfinished(st, now_ms() - 2 * adopt_ms(cs), &cs->adopt_rows) != 0)
		cs->adopt_rows = NULL;
}

static void
adopt_done(void *arg)
{
	struct campaigns *cs = arg;
	int64_t now = now_ms();
	size_t i;
	json_t *row;

	cs->adopt_busy = false;
	json_array_foreach(cs->adopt_rows, i, row) {
		int64_t id = json_integer_value(json_object_get(row, "id"));
		if (cs->draining || known(cs, id) ||
		    json_integer_value(json_object_get(row, "updated_ms")) > now - 2 * adopt_ms(cs))
			continue;
		char v[24];
		snprintf(v, sizeof(v), "%" PRId64, id);
		log_warn("campaign: nobody made its messages for a while; taking it over", "campaign", v);
		campaigns_created(cs->app, row);
	}
	json_decref(cs->adopt_rows);
	cs->adopt_rows = NULL;
	if (!cs->draining)
		adopt_arm(cs);
}

static void
adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct campaigns *cs = arg;

	if (cs->adopt_busy || cs->draining || cs->app->store == NULL)
		return;
	cs->adopt_busy = true;
	cs->adopt_rd = (struct store_read){ .run = adopt_run, .done = adopt_done, .arg = cs };
	store_read_submit(cs->app->store, &cs->adopt_rd);
}

static void
adopt_arm(struct campaigns *cs)
{
	int64_t ms = adopt_ms(cs);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(cs->adopt, &tv);
}

void
campaigns_drain(struct app *app)
{
	if (app->campaigns) {
		app->campaigns->draining = true;
		evtimer_del(app->campaigns->tick);
		evtimer_del(app->campaigns->adopt);
	}
}

void
campaigns_stop(struct app *app)
{
	struct campaigns *cs = app->campaigns;

	if (cs == NULL)
		return;
	while (cs->runs) {
		struct crun *r = cs->runs;
		cs->runs = r->next_run;
		crun_free(r);
	}
	event_free(cs->tick);
	event_free(cs->adopt);
	json_decref(cs->adopt_rows);
	free(cs);
	app->campaigns = NULL;
}

int64_t
campaigns_running(const struct app *app)
{
	return app->campaigns ? app->campaigns->running : 0;
}
