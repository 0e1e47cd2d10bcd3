/*
 * lease.c - named leases (rules in lease.h).
 *
 * The wanted names live in a hash table. A tick submits one
 * STORE_OP_LEASE_ACQUIRE for all of them (a copy of the names, so names
 * may come and go meanwhile); its commit says which we hold, each until
 * the tick's start plus the lease on the monotonic clock, less a margin,
 * so we stop before another instance may start.
 */
#include "lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <uthash.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define OWNER_MAX 65

struct lease {
	char name[LEASE_NAME_MAX];
	bool held;
	int64_t until_mono;          /* held: ours until then (mono_ms()) */
	UT_hash_handle hh;
};

struct listener {
	lease_fn fn;
	void *arg;
};

struct tick {
	struct leases *ls;
	struct store_op op;
	char (*names)[LEASE_NAME_MAX];
	const char **ptrs;
	bool *held;
	size_t n;
	int64_t start_mono;
};

struct leases {
	struct event_base *base;
	struct store *st;
	char owner[OWNER_MAX];
	int64_t lease_ms;
	int64_t tick_ms;
	struct lease *names;         /* wanted */
	struct listener listeners[LEASE_LISTENERS_MAX];
	int nlisteners;
	struct event *ev_tick;
	struct tick *busy;           /* the op in flight, or NULL */
	bool again;                  /* a name was added while busy: tick when done */
	bool stopping;
};

static void
notify(struct leases *ls, const char *name, bool held)
{
	for (int i = 0; i < ls->nlisteners; i++)
		ls->listeners[i].fn(ls->listeners[i].arg, name, held);
}

/* Held by the last renewal and not yet run out here. */
static bool
lease_live(const struct lease *l, int64_t mono)
{
	return l->held && mono < l->until_mono;
}

static void
tick_free(struct tick *t)
{
	free(t->names);
	free(t->ptrs);
	free(t->held);
	free(t);
}

static void schedule(struct leases *ls, int64_t ms);

static void
tick_done(struct store_op *op, void *arg)
{
	struct tick *t = arg;
	struct leases *ls = t->ls;

	ls->busy = NULL;
	if (ls->stopping) {
		tick_free(t);
		return;
	}
	if (op->result != 0)
		log_warn("leases: cannot take or renew; retrying", "error", op->errmsg);
	int64_t mono = mono_ms();
	for (size_t i = 0; i < t->n; i++) {
		struct lease *l;
		HASH_FIND_STR(ls->names, t->names[i], l);
		if (l == NULL)
			continue;  /* no longer wanted */
		bool was = lease_live(l, mono);
		if (op->result == 0) {
			l->held = t->held[i];
			l->until_mono = t->start_mono + ls->lease_ms - ls->lease_ms / 10;
		}
		bool now = lease_live(l, mono);
		if (was != now) {
			log_info(now ? "lease taken" : "lease lost", "name", l->name, "owner", ls->owner);
			notify(ls, l->name, now);
		}
	}
	tick_free(t);
	schedule(ls, ls->again ? 0 : ls->tick_ms);
	ls->again = false;
}

/* Leases that ran out here while no renewal said anything. */
static void
expire(struct leases *ls, int64_t mono)
{
	struct lease *l, *tmp;

	HASH_ITER(hh, ls->names, l, tmp) {
		if (l->held && mono >= l->until_mono) {
			l->held = false;
			log_warn("lease ran out before it was renewed", "name", l->name, "owner", ls->owner);
			notify(ls, l->name, false);
		}
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct leases *ls = arg;
	size_t n = HASH_COUNT(ls->names), i = 0;
	struct lease *l, *tmp;

	if (ls->stopping)
		return;
	expire(ls, mono_ms());
	if (ls->busy) {
		ls->again = true;
		return;
	}
	if (n == 0) {
		schedule(ls, ls->tick_ms);
		return;
	}
	struct tick *t = xcalloc(1, sizeof(*t));
	t->names = xcalloc(n, sizeof(*t->names));
	t->ls = ls;
	t->ptrs = xcalloc(n, sizeof(*t->ptrs));
	t->held = xcalloc(n, sizeof(*t->held));
	t->n = n;
	HASH_ITER(hh, ls->names, l, tmp) {
		memcpy(t->names[i], l->name, LEASE_NAME_MAX);
		t->ptrs[i] = t->names[i];
		i++;
	}
	t->start_mono = mono_ms();
	int64_t now = now_ms();
	t->op = (struct store_op){
		.kind = STORE_OP_LEASE_ACQUIRE,
		.u.leases = { .owner = ls->owner, .names = t->ptrs, .held = t->held, .n = n,
		    .now_ms = now, .until_ms = now + ls->lease_ms },
		.done = tick_done,
		.arg = t,
	};
	ls->busy = t;
	store_submit(ls->st, &t->op);
}

static void
schedule(struct leases *ls, int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (ls->stopping)
		return;
	event_del(ls->ev_tick);
	event_add(ls->ev_tick, &tv);
}

int
leases_start(struct leases **out, struct event_base *base, struct store *st, const char *owner,
    int64_t lease_ms, bool exclusive)
{
	struct leases *ls = xcalloc(1, sizeof(*ls));

	ls->base = base;
	ls->st = st;
	snprintf(ls->owner, sizeof(ls->owner), "%s", owner);
	ls->lease_ms = lease_ms;
	ls->tick_ms = lease_ms / 3 < LEASE_TICK_MAX_MS ? lease_ms / 3 : LEASE_TICK_MAX_MS;
	if (exclusive) {
		struct store_op op = { .kind = STORE_OP_LEASE_RELEASE };
		if (store_submit_wait(st, &op) != 0) {
			log_error("leases: cannot clear the leases of an earlier run", "error", op.errmsg);
			free(ls);
			return -1;
		}
	}
	ls->ev_tick = evtimer_new(base, on_tick, ls);
	schedule(ls, 0);
	*out = ls;
	return 0;
}

const char *
leases_owner(const struct leases *ls)
{
	return ls->owner;
}

void
leases_want(struct leases *ls, const char *name)
{
	struct lease *l;

	if (ls == NULL || strlen(name) >= LEASE_NAME_MAX)
		return;
	HASH_FIND_STR(ls->names, name, l);
	if (l)
		return;
	l = xcalloc(1, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	HASH_ADD_STR(ls->names, name, l);
	if (ls->busy)
		ls->again = true;
	else
		schedule(ls, 0);
}

void
leases_unwant(struct leases *ls, const char *name)
{
	struct lease *l;

	if (ls == NULL)
		return;
	HASH_FIND_STR(ls->names, name, l);
	if (l == NULL)
		return;
	HASH_DEL(ls->names, l);
	free(l);
}

bool
leases_held(struct leases *ls, const char *name)
{
	struct lease *l;

	if (ls == NULL)
		return true;  /* no leases: a lone process holds everything */
	HASH_FIND_STR(ls->names, name, l);
	return l && lease_live(l, mono_ms());
}

void
leases_listen(struct leases *ls, lease_fn fn, void *arg)
{
	if (ls && ls->nlisteners < LEASE_LISTENERS_MAX)
		ls->listeners[ls->nlisteners++] = (struct listener){ .fn = fn, .arg = arg };
}

void
leases_release(struct leases *ls)
{
	if (ls == NULL || ls->stopping)
		return;
	ls->stopping = true;
	event_del(ls->ev_tick);
	struct store_op op = { .kind = STORE_OP_LEASE_RELEASE, .u.leases = { .owner = ls->owner } };
	if (store_submit_wait(ls->st, &op) != 0)
		log_warn("leases: cannot release; other instances take over when they run out",
		    "error", op.errmsg);
}

void
leases_stop(struct leases *ls)
{
	struct lease *l, *tmp;

	if (ls == NULL)
		return;
	ls->stopping = true;
	if (ls->busy)
		tick_free(ls->busy);  /* the store is closed: its done() will not run */
	event_free(ls->ev_tick);
	HASH_ITER(hh, ls->names, l, tmp) {
		HASH_DEL(ls->names, l);
		free(l);
	}
	free(ls);
}
