/*
 * lease.c - the dispatcher among several instances (outbox.h, "Several
 * instances"): claims are leases that this instance renews while its sends
 * are in flight; expired leases of other instances are swept back into the
 * queue; a channel is dispatched only while this instance holds its
 * "channel:<id>" lease (src/lease/), and a takeover starts the channel's
 * pacing, breaker and pauses afresh.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../channels/channel.h"
#include "../lease/lease.h"
#include "../log/log.h"
#include "../util/util.h"
#include "outbox_int.h"

#define SWEEP_MIN_MS 1000

static void
channel_lease_name(char out[LEASE_NAME_MAX], int64_t channel_id)
{
	snprintf(out, LEASE_NAME_MAX, "channel:%" PRId64, channel_id);
}

/* --- renewal: our claims stay ours while their sends last --- */

static void
renew_done(struct store_op *op, void *arg)
{
	struct outbox *ob = arg;

	ob->renew_busy = false;
	if (op->result != 0 && !ob->stopping)
		log_error("outbox: cannot renew the leases of sends in flight", "error", op->errmsg);
}

static void
on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;

	/* Claimed rows stay in flight until their result commits. */
	if (ob->stopping || ob->renew_busy || outbox_busy(ob) == 0)
		return;
	ob->renew_op = (struct store_op){
		.kind = STORE_OP_OUTBOX_RENEW,
		.u.lease = { .owner = ob->owner, .until_ms = now_ms() + ob->lease_ms },
		.done = renew_done,
		.arg = ob,
	};
	ob->renew_busy = true;
	store_submit(ob->st, &ob->renew_op);
}

/* --- the sweep: other instances' claims that ran out come back --- */

static void
sweep_done(struct store_op *op, void *arg)
{
	struct outbox *ob = arg;

	ob->sweep_busy = false;
	if (ob->stopping)
		return;
	if (op->result != 0)
		log_error("outbox: cannot take back expired leases", "error", op->errmsg);
	else if (op->u.lease.count > 0)
		outbox_kick(ob);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;

	if (ob->stopping || ob->sweep_busy)
		return;
	ob->sweep_op = (struct store_op){
		.kind = STORE_OP_OUTBOX_SWEEP,
		.u.lease = { .owner = ob->owner, .now_ms = now_ms() },
		.done = sweep_done,
		.arg = ob,
	};
	ob->sweep_busy = true;
	store_submit(ob->st, &ob->sweep_op);
}

/* --- channel dispatch leases --- */

/* The lease went to another instance (or ran out): what this instance
 * knows of the channel goes stale while the other one paces it, trips its
 * breaker or pauses it, so at a later takeover it starts afresh. The
 * breaker re-learns within breaker_threshold failures, a credentials pause
 * at the first send or credential check (a check answered meanwhile still
 * counts). */
static void
ochan_fresh(struct ochan *oc)
{
	pacer_free(&oc->pacer);
	pacer_init(&oc->pacer, oc->rate < 0 ? 0 : oc->rate);
	breaker_init(&oc->breaker, oc->breaker.threshold, oc->breaker.cooldown_ms);
	oc->paused = false;
	oc->paused_until = 0;
	reason_clear(&oc->pause_reason);
	reason_clear(&oc->breaker_reason);
	reason_clear(&oc->throttle_reason);
	oc->throttled_until = 0;
	oc->throttle_level = 0;
}

void
outbox_adapter_lease(struct outbox *ob, struct channel *ch)
{
	bool held = outbox_dispatch_held(ob, ch->id);

	if (held == ch->lease_held)
		return;
	ch->lease_held = held;
	if (ch->ops->on_lease)
		ch->ops->on_lease(ch, held);  /* the one holder polls the provider */
}

static void
on_lease(void *arg, const char *name, bool held)
{
	struct outbox *ob = arg;
	struct channel *ch;
	int64_t id;

	if (strncmp(name, "channel:", 8) != 0 || parse_i64(name + 8, &id) != 0)
		return;
	if ((ch = registry_find_id(ob->reg, id)) != NULL)
		outbox_adapter_lease(ob, ch);
	if (held) {
		outbox_kick(ob);
		return;
	}
	for (struct ochan *oc = ob->chans; oc; oc = oc->next)
		if (oc->channel_id == id)
			ochan_fresh(oc);
}

bool
outbox_dispatch_held(struct outbox *ob, int64_t channel_id)
{
	char name[LEASE_NAME_MAX];

	if (ob->leases == NULL)
		return true;
	channel_lease_name(name, channel_id);
	leases_want(ob->leases, name);
	return leases_held(ob->leases, name);
}

void
outbox_dispatch_forget(struct outbox *ob, int64_t channel_id)
{
	char name[LEASE_NAME_MAX];

	channel_lease_name(name, channel_id);
	leases_unwant(ob->leases, name);
}

void
outbox_set_leases(struct outbox *ob, struct leases *ls, int64_t lease_ms)
{
	int64_t sweep = lease_ms / 2 > SWEEP_MIN_MS ? lease_ms / 2 : SWEEP_MIN_MS;
	int64_t renew = lease_ms / 3;
	struct timeval tr = { .tv_sec = renew / 1000, .tv_usec = (renew % 1000) * 1000 };
	struct timeval ts = { .tv_sec = sweep / 1000, .tv_usec = (sweep % 1000) * 1000 };

	ob->leases = ls;
	ob->owner = leases_owner(ls);
	ob->lease_ms = lease_ms;
	leases_listen(ls, on_lease, ob);
	for (size_t i = 0; i < registry_count(ob->reg); i++)
		outbox_adapter_lease(ob, registry_at(ob->reg, i));
	ob->ev_renew = event_new(ob->base, -1, EV_PERSIST, on_renew, ob);
	ob->ev_sweep = event_new(ob->base, -1, EV_PERSIST, on_sweep, ob);
	event_add(ob->ev_renew, &tr);
	event_add(ob->ev_sweep, &ts);
}

void
outbox_leases_stop(struct outbox *ob)
{
	if (ob->ev_renew)
		event_free(ob->ev_renew);
	if (ob->ev_sweep)
		event_free(ob->ev_sweep);
	ob->ev_renew = ob->ev_sweep = NULL;
}
